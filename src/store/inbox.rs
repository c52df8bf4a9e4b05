//! The webhook inbox: verified deliveries, stored before they are acknowledged,
//! leased by workers with a visibility timeout, retried, dead-lettered, pruned.
//!
//! One SQL text serves both backends wherever they agree (`$N` placeholders work on
//! SQLite too); leasing differs: PostgreSQL takes rows with `FOR UPDATE SKIP LOCKED`
//! so replicas never lease the same item, SQLite has a single writer and leases in
//! one `UPDATE .. RETURNING`. Times are Unix milliseconds passed in by the caller,
//! so the decisions about time stay testable.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;

use sqlx::pool::PoolConnection;
use sqlx::{
    Connection, Database, Encode, PgConnection, QueryBuilder, Sqlite, SqliteConnection, Type,
};

use super::Store;

/// Why an inbox operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("inbox query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("cannot (de)compress a stored delivery body: {0}")]
    Codec(#[source] std::io::Error),
    #[error("unexpected value in the inbox: {0}")]
    Corrupt(String),
}

/// The `X-GitHub-Delivery` value: GitHub's GUID for one delivery (its redeliveries keep it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(String);

impl DeliveryId {
    /// Accepts 1 to 128 visible ASCII characters (GitHub sends a GUID); anything else is
    /// refused so that logs and the database never hold attacker-shaped ids.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty() && raw.len() <= 128 && raw.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A GitHub App installation id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstallationId(pub i64);

impl fmt::Display for InstallationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Unix time in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(pub i64);

impl Millis {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Self(chrono::Utc::now().timestamp_millis())
    }

    /// `self` plus a duration, saturating.
    pub fn after(self, d: std::time::Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(ms))
    }

    /// `self` minus a duration, saturating.
    pub fn before(self, d: std::time::Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(ms))
    }
}

/// Where a delivery is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InboxStatus {
    /// Waiting for a worker, or leased by one (until its lease expires).
    Queued,
    Done,
    /// Tries exhausted; `last_error` says why. `retry` puts it back.
    Dead,
    /// Signed, but unusable (e.g. not JSON); kept with the reason, never processed.
    Rejected,
}

impl InboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Done => "done",
            Self::Dead => "dead",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "done" => Self::Done,
            "dead" => Self::Dead,
            "rejected" => Self::Rejected,
            _ => return None,
        })
    }
}

/// A verified delivery about to be stored. The body is kept zstd-compressed.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub id: DeliveryId,
    pub event: String,
    pub action: Option<String>,
    pub installation: Option<InstallationId>,
    /// `Some(reason)` stores the delivery as rejected: kept, never processed.
    pub rejected: Option<String>,
    pub received_at: Millis,
    body_len: i64,
    body_zstd: Vec<u8>,
}

/// zstd level 1: at webhook sizes it compresses JSON 4-6x in tens of microseconds.
const ZSTD_LEVEL: i32 = 1;

thread_local! {
    /// One (de)compression context per thread, reused: making one per delivery costs
    /// more than compressing a typical webhook body.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

impl NewDelivery {
    /// Compresses `body`; everything else is taken as given.
    pub fn new(
        id: DeliveryId,
        event: String,
        action: Option<String>,
        installation: Option<InstallationId>,
        rejected: Option<String>,
        received_at: Millis,
        body: &[u8],
    ) -> Result<Self, InboxError> {
        let body_zstd = COMPRESSOR
            .with_borrow_mut(|compressor| match compressor {
                Some(c) => c.compress(body),
                None => zstd::bulk::Compressor::new(ZSTD_LEVEL).and_then(|mut c| {
                    let out = c.compress(body);
                    *compressor = Some(c);
                    out
                }),
            })
            .map_err(InboxError::Codec)?;
        Ok(Self {
            id,
            event,
            action,
            installation,
            rejected,
            received_at,
            body_len: i64::try_from(body.len()).unwrap_or(i64::MAX),
            body_zstd,
        })
    }
}

impl NewDelivery {
    /// The delivery as leased under `lease` when the writer stored it so (see
    /// [`InboxWriter::insert`]): its first try.
    pub fn into_leased(self, lease: &Lease) -> Leased {
        Leased {
            id: self.id,
            event: self.event,
            tries: 1,
            received_at: self.received_at,
            token: lease.token.clone(),
            body_zstd: Some(self.body_zstd),
        }
    }
}

/// The successes of one lease, to be marked done with their envelopes recorded.
#[derive(Clone, Debug)]
pub struct Completion {
    pub token: LeaseToken,
    pub ids: Vec<DeliveryId>,
    pub envelopes: Vec<Envelope>,
    pub at: Millis,
}

/// What one [`InboxWriter::write`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// Per delivery of the batch, in order.
    pub inserted: Vec<Inserted>,
    /// Per completion, in order: how many of its deliveries its lease still held.
    pub completed: Vec<u64>,
}

/// Whether an insert stored a new delivery or found its id already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    New,
    Duplicate,
}

/// The proof that a worker holds a lease; completing or failing needs it, so a worker
/// whose lease expired (and was taken over) cannot overwrite the new holder's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseToken(String);

impl LeaseToken {
    pub fn fresh() -> Self {
        Self(ulid::Ulid::new().to_string())
    }
}

/// A lease as the writer grants it at insert time: the token and until when the
/// deliveries stay invisible to other workers.
#[derive(Clone, Debug)]
pub struct Lease {
    pub token: LeaseToken,
    pub until: Millis,
}

/// A delivery leased to a worker.
#[derive(Clone, Debug)]
pub struct Leased {
    pub id: DeliveryId,
    pub event: String,
    /// Including this one.
    pub tries: u32,
    pub received_at: Millis,
    pub token: LeaseToken,
    /// The body as stored (compressed), or `None` if it was purged or pruned. Kept
    /// compressed until its turn, so a lease of many deliveries holds little memory
    /// and one corrupt body fails only its own delivery.
    body_zstd: Option<Vec<u8>>,
}

impl Leased {
    /// The raw body, or `None` if it was purged or pruned.
    pub fn body(&self) -> Result<Option<Vec<u8>>, InboxError> {
        self.body_zstd.as_deref().map(decompress).transpose()
    }

    /// Whether the body is still stored.
    pub fn has_body(&self) -> bool {
        self.body_zstd.is_some()
    }
}

/// What an operator sees of a delivery.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InboxEntry {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub status: InboxStatus,
    pub tries: i64,
    pub received_at: i64,
    pub last_error: Option<String>,
    pub finished_at: Option<i64>,
    pub body_len: i64,
    pub has_body: bool,
}

/// The answer to an operator's `retry`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryOutcome {
    Requeued,
    NotFound,
    /// Still queued, rejected, or its body is gone; the status says which.
    NotRetryable {
        status: InboxStatus,
        has_body: bool,
    },
}

/// Deliveries per status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct InboxCounts {
    pub queued: u64,
    pub done: u64,
    pub dead: u64,
    pub rejected: u64,
}

/// The parts of a delivery every event shares, as the envelope recorder stores them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Envelope {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub sender_login: Option<String>,
    pub sender_type: Option<String>,
    /// `owner/name`.
    pub repository: Option<String>,
    /// The sender is the App's own bot: recorded, never starts work.
    pub from_app: bool,
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    delivery_id: String,
    event: String,
    action: Option<String>,
    installation_id: Option<i64>,
    status: String,
    tries: i64,
    received_at: i64,
    last_error: Option<String>,
    finished_at: Option<i64>,
    body_len: i64,
    has_body: bool,
}

impl EntryRow {
    fn into_entry(self) -> Result<InboxEntry, InboxError> {
        let status = InboxStatus::parse(&self.status)
            .ok_or_else(|| InboxError::Corrupt(format!("inbox.status `{}`", self.status)))?;
        Ok(InboxEntry {
            delivery_id: self.delivery_id,
            event: self.event,
            action: self.action,
            installation_id: self.installation_id,
            status,
            tries: self.tries,
            received_at: self.received_at,
            last_error: self.last_error,
            finished_at: self.finished_at,
            body_len: self.body_len,
            has_body: self.has_body,
        })
    }
}

#[derive(sqlx::FromRow)]
struct LeasedRow {
    delivery_id: String,
    event: String,
    tries: i64,
    received_at: i64,
    body_zstd: Option<Vec<u8>>,
}

const ENTRY_COLUMNS: &str = "delivery_id, event, action, installation_id, status, tries, \
     received_at, last_error, finished_at, body_len, (body_zstd IS NOT NULL) AS has_body";

/// SQLite admits one writer at a time, and a writer that finds the lock taken sleeps
/// in SQLite's busy handler (1, 2, 5 ... 100 ms), far longer than the write it waits
/// for. The inbox's writes therefore queue here first, in order and without sleeping,
/// so the webhook path never waits on that handler.
pub(super) static SQLITE_WRITES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Fetches rows on whichever backend `store` is; `$N` placeholders serve both.
macro_rules! query_both {
    ($store:expr, $sql:expr, [$($arg:expr),*], $fetch:ident) => {
        match $store {
            Store::Sqlite(pool) => sqlx::query_as($sql)$(.bind($arg))*.$fetch(pool).await?,
            Store::Postgres(pool) => sqlx::query_as($sql)$(.bind($arg))*.$fetch(pool).await?,
        }
    };
}

/// Runs one statement on whichever backend `store` is and returns the rows affected.
macro_rules! execute_both {
    ($store:expr, $sql:expr, [$($arg:expr),*]) => {
        match $store {
            Store::Sqlite(pool) => {
                let _writing = SQLITE_WRITES.lock().await;
                sqlx::query($sql)$(.bind($arg))*.execute(pool).await?.rows_affected()
            }
            Store::Postgres(pool) => sqlx::query($sql)$(.bind($arg))*.execute(pool).await?.rows_affected(),
        }
    };
}

/// Decompresses a stored body.
pub fn decompress(body_zstd: &[u8]) -> Result<Vec<u8>, InboxError> {
    // Frames written by `NewDelivery::new` state their size: decompress in one go with
    // this thread's reused context. Anything else (or a size no webhook can have)
    // goes through the streaming decoder.
    let size = zstd::zstd_safe::get_frame_content_size(body_zstd)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n <= crate::config::MAX_WEBHOOK_BODY);
    if let Some(size) = size {
        return DECOMPRESSOR
            .with_borrow_mut(|decompressor| match decompressor {
                Some(d) => d.decompress(body_zstd, size),
                None => zstd::bulk::Decompressor::new().and_then(|mut d| {
                    let out = d.decompress(body_zstd, size);
                    *decompressor = Some(d);
                    out
                }),
            })
            .map_err(InboxError::Codec);
    }
    let mut out = Vec::with_capacity(body_zstd.len() * 4);
    zstd::stream::read::Decoder::new(body_zstd)
        .and_then(|mut d| d.read_to_end(&mut out))
        .map_err(InboxError::Codec)?;
    Ok(out)
}

/// The connection the webhook edge writes through. On SQLite it is one connection
/// held for the writer's lifetime with `synchronous = FULL`, so a commit it reports
/// has reached the disk (see docs/durability.md); on PostgreSQL, a pooled connection
/// per batch (PostgreSQL commits are durable by default).
pub enum InboxWriter {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(sqlx::PgPool),
}

impl InboxWriter {
    /// Stores `batch` in one transaction and reports, per delivery in order, whether it
    /// was new. Either every delivery of the batch is committed or none is. With a
    /// `lease`, the new deliveries (rejected ones aside) are stored already leased
    /// under it, their first try counted: the caller hands them to a worker of its
    /// own without another write, and if it dies they come back when the lease expires.
    pub async fn insert(
        &mut self,
        batch: &[NewDelivery],
        lease: Option<&Lease>,
    ) -> Result<Vec<Inserted>, InboxError> {
        Ok(self.write(batch, lease, &[]).await?.inserted)
    }

    /// [`InboxWriter::insert`] and workers' completions (as
    /// [`Store::inbox_complete_many`] records them) in the same transaction: under
    /// load, one commit, and one sync to disk, carries both.
    pub async fn write(
        &mut self,
        batch: &[NewDelivery],
        lease: Option<&Lease>,
        completions: &[Completion],
    ) -> Result<Written, InboxError> {
        match self {
            InboxWriter::Sqlite(conn) => write_sqlite(conn, batch, lease, completions).await,
            InboxWriter::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                write_pg(&mut conn, batch, lease, completions).await
            }
        }
    }
}

/// Rows per `INSERT`: 10 bound values a row stays far below either backend's limit
/// on parameters (SQLite 32,766, PostgreSQL 65,535).
const INSERT_CHUNK: usize = 256;

/// One multi-row `INSERT .. ON CONFLICT DO NOTHING RETURNING delivery_id` for `rows`,
/// the same text on both backends: one statement, not one round trip per delivery.
/// Queued rows are stored leased under `lease` when there is one.
fn insert_statement<'a, DB>(
    rows: &'a [&'a NewDelivery],
    lease: Option<&'a Lease>,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    &'a str: Encode<'a, DB> + Type<DB>,
    Option<&'a str>: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    Option<i64>: Encode<'a, DB> + Type<DB>,
    &'a [u8]: Encode<'a, DB> + Type<DB>,
{
    let mut sql = QueryBuilder::new(
        "INSERT INTO inbox (delivery_id, event, action, installation_id, status, tries, \
         received_at, visible_at, lease_token, last_error, finished_at, body_len, body_zstd) ",
    );
    sql.push_values(rows, |mut row, d| {
        let (status, finished, lease) = match d.rejected {
            Some(_) => (InboxStatus::Rejected, Some(d.received_at.0), None),
            None => (InboxStatus::Queued, None, lease),
        };
        let (tries, visible_at, token) = match lease {
            Some(lease) => ("1", lease.until.0, Some(lease.token.0.as_str())),
            None => ("0", d.received_at.0, None),
        };
        row.push_bind(d.id.as_str())
            .push_bind(d.event.as_str())
            .push_bind(d.action.as_deref())
            .push_bind(d.installation.map(|i| i.0))
            .push_bind(status.as_str())
            .push(tries)
            .push_bind(d.received_at.0)
            .push_bind(visible_at)
            .push_bind(token)
            .push_bind(d.rejected.as_deref())
            .push_bind(finished)
            .push_bind(d.body_len)
            .push_bind(&d.body_zstd[..]);
    });
    sql.push(" ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id");
    sql
}

/// The deliveries of `batch` that can be new: the first of each delivery id (GitHub
/// may send one id twice within a batch's few milliseconds).
fn first_of_each_id(batch: &[NewDelivery]) -> Vec<&NewDelivery> {
    let mut seen = HashSet::with_capacity(batch.len());
    batch
        .iter()
        .filter(|d| seen.insert(d.id.as_str()))
        .collect()
}

/// Per delivery of `batch`, in order: new if its id came back from the `INSERT`s and
/// it is that id's first occurrence in the batch.
fn outcomes(batch: &[NewDelivery], mut stored: HashSet<String>) -> Vec<Inserted> {
    batch
        .iter()
        .map(|d| {
            if stored.remove(d.id.as_str()) {
                Inserted::New
            } else {
                Inserted::Duplicate
            }
        })
        .collect()
}

/// Stores `batch` (new deliveries, leased under `lease` if there is one) and records
/// `completions` in one transaction through `conn`, whichever backend it is; yields
/// per delivery whether it was new and per completion how many of its deliveries
/// its lease still held.
macro_rules! write_batch {
    ($conn:expr, $batch:expr, $lease:expr, $completions:expr) => {{
        let batch: &[NewDelivery] = $batch;
        let completions: &[Completion] = $completions;
        let rows = first_of_each_id(batch);
        if completions.is_empty() && !rows.is_empty() && rows.len() <= INSERT_CHUNK {
            // One statement is its own transaction on both backends: no `BEGIN` and
            // `COMMIT` round trips (on SQLite, each a hop to the connection's thread).
            let ids: Vec<(String,)> = insert_statement(&rows, $lease)
                .build_query_as()
                .fetch_all(&mut *$conn)
                .await?;
            Ok::<_, InboxError>(Written {
                inserted: outcomes(batch, ids.into_iter().map(|(id,)| id).collect()),
                completed: Vec::new(),
            })
        } else {
            let mut tx = $conn.begin().await?;
            let mut stored = HashSet::with_capacity(rows.len());
            for chunk in rows.chunks(INSERT_CHUNK) {
                let ids: Vec<(String,)> = insert_statement(chunk, $lease)
                    .build_query_as()
                    .fetch_all(&mut *tx)
                    .await?;
                stored.extend(ids.into_iter().map(|(id,)| id));
            }
            let mut completed = Vec::with_capacity(completions.len());
            for c in completions {
                let mut held = HashSet::with_capacity(c.ids.len());
                for chunk in c.ids.chunks(INSERT_CHUNK) {
                    let rows: Vec<(String,)> = complete_update(chunk, &c.token, c.at)
                        .build_query_as()
                        .fetch_all(&mut *tx)
                        .await?;
                    held.extend(rows.into_iter().map(|(id,)| id));
                }
                let record: Vec<&Envelope> = c
                    .envelopes
                    .iter()
                    .filter(|e| held.contains(e.delivery_id.as_str()))
                    .collect();
                for chunk in record.chunks(INSERT_CHUNK) {
                    envelope_insert(chunk, c.at)
                        .build()
                        .execute(&mut *tx)
                        .await?;
                }
                completed.push(held.len() as u64);
            }
            tx.commit().await?;
            Ok::<_, InboxError>(Written {
                inserted: outcomes(batch, stored),
                completed,
            })
        }
    }};
}

/// `INSERT`s `rows` into `inbox_envelope`, keeping the first record of each delivery.
fn envelope_insert<'a, DB>(rows: &'a [&'a Envelope], now: Millis) -> QueryBuilder<'a, DB>
where
    DB: Database,
    &'a str: Encode<'a, DB> + Type<DB>,
    Option<&'a str>: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    Option<i64>: Encode<'a, DB> + Type<DB>,
    bool: Encode<'a, DB> + Type<DB>,
{
    let mut sql = QueryBuilder::new(
        "INSERT INTO inbox_envelope (delivery_id, event, action, installation_id, sender_login, \
         sender_type, repository, from_app, recorded_at) ",
    );
    sql.push_values(rows, |mut row, e| {
        row.push_bind(e.delivery_id.as_str())
            .push_bind(e.event.as_str())
            .push_bind(e.action.as_deref())
            .push_bind(e.installation_id)
            .push_bind(e.sender_login.as_deref())
            .push_bind(e.sender_type.as_deref())
            .push_bind(e.repository.as_deref())
            .push_bind(e.from_app)
            .push_bind(now.0);
    });
    sql.push(" ON CONFLICT (delivery_id) DO NOTHING");
    sql
}

/// What a lease's holder does to the deliveries it still holds.
#[derive(Clone, Copy, Debug)]
enum HeldUpdate {
    /// Keeps them invisible until the given time.
    Renew,
    /// Makes them visible at the given time, unleased, the try uncounted.
    Release,
}

/// `UPDATE`s those of `ids` that `token` still holds, looked up by id and token alone
/// for the reason [`complete_update`] gives: under a backlog, a test on the token and
/// status walks the ready index past every queued delivery.
fn held_update<'a, DB>(
    update: HeldUpdate,
    at: Millis,
    token: &'a LeaseToken,
    ids: &'a [DeliveryId],
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    &'a str: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    let mut sql = QueryBuilder::new("UPDATE inbox SET visible_at = ");
    sql.push_bind(at.0);
    if let HeldUpdate::Release = update {
        sql.push(", lease_token = NULL, tries = tries - 1");
    }
    sql.push(" WHERE lease_token = ")
        .push_bind(token.0.as_str())
        .push(" AND delivery_id IN (");
    let mut list = sql.separated(", ");
    for id in ids {
        list.push_bind(id.as_str());
    }
    sql.push(")");
    sql
}

/// Marks `ids` done if `token` still holds them, returning those it did. Only queued
/// deliveries carry a lease token (every change of status clears it), so the token
/// alone says the delivery is still queued; a `status` test here would tempt SQLite's
/// planner to walk the whole queue through `inbox_ready` instead of looking the ids
/// up, which under a backlog costs a scan per completion.
fn complete_update<'a, DB>(
    ids: &'a [DeliveryId],
    token: &'a LeaseToken,
    now: Millis,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    &'a str: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    let mut sql = QueryBuilder::new("UPDATE inbox SET status = 'done', finished_at = ");
    sql.push_bind(now.0)
        .push(", lease_token = NULL, last_error = NULL WHERE lease_token = ")
        .push_bind(token.0.as_str())
        .push(" AND delivery_id IN (");
    let mut list = sql.separated(", ");
    for id in ids {
        list.push_bind(id.as_str());
    }
    sql.push(") RETURNING delivery_id");
    sql
}

async fn write_sqlite(
    conn: &mut SqliteConnection,
    batch: &[NewDelivery],
    lease: Option<&Lease>,
    completions: &[Completion],
) -> Result<Written, InboxError> {
    let _writing = SQLITE_WRITES.lock().await;
    write_batch!(conn, batch, lease, completions)
}

/// [`write_sqlite`] on a pooled connection, taken only once the inbox's write turn
/// has come: every pooled SQLite write waits for its turn first and then for a
/// connection, so a writer holding a connection never waits for a turn held by one
/// that waits for a connection.
async fn write_sqlite_pooled(
    pool: &sqlx::SqlitePool,
    batch: &[NewDelivery],
    lease: Option<&Lease>,
    completions: &[Completion],
) -> Result<Written, InboxError> {
    let _writing = SQLITE_WRITES.lock().await;
    let mut conn = pool.acquire().await?;
    write_batch!(conn, batch, lease, completions)
}

async fn write_pg(
    conn: &mut PgConnection,
    batch: &[NewDelivery],
    lease: Option<&Lease>,
    completions: &[Completion],
) -> Result<Written, InboxError> {
    write_batch!(conn, batch, lease, completions)
}

impl Store {
    /// The writer the webhook edge commits through (see [`InboxWriter`]). On SQLite,
    /// `power_safe` chooses `synchronous = FULL` (an acknowledged delivery survives
    /// power loss) over `NORMAL` (it survives a process crash only); see
    /// docs/durability.md. PostgreSQL ignores it.
    pub async fn inbox_writer(&self, power_safe: bool) -> Result<InboxWriter, InboxError> {
        Ok(match self {
            Store::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let pragma = if power_safe {
                    "PRAGMA synchronous = FULL"
                } else {
                    "PRAGMA synchronous = NORMAL"
                };
                sqlx::query(pragma).execute(&mut *conn).await?;
                InboxWriter::Sqlite(conn)
            }
            Store::Postgres(pool) => InboxWriter::Postgres(pool.clone()),
        })
    }

    /// Stores `batch` in one transaction through a pooled connection (see
    /// [`InboxWriter::insert`] for the edge's durable path).
    pub async fn inbox_insert(&self, batch: &[NewDelivery]) -> Result<Vec<Inserted>, InboxError> {
        match self {
            Store::Sqlite(pool) => write_sqlite_pooled(pool, batch, None, &[]).await,
            Store::Postgres(pool) => write_pg(&mut *pool.acquire().await?, batch, None, &[]).await,
        }
        .map(|w| w.inserted)
    }

    /// Whether a delivery with this GUID is in the inbox, in any status.
    pub async fn contains_delivery(&self, guid: &str) -> Result<bool, InboxError> {
        Ok(!self
            .contains_deliveries(&[guid.to_owned()])
            .await?
            .is_empty())
    }

    /// The subset of `guids` that are in the inbox, in one query.
    pub async fn contains_deliveries(
        &self,
        guids: &[String],
    ) -> Result<HashSet<String>, InboxError> {
        let rows: Vec<(String,)> = match self {
            Store::Sqlite(pool) => {
                let json = serde_json::to_string(guids)
                    .map_err(|e| InboxError::Corrupt(format!("guid list: {e}")))?;
                sqlx::query_as(
                    "SELECT delivery_id FROM inbox WHERE delivery_id IN (SELECT value FROM json_each($1))",
                )
                .bind(json)
                .fetch_all(pool)
                .await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as("SELECT delivery_id FROM inbox WHERE delivery_id = ANY($1)")
                    .bind(guids)
                    .fetch_all(pool)
                    .await?
            }
        };
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Leases up to `limit` queued deliveries visible at `now`, hiding them until
    /// `now + lease`. Each lease counts as a try. Two callers never lease the same
    /// delivery while its lease is live.
    pub async fn inbox_lease(
        &self,
        now: Millis,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<Leased>, InboxError> {
        let token = LeaseToken::fresh();
        let until = now.after(lease);
        let rows: Vec<LeasedRow> = match self {
            Store::Sqlite(pool) => {
                // Looking is a read, which WAL lets run beside the writer; only a lease
                // that will find work waits for the one write lock.
                let due: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM inbox WHERE status = 'queued' AND visible_at <= $1)",
                )
                .bind(now.0)
                .fetch_one(pool)
                .await?;
                if !due {
                    return Ok(Vec::new());
                }
                let _writing = SQLITE_WRITES.lock().await;
                sqlx::query_as(
                    "UPDATE inbox SET tries = tries + 1, lease_token = $1, visible_at = $2 \
                     WHERE delivery_id IN (SELECT delivery_id FROM inbox \
                        WHERE status = 'queued' AND visible_at <= $3 ORDER BY visible_at LIMIT $4) \
                     RETURNING delivery_id, event, tries, received_at, body_zstd",
                )
                .bind(&token.0)
                .bind(until.0)
                .bind(now.0)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
            }
            Store::Postgres(pool) => {
                sqlx::query_as(
                    "UPDATE inbox SET tries = tries + 1, lease_token = $1, visible_at = $2 \
                     WHERE delivery_id IN (SELECT delivery_id FROM inbox \
                        WHERE status = 'queued' AND visible_at <= $3 ORDER BY visible_at LIMIT $4 \
                        FOR UPDATE SKIP LOCKED) \
                     RETURNING delivery_id, event, tries, received_at, body_zstd",
                )
                .bind(&token.0)
                .bind(until.0)
                .bind(now.0)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|r| Leased {
                id: DeliveryId(r.delivery_id),
                event: r.event,
                tries: u32::try_from(r.tries).unwrap_or(u32::MAX),
                received_at: Millis(r.received_at),
                token: token.clone(),
                body_zstd: r.body_zstd,
            })
            .collect())
    }

    /// Marks a leased delivery done. `false` if the lease was lost (expired and taken
    /// over, or the delivery was retried meanwhile): the caller's outcome is dropped.
    pub async fn inbox_complete(
        &self,
        id: &DeliveryId,
        token: &LeaseToken,
        now: Millis,
    ) -> Result<bool, InboxError> {
        let n = execute_both!(
            self,
            "UPDATE inbox SET status = 'done', finished_at = $1, lease_token = NULL, last_error = NULL \
             WHERE delivery_id = $2 AND lease_token = $3 AND status = 'queued'",
            [now.0, id.as_str(), &token.0]
        );
        Ok(n == 1)
    }

    /// Marks deliveries of one lease done and records the envelopes among `envelopes`
    /// of those still held by `token`, in one transaction: a batch of work costs one
    /// write, not one per delivery. Returns how many were still held; the others'
    /// outcomes are dropped, as in [`Store::inbox_complete`].
    pub async fn inbox_complete_many(
        &self,
        ids: &[DeliveryId],
        envelopes: &[Envelope],
        token: &LeaseToken,
        now: Millis,
    ) -> Result<u64, InboxError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let completion = [Completion {
            token: token.clone(),
            ids: ids.to_vec(),
            envelopes: envelopes.to_vec(),
            at: now,
        }];
        let written = match self {
            Store::Sqlite(pool) => write_sqlite_pooled(pool, &[], None, &completion).await?,
            Store::Postgres(pool) => {
                write_pg(&mut *pool.acquire().await?, &[], None, &completion).await?
            }
        };
        Ok(written.completed.iter().sum())
    }

    /// Keeps those of `ids` that `token` still holds invisible until `until`; returns
    /// how many.
    pub async fn inbox_renew_lease(
        &self,
        token: &LeaseToken,
        ids: &[DeliveryId],
        until: Millis,
    ) -> Result<u64, InboxError> {
        self.update_held(HeldUpdate::Renew, until, token, ids).await
    }

    /// Gives back those of `ids` that `token` still holds without having tried them (a
    /// worker pool stopping with deliveries handed over but not yet started): visible
    /// at `now` and the try they were leased with uncounted. Returns how many.
    pub async fn inbox_release(
        &self,
        token: &LeaseToken,
        ids: &[DeliveryId],
        now: Millis,
    ) -> Result<u64, InboxError> {
        self.update_held(HeldUpdate::Release, now, token, ids).await
    }

    async fn update_held(
        &self,
        update: HeldUpdate,
        at: Millis,
        token: &LeaseToken,
        ids: &[DeliveryId],
    ) -> Result<u64, InboxError> {
        let mut updated = 0;
        for chunk in ids.chunks(INSERT_CHUNK) {
            updated += match self {
                Store::Sqlite(pool) => {
                    let _writing = SQLITE_WRITES.lock().await;
                    held_update::<Sqlite>(update, at, token, chunk)
                        .build()
                        .execute(pool)
                        .await?
                        .rows_affected()
                }
                Store::Postgres(pool) => held_update::<sqlx::Postgres>(update, at, token, chunk)
                    .build()
                    .execute(pool)
                    .await?
                    .rows_affected(),
            };
        }
        Ok(updated)
    }

    /// Puts a leased delivery back, visible again at `visible_at`, keeping `error`.
    pub async fn inbox_reschedule(
        &self,
        id: &DeliveryId,
        token: &LeaseToken,
        error: &str,
        visible_at: Millis,
    ) -> Result<bool, InboxError> {
        let n = execute_both!(
            self,
            "UPDATE inbox SET visible_at = $1, last_error = $2, lease_token = NULL \
             WHERE delivery_id = $3 AND lease_token = $4 AND status = 'queued'",
            [visible_at.0, error, id.as_str(), &token.0]
        );
        Ok(n == 1)
    }

    /// Dead-letters a leased delivery with the error that exhausted its tries.
    pub async fn inbox_dead_letter(
        &self,
        id: &DeliveryId,
        token: &LeaseToken,
        error: &str,
        now: Millis,
    ) -> Result<bool, InboxError> {
        let n = execute_both!(
            self,
            "UPDATE inbox SET status = 'dead', last_error = $1, finished_at = $2, lease_token = NULL \
             WHERE delivery_id = $3 AND lease_token = $4 AND status = 'queued'",
            [error, now.0, id.as_str(), &token.0]
        );
        Ok(n == 1)
    }

    /// Operator retry: a dead or done delivery whose body is still stored is queued
    /// again with its tries reset.
    pub async fn inbox_retry(&self, id: &str, now: Millis) -> Result<RetryOutcome, InboxError> {
        let n = execute_both!(
            self,
            "UPDATE inbox SET status = 'queued', tries = 0, visible_at = $1, last_error = NULL, \
             finished_at = NULL, lease_token = NULL \
             WHERE delivery_id = $2 AND status IN ('dead', 'done') AND body_zstd IS NOT NULL",
            [now.0, id]
        );
        if n == 1 {
            return Ok(RetryOutcome::Requeued);
        }
        Ok(match self.inbox_show(id).await? {
            None => RetryOutcome::NotFound,
            Some((entry, _)) => RetryOutcome::NotRetryable {
                status: entry.status,
                has_body: entry.has_body,
            },
        })
    }

    /// The newest deliveries first, optionally of one status.
    pub async fn inbox_list(
        &self,
        status: Option<InboxStatus>,
        limit: u32,
    ) -> Result<Vec<InboxEntry>, InboxError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM inbox WHERE ($1 IS NULL OR status = $1) \
             ORDER BY received_at DESC, delivery_id LIMIT $2"
        );
        let status = status.map(InboxStatus::as_str);
        let rows: Vec<EntryRow> = match self {
            Store::Sqlite(pool) => {
                sqlx::query_as(&sql)
                    .bind(status)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            }
            Store::Postgres(pool) => {
                // PostgreSQL needs the parameter's type where SQLite infers none.
                sqlx::query_as(&sql.replace("$1 IS NULL", "$1::text IS NULL"))
                    .bind(status)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
            }
        };
        rows.into_iter().map(EntryRow::into_entry).collect()
    }

    /// One delivery and its decompressed body (if still stored).
    pub async fn inbox_show(
        &self,
        id: &str,
    ) -> Result<Option<(InboxEntry, Option<Vec<u8>>)>, InboxError> {
        let sql = format!("SELECT {ENTRY_COLUMNS}, body_zstd FROM inbox WHERE delivery_id = $1");
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            entry: EntryRow,
            body_zstd: Option<Vec<u8>>,
        }
        let row: Option<Row> = query_both!(self, &sql, [id], fetch_optional);
        match row {
            None => Ok(None),
            Some(row) => {
                let body = row.body_zstd.as_deref().map(decompress).transpose()?;
                Ok(Some((row.entry.into_entry()?, body)))
            }
        }
    }

    /// Drops the stored bodies of every delivery of `installation` (after the App was
    /// uninstalled); the metadata stays for the audit trail. Returns how many.
    pub async fn inbox_purge_installation(
        &self,
        installation: InstallationId,
    ) -> Result<u64, InboxError> {
        Ok(execute_both!(
            self,
            "UPDATE inbox SET body_zstd = NULL WHERE installation_id = $1 AND body_zstd IS NOT NULL",
            [installation.0]
        ))
    }

    /// Drops the bodies of finished deliveries received before `cutoff`; queued ones
    /// keep theirs whatever their age. Returns how many.
    pub async fn inbox_prune_bodies(&self, cutoff: Millis) -> Result<u64, InboxError> {
        Ok(execute_both!(
            self,
            "UPDATE inbox SET body_zstd = NULL \
             WHERE received_at < $1 AND status <> 'queued' AND body_zstd IS NOT NULL",
            [cutoff.0]
        ))
    }

    /// Deliveries per status (`queued` is the queue depth).
    pub async fn inbox_counts(&self) -> Result<InboxCounts, InboxError> {
        let sql = "SELECT status, COUNT(*) FROM inbox GROUP BY status";
        let rows: Vec<(String, i64)> = query_both!(self, sql, [], fetch_all);
        let mut counts = InboxCounts::default();
        for (status, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            match InboxStatus::parse(&status) {
                Some(InboxStatus::Queued) => counts.queued = n,
                Some(InboxStatus::Done) => counts.done = n,
                Some(InboxStatus::Dead) => counts.dead = n,
                Some(InboxStatus::Rejected) => counts.rejected = n,
                None => return Err(InboxError::Corrupt(format!("inbox.status `{status}`"))),
            }
        }
        Ok(counts)
    }

    /// Records an envelope once per delivery; `true` if this call stored it.
    pub async fn inbox_record_envelope(
        &self,
        envelope: &Envelope,
        now: Millis,
    ) -> Result<bool, InboxError> {
        let rows = [envelope];
        let n = match self {
            Store::Sqlite(pool) => {
                let _writing = SQLITE_WRITES.lock().await;
                envelope_insert(&rows, now)
                    .build()
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
            Store::Postgres(pool) => envelope_insert(&rows, now)
                .build()
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(n == 1)
    }

    /// The recorded envelope of a delivery, if it was processed.
    pub async fn inbox_envelope(&self, id: &str) -> Result<Option<Envelope>, InboxError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            delivery_id: String,
            event: String,
            action: Option<String>,
            installation_id: Option<i64>,
            sender_login: Option<String>,
            sender_type: Option<String>,
            repository: Option<String>,
            from_app: bool,
        }
        let sql = "SELECT delivery_id, event, action, installation_id, sender_login, sender_type, \
                   repository, from_app FROM inbox_envelope WHERE delivery_id = $1";
        let row: Option<Row> = query_both!(self, &sql, [id], fetch_optional);
        Ok(row.map(|r| Envelope {
            delivery_id: r.delivery_id,
            event: r.event,
            action: r.action,
            installation_id: r.installation_id,
            sender_login: r.sender_login,
            sender_type: r.sender_type,
            repository: r.repository,
            from_app: r.from_app,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Completions look their deliveries up by id. A plan through `inbox_ready`
    /// would walk every queued delivery per completion: harmless with an empty
    /// queue, a collapse under a backlog (each completion re-reading it).
    #[tokio::test]
    async fn lease_holders_look_deliveries_up_by_id() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let store = Store::open(&url).await.unwrap_or_else(|e| panic!("{e}"));
        let Store::Sqlite(pool) = &store else {
            unreachable!("a sqlite URL opens SQLite")
        };
        let ids: Vec<DeliveryId> = ["a", "b", "c"]
            .iter()
            .filter_map(|s| DeliveryId::parse(s))
            .collect();
        let token = LeaseToken::fresh();
        let plans = [
            complete_update::<Sqlite>(&ids, &token, Millis(0)),
            held_update::<Sqlite>(HeldUpdate::Renew, Millis(0), &token, &ids),
            held_update::<Sqlite>(HeldUpdate::Release, Millis(0), &token, &ids),
        ];
        for mut update in plans {
            let sql = format!("EXPLAIN QUERY PLAN {}", update.sql());
            let mut explain = sqlx::query_as::<_, (i64, i64, i64, String)>(&sql);
            explain = explain.bind(0_i64).bind(token.0.clone());
            for id in &ids {
                explain = explain.bind(id.as_str().to_owned());
            }
            let plan: Vec<String> = explain
                .fetch_all(pool)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .map(|(_, _, _, detail)| detail)
                .collect();
            assert!(
                plan.iter().any(|d| d.contains("(delivery_id=?)"))
                    && !plan.iter().any(|d| d.contains("inbox_ready")),
                "{}: plan {plan:?}",
                update.sql()
            );
            let _ = update.reset();
        }
        store.close().await;
    }
}

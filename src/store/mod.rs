//! The durable store: one interface over SQLite (the embedded default, WAL) and
//! PostgreSQL (shared by several replicas).
//!
//! Each concept keeps its own queries in its own file here (`inbox.rs`,
//! `attempts.rs`, ...); this file only connects and migrates.

use std::str::FromStr;
use std::time::Duration;

pub mod gate_reruns;
pub mod inbox;
pub mod turns;

use sqlx::ConnectOptions;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// A connection pool to one of the two supported databases.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL `{0}`: expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot connect to the database: no connection within {0:?}")]
    ConnectTimeout(Duration),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens the database at `url` (creating a SQLite file if needed) and applies
    /// every pending migration.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let store = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(StoreError::Connect)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                // Checkpoints run in the background (see `checkpoint_in_background`),
                // never inside a commit that someone is waiting on.
                .pragma("wal_autocheckpoint", "0");
            let pool = SqlitePoolOptions::new()
                // One writer at a time anyway (WAL): a few connections serve the
                // readers, and each one fewer is a page cache and a thread less.
                .max_connections(4)
                .connect_with(options.clone())
                .await
                .map_err(StoreError::Connect)?;
            tokio::spawn(checkpoint_in_background(pool.clone(), options));
            Store::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(StoreError::Connect)?;
            Store::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Closes every connection; on SQLite the last one to close checkpoints the WAL.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }

    /// Applies every pending migration of this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            Store::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        }
        .map_err(StoreError::Migrate)
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        match self {
            Store::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
            Store::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
        }
    }
}

/// How often the SQLite write-ahead log is copied back into the database file. Often,
/// so that each round is small: a round's writes compete with the commits' syncs for
/// the disk, and a short round delays a commit less than a long one.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// Copies the SQLite write-ahead log back into the database file, off every commit's
/// path, and makes the log start over. SQLite's own automatic checkpoint runs inside
/// whichever commit crosses 1,000 pages: a webhook batch waiting on that commit would
/// wait for the copy and its sync too. So each round first copies in passive mode,
/// which takes no lock writers need, while commits go on. A log that is only ever
/// copied that way starts over only when a copy happens to finish between two
/// commits; under load, commits land during every copy (each finds frames not yet
/// copied), so it grows without bound, and every sync of a growing file is a
/// journal commit that waits for the checkpoint's own writes.
/// So the round ends with a restart checkpoint, taken with the inbox's writes held
/// back: it has only the last few frames to copy, and the next commit writes the
/// log from its start, over blocks already allocated. A reader still on the log
/// makes the restart give up at once (no busy wait) until the next round.
///
/// Runs on a connection of its own (outside the pool), opened again on the next round
/// if it cannot be opened or fails, until the pool is closed; it then closes within a
/// round. Whatever is left in the log then is copied back by the last connection to
/// close, or replayed by SQLite when the database is next opened.
async fn checkpoint_in_background(pool: SqlitePool, options: SqliteConnectOptions) {
    let options = options.busy_timeout(Duration::ZERO);
    let mut conn = None;
    let mut warned = false;
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        tick.tick().await;
        if conn.is_none() {
            match options.connect().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    if !std::mem::replace(&mut warned, true) {
                        tracing::warn!(error = %e, "cannot open the SQLite checkpoint connection; trying again every round");
                    }
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let round = match checkpoint(c, "PASSIVE").await {
            Ok(_) => {
                let _writes = inbox::SQLITE_WRITES.lock().await;
                checkpoint(c, "RESTART").await
            }
            Err(e) => Err(e),
        };
        match round {
            Ok(_) => warned = false,
            Err(_) if pool.is_closed() => return,
            Err(e) => {
                if !std::mem::replace(&mut warned, true) {
                    tracing::warn!(error = %e, "cannot checkpoint the SQLite write-ahead log; opening its connection again");
                }
                conn = None;
            }
        }
    }
}

/// Runs one checkpoint in `mode`; returns (busy, frames in the log, frames copied).
async fn checkpoint(
    conn: &mut sqlx::SqliteConnection,
    mode: &str,
) -> Result<(i64, i64, i64), sqlx::Error> {
    sqlx::query_as(&format!("PRAGMA wal_checkpoint({mode})"))
        .fetch_one(conn)
        .await
}

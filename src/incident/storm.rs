//! Storm grouping: many scrapers failing with one cause inside a window
//! become one group with one leader, and only the leader gets a repair
//! attempt.
//!
//! Incidents share a cause when they have the same fingerprint, or the same
//! upstream host and an upstream error class (the site changed, is down or
//! rate-limits everyone), or the same missing dependency. Which keys an
//! incident has and which group it joins are pure decisions ([`group_keys`],
//! [`decide`]); [`StormGrouper`] makes them durable in the store, atomically
//! across replicas: a key belongs to at most one open group.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::classify::{Diagnosis, ErrorClass};
use super::evidence::{IncidentId, ScraperName, UpstreamHost};
use super::fingerprint::{Fingerprint, mask_message};
use crate::store::Store;

/// A storm group's identity (a ULID).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GroupId(Ulid);

impl GroupId {
    pub fn new() -> Self {
        Self(Ulid::new())
    }

    pub fn ulid(&self) -> Ulid {
        self.0
    }
}

impl Default for GroupId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What the grouper needs to know about an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StormCandidate {
    pub incident: IncidentId,
    pub scraper: Option<ScraperName>,
    pub fingerprint: Fingerprint,
    pub class: ErrorClass,
    pub upstream_host: Option<UpstreamHost>,
    /// A cause shared regardless of which scraper hit it (for a dependency
    /// error: the masked exception line, e.g. `No module named 'lxml'`).
    pub cause: Option<String>,
}

impl StormCandidate {
    /// The candidate for a diagnosed incident.
    pub fn from_diagnosis(incident: IncidentId, diagnosis: &Diagnosis) -> Self {
        let cause = match (diagnosis.class, &diagnosis.exception) {
            (ErrorClass::Dependency, Some(exc)) => Some(mask_message(&exc.headline())),
            _ => None,
        };
        Self {
            incident,
            scraper: diagnosis.scraper.clone(),
            fingerprint: diagnosis.fingerprint.clone(),
            class: diagnosis.class,
            upstream_host: diagnosis.upstream_host.clone(),
            cause,
        }
    }
}

/// One way an incident can find its group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GroupKey {
    Fingerprint(Fingerprint),
    Cause(ErrorClass, String),
    HostClass(UpstreamHost, ErrorClass),
}

impl GroupKey {
    /// The key as stored (`fp:…`, `cause:…`, `host:…`).
    pub fn storage_key(&self) -> String {
        match self {
            GroupKey::Fingerprint(fp) => format!("fp:{fp}"),
            GroupKey::Cause(class, cause) => format!("cause:{class}:{cause}"),
            GroupKey::HostClass(host, class) => format!("host:{host}:{class}"),
        }
    }

    pub fn matched_by(&self) -> MatchedBy {
        match self {
            GroupKey::Fingerprint(_) => MatchedBy::Fingerprint,
            GroupKey::Cause(..) => MatchedBy::Cause,
            GroupKey::HostClass(..) => MatchedBy::HostClass,
        }
    }
}

/// Why an incident is in its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// It opened the group.
    Opened,
    Fingerprint,
    Cause,
    HostClass,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Opened => "opened",
            MatchedBy::Fingerprint => "fingerprint",
            MatchedBy::Cause => "cause",
            MatchedBy::HostClass => "host_class",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            MatchedBy::Opened,
            MatchedBy::Fingerprint,
            MatchedBy::Cause,
            MatchedBy::HostClass,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// The keys an incident is grouped by, most specific first. Host and class
/// only count for upstream classes: two code bugs on one site are two bugs.
pub fn group_keys(candidate: &StormCandidate) -> Vec<GroupKey> {
    let mut keys = vec![GroupKey::Fingerprint(candidate.fingerprint.clone())];
    if let Some(cause) = &candidate.cause {
        keys.push(GroupKey::Cause(candidate.class, cause.clone()));
    }
    if let Some(host) = &candidate.upstream_host
        && candidate.class.is_upstream()
    {
        keys.push(GroupKey::HostClass(host.clone(), candidate.class));
    }
    keys
}

/// What to do with an incident, given which of its keys already point to an
/// open group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Join `group`; also register `add_keys` (the incident's keys that no
    /// open group holds yet) so incidents sharing only those find it.
    Join {
        group: GroupId,
        matched_by: MatchedBy,
        add_keys: Vec<GroupKey>,
    },
    /// Open a new group under all `keys`; this incident leads it.
    Open { keys: Vec<GroupKey> },
}

/// Pure grouping decision. `live` lists, for each of `keys` that an open
/// group holds, that group. The most specific matching key wins.
pub fn decide(keys: &[GroupKey], live: &[(GroupKey, GroupId)]) -> Decision {
    let found = keys
        .iter()
        .find_map(|k| live.iter().find(|(lk, _)| lk == k).map(|(_, g)| (k, *g)));
    match found {
        Some((key, group)) => Decision::Join {
            group,
            matched_by: key.matched_by(),
            add_keys: keys
                .iter()
                .filter(|k| !live.iter().any(|(lk, _)| lk == *k))
                .cloned()
                .collect(),
        },
        None => Decision::Open {
            keys: keys.to_vec(),
        },
    }
}

/// Where an incident landed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub group: GroupId,
    /// True for exactly one incident per group: the one that gets the repair
    /// attempt. Asking again for the same incident gives the same answer.
    pub leader: bool,
    pub matched_by: MatchedBy,
    /// Members so far, this one included.
    pub members: u64,
}

/// A group as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StormGroup {
    pub id: GroupId,
    pub class: ErrorClass,
    pub upstream_host: Option<UpstreamHost>,
    pub leader: IncidentId,
    pub leader_scraper: Option<ScraperName>,
    pub opened_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub members: u64,
}

/// Why grouping failed.
#[derive(Debug, thiserror::Error)]
pub enum StormError {
    #[error("storm grouping of incident {incident} failed in the store: {source}")]
    Store {
        incident: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "storm grouping of incident {incident} kept racing with other replicas; gave up after {attempts} attempts"
    )]
    Contention { incident: String, attempts: u32 },
    #[error("stored storm row has a bad {field}: `{value}`")]
    Corrupt { field: &'static str, value: String },
}

/// Groups incidents durably in the store (tables `storm_groups`,
/// `storm_keys`, `storm_members`).
#[derive(Clone, Debug)]
pub struct StormGrouper {
    store: Store,
    window: Duration,
}

enum TxError {
    /// Another replica opened a group for one of our keys between our read
    /// and our write: roll back and decide again.
    Raced,
    Sql(sqlx::Error),
}

impl From<sqlx::Error> for TxError {
    fn from(e: sqlx::Error) -> Self {
        TxError::Sql(e)
    }
}

const MAX_ATTEMPTS: u32 = 8;

impl StormGrouper {
    /// Groups stay open for `window` after their first incident.
    pub fn new(store: Store, window: Duration) -> Self {
        Self { store, window }
    }

    /// Assigns `candidate` to a group now.
    pub async fn assign(&self, candidate: &StormCandidate) -> Result<Assignment, StormError> {
        self.assign_at(candidate, Utc::now()).await
    }

    /// Assigns `candidate` to a group as of `now`: joins the open group that
    /// holds one of its keys, else opens one and leads it.
    pub async fn assign_at(
        &self,
        candidate: &StormCandidate,
        now: DateTime<Utc>,
    ) -> Result<Assignment, StormError> {
        let keys = group_keys(candidate);
        let now_ms = now.timestamp_millis();
        let closes_ms =
            now_ms.saturating_add(i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX));
        let incident = candidate.incident.to_string();
        for _ in 0..MAX_ATTEMPTS {
            let result = match &self.store {
                Store::Sqlite(pool) => {
                    // IMMEDIATE takes the write lock up front, so two writers
                    // never both read "no group" and both open one.
                    match pool.begin_with("BEGIN IMMEDIATE").await {
                        Ok(mut tx) => {
                            match assign_sqlite(&mut tx, candidate, &keys, now_ms, closes_ms).await
                            {
                                Ok(a) => tx.commit().await.map(|()| a).map_err(TxError::Sql),
                                Err(e) => Err(e),
                            }
                        }
                        Err(e) => Err(TxError::Sql(e)),
                    }
                }
                Store::Postgres(pool) => match pool.begin().await {
                    Ok(mut tx) => {
                        match assign_postgres(&mut tx, candidate, &keys, now_ms, closes_ms).await {
                            Ok(a) => tx.commit().await.map(|()| a).map_err(TxError::Sql),
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(TxError::Sql(e)),
                },
            };
            match result {
                Ok(assignment) => return Ok(assignment),
                Err(TxError::Raced) => continue,
                Err(TxError::Sql(e)) if is_transient(&e) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                Err(TxError::Sql(source)) => return Err(StormError::Store { incident, source }),
            }
        }
        Err(StormError::Contention {
            incident,
            attempts: MAX_ATTEMPTS,
        })
    }

    /// The group `id`, if it exists.
    pub async fn group(&self, id: GroupId) -> Result<Option<StormGroup>, StormError> {
        const SQL: &str = "SELECT error_class, upstream_host, leader_incident, leader_scraper, \
             opened_at, closes_at, member_count FROM storm_groups WHERE id = $1";
        type Row = (
            String,
            Option<String>,
            String,
            Option<String>,
            i64,
            i64,
            i64,
        );
        let err = |source| StormError::Store {
            incident: String::new(),
            source,
        };
        let row: Option<Row> = match &self.store {
            Store::Sqlite(pool) => sqlx::query_as(SQL)
                .bind(id.to_string())
                .fetch_optional(pool)
                .await
                .map_err(err)?,
            Store::Postgres(pool) => sqlx::query_as(SQL)
                .bind(id.to_string())
                .fetch_optional(pool)
                .await
                .map_err(err)?,
        };
        let Some((class, host, leader, leader_scraper, opened, closes, members)) = row else {
            return Ok(None);
        };
        let corrupt = |field, value: &str| StormError::Corrupt {
            field,
            value: value.to_owned(),
        };
        Ok(Some(StormGroup {
            id,
            class: class.parse().map_err(|_| corrupt("error_class", &class))?,
            upstream_host: host.as_deref().map(UpstreamHost::new),
            leader: Ulid::from_string(&leader)
                .map(IncidentId::from_ulid)
                .map_err(|_| corrupt("leader_incident", &leader))?,
            leader_scraper: leader_scraper.map(ScraperName::new),
            opened_at: DateTime::from_timestamp_millis(opened)
                .ok_or_else(|| corrupt("opened_at", &opened.to_string()))?,
            closes_at: DateTime::from_timestamp_millis(closes)
                .ok_or_else(|| corrupt("closes_at", &closes.to_string()))?,
            members: u64::try_from(members)
                .map_err(|_| corrupt("member_count", &members.to_string()))?,
        }))
    }
}

/// Lock contention and serialization failures: worth retrying.
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            // SQLite: BUSY, LOCKED; PostgreSQL: serialization failure, deadlock.
            Some("5" | "6" | "517" | "40001" | "40P01")
        ),
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    }
}

fn parse_group(value: &str) -> Result<GroupId, TxError> {
    Ulid::from_string(value).map(GroupId).map_err(|_| {
        TxError::Sql(sqlx::Error::Decode(
            format!("storm group id `{value}` is not a ULID").into(),
        ))
    })
}

// The transaction body is the same SQL on both databases; the macro only
// stamps it out for each connection type, since sqlx's query types are
// specific to one database.
macro_rules! assign_tx {
    ($name:ident, $db:ty) => {
        async fn $name(
            tx: &mut sqlx::Transaction<'static, $db>,
            candidate: &StormCandidate,
            keys: &[GroupKey],
            now_ms: i64,
            closes_ms: i64,
        ) -> Result<Assignment, TxError> {
            let incident = candidate.incident.to_string();
            // Idempotent: an incident asked about again keeps its answer.
            let existing: Option<(String, bool, String, i64)> = sqlx::query_as(
                "SELECT m.group_id, m.is_leader, m.matched_by, g.member_count \
                 FROM storm_members m JOIN storm_groups g ON g.id = m.group_id \
                 WHERE m.incident_id = $1",
            )
            .bind(&incident)
            .fetch_optional(&mut **tx)
            .await?;
            if let Some((group, leader, matched_by, members)) = existing {
                return Ok(Assignment {
                    group: parse_group(&group)?,
                    leader,
                    matched_by: MatchedBy::parse(&matched_by).unwrap_or(MatchedBy::Fingerprint),
                    members: u64::try_from(members).unwrap_or(0),
                });
            }
            let mut live = Vec::new();
            for key in keys {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT group_id FROM storm_keys WHERE key = $1 AND expires_at > $2",
                )
                .bind(key.storage_key())
                .bind(now_ms)
                .fetch_optional(&mut **tx)
                .await?;
                if let Some((group,)) = row {
                    live.push((key.clone(), parse_group(&group)?));
                }
            }
            let (group, leader, matched_by, add_keys, expires_ms) = match decide(keys, &live) {
                Decision::Join {
                    group,
                    matched_by,
                    add_keys,
                } => {
                    let (closes,): (i64,) =
                        sqlx::query_as("SELECT closes_at FROM storm_groups WHERE id = $1")
                            .bind(group.to_string())
                            .fetch_one(&mut **tx)
                            .await?;
                    (group, false, matched_by, add_keys, closes)
                }
                Decision::Open { keys } => {
                    let group = GroupId::new();
                    sqlx::query(
                        "INSERT INTO storm_groups (id, error_class, upstream_host, fingerprint, \
                         leader_incident, leader_scraper, opened_at, closes_at, member_count) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
                    )
                    .bind(group.to_string())
                    .bind(candidate.class.as_str())
                    .bind(candidate.upstream_host.as_ref().map(|h| h.as_str().to_owned()))
                    .bind(candidate.fingerprint.as_str())
                    .bind(&incident)
                    .bind(candidate.scraper.as_ref().map(|s| s.as_str().to_owned()))
                    .bind(now_ms)
                    .bind(closes_ms)
                    .execute(&mut **tx)
                    .await?;
                    (group, true, MatchedBy::Opened, keys, closes_ms)
                }
            };
            for key in &add_keys {
                let taken: Option<(String,)> = sqlx::query_as(
                    "INSERT INTO storm_keys (key, group_id, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET group_id = excluded.group_id, \
                         expires_at = excluded.expires_at \
                     WHERE storm_keys.expires_at <= $4 \
                     RETURNING group_id",
                )
                .bind(key.storage_key())
                .bind(group.to_string())
                .bind(expires_ms)
                .bind(now_ms)
                .fetch_optional(&mut **tx)
                .await?;
                // A leader must own all its keys; a joiner only adds keys
                // nobody holds, and losing one of those to a group opened
                // meanwhile is harmless.
                if taken.is_none() && leader {
                    return Err(TxError::Raced);
                }
            }
            let (members,): (i64,) = sqlx::query_as(
                "UPDATE storm_groups SET member_count = member_count + 1 WHERE id = $1 \
                 RETURNING member_count",
            )
            .bind(group.to_string())
            .fetch_one(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO storm_members (incident_id, group_id, scraper, fingerprint, \
                 is_leader, matched_by, joined_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&incident)
            .bind(group.to_string())
            .bind(candidate.scraper.as_ref().map(|s| s.as_str().to_owned()))
            .bind(candidate.fingerprint.as_str())
            .bind(leader)
            .bind(matched_by.as_str())
            .bind(now_ms)
            .execute(&mut **tx)
            .await?;
            Ok(Assignment {
                group,
                leader,
                matched_by,
                members: u64::try_from(members).unwrap_or(0),
            })
        }
    };
}

assign_tx!(assign_sqlite, sqlx::Sqlite);
assign_tx!(assign_postgres, sqlx::Postgres);

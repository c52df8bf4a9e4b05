//! Fix patterns and outcomes: one row per repair attempt, updated as the
//! attempt moves on, so an attempt that was merged and then reverted counts
//! once, as a failure.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::rate::Rate;
use crate::incident::{ErrorClass, ScraperName, UpstreamHost};
use crate::store::Store;

/// A fix strategy's name (`selector_heal`, `key_rename`, `agent_rewrite`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Strategy(String);

impl Strategy {
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a repair attempt ended up (so far).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Proposed, not decided yet: not counted.
    Proposed,
    Merged,
    Deployed,
    /// The next run after deploy was back to baseline.
    Verified,
    Reverted,
    Rejected,
    GatesFailed,
    Abandoned,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Proposed,
        Outcome::Merged,
        Outcome::Deployed,
        Outcome::Verified,
        Outcome::Reverted,
        Outcome::Rejected,
        Outcome::GatesFailed,
        Outcome::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Proposed => "proposed",
            Outcome::Merged => "merged",
            Outcome::Deployed => "deployed",
            Outcome::Verified => "verified",
            Outcome::Reverted => "reverted",
            Outcome::Rejected => "rejected",
            Outcome::GatesFailed => "gates_failed",
            Outcome::Abandoned => "abandoned",
        }
    }

    /// Whether this outcome counts as a success (`None`: not decided yet).
    /// Merged and deployed count as successes until a revert says otherwise.
    pub fn success(self) -> Option<bool> {
        match self {
            Outcome::Proposed => None,
            Outcome::Merged | Outcome::Deployed | Outcome::Verified => Some(true),
            Outcome::Reverted | Outcome::Rejected | Outcome::GatesFailed | Outcome::Abandoned => {
                Some(false)
            }
        }
    }
}

/// One attempt's fix pattern and outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    /// The repair attempt's id; recording again for it updates the row.
    pub attempt: Ulid,
    pub scraper: ScraperName,
    pub class: ErrorClass,
    pub upstream_host: Option<UpstreamHost>,
    pub strategy: Strategy,
    /// The literal the fix replaced (selector, key path), if it was one.
    pub before: Option<String>,
    /// What replaced it.
    pub after: Option<String>,
    pub outcome: Outcome,
}

/// A replacement that worked before for this class and host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedRename {
    pub before: String,
    pub after: String,
    pub successes: u64,
    pub failures: u64,
}

/// Why memory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("memory {operation} failed in the store: {source}")]
    Store {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("JSON response for scraper `{scraper}` has more than {limit} key paths")]
    TooManyPaths { scraper: String, limit: usize },
}

pub(super) fn store_err(operation: &'static str) -> impl Fn(sqlx::Error) -> MemoryError {
    move |source| MemoryError::Store { operation, source }
}

/// Memory on the store.
#[derive(Clone, Debug)]
pub struct Memory {
    pub(super) store: Store,
}

const RECORD_SQL: &str = "INSERT INTO memory_outcomes (attempt_id, scraper, error_class, \
     upstream_host, strategy, before_value, after_value, outcome, success, recorded_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
     ON CONFLICT (attempt_id) DO UPDATE SET outcome = excluded.outcome, \
         success = excluded.success, updated_at = excluded.updated_at, \
         before_value = COALESCE(excluded.before_value, memory_outcomes.before_value), \
         after_value = COALESCE(excluded.after_value, memory_outcomes.after_value)";

const RENAMES_SQL: &str = "SELECT before_value, after_value, \
         SUM(CASE WHEN success THEN 1 ELSE 0 END) AS successes, \
         SUM(CASE WHEN success THEN 0 ELSE 1 END) AS failures \
     FROM memory_outcomes \
     WHERE error_class = $1 AND upstream_host = $2 AND success IS NOT NULL \
         AND before_value IS NOT NULL AND after_value IS NOT NULL \
     GROUP BY before_value, after_value \
     HAVING SUM(CASE WHEN success THEN 1 ELSE 0 END) > 0 \
     ORDER BY successes DESC, failures ASC, MAX(updated_at) DESC, before_value, after_value";

const RATE_SQL: &str = "SELECT COALESCE(SUM(CASE WHEN success THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN success THEN 0 ELSE 1 END), 0) \
     FROM memory_outcomes \
     WHERE strategy = $1 AND error_class = $2 AND success IS NOT NULL";

fn host_column(host: Option<&UpstreamHost>) -> String {
    host.map_or_else(String::new, |h| h.as_str().to_owned())
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Memory {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Records (or updates) an attempt's pattern and outcome.
    pub async fn record_outcome(
        &self,
        record: &OutcomeRecord,
        now: DateTime<Utc>,
    ) -> Result<(), MemoryError> {
        let err = store_err("record_outcome");
        let host = host_column(record.upstream_host.as_ref());
        let attempt = record.attempt.to_string();
        let (scraper, class) = (record.scraper.as_str(), record.class.as_str());
        let strategy = record.strategy.as_str();
        let sql = RECORD_SQL;
        match &self.store {
            Store::Sqlite(pool) => {
                sqlx::query(sql)
                    .bind(attempt)
                    .bind(scraper)
                    .bind(class)
                    .bind(host)
                    .bind(strategy)
                    .bind(record.before.as_deref())
                    .bind(record.after.as_deref())
                    .bind(record.outcome.as_str())
                    .bind(record.outcome.success())
                    .bind(now.timestamp_millis())
                    .execute(pool)
                    .await
                    .map_err(err)?;
            }
            Store::Postgres(pool) => {
                sqlx::query(sql)
                    .bind(attempt)
                    .bind(scraper)
                    .bind(class)
                    .bind(host)
                    .bind(strategy)
                    .bind(record.before.as_deref())
                    .bind(record.after.as_deref())
                    .bind(record.outcome.as_str())
                    .bind(record.outcome.success())
                    .bind(now.timestamp_millis())
                    .execute(pool)
                    .await
                    .map_err(err)?;
            }
        }
        Ok(())
    }

    /// Moves a recorded attempt to `outcome` (merged, then verified or
    /// reverted). Returns false when memory holds no record of `attempt`.
    pub async fn update_outcome(
        &self,
        attempt: Ulid,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<bool, MemoryError> {
        const SQL: &str = "UPDATE memory_outcomes SET outcome = $2, success = $3, updated_at = $4 \
             WHERE attempt_id = $1";
        let err = store_err("update_outcome");
        let rows = match &self.store {
            Store::Sqlite(pool) => sqlx::query(SQL)
                .bind(attempt.to_string())
                .bind(outcome.as_str())
                .bind(outcome.success())
                .bind(now.timestamp_millis())
                .execute(pool)
                .await
                .map_err(err)?
                .rows_affected(),
            Store::Postgres(pool) => sqlx::query(SQL)
                .bind(attempt.to_string())
                .bind(outcome.as_str())
                .bind(outcome.success())
                .bind(now.timestamp_millis())
                .execute(pool)
                .await
                .map_err(err)?
                .rows_affected(),
        };
        Ok(rows == 1)
    }

    /// Replacements that succeeded at least once for `class` on `host`, most
    /// successful first (then fewest failures, then most recent). The healer
    /// tries these before searching.
    pub async fn remembered_renames(
        &self,
        class: ErrorClass,
        host: Option<&UpstreamHost>,
    ) -> Result<Vec<RememberedRename>, MemoryError> {
        let err = store_err("remembered_renames");
        let host = host_column(host);
        let rows: Vec<(String, String, i64, i64)> = match &self.store {
            Store::Sqlite(pool) => sqlx::query_as(RENAMES_SQL)
                .bind(class.as_str())
                .bind(host)
                .fetch_all(pool)
                .await
                .map_err(err)?,
            Store::Postgres(pool) => sqlx::query_as(RENAMES_SQL)
                .bind(class.as_str())
                .bind(host)
                .fetch_all(pool)
                .await
                .map_err(err)?,
        };
        Ok(rows
            .into_iter()
            .map(|(before, after, s, f)| RememberedRename {
                before,
                after,
                successes: count(s),
                failures: count(f),
            })
            .collect())
    }

    /// The decided outcomes of `strategy` on `class`.
    pub async fn strategy_rate(
        &self,
        strategy: &Strategy,
        class: ErrorClass,
    ) -> Result<Rate, MemoryError> {
        let err = store_err("strategy_rate");
        let (s, f): (i64, i64) = match &self.store {
            Store::Sqlite(pool) => sqlx::query_as(RATE_SQL)
                .bind(strategy.as_str())
                .bind(class.as_str())
                .fetch_one(pool)
                .await
                .map_err(err)?,
            Store::Postgres(pool) => sqlx::query_as(RATE_SQL)
                .bind(strategy.as_str())
                .bind(class.as_str())
                .fetch_one(pool)
                .await
                .map_err(err)?,
        };
        Ok(Rate::new(count(s), count(f)))
    }
}

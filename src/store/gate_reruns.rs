//! Gate re-runs asked for on GitHub, one row per delivery: the claim that
//! makes a delivery handled twice report once.

use std::time::Duration;

use sqlx::Row;

use super::{Store, StoreError};
use crate::store::inbox::Millis;

/// A re-run about to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RerunClaim {
    pub delivery_id: String,
    pub repository: String,
    pub head_sha: String,
    /// The `external_id` its check runs get if this claim is the first.
    pub external_id: String,
}

/// What a claim found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// First claim: run with the claim's `external_id`.
    Fresh,
    /// An earlier try stopped mid-run (its claim went stale): run again with
    /// the `external_id` it chose, taking over its unfinished check runs.
    Resumed { external_id: String },
    /// Another worker is running it now.
    Busy,
    /// Already reported; nothing to do.
    Reported,
}

/// One row, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RerunRecord {
    pub delivery_id: String,
    pub repository: String,
    pub head_sha: String,
    pub external_id: String,
    /// `running` or `reported`.
    pub state: String,
    pub claimed_at: Millis,
    pub finished_at: Option<Millis>,
    /// A short line: each check and its conclusion.
    pub outcome: Option<String>,
}

const INSERT: &str = "INSERT INTO gate_reruns \
    (delivery_id, repository, head_sha, external_id, state, claimed_at) \
    VALUES ($1, $2, $3, $4, 'running', $5) ON CONFLICT (delivery_id) DO NOTHING";
const SELECT: &str = "SELECT delivery_id, repository, head_sha, external_id, state, \
    claimed_at, finished_at, outcome FROM gate_reruns WHERE delivery_id = $1";
const TAKE_OVER: &str = "UPDATE gate_reruns SET claimed_at = $1 \
    WHERE delivery_id = $2 AND state = 'running' AND claimed_at = $3";
const RELEASE: &str =
    "UPDATE gate_reruns SET claimed_at = 0 WHERE delivery_id = $1 AND state = 'running'";
const FINISH: &str = "UPDATE gate_reruns SET state = 'reported', finished_at = $1, outcome = $2 \
    WHERE delivery_id = $3";

impl Store {
    /// Claims the re-run of a delivery. A claim older than `stale_after`
    /// that never finished belongs to a worker that died; it is taken over.
    pub async fn gate_rerun_claim(
        &self,
        claim: &RerunClaim,
        now: Millis,
        stale_after: Duration,
    ) -> Result<Claimed, StoreError> {
        macro_rules! claim {
            ($pool:expr) => {{
                let inserted = sqlx::query(INSERT)
                    .bind(&claim.delivery_id)
                    .bind(&claim.repository)
                    .bind(&claim.head_sha)
                    .bind(&claim.external_id)
                    .bind(now.0)
                    .execute($pool)
                    .await?
                    .rows_affected();
                if inserted == 1 {
                    return Ok(Claimed::Fresh);
                }
                let row = sqlx::query(SELECT)
                    .bind(&claim.delivery_id)
                    .fetch_one($pool)
                    .await?;
                let state: String = row.try_get("state")?;
                let claimed_at: i64 = row.try_get("claimed_at")?;
                let external_id: String = row.try_get("external_id")?;
                if state == "reported" {
                    return Ok(Claimed::Reported);
                }
                if claimed_at > now.before(stale_after).0 {
                    return Ok(Claimed::Busy);
                }
                let taken = sqlx::query(TAKE_OVER)
                    .bind(now.0)
                    .bind(&claim.delivery_id)
                    .bind(claimed_at)
                    .execute($pool)
                    .await?
                    .rows_affected();
                Ok(if taken == 1 {
                    Claimed::Resumed { external_id }
                } else {
                    Claimed::Busy
                })
            }};
        }
        match self {
            Store::Sqlite(pool) => claim!(pool),
            Store::Postgres(pool) => claim!(pool),
        }
    }

    /// Marks a delivery's re-run reported.
    pub async fn gate_rerun_finish(
        &self,
        delivery_id: &str,
        outcome: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        macro_rules! finish {
            ($pool:expr) => {
                sqlx::query(FINISH)
                    .bind(now.0)
                    .bind(outcome)
                    .bind(delivery_id)
                    .execute($pool)
                    .await
                    .map(drop)?
            };
        }
        match self {
            Store::Sqlite(pool) => finish!(pool),
            Store::Postgres(pool) => finish!(pool),
        };
        Ok(())
    }

    /// Gives up a claim after a failed try, so the next try resumes at once
    /// instead of waiting for it to go stale.
    pub async fn gate_rerun_release(&self, delivery_id: &str) -> Result<(), StoreError> {
        macro_rules! release {
            ($pool:expr) => {
                sqlx::query(RELEASE)
                    .bind(delivery_id)
                    .execute($pool)
                    .await
                    .map(drop)?
            };
        }
        match self {
            Store::Sqlite(pool) => release!(pool),
            Store::Postgres(pool) => release!(pool),
        };
        Ok(())
    }

    /// The re-run row of a delivery, if it has one.
    pub async fn gate_rerun(&self, delivery_id: &str) -> Result<Option<RerunRecord>, StoreError> {
        macro_rules! read {
            ($pool:expr) => {{
                let Some(row) = sqlx::query(SELECT)
                    .bind(delivery_id)
                    .fetch_optional($pool)
                    .await?
                else {
                    return Ok(None);
                };
                let finished_at: Option<i64> = row.try_get("finished_at")?;
                RerunRecord {
                    delivery_id: row.try_get("delivery_id")?,
                    repository: row.try_get("repository")?,
                    head_sha: row.try_get("head_sha")?,
                    external_id: row.try_get("external_id")?,
                    state: row.try_get("state")?,
                    claimed_at: Millis(row.try_get("claimed_at")?),
                    finished_at: finished_at.map(Millis),
                    outcome: row.try_get("outcome")?,
                }
            }};
        }
        Ok(Some(match self {
            Store::Sqlite(pool) => read!(pool),
            Store::Postgres(pool) => read!(pool),
        }))
    }
}

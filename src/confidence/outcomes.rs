//! Recorded outcomes of repair attempts, kept in the store for calibration.

use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::calibration::{CalibrationError, IsotonicCalibration, Outcome};
use crate::store::{Store, StoreError};

/// How a repair attempt ended, as far as calibration cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// Merged, deployed, and the scraper's next run was back to baseline.
    Verified,
    /// Merged, then reverted (the next run failed, or a human reverted it).
    Reverted,
    /// A human closed or rejected the fix.
    Rejected,
    /// The fix never proved itself (gates or replay failed after proposing).
    Failed,
}

impl OutcomeKind {
    /// Only a verified fix counts as a success.
    pub fn is_success(self) -> bool {
        self == OutcomeKind::Verified
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Verified => "verified",
            OutcomeKind::Reverted => "reverted",
            OutcomeKind::Rejected => "rejected",
            OutcomeKind::Failed => "failed",
        }
    }
}

/// Why an outcome could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum OutcomeError {
    #[error("raw score {0} of attempt {1} is not in [0, 1]")]
    Score(f64, Ulid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records the outcome of an attempt once: a second record for the same
/// attempt is ignored (returns `false`), so redelivered events are harmless.
pub async fn record(
    store: &Store,
    attempt: Ulid,
    raw_score: f64,
    kind: OutcomeKind,
) -> Result<bool, OutcomeError> {
    if !(0.0..=1.0).contains(&raw_score) {
        return Err(OutcomeError::Score(raw_score, attempt));
    }
    let id = attempt.to_string();
    let inserted = match store {
        Store::Sqlite(pool) => sqlx::query(
            "INSERT INTO calibration_outcomes (attempt_id, raw_score, outcome, success) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (attempt_id) DO NOTHING",
        )
        .bind(&id)
        .bind(raw_score)
        .bind(kind.as_str())
        .bind(kind.is_success())
        .execute(pool)
        .await
        .map_err(StoreError::from)?
        .rows_affected(),
        Store::Postgres(pool) => sqlx::query(
            "INSERT INTO calibration_outcomes (attempt_id, raw_score, outcome, success) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (attempt_id) DO NOTHING",
        )
        .bind(&id)
        .bind(raw_score)
        .bind(kind.as_str())
        .bind(kind.is_success())
        .execute(pool)
        .await
        .map_err(StoreError::from)?
        .rows_affected(),
    };
    Ok(inserted == 1)
}

/// Every recorded outcome, oldest first.
pub async fn load(store: &Store) -> Result<Vec<Outcome>, StoreError> {
    let rows: Vec<(f64, bool)> = match store {
        Store::Sqlite(pool) => {
            sqlx::query_as("SELECT raw_score, success FROM calibration_outcomes ORDER BY id")
                .fetch_all(pool)
                .await?
        }
        Store::Postgres(pool) => {
            sqlx::query_as("SELECT raw_score, success FROM calibration_outcomes ORDER BY id")
                .fetch_all(pool)
                .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|(score, success)| Outcome::new(score, success))
        .collect())
}

/// Below this many recorded outcomes an installation uses the shipped prior:
/// fewer make the isotonic steps too coarse to trust.
pub const MIN_OWN_OUTCOMES: usize = 50;

/// The calibration in force: fitted on the installation's own outcomes once
/// it has at least [`MIN_OWN_OUTCOMES`] (by
/// [`IsotonicCalibration::fit_lower_bound`], so thin evidence cannot reach the
/// high band), else the shipped prior.
pub async fn current_calibration(store: &Store) -> Result<IsotonicCalibration, CurrentError> {
    let recorded = load(store).await?;
    if recorded.len() < MIN_OWN_OUTCOMES {
        return Ok(IsotonicCalibration::prior()?);
    }
    let source = format!("{} outcomes recorded by this installation", recorded.len());
    Ok(IsotonicCalibration::fit_lower_bound(&recorded)?.with_source(Some(source)))
}

/// Why the calibration in force could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CurrentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Calibration(#[from] CalibrationError),
}

#[cfg(test)]
mod tests;

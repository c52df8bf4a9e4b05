//! The repair attempt: one durable row per try at fixing one incident of one
//! scraper, moving through the loop's states with every transition recorded.
//!
//! Which transitions are allowed is decided by [`check_transition`], a pure
//! function; the store functions below apply a transition only if the row is
//! still in the state it was read in, so two workers never both move it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use ulid::Ulid;

use crate::store::Store;

/// An attempt's identifier: a ULID, so ids sort by creation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttemptId(Ulid);

impl AttemptId {
    /// A fresh id.
    pub fn new() -> Self {
        AttemptId(Ulid::new())
    }

    /// The ULID itself (memory keys outcomes by it).
    pub fn ulid(self) -> Ulid {
        self.0
    }
}

impl Default for AttemptId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Lower case: the id appears in branch names.
        write!(f, "{}", self.0.to_string().to_ascii_lowercase())
    }
}

impl FromStr for AttemptId {
    type Err = ulid::DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ulid::from_string(&s.to_ascii_uppercase()).map(AttemptId)
    }
}

/// Where an attempt is in the loop (DESIGN.md, "The loop").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// The incident was classified; nothing proposed yet.
    Diagnosed,
    /// An agent proposed edits.
    Proposed,
    /// The proposal passed its proof (replay, gates).
    Proven,
    /// The proof is committed on the attempt's branch.
    Committed,
    /// A pull request exists for the branch.
    PullRequestOpen,
    /// The pull request was merged.
    Merged,
    /// The merge was deployed.
    Deployed,
    /// The scraper's next run after the deploy was back to its baseline. Final.
    Verified,
    /// The merge was reverted after a failed verification. Final.
    Reverted,
    /// Given up (a maintainer's `/abandon`, or nothing to fix). Final.
    Abandoned,
    /// Handed to a human with the evidence gathered. Final.
    Escalated,
}

impl AttemptState {
    /// Every state, in loop order.
    pub const ALL: [AttemptState; 11] = [
        AttemptState::Diagnosed,
        AttemptState::Proposed,
        AttemptState::Proven,
        AttemptState::Committed,
        AttemptState::PullRequestOpen,
        AttemptState::Merged,
        AttemptState::Deployed,
        AttemptState::Verified,
        AttemptState::Reverted,
        AttemptState::Abandoned,
        AttemptState::Escalated,
    ];

    /// The name stored in the database and shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Diagnosed => "diagnosed",
            AttemptState::Proposed => "proposed",
            AttemptState::Proven => "proven",
            AttemptState::Committed => "committed",
            AttemptState::PullRequestOpen => "pull_request_open",
            AttemptState::Merged => "merged",
            AttemptState::Deployed => "deployed",
            AttemptState::Verified => "verified",
            AttemptState::Reverted => "reverted",
            AttemptState::Abandoned => "abandoned",
            AttemptState::Escalated => "escalated",
        }
    }

    /// Whether no transition leaves this state.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            AttemptState::Verified
                | AttemptState::Reverted
                | AttemptState::Abandoned
                | AttemptState::Escalated
        )
    }
}

impl fmt::Display for AttemptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttemptState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttemptState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown attempt state `{s}`"))
    }
}

/// A transition the loop does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the attempt is already {0}")]
    AlreadyIn(AttemptState),
    #[error("the attempt is {0}, which is final")]
    Final(AttemptState),
    #[error("an attempt cannot go from {from} to {to}")]
    NotAllowed {
        from: AttemptState,
        to: AttemptState,
    },
}

/// Decides whether an attempt in `from` may move to `to`. Forward along the
/// loop one step at a time; abandon or escalate from any unfinished state
/// before the merge; after the merge only deploy, verify or revert.
pub fn check_transition(from: AttemptState, to: AttemptState) -> Result<(), TransitionError> {
    use AttemptState::*;
    if from == to {
        return Err(TransitionError::AlreadyIn(from));
    }
    if from.is_final() {
        return Err(TransitionError::Final(from));
    }
    let allowed = matches!(
        (from, to),
        (Diagnosed, Proposed)
            | (Proposed, Proven)
            | (Proven, Committed)
            | (Committed, PullRequestOpen)
            | (PullRequestOpen, Merged)
            | (
                Diagnosed | Proposed | Proven | Committed | PullRequestOpen,
                Abandoned | Escalated
            )
            | (Merged, Deployed | Verified | Reverted)
            | (Deployed, Verified | Reverted)
    );
    if allowed {
        Ok(())
    } else {
        Err(TransitionError::NotAllowed { from, to })
    }
}

/// One recorded change of state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// `None` for the creation of the attempt.
    pub from: Option<AttemptState>,
    pub to: AttemptState,
    /// Why, in a sentence a maintainer can read.
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// A repair attempt as stored, with its history oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub id: AttemptId,
    /// The repository: `owner/name` on GitHub, or a local path.
    pub repository: String,
    pub scraper: String,
    /// The incident's fingerprint.
    pub fingerprint: String,
    pub state: AttemptState,
    /// The repair branch, once created.
    pub branch: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub history: Vec<Transition>,
}

/// What a new attempt is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAttempt {
    pub repository: String,
    pub scraper: String,
    pub fingerprint: String,
}

/// Why an attempt could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error("no repair attempt {0}")]
    NotFound(AttemptId),
    #[error("repair attempt {id}: {source}")]
    Transition {
        id: AttemptId,
        #[source]
        source: TransitionError,
    },
    #[error("repair attempt {id} changed state while it was being moved from {expected}")]
    Conflict {
        id: AttemptId,
        expected: AttemptState,
    },
    #[error("repair attempt row `{id}` has a bad {field}: `{value}`")]
    Corrupt {
        id: String,
        field: &'static str,
        value: String,
    },
    #[error("repair attempt store: {0}")]
    Database(#[from] sqlx::Error),
}

const INSERT_ATTEMPT: &str = "INSERT INTO repair_attempts \
    (id, repository, scraper, fingerprint, state, branch, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, NULL, $6, $7)";
const INSERT_TRANSITION: &str = "INSERT INTO repair_attempt_transitions \
    (attempt_id, seq, from_state, to_state, reason, at) VALUES ($1, $2, $3, $4, $5, $6)";
const SELECT_ATTEMPT: &str = "SELECT id, repository, scraper, fingerprint, state, branch, \
    created_at, updated_at FROM repair_attempts WHERE id = $1";
const SELECT_HISTORY: &str = "SELECT from_state, to_state, reason, at \
    FROM repair_attempt_transitions WHERE attempt_id = $1 ORDER BY seq";
const UPDATE_STATE: &str =
    "UPDATE repair_attempts SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4";
const NEXT_SEQ: &str =
    "SELECT COALESCE(MAX(seq), 0) + 1 FROM repair_attempt_transitions WHERE attempt_id = $1";
const UPDATE_BRANCH: &str = "UPDATE repair_attempts SET branch = $1, updated_at = $2 WHERE id = $3";
const SELECT_BY_FINGERPRINT: &str = "SELECT id FROM repair_attempts \
    WHERE repository = $1 AND fingerprint = $2 ORDER BY id";

/// Records a new attempt in state `diagnosed`.
pub async fn create(
    store: &Store,
    new: &NewAttempt,
    reason: &str,
) -> Result<Attempt, AttemptError> {
    let id = AttemptId::new();
    let now = Utc::now();
    let state = AttemptState::Diagnosed.as_str();
    let id_text = id.to_string();
    macro_rules! insert {
        ($pool:expr) => {{
            let mut tx = $pool.begin().await?;
            sqlx::query(INSERT_ATTEMPT)
                .bind(&id_text)
                .bind(&new.repository)
                .bind(&new.scraper)
                .bind(&new.fingerprint)
                .bind(state)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_TRANSITION)
                .bind(&id_text)
                .bind(1_i64)
                .bind(None::<String>)
                .bind(state)
                .bind(reason)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }};
    }
    match store {
        Store::Sqlite(pool) => insert!(pool),
        Store::Postgres(pool) => insert!(pool),
    }
    get(store, id).await
}

/// Reads an attempt and its history.
pub async fn get(store: &Store, id: AttemptId) -> Result<Attempt, AttemptError> {
    let id_text = id.to_string();
    macro_rules! read {
        ($pool:expr) => {{
            let Some(row) = sqlx::query(SELECT_ATTEMPT)
                .bind(&id_text)
                .fetch_optional($pool)
                .await?
            else {
                return Err(AttemptError::NotFound(id));
            };
            let history = sqlx::query(SELECT_HISTORY)
                .bind(&id_text)
                .fetch_all($pool)
                .await?
                .into_iter()
                .map(|h| {
                    let from: Option<String> = h.try_get("from_state")?;
                    let to: String = h.try_get("to_state")?;
                    Ok(Transition {
                        from: from.map(|f| parse_state(&id_text, &f)).transpose()?,
                        to: parse_state(&id_text, &to)?,
                        reason: h.try_get("reason")?,
                        at: h.try_get("at")?,
                    })
                })
                .collect::<Result<Vec<_>, AttemptError>>()?;
            let state: String = row.try_get("state")?;
            Attempt {
                id,
                repository: row.try_get("repository")?,
                scraper: row.try_get("scraper")?,
                fingerprint: row.try_get("fingerprint")?,
                state: parse_state(&id_text, &state)?,
                branch: row.try_get("branch")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                history,
            }
        }};
    }
    Ok(match store {
        Store::Sqlite(pool) => read!(pool),
        Store::Postgres(pool) => read!(pool),
    })
}

fn parse_state(id: &str, value: &str) -> Result<AttemptState, AttemptError> {
    value.parse().map_err(|_| AttemptError::Corrupt {
        id: id.to_owned(),
        field: "state",
        value: value.to_owned(),
    })
}

/// Moves an attempt to `to` if [`check_transition`] allows it from its current
/// state, recording `reason`. If another writer moved it in between, nothing
/// changes and [`AttemptError::Conflict`] is returned.
pub async fn transition(
    store: &Store,
    id: AttemptId,
    to: AttemptState,
    reason: &str,
) -> Result<Attempt, AttemptError> {
    let current = get(store, id).await?;
    check_transition(current.state, to)
        .map_err(|source| AttemptError::Transition { id, source })?;
    let now = Utc::now();
    let id_text = id.to_string();
    macro_rules! apply {
        ($pool:expr) => {{
            let mut tx = $pool.begin().await?;
            let updated = sqlx::query(UPDATE_STATE)
                .bind(to.as_str())
                .bind(now)
                .bind(&id_text)
                .bind(current.state.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if updated != 1 {
                tx.rollback().await?;
                return Err(AttemptError::Conflict {
                    id,
                    expected: current.state,
                });
            }
            let seq: i64 = sqlx::query_scalar(NEXT_SEQ)
                .bind(&id_text)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(INSERT_TRANSITION)
                .bind(&id_text)
                .bind(seq)
                .bind(current.state.as_str())
                .bind(to.as_str())
                .bind(reason)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }};
    }
    match store {
        Store::Sqlite(pool) => apply!(pool),
        Store::Postgres(pool) => apply!(pool),
    }
    get(store, id).await
}

/// Records the repair branch of an attempt.
pub async fn set_branch(store: &Store, id: AttemptId, branch: &str) -> Result<(), AttemptError> {
    let now = Utc::now();
    let id_text = id.to_string();
    let updated = match store {
        Store::Sqlite(pool) => sqlx::query(UPDATE_BRANCH)
            .bind(branch)
            .bind(now)
            .bind(&id_text)
            .execute(pool)
            .await?
            .rows_affected(),
        Store::Postgres(pool) => sqlx::query(UPDATE_BRANCH)
            .bind(branch)
            .bind(now)
            .bind(&id_text)
            .execute(pool)
            .await?
            .rows_affected(),
    };
    if updated == 1 {
        Ok(())
    } else {
        Err(AttemptError::NotFound(id))
    }
}

/// Every attempt at one incident of one repository, oldest first (for the
/// per-incident attempt cap).
pub async fn for_fingerprint(
    store: &Store,
    repository: &str,
    fingerprint: &str,
) -> Result<Vec<Attempt>, AttemptError> {
    let ids: Vec<String> = match store {
        Store::Sqlite(pool) => {
            sqlx::query_scalar(SELECT_BY_FINGERPRINT)
                .bind(repository)
                .bind(fingerprint)
                .fetch_all(pool)
                .await?
        }
        Store::Postgres(pool) => {
            sqlx::query_scalar(SELECT_BY_FINGERPRINT)
                .bind(repository)
                .bind(fingerprint)
                .fetch_all(pool)
                .await?
        }
    };
    let mut attempts = Vec::with_capacity(ids.len());
    for id in ids {
        let parsed = id.parse().map_err(|_| AttemptError::Corrupt {
            id: id.clone(),
            field: "id",
            value: id.clone(),
        })?;
        attempts.push(get(store, parsed).await?);
    }
    Ok(attempts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loop_goes_forward_one_step_at_a_time() {
        use AttemptState::*;
        let path = [
            Diagnosed,
            Proposed,
            Proven,
            Committed,
            PullRequestOpen,
            Merged,
            Deployed,
            Verified,
        ];
        for pair in path.windows(2) {
            assert_eq!(check_transition(pair[0], pair[1]), Ok(()), "{pair:?}");
        }
        assert!(check_transition(Diagnosed, Proven).is_err());
        assert!(check_transition(Proposed, Merged).is_err());
        assert_eq!(check_transition(Merged, Reverted), Ok(()));
        assert!(check_transition(Merged, Abandoned).is_err());
        assert_eq!(
            check_transition(Proposed, Proposed),
            Err(TransitionError::AlreadyIn(Proposed))
        );
    }

    #[test]
    fn final_states_have_no_way_out() {
        for from in AttemptState::ALL.into_iter().filter(|s| s.is_final()) {
            for to in AttemptState::ALL {
                assert!(check_transition(from, to).is_err(), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn unfinished_states_before_the_merge_can_escalate() {
        use AttemptState::*;
        for from in [Diagnosed, Proposed, Proven, Committed, PullRequestOpen] {
            assert_eq!(check_transition(from, Escalated), Ok(()));
            assert_eq!(check_transition(from, Abandoned), Ok(()));
        }
    }

    #[test]
    fn ids_and_states_round_trip() {
        let id = AttemptId::new();
        assert_eq!(id.to_string().parse::<AttemptId>().ok(), Some(id));
        assert_eq!(id.to_string(), id.to_string().to_ascii_lowercase());
        for state in AttemptState::ALL {
            assert_eq!(state.as_str().parse::<AttemptState>(), Ok(state));
        }
    }
}

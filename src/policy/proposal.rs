//! The facts a policy decision is made on, and the decision.
//!
//! Facts come from Fixwright's own measurements (the diff, the attempt
//! counter, the budget ledger, the gates, the replay, the calibrated band),
//! never from what the agent says about its proposal.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::glob::ScraperName;
use crate::confidence::{Band, Replay};

/// One proposal as policy sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposalFacts {
    /// The agent that produced it (`healer`, `scraper-fixer`, ...).
    pub agent: String,
    pub scraper: ScraperName,
    /// Every repository-relative path the diff touches (added, changed,
    /// deleted, or either side of a rename).
    pub paths: Vec<String>,
    /// Changed lines, added plus removed.
    pub diff_lines: u32,
    /// The 1-based number of this attempt on the incident.
    pub attempt: u32,
    /// Agent calls in the trailing hour, this proposal's included.
    pub agent_calls_last_hour: u32,
    /// Agent calls in the trailing day, this proposal's included.
    pub agent_calls_last_day: u32,
    /// The band of the calibrated confidence.
    pub band: Band,
    /// Names of the gates that failed or errored (empty when all passed or none ran).
    pub failed_gates: Vec<String>,
    pub replay: Replay,
}

/// Why a proposal may not be applied or merged. Callers may rely on the
/// variants; the text is for humans.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Refusal {
    MalformedPath {
        path: String,
        problem: String,
    },
    ProtectedPath {
        path: String,
    },
    OutsideScraperFiles {
        path: String,
    },
    /// A path the scraper's patterns cover that belongs to another scraper
    /// (see [`super::RepoPolicy::claimed_by_others`]).
    AnotherScrapersFile {
        path: String,
        owner: String,
    },
    NoChanges,
    DiffTooLarge {
        lines: u32,
        limit: u32,
    },
    AttemptsExhausted {
        attempt: u32,
        limit: u32,
    },
    HourlyBudgetSpent {
        calls: u32,
        limit: u32,
    },
    DailyBudgetSpent {
        calls: u32,
        limit: u32,
    },
    NotHighBand {
        band: Band,
    },
    GatesFailed {
        gates: Vec<String>,
    },
    ReplayNotPassed {
        replay: Replay,
    },
    AutoMergeOff,
    /// A forbid in the repository's `.github/fixwright.cedar`.
    UserRule {
        id: String,
        reason: Option<String>,
    },
    /// The policy could not be evaluated; refusing is the safe answer.
    EvaluationError {
        message: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::MalformedPath { path, problem } => write!(f, "path `{path}` {problem}"),
            Refusal::ProtectedPath { path } => write!(f, "path `{path}` is protected"),
            Refusal::OutsideScraperFiles { path } => {
                write!(f, "path `{path}` is not one of the scraper's files")
            }
            Refusal::AnotherScrapersFile { path, owner } => {
                write!(f, "path `{path}` is one of scraper `{owner}`'s files")
            }
            Refusal::NoChanges => write!(f, "the proposal changes nothing"),
            Refusal::DiffTooLarge { lines, limit } => {
                write!(
                    f,
                    "the diff has {lines} changed lines, the limit is {limit}"
                )
            }
            Refusal::AttemptsExhausted { attempt, limit } => write!(
                f,
                "this is attempt {attempt}, the limit is {limit} per incident: a human takes over"
            ),
            Refusal::HourlyBudgetSpent { calls, limit } => write!(
                f,
                "{calls} agent calls in the last hour, the budget is {limit}"
            ),
            Refusal::DailyBudgetSpent { calls, limit } => {
                write!(
                    f,
                    "{calls} agent calls in the last day, the budget is {limit}"
                )
            }
            Refusal::NotHighBand { band } => {
                write!(f, "confidence band is {band}, merging needs high")
            }
            Refusal::GatesFailed { gates } => {
                write!(f, "gates not green: {}", gates.join(", "))
            }
            Refusal::ReplayNotPassed { replay } => {
                write!(
                    f,
                    "the replay of the failing run {replay}, merging needs passed"
                )
            }
            Refusal::AutoMergeOff => write!(f, "auto-merge is off in .github/fixwright.yml"),
            Refusal::UserRule { id, reason } => match reason {
                Some(reason) => write!(f, "forbidden by .github/fixwright.cedar ({id}): {reason}"),
                None => write!(f, "forbidden by .github/fixwright.cedar ({id})"),
            },
            Refusal::EvaluationError { message } => {
                write!(f, "policy could not be evaluated: {message}")
            }
        }
    }
}

/// Allowed, or refused with every reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub allowed: bool,
    /// Sorted; empty exactly when `allowed`.
    pub refusals: Vec<Refusal>,
}

impl Verdict {
    /// A verdict from its refusals (sorted and deduplicated here).
    pub fn from_refusals(mut refusals: Vec<Refusal>) -> Self {
        refusals.sort();
        refusals.dedup();
        Self {
            allowed: refusals.is_empty(),
            refusals,
        }
    }
}

/// What policy says about one proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// May the fix be committed to its repair branch and proposed?
    pub apply: Verdict,
    /// May it be merged without a human? Never when `apply` is refused.
    pub merge: Verdict,
}

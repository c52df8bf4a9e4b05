//! The meaning of `.github/fixwright.yml` in plain Rust.
//!
//! This is the reference the generated Cedar set is tested against; the
//! decisions Fixwright acts on come from [`super::cedar`].

use super::file::RepoPolicy;
use super::glob::{Pattern, ScraperName, path_problem};
use super::proposal::{Decision, ProposalFacts, Refusal, Verdict};
use crate::confidence::{Band, Replay};

/// The scraper among `claims` (longest name first) that `path` belongs to.
pub(crate) fn owner<'a>(
    claims: &'a [(ScraperName, Vec<Pattern>)],
    path: &str,
) -> Option<&'a ScraperName> {
    claims
        .iter()
        .find(|(_, patterns)| patterns.iter().any(|p| p.matches(path)))
        .map(|(name, _)| name)
}

/// Evaluates a proposal against a repository policy, in a repository whose
/// other scrapers are `others`.
pub fn evaluate(policy: &RepoPolicy, others: &[ScraperName], facts: &ProposalFacts) -> Decision {
    let scraper_files = policy.scraper_patterns(&facts.scraper);
    let protected = policy.protected_patterns(&facts.scraper);
    let claims = policy.claimed_by_others(&facts.scraper, others);

    let mut apply = Vec::new();
    for path in &facts.paths {
        if let Some(problem) = path_problem(path) {
            apply.push(Refusal::MalformedPath {
                path: path.clone(),
                problem: problem.to_owned(),
            });
        }
        if protected.iter().any(|p| p.matches(path)) {
            apply.push(Refusal::ProtectedPath { path: path.clone() });
        }
        if !scraper_files.iter().any(|p| p.matches(path)) {
            apply.push(Refusal::OutsideScraperFiles { path: path.clone() });
        }
        if let Some(owner) = owner(&claims, path) {
            apply.push(Refusal::AnotherScrapersFile {
                path: path.clone(),
                owner: owner.to_string(),
            });
        }
    }
    if facts.paths.is_empty() {
        apply.push(Refusal::NoChanges);
    }
    if facts.diff_lines > policy.limits.max_diff_lines {
        apply.push(Refusal::DiffTooLarge {
            lines: facts.diff_lines,
            limit: policy.limits.max_diff_lines,
        });
    }
    if facts.attempt > policy.limits.max_attempts {
        apply.push(Refusal::AttemptsExhausted {
            attempt: facts.attempt,
            limit: policy.limits.max_attempts,
        });
    }
    if facts.agent_calls_last_hour > policy.agent_budget.calls_per_hour {
        apply.push(Refusal::HourlyBudgetSpent {
            calls: facts.agent_calls_last_hour,
            limit: policy.agent_budget.calls_per_hour,
        });
    }
    if facts.agent_calls_last_day > policy.agent_budget.calls_per_day {
        apply.push(Refusal::DailyBudgetSpent {
            calls: facts.agent_calls_last_day,
            limit: policy.agent_budget.calls_per_day,
        });
    }

    let mut merge = apply.clone();
    if facts.band != Band::High {
        merge.push(Refusal::NotHighBand { band: facts.band });
    }
    if !facts.failed_gates.is_empty() {
        merge.push(Refusal::GatesFailed {
            gates: facts.failed_gates.clone(),
        });
    }
    if facts.replay != Replay::Passed {
        merge.push(Refusal::ReplayNotPassed {
            replay: facts.replay,
        });
    }
    if !policy.merge.auto_merge {
        merge.push(Refusal::AutoMergeOff);
    }
    Decision {
        apply: Verdict::from_refusals(apply),
        merge: Verdict::from_refusals(merge),
    }
}

//! The raw confidence score: independent evidence, weighed.
//!
//! The proposal's own score is one factor of five, so an agent's word alone
//! can never reach a confident band; a failed replay or gate caps the score
//! whatever the rest says, and keeps the band below high.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::band::{Band, Replay};
use super::calibration::IsotonicCalibration;
use crate::policy::file::Bands;

/// A success rate from history: successes out of trials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    pub successes: u32,
    pub trials: u32,
}

impl Rate {
    /// The Laplace-smoothed rate (successes + 1) / (trials + 2): 0.5 with
    /// no history, approaching the observed rate as trials accumulate.
    pub fn smoothed(self) -> f64 {
        let successes = self.successes.min(self.trials);
        (f64::from(successes) + 1.0) / (f64::from(self.trials) + 2.0)
    }
}

/// Results of the quality gates (ruff, mypy, pytest) on the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateSummary {
    pub passed: u32,
    /// Failed or errored gates.
    pub failed: u32,
}

/// Everything confidence is built from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The proposal's own score in [0, 1] (the healer's score, or the
    /// agent's self-reported confidence).
    pub proposal_score: f64,
    /// The replay of the recorded failing run with the fix applied.
    pub replay: Replay,
    /// Gate results, when gates ran.
    pub gates: Option<GateSummary>,
    /// Changed lines, added plus removed.
    pub diff_lines: u32,
    /// Whether every changed path is one of the scraper's own files.
    pub within_scraper: bool,
    /// The strategy's past success on this error class.
    pub strategy_history: Rate,
}

/// One factor's part in the raw score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Factor {
    pub name: &'static str,
    /// Share of the raw score (weights of present factors sum to 1).
    pub weight: f64,
    /// The factor's own score in [0, 1].
    pub score: f64,
    /// weight × score.
    pub contribution: f64,
    /// What the score was made from.
    pub note: String,
}

/// The confidence in one proposal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Confidence {
    /// Weighted evidence, before calibration, in [0, 1].
    pub raw: f64,
    /// The calibrated score: the success rate proposals scored like this had.
    pub calibrated: f64,
    pub band: Band,
    pub factors: Vec<Factor>,
    /// Why the raw score was capped, if it was.
    pub cap: Option<String>,
}

/// The raw score's ceiling when the evidence contradicts the fix.
pub const CONTRADICTED_CAP: f64 = 0.5;

const W_PROPOSAL: f64 = 0.30;
const W_REPLAY: f64 = 0.30;
const W_GATES: f64 = 0.15;
const W_DIFF: f64 = 0.10;
const W_HISTORY: f64 = 0.15;

/// Scores, calibrates and bands the evidence.
pub fn assess(evidence: &Evidence, calibration: &IsotonicCalibration, bands: &Bands) -> Confidence {
    let own = if evidence.proposal_score.is_finite() {
        evidence.proposal_score.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut factors = vec![
        ("proposal", W_PROPOSAL, own, format!("own score {own:.2}")),
        (
            "replay",
            W_REPLAY,
            if evidence.replay == Replay::Passed {
                1.0
            } else {
                0.0
            },
            format!("replay {}", evidence.replay),
        ),
    ];
    if let Some(gates) = evidence.gates {
        let total = gates.passed + gates.failed;
        factors.push((
            "gates",
            W_GATES,
            if gates.failed == 0 && total > 0 {
                1.0
            } else {
                0.0
            },
            format!("{} of {total} gates green", gates.passed),
        ));
    }
    let size = 1.0 / (1.0 + f64::from(evidence.diff_lines) / 20.0);
    factors.push((
        "diff",
        W_DIFF,
        if evidence.within_scraper { size } else { 0.0 },
        format!(
            "{} changed lines{}",
            evidence.diff_lines,
            if evidence.within_scraper {
                ", inside the scraper's files"
            } else {
                ", outside the scraper's files"
            }
        ),
    ));
    let history = evidence.strategy_history;
    factors.push((
        "history",
        W_HISTORY,
        history.smoothed(),
        format!(
            "strategy held {} of {} times on this error class",
            history.successes.min(history.trials),
            history.trials
        ),
    ));
    // Factors that are absent (gates not run) give their weight to the rest.
    let total_weight: f64 = factors.iter().map(|f| f.1).sum();
    let factors: Vec<Factor> = factors
        .into_iter()
        .map(|(name, weight, score, note)| {
            let weight = weight / total_weight;
            Factor {
                name,
                weight,
                score,
                contribution: weight * score,
                note,
            }
        })
        .collect();
    let mut raw: f64 = factors.iter().map(|f| f.contribution).sum();
    let contradicted = match (evidence.replay, evidence.gates) {
        (Replay::Failed, _) => Some("the replay failed"),
        (_, Some(g)) if g.failed > 0 => Some("a gate failed"),
        _ if !evidence.within_scraper => Some("the diff leaves the scraper's files"),
        _ => None,
    };
    let cap = contradicted.filter(|_| raw > CONTRADICTED_CAP).map(|why| {
        raw = CONTRADICTED_CAP;
        format!("capped at {CONTRADICTED_CAP:.2}: {why}")
    });
    let raw = raw.clamp(0.0, 1.0);
    let calibrated = calibration.apply(raw);
    let mut band = Band::of(calibrated, bands);
    // Contradicting evidence is never high, whatever a calibration fitted on
    // past outcomes says about the capped score.
    if contradicted.is_some() {
        band = band.min(Band::Medium);
    }
    Confidence {
        raw,
        calibrated,
        band,
        factors,
        cap,
    }
}

impl fmt::Display for Confidence {
    /// The breakdown as shown in the terminal, check runs and PR bodies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "confidence {:.2} ({} band), raw {:.3}",
            self.calibrated, self.band, self.raw
        )?;
        for factor in &self.factors {
            writeln!(
                f,
                "  {:<9} {:.3} = {:.2} × {:.2}  ({})",
                factor.name, factor.contribution, factor.weight, factor.score, factor.note
            )?;
        }
        if let Some(cap) = &self.cap {
            writeln!(f, "  {cap}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

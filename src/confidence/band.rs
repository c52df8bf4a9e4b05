//! Bands: what a calibrated confidence means for what happens next.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::policy::file::Bands;

/// How sure Fixwright is, by the repository's thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Below `bands.medium`: draft PR or none, an alert with the diagnosis.
    Low,
    /// From `bands.medium` up to `bands.high`: a human reviews.
    Medium,
    /// Above `bands.high`: may be merged when every gate is green and policy allows.
    High,
}

impl Band {
    /// The band of a calibrated score: high when strictly above `high`,
    /// medium from `medium` (inclusive), low below; NaN is low.
    pub fn of(score: f64, bands: &Bands) -> Band {
        if score > bands.high {
            Band::High
        } else if score >= bands.medium {
            Band::Medium
        } else {
            Band::Low
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Band::Low => "low",
            Band::Medium => "medium",
            Band::High => "high",
        }
    }

    /// The pull-request label of the band.
    pub const fn label(self) -> &'static str {
        match self {
            Band::Low => "fixwright: low",
            Band::Medium => "fixwright: medium",
            Band::High => "fixwright: high",
        }
    }
}

impl fmt::Display for Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the fix made the recorded failing run pass when replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replay {
    Passed,
    Failed,
    NotRun,
}

impl Replay {
    pub fn as_str(self) -> &'static str {
        match self {
            Replay::Passed => "passed",
            Replay::Failed => "failed",
            Replay::NotRun => "not_run",
        }
    }
}

impl fmt::Display for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

//! The on/off switch, per installation and per repository.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What Fixwright may do.
///
/// Ordered from strictest to most permissive: `Off < DryRun < On`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Do nothing: no diagnosis, no branch, no comment.
    Off,
    /// Do everything except write: diagnose, propose and prove, then report
    /// what would have happened instead of pushing, opening or merging.
    DryRun,
    /// Act.
    #[default]
    On,
}

/// The mode in force for one repository: the stricter of Fixwright's own
/// (global) switch and the repository's `mode:`.
pub fn effective_mode(global: Mode, repository: Mode) -> Mode {
    global.min(repository)
}

impl Mode {
    /// Whether writes (branches, pull requests, merges, comments) may happen.
    pub fn writes(self) -> bool {
        self == Mode::On
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::DryRun => "dry-run",
            Mode::On => "on",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name that is not `off`, `dry-run` or `on`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown mode `{0}`: expected off, dry-run or on")]
pub struct UnknownMode(pub String);

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Mode::Off),
            "dry-run" => Ok(Mode::DryRun),
            "on" => Ok(Mode::On),
            other => Err(UnknownMode(other.to_owned())),
        }
    }
}

//! The one shape every tool's output becomes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A quality gate's tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    Ruff,
    Mypy,
    Pytest,
}

impl Tool {
    /// Every gate, in report order.
    pub const ALL: [Tool; 3] = [Tool::Ruff, Tool::Mypy, Tool::Pytest];

    /// The check run's name on GitHub: `fixwright/ruff` and so on.
    pub fn check_name(self) -> String {
        format!("fixwright/{self}")
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tool::Ruff => "ruff",
            Tool::Mypy => "mypy",
            Tool::Pytest => "pytest",
        })
    }
}

/// How serious a finding is. Only errors and warnings fail a gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

/// One problem a tool reported, at a place in the repository.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Finding {
    pub tool: Tool,
    /// Relative to the repository root, `/`-separated.
    pub path: String,
    /// 1-based.
    pub line: u32,
    /// 1-based, when the tool says.
    pub column: Option<u32>,
    /// At least `line` when present.
    pub end_line: Option<u32>,
    /// ruff's code (`F401`), mypy's error code (`return-value`), or the
    /// failing test's node id for pytest.
    pub rule: String,
    pub severity: Severity,
    pub message: String,
}

impl Finding {
    /// Whether this finding fails its gate.
    pub fn blocks(&self) -> bool {
        matches!(self.severity, Severity::Error | Severity::Warning)
    }
}

/// What the test run looked like, for summaries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TestStats {
    pub tests: u32,
    pub failures: u32,
    pub errors: u32,
    pub skipped: u32,
    /// `(node id, seconds)`, slowest first, at most five.
    pub slowest: Vec<(String, f64)>,
}

/// A gate's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum GateStatus {
    /// No new blocking finding.
    Pass,
    /// At least one new blocking finding.
    Fail,
    /// The tool crashed, timed out or printed something unparseable: never a pass.
    Error { reason: String, output_tail: String },
}

/// One gate's outcome after the baseline comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub tool: Tool,
    #[serde(flatten)]
    pub status: GateStatus,
    /// Findings the change introduced.
    pub new: Vec<Finding>,
    /// Findings the base commit already had (they do not fail the gate).
    pub existing: Vec<Finding>,
    pub duration_ms: u64,
    /// pytest only.
    pub tests: Option<TestStats>,
    /// The tool's installed version, when the environment reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl GateResult {
    /// Whether the gate passed.
    pub fn passed(&self) -> bool {
        self.status == GateStatus::Pass
    }
}

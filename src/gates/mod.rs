//! The quality gates: ruff, mypy and pytest run on what a change touched,
//! parsed into [`Finding`]s, compared with the base commit's findings, and
//! reported on the command line or as GitHub check runs.
//!
//! Pure parts: [`parse`] (tool output to findings), [`scope`] (what to run),
//! [`baseline`] (what is new), [`report`] (text, JSON, Actions commands,
//! check-run output). Side effects: [`run`] (processes), [`engine`]
//! (provisioning and git), [`checks`] (GitHub), [`rerun`] (gates run again
//! when a check is re-requested on GitHub).

pub mod baseline;
pub mod checks;
pub mod engine;
mod finding;
pub mod parse;
pub mod report;
pub mod rerun;
pub mod run;
pub mod scope;

pub use engine::{GateRequest, GateRun, GatesError, Progress, Target, ToolPins, run_gates};
pub use finding::{Finding, GateResult, GateStatus, Severity, TestStats, Tool};

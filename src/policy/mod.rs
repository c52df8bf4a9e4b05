//! Repository policy: what a fix may touch, when it may be applied and when it
//! may be merged, from `.github/fixwright.yml` (plus an optional
//! `.github/fixwright.cedar`), decided by Cedar outside the agent.
//!
//! - [`file`]: the YAML schema, strict parsing and defaults.
//! - [`gates`]: the `gates:` section (tool pins and time limits).
//! - [`glob`]: path patterns and scraper names.
//! - [`mode`]: `off | dry-run | on` and how the global and repository switches combine.
//! - [`proposal`]: the facts a decision is made on, and the decision.
//! - [`rules`]: the YAML semantics in plain Rust (the reference).
//! - [`cedar`]: the generated Cedar policy set and its evaluation.
//! - [`render`]: the effective policy as text.

pub mod cedar;
pub mod file;
pub mod gates;
pub mod glob;
pub mod mode;
pub mod proposal;
pub mod render;
pub mod rules;

pub use cedar::{CedarError, CedarPolicy};
pub use file::{PolicyError, RepoPolicy};
pub use gates::{Gates, ToolVersion, ToolVersions};
pub use glob::{Glob, ScraperName};
pub use mode::{Mode, effective_mode};
pub use proposal::{Decision, ProposalFacts, Refusal, Verdict};

#[cfg(test)]
mod tests;

//! Memory: what Fixwright learned from earlier repairs.
//!
//! Fix patterns by error class and upstream host (what was replaced by what,
//! with which strategy, and how it ended), success rates per strategy and
//! class with a Beta(1, 1) prior, and the history of each scraper's JSON
//! shapes. Store-backed on SQLite and PostgreSQL alike.

mod outcomes;
mod rate;
mod schema;

pub use outcomes::{Memory, MemoryError, Outcome, OutcomeRecord, RememberedRename, Strategy};
pub use rate::Rate;
pub use schema::{JsonType, SchemaChange, SchemaPath, json_shape};

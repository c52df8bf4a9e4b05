//! The repair engine: a durable attempt per try at fixing a scraper, the
//! scraper's files found by the repository's layout, a git workspace per
//! attempt, and the replay that proves a fix in Python.

pub mod attempt;
pub mod job;
pub mod replay;
pub mod report;
pub mod scraper;
pub mod steps;
pub mod workspace;

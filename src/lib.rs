//! Fixwright repairs broken Python scrapers.
//!
//! The modules follow the repair loop (see `docs/architecture.md`): a signal
//! enters at `server` (GitHub webhooks) and is kept durably in the [`store`]'s
//! inbox; workers turn deliveries into work; `incident` diagnoses and dedupes;
//! `agents` (with the built-in [`heal`]er) propose a fix; `repair` proves it in
//! a workspace; `confidence` and `policy` decide what happens; `github` is the
//! one place that talks to GitHub.

pub mod agents;
pub mod cli;
pub mod confidence;
pub mod config;
pub mod gates;
pub mod github;
pub mod heal;
pub mod inbox;
pub mod incident;
pub mod memory;
pub mod policy;
pub mod python;
pub mod repair;
pub mod server;
pub mod store;

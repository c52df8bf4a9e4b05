#![recursion_limit = "256"]
//! Test support for Fixwright.
//!
//! [`github::FakeGitHub`] is an in-process, stateful fake of the GitHub REST
//! API and of git's smart HTTP protocol, checked against GitHub's published
//! OpenAPI description on every request. [`postgres::FreshDatabase`] is a
//! throwaway database on the real local PostgreSQL, dropped when the test ends.

pub mod github;
pub mod postgres;

pub use github::{Failure, FakeGitHub};

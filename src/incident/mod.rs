//! Incidents: one failure's evidence turned into one diagnosis.
//!
//! [`classify`] is a pure function from [`Evidence`] (a log with its Python
//! traceback, optionally the failing response) to a [`Diagnosis`]: the error
//! class, the lines and rules that decided it, the upstream host and a
//! [`Fingerprint`] that is stable across runs of the same failure. The
//! [`dedupe`] registry and the [`storm`] grouper keep one cause from becoming
//! many repair attempts.

mod classify;
pub mod dedupe;
mod evidence;
mod fingerprint;
mod signals;
pub mod storm;
mod traceback;

pub use classify::{Diagnosis, ErrorClass, Reason, Rule, Source, classify};
pub use evidence::{Evidence, FailingResponse, IncidentId, ScraperName, UpstreamHost};
pub use fingerprint::{Fingerprint, mask_message};
pub use traceback::{ChainLink, ExceptionBlock, Frame, Traceback, parse_tracebacks};

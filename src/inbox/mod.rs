//! Inbox workers: they lease stored deliveries, decide what each one means
//! (`route`), hand work to a [`DeliveryHandler`], and retry with backoff or
//! dead-letter. A worker that dies mid-delivery loses nothing: its lease expires
//! and another worker takes the delivery again, so handlers must be idempotent
//! (keyed by delivery id).

mod arrivals;
mod handler;
mod route;
mod worker;

pub use arrivals::{Arrivals, CompleteError, Completing, Grant, Handover};
pub use handler::{Delivery, DeliveryHandler, HandlerError, RecordOnly, TokenCache};
pub use route::{FailureAction, Route, backoff, envelope, failure_action, route};
pub use worker::{WorkerPool, WorkerSettings};

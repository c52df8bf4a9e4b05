//! The seam where later work plugs in: a [`DeliveryHandler`] receives each leased
//! delivery with its envelope already read, and the shipped [`RecordOnly`].

use futures::future::BoxFuture;

use super::route::Route;
use crate::store::inbox::{DeliveryId, Envelope, InstallationId};

/// A leased delivery, as a handler sees it.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: DeliveryId,
    pub event: String,
    /// 1 on the first try; more after failures or a crashed worker's expired lease.
    pub tries: u32,
    /// The raw body exactly as GitHub sent it (and as its signature covered).
    pub body: Vec<u8>,
    pub envelope: Envelope,
    pub route: Route,
}

/// A failed try. Transient failures are retried with backoff; permanent ones are
/// dead-lettered at once.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    pub message: String,
    pub permanent: bool,
}

impl HandlerError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
        }
    }
}

/// What the inbox does with deliveries. A delivery may be handed over more than once
/// (a worker crashed after the effect but before recording completion), so a
/// handler's effects must be idempotent, keyed by `delivery.id`.
pub trait DeliveryHandler: Send + Sync {
    /// Deliveries that may start work (`Route::Work`, `Route::InstallationDeleted`).
    fn handle<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), HandlerError>>;

    /// Deliveries that must start no work (`Route::FromApp`): record them, nothing
    /// more. The worker calls this instead of `handle`, never both.
    fn observe<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), HandlerError>>;
}

/// The installation token cache, as far as the inbox needs it: when an installation
/// is deleted, its tokens must go.
pub trait TokenCache: Send + Sync {
    fn forget_installation(&self, installation: InstallationId);
}

/// The shipped handler: a delivery starts no work of its own beyond being recorded.
/// The worker stores every handled delivery's envelope (event, action, installation,
/// sender, repository) with its completion, once per delivery id.
pub struct RecordOnly;

impl DeliveryHandler for RecordOnly {
    fn handle<'a>(&'a self, _delivery: &'a Delivery) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    fn observe<'a>(&'a self, _delivery: &'a Delivery) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

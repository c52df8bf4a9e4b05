//! The HTTP edge: where GitHub's webhooks enter (`webhook`), the group-committing
//! inbox writer behind it (`writer`), and the operational endpoints (`ops`:
//! `/healthz`, `/readyz`, `/metrics`).

pub mod ops;
pub mod webhook;
pub mod writer;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use secrecy::SecretString;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::config::{Config, RepairMode};
use crate::github::contact::LastContact;
use crate::inbox::Arrivals;
use crate::store::Store;
use crate::store::inbox::InboxError;

/// Everything the edge's handlers share.
pub struct EdgeContext {
    pub secrets: Vec<SecretString>,
    pub writer: writer::WriterHandle,
    pub store: Store,
    /// Bytes in flight, in KiB permits (see `webhook::receive`).
    pub in_flight: Arc<Semaphore>,
    pub in_flight_permits: u32,
    pub metrics_token: Option<SecretString>,
    /// False when no App credentials are configured: deliveries are stored, nothing
    /// is done on GitHub.
    pub acts_on_github: bool,
    /// How the latest call to GitHub as the App went (`/readyz`).
    pub github_contact: Arc<LastContact>,
    pub mode: RepairMode,
}

/// The running edge: its router and the writer task behind it.
pub struct Edge {
    pub router: Router,
    pub writer_task: JoinHandle<()>,
    /// Where `serve` records its calls to GitHub for `/readyz`.
    pub github_contact: Arc<LastContact>,
}

impl Edge {
    /// Builds the router on `store`; `arrivals` hears of each commit that stored new
    /// deliveries (this process's inbox workers wait on it).
    pub async fn build(
        config: &Config,
        store: Store,
        arrivals: Arrivals,
    ) -> Result<Self, InboxError> {
        // Installed before the first request so that no early measurement is lost.
        ops::prometheus();
        let (writer, writer_task) = writer::spawn(
            store.inbox_writer(config.inbox.power_safe_commits).await?,
            arrivals,
        );
        let in_flight_permits = webhook::permits_for(config.inbox.max_in_flight_bytes);
        let github_contact = Arc::new(LastContact::default());
        let ctx = Arc::new(EdgeContext {
            secrets: config.webhook_secrets.clone(),
            writer,
            store,
            in_flight: Arc::new(Semaphore::new(in_flight_permits as usize)),
            in_flight_permits,
            metrics_token: config.metrics_token.clone(),
            acts_on_github: config.credentials.is_some(),
            github_contact: github_contact.clone(),
            mode: config.mode,
        });
        Ok(Self {
            router: router(ctx),
            writer_task,
            github_contact,
        })
    }
}

/// The edge's routes over a prepared context.
pub fn router(ctx: Arc<EdgeContext>) -> Router {
    Router::new()
        .route("/webhooks/github", post(webhook::receive))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .with_state(ctx)
}

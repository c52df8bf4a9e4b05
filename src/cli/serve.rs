//! `fixwright serve`: the webhook edge and the inbox workers in one process.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{Config, ConfigArgs, ConfigError};
use crate::gates::rerun::{GateReruns, RerunSettings};
use crate::github::auth::AppSettings;
use crate::github::deliveries::{DeliveryRecovery, RecoverySettings};
use crate::github::onboarding::Onboarding;
use crate::github::{AppAuth, AppId, AuthError, OpsError, SystemClock};
use crate::inbox::{Arrivals, DeliveryHandler, RecordOnly, TokenCache, WorkerPool, WorkerSettings};
use crate::python::Provisioner;
use crate::server::{Edge, ops};
use crate::store::inbox::{InboxError, Millis};
use crate::store::{Store, StoreError};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Why `serve` could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("GitHub refused the App's credentials (app_id {app_id}, private key {key}): {source}")]
    Credentials {
        app_id: u64,
        key: std::path::PathBuf,
        #[source]
        source: OpsError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Inbox(#[from] InboxError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Runs until SIGINT or SIGTERM, then lets the workers finish their current delivery.
pub async fn run(args: ServeArgs) -> Result<(), ServeError> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FIXWRIGHT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let mut config = args.config.load()?;
    config.require_webhook_secrets()?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    // Before the store: a bad key should fail start-up before anything is migrated.
    let app = app_auth(&config)?;
    let checked = match &app {
        Some(app) => Some(check_credentials(app, &mut config).await?),
        None => None,
    };
    let store = Store::open(&config.database_url).await?;
    if config.inbox.workers == 0 {
        tracing::warn!(
            "inbox.workers = 0: deliveries are stored here and processed by other replicas"
        );
    }
    match &app {
        None => tracing::warn!("{}", ops::NO_CREDENTIALS),
        Some(_) => tracing::info!(
            api = %config.github_api_url,
            recovery_interval_s = config.inbox.recovery_interval.as_secs(),
            "acting on GitHub as the App; missed deliveries are recovered on start and on an interval"
        ),
    }

    // The edge tells this process's workers, if any, what it stored.
    let arrivals = Arrivals::new();
    let edge = Edge::build(&config, store.clone(), arrivals.clone()).await?;
    if let Some(outcome) = checked {
        edge.github_contact.record(outcome);
    }
    let record: Arc<dyn DeliveryHandler> = Arc::new(RecordOnly);
    // Acting on deliveries needs the App's identity; without it they are only recorded.
    let handler: Arc<dyn DeliveryHandler> = match &app {
        Some(app) => {
            let reruns = Arc::new(GateReruns::new(
                record,
                app.clone(),
                store.clone(),
                Provisioner::new(config.data_dir.join("envs")),
                RerunSettings::new(config.data_dir.join("gates")),
            ));
            Arc::new(Onboarding::new(
                app.clone(),
                reruns,
                crate::repair::steps::global_mode(config.mode),
            ))
        }
        None => record,
    };
    let workers = WorkerPool::spawn(
        store.clone(),
        handler,
        app.clone().map(|a| a as Arc<dyn TokenCache>),
        WorkerSettings::from_config(&config),
        arrivals,
    );
    let (stop, stopped) = watch::channel(false);
    let recovery = app.as_ref().map(|app| {
        let recovery = DeliveryRecovery::new(
            app.app_client(),
            Arc::new(store.clone()),
            Arc::new(SystemClock),
            RecoverySettings {
                interval: config.inbox.recovery_interval,
                ..RecoverySettings::default()
            },
        )
        // Replicas sharing a PostgreSQL database take turns.
        .taking_turns(Arc::new(store.clone()))
        .reporting_to(edge.github_contact.clone());
        let mut stopped = stopped.clone();
        tokio::spawn(recovery.run(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }))
    });
    let pruner = tokio::spawn(prune_bodies(store.clone(), config.inbox.raw_body_retention));

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?;
    tracing::info!(listen = %config.listen, mode = ?config.mode, "receiving webhooks at POST /webhooks/github");
    let served = axum::serve(listener, edge.router)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    pruner.abort();
    let _ = stop.send(true);
    if let Some(mut recovery) = recovery {
        // A pass cut short is harmless (the next start redoes it); don't let a slow
        // GitHub hold up shutdown.
        if tokio::time::timeout(Duration::from_secs(5), &mut recovery)
            .await
            .is_err()
        {
            recovery.abort();
        }
    }
    // The router is gone, so the writer commits what it holds and ends; its last
    // handovers then reach the workers' queue before the pool gives that back.
    if tokio::time::timeout(Duration::from_secs(5), edge.writer_task)
        .await
        .is_err()
    {
        tracing::warn!("the inbox writer did not stop within 5 s");
    }
    workers.shutdown().await;
    // Closing lets SQLite checkpoint what is left of its log; don't wait forever.
    let _ = tokio::time::timeout(Duration::from_secs(5), store.close()).await;
    served.map_err(ServeError::Serve)
}

/// The App's identity when credentials are configured. Reads and checks the
/// private key now, so a bad or unreadable key stops start-up naming its path.
fn app_auth(config: &Config) -> Result<Option<Arc<AppAuth>>, AuthError> {
    let Some(credentials) = &config.credentials else {
        return Ok(None);
    };
    let settings = AppSettings::new(AppId(credentials.app_id), config.github_api_url.clone());
    AppAuth::from_key_file(
        settings,
        &credentials.private_key_path,
        Arc::new(SystemClock),
    )
    .map(|auth| Some(Arc::new(auth)))
}

/// Asks GitHub who the App is. Credentials GitHub refuses (a key of another
/// App, an unknown id) stop start-up; an unreachable GitHub only warns, so
/// deliveries are still received and stored. The App's slug fills in
/// `app_slug` when it is not configured, so the App's own events start no work.
/// Returns whether GitHub could be reached, for `/readyz`.
async fn check_credentials(
    app: &Arc<AppAuth>,
    config: &mut Config,
) -> Result<Result<(), String>, ServeError> {
    let found = match app.app_client().get_app().await {
        Ok(found) => found,
        Err(source) if source.status() == Some(http::StatusCode::UNAUTHORIZED) => {
            let key = config
                .credentials
                .as_ref()
                .map(|c| c.private_key_path.clone())
                .unwrap_or_default();
            return Err(ServeError::Credentials {
                app_id: app.app_id().0,
                key,
                source,
            });
        }
        Err(error) => {
            tracing::warn!(%error, "cannot check the App's credentials with GitHub now");
            return Ok(Err(error.to_string()));
        }
    };
    match (&config.app_slug, &found.slug) {
        (None, Some(slug)) => config.app_slug = Some(slug.clone()),
        (Some(ours), Some(theirs)) if ours != theirs => tracing::warn!(
            configured = %ours, github = %theirs,
            "app_slug differs from the App's slug on GitHub; events of {theirs}[bot] would start work"
        ),
        _ => {}
    }
    tracing::info!(app = %found.name, slug = ?found.slug, "GitHub accepts the App's credentials");
    Ok(Ok(()))
}

/// Prunes raw bodies older than `retention`, at start and then hourly.
async fn prune_bodies(store: Store, retention: Duration) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        match store
            .inbox_prune_bodies(Millis::now().before(retention))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "raw bodies past retention pruned"),
            Err(e) => tracing::warn!(error = %e, "cannot prune raw bodies"),
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down");
}

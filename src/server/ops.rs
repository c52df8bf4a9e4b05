//! Operational endpoints: liveness, readiness and Prometheus metrics.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret;

use super::EdgeContext;

/// What `/readyz` says when no App credentials are configured.
pub const NO_CREDENTIALS: &str = "no GitHub App credentials: deliveries are received, verified and stored, but Fixwright will take no action on GitHub";

/// How often histogram samples recorded since the last scrape are folded into their
/// summaries (the exporter's own default).
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process-wide Prometheus recorder, installed on first use. If another global
/// recorder was installed first, the handle renders nothing and a warning is logged.
///
/// A recorder built this way keeps every histogram sample until it is folded into
/// its summary, which only a scrape or an upkeep does: without one, memory grows with
/// every delivery on a server nobody scrapes. A thread of its own runs the upkeep, so
/// it outlives any one runtime (tests start many).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be empty");
        }
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(METRICS_UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the metrics upkeep; histogram samples are folded only when /metrics is scraped");
        }
        handle
    })
}

/// Always 200 while the process serves requests.
pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the database answers within two seconds, 503 otherwise. The body also
/// says whether Fixwright acts on GitHub, how its latest call there went, and in
/// which repair mode.
pub async fn readyz(State(ctx): State<Arc<EdgeContext>>) -> Response {
    let database = tokio::time::timeout(Duration::from_secs(2), ctx.store.ping())
        .await
        .unwrap_or(false);
    let github = if ctx.acts_on_github {
        "App credentials configured"
    } else {
        NO_CREDENTIALS
    };
    let body = serde_json::json!({
        "database": if database { "reachable" } else { "unreachable" },
        "github": github,
        // The latest call as the App; never decides readiness: deliveries are
        // stored whether or not GitHub answers.
        "github_last_contact": ctx.github_contact.latest(),
        "mode": format!("{:?}", ctx.mode),
    });
    let status = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Byte-wise comparison whose time does not depend on where the inputs differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Prometheus text format, behind `Authorization: Bearer <token>` when a token is set.
pub async fn metrics(State(ctx): State<Arc<EdgeContext>>, headers: HeaderMap) -> Response {
    if let Some(token) = &ctx.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !same_secret(given.as_bytes(), token.expose_secret().as_bytes()) {
            return (StatusCode::UNAUTHORIZED, "bearer token required").into_response();
        }
    }
    let handle = prometheus();
    if let Ok(Ok(counts)) =
        tokio::time::timeout(Duration::from_secs(2), ctx.store.inbox_counts()).await
    {
        metrics::gauge!("fixwright_inbox_queue_depth").set(counts.queued as f64);
        metrics::gauge!("fixwright_inbox_dead").set(counts.dead as f64);
    }
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

//! `fixwright setup`: creates the GitHub App through GitHub's manifest flow
//! and writes its credentials into Fixwright's configuration.
//!
//! A local page posts `app-manifest.json` to GitHub; GitHub shows the App to
//! the person creating it and redirects back here with a one-time code;
//! the code is converted into the App's id, private key and webhook secret,
//! which are written with 0600 permissions (the key in its own file).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use secrecy::ExposeSecret;
use serde::Deserialize;
use tokio::sync::{Mutex, mpsc};
use url::Url;

use crate::github::ops::app::ManifestConversion;
use crate::github::{AppId, GitHubClient, OpsError, RetryPolicy};

/// The manifest shipped with Fixwright (least privilege; see the file).
pub const APP_MANIFEST: &str = include_str!("../../app-manifest.json");

/// `fixwright setup` flags.
#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// Where GitHub will send webhooks (this deployment's `/webhooks/github`).
    #[arg(long)]
    pub webhook_url: Url,
    /// GitHub's web address (GitHub Enterprise Server: `https://HOST`).
    #[arg(long, default_value = "https://github.com")]
    pub github_url: Url,
    /// GitHub's API address (GitHub Enterprise Server: `https://HOST/api/v3`).
    #[arg(long, default_value = "https://api.github.com")]
    pub api_url: Url,
    /// Create the App under this organisation instead of the signed-in user.
    #[arg(long)]
    pub org: Option<String>,
    /// Address of the local page that starts the flow.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Configuration file to write (created or updated).
    #[arg(
        long = "config",
        env = "FIXWRIGHT_CONFIG",
        default_value = "fixwright.toml"
    )]
    pub config_path: PathBuf,
    /// A different manifest than the one shipped.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

/// Why setup failed. Each variant names the file, field or step.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read manifest {path}: {source}")]
    ManifestRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("manifest {origin} is not a JSON object: {detail}")]
    ManifestInvalid { origin: String, detail: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the local setup server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("GitHub did not convert the manifest code: {0}")]
    Convert(#[source] OpsError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {detail}")]
    ConfigInvalid { path: PathBuf, detail: String },
    #[error("cannot reach GitHub at {0}")]
    Client(#[source] crate::github::AuthError),
    #[error("the setup page closed before GitHub redirected back")]
    Abandoned,
}

/// One run of the manifest flow.
#[derive(Debug, Clone)]
pub struct ManifestFlow {
    pub github_url: Url,
    pub api_url: Url,
    pub webhook_url: Url,
    pub org: Option<String>,
    pub config_path: PathBuf,
    pub manifest: serde_json::Value,
    pub retry: RetryPolicy,
}

/// What setup created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupOutcome {
    pub app_id: AppId,
    pub slug: Option<String>,
    pub html_url: String,
    pub config_path: PathBuf,
    pub private_key_path: PathBuf,
}

/// Parses a manifest, refusing anything but a JSON object.
pub fn parse_manifest(text: &str, origin: &str) -> Result<serde_json::Value, SetupError> {
    let invalid = |detail: String| SetupError::ManifestInvalid {
        origin: origin.to_owned(),
        detail,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    if !value.is_object() {
        return Err(invalid("the top level is not an object".into()));
    }
    Ok(value)
}

/// The manifest to post: `base` with this deployment's webhook and redirect URLs.
pub fn manifest_for(
    base: &serde_json::Value,
    webhook_url: &Url,
    redirect_url: &Url,
) -> serde_json::Value {
    let mut manifest = base.clone();
    manifest["hook_attributes"]["url"] = serde_json::json!(webhook_url.as_str());
    manifest["hook_attributes"]["active"] = serde_json::json!(true);
    manifest["redirect_url"] = serde_json::json!(redirect_url.as_str());
    manifest
}

/// Where the form posts: the user's or the organisation's "new App" page.
pub fn new_app_url(github_url: &Url, org: Option<&str>, state: &str) -> String {
    let base = github_url.as_str().trim_end_matches('/');
    match org {
        Some(org) => format!("{base}/organizations/{org}/settings/apps/new?state={state}"),
        None => format!("{base}/settings/apps/new?state={state}"),
    }
}

fn html_escape(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The page that posts the manifest to GitHub (submits itself).
pub fn start_page(action: &str, manifest: &serde_json::Value) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Create the Fixwright GitHub App</title></head>\
         <body><form id=\"create\" action=\"{}\" method=\"post\">\
         <input type=\"hidden\" name=\"manifest\" value=\"{}\">\
         <p>GitHub will show the App's permissions before creating it.</p>\
         <button type=\"submit\">Create the GitHub App</button></form>\
         <script>document.getElementById('create').submit();</script></body></html>",
        html_escape(action),
        html_escape(&manifest.to_string())
    )
}

struct FlowState {
    state: String,
    page: String,
    client: GitHubClient,
    flow: ManifestFlow,
    done: mpsc::Sender<Result<SetupOutcome, SetupError>>,
    // The code works once; the first callback to arrive handles it.
    finished: Mutex<bool>,
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
}

async fn page(State(flow): State<Arc<FlowState>>) -> Html<String> {
    Html(flow.page.clone())
}

async fn callback(State(flow): State<Arc<FlowState>>, Query(query): Query<Callback>) -> Response {
    if query.state.as_deref() != Some(flow.state.as_str()) {
        return (
            StatusCode::BAD_REQUEST,
            "state does not match this setup run",
        )
            .into_response();
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "missing code").into_response();
    };
    let mut finished = flow.finished.lock().await;
    if *finished {
        return (StatusCode::CONFLICT, "this setup run has already finished").into_response();
    }
    let result = match flow.client.convert_manifest(&code).await {
        Ok(conversion) => write_credentials(&flow.flow.config_path, &conversion),
        Err(e) => Err(SetupError::Convert(e)),
    };
    *finished = true;
    let response = match &result {
        Ok(outcome) => Html(format!(
            "<!doctype html><p>Created the GitHub App {}. Install it on your scraper repositories: \
             <a href=\"{}\">{}</a>. Credentials were written to {}.</p>",
            html_escape(outcome.slug.as_deref().unwrap_or("")),
            html_escape(&outcome.html_url),
            html_escape(&outcome.html_url),
            html_escape(&outcome.config_path.display().to_string())
        ))
        .into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, format!("setup failed: {e}")).into_response(),
    };
    // The receiver only goes away when the flow was dropped; nothing to tell then.
    let _ = flow.done.send(result).await;
    response
}

/// Serves the start page on `listener` until GitHub redirects back, then
/// converts the code and writes the credentials.
pub async fn run_manifest_flow(
    flow: ManifestFlow,
    listener: tokio::net::TcpListener,
) -> Result<SetupOutcome, SetupError> {
    let addr = listener.local_addr().map_err(SetupError::Serve)?;
    let redirect = Url::parse(&format!("http://{addr}/callback")).map_err(|e| {
        SetupError::ManifestInvalid {
            origin: "redirect URL".into(),
            detail: e.to_string(),
        }
    })?;
    let state = ulid::Ulid::new().to_string();
    let manifest = manifest_for(&flow.manifest, &flow.webhook_url, &redirect);
    let page_html = start_page(
        &new_app_url(&flow.github_url, flow.org.as_deref(), &state),
        &manifest,
    );
    let client =
        GitHubClient::anonymous(&flow.api_url, flow.retry.clone()).map_err(SetupError::Client)?;
    let (done, mut outcome) = mpsc::channel(1);
    let shared = Arc::new(FlowState {
        state,
        page: page_html,
        client,
        flow,
        done,
        finished: Mutex::new(false),
    });
    let app = axum::Router::new()
        .route("/", get(page))
        .route("/callback", get(callback))
        .with_state(shared);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!("open http://{addr}/ in a browser to create the GitHub App");
    let result = outcome.recv().await.unwrap_or(Err(SetupError::Abandoned));
    let _ = stop.send(());
    match server.await {
        Ok(Ok(())) => result,
        Ok(Err(e)) => Err(SetupError::Serve(e)),
        Err(e) => Err(SetupError::Serve(std::io::Error::other(e))),
    }
}

/// Writes the private key next to the config (0600) and sets `app_id`,
/// `app_slug`, `private_key_path` and `webhook_secrets` in the config
/// (0600), keeping its other settings.
pub fn write_credentials(
    config_path: &Path,
    app: &ManifestConversion,
) -> Result<SetupOutcome, SetupError> {
    let dir = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let key_name = format!("fixwright-app-{}.private-key.pem", app.id);
    let private_key_path =
        std::path::absolute(dir.join(key_name)).map_err(|source| SetupError::Write {
            path: dir.to_owned(),
            source,
        })?;
    write_private(&private_key_path, app.pem.expose_secret().as_bytes())?;

    let mut table = match std::fs::read_to_string(config_path) {
        Ok(text) => text
            .parse::<toml::Table>()
            .map_err(|e| SetupError::ConfigInvalid {
                path: config_path.to_owned(),
                detail: e.to_string(),
            })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
        Err(source) => {
            return Err(SetupError::Write {
                path: config_path.to_owned(),
                source,
            });
        }
    };
    table.insert("app_id".into(), toml::Value::Integer(app.id.0 as i64));
    table.insert(
        "private_key_path".into(),
        toml::Value::String(private_key_path.display().to_string()),
    );
    if let Some(slug) = &app.slug {
        table.insert("app_slug".into(), toml::Value::String(slug.clone()));
    }
    if let Some(secret) = &app.webhook_secret {
        table.insert(
            "webhook_secrets".into(),
            toml::Value::Array(vec![toml::Value::String(secret.expose_secret().to_owned())]),
        );
    }
    let text = toml::to_string_pretty(&table).map_err(|e| SetupError::ConfigInvalid {
        path: config_path.to_owned(),
        detail: e.to_string(),
    })?;
    write_private(config_path, text.as_bytes())?;
    Ok(SetupOutcome {
        app_id: app.id,
        slug: app.slug.clone(),
        html_url: app.html_url.clone(),
        config_path: config_path.to_owned(),
        private_key_path,
    })
}

/// Writes `bytes` to `path` readable by the owner only, replacing it atomically.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SetupError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| SetupError::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp-setup");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    // `mode` applies only on creation; a leftover temp file may be wider.
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(err)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Runs `fixwright setup`.
pub async fn run(args: SetupArgs) -> Result<(), SetupError> {
    let (text, origin) = match &args.manifest {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|source| SetupError::ManifestRead {
                path: path.clone(),
                source,
            })?,
            path.display().to_string(),
        ),
        None => (
            APP_MANIFEST.to_owned(),
            "app-manifest.json (built in)".to_owned(),
        ),
    };
    let manifest = parse_manifest(&text, &origin)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| SetupError::Listen {
            addr: args.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(SetupError::Serve)?;
    println!("Open http://{addr}/ in a browser to create the GitHub App.");
    let outcome = run_manifest_flow(
        ManifestFlow {
            github_url: args.github_url,
            api_url: args.api_url,
            webhook_url: args.webhook_url,
            org: args.org,
            config_path: args.config_path,
            manifest,
            retry: RetryPolicy::default(),
        },
        listener,
    )
    .await?;
    println!(
        "Created GitHub App {} (id {}). Private key: {}. Configuration: {}. Install it: {}",
        outcome.slug.as_deref().unwrap_or("?"),
        outcome.app_id,
        outcome.private_key_path.display(),
        outcome.config_path.display(),
        outcome.html_url
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::events::HANDLED_EVENTS;

    #[test]
    fn the_shipped_manifest_asks_for_least_privilege() {
        let manifest = parse_manifest(APP_MANIFEST, "app-manifest.json").unwrap();
        let permissions = manifest["default_permissions"].as_object().unwrap();
        let mut granted: Vec<(&str, &str)> = permissions
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("?")))
            .collect();
        granted.sort();
        assert_eq!(
            granted,
            [
                ("actions", "read"),
                ("checks", "write"),
                ("contents", "write"),
                ("deployments", "read"),
                ("issues", "write"),
                ("metadata", "read"),
                ("pull_requests", "write"),
                ("statuses", "read"),
            ],
            "a fix must never touch CI: no `workflows` permission"
        );
        for event in manifest["default_events"].as_array().unwrap() {
            let event = event.as_str().unwrap();
            assert!(
                HANDLED_EVENTS.contains(&event),
                "subscribed to {event}, which nothing handles"
            );
        }
    }

    #[test]
    fn the_page_posts_the_manifest_with_this_deployments_urls() {
        let base = parse_manifest(APP_MANIFEST, "app-manifest.json").unwrap();
        let hook = Url::parse("https://fw.example.org/webhooks/github").unwrap();
        let redirect = Url::parse("http://127.0.0.1:3999/callback").unwrap();
        let manifest = manifest_for(&base, &hook, &redirect);
        let action = new_app_url(
            &Url::parse("https://ghe.example.org/").unwrap(),
            Some("octo-org"),
            "S1",
        );
        assert_eq!(
            action,
            "https://ghe.example.org/organizations/octo-org/settings/apps/new?state=S1"
        );
        let html = start_page(&action, &manifest);
        assert!(
            html.contains("&quot;url&quot;:&quot;https://fw.example.org/webhooks/github&quot;")
        );
        assert!(
            html.contains("&quot;redirect_url&quot;:&quot;http://127.0.0.1:3999/callback&quot;")
        );
        assert!(
            !html.contains("\"hook_attributes\""),
            "manifest JSON must be attribute-escaped"
        );
    }
}

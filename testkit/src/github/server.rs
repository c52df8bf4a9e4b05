//! The HTTP edge of the fake: every API request goes through one pipeline
//! (route -> contract check -> auth -> injected failure -> handler -> response check).

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use chrono::Utc;
use serde_json::{Value, json};

use super::auth::{self, Caller, Requirement};
use super::failures;
use super::handlers::{self, Ctx, Reply};
use super::openapi::{self, RouteError, Spec};
use super::smart_http;
use super::state::{RecordedRequest, Violation, ViolationKind, World};

/// The status the fake answers a contract violation with. It is not a status
/// GitHub uses, so no client retries or handles it as something else.
pub const VIOLATION_STATUS: u16 = 599;

/// Everything the server tasks share with the test's handle.
pub struct Shared {
    pub world: Mutex<World>,
    pub base_url: String,
    pub git_root: std::path::PathBuf,
    pub public_key_pem: &'static str,
}

impl Shared {
    pub fn world(&self) -> MutexGuard<'_, World> {
        // A panicking test thread must not hide the state from later assertions.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Entry point for every request the fake receives.
pub async fn handle(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: Request<Body>,
) -> Response<Body> {
    let mut request = request;
    // GitHub Enterprise Server serves the same API under /api/v3.
    if let Some(rest) = request.uri().path().strip_prefix("/api/v3") {
        let query = request
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let rewritten = format!("{}{query}", if rest.is_empty() { "/" } else { rest });
        if let Ok(uri) = rewritten.parse() {
            *request.uri_mut() = uri;
        }
    }
    let path = request.uri().path().to_string();
    if path.starts_with("/git/") {
        return smart_http::serve(shared, request).await;
    }
    if let Some(rest) = path.strip_prefix("/_fake/") {
        return handlers::downloads::serve(&shared, rest);
    }
    // github.com's web form of the App manifest flow (not part of the REST API).
    let org_form = path.starts_with("/organizations/") && path.ends_with("/settings/apps/new");
    if path == "/settings/apps/new" || org_form {
        return handlers::manifest::form(&shared, request).await;
    }
    api(shared, request).await
}

fn json_response(
    status: u16,
    headers: &[(String, String)],
    body: Option<&Value>,
) -> Response<Body> {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (k, v) in headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    // The headers GitHub puts on every answer; clients read them for pacing.
    if !headers.iter().any(|(k, _)| k == "x-ratelimit-remaining") {
        let reset = Utc::now().timestamp() + 3600;
        builder = builder
            .header("x-ratelimit-limit", "5000")
            .header("x-ratelimit-remaining", "4999")
            .header("x-ratelimit-used", "1")
            .header("x-ratelimit-reset", reset.to_string())
            .header("x-ratelimit-resource", "core");
    }
    let (content_type, bytes) = match body {
        Some(b) => (
            "application/json; charset=utf-8",
            serde_json::to_vec(b).unwrap_or_default(),
        ),
        None => ("text/plain", Vec::new()),
    };
    builder
        .header("content-type", content_type)
        .header("x-github-media-type", "github.v3; format=json")
        .body(Body::from(bytes))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn violation_response(v: &Violation) -> Response<Body> {
    let body = json!({
        "message": format!("fake GitHub: contract violation: {v}"),
        "documentation_url": "testkit/README.md",
    });
    json_response(VIOLATION_STATUS, &[], Some(&body))
}

async fn api(shared: Arc<Shared>, request: Request<Body>) -> Response<Body> {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let query: Vec<(String, String)> = request.uri().query().map(parse_query).unwrap_or_default();
    let headers = request.headers().clone();
    let spec = match openapi::spec() {
        Ok(spec) => spec,
        Err(e) => {
            let v = Violation {
                method,
                path,
                operation_id: None,
                kind: ViolationKind::InvalidRequest,
                problems: vec![e.to_string()],
            };
            return record_violation(&shared, v, None);
        }
    };

    let matched = match spec.match_route(&method, &path) {
        Ok(m) => m,
        Err(e) => {
            let (kind, problem) = match e {
                RouteError::UnknownPath => (
                    ViolationKind::UnknownPath,
                    format!("no operation in GitHub's OpenAPI description has the path {path}"),
                ),
                RouteError::MethodNotAllowed { allowed } => (
                    ViolationKind::MethodNotAllowed,
                    format!("{path} exists only for {}", allowed.join(", ")),
                ),
            };
            let v = Violation {
                method,
                path,
                operation_id: None,
                kind,
                problems: vec![problem],
            };
            return record_violation(&shared, v, None);
        }
    };
    let op = matched.operation_id.clone();

    let bytes = match axum::body::to_bytes(request.into_body(), 256 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => {
            let v = Violation {
                method,
                path,
                operation_id: Some(op),
                kind: ViolationKind::InvalidRequest,
                problems: vec![format!("request body unreadable: {e}")],
            };
            return record_violation(&shared, v, None);
        }
    };
    let body: Option<Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                let v = Violation {
                    method,
                    path,
                    operation_id: Some(op),
                    kind: ViolationKind::InvalidRequest,
                    problems: vec![format!("request body is not JSON: {e}")],
                };
                return record_violation(&shared, v, None);
            }
        }
    };

    let problems = spec.check_request(&matched, &query, body.as_ref());
    if !problems.is_empty() {
        let v = Violation {
            method,
            path,
            operation_id: Some(op),
            kind: ViolationKind::InvalidRequest,
            problems,
        };
        return record_violation(&shared, v, body);
    }

    let now = Utc::now();
    let caller = match authenticate(&shared, &headers, &op, &matched.template, now) {
        Ok(c) => c,
        Err(message) => {
            let reply =
                json!({ "message": message, "documentation_url": "https://docs.github.com/rest" });
            return finish(
                &shared,
                &method,
                &path,
                Some(&op),
                body,
                401,
                &[],
                Some(&reply),
            );
        }
    };

    let injected = failures::take(&mut shared.world().failures, &op);
    let mut fail_after_applying = None;
    if let Some(failure) = injected {
        if let failures::Failure::Delay(d) = &failure {
            tokio::time::sleep(*d).await;
        } else if let failures::Failure::ServerErrorAfterApplying(status) = &failure {
            fail_after_applying = Some(*status);
        } else if let Some(r) = failures::reply_for(&failure, now.timestamp()) {
            return finish(
                &shared,
                &method,
                &path,
                Some(&op),
                body,
                r.status,
                &r.headers,
                Some(&r.body),
            );
        }
    }

    let reply = {
        let mut world = shared.world();
        let mut ctx = Ctx {
            world: &mut world,
            base: &shared.base_url,
            path: &path,
            accept: headers
                .get("accept")
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default(),
            op: &matched,
            query: &query,
            body: body.as_ref(),
            caller: &caller,
            now,
        };
        handlers::dispatch(&mut ctx)
    };
    let reply = match reply {
        Some(r) => r,
        None => {
            let v = Violation {
                method,
                path,
                operation_id: Some(op.clone()),
                kind: ViolationKind::NotImplemented,
                problems: vec![format!(
                    "{op} is a GitHub operation the fake does not serve yet; add a handler in testkit/src/github/handlers"
                )],
            };
            return record_violation(&shared, v, body);
        }
    };
    if let Some(delivery) = reply.redeliver.clone() {
        let target = shared.world().webhook_target.clone();
        if let Some(target) = target {
            tokio::spawn(handlers::app::redeliver(target, *delivery));
        }
    }
    if let Some(status) = fail_after_applying {
        // The change stands; only the answer is lost, as when GitHub times out late.
        let r = failures::reply_for(&failures::Failure::ServerError(status), now.timestamp());
        if let Some(r) = r {
            return finish(
                &shared,
                &method,
                &path,
                Some(&op),
                body,
                r.status,
                &r.headers,
                Some(&r.body),
            );
        }
    }
    respond(&shared, spec, &method, &path, &op, body, reply)
}

fn respond(
    shared: &Shared,
    spec: &Spec,
    method: &str,
    path: &str,
    op: &str,
    request_body: Option<Value>,
    reply: Reply,
) -> Response<Body> {
    let status = reply.status;
    let body = reply.body.map(|b| {
        if status < 300 {
            spec.complete_response(op, status, b)
        } else {
            b
        }
    });
    let mut problems = Vec::new();
    if status < 400 && !spec.documents_status(op, status) {
        problems.push(format!("status {status} is not documented for {op}"));
    }
    if let Some(b) = &body
        && spec.documents_status(op, status)
    {
        problems.extend(spec.check_response(op, status, b));
    }
    if !problems.is_empty() {
        let v = Violation {
            method: method.to_string(),
            path: path.to_string(),
            operation_id: Some(op.to_string()),
            kind: ViolationKind::InvalidResponse,
            problems,
        };
        return record_violation(shared, v, request_body);
    }
    if let Some(raw) = reply.raw {
        let (content_type, bytes) = *raw;
        record(shared, method, path, Some(op), request_body, status);
        return Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
            .header("content-type", content_type)
            .body(Body::from(bytes))
            .unwrap_or_else(|_| Response::new(Body::empty()));
    }
    finish(
        shared,
        method,
        path,
        Some(op),
        request_body,
        status,
        &reply.headers,
        body.as_ref(),
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    shared: &Shared,
    method: &str,
    path: &str,
    op: Option<&str>,
    request_body: Option<Value>,
    status: u16,
    headers: &[(String, String)],
    body: Option<&Value>,
) -> Response<Body> {
    record(shared, method, path, op, request_body, status);
    json_response(status, headers, body)
}

fn record(
    shared: &Shared,
    method: &str,
    path: &str,
    op: Option<&str>,
    body: Option<Value>,
    status: u16,
) {
    shared.world().log.push(RecordedRequest {
        method: method.to_string(),
        path: path.to_string(),
        operation_id: op.map(String::from),
        status,
        body,
    });
}

fn record_violation(shared: &Shared, v: Violation, body: Option<Value>) -> Response<Body> {
    eprintln!("fake GitHub: contract violation: {v}");
    let response = violation_response(&v);
    record(
        shared,
        &v.method,
        &v.path,
        v.operation_id.as_deref(),
        body,
        VIOLATION_STATUS,
    );
    shared.world().violations.push(v);
    response
}

fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    op: &str,
    template: &str,
    now: chrono::DateTime<Utc>,
) -> Result<Caller, String> {
    let header = headers
        .get("authorization")
        .and_then(|h: &HeaderValue| h.to_str().ok());
    let credential = auth::credential(header);
    match auth::requirement(op, template) {
        Requirement::None => Ok(Caller::Anonymous),
        Requirement::AppJwt => {
            let token = credential.ok_or("Requires authentication: an App JWT (Bearer)")?;
            let app_id = shared.world().app.id;
            let jwt = auth::verify_app_jwt(token, shared.public_key_pem.as_bytes(), app_id, now)?;
            shared.world().app_jwts.push(jwt);
            Ok(Caller::App)
        }
        Requirement::InstallationToken => {
            let token = credential.ok_or("Requires authentication: an installation token")?;
            let world = shared.world();
            auth::installation_for_token(&world, token, now).map(Caller::Installation)
        }
    }
}

/// `a=1&b=x%2Fy` -> pairs, percent- and plus-decoded.
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                openapi::percent_decode(&k.replace('+', " ")),
                openapi::percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

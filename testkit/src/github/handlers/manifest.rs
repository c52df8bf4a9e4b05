//! github.com's side of the App manifest flow: the form that receives the
//! manifest and redirects back with a one-time code for
//! `POST /app-manifests/{code}/conversions`.

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use serde_json::Value;

use crate::github::server::{Shared, parse_query};

fn page(status: StatusCode, message: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from(message.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Problems GitHub reports for a manifest it cannot register, in field order.
pub fn manifest_problems(manifest: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let text = |k: &str| manifest.get(k).and_then(Value::as_str);
    if manifest.as_object().is_none() {
        return vec!["the manifest is not a JSON object".into()];
    }
    if text("url").is_none_or(str::is_empty) {
        problems.push("`url` is required".into());
    }
    if text("redirect_url").is_none_or(str::is_empty) {
        problems.push("`redirect_url` is required for the manifest flow".into());
    }
    if let Some(hook) = manifest.get("hook_attributes")
        && hook
            .get("url")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        problems.push("`hook_attributes.url` is required when hook_attributes is set".into());
    }
    if let Some(perms) = manifest
        .get("default_permissions")
        .and_then(Value::as_object)
    {
        for (name, level) in perms {
            if !matches!(level.as_str(), Some("read" | "write" | "admin")) {
                problems.push(format!(
                    "default_permissions.{name} must be read, write or admin"
                ));
            }
        }
    }
    problems
}

/// `POST /settings/apps/new?state=..` with the form field `manifest`: records
/// the manifest and redirects to its `redirect_url` with `code` and `state`.
pub async fn form(shared: &Shared, request: Request<Body>) -> Response<Body> {
    if request.method() != axum::http::Method::POST {
        return page(
            StatusCode::METHOD_NOT_ALLOWED,
            "post the manifest form here",
        );
    }
    let query = request.uri().query().map(parse_query).unwrap_or_default();
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), 1024 * 1024).await else {
        return page(StatusCode::BAD_REQUEST, "unreadable form body");
    };
    let form = parse_query(&String::from_utf8_lossy(&bytes));
    let field = |k: &str| {
        form.iter()
            .chain(query.iter())
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let Some(raw) = field("manifest") else {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the form has no `manifest` field",
        );
    };
    let manifest: Value = match serde_json::from_str(&raw) {
        Ok(v) => v,
        Err(e) => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("manifest is not JSON: {e}"),
            );
        }
    };
    let problems = manifest_problems(&manifest);
    if !problems.is_empty() {
        return page(StatusCode::UNPROCESSABLE_ENTITY, &problems.join("\n"));
    }
    let redirect = manifest
        .get("redirect_url")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let code = {
        let mut world = shared.world();
        world.manifests.push(manifest);
        let code = format!("fakecode{}", world.next_id());
        world.manifest_codes.insert(code.clone());
        code
    };
    let separator = if redirect.contains('?') { '&' } else { '?' };
    let mut location = format!("{redirect}{separator}code={code}");
    if let Some(state) = field("state") {
        location.push_str(&format!("&state={}", super::escape_query(&state)));
    }
    Response::builder()
        .status(StatusCode::FOUND)
        .header("location", location)
        .body(Body::empty())
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

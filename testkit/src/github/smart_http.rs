//! Git's smart HTTP protocol for the fake's repositories, served by the real
//! `git http-backend` as a CGI program: one process per request, request body
//! streamed to its stdin, its stdout streamed back as the answer.
//!
//! URL: `{base}/git/{owner}/{repo}.git`; user name anything (`x-access-token`
//! by convention), password an installation token issued by the fake for the
//! installation holding the repository.

use std::process::Stdio;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::io::ReaderStream;

use super::auth;
use super::server::Shared;

fn plain(status: StatusCode, message: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .header("www-authenticate", "Basic realm=\"GitHub\"")
        .body(Body::from(message.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The password of a Basic `Authorization` header.
fn basic_password(header: Option<&str>) -> Option<String> {
    let encoded = header?.strip_prefix("Basic ")?;
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, p)| p.to_string())
}

pub async fn serve(shared: Arc<Shared>, request: Request<Body>) -> Response<Body> {
    let path = request.uri().path().to_string();
    let Some(path_info) = path.strip_prefix("/git") else {
        return plain(StatusCode::NOT_FOUND, "not a git path");
    };
    // /{owner}/{repo}.git/...
    let mut parts = path_info.trim_start_matches('/').splitn(3, '/');
    let owner = parts.next().unwrap_or_default().to_string();
    let repo = parts
        .next()
        .unwrap_or_default()
        .trim_end_matches(".git")
        .to_string();
    let header = request
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok());
    let password = basic_password(header);
    {
        let world = shared.world();
        let Some(installation) = world.installation_of(&owner, &repo) else {
            return plain(StatusCode::NOT_FOUND, "Repository not found.");
        };
        let Some(password) = password else {
            return plain(StatusCode::UNAUTHORIZED, "Authentication required");
        };
        match auth::installation_for_token(&world, &password, chrono::Utc::now()) {
            Ok(id) if id == installation => {}
            Ok(_) => return plain(StatusCode::NOT_FOUND, "Repository not found."),
            Err(e) => return plain(StatusCode::UNAUTHORIZED, &e),
        }
    }

    let (parts, body) = request.into_parts();
    let header = |name: &str| -> String {
        parts
            .headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &shared.git_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path_info)
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("QUERY_STRING", parts.uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header("content-type"))
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let length = header("content-length");
    if !length.is_empty() {
        command.env("CONTENT_LENGTH", length);
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot run `git http-backend`: {e}"),
            );
        }
    };
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "git http-backend pipes missing",
        );
    };
    let mut body = body.into_data_stream();
    tokio::spawn(async move {
        while let Some(Ok(chunk)) = body.next().await {
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
        // Dropping stdin closes it, which tells the backend the request is complete.
    });
    tokio::spawn(async move {
        let _ = child.wait().await;
    });

    let mut reader = BufReader::new(stdout);
    let mut builder = Response::builder();
    let mut status = StatusCode::OK;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return plain(StatusCode::BAD_GATEWAY, &format!("git http-backend: {e}")),
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().and_then(|c| c.parse().ok());
            status = code
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::BAD_GATEWAY);
        } else {
            builder = builder.header(name, value);
        }
    }
    builder
        .status(status)
        .body(Body::from_stream(ReaderStream::new(reader)))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

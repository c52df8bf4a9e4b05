//! Downloads GitHub serves outside the REST API (log archives, raw files),
//! reached through the redirects and `download_url`s the API hands out.

use axum::body::Body;
use axum::http::{Response, StatusCode};

use crate::github::server::Shared;
use crate::github::{git, zip};

fn respond(status: StatusCode, content_type: &str, bytes: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::from(bytes))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Serves `logs/{owner}/{repo}/{run_id}.zip` and `raw/{owner}/{repo}/{ref}/{path}`.
pub fn serve(shared: &Shared, rest: &str) -> Response<Body> {
    let parts: Vec<&str> = rest.splitn(5, '/').collect();
    let world = shared.world();
    match parts.as_slice() {
        ["logs", owner, repo, file] => {
            let run = file
                .strip_suffix(".zip")
                .and_then(|id| id.parse::<u64>().ok())
                .and_then(|id| world.repo(owner, repo)?.workflow_runs.get(&id).cloned());
            match run {
                Some(run) => respond(StatusCode::OK, "application/zip", zip::stored(&run.logs)),
                None => respond(StatusCode::NOT_FOUND, "text/plain", b"no such run".to_vec()),
            }
        }
        ["raw", owner, repo, git_ref, path] => {
            let found = world.repo(owner, repo).and_then(|r| {
                let g = git::open(&r.bare_path).ok()?;
                let commit = git::resolve_commit(&g, git_ref)?;
                git::blob_at(&g, commit, path).map(|(_, bytes)| bytes)
            });
            match found {
                Some(bytes) => respond(StatusCode::OK, "application/octet-stream", bytes),
                None => respond(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    b"404: Not Found".to_vec(),
                ),
            }
        }
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            b"unknown download".to_vec(),
        ),
    }
}

//! GitHub-shaped JSON for the fake's objects. Only fields with meaning are set
//! here; the response pipeline completes the rest from the response schema.

use chrono::{DateTime, SecondsFormat, Utc};
use git2::Oid;
use serde_json::{Value, json};

use crate::github::state::{CheckRun, Comment, Label, Repository};

pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A stable id for a login, so the same user keeps the same id across calls.
pub fn user_id(login: &str) -> u64 {
    login
        .bytes()
        .fold(5381u64, |h, b| h.wrapping_mul(33) ^ u64::from(b))
        % 100_000_000
        + 1
}

pub fn user(base: &str, login: &str) -> Value {
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    json!({
        "login": login,
        "id": user_id(login),
        "node_id": format!("U_{}", user_id(login)),
        "type": kind,
        "site_admin": false,
        "url": format!("{base}/users/{}", login.replace('[', "%5B").replace(']', "%5D")),
        "html_url": format!("{base}/{}", login.replace('[', "%5B").replace(']', "%5D")),
        "avatar_url": format!("{base}/avatars/{}", user_id(login)),
    })
}

pub fn repository(base: &str, repo: &Repository) -> Value {
    let full = repo.full_name();
    json!({
        "id": repo.id,
        "node_id": format!("R_{}", repo.id),
        "name": repo.name,
        "full_name": full,
        "private": repo.private,
        "visibility": if repo.private { "private" } else { "public" },
        "owner": user(base, &repo.owner),
        "html_url": format!("{base}/{full}"),
        "url": format!("{base}/repos/{full}"),
        "clone_url": format!("{base}/git/{full}.git"),
        "default_branch": repo.default_branch,
        "fork": false,
        "archived": false,
        "disabled": false,
    })
}

pub fn label(base: &str, repo: &Repository, label: &Label) -> Value {
    json!({
        "id": label.id,
        "node_id": format!("LA_{}", label.id),
        "url": format!("{base}/repos/{}/labels/{}", repo.full_name(), label.name.replace(' ', "%20")),
        "name": label.name,
        "color": label.color,
        "description": label.description,
        "default": false,
    })
}

pub fn comment(base: &str, repo: &Repository, c: &Comment) -> Value {
    let full = repo.full_name();
    json!({
        "id": c.id,
        "node_id": format!("IC_{}", c.id),
        "url": format!("{base}/repos/{full}/issues/comments/{}", c.id),
        "html_url": format!("{base}/{full}/issues/{}#issuecomment-{}", c.issue_number, c.id),
        "issue_url": format!("{base}/repos/{full}/issues/{}", c.issue_number),
        "body": c.body,
        "user": user(base, &c.user),
        "created_at": time(c.created_at),
        "updated_at": time(c.updated_at),
        "author_association": if c.user.ends_with("[bot]") { "NONE" } else { "MEMBER" },
    })
}

pub fn git_commit(
    base: &str,
    repo: &Repository,
    git: &git2::Repository,
    oid: Oid,
) -> Option<Value> {
    let commit = git.find_commit(oid).ok()?;
    let full = repo.full_name();
    let person = |s: git2::Signature<'_>| {
        let when = DateTime::<Utc>::from_timestamp(s.when().seconds(), 0).unwrap_or_default();
        json!({
            "name": s.name().unwrap_or_default(),
            "email": s.email().unwrap_or_default(),
            "date": time(when),
        })
    };
    let parents: Vec<Value> = commit
        .parent_ids()
        .map(|p| {
            json!({
                "sha": p.to_string(),
                "url": format!("{base}/repos/{full}/git/commits/{p}"),
                "html_url": format!("{base}/{full}/commit/{p}"),
            })
        })
        .collect();
    Some(json!({
        "sha": oid.to_string(),
        "node_id": format!("C_{oid}"),
        "url": format!("{base}/repos/{full}/git/commits/{oid}"),
        "html_url": format!("{base}/{full}/commit/{oid}"),
        "author": person(commit.author()),
        "committer": person(commit.committer()),
        "message": commit.message().unwrap_or_default(),
        "tree": {
            "sha": commit.tree_id().to_string(),
            "url": format!("{base}/repos/{full}/git/trees/{}", commit.tree_id()),
        },
        "parents": parents,
        "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null },
    }))
}

/// The `commit` schema (REST "repos" view of a commit), used by branches and commit lookups.
pub fn repo_commit(
    base: &str,
    repo: &Repository,
    git: &git2::Repository,
    oid: Oid,
) -> Option<Value> {
    let inner = git_commit(base, repo, git, oid)?;
    let full = repo.full_name();
    let parents = inner.get("parents").cloned().unwrap_or(json!([]));
    Some(json!({
        "sha": oid.to_string(),
        "node_id": format!("C_{oid}"),
        "url": format!("{base}/repos/{full}/commits/{oid}"),
        "html_url": format!("{base}/{full}/commit/{oid}"),
        "comments_url": format!("{base}/repos/{full}/commits/{oid}/comments"),
        "commit": {
            "url": format!("{base}/repos/{full}/git/commits/{oid}"),
            "author": inner.get("author"),
            "committer": inner.get("committer"),
            "message": inner.get("message"),
            "comment_count": 0,
            "tree": inner.get("tree"),
            "verification": inner.get("verification"),
        },
        "author": null,
        "committer": null,
        "parents": parents,
    }))
}

pub fn check_run(base: &str, repo: &Repository, run: &CheckRun) -> Value {
    let full = repo.full_name();
    json!({
        "id": run.id,
        "node_id": format!("CR_{}", run.id),
        "head_sha": run.head_sha,
        "external_id": run.external_id,
        "url": format!("{base}/repos/{full}/check-runs/{}", run.id),
        "html_url": format!("{base}/{full}/runs/{}", run.id),
        "details_url": run.details_url,
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": time(run.started_at),
        "completed_at": run.completed_at.map(time),
        "name": run.name,
        "output": {
            "title": run.title,
            "summary": run.summary,
            "text": run.text,
            "annotations_count": run.annotations.len(),
            "annotations_url": format!("{base}/repos/{full}/check-runs/{}/annotations", run.id),
        },
        "check_suite": { "id": run.id },
        "app": null,
        "pull_requests": [],
    })
}

//! Pull requests: create, list (by head/base/state), get, update, merge with the `sha` guard.

use serde_json::{Value, json};

use super::json::{label, repository, time, user};
use super::{Ctx, Handled, Reply, not_found};
use crate::github::git;
use crate::github::state::{PullRequest, Repository};

pub fn dispatch(op: &str, ctx: &mut Ctx<'_>) -> Option<Handled> {
    Some(match op {
        "pulls/create" => create(ctx),
        "pulls/list" => list(ctx),
        "pulls/get" => get(ctx),
        "pulls/update" => update(ctx),
        "pulls/merge" => merge(ctx),
        "pulls/request-reviewers" => request_reviewers(ctx),
        _ => return None,
    })
}

/// The PR's current head commit: the branch tip while open, the recorded one once closed.
pub fn head_sha(g: &git2::Repository, pr: &PullRequest) -> Option<String> {
    if !pr.open
        && let Some(sha) = &pr.head_sha_at_close
    {
        return Some(sha.clone());
    }
    git::branch_sha(g, &pr.head).map(|o| o.to_string())
}

pub fn pull_json(
    ctx: &Ctx<'_>,
    repo: &Repository,
    g: &git2::Repository,
    pr: &PullRequest,
) -> Value {
    let base = ctx.base;
    let full = repo.full_name();
    let n = pr.number;
    let head = head_sha(g, pr).unwrap_or_default();
    let base_sha = git::branch_sha(g, &pr.base)
        .map(|o| o.to_string())
        .unwrap_or_default();
    let mergeable = if pr.open {
        match (git::branch_sha(g, &pr.base), git::branch_sha(g, &pr.head)) {
            (Some(b), Some(h)) => git::merge_tree(g, b, h).ok().flatten().is_some(),
            _ => false,
        }
    } else {
        false
    };
    let labels: Vec<Value> = pr
        .labels
        .iter()
        .filter_map(|l| repo.labels.get(l))
        .map(|l| label(base, repo, l))
        .collect();
    let reviewers: Vec<Value> = pr
        .requested_reviewers
        .iter()
        .map(|r| user(base, r))
        .collect();
    let repo_json = repository(base, repo);
    let url = format!("{base}/repos/{full}/pulls/{n}");
    let state = if pr.open { "open" } else { "closed" };
    json!({
        "url": url,
        "id": pr.id,
        "node_id": format!("PR_{}", pr.id),
        "html_url": format!("{base}/{full}/pull/{n}"),
        "diff_url": format!("{base}/{full}/pull/{n}.diff"),
        "patch_url": format!("{base}/{full}/pull/{n}.patch"),
        "issue_url": format!("{base}/repos/{full}/issues/{n}"),
        "commits_url": format!("{url}/commits"),
        "review_comments_url": format!("{url}/comments"),
        "review_comment_url": format!("{base}/repos/{full}/pulls/comments{{/number}}"),
        "comments_url": format!("{base}/repos/{full}/issues/{n}/comments"),
        "statuses_url": format!("{base}/repos/{full}/statuses/{head}"),
        "number": n,
        "state": state,
        "locked": false,
        "title": pr.title,
        "body": pr.body,
        "user": user(base, &pr.user),
        "labels": labels,
        "milestone": null,
        "active_lock_reason": null,
        "created_at": time(pr.created_at),
        "updated_at": time(pr.updated_at),
        "closed_at": if pr.open { None } else { Some(time(pr.updated_at)) },
        "merged_at": pr.merged.as_ref().map(|(_, at)| time(*at)),
        "merge_commit_sha": pr.merged.as_ref().map(|(sha, _)| sha.clone()),
        "assignee": null,
        "assignees": [],
        "requested_reviewers": reviewers,
        "requested_teams": [],
        "head": {
            "label": format!("{}:{}", repo.owner, pr.head),
            "ref": pr.head,
            "sha": head,
            "user": user(base, &repo.owner),
            "repo": repo_json,
        },
        "base": {
            "label": format!("{}:{}", repo.owner, pr.base),
            "ref": pr.base,
            "sha": base_sha,
            "user": user(base, &repo.owner),
            "repo": repo_json,
        },
        "_links": {
            "self": { "href": url },
            "html": { "href": format!("{base}/{full}/pull/{n}") },
            "issue": { "href": format!("{base}/repos/{full}/issues/{n}") },
            "comments": { "href": format!("{base}/repos/{full}/issues/{n}/comments") },
            "review_comments": { "href": format!("{url}/comments") },
            "review_comment": { "href": format!("{base}/repos/{full}/pulls/comments{{/number}}") },
            "commits": { "href": format!("{url}/commits") },
            "statuses": { "href": format!("{base}/repos/{full}/statuses/{head}") },
        },
        "author_association": if pr.user.ends_with("[bot]") { "NONE" } else { "MEMBER" },
        "auto_merge": null,
        "draft": pr.draft,
        "merged": pr.merged.is_some(),
        "mergeable": if pr.open { Some(mergeable) } else { None },
        "rebaseable": if pr.open { Some(mergeable) } else { None },
        "mergeable_state": if !pr.open { "unknown" } else if mergeable { "clean" } else { "dirty" },
        "merged_by": if pr.merged.is_some() { user(base, &ctx.world.app.bot_login()) } else { Value::Null },
        "comments": repo.comments.iter().filter(|c| c.issue_number == n).count(),
        "review_comments": 0,
        "maintainer_can_modify": false,
        "commits": 1,
        "additions": 0,
        "deletions": 0,
        "changed_files": 0,
    })
}

fn reply_for(ctx: &Ctx<'_>, number: u64, status: u16) -> Handled {
    let g = ctx.git()?;
    let repo = ctx.repo()?;
    let pr = repo.pulls.get(&number).ok_or_else(not_found)?;
    Ok(Reply::json(status, pull_json(ctx, repo, &g, pr)))
}

fn create(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let head_field = ctx.str_field("head").unwrap_or_default().to_string();
    // `owner:branch` names a branch in this repository when owner is the repo's owner.
    let head = match head_field.split_once(':') {
        Some((owner, branch)) if owner.eq_ignore_ascii_case(&ctx.repo()?.owner) => {
            branch.to_string()
        }
        Some(_) => {
            return Err(Reply::error(
                422,
                "Validation Failed: cross-repository heads are not supported by the fake",
            ));
        }
        None => head_field,
    };
    let base = ctx.str_field("base").unwrap_or_default().to_string();
    if git::branch_sha(&g, &head).is_none() {
        return Err(Reply::error(
            422,
            &format!("Validation Failed: head {head} does not exist"),
        ));
    }
    if git::branch_sha(&g, &base).is_none() {
        return Err(Reply::error(
            422,
            &format!("Validation Failed: base {base} does not exist"),
        ));
    }
    let duplicate = ctx
        .repo()?
        .pulls
        .values()
        .any(|p| p.open && p.head == head && p.base == base);
    if duplicate {
        return Err(Reply::error(
            422,
            &format!("Validation Failed: A pull request already exists for {head}."),
        ));
    }
    let id = ctx.world.next_id();
    let actor = ctx.actor();
    let now = ctx.now;
    let title = ctx.str_field("title").unwrap_or_default().to_string();
    let body = ctx.str_field("body").map(String::from);
    let draft = ctx.field("draft").and_then(Value::as_bool).unwrap_or(false);
    let repo = ctx.repo_mut()?;
    repo.next_number += 1;
    let number = repo.next_number;
    repo.pulls.insert(
        number,
        PullRequest {
            id,
            number,
            title,
            body,
            head,
            base,
            open: true,
            draft,
            user: actor,
            labels: Vec::new(),
            requested_reviewers: Vec::new(),
            merged: None,
            head_sha_at_close: None,
            created_at: now,
            updated_at: now,
        },
    );
    reply_for(ctx, number, 201)
}

fn list(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let repo = ctx.repo()?;
    let state = ctx.query("state").unwrap_or("open");
    let head = ctx.query("head").map(|h| match h.split_once(':') {
        Some((_, branch)) => branch.to_string(),
        None => h.to_string(),
    });
    let base = ctx.query("base");
    let per_page: usize = ctx
        .query("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30);
    let page: usize = ctx
        .query("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let matching: Vec<&PullRequest> = repo
        .pulls
        .values()
        .rev()
        .filter(|p| match state {
            "open" => p.open,
            "closed" => !p.open,
            _ => true,
        })
        .filter(|p| head.as_ref().is_none_or(|h| &p.head == h))
        .filter(|p| base.is_none_or(|b| p.base == b))
        .collect();
    let items: Vec<Value> = matching
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|p| simple(pull_json(ctx, repo, &g, p)))
        .collect();
    Ok(Reply::json(200, Value::Array(items)))
}

/// The list view (`pull-request-simple`) lacks the merge-state fields.
fn simple(mut full: Value) -> Value {
    if let Some(map) = full.as_object_mut() {
        for key in [
            "merged",
            "mergeable",
            "rebaseable",
            "mergeable_state",
            "merged_by",
            "comments",
            "review_comments",
            "maintainer_can_modify",
            "commits",
            "additions",
            "deletions",
            "changed_files",
        ] {
            map.remove(key);
        }
    }
    full
}

fn get(ctx: &mut Ctx<'_>) -> Handled {
    let n = ctx.param_u64("pull_number").ok_or_else(not_found)?;
    reply_for(ctx, n, 200)
}

fn update(ctx: &mut Ctx<'_>) -> Handled {
    let n = ctx.param_u64("pull_number").ok_or_else(not_found)?;
    let g = ctx.git()?;
    let title = ctx.str_field("title").map(String::from);
    let body = ctx.str_field("body").map(String::from);
    let state = ctx.str_field("state").map(String::from);
    let base = ctx.str_field("base").map(String::from);
    if let Some(b) = &base
        && git::branch_sha(&g, b).is_none()
    {
        return Err(Reply::error(
            422,
            &format!("Validation Failed: base {b} does not exist"),
        ));
    }
    let now = ctx.now;
    let repo = ctx.repo_mut()?;
    let pr = repo.pulls.get_mut(&n).ok_or_else(not_found)?;
    if let Some(t) = title {
        pr.title = t;
    }
    if let Some(b) = body {
        pr.body = Some(b);
    }
    if let Some(b) = base {
        pr.base = b;
    }
    match state.as_deref() {
        Some("closed") if pr.open && pr.merged.is_none() => {
            pr.head_sha_at_close = head_sha(&g, pr);
            pr.open = false;
        }
        Some("open") if !pr.open && pr.merged.is_none() => {
            pr.open = true;
            pr.head_sha_at_close = None;
        }
        _ => {}
    }
    pr.updated_at = now;
    reply_for(ctx, n, 200)
}

fn merge(ctx: &mut Ctx<'_>) -> Handled {
    let n = ctx.param_u64("pull_number").ok_or_else(not_found)?;
    let g = ctx.git()?;
    let pr = ctx.repo()?.pulls.get(&n).cloned().ok_or_else(not_found)?;
    if pr.merged.is_some() || !pr.open {
        return Err(Reply::error(405, "Pull Request is not mergeable"));
    }
    let head =
        git::branch_sha(&g, &pr.head).ok_or_else(|| Reply::error(405, "Head branch is missing"))?;
    if let Some(expected) = ctx.str_field("sha")
        && expected != head.to_string()
    {
        return Err(Reply::error(
            409,
            "Head branch was modified. Review and try the merge again.",
        ));
    }
    let base =
        git::branch_sha(&g, &pr.base).ok_or_else(|| Reply::error(405, "Base branch is missing"))?;
    let tree = git::merge_tree(&g, base, head)
        .map_err(|e| Reply::error(500, &e))?
        .ok_or_else(|| Reply::error(405, "Pull Request is not mergeable"))?;
    let method = ctx.str_field("merge_method").unwrap_or("merge").to_string();
    let title = ctx
        .str_field("commit_title")
        .map(String::from)
        .unwrap_or_else(|| match method.as_str() {
            "squash" => format!("{} (#{n})", pr.title),
            _ => format!("Merge pull request #{n} from {}", pr.head),
        });
    let message = match ctx.str_field("commit_message") {
        Some(m) => format!("{title}\n\n{m}"),
        None => title,
    };
    let sig = git::signature(
        &ctx.world.app.bot_login(),
        "bot@users.noreply.fake-github.invalid",
    )
    .map_err(|e| Reply::error(500, &e))?;
    let merged = match method.as_str() {
        "squash" => git::write_commit(&g, tree, &[base], &message, &sig),
        "rebase" if g.graph_descendant_of(head, base).unwrap_or(false) => Ok(head),
        "rebase" => git::write_commit(&g, tree, &[base], &message, &sig),
        _ => git::write_commit(&g, tree, &[base, head], &message, &sig),
    }
    .map_err(|e| Reply::error(500, &e))?;
    git::set_ref(
        &g,
        &format!("refs/heads/{}", pr.base),
        merged,
        "merge pull request",
    )
    .map_err(|e| Reply::error(500, &e))?;
    let now = ctx.now;
    let repo = ctx.repo_mut()?;
    if let Some(p) = repo.pulls.get_mut(&n) {
        p.merged = Some((merged.to_string(), now));
        p.head_sha_at_close = Some(head.to_string());
        p.open = false;
        p.updated_at = now;
    }
    Ok(Reply::json(
        200,
        json!({ "sha": merged.to_string(), "merged": true, "message": "Pull Request successfully merged" }),
    ))
}

fn request_reviewers(ctx: &mut Ctx<'_>) -> Handled {
    let n = ctx.param_u64("pull_number").ok_or_else(not_found)?;
    let reviewers: Vec<String> = ctx
        .field("reviewers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    let repo = ctx.repo_mut()?;
    let pr = repo.pulls.get_mut(&n).ok_or_else(not_found)?;
    for r in reviewers {
        if !pr.requested_reviewers.contains(&r) {
            pr.requested_reviewers.push(r);
        }
    }
    reply_for(ctx, n, 201)
}

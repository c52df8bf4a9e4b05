//! Issues, labels, issue comments and reactions.

use serde_json::{Value, json};

use super::json::{comment, label, time, user};
use super::{Ctx, Handled, Reply, not_found, paginate};
use crate::github::state::{Comment, Issue, Label};

pub fn dispatch(op: &str, ctx: &mut Ctx<'_>) -> Option<Handled> {
    Some(match op {
        "issues/create" => create_issue(ctx),
        "issues/get" => get_issue(ctx),
        "issues/update" => update_issue(ctx),
        "issues/list-for-repo" => list_issues(ctx),
        "issues/add-labels" => add_labels(ctx),
        "issues/set-labels" => set_labels(ctx),
        "issues/remove-label" => remove_label(ctx),
        "issues/list-labels-on-issue" => label_items(ctx).map(|items| paginate(ctx, items)),
        "issues/list-labels-for-repo" => list_repo_labels(ctx),
        "issues/get-label" => get_label(ctx),
        "issues/create-label" => create_label(ctx),
        "issues/create-comment" => create_comment(ctx),
        "issues/list-comments" => list_comments(ctx),
        "issues/get-comment" => get_comment(ctx),
        "issues/update-comment" => update_comment(ctx),
        "reactions/create-for-issue-comment" => react(ctx),
        _ => return None,
    })
}

fn list_repo_labels(ctx: &Ctx<'_>) -> Handled {
    let repo = ctx.repo()?;
    let items: Vec<Value> = repo
        .labels
        .values()
        .map(|l| label(ctx.base, repo, l))
        .collect();
    Ok(paginate(ctx, items))
}

fn get_label(ctx: &Ctx<'_>) -> Handled {
    let name = ctx.param("name");
    let repo = ctx.repo()?;
    repo.labels
        .get(&name)
        .map(|l| Reply::json(200, label(ctx.base, repo, l)))
        .ok_or_else(not_found)
}

fn get_comment(ctx: &Ctx<'_>) -> Handled {
    let id = ctx.param_u64("comment_id");
    let repo = ctx.repo()?;
    repo.comments
        .iter()
        .find(|c| Some(c.id) == id)
        .map(|c| Reply::json(200, comment(ctx.base, repo, c)))
        .ok_or_else(not_found)
}

/// Whether `number` is an issue or a pull request of the repository.
fn exists(ctx: &Ctx<'_>, number: u64) -> Result<(), Reply> {
    let repo = ctx.repo()?;
    if repo.issues.contains_key(&number) || repo.pulls.contains_key(&number) {
        Ok(())
    } else {
        Err(not_found())
    }
}

fn issue_json(ctx: &Ctx<'_>, number: u64) -> Result<Value, Reply> {
    let repo = ctx.repo()?;
    let full = repo.full_name();
    let base = ctx.base;
    let url = format!("{base}/repos/{full}/issues/{number}");
    let (id, title, body, author, labels, open, created, is_pr) =
        match (repo.issues.get(&number), repo.pulls.get(&number)) {
            (Some(i), _) => (
                i.id,
                i.title.clone(),
                i.body.clone(),
                i.user.clone(),
                i.labels.clone(),
                i.open,
                i.created_at,
                false,
            ),
            (None, Some(p)) => (
                p.id,
                p.title.clone(),
                p.body.clone(),
                p.user.clone(),
                p.labels.clone(),
                p.open,
                p.created_at,
                true,
            ),
            (None, None) => return Err(not_found()),
        };
    let labels: Vec<Value> = labels
        .iter()
        .filter_map(|l| repo.labels.get(l))
        .map(|l| label(base, repo, l))
        .collect();
    let mut issue = json!({
        "id": id,
        "node_id": format!("I_{id}"),
        "url": url,
        "repository_url": format!("{base}/repos/{full}"),
        "labels_url": format!("{url}/labels{{/name}}"),
        "comments_url": format!("{url}/comments"),
        "events_url": format!("{url}/events"),
        "html_url": format!("{base}/{full}/issues/{number}"),
        "number": number,
        "state": if open { "open" } else { "closed" },
        "title": title,
        "body": body,
        "user": user(base, &author),
        "labels": labels,
        "assignee": null,
        "assignees": [],
        "milestone": null,
        "locked": false,
        "active_lock_reason": null,
        "comments": repo.comments.iter().filter(|c| c.issue_number == number).count(),
        "closed_at": null,
        "created_at": time(created),
        "updated_at": time(created),
        "author_association": "NONE",
    });
    if is_pr {
        issue["pull_request"] = json!({
            "url": format!("{base}/repos/{full}/pulls/{number}"),
            "html_url": format!("{base}/{full}/pull/{number}"),
            "diff_url": null,
            "patch_url": null,
        });
    }
    Ok(issue)
}

fn create_issue(ctx: &mut Ctx<'_>) -> Handled {
    let id = ctx.world.next_id();
    let actor = ctx.actor();
    let now = ctx.now;
    let title = match ctx.field("title") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let body = ctx.str_field("body").map(String::from);
    let labels = string_list(ctx.field("labels"));
    ensure_labels(ctx, &labels)?;
    let repo = ctx.repo_mut()?;
    repo.next_number += 1;
    let number = repo.next_number;
    repo.issues.insert(
        number,
        Issue {
            id,
            number,
            title,
            body,
            user: actor,
            labels,
            open: true,
            created_at: now,
        },
    );
    Ok(Reply::json(201, issue_json(ctx, number)?))
}

fn get_issue(ctx: &mut Ctx<'_>) -> Handled {
    let n = ctx.param_u64("issue_number").ok_or_else(not_found)?;
    Ok(Reply::json(200, issue_json(ctx, n)?))
}

fn update_issue(ctx: &mut Ctx<'_>) -> Handled {
    let n = ctx.param_u64("issue_number").ok_or_else(not_found)?;
    exists(ctx, n)?;
    let title = ctx.str_field("title").map(String::from);
    let body = ctx.str_field("body").map(String::from);
    let state = ctx.str_field("state").map(String::from);
    let labels = ctx.field("labels").map(|l| string_list(Some(l)));
    if let Some(names) = &labels {
        ensure_labels(ctx, names)?;
    }
    let now = ctx.now;
    let repo = ctx.repo_mut()?;
    if let Some(issue) = repo.issues.get_mut(&n) {
        if let Some(t) = title {
            issue.title = t;
        }
        if let Some(b) = body {
            issue.body = Some(b);
        }
        if let Some(s) = state {
            issue.open = s == "open";
        }
        if let Some(l) = labels {
            issue.labels = l;
        }
    } else if let Some(pr) = repo.pulls.get_mut(&n) {
        // The issues view of a pull request edits the same title, body and labels.
        if let Some(t) = title {
            pr.title = t;
        }
        if let Some(b) = body {
            pr.body = Some(b);
        }
        if let Some(l) = labels {
            pr.labels = l;
        }
        pr.updated_at = now;
    }
    Ok(Reply::json(200, issue_json(ctx, n)?))
}

/// Issues and pull requests, newest first, as GitHub lists them.
fn list_issues(ctx: &mut Ctx<'_>) -> Handled {
    let state = ctx.query("state").unwrap_or("open").to_string();
    let wanted: Vec<String> = ctx
        .query("labels")
        .map(|l| {
            l.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let repo = ctx.repo()?;
    let mut numbers: Vec<(u64, bool, Vec<String>)> = repo
        .issues
        .values()
        .map(|i| (i.number, i.open, i.labels.clone()))
        .chain(
            repo.pulls
                .values()
                .map(|p| (p.number, p.open, p.labels.clone())),
        )
        .collect();
    numbers.sort_by_key(|(n, _, _)| std::cmp::Reverse(*n));
    let mut items = Vec::new();
    for (n, open, labels) in numbers {
        let state_ok = match state.as_str() {
            "open" => open,
            "closed" => !open,
            _ => true,
        };
        if state_ok && wanted.iter().all(|w| labels.contains(w)) {
            items.push(issue_json(ctx, n)?);
        }
    }
    Ok(paginate(ctx, items))
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().or_else(|| v.get("name").and_then(Value::as_str)))
        .map(String::from)
        .collect()
}

/// GitHub creates labels that do not exist yet when they are added to an issue.
fn ensure_labels(ctx: &mut Ctx<'_>, names: &[String]) -> Result<(), Reply> {
    for name in names {
        if ctx.repo()?.labels.contains_key(name) {
            continue;
        }
        let id = ctx.world.next_id();
        let repo = ctx.repo_mut()?;
        repo.labels.insert(
            name.clone(),
            Label {
                id,
                name: name.clone(),
                color: "ededed".into(),
                description: None,
            },
        );
    }
    Ok(())
}

fn with_labels(ctx: &mut Ctx<'_>, f: impl FnOnce(&mut Vec<String>)) -> Result<(), Reply> {
    let n = ctx.param_u64("issue_number").ok_or_else(not_found)?;
    let repo = ctx.repo_mut()?;
    if let Some(pr) = repo.pulls.get_mut(&n) {
        f(&mut pr.labels);
    } else if let Some(issue) = repo.issues.get_mut(&n) {
        f(&mut issue.labels);
    } else {
        return Err(not_found());
    }
    Ok(())
}

/// The labels on an issue or pull request, unpaginated: what adding, setting
/// and removing labels answer.
fn labels_on(ctx: &Ctx<'_>, status: u16) -> Handled {
    Ok(Reply::json(status, Value::Array(label_items(ctx)?)))
}

fn label_items(ctx: &Ctx<'_>) -> Result<Vec<Value>, Reply> {
    let n = ctx.param_u64("issue_number").ok_or_else(not_found)?;
    exists(ctx, n)?;
    let repo = ctx.repo()?;
    let names = repo
        .pulls
        .get(&n)
        .map(|p| p.labels.clone())
        .or_else(|| repo.issues.get(&n).map(|i| i.labels.clone()))
        .unwrap_or_default();
    let items: Vec<Value> = names
        .iter()
        .filter_map(|l| repo.labels.get(l))
        .map(|l| label(ctx.base, repo, l))
        .collect();
    Ok(items)
}

fn add_labels(ctx: &mut Ctx<'_>) -> Handled {
    let names = match ctx.body {
        Some(Value::Array(_)) => string_list(ctx.body),
        _ => string_list(ctx.field("labels")),
    };
    ensure_labels(ctx, &names)?;
    with_labels(ctx, |labels| {
        for n in names {
            if !labels.contains(&n) {
                labels.push(n);
            }
        }
    })?;
    labels_on(ctx, 200)
}

fn set_labels(ctx: &mut Ctx<'_>) -> Handled {
    let names = match ctx.body {
        Some(Value::Array(_)) => string_list(ctx.body),
        _ => string_list(ctx.field("labels")),
    };
    ensure_labels(ctx, &names)?;
    with_labels(ctx, |labels| *labels = names)?;
    labels_on(ctx, 200)
}

fn remove_label(ctx: &mut Ctx<'_>) -> Handled {
    let name = ctx.param("name");
    let mut found = false;
    with_labels(ctx, |labels| {
        found = labels.contains(&name);
        labels.retain(|l| l != &name);
    })?;
    if !found {
        return Err(Reply::error(404, "Label does not exist"));
    }
    labels_on(ctx, 200)
}

fn create_label(ctx: &mut Ctx<'_>) -> Handled {
    let name = ctx.str_field("name").unwrap_or_default().to_string();
    if ctx.repo()?.labels.contains_key(&name) {
        return Err(Reply::error(422, "Validation Failed: already_exists"));
    }
    let id = ctx.world.next_id();
    let color = ctx
        .str_field("color")
        .unwrap_or("ededed")
        .trim_start_matches('#')
        .to_string();
    let description = ctx.str_field("description").map(String::from);
    let repo = ctx.repo_mut()?;
    let l = Label {
        id,
        name: name.clone(),
        color,
        description,
    };
    repo.labels.insert(name, l.clone());
    let repo = ctx.repo()?;
    Ok(Reply::json(201, label(ctx.base, repo, &l)))
}

fn create_comment(ctx: &mut Ctx<'_>) -> Handled {
    let n = ctx.param_u64("issue_number").ok_or_else(not_found)?;
    exists(ctx, n)?;
    let id = ctx.world.next_id();
    let actor = ctx.actor();
    let now = ctx.now;
    let body = ctx.str_field("body").unwrap_or_default().to_string();
    let c = Comment {
        id,
        issue_number: n,
        body,
        user: actor,
        reactions: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    ctx.repo_mut()?.comments.push(c.clone());
    let repo = ctx.repo()?;
    let json = comment(ctx.base, repo, &c);
    let location = json["url"].as_str().unwrap_or_default().to_string();
    Ok(Reply::json(201, json).header("location", location))
}

fn list_comments(ctx: &mut Ctx<'_>) -> Handled {
    let n = ctx.param_u64("issue_number").ok_or_else(not_found)?;
    exists(ctx, n)?;
    // `since`: only comments updated at or after it (the contract check has
    // already made sure it is a date-time).
    let since = ctx
        .query("since")
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    let repo = ctx.repo()?;
    let items: Vec<Value> = repo
        .comments
        .iter()
        .filter(|c| c.issue_number == n)
        .filter(|c| since.is_none_or(|since| c.updated_at >= since))
        .map(|c| comment(ctx.base, repo, c))
        .collect();
    Ok(paginate(ctx, items))
}

fn update_comment(ctx: &mut Ctx<'_>) -> Handled {
    let id = ctx.param_u64("comment_id").ok_or_else(not_found)?;
    let body = ctx.str_field("body").unwrap_or_default().to_string();
    let now = ctx.now;
    let repo = ctx.repo_mut()?;
    let c = repo
        .comments
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(not_found)?;
    c.body = body;
    c.updated_at = now;
    let c = c.clone();
    let repo = ctx.repo()?;
    Ok(Reply::json(200, comment(ctx.base, repo, &c)))
}

fn react(ctx: &mut Ctx<'_>) -> Handled {
    let id = ctx.param_u64("comment_id").ok_or_else(not_found)?;
    let content = ctx.str_field("content").unwrap_or_default().to_string();
    let actor = ctx.actor();
    let reaction_id = ctx.world.next_id();
    let now = ctx.now;
    let repo = ctx.repo_mut()?;
    let c = repo
        .comments
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(not_found)?;
    // GitHub answers 200 with the existing reaction when the same user reacts the same way again.
    if let Some((existing, _, _)) = c
        .reactions
        .iter()
        .find(|(_, who, what)| who == &actor && what == &content)
    {
        let existing = *existing;
        return Ok(Reply::json(
            200,
            reaction(ctx.base, existing, &actor, &content, now),
        ));
    }
    c.reactions
        .push((reaction_id, actor.clone(), content.clone()));
    Ok(Reply::json(
        201,
        reaction(ctx.base, reaction_id, &actor, &content, now),
    ))
}

fn reaction(
    base: &str,
    id: u64,
    actor: &str,
    content: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    json!({
        "id": id,
        "node_id": format!("REA_{id}"),
        "user": user(base, actor),
        "content": content,
        "created_at": time(now),
    })
}

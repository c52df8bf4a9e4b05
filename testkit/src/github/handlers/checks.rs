//! Check runs, keeping every annotation ever sent.

use serde_json::Value;

use super::json::check_run;
use super::{Ctx, Handled, Reply, not_found, paginate_wrapped};
use crate::github::git;
use crate::github::state::CheckRun;

pub fn dispatch(op: &str, ctx: &mut Ctx<'_>) -> Option<Handled> {
    Some(match op {
        "checks/create" => create(ctx),
        "checks/update" => update(ctx),
        "checks/get" => {
            let id = ctx.param_u64("check_run_id").ok_or_else(not_found);
            id.and_then(|id| {
                let repo = ctx.repo()?;
                let run = repo.check_runs.get(&id).ok_or_else(not_found)?;
                Ok(Reply::json(200, check_run(ctx.base, repo, run)))
            })
        }
        "checks/list-for-ref" => list_for_ref(ctx),
        "checks/list-annotations" => {
            let id = ctx.param_u64("check_run_id").ok_or_else(not_found);
            id.and_then(|id| {
                let repo = ctx.repo()?;
                let run = repo.check_runs.get(&id).ok_or_else(not_found)?;
                Ok(Reply::json(200, Value::Array(run.annotations.clone())))
            })
        }
        _ => return None,
    })
}

/// Copies the writable fields of a create/update body onto `run`.
fn apply(ctx: &Ctx<'_>, run: &mut CheckRun) -> Result<(), Reply> {
    if let Some(name) = ctx.str_field("name") {
        run.name = name.to_string();
    }
    if let Some(url) = ctx.str_field("details_url") {
        run.details_url = Some(url.to_string());
    }
    if let Some(id) = ctx.str_field("external_id") {
        run.external_id = Some(id.to_string());
    }
    if let Some(status) = ctx.str_field("status") {
        run.status = status.to_string();
    }
    if let Some(conclusion) = ctx.str_field("conclusion") {
        run.conclusion = Some(conclusion.to_string());
        run.status = "completed".into();
    }
    if run.status == "completed" {
        if run.conclusion.is_none() {
            return Err(Reply::error(
                422,
                "Validation Failed: conclusion is required when status is completed",
            ));
        }
        run.completed_at = Some(ctx.now);
    }
    if let Some(output) = ctx.field("output") {
        let text = |k: &str| output.get(k).and_then(Value::as_str).map(String::from);
        run.title = text("title").or(run.title.take());
        run.summary = text("summary").or(run.summary.take());
        run.text = text("text").or(run.text.take());
        let annotations = output.get("annotations").and_then(Value::as_array);
        if let Some(list) = annotations {
            if list.len() > 50 {
                return Err(Reply::error(
                    422,
                    "Validation Failed: at most 50 annotations per request",
                ));
            }
            run.annotations.extend(list.iter().cloned());
        }
    }
    run.writes += 1;
    Ok(())
}

fn create(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let head_sha = ctx.str_field("head_sha").unwrap_or_default().to_string();
    if git::resolve_commit(&g, &head_sha).is_none() {
        return Err(Reply::error(
            422,
            "Validation Failed: No commit found for SHA: head_sha",
        ));
    }
    let id = ctx.world.next_id();
    let mut run = CheckRun {
        id,
        name: String::new(),
        head_sha,
        status: "queued".into(),
        conclusion: None,
        external_id: None,
        details_url: None,
        title: None,
        summary: None,
        text: None,
        annotations: Vec::new(),
        started_at: ctx.now,
        completed_at: None,
        writes: 0,
    };
    apply(ctx, &mut run)?;
    ctx.repo_mut()?.check_runs.insert(id, run);
    let repo = ctx.repo()?;
    let run = repo.check_runs.get(&id).ok_or_else(not_found)?;
    Ok(Reply::json(201, check_run(ctx.base, repo, run)))
}

fn update(ctx: &mut Ctx<'_>) -> Handled {
    let id = ctx.param_u64("check_run_id").ok_or_else(not_found)?;
    let mut run = ctx
        .repo()?
        .check_runs
        .get(&id)
        .cloned()
        .ok_or_else(not_found)?;
    apply(ctx, &mut run)?;
    ctx.repo_mut()?.check_runs.insert(id, run);
    let repo = ctx.repo()?;
    let run = repo.check_runs.get(&id).ok_or_else(not_found)?;
    Ok(Reply::json(200, check_run(ctx.base, repo, run)))
}

fn list_for_ref(ctx: &mut Ctx<'_>) -> Handled {
    let g = ctx.git()?;
    let sha = git::resolve_commit(&g, &ctx.param("ref"))
        .map(|o| o.to_string())
        .unwrap_or_default();
    let name = ctx.query("check_name").map(String::from);
    let repo = ctx.repo()?;
    let runs: Vec<Value> = repo
        .check_runs
        .values()
        .filter(|r| r.head_sha == sha && name.as_ref().is_none_or(|n| &r.name == n))
        .map(|r| check_run(ctx.base, repo, r))
        .collect();
    Ok(paginate_wrapped(ctx, "check_runs", runs))
}

//! Workflow runs, their log archives, and workflow dispatches.

use serde_json::{Value, json};

use super::json::{repository, time};
use super::{Ctx, Handled, Reply, not_found, paginate_wrapped};
use crate::github::state::{Dispatch, Repository, WorkflowRun};

pub fn dispatch(op: &str, ctx: &mut Ctx<'_>) -> Option<Handled> {
    Some(match op {
        "actions/get-workflow-run" => {
            let id = ctx.param_u64("run_id").ok_or_else(not_found);
            id.and_then(|id| {
                let repo = ctx.repo()?;
                let run = repo.workflow_runs.get(&id).ok_or_else(not_found)?;
                Ok(Reply::json(200, run_json(ctx.base, repo, run)))
            })
        }
        "actions/list-workflow-runs-for-repo" => list(ctx, None),
        "actions/list-workflow-runs" => {
            let workflow = ctx.param("workflow_id");
            list(ctx, Some(workflow))
        }
        "actions/download-workflow-run-logs" => {
            let id = ctx.param_u64("run_id").ok_or_else(not_found);
            id.and_then(|id| {
                let repo = ctx.repo()?;
                repo.workflow_runs.get(&id).ok_or_else(not_found)?;
                let location = format!("{}/_fake/logs/{}/{id}.zip", ctx.base, repo.full_name());
                Ok(Reply::empty(302).header("location", location))
            })
        }
        "actions/list-jobs-for-workflow-run" => list_jobs(ctx),
        "actions/download-job-logs-for-workflow-run" => job_logs(ctx),
        "actions/create-workflow-dispatch" => {
            let workflow = ctx.param("workflow_id");
            let git_ref = ctx.str_field("ref").unwrap_or_default().to_string();
            let inputs = ctx.field("inputs").cloned().unwrap_or(json!({}));
            ctx.repo_mut().map(|repo| {
                repo.dispatches.push(Dispatch {
                    workflow,
                    git_ref,
                    inputs,
                });
                Reply::empty(204)
            })
        }
        _ => return None,
    })
}

fn list(ctx: &Ctx<'_>, workflow: Option<String>) -> Handled {
    let repo = ctx.repo()?;
    let branch = ctx.query("branch");
    let status = ctx.query("status");
    let head_sha = ctx.query("head_sha");
    let runs: Vec<Value> = repo
        .workflow_runs
        .values()
        .rev()
        .filter(|r| {
            workflow.as_ref().is_none_or(|w| {
                w == &r.workflow_id.to_string() || r.path.ends_with(&format!("/{w}"))
            })
        })
        .filter(|r| branch.is_none_or(|b| r.head_branch == b))
        .filter(|r| head_sha.is_none_or(|s| r.head_sha == s))
        .filter(|r| status.is_none_or(|s| r.status == s || r.conclusion.as_deref() == Some(s)))
        .map(|r| run_json(ctx.base, repo, r))
        .collect();
    Ok(paginate_wrapped(ctx, "workflow_runs", runs))
}

fn job_logs(ctx: &Ctx<'_>) -> Handled {
    let id = ctx.param_u64("job_id").ok_or_else(not_found)?;
    let repo = ctx.repo()?;
    let found = repo
        .workflow_runs
        .values()
        .any(|r| r.jobs.iter().any(|j| j.id == id));
    if !found {
        return Err(not_found());
    }
    let location = format!("{}/_fake/job-logs/{}/{id}", ctx.base, repo.full_name());
    Ok(Reply::empty(302).header("location", location))
}

fn list_jobs(ctx: &Ctx<'_>) -> Handled {
    let id = ctx.param_u64("run_id").ok_or_else(not_found)?;
    let repo = ctx.repo()?;
    let run = repo.workflow_runs.get(&id).ok_or_else(not_found)?;
    let full = repo.full_name();
    let base = ctx.base;
    let jobs: Vec<Value> = run
        .jobs
        .iter()
        .map(|j| {
            json!({
                "id": j.id,
                "run_id": run.id,
                "run_url": format!("{base}/repos/{full}/actions/runs/{}", run.id),
                "node_id": format!("J_{}", j.id),
                "head_sha": run.head_sha,
                "head_branch": run.head_branch,
                "url": format!("{base}/repos/{full}/actions/jobs/{}", j.id),
                "html_url": format!("{base}/{full}/actions/runs/{}/job/{}", run.id, j.id),
                "status": run.status,
                "conclusion": run.conclusion,
                "created_at": time(run.created_at),
                "started_at": time(run.created_at),
                "completed_at": run.conclusion.as_ref().map(|_| time(run.created_at)),
                "name": j.name,
                "steps": [],
                "check_run_url": format!("{base}/repos/{full}/check-runs/{}", j.id),
                "labels": ["ubuntu-latest"],
                "runner_id": null,
                "runner_name": null,
                "runner_group_id": null,
                "runner_group_name": null,
                "workflow_name": run.name,
                "run_attempt": run.run_attempt,
            })
        })
        .collect();
    Ok(paginate_wrapped(ctx, "jobs", jobs))
}

pub fn run_json(base: &str, repo: &Repository, run: &WorkflowRun) -> Value {
    let full = repo.full_name();
    let url = format!("{base}/repos/{full}/actions/runs/{}", run.id);
    json!({
        "id": run.id,
        "name": run.name,
        "node_id": format!("WFR_{}", run.id),
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": run.path,
        "display_title": run.name,
        "run_number": run.id,
        "run_attempt": run.run_attempt,
        "event": run.event,
        "status": run.status,
        "conclusion": run.conclusion,
        "workflow_id": run.workflow_id,
        "url": url,
        "html_url": format!("{base}/{full}/actions/runs/{}", run.id),
        "logs_url": format!("{url}/logs"),
        "jobs_url": format!("{url}/jobs"),
        "check_suite_url": format!("{base}/repos/{full}/check-suites/{}", run.id),
        "artifacts_url": format!("{url}/artifacts"),
        "cancel_url": format!("{url}/cancel"),
        "rerun_url": format!("{url}/rerun"),
        "workflow_url": format!("{base}/repos/{full}/actions/workflows/{}", run.workflow_id),
        "pull_requests": [],
        "created_at": time(run.created_at),
        "updated_at": time(run.created_at),
        "run_started_at": time(run.created_at),
        "repository": repository(base, repo),
        "head_repository": repository(base, repo),
        "head_commit": null,
    })
}

//! Gate results as check runs `fixwright/ruff`, `fixwright/mypy` and
//! `fixwright/pytest` on the head commit.

use chrono::Utc;

use super::engine::GateRun;
use super::finding::Tool;
use super::report;
use crate::github::ops::checks::{
    CheckConclusion, CheckOutput, CheckRunUpdate, CheckStatus, NewCheckRun,
};
use crate::github::ops::{GitHubClient, OpsError};
use crate::github::{CheckRunId, CommitSha, RepoName};

/// The check runs of one gate run, created in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartedChecks {
    pub runs: Vec<(Tool, CheckRunId)>,
}

/// Creates the three check runs as `in_progress` with `external_id` (the
/// repair attempt's id, or the gate run's). Creating again with the same
/// `external_id` returns the existing runs.
pub async fn start(
    client: &GitHubClient,
    repo: &RepoName,
    head_sha: &CommitSha,
    external_id: &str,
) -> Result<StartedChecks, OpsError> {
    let mut runs = Vec::new();
    for tool in Tool::ALL {
        let id = client
            .create_check_run(repo, &in_progress(tool, head_sha, external_id))
            .await?;
        runs.push((tool, id));
    }
    Ok(StartedChecks { runs })
}

/// Starts new runs of `tools`' checks after someone re-ran them on GitHub:
/// completed runs with the same `external_id` stay as they were; an
/// unfinished one (from an interrupted earlier try of this re-run) is taken
/// over rather than duplicated.
pub async fn restart(
    client: &GitHubClient,
    repo: &RepoName,
    head_sha: &CommitSha,
    external_id: &str,
    tools: &[Tool],
) -> Result<StartedChecks, OpsError> {
    let mut runs = Vec::new();
    for tool in tools {
        let id = client
            .rerun_check_run(repo, &in_progress(*tool, head_sha, external_id))
            .await?;
        runs.push((*tool, id));
    }
    Ok(StartedChecks { runs })
}

fn in_progress(tool: Tool, head_sha: &CommitSha, external_id: &str) -> NewCheckRun {
    NewCheckRun {
        name: tool.check_name(),
        head_sha: head_sha.clone(),
        external_id: external_id.to_owned(),
        status: CheckStatus::InProgress,
        conclusion: None,
        started_at: Some(Utc::now()),
        completed_at: None,
        output: None,
    }
}

/// Completes the check runs as failures when the gates could not run at all
/// (a bad policy file, an environment that cannot be built): a check run is
/// never left spinning and never passes by default.
pub async fn abandon(
    client: &GitHubClient,
    repo: &RepoName,
    started: &StartedChecks,
    reason: &str,
) -> Result<(), OpsError> {
    for (tool, id) in &started.runs {
        client
            .update_check_run(
                repo,
                *id,
                &CheckRunUpdate {
                    status: Some(CheckStatus::Completed),
                    conclusion: Some(CheckConclusion::Failure),
                    completed_at: Some(Utc::now()),
                    output: Some(CheckOutput {
                        title: format!("{tool}: could not run"),
                        summary: format!("The gates could not run: {reason}"),
                        text: None,
                        annotations: Vec::new(),
                    }),
                },
            )
            .await?;
    }
    Ok(())
}

/// Completes the check runs with each gate's conclusion, summary and
/// annotations (posted 50 per request by the operations layer).
pub async fn finish(
    client: &GitHubClient,
    repo: &RepoName,
    started: &StartedChecks,
    run: &GateRun,
) -> Result<(), OpsError> {
    for (tool, id) in &started.runs {
        let Some(gate) = run.gates.iter().find(|g| g.tool == *tool) else {
            continue;
        };
        let (conclusion, output) = report::check_output(gate);
        client
            .update_check_run(
                repo,
                *id,
                &CheckRunUpdate {
                    status: Some(CheckStatus::Completed),
                    conclusion: Some(conclusion),
                    completed_at: Some(Utc::now()),
                    output: Some(output),
                },
            )
            .await?;
    }
    Ok(())
}

/// Reports a finished run as its three completed check runs, with the run's
/// id as `external_id`: for a repair attempt's gates that is the attempt's
/// id, so a check run leads back to its attempt.
pub async fn report(
    client: &GitHubClient,
    repo: &RepoName,
    head_sha: &CommitSha,
    run: &GateRun,
) -> Result<StartedChecks, OpsError> {
    let started = start(client, repo, head_sha, &run.id).await?;
    finish(client, repo, &started, run).await?;
    Ok(started)
}

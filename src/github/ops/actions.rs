//! Workflow runs and their logs.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::http_call::{Call, segment};
use super::{GitHubClient, OpsError, repo_path};
use crate::github::{CommitSha, RepoName, WorkflowRunId};

/// A workflow run, reduced to what Fixwright reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkflowRun {
    pub id: WorkflowRunId,
    pub name: Option<String>,
    pub head_branch: Option<String>,
    pub head_sha: CommitSha,
    /// The workflow file, e.g. `.github/workflows/scrape.yml`.
    pub path: String,
    pub event: String,
    pub status: Option<String>,
    pub conclusion: Option<String>,
    pub run_attempt: Option<u32>,
    pub html_url: String,
    pub created_at: DateTime<Utc>,
}

/// Which runs to list; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs of this workflow file name (`scrape.yml`) or id.
    pub workflow: Option<String>,
    pub branch: Option<String>,
    pub head_sha: Option<CommitSha>,
    pub event: Option<String>,
    /// `completed`, `failure`, `success`, `in_progress` …
    pub status: Option<String>,
}

#[derive(Deserialize)]
struct RunList {
    workflow_runs: Vec<WorkflowRun>,
}

impl GitHubClient {
    /// The newest workflow runs (up to 100) matching `filter`.
    pub async fn list_workflow_runs(
        &self,
        repo: &RepoName,
        filter: &RunFilter,
    ) -> Result<Vec<WorkflowRun>, OpsError> {
        let base = match &filter.workflow {
            Some(workflow) => format!(
                "{}/actions/workflows/{}/runs",
                repo_path(repo),
                segment(workflow)
            ),
            None => format!("{}/actions/runs", repo_path(repo)),
        };
        let mut query = vec!["per_page=100".to_owned()];
        let params = [
            ("branch", filter.branch.as_deref()),
            ("head_sha", filter.head_sha.as_ref().map(CommitSha::as_str)),
            ("event", filter.event.as_deref()),
            ("status", filter.status.as_deref()),
        ];
        for (name, value) in params {
            if let Some(value) = value {
                query.push(format!("{name}={}", segment(value)));
            }
        }
        let list: RunList = self
            .fetch(Call::get(
                "list workflow runs",
                format!("{base}?{}", query.join("&")),
            ))
            .await?;
        Ok(list.workflow_runs)
    }

    /// Reads one workflow run.
    pub async fn get_workflow_run(
        &self,
        repo: &RepoName,
        run: WorkflowRunId,
    ) -> Result<WorkflowRun, OpsError> {
        self.fetch(Call::get(
            "read a workflow run",
            format!("{}/actions/runs/{run}", repo_path(repo)),
        ))
        .await
    }

    /// A run's logs: the zip archive GitHub redirects to.
    pub async fn workflow_run_logs(
        &self,
        repo: &RepoName,
        run: WorkflowRunId,
    ) -> Result<Bytes, OpsError> {
        self.follow_download(
            "download workflow run logs",
            format!("{}/actions/runs/{run}/logs", repo_path(repo)),
        )
        .await
    }

    /// One job's log as plain text.
    pub async fn workflow_job_logs(&self, repo: &RepoName, job_id: u64) -> Result<Bytes, OpsError> {
        self.follow_download(
            "download workflow job logs",
            format!("{}/actions/jobs/{job_id}/logs", repo_path(repo)),
        )
        .await
    }

    /// GitHub answers log requests with a redirect to short-lived storage.
    /// The redirect target is fetched without our credentials unless it is
    /// on the API host itself.
    async fn follow_download(
        &self,
        operation: &'static str,
        route: String,
    ) -> Result<Bytes, OpsError> {
        let reply = self.send(Call::get(operation, route)).await?;
        if !reply.status.is_redirection() {
            return Ok(reply.body);
        }
        let location = reply
            .headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| OpsError::Unexpected {
                operation,
                detail: "redirect without a Location header".into(),
            })?;
        let reply = self.send(Call::get(operation, location.to_owned())).await?;
        if reply.status.is_redirection() {
            return Err(OpsError::Unexpected {
                operation,
                detail: "more than one redirect".into(),
            });
        }
        Ok(reply.body)
    }
}

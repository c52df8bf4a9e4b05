//! Workflow runs and their logs.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::http_call::{Call, query_value, segment};
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

/// One job of a workflow run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkflowJob {
    pub id: u64,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
}

#[derive(Deserialize)]
struct JobList {
    jobs: Vec<WorkflowJob>,
}

#[derive(Deserialize)]
struct RunList {
    workflow_runs: Vec<WorkflowRun>,
}

impl GitHubClient {
    /// Every workflow run matching `filter`, newest first, over all pages
    /// (filter by workflow, branch or head SHA to keep the list short).
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
                query.push(format!("{name}={}", query_value(value)));
            }
        }
        let operation = "list workflow runs";
        let call = Call::get(operation, format!("{base}?{}", query.join("&")));
        self.fetch_pages(call, |reply| {
            reply
                .decode::<RunList>(operation)
                .map(|list| list.workflow_runs)
        })
        .await
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

    /// Every job of a run's latest attempt, to fetch the failed ones' logs.
    pub async fn list_workflow_jobs(
        &self,
        repo: &RepoName,
        run: WorkflowRunId,
    ) -> Result<Vec<WorkflowJob>, OpsError> {
        let route = format!(
            "{}/actions/runs/{run}/jobs?filter=latest&per_page=100",
            repo_path(repo)
        );
        let operation = "list workflow jobs";
        self.fetch_pages(Call::get(operation, route), |reply| {
            reply.decode::<JobList>(operation).map(|list| list.jobs)
        })
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

    /// GitHub answers log requests with a redirect to short-lived, pre-signed
    /// storage. A target on the API host is fetched like any call; any other
    /// host gets no credentials and is not put under the API base path.
    async fn follow_download(
        &self,
        operation: &'static str,
        route: String,
    ) -> Result<Bytes, OpsError> {
        let reply = self.send(Call::get(operation, route)).await?;
        if !reply.status.is_redirection() {
            return Ok(reply.body);
        }
        let unexpected = |detail: String| OpsError::Unexpected { operation, detail };
        let location = reply
            .headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unexpected("redirect without a Location header".into()))?;
        let target = url::Url::parse(location)
            .or_else(|_| self.api_base().join(location))
            .map_err(|e| unexpected(format!("redirect to {location:?}: {e}")))?;
        let path_and_query = match target.query() {
            Some(query) => format!("{}?{query}", target.path()),
            None => target.path().to_owned(),
        };
        let same_host = target.origin() == self.api_base().origin();
        let reply = if same_host {
            self.send(Call::get(operation, path_and_query)).await?
        } else {
            let origin = url::Url::parse(&target.origin().ascii_serialization())
                .map_err(|e| unexpected(format!("redirect to {location:?}: {e}")))?;
            GitHubClient::anonymous(&origin, self.policy().clone())?
                .send(Call::get(operation, path_and_query))
                .await?
        };
        if reply.status.is_redirection() {
            return Err(unexpected("more than one redirect".into()));
        }
        Ok(reply.body)
    }
}

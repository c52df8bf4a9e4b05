//! Check runs with annotations. GitHub takes at most 50 annotations per
//! request; the rest follow in PATCHes, each checked before it is repeated so
//! an annotation is never posted twice.

use chrono::{DateTime, Utc};
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::http_call::{Call, query_value, segment};
use super::{GitHubClient, OpsError, repo_path};
use crate::github::{CheckRunId, CommitSha, RepoName};

/// GitHub's limit of annotations in one create or update request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;

/// A check run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Queued,
    InProgress,
    Completed,
}

/// A completed check run's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckConclusion {
    Success,
    Failure,
    Neutral,
    Cancelled,
    Skipped,
    TimedOut,
    ActionRequired,
}

/// An annotation's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnnotationLevel {
    Notice,
    Warning,
    Failure,
}

/// One finding shown on a line of the diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub annotation_level: AnnotationLevel,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A check run's visible output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutput {
    pub title: String,
    pub summary: String,
    pub text: Option<String>,
    pub annotations: Vec<Annotation>,
}

/// A check run to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckRun {
    /// e.g. `fixwright/ruff`.
    pub name: String,
    pub head_sha: CommitSha,
    /// The repair attempt's id: how a retried create finds the run it made.
    pub external_id: String,
    pub status: CheckStatus,
    pub conclusion: Option<CheckConclusion>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub output: Option<CheckOutput>,
}

/// Changes to a check run; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckRunUpdate {
    pub status: Option<CheckStatus>,
    pub conclusion: Option<CheckConclusion>,
    pub completed_at: Option<DateTime<Utc>>,
    pub output: Option<CheckOutput>,
}

/// A check run as GitHub reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckRun {
    pub id: CheckRunId,
    pub name: String,
    pub head_sha: CommitSha,
    pub external_id: Option<String>,
    pub status: String,
    pub conclusion: Option<String>,
    pub output: CheckRunOutputSummary,
}

/// The part of a check run's output Fixwright reads back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckRunOutputSummary {
    pub annotations_count: u64,
}

/// Which existing check run a create may return instead of making one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reuse {
    /// Any run with the same name and `external_id` on the commit.
    Any,
    /// Only one that is not completed.
    Unfinished,
}

#[derive(Deserialize)]
struct CheckRunList {
    check_runs: Vec<CheckRun>,
}

/// Splits annotations into the requests that carry them: the first batch
/// goes with the create (or first update), each further batch in a PATCH.
pub fn annotation_batches(annotations: &[Annotation]) -> Vec<&[Annotation]> {
    if annotations.is_empty() {
        return vec![&[]];
    }
    annotations.chunks(ANNOTATIONS_PER_REQUEST).collect()
}

fn output_json(output: &CheckOutput, batch: &[Annotation]) -> serde_json::Value {
    let mut value = json!({"title": output.title, "summary": output.summary, "annotations": batch});
    if let Some(text) = &output.text {
        value["text"] = json!(text);
    }
    value
}

impl GitHubClient {
    /// Creates a check run and posts all its annotations (50 per request).
    /// Returns the existing run if one with the same name and `external_id`
    /// is already on the commit.
    pub async fn create_check_run(
        &self,
        repo: &RepoName,
        run: &NewCheckRun,
    ) -> Result<CheckRunId, OpsError> {
        self.create_unless_found(repo, run, Reuse::Any).await
    }

    /// Creates a new run of a check that already ran, as GitHub asks an App
    /// to do when someone re-runs its check: a completed run with the same
    /// name and `external_id` stays as it is, and only an unfinished one
    /// (left by an interrupted earlier try of the same re-run) is taken over.
    pub async fn rerun_check_run(
        &self,
        repo: &RepoName,
        run: &NewCheckRun,
    ) -> Result<CheckRunId, OpsError> {
        self.create_unless_found(repo, run, Reuse::Unfinished).await
    }

    async fn create_unless_found(
        &self,
        repo: &RepoName,
        run: &NewCheckRun,
        reuse: Reuse,
    ) -> Result<CheckRunId, OpsError> {
        let operation = "create a check run";
        let existing = || async {
            Ok::<_, OpsError>(
                self.list_check_runs(repo, &run.head_sha, Some(&run.name))
                    .await?
                    .into_iter()
                    .filter(|r| r.external_id.as_deref() == Some(run.external_id.as_str()))
                    .find(|r| reuse == Reuse::Any || r.status != "completed")
                    .map(|r| r.id),
            )
        };
        if let Some(id) = existing().await? {
            return Ok(id);
        }
        let batches = run
            .output
            .as_ref()
            .map(|o| annotation_batches(&o.annotations))
            .unwrap_or_default();
        let mut body = json!({
            "name": run.name,
            "head_sha": run.head_sha,
            "external_id": run.external_id,
            "status": run.status,
        });
        if let Some(conclusion) = run.conclusion {
            body["conclusion"] = json!(conclusion);
        }
        if let Some(at) = run.started_at {
            body["started_at"] = json!(at);
        }
        if let Some(at) = run.completed_at {
            body["completed_at"] = json!(at);
        }
        if let (Some(output), Some(first)) = (&run.output, batches.first()) {
            body["output"] = output_json(output, first);
        }
        let call = Call::new(
            operation,
            Method::POST,
            format!("{}/check-runs", repo_path(repo)),
        )
        .json(body);
        let id = self
            .send_checked(
                call,
                |r| r.decode::<CheckRun>(operation).map(|c| c.id),
                existing,
            )
            .await?;
        if let Some(output) = &run.output {
            let posted = batches.first().map_or(0, |b| b.len()) as u64;
            self.append_annotations(repo, id, output, &batches[1.min(batches.len())..], posted)
                .await?;
        }
        Ok(id)
    }

    /// Updates a check run; annotations in `update.output` are appended, 50 per request.
    pub async fn update_check_run(
        &self,
        repo: &RepoName,
        id: CheckRunId,
        update: &CheckRunUpdate,
    ) -> Result<(), OpsError> {
        let operation = "update a check run";
        let mut body = json!({});
        if let Some(status) = update.status {
            body["status"] = json!(status);
        }
        if let Some(conclusion) = update.conclusion {
            body["conclusion"] = json!(conclusion);
        }
        if let Some(at) = update.completed_at {
            body["completed_at"] = json!(at);
        }
        let Some(output) = &update.output else {
            return self
                .patch_check_run(operation, repo, id, body)
                .await
                .map(drop);
        };
        let before = self.get_check_run(repo, id).await?.output.annotations_count;
        let batches = annotation_batches(&output.annotations);
        body["output"] = output_json(output, batches[0]);
        let expected = before + batches[0].len() as u64;
        self.patch_annotations(operation, repo, id, body, expected)
            .await?;
        self.append_annotations(repo, id, output, &batches[1..], expected)
            .await
    }

    /// Reads a check run.
    pub async fn get_check_run(
        &self,
        repo: &RepoName,
        id: CheckRunId,
    ) -> Result<CheckRun, OpsError> {
        self.fetch(Call::get(
            "read a check run",
            format!("{}/check-runs/{id}", repo_path(repo)),
        ))
        .await
    }

    /// The check run named `name` with `external_id` on `head_sha`, if any.
    pub async fn find_check_run(
        &self,
        repo: &RepoName,
        head_sha: &CommitSha,
        name: &str,
        external_id: &str,
    ) -> Result<Option<CheckRun>, OpsError> {
        Ok(self
            .list_check_runs(repo, head_sha, Some(name))
            .await?
            .into_iter()
            .find(|r| r.external_id.as_deref() == Some(external_id)))
    }

    /// Every check run on `git_ref` (a SHA, branch or tag), of every attempt
    /// (`filter=all`), over all pages, newest first; only those named `name` when
    /// given.
    pub async fn list_check_runs(
        &self,
        repo: &RepoName,
        git_ref: &CommitSha,
        name: Option<&str>,
    ) -> Result<Vec<CheckRun>, OpsError> {
        let operation = "list check runs";
        let mut route = format!(
            "{}/commits/{}/check-runs?filter=all&per_page=100",
            repo_path(repo),
            segment(git_ref.as_str())
        );
        if let Some(name) = name {
            route.push_str("&check_name=");
            route.push_str(&query_value(name));
        }
        self.fetch_pages(Call::get(operation, route), |reply| {
            reply
                .decode::<CheckRunList>(operation)
                .map(|list| list.check_runs)
        })
        .await
        .map(|mut runs| {
            // Newest first: ids grow with time; GitHub's own order is not documented.
            runs.sort_by_key(|r| std::cmp::Reverse(r.id));
            runs
        })
    }

    async fn append_annotations(
        &self,
        repo: &RepoName,
        id: CheckRunId,
        output: &CheckOutput,
        batches: &[&[Annotation]],
        mut posted: u64,
    ) -> Result<(), OpsError> {
        for batch in batches {
            posted += batch.len() as u64;
            let body = json!({"output": output_json(output, batch)});
            self.patch_annotations("add check run annotations", repo, id, body, posted)
                .await?;
        }
        Ok(())
    }

    /// PATCHes that append annotations are not idempotent: after an ambiguous
    /// failure, the run's annotation count says whether this batch landed.
    async fn patch_annotations(
        &self,
        operation: &'static str,
        repo: &RepoName,
        id: CheckRunId,
        body: serde_json::Value,
        expected_count: u64,
    ) -> Result<(), OpsError> {
        let call = Call::new(
            operation,
            Method::PATCH,
            format!("{}/check-runs/{id}", repo_path(repo)),
        )
        .json(body);
        let call = Call {
            replay: crate::github::retry::Replay::CheckFirst,
            ..call
        };
        let landed = || async {
            let count = self.get_check_run(repo, id).await?.output.annotations_count;
            Ok((count >= expected_count).then_some(()))
        };
        self.send_checked(call, |_| Ok(()), landed).await
    }

    async fn patch_check_run(
        &self,
        operation: &'static str,
        repo: &RepoName,
        id: CheckRunId,
        body: serde_json::Value,
    ) -> Result<CheckRun, OpsError> {
        let call = Call::new(
            operation,
            Method::PATCH,
            format!("{}/check-runs/{id}", repo_path(repo)),
        )
        .json(body);
        self.fetch(call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(n: usize) -> Vec<Annotation> {
        (0..n)
            .map(|i| Annotation {
                path: "scrapers/shop.py".into(),
                start_line: i as u32 + 1,
                end_line: i as u32 + 1,
                annotation_level: AnnotationLevel::Warning,
                message: format!("finding {i}"),
                title: None,
            })
            .collect()
    }

    #[test]
    fn batches_hold_at_most_fifty() {
        let a = annotations(120);
        let sizes: Vec<_> = annotation_batches(&a).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![50, 50, 20]);
        let a = annotations(50);
        assert_eq!(annotation_batches(&a).len(), 1);
        assert_eq!(annotation_batches(&[]), vec![&[] as &[Annotation]]);
    }
}

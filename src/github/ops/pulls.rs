//! Pull requests and the conversation around them: merges with a head-SHA
//! guard, labels, reviewers, comments, reactions, and who may command us.

use chrono::{DateTime, Utc};
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::http_call::{Call, query_value, segment};
use super::{GitHubClient, OpsError, repo_path};
use crate::github::{BranchName, CommentId, CommitSha, IssueNumber, PullRequestNumber, RepoName};

/// A pull request, reduced to what Fixwright reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequest {
    pub number: PullRequestNumber,
    pub state: String,
    pub title: String,
    pub body: Option<String>,
    #[serde(default)]
    pub draft: bool,
    /// Present on single-PR reads; absent in lists.
    pub merged: Option<bool>,
    pub merge_commit_sha: Option<CommitSha>,
    pub head: PullRequestRef,
    pub base: PullRequestRef,
    pub html_url: String,
}

/// One side of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequestRef {
    #[serde(rename = "ref")]
    pub branch: BranchName,
    pub sha: CommitSha,
}

/// A pull request to open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewPullRequest {
    pub title: String,
    /// The branch with the change (in the same repository).
    pub head: BranchName,
    /// The branch to merge into.
    pub base: BranchName,
    pub body: String,
    pub draft: bool,
}

/// Fields of a pull request to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PullRequestUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `open` or `closed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// How a pull request is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    Merge,
    #[default]
    Squash,
    Rebase,
}

/// What a merge attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// Merged (now or by an earlier attempt); the resulting commit on the base.
    Merged { sha: CommitSha },
    /// The head moved away from the guard SHA: someone pushed; nothing merged.
    HeadMoved,
    /// GitHub answered 409 while the head is still the guard SHA (its message
    /// is kept; usually the base branch moved during the merge). Nothing
    /// merged; deciding again later is safe.
    Conflict { reason: String },
    /// GitHub refused (conflicts, failing required checks, closed PR).
    NotMergeable { reason: String },
}

/// A comment on an issue or pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueComment {
    pub id: CommentId,
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A label, on a repository or an issue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Label {
    pub name: String,
    /// Six hex digits, no `#`.
    pub color: String,
    pub description: Option<String>,
}

/// A file a pull request changes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequestFile {
    pub filename: String,
    /// `added`, `removed`, `modified`, `renamed`, `copied`, `changed` or `unchanged`.
    pub status: String,
    pub additions: u64,
    pub deletions: u64,
    /// The path before a rename.
    pub previous_filename: Option<String>,
}

/// A reaction on a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reaction {
    #[serde(rename = "+1")]
    ThumbsUp,
    #[serde(rename = "-1")]
    ThumbsDown,
    Laugh,
    Confused,
    Heart,
    Hooray,
    Rocket,
    Eyes,
}

/// A user's permission on a repository.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Permission {
    /// `admin`, `write`, `read` or `none`.
    pub permission: String,
    /// The role (`admin`, `maintain`, `write`, `triage`, `read` or a custom role).
    pub role_name: Option<String>,
}

impl Permission {
    /// Whether the user may push, and so may command Fixwright.
    pub fn can_write(&self) -> bool {
        matches!(self.permission.as_str(), "admin" | "write")
            || matches!(
                self.role_name.as_deref(),
                Some("admin" | "maintain" | "write")
            )
    }
}

#[derive(Deserialize)]
struct MergeResult {
    sha: CommitSha,
}

impl GitHubClient {
    /// Reads one pull request.
    pub async fn get_pull_request(
        &self,
        repo: &RepoName,
        number: PullRequestNumber,
    ) -> Result<PullRequest, OpsError> {
        self.fetch(Call::get(
            "read a pull request",
            format!("{}/pulls/{number}", repo_path(repo)),
        ))
        .await
    }

    /// The open pull request whose head is `head` in this repository, if any.
    pub async fn find_pull_request_by_head(
        &self,
        repo: &RepoName,
        head: &BranchName,
    ) -> Result<Option<PullRequest>, OpsError> {
        let route = format!(
            "{}/pulls?state=open&head={}:{}&per_page=100",
            repo_path(repo),
            query_value(repo.owner()),
            query_value(head.as_str())
        );
        let pulls: Vec<PullRequest> = self
            .fetch_all(Call::get("find a pull request by head", route))
            .await?;
        Ok(pulls.into_iter().find(|p| &p.head.branch == head))
    }

    /// The newest open pull request whose head is at `sha`, from this
    /// repository or from a fork. GitHub names no pull request in a check suite
    /// whose head is in a fork, so this is how such a suite finds its base.
    pub async fn find_open_pull_request_at(
        &self,
        repo: &RepoName,
        sha: &CommitSha,
    ) -> Result<Option<PullRequest>, OpsError> {
        let route = format!("{}/pulls?state=open&per_page=100", repo_path(repo));
        let pulls: Vec<PullRequest> = self
            .fetch_all(Call::get("find a pull request by head commit", route))
            .await?;
        Ok(pulls.into_iter().find(|p| &p.head.sha == sha))
    }

    /// Opens a pull request, or returns the open one already made from the
    /// same head (by an earlier attempt, or an earlier run).
    pub async fn create_pull_request(
        &self,
        repo: &RepoName,
        new: &NewPullRequest,
    ) -> Result<PullRequest, OpsError> {
        let operation = "create a pull request";
        if let Some(existing) = self.find_pull_request_by_head(repo, &new.head).await? {
            return Ok(existing);
        }
        let body =
            serde_json::to_value(new).map_err(|source| OpsError::Decode { operation, source })?;
        let call = Call::new(
            operation,
            Method::POST,
            format!("{}/pulls", repo_path(repo)),
        )
        .json(body);
        let result = self
            .send_checked(
                call,
                |r| r.decode(operation),
                || self.find_pull_request_by_head(repo, &new.head),
            )
            .await;
        match result {
            // "A pull request already exists": a concurrent attempt won.
            Err(e) if e.status() == Some(StatusCode::UNPROCESSABLE_ENTITY) => self
                .find_pull_request_by_head(repo, &new.head)
                .await?
                .ok_or(e),
            other => other,
        }
    }

    /// Changes a pull request's title, body or state.
    pub async fn update_pull_request(
        &self,
        repo: &RepoName,
        number: PullRequestNumber,
        update: &PullRequestUpdate,
    ) -> Result<PullRequest, OpsError> {
        let operation = "update a pull request";
        let body = serde_json::to_value(update)
            .map_err(|source| OpsError::Decode { operation, source })?;
        self.fetch(
            Call::new(
                operation,
                Method::PATCH,
                format!("{}/pulls/{number}", repo_path(repo)),
            )
            .json(body),
        )
        .await
    }

    /// Merges pull request `number` only if its head is still `head_sha`.
    /// A 409 is not repeated: the pull request is read, and the answer is
    /// `Merged` (an earlier attempt did it), `HeadMoved` (someone pushed) or
    /// `Conflict` (the head is unchanged; GitHub's reason is kept).
    pub async fn merge_pull_request(
        &self,
        repo: &RepoName,
        number: PullRequestNumber,
        head_sha: &CommitSha,
        method: MergeMethod,
        commit_title: Option<&str>,
    ) -> Result<MergeOutcome, OpsError> {
        let operation = "merge a pull request";
        let mut body = json!({"sha": head_sha, "merge_method": method});
        if let Some(title) = commit_title {
            body["commit_title"] = json!(title);
        }
        let call = Call::new(
            operation,
            Method::PUT,
            format!("{}/pulls/{number}/merge", repo_path(repo)),
        )
        .json(body);
        // A merge that timed out may have happened; look before asking again.
        let call = Call {
            replay: crate::github::retry::Replay::CheckFirst,
            ..call
        };
        let merged_already = || async {
            let pr = self.get_pull_request(repo, number).await?;
            Ok(match (pr.merged, pr.merge_commit_sha) {
                (Some(true), Some(sha)) if &pr.head.sha == head_sha => {
                    Some(MergeOutcome::Merged { sha })
                }
                _ => None,
            })
        };
        let result = self
            .send_checked(
                call,
                |r| {
                    r.decode::<MergeResult>(operation)
                        .map(|m| MergeOutcome::Merged { sha: m.sha })
                },
                merged_already,
            )
            .await;
        match result {
            Err(OpsError::Api {
                status: StatusCode::CONFLICT,
                message,
                ..
            }) => {
                if let Some(merged) = merged_already().await? {
                    return Ok(merged);
                }
                let pr = self.get_pull_request(repo, number).await?;
                if &pr.head.sha != head_sha {
                    Ok(MergeOutcome::HeadMoved)
                } else {
                    Ok(MergeOutcome::Conflict { reason: message })
                }
            }
            Err(OpsError::Api {
                status: StatusCode::METHOD_NOT_ALLOWED,
                message,
                ..
            }) => {
                // Also what GitHub says when an earlier attempt already merged it.
                match merged_already().await? {
                    Some(merged) => Ok(merged),
                    None => Ok(MergeOutcome::NotMergeable { reason: message }),
                }
            }
            other => other,
        }
    }

    /// Asks `users` and `teams` (slugs) to review.
    pub async fn request_reviewers(
        &self,
        repo: &RepoName,
        number: PullRequestNumber,
        users: &[String],
        teams: &[String],
    ) -> Result<(), OpsError> {
        let call = Call::new(
            "request reviewers",
            Method::POST,
            format!("{}/pulls/{number}/requested_reviewers", repo_path(repo)),
        )
        .json(json!({"reviewers": users, "team_reviewers": teams}))
        .replay_safe();
        self.send(call).await.map(drop)
    }

    /// Adds `labels` to an issue or pull request (a set union: safe to repeat).
    pub async fn add_labels(
        &self,
        repo: &RepoName,
        issue: IssueNumber,
        labels: &[String],
    ) -> Result<(), OpsError> {
        let call = Call::new(
            "add labels",
            Method::POST,
            format!("{}/issues/{issue}/labels", repo_path(repo)),
        )
        .json(json!({"labels": labels}))
        .replay_safe();
        self.send(call).await.map(drop)
    }

    /// Removes `label`; a label that is not there counts as removed.
    pub async fn remove_label(
        &self,
        repo: &RepoName,
        issue: IssueNumber,
        label: &str,
    ) -> Result<(), OpsError> {
        let route = format!(
            "{}/issues/{issue}/labels/{}",
            repo_path(repo),
            segment(label)
        );
        match self
            .send(Call::new("remove a label", Method::DELETE, route))
            .await
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(drop),
        }
    }

    /// Every label on an issue or pull request, over all pages.
    pub async fn list_labels(
        &self,
        repo: &RepoName,
        issue: IssueNumber,
    ) -> Result<Vec<Label>, OpsError> {
        let route = format!("{}/issues/{issue}/labels?per_page=100", repo_path(repo));
        self.fetch_all(Call::get("list an issue's labels", route))
            .await
    }

    /// Every label of the repository, over all pages.
    pub async fn list_repo_labels(&self, repo: &RepoName) -> Result<Vec<Label>, OpsError> {
        let route = format!("{}/labels?per_page=100", repo_path(repo));
        self.fetch_all(Call::get("list the repository's labels", route))
            .await
    }

    /// Every file a pull request changes, over all pages (GitHub lists at most 3,000).
    pub async fn list_pull_request_files(
        &self,
        repo: &RepoName,
        number: PullRequestNumber,
    ) -> Result<Vec<PullRequestFile>, OpsError> {
        let route = format!("{}/pulls/{number}/files?per_page=100", repo_path(repo));
        self.fetch_all(Call::get("list a pull request's files", route))
            .await
    }

    /// Creates the repository label `name` unless it exists.
    pub async fn ensure_label(
        &self,
        repo: &RepoName,
        name: &str,
        color: &str,
        description: &str,
    ) -> Result<(), OpsError> {
        let operation = "create a label";
        let exists = || async {
            let route = format!("{}/labels/{}", repo_path(repo), segment(name));
            match self.send(Call::get("read a label", route)).await {
                Ok(_) => Ok(Some(())),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        };
        if exists().await?.is_some() {
            return Ok(());
        }
        let call = Call::new(operation, Method::POST, format!("{}/labels", repo_path(repo)))
            .json(json!({"name": name, "color": color.trim_start_matches('#'), "description": description}));
        match self.send_checked(call, |_| Ok(()), exists).await {
            // "already_exists": someone else created it meanwhile.
            Err(e) if e.status() == Some(StatusCode::UNPROCESSABLE_ENTITY) => {
                exists().await?.ok_or(e)
            }
            other => other,
        }
    }

    /// Comments on an issue or pull request. After an ambiguous failure, a
    /// comment with the same body posted since the first attempt counts as this one.
    pub async fn create_comment(
        &self,
        repo: &RepoName,
        issue: IssueNumber,
        body: &str,
    ) -> Result<CommentId, OpsError> {
        let operation = "create a comment";
        // One second early: GitHub's `since` has second precision and is inclusive.
        let since = Utc::now() - chrono::TimeDelta::seconds(1);
        let call = Call::new(
            operation,
            Method::POST,
            format!("{}/issues/{issue}/comments", repo_path(repo)),
        )
        .json(json!({"body": body}));
        let posted = || async {
            Ok(self
                .list_comments(repo, issue, Some(since))
                .await?
                .into_iter()
                .find(|c| c.body.as_deref() == Some(body))
                .map(|c| c.id))
        };
        self.send_checked(
            call,
            |r| r.decode::<IssueComment>(operation).map(|c| c.id),
            posted,
        )
        .await
    }

    /// Every comment on an issue or pull request, oldest first, over all
    /// pages; with `since`, only those created or updated at or after it.
    pub async fn list_comments(
        &self,
        repo: &RepoName,
        issue: IssueNumber,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<IssueComment>, OpsError> {
        let mut route = format!("{}/issues/{issue}/comments?per_page=100", repo_path(repo));
        if let Some(since) = since {
            route.push_str("&since=");
            route.push_str(&since.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
        self.fetch_all(Call::get("list comments", route)).await
    }

    /// Replaces a comment's body.
    pub async fn update_comment(
        &self,
        repo: &RepoName,
        comment: CommentId,
        body: &str,
    ) -> Result<(), OpsError> {
        let call = Call::new(
            "update a comment",
            Method::PATCH,
            format!("{}/issues/comments/{comment}", repo_path(repo)),
        )
        .json(json!({"body": body}));
        self.send(call).await.map(drop)
    }

    /// Reacts to a comment (GitHub keeps one reaction of a kind per user: safe to repeat).
    pub async fn add_reaction(
        &self,
        repo: &RepoName,
        comment: CommentId,
        reaction: Reaction,
    ) -> Result<(), OpsError> {
        let call = Call::new(
            "react to a comment",
            Method::POST,
            format!("{}/issues/comments/{comment}/reactions", repo_path(repo)),
        )
        .json(json!({"content": reaction}))
        .replay_safe();
        self.send(call).await.map(drop)
    }

    /// `user`'s permission on the repository; `None` if GitHub knows no such user.
    pub async fn collaborator_permission(
        &self,
        repo: &RepoName,
        user: &str,
    ) -> Result<Option<Permission>, OpsError> {
        let route = format!(
            "{}/collaborators/{}/permission",
            repo_path(repo),
            segment(user)
        );
        match self
            .fetch(Call::get("read a collaborator's permission", route))
            .await
        {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_access_comes_from_permission_or_role() {
        let p = |permission: &str, role: Option<&str>| Permission {
            permission: permission.into(),
            role_name: role.map(Into::into),
        };
        assert!(p("admin", Some("admin")).can_write());
        assert!(p("write", Some("write")).can_write());
        assert!(p("write", Some("maintain")).can_write());
        assert!(!p("read", Some("triage")).can_write());
        assert!(!p("read", Some("read")).can_write());
        assert!(!p("none", None).can_write());
    }

    #[test]
    fn reactions_use_githubs_names() {
        assert_eq!(serde_json::to_value(Reaction::ThumbsUp).unwrap(), "+1");
        assert_eq!(serde_json::to_value(Reaction::Eyes).unwrap(), "eyes");
    }
}

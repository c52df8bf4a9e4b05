//! Typed webhook events: the payload becomes one of these at the edge, and
//! nothing past the edge sees raw JSON. Structs keep the fields Fixwright
//! uses; serde ignores the rest. A field is `Option` when GitHub may omit it
//! or send `null` in any documented example or schema.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    AppId, CheckRunId, CommentId, CommitSha, InstallationId, IssueNumber, PullRequestNumber,
    RepoName, RepositoryId, WorkflowRunId,
};

/// Why a delivery's body is not the event its name says.
#[derive(Debug, thiserror::Error)]
#[error("the {event} event payload does not parse at {path}: {message}")]
pub struct EventError {
    /// The `X-GitHub-Event` name.
    pub event: String,
    /// Where in the payload parsing failed (e.g. `pull_request.head.sha`).
    pub path: String,
    pub message: String,
}

/// A GitHub account (user, organisation or bot).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    pub id: u64,
    pub login: String,
    /// `User`, `Organization` or `Bot`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl Account {
    /// Whether this account is a bot (an App acting, e.g. Fixwright itself).
    pub fn is_bot(&self) -> bool {
        self.kind == "Bot"
    }
}

/// The installation a delivery concerns (present when sent to an App).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct InstallationRef {
    pub id: InstallationId,
}

/// The repository an event happened in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Repository {
    pub id: RepositoryId,
    pub full_name: RepoName,
    pub default_branch: String,
    pub private: bool,
}

/// A repository as listed in installation events.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RepositoryRef {
    pub id: RepositoryId,
    pub full_name: RepoName,
}

macro_rules! action_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $wire:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant,)*
            /// An action Fixwright does not act on.
            #[serde(other)]
            Other,
        }
    };
}

action_enum!(
    /// What happened to an installation.
    InstallationAction {
        Created = "created", Deleted = "deleted", Suspend = "suspend", Unsuspend = "unsuspend",
        NewPermissionsAccepted = "new_permissions_accepted",
    }
);
action_enum!(
    /// Repositories added to or removed from an installation.
    InstallationRepositoriesAction { Added = "added", Removed = "removed" }
);
action_enum!(
    /// What happened to a comment.
    CommentAction { Created = "created", Edited = "edited", Deleted = "deleted" }
);
action_enum!(
    /// What happened to a pull request.
    PullRequestAction {
        Opened = "opened", Closed = "closed", Reopened = "reopened", Synchronize = "synchronize",
        Edited = "edited", Labeled = "labeled", Unlabeled = "unlabeled", ReadyForReview = "ready_for_review",
        ConvertedToDraft = "converted_to_draft",
    }
);
action_enum!(
    /// What happened to a review.
    ReviewAction { Submitted = "submitted", Edited = "edited", Dismissed = "dismissed" }
);
action_enum!(
    /// What happened to a check run.
    CheckRunAction {
        Created = "created", Completed = "completed", Rerequested = "rerequested",
        RequestedAction = "requested_action",
    }
);
action_enum!(
    /// What happened to a check suite.
    CheckSuiteAction { Requested = "requested", Rerequested = "rerequested", Completed = "completed" }
);
action_enum!(
    /// A workflow run's or job's lifecycle step.
    WorkflowAction {
        Requested = "requested", Queued = "queued", Waiting = "waiting", InProgress = "in_progress",
        Completed = "completed",
    }
);

/// `installation`: the App was installed, removed, suspended …
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InstallationEvent {
    pub action: InstallationAction,
    pub installation: Installation,
    /// The repositories granted on `created`; absent for other actions.
    pub repositories: Option<Vec<RepositoryRef>>,
    pub sender: Account,
}

/// An installation of the App.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Installation {
    pub id: InstallationId,
    pub app_id: AppId,
    pub account: Account,
}

/// `installation_repositories`: repositories added to or removed from an installation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InstallationRepositoriesEvent {
    pub action: InstallationRepositoriesAction,
    pub installation: Installation,
    /// `all` or `selected`.
    pub repository_selection: String,
    pub repositories_added: Vec<RepositoryRef>,
    pub repositories_removed: Vec<RepositoryRef>,
    pub sender: Account,
}

/// `issue_comment`: a comment on an issue or a pull request (the commands channel).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssueCommentEvent {
    pub action: CommentAction,
    pub issue: Issue,
    pub comment: Comment,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
    pub sender: Account,
}

/// The issue (or pull request) a comment is on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Issue {
    pub number: IssueNumber,
    pub title: String,
    pub state: String,
    pub user: Account,
    /// Present when the issue is a pull request.
    pub pull_request: Option<IssuePullRequestLink>,
}

impl Issue {
    /// Whether the comment was made on a pull request.
    pub fn is_pull_request(&self) -> bool {
        self.pull_request.is_some()
    }
}

/// Marks an issue that is a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssuePullRequestLink {
    pub url: Option<String>,
}

/// A comment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Comment {
    pub id: CommentId,
    pub body: String,
    pub user: Account,
    /// `OWNER`, `MEMBER`, `COLLABORATOR`, `CONTRIBUTOR`, `NONE` … (a hint;
    /// write access is checked through the API).
    pub author_association: String,
}

/// `pull_request`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequestEvent {
    pub action: PullRequestAction,
    pub number: PullRequestNumber,
    pub pull_request: PullRequest,
    /// The label added or removed (`labeled`/`unlabeled` only).
    pub label: Option<Label>,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
    pub sender: Account,
}

/// A pull request as webhooks carry it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequest {
    pub number: PullRequestNumber,
    pub state: String,
    pub title: String,
    pub body: Option<String>,
    pub draft: Option<bool>,
    pub merged: Option<bool>,
    pub merge_commit_sha: Option<CommitSha>,
    pub head: BranchRef,
    pub base: BranchRef,
    pub user: Account,
    pub labels: Vec<Label>,
    pub html_url: String,
}

/// One side of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BranchRef {
    #[serde(rename = "ref")]
    pub branch: String,
    pub sha: CommitSha,
}

/// A label.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Label {
    pub name: String,
}

/// `pull_request_review`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequestReviewEvent {
    pub action: ReviewAction,
    pub review: Review,
    pub pull_request: PullRequestSummary,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
    pub sender: Account,
}

/// A review.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Review {
    pub id: u64,
    /// `approved`, `changes_requested`, `commented`, `dismissed` (GitHub's case varies).
    pub state: String,
    pub body: Option<String>,
    pub user: Option<Account>,
    pub commit_id: CommitSha,
}

/// The pull request a review or check is about.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequestSummary {
    pub number: PullRequestNumber,
    pub head: BranchRef,
    pub base: BranchRef,
}

/// `check_run` (the App receives its own runs' events, including button presses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckRunEvent {
    pub action: CheckRunAction,
    pub check_run: CheckRun,
    /// The button pressed (`requested_action` only).
    pub requested_action: Option<RequestedAction>,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
    pub sender: Account,
}

/// A check run as webhooks carry it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckRun {
    pub id: CheckRunId,
    pub name: String,
    pub head_sha: CommitSha,
    pub status: String,
    pub conclusion: Option<String>,
    /// Fixwright sets it to the repair attempt's id.
    pub external_id: Option<String>,
    pub app: Option<App>,
    pub pull_requests: Vec<PullRequestSummary>,
}

/// The App that owns a check.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct App {
    pub id: AppId,
}

/// A check run button.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RequestedAction {
    pub identifier: String,
}

/// `check_suite`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckSuiteEvent {
    pub action: CheckSuiteAction,
    pub check_suite: CheckSuite,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
    pub sender: Account,
}

/// A check suite.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckSuite {
    pub id: u64,
    pub head_branch: Option<String>,
    pub head_sha: CommitSha,
    pub status: Option<String>,
    pub conclusion: Option<String>,
    pub app: Option<App>,
    pub pull_requests: Vec<PullRequestSummary>,
}

/// `workflow_run`: a scheduled scraper workflow or the deploy workflow changed state.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkflowRunEvent {
    pub action: WorkflowAction,
    pub workflow_run: WorkflowRun,
    pub workflow: Option<Workflow>,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
    pub sender: Account,
}

/// A workflow run as webhooks carry it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkflowRun {
    pub id: WorkflowRunId,
    pub name: Option<String>,
    pub head_branch: Option<String>,
    pub head_sha: CommitSha,
    /// What triggered it (`schedule`, `push`, `workflow_dispatch` …).
    pub event: String,
    pub status: Option<String>,
    pub conclusion: Option<String>,
    pub run_attempt: u32,
    pub workflow_id: u64,
    /// The workflow file; missing in older payloads (then see [`Workflow::path`]).
    pub path: Option<String>,
    pub html_url: String,
}

/// The workflow a run belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Workflow {
    pub id: u64,
    pub name: String,
    pub path: String,
}

/// `workflow_job`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkflowJobEvent {
    pub action: WorkflowAction,
    pub workflow_job: WorkflowJob,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
    pub sender: Account,
}

/// One job of a workflow run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkflowJob {
    pub id: u64,
    pub run_id: WorkflowRunId,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub head_sha: CommitSha,
    pub head_branch: Option<String>,
    pub workflow_name: Option<String>,
    pub run_attempt: Option<u32>,
    pub labels: Vec<String>,
    pub html_url: Option<String>,
}

/// `workflow_dispatch`: e.g. the "new scraper" workflow asking for a generated scraper.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkflowDispatchEvent {
    /// The inputs as given (strings, booleans or numbers); absent or `null` when none.
    pub inputs: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The workflow file path.
    pub workflow: String,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
    pub sender: Account,
}

/// `push`: a branch moved (the deploy trigger on `main`, or a human touching a repair branch).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PushEvent {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub before: CommitSha,
    pub after: CommitSha,
    pub created: bool,
    pub deleted: bool,
    pub forced: bool,
    pub commits: Vec<PushCommit>,
    pub head_commit: Option<PushCommit>,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
    pub sender: Option<Account>,
}

/// A commit in a push.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PushCommit {
    pub id: CommitSha,
    pub message: String,
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
    #[serde(default)]
    pub modified: Vec<String>,
}

/// `deployment_status`: how a deploy of `main` went.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeploymentStatusEvent {
    /// `created`; absent in older GitHub Enterprise Server payloads.
    pub action: Option<String>,
    pub deployment_status: DeploymentStatus,
    pub deployment: Deployment,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
    pub sender: Account,
}

/// A deployment status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeploymentStatus {
    pub id: u64,
    /// `pending`, `success`, `failure`, `error`, `in_progress`, `queued`, `inactive`.
    pub state: String,
    pub environment: Option<String>,
    pub description: Option<String>,
    pub target_url: Option<String>,
}

/// A deployment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Deployment {
    pub id: u64,
    pub sha: CommitSha,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub environment: String,
    pub task: String,
}

/// `status`: a commit status from a system that does not use checks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StatusEvent {
    pub id: u64,
    pub sha: CommitSha,
    /// `pending`, `success`, `failure` or `error`.
    pub state: String,
    pub context: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
    pub branches: Vec<StatusBranch>,
    pub repository: Repository,
    pub installation: Option<InstallationRef>,
    pub sender: Account,
}

/// A branch whose head is the commit a status is for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StatusBranch {
    pub name: String,
}

/// A parsed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Installation(Box<InstallationEvent>),
    InstallationRepositories(Box<InstallationRepositoriesEvent>),
    IssueComment(Box<IssueCommentEvent>),
    PullRequest(Box<PullRequestEvent>),
    PullRequestReview(Box<PullRequestReviewEvent>),
    CheckRun(Box<CheckRunEvent>),
    CheckSuite(Box<CheckSuiteEvent>),
    WorkflowRun(Box<WorkflowRunEvent>),
    WorkflowJob(Box<WorkflowJobEvent>),
    WorkflowDispatch(Box<WorkflowDispatchEvent>),
    Push(Box<PushEvent>),
    DeploymentStatus(Box<DeploymentStatusEvent>),
    Status(Box<StatusEvent>),
    /// An event Fixwright does not handle (recorded, never acted on).
    Unhandled {
        name: String,
    },
}

/// The event names [`Event::parse`] turns into typed events.
pub const HANDLED_EVENTS: [&str; 13] = [
    "installation",
    "installation_repositories",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "check_run",
    "check_suite",
    "workflow_run",
    "workflow_job",
    "workflow_dispatch",
    "push",
    "deployment_status",
    "status",
];

fn typed<T: serde::de::DeserializeOwned>(name: &str, body: &[u8]) -> Result<Box<T>, EventError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de)
        .map(Box::new)
        .map_err(|e| EventError {
            event: name.to_owned(),
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })
}

impl Event {
    /// Parses a delivery from its `X-GitHub-Event` name and raw body.
    pub fn parse(name: &str, body: &[u8]) -> Result<Self, EventError> {
        Ok(match name {
            "installation" => Self::Installation(typed(name, body)?),
            "installation_repositories" => Self::InstallationRepositories(typed(name, body)?),
            "issue_comment" => Self::IssueComment(typed(name, body)?),
            "pull_request" => Self::PullRequest(typed(name, body)?),
            "pull_request_review" => Self::PullRequestReview(typed(name, body)?),
            "check_run" => Self::CheckRun(typed(name, body)?),
            "check_suite" => Self::CheckSuite(typed(name, body)?),
            "workflow_run" => Self::WorkflowRun(typed(name, body)?),
            "workflow_job" => Self::WorkflowJob(typed(name, body)?),
            "workflow_dispatch" => Self::WorkflowDispatch(typed(name, body)?),
            "push" => Self::Push(typed(name, body)?),
            "deployment_status" => Self::DeploymentStatus(typed(name, body)?),
            "status" => Self::Status(typed(name, body)?),
            other => Self::Unhandled {
                name: other.to_owned(),
            },
        })
    }

    /// The `X-GitHub-Event` name this event was parsed from.
    pub fn name(&self) -> &str {
        match self {
            Self::Installation(_) => "installation",
            Self::InstallationRepositories(_) => "installation_repositories",
            Self::IssueComment(_) => "issue_comment",
            Self::PullRequest(_) => "pull_request",
            Self::PullRequestReview(_) => "pull_request_review",
            Self::CheckRun(_) => "check_run",
            Self::CheckSuite(_) => "check_suite",
            Self::WorkflowRun(_) => "workflow_run",
            Self::WorkflowJob(_) => "workflow_job",
            Self::WorkflowDispatch(_) => "workflow_dispatch",
            Self::Push(_) => "push",
            Self::DeploymentStatus(_) => "deployment_status",
            Self::Status(_) => "status",
            Self::Unhandled { name } => name,
        }
    }

    /// The installation the delivery concerns, when GitHub says.
    pub fn installation(&self) -> Option<InstallationId> {
        match self {
            Self::Installation(e) => Some(e.installation.id),
            Self::InstallationRepositories(e) => Some(e.installation.id),
            Self::IssueComment(e) => e.installation.map(|i| i.id),
            Self::PullRequest(e) => e.installation.map(|i| i.id),
            Self::PullRequestReview(e) => e.installation.map(|i| i.id),
            Self::CheckRun(e) => e.installation.map(|i| i.id),
            Self::CheckSuite(e) => e.installation.map(|i| i.id),
            Self::WorkflowRun(e) => e.installation.map(|i| i.id),
            Self::WorkflowJob(e) => e.installation.map(|i| i.id),
            Self::WorkflowDispatch(e) => e.installation.map(|i| i.id),
            Self::Push(e) => e.installation.map(|i| i.id),
            Self::DeploymentStatus(e) => e.installation.map(|i| i.id),
            Self::Status(e) => e.installation.map(|i| i.id),
            Self::Unhandled { .. } => None,
        }
    }

    /// The repository the event happened in (none for installation events).
    pub fn repository(&self) -> Option<&Repository> {
        match self {
            Self::Installation(_) | Self::InstallationRepositories(_) | Self::Unhandled { .. } => {
                None
            }
            Self::IssueComment(e) => Some(&e.repository),
            Self::PullRequest(e) => Some(&e.repository),
            Self::PullRequestReview(e) => Some(&e.repository),
            Self::CheckRun(e) => Some(&e.repository),
            Self::CheckSuite(e) => Some(&e.repository),
            Self::WorkflowRun(e) => Some(&e.repository),
            Self::WorkflowJob(e) => Some(&e.repository),
            Self::WorkflowDispatch(e) => Some(&e.repository),
            Self::Push(e) => Some(&e.repository),
            Self::DeploymentStatus(e) => Some(&e.repository),
            Self::Status(e) => Some(&e.repository),
        }
    }

    /// Who caused the event; used to ignore events caused by Fixwright's own bot.
    pub fn sender(&self) -> Option<&Account> {
        match self {
            Self::Installation(e) => Some(&e.sender),
            Self::InstallationRepositories(e) => Some(&e.sender),
            Self::IssueComment(e) => Some(&e.sender),
            Self::PullRequest(e) => Some(&e.sender),
            Self::PullRequestReview(e) => Some(&e.sender),
            Self::CheckRun(e) => Some(&e.sender),
            Self::CheckSuite(e) => Some(&e.sender),
            Self::WorkflowRun(e) => Some(&e.sender),
            Self::WorkflowJob(e) => Some(&e.sender),
            Self::WorkflowDispatch(e) => Some(&e.sender),
            Self::Push(e) => e.sender.as_ref(),
            Self::DeploymentStatus(e) => Some(&e.sender),
            Self::Status(e) => Some(&e.sender),
            Self::Unhandled { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_events_are_unhandled_not_errors() {
        let event = Event::parse("star", b"{}").unwrap();
        assert_eq!(
            event,
            Event::Unhandled {
                name: "star".into()
            }
        );
        assert_eq!(event.installation(), None);
    }

    #[test]
    fn a_bad_payload_names_the_field() {
        let err = Event::parse("status", br#"{"id": 1, "sha": 5}"#).unwrap_err();
        assert_eq!(err.event, "status");
        assert_eq!(err.path, "sha");
    }

    #[test]
    fn unknown_actions_parse_as_other() {
        let action: PullRequestAction = serde_json::from_str(r#""enqueued""#).unwrap();
        assert_eq!(action, PullRequestAction::Other);
    }
}

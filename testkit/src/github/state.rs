//! The fake's world: what GitHub would hold for one App and its installations.
//! Git data itself lives in real bare repositories on disk; this holds the rest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::failures::FailureRule;

/// The App the fake plays GitHub for.
#[derive(Debug, Clone)]
pub struct AppInfo {
    pub id: u64,
    pub slug: String,
    pub name: String,
    pub client_id: String,
    pub webhook_secret: String,
}

impl AppInfo {
    /// The login GitHub gives the App's bot user.
    pub fn bot_login(&self) -> String {
        format!("{}[bot]", self.slug)
    }
}

#[derive(Debug, Clone)]
pub struct Installation {
    pub id: u64,
    pub account: String,
    pub repositories: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub installation: u64,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Label {
    pub id: u64,
    pub name: String,
    pub color: String,
    pub description: Option<String>,
}

/// A pull request; head and base are branch names resolved in git on every read.
#[derive(Debug, Clone)]
pub struct PullRequest {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub head: String,
    pub base: String,
    pub open: bool,
    pub draft: bool,
    pub user: String,
    pub labels: Vec<String>,
    pub requested_reviewers: Vec<String>,
    /// Set once merged: the merge commit and when.
    pub merged: Option<(String, DateTime<Utc>)>,
    /// Head commit when the PR was closed or merged (the branch may move or vanish later).
    pub head_sha_at_close: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A plain issue (not a pull request).
#[derive(Debug, Clone)]
pub struct Issue {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub user: String,
    pub labels: Vec<String>,
    pub open: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub issue_number: u64,
    pub body: String,
    pub user: String,
    /// Reaction contents (`+1`, `eyes`, ...) in the order received, with their authors.
    pub reactions: Vec<(u64, String, String)>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A check run with every annotation ever received for it.
#[derive(Debug, Clone)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub annotations: Vec<Value>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Number of create + update requests seen for this run.
    pub writes: u32,
}

/// A workflow run and the log files its zip archive holds.
#[derive(Debug, Clone)]
pub struct WorkflowRun {
    pub id: u64,
    pub name: String,
    pub workflow_id: u64,
    pub path: String,
    pub head_branch: String,
    pub head_sha: String,
    pub event: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub run_attempt: u64,
    pub logs: Vec<(String, String)>,
    /// Jobs derived from the log files: one per top-level directory (or per file).
    pub jobs: Vec<Job>,
    pub created_at: DateTime<Utc>,
}

/// A job of a workflow run, with its plain-text log.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: u64,
    pub name: String,
    pub log: String,
}

/// A `workflow_dispatch` received through the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    pub workflow: String,
    pub git_ref: String,
    pub inputs: Value,
}

#[derive(Debug, Clone)]
pub struct Repository {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub default_branch: String,
    pub private: bool,
    pub bare_path: PathBuf,
    pub labels: BTreeMap<String, Label>,
    pub pulls: BTreeMap<u64, PullRequest>,
    pub issues: BTreeMap<u64, Issue>,
    pub comments: Vec<Comment>,
    pub check_runs: BTreeMap<u64, CheckRun>,
    /// login -> `admin` | `maintain` | `write` | `triage` | `read` | `none`.
    pub permissions: HashMap<String, String>,
    pub workflow_runs: BTreeMap<u64, WorkflowRun>,
    pub dispatches: Vec<Dispatch>,
    pub next_number: u64,
}

impl Repository {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// One entry of the App's hook delivery log.
#[derive(Debug, Clone)]
pub struct HookDelivery {
    pub id: u64,
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    pub status_code: u16,
    pub redelivery: bool,
    pub delivered_at: DateTime<Utc>,
    pub installation_id: Option<u64>,
    pub repository_id: Option<u64>,
    pub payload: Value,
}

/// One request as the fake saw it, for assertions on traffic.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub operation_id: Option<String>,
    pub status: u16,
    pub body: Option<Value>,
}

/// A request (or a fake answer) that broke GitHub's published contract.
#[derive(Debug, Clone)]
pub struct Violation {
    pub method: String,
    pub path: String,
    /// The operation matched, when the path resolved to one.
    pub operation_id: Option<String>,
    pub kind: ViolationKind,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    /// No operation has this path.
    UnknownPath,
    /// The path exists, the method does not.
    MethodNotAllowed,
    /// Parameters or body do not match the operation.
    InvalidRequest,
    /// The operation is GitHub's, but the fake does not serve it yet.
    NotImplemented,
    /// The fake's own answer broke the response schema: a bug in the fake.
    InvalidResponse,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = self.operation_id.as_deref().unwrap_or("<no operation>");
        write!(f, "{:?} {} {} ({op})", self.kind, self.method, self.path)?;
        for p in &self.problems {
            write!(f, "\n    - {p}")?;
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct World {
    pub app: AppInfo,
    pub installations: BTreeMap<u64, Installation>,
    pub tokens: HashMap<String, IssuedToken>,
    pub token_requests: HashMap<u64, u32>,
    pub token_ttl: chrono::Duration,
    pub repositories: BTreeMap<(String, String), Repository>,
    pub deliveries: Vec<HookDelivery>,
    pub redelivery_attempts: Vec<u64>,
    pub manifest_codes: HashSet<String>,
    pub manifest_conversions: Vec<String>,
    /// Manifests posted to the web form, in order.
    pub manifests: Vec<Value>,
    pub failures: Vec<FailureRule>,
    pub log: Vec<RecordedRequest>,
    pub violations: Vec<Violation>,
    /// Where redeliveries are POSTed, when a test wires the App under test in.
    pub webhook_target: Option<String>,
    /// Every App JWT the fake accepted, in order.
    pub app_jwts: Vec<AppJwt>,
    next_id: u64,
}

/// An App JWT the fake accepted: its claims and when it was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppJwt {
    pub iat: i64,
    pub exp: i64,
    /// Unix seconds when the request carrying it arrived.
    pub seen_at: i64,
}

impl World {
    pub fn new(app: AppInfo) -> World {
        World {
            app,
            installations: BTreeMap::new(),
            tokens: HashMap::new(),
            token_requests: HashMap::new(),
            token_ttl: chrono::Duration::hours(1),
            repositories: BTreeMap::new(),
            deliveries: Vec::new(),
            redelivery_attempts: Vec::new(),
            manifest_codes: HashSet::new(),
            manifest_conversions: Vec::new(),
            manifests: Vec::new(),
            failures: Vec::new(),
            log: Vec::new(),
            violations: Vec::new(),
            webhook_target: None,
            app_jwts: Vec::new(),
            next_id: 1000,
        }
    }

    /// A fresh identifier, unique across every kind of object in this fake.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repository> {
        self.repositories
            .get(&(owner.to_ascii_lowercase(), name.to_ascii_lowercase()))
    }

    pub fn repo_mut(&mut self, owner: &str, name: &str) -> Option<&mut Repository> {
        self.repositories
            .get_mut(&(owner.to_ascii_lowercase(), name.to_ascii_lowercase()))
    }

    /// The installation that holds `owner/name`, if any.
    pub fn installation_of(&self, owner: &str, name: &str) -> Option<u64> {
        self.installations
            .values()
            .find(|i| {
                i.repositories
                    .iter()
                    .any(|(o, n)| o.eq_ignore_ascii_case(owner) && n.eq_ignore_ascii_case(name))
            })
            .map(|i| i.id)
    }
}

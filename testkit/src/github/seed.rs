//! The test's handle on the fake: start it, seed its world, assert on it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use super::failures::{Failure, FailureRule};
use super::git::{self, TreeEdit};
use super::server::{self, Shared};
use super::state::{
    AppInfo, AppJwt, CheckRun, Comment, HookDelivery, Installation, IssuedToken, Job, PullRequest,
    RecordedRequest, Repository, Violation, WorkflowRun, World,
};
use super::{APP_PUBLIC_KEY_PEM, openapi};

/// Why the fake could not start or a seed could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error(transparent)]
    Spec(#[from] openapi::SpecError),
    #[error("fake GitHub: cannot bind 127.0.0.1:0: {0}")]
    Bind(std::io::Error),
    #[error("fake GitHub: cannot create its temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error("fake GitHub: repository {0} does not exist (seed it with add_repo)")]
    NoSuchRepo(String),
    #[error("fake GitHub: installation {0} does not exist (seed it with add_installation)")]
    NoSuchInstallation(u64),
    #[error("fake GitHub: git operation on {repo} failed: {reason}")]
    Git { repo: String, reason: String },
}

/// A workflow run to seed; `logs` become the files of its log archive.
#[derive(Debug, Clone)]
pub struct WorkflowRunSeed {
    pub name: String,
    pub path: String,
    pub head_branch: String,
    pub head_sha: String,
    pub event: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub logs: Vec<(String, String)>,
}

/// A hook delivery to seed into the App's delivery log.
#[derive(Debug, Clone)]
pub struct DeliverySeed {
    pub guid: String,
    pub event: String,
    pub action: Option<String>,
    /// What the App answered (or 502/timeout codes for failed deliveries).
    pub status_code: u16,
    pub installation_id: Option<u64>,
    pub repository_id: Option<u64>,
    pub payload: Value,
}

/// A running fake GitHub. Dropping it stops the server and, unless the test
/// is already failing, panics if any contract violation was recorded (call
/// [`FakeGitHub::take_violations`] to assert on expected ones).
pub struct FakeGitHub {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl FakeGitHub {
    /// Binds 127.0.0.1:0 and serves the API at [`FakeGitHub::base_url`].
    /// Fails if GitHub's OpenAPI description has not been fetched.
    pub async fn start() -> Result<FakeGitHub, FakeError> {
        openapi::spec()?;
        let dir = tempfile::tempdir().map_err(FakeError::TempDir)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(FakeError::Bind)?;
        let addr = listener.local_addr().map_err(FakeError::Bind)?;
        let git_root = dir.path().join("repositories");
        std::fs::create_dir_all(&git_root).map_err(FakeError::TempDir)?;
        let app = AppInfo {
            id: 424_242,
            slug: "fixwright-test".into(),
            name: "Fixwright (test)".into(),
            client_id: "Iv1.fake0000000000".into(),
            webhook_secret: "fake-webhook-secret".into(),
        };
        let shared = Arc::new(Shared {
            world: std::sync::Mutex::new(World::new(app)),
            base_url: format!("http://{addr}"),
            git_root,
            public_key_pem: APP_PUBLIC_KEY_PEM,
        });
        let for_server = shared.clone();
        let router = axum::Router::new()
            .fallback(server::handle)
            .with_state(for_server);
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                eprintln!("fake GitHub server stopped: {e}");
            }
        });
        Ok(FakeGitHub {
            shared,
            server,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`: the REST API root (what api.github.com is in
    /// production), also the web root for the manifest form (`/settings/apps/new`)
    /// and the Enterprise layout (`/api/v3`).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Clone/push URL of a repository (authenticate with any user and an installation token).
    pub fn git_url(&self, owner: &str, repo: &str) -> String {
        format!("{}/git/{owner}/{repo}.git", self.shared.base_url)
    }

    /// A clone/push URL carrying `token` as the password (for the git CLI).
    pub fn git_url_with_token(&self, owner: &str, repo: &str, token: &str) -> String {
        let base = self.shared.base_url.trim_start_matches("http://");
        format!("http://x-access-token:{token}@{base}/git/{owner}/{repo}.git")
    }

    /// Issues an installation token directly, as if the App had asked for one,
    /// for tests that need git or API access without running the App's auth.
    /// Not counted in [`FakeGitHub::token_requests`].
    pub fn mint_token(&self, installation: u64) -> Result<String, FakeError> {
        self.world(|w| {
            if !w.installations.contains_key(&installation) {
                return Err(FakeError::NoSuchInstallation(installation));
            }
            let token = format!("ghs_fake{installation}x{:028}", w.next_id());
            let expires_at = Utc::now() + w.token_ttl;
            w.tokens.insert(
                token.clone(),
                IssuedToken {
                    installation,
                    expires_at,
                },
            );
            Ok(token)
        })
    }

    pub fn app_id(&self) -> u64 {
        self.world(|w| w.app.id)
    }

    pub fn app_slug(&self) -> String {
        self.world(|w| w.app.slug.clone())
    }

    /// The login of the App's bot user, the author of everything the App does.
    pub fn bot_login(&self) -> String {
        self.world(|w| w.app.bot_login())
    }

    /// The App's private key PEM to sign JWTs with.
    pub fn app_private_key_pem(&self) -> &'static str {
        super::APP_PRIVATE_KEY_PEM
    }

    /// The App's webhook secret (signs redeliveries; returned by the manifest conversion).
    pub fn webhook_secret(&self) -> String {
        self.world(|w| w.app.webhook_secret.clone())
    }

    /// Runs `f` on the world under its lock: the escape hatch for any seed or assertion.
    pub fn world<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.shared.world())
    }

    // ---- seeding -------------------------------------------------------

    /// Adds an installation on `account`; returns its id.
    pub fn add_installation(&self, account: &str) -> u64 {
        self.world(|w| {
            let id = w.next_id();
            w.installations.insert(
                id,
                Installation {
                    id,
                    account: account.to_string(),
                    repositories: Vec::new(),
                },
            );
            id
        })
    }

    /// Creates `owner/name` in `installation` with a bare git repository whose
    /// default branch `main` holds one commit with `files`. Returns that commit's SHA.
    pub fn add_repo(
        &self,
        installation: u64,
        owner: &str,
        name: &str,
        files: &[(&str, &str)],
    ) -> Result<String, FakeError> {
        let full = format!("{owner}/{name}");
        let bare_path = self.shared.git_root.join(owner).join(format!("{name}.git"));
        let git_err = |reason: String| FakeError::Git {
            repo: full.clone(),
            reason,
        };
        let g = git::init_bare(&bare_path, "main").map_err(git_err)?;
        let edits: Vec<TreeEdit> = files
            .iter()
            .map(|(p, c)| TreeEdit::Content {
                path: (*p).to_string(),
                content: c.as_bytes().to_vec(),
                mode: git2::FileMode::Blob,
            })
            .collect();
        let sig = git::signature("Seed", "seed@example.com").map_err(git_err)?;
        let sha = git::commit_on_branch(&g, "main", None, &edits, "Initial commit", &sig)
            .map_err(git_err)?;
        self.world(|w| {
            let inst = w
                .installations
                .get_mut(&installation)
                .ok_or(FakeError::NoSuchInstallation(installation))?;
            inst.repositories
                .push((owner.to_string(), name.to_string()));
            let id = w.next_id();
            w.repositories.insert(
                (owner.to_ascii_lowercase(), name.to_ascii_lowercase()),
                Repository {
                    id,
                    owner: owner.to_string(),
                    name: name.to_string(),
                    default_branch: "main".into(),
                    private: true,
                    bare_path,
                    labels: BTreeMap::new(),
                    pulls: BTreeMap::new(),
                    issues: BTreeMap::new(),
                    comments: Vec::new(),
                    check_runs: BTreeMap::new(),
                    permissions: HashMap::new(),
                    workflow_runs: BTreeMap::new(),
                    dispatches: Vec::new(),
                    next_number: 0,
                },
            );
            Ok(sha.to_string())
        })
    }

    fn bare_path(&self, owner: &str, repo: &str) -> Result<std::path::PathBuf, FakeError> {
        self.world(|w| w.repo(owner, repo).map(|r| r.bare_path.clone()))
            .ok_or_else(|| FakeError::NoSuchRepo(format!("{owner}/{repo}")))
    }

    /// Commits file changes (`None` deletes) on `branch`, as a push would; a
    /// missing branch is created from the default branch. Returns the commit SHA.
    pub fn commit(
        &self,
        owner: &str,
        repo: &str,
        branch: &str,
        files: &[(&str, Option<&str>)],
        message: &str,
    ) -> Result<String, FakeError> {
        let full = format!("{owner}/{repo}");
        let git_err = |reason: String| FakeError::Git {
            repo: full.clone(),
            reason,
        };
        let g = git::open(&self.bare_path(owner, repo)?).map_err(git_err)?;
        let edits: Vec<TreeEdit> = files
            .iter()
            .map(|(p, c)| match c {
                Some(c) => TreeEdit::Content {
                    path: (*p).to_string(),
                    content: c.as_bytes().to_vec(),
                    mode: git2::FileMode::Blob,
                },
                None => TreeEdit::Remove {
                    path: (*p).to_string(),
                },
            })
            .collect();
        let sig = git::signature("Seed", "seed@example.com").map_err(git_err)?;
        let default_branch = self
            .world(|w| w.repo(owner, repo).map(|r| r.default_branch.clone()))
            .unwrap_or_default();
        let start = git::branch_sha(&g, &default_branch);
        git::commit_on_branch(&g, branch, start, &edits, message, &sig)
            .map(|o| o.to_string())
            .map_err(git_err)
    }

    /// The tip of `branch`, read from git.
    pub fn branch_sha(&self, owner: &str, repo: &str, branch: &str) -> Option<String> {
        let g = git::open(&self.bare_path(owner, repo).ok()?).ok()?;
        git::branch_sha(&g, branch).map(|o| o.to_string())
    }

    /// A file's content at a branch, tag or SHA, read from git.
    pub fn file(&self, owner: &str, repo: &str, git_ref: &str, path: &str) -> Option<String> {
        let g = git::open(&self.bare_path(owner, repo).ok()?).ok()?;
        let commit = git::resolve_commit(&g, git_ref)?;
        let (_, bytes) = git::blob_at(&g, commit, path)?;
        String::from_utf8(bytes).ok()
    }

    /// Sets a user's role on a repository (`admin`, `maintain`, `write`, `triage`, `read`, `none`).
    pub fn set_permission(
        &self,
        owner: &str,
        repo: &str,
        login: &str,
        role: &str,
    ) -> Result<(), FakeError> {
        self.world(|w| {
            let r = w
                .repo_mut(owner, repo)
                .ok_or_else(|| FakeError::NoSuchRepo(format!("{owner}/{repo}")))?;
            r.permissions.insert(login.to_string(), role.to_string());
            Ok(())
        })
    }

    /// Opens a pull request as `author` (a human's PR); returns its number.
    pub fn open_pull_request(
        &self,
        owner: &str,
        repo: &str,
        author: &str,
        head: &str,
        base: &str,
        title: &str,
    ) -> Result<u64, FakeError> {
        self.world(|w| {
            let id = w.next_id();
            let r = w
                .repo_mut(owner, repo)
                .ok_or_else(|| FakeError::NoSuchRepo(format!("{owner}/{repo}")))?;
            r.next_number += 1;
            let number = r.next_number;
            let now = Utc::now();
            r.pulls.insert(
                number,
                PullRequest {
                    id,
                    number,
                    title: title.to_string(),
                    body: None,
                    head: head.to_string(),
                    base: base.to_string(),
                    open: true,
                    draft: false,
                    user: author.to_string(),
                    labels: Vec::new(),
                    requested_reviewers: Vec::new(),
                    merged: None,
                    head_sha_at_close: None,
                    created_at: now,
                    updated_at: now,
                },
            );
            Ok(number)
        })
    }

    /// Adds a comment by `author` on issue or PR `number`; returns the comment id.
    pub fn add_comment(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        author: &str,
        body: &str,
    ) -> Result<u64, FakeError> {
        self.world(|w| {
            let id = w.next_id();
            let r = w
                .repo_mut(owner, repo)
                .ok_or_else(|| FakeError::NoSuchRepo(format!("{owner}/{repo}")))?;
            let now = Utc::now();
            r.comments.push(Comment {
                id,
                issue_number: number,
                body: body.to_string(),
                user: author.to_string(),
                reactions: Vec::new(),
                created_at: now,
                updated_at: now,
            });
            Ok(id)
        })
    }

    /// Adds a workflow run; returns its id. Its log files also become its jobs:
    /// one job per top-level directory of the archive (or per top-level file).
    pub fn add_workflow_run(
        &self,
        owner: &str,
        repo: &str,
        seed: WorkflowRunSeed,
    ) -> Result<u64, FakeError> {
        self.world(|w| {
            let id = w.next_id();
            let workflow_id = super::handlers::json::user_id(&seed.path);
            let mut jobs: Vec<Job> = Vec::new();
            for (file, content) in &seed.logs {
                let name = match file.split_once('/') {
                    Some((dir, _)) => dir.to_string(),
                    None => file.trim_end_matches(".txt").to_string(),
                };
                match jobs.iter_mut().find(|j| j.name == name) {
                    Some(job) => job.log.push_str(content),
                    None => {
                        let job_id = w.next_id();
                        jobs.push(Job {
                            id: job_id,
                            name,
                            log: content.clone(),
                        });
                    }
                }
            }
            let r = w
                .repo_mut(owner, repo)
                .ok_or_else(|| FakeError::NoSuchRepo(format!("{owner}/{repo}")))?;
            r.workflow_runs.insert(
                id,
                WorkflowRun {
                    id,
                    name: seed.name,
                    workflow_id,
                    path: seed.path,
                    head_branch: seed.head_branch,
                    head_sha: seed.head_sha,
                    event: seed.event,
                    status: seed.status,
                    conclusion: seed.conclusion,
                    run_attempt: 1,
                    logs: seed.logs,
                    jobs,
                    created_at: Utc::now(),
                },
            );
            Ok(id)
        })
    }

    /// Appends a delivery to the App's hook delivery log; returns its numeric id.
    pub fn add_hook_delivery(&self, seed: DeliverySeed) -> u64 {
        self.world(|w| {
            let id = w.next_id();
            w.deliveries.push(HookDelivery {
                id,
                guid: seed.guid,
                event: seed.event,
                action: seed.action,
                status_code: seed.status_code,
                redelivery: false,
                delivered_at: Utc::now(),
                installation_id: seed.installation_id,
                repository_id: seed.repository_id,
                payload: seed.payload,
            });
            id
        })
    }

    /// Where redeliveries are POSTed (signed with [`FakeGitHub::webhook_secret`]).
    pub fn set_webhook_target(&self, url: &str) {
        self.world(|w| w.webhook_target = Some(url.to_string()));
    }

    /// A one-time code for `POST /app-manifests/{code}/conversions`, as GitHub's redirect carries.
    pub fn issue_manifest_code(&self) -> String {
        self.world(|w| {
            let code = format!("fakecode{}", w.next_id());
            w.manifest_codes.insert(code.clone());
            code
        })
    }

    /// Manifests received by the web form (`POST {base}/settings/apps/new`), in order.
    pub fn manifests(&self) -> Vec<Value> {
        self.world(|w| w.manifests.clone())
    }

    /// Lifetime of installation tokens issued from now on (GitHub: one hour).
    pub fn set_token_ttl(&self, ttl: Duration) {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
        self.world(|w| w.token_ttl = ttl);
    }

    /// Makes the next `times` requests to `operation_id` (GitHub's operationId,
    /// e.g. `pulls/merge`; `"*"` for any) fail with `failure`.
    pub fn fail(&self, operation_id: &str, failure: Failure, times: u32) {
        let known =
            operation_id == "*" || openapi::spec().is_ok_and(|s| s.has_operation(operation_id));
        assert!(
            known,
            "fake GitHub: `{operation_id}` is not an operationId of GitHub's API"
        );
        self.world(|w| {
            w.failures.push(FailureRule {
                operation_id: operation_id.to_string(),
                failure,
                remaining: times,
            })
        });
    }

    // ---- assertions ----------------------------------------------------

    /// The claims of every App JWT the fake accepted, in order.
    pub fn app_jwts(&self) -> Vec<AppJwt> {
        self.world(|w| w.app_jwts.clone())
    }

    /// How many installation tokens were requested for `installation`.
    pub fn token_requests(&self, installation: u64) -> u32 {
        self.world(|w| w.token_requests.get(&installation).copied().unwrap_or(0))
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.world(|w| w.log.clone())
    }

    /// How many requests reached `operation_id` (including failed ones).
    pub fn request_count(&self, operation_id: &str) -> usize {
        self.world(|w| {
            w.log
                .iter()
                .filter(|r| r.operation_id.as_deref() == Some(operation_id))
                .count()
        })
    }

    pub fn repo(&self, owner: &str, repo: &str) -> Option<Repository> {
        self.world(|w| w.repo(owner, repo).cloned())
    }

    pub fn pull_requests(&self, owner: &str, repo: &str) -> Vec<PullRequest> {
        self.world(|w| {
            w.repo(owner, repo)
                .map(|r| r.pulls.values().cloned().collect())
                .unwrap_or_default()
        })
    }

    pub fn comments(&self, owner: &str, repo: &str) -> Vec<Comment> {
        self.world(|w| {
            w.repo(owner, repo)
                .map(|r| r.comments.clone())
                .unwrap_or_default()
        })
    }

    pub fn check_runs(&self, owner: &str, repo: &str) -> Vec<CheckRun> {
        self.world(|w| {
            w.repo(owner, repo)
                .map(|r| r.check_runs.values().cloned().collect())
                .unwrap_or_default()
        })
    }

    /// Ids of hook deliveries the App asked GitHub to redeliver, in order.
    pub fn redelivery_attempts(&self) -> Vec<u64> {
        self.world(|w| w.redelivery_attempts.clone())
    }

    /// Contract violations so far (they stay recorded).
    pub fn violations(&self) -> Vec<Violation> {
        self.world(|w| w.violations.clone())
    }

    /// Removes and returns the recorded violations, for tests that expect some.
    pub fn take_violations(&self) -> Vec<Violation> {
        self.world(|w| std::mem::take(&mut w.violations))
    }

    /// Panics, listing them, if any contract violation was recorded.
    pub fn assert_clean(&self) {
        let v = self.violations();
        if !v.is_empty() {
            panic!("{}", describe(&v));
        }
    }
}

fn describe(violations: &[Violation]) -> String {
    let list: Vec<String> = violations.iter().map(|v| format!("  {v}")).collect();
    format!(
        "fake GitHub recorded {} contract violation(s) against GitHub's OpenAPI description:\n{}",
        violations.len(),
        list.join("\n")
    )
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.abort();
        let violations = std::mem::take(&mut self.shared.world().violations);
        if !violations.is_empty() && !std::thread::panicking() {
            panic!("{}", describe(&violations));
        }
    }
}

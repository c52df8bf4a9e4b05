//! Re-running the gates from GitHub: someone pressed "Re-run" on one of
//! Fixwright's gate check runs (`check_run` `rerequested`) or on its check
//! suite (`check_suite` `rerequested`). The repository is fetched at the
//! head commit with the installation's token, the gates run on it, and fresh
//! check runs are reported.
//!
//! What a delivery asks for is decided by [`rerun_request`], a pure function;
//! [`GateReruns`] is the [`DeliveryHandler`] doing it, wrapped around another
//! handler (the envelope recorder) that still sees every delivery. A
//! delivery is claimed in the store before anything is reported, so one
//! handled twice reports once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::checks::{self, StartedChecks};
use super::engine::{GateRequest, GateRun, GateSettings, Progress, Target, run_gates};
use super::finding::Tool;
use crate::github::events::{CheckRunAction, CheckSuiteAction, Event, PullRequestSummary};
use crate::github::ops::GitHubClient;
use crate::github::{AppAuth, AppId, CommitSha, InstallationId, OpsError, RepoName};
use crate::inbox::{Delivery, DeliveryHandler, HandlerError};
use crate::policy::RepoPolicy;
use crate::python::Provisioner;
use crate::repair::attempt::{self, AttemptId};
use crate::repair::scraper::Layout;
use crate::repair::workspace::{self, GitCredentials, Workspace};
use crate::store::Store;
use crate::store::gate_reruns::{Claimed, RerunClaim};
use crate::store::inbox::Millis;

/// What a re-requested check asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RerunRequest {
    pub repo: RepoName,
    pub installation: InstallationId,
    pub head_sha: CommitSha,
    /// The checks to report afresh: the one re-run, or all three for a suite.
    pub tools: Vec<Tool>,
    /// The re-run check run's `external_id` (a suite carries none).
    pub external_id: Option<String>,
    /// The base of the pull request the checks are on, if any.
    pub base_sha: Option<CommitSha>,
}

/// The re-run a delivery asks for: a `rerequested` check run named
/// `fixwright/ruff`, `fixwright/mypy` or `fixwright/pytest`, or a
/// `rerequested` check suite, owned by the App `app`, with an installation.
/// Anything else (other apps' checks, `fixwright/confidence`, other actions
/// and events) asks for nothing. Pure.
pub fn rerun_request(event: &Event, app: AppId) -> Option<RerunRequest> {
    let ours = |owner: Option<AppId>| owner == Some(app);
    let base = |prs: &[PullRequestSummary]| prs.first().map(|pr| pr.base.sha.clone());
    match event {
        Event::CheckRun(e) if e.action == CheckRunAction::Rerequested => {
            let run = &e.check_run;
            let tool = Tool::ALL.into_iter().find(|t| t.check_name() == run.name)?;
            if !ours(run.app.as_ref().map(|a| a.id)) {
                return None;
            }
            Some(RerunRequest {
                repo: e.repository.full_name.clone(),
                installation: e.installation?.id,
                head_sha: run.head_sha.clone(),
                tools: vec![tool],
                external_id: run.external_id.clone().filter(|id| !id.is_empty()),
                base_sha: base(&run.pull_requests),
            })
        }
        Event::CheckSuite(e) if e.action == CheckSuiteAction::Rerequested => {
            let suite = &e.check_suite;
            if !ours(suite.app.as_ref().map(|a| a.id)) {
                return None;
            }
            Some(RerunRequest {
                repo: e.repository.full_name.clone(),
                installation: e.installation?.id,
                head_sha: suite.head_sha.clone(),
                tools: Tool::ALL.to_vec(),
                external_id: None,
                base_sha: base(&suite.pull_requests),
            })
        }
        _ => None,
    }
}

/// Where re-runs work and how long a claim holds.
#[derive(Clone, Debug)]
pub struct RerunSettings {
    /// Cached clones (`repos/`), checkouts (`checkouts/`) and the gates' own
    /// work (`gates/`).
    pub work_dir: PathBuf,
    /// A claim older than this whose re-run never finished belonged to a
    /// worker that died; a later try takes it over. Longer than any re-run.
    pub stale_after: Duration,
    /// A cached clone no re-run has used for this long is deleted (a repository
    /// that left the installation, or is no longer re-run, stops taking space);
    /// the next re-run of it clones afresh.
    pub clone_retention: Duration,
}

impl RerunSettings {
    /// Claims go stale after an hour; clones unused for two weeks are deleted.
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        Self {
            work_dir: work_dir.into(),
            stale_after: Duration::from_secs(3600),
            clone_retention: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

/// Marks a cached clone as used now; [`prune_clones`] reads it.
const LAST_USED: &str = "fixwright-last-used";

/// Deletes the cached clones (`*.git` under `repos`) whose last use is older than
/// `retention`, `keep` aside; a clone never marked counts from its own creation.
/// Returns how many were deleted. Called under the clones' lock, so no fetch is
/// using one meanwhile; a checkout borrows a clone's objects only while its re-run
/// lasts, far shorter than any sane retention.
pub fn prune_clones(repos: &Path, retention: Duration, keep: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(repos) else {
        return 0;
    };
    let now = std::time::SystemTime::now();
    let mut deleted = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path == keep || path.extension().is_none_or(|e| e != "git") || !path.is_dir() {
            continue;
        }
        let used = std::fs::metadata(path.join(LAST_USED))
            .or_else(|_| std::fs::metadata(&path))
            .and_then(|m| m.modified());
        let idle = used.ok().and_then(|t| now.duration_since(t).ok());
        if idle.is_some_and(|idle| idle > retention) {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => deleted += 1,
                Err(e) => {
                    tracing::warn!(clone = %path.display(), error = %e, "cannot delete an unused cached clone")
                }
            }
        }
    }
    deleted
}

/// Runs the gates again for re-requested checks, after `inner` (the
/// envelope recorder) has seen the delivery.
pub struct GateReruns {
    inner: Arc<dyn DeliveryHandler>,
    app: Arc<AppAuth>,
    store: Store,
    provisioner: Provisioner,
    settings: RerunSettings,
}

/// Why a re-run could not even start its gates.
enum Unproven {
    /// Worth another try later (fetching the repository failed).
    Transient(String),
    /// A verdict to show on the checks (a bad policy file, an environment
    /// that cannot be built).
    Report(String),
}

impl GateReruns {
    pub fn new(
        inner: Arc<dyn DeliveryHandler>,
        app: Arc<AppAuth>,
        store: Store,
        provisioner: Provisioner,
        settings: RerunSettings,
    ) -> Self {
        Self {
            inner,
            app,
            store,
            provisioner,
            settings,
        }
    }

    async fn rerun(&self, delivery: &Delivery) -> Result<(), HandlerError> {
        if !matches!(delivery.event.as_str(), "check_run" | "check_suite") {
            return Ok(());
        }
        let event = Event::parse(&delivery.event, &delivery.body)
            .map_err(|e| HandlerError::permanent(e.to_string()))?;
        let Some(request) = rerun_request(&event, self.app.app_id()) else {
            return Ok(());
        };
        let client = self.app.installation_client(request.installation);
        let candidate = self
            .external_id(&client, &request)
            .await
            .map_err(github_failure)?;
        let claim = RerunClaim {
            delivery_id: delivery.id.to_string(),
            repository: request.repo.to_string(),
            head_sha: request.head_sha.to_string(),
            external_id: candidate.clone(),
        };
        let claimed = self
            .store
            .gate_rerun_claim(&claim, Millis::now(), self.settings.stale_after)
            .await
            .map_err(|e| HandlerError::transient(e.to_string()))?;
        let external_id = match claimed {
            Claimed::Fresh => candidate,
            Claimed::Resumed { external_id } => external_id,
            Claimed::Busy => {
                return Err(HandlerError::transient(
                    "this delivery's gate re-run is in progress on another worker",
                ));
            }
            Claimed::Reported => {
                tracing::info!("gate re-run already reported; nothing to do twice");
                return Ok(());
            }
        };
        tracing::info!(repo = %request.repo, head = %request.head_sha, %external_id, "re-running the gates");
        let started = checks::restart(
            &client,
            &request.repo,
            &request.head_sha,
            &external_id,
            &request.tools,
        )
        .await;
        let started = match started {
            Ok(started) => started,
            Err(e) => return Err(self.release(delivery, github_failure(e)).await),
        };
        let reported = match self.prove(&client, &request, &external_id).await {
            Ok(run) => checks::finish(&client, &request.repo, &started, &run)
                .await
                .map(|()| outcome(&started, Some(&run))),
            Err(Unproven::Report(reason)) => {
                tracing::warn!(%reason, "the gates could not run; reported on the checks");
                checks::abandon(&client, &request.repo, &started, &reason)
                    .await
                    .map(|()| outcome(&started, None))
            }
            Err(Unproven::Transient(reason)) => {
                return Err(self
                    .release(delivery, HandlerError::transient(reason))
                    .await);
            }
        };
        let outcome = match reported {
            Ok(outcome) => outcome,
            Err(e) => return Err(self.release(delivery, github_failure(e)).await),
        };
        self.store
            .gate_rerun_finish(delivery.id.as_str(), &outcome, Millis::now())
            .await
            .map_err(|e| HandlerError::transient(e.to_string()))?;
        tracing::info!(%outcome, "gate re-run reported");
        Ok(())
    }

    /// Lets the next try of the delivery resume at once instead of waiting
    /// for the claim to go stale, and returns `error`.
    async fn release(&self, delivery: &Delivery, error: HandlerError) -> HandlerError {
        if let Err(e) = self.store.gate_rerun_release(delivery.id.as_str()).await {
            tracing::warn!(error = %e, "cannot release the gate re-run claim; a later try waits for it to go stale");
        }
        error
    }

    /// The `external_id` of the new check runs: the repair attempt's id when
    /// the checks were an attempt's, else a new gate-run id.
    async fn external_id(
        &self,
        client: &GitHubClient,
        request: &RerunRequest,
    ) -> Result<String, OpsError> {
        let previous = match &request.external_id {
            Some(id) => Some(id.clone()),
            None => {
                // A suite names no run: the newest of Fixwright's gate runs on the commit.
                let mut newest = None;
                for tool in Tool::ALL {
                    let runs = client
                        .list_check_runs(&request.repo, &request.head_sha, Some(&tool.check_name()))
                        .await?;
                    if let Some(run) = runs.into_iter().find(|r| r.external_id.is_some())
                        && newest.as_ref().is_none_or(|(id, _)| run.id > *id)
                    {
                        newest = Some((run.id, run.external_id));
                    }
                }
                newest.and_then(|(_, id)| id)
            }
        };
        if let Some(id) = previous
            && let Ok(attempt_id) = id.parse::<AttemptId>()
            && attempt::get(&self.store, attempt_id).await.is_ok()
        {
            return Ok(id);
        }
        Ok(ulid::Ulid::new().to_string())
    }

    /// Fetches the head commit, reads its policy and runs the gates on it.
    async fn prove(
        &self,
        client: &GitHubClient,
        request: &RerunRequest,
        external_id: &str,
    ) -> Result<GateRun, Unproven> {
        let remote = client
            .git_remote(&request.repo)
            .await
            .map_err(|e| Unproven::Transient(e.to_string()))?;
        // A check suite whose head is in a fork names no pull request; comparing
        // with the head's first parent would count the pull request's earlier
        // commits as the base, so the open pull request at the head is looked up.
        let base_sha = match &request.base_sha {
            Some(base) => Some(base.clone()),
            None => client
                .find_open_pull_request_at(&request.repo, &request.head_sha)
                .await
                .map_err(|e| Unproven::Transient(e.to_string()))?
                .map(|pr| pr.base.sha),
        };
        let checkout = self
            .settings
            .work_dir
            .join("checkouts")
            .join(ulid::Ulid::new().to_string());
        let fetched = {
            let repos = self.settings.work_dir.join("repos");
            let checkout = checkout.clone();
            let head = sha(&request.head_sha)?;
            let base = base_sha.as_ref().map(sha).transpose()?;
            let credentials = GitCredentials {
                username: remote.username,
                password: remote.password,
            };
            let url = remote.url;
            let retention = self.settings.clone_retention;
            tokio::task::spawn_blocking(move || {
                fetch_and_check_out(
                    &url,
                    &credentials,
                    &repos,
                    &head,
                    base.as_ref(),
                    &checkout,
                    retention,
                )
            })
            .await
            .map_err(|e| Unproven::Transient(format!("the git task failed: {e}")))?
        };
        let result = match fetched {
            Ok(base) => self.run_on(&checkout, base, external_id).await,
            Err(e) => Err(Unproven::Transient(e.to_string())),
        };
        let _ = tokio::fs::remove_dir_all(&checkout).await;
        result
    }

    async fn run_on(
        &self,
        checkout: &Path,
        base: Option<String>,
        external_id: &str,
    ) -> Result<GateRun, Unproven> {
        let policy = RepoPolicy::load(checkout)
            .map_err(|e| Unproven::Report(format!("the policy file is not valid: {e}")))?;
        let mut settings =
            GateSettings::new(self.settings.work_dir.join("gates")).with_policy(&policy.gates);
        settings.layout = Layout::from_policy(&policy)
            .map_err(|e| Unproven::Report(format!("the policy file is not valid: {e}")))?;
        let request = GateRequest {
            repo: checkout.to_path_buf(),
            target: match base {
                Some(rev) => Target::ChangedFrom(rev),
                None => Target::Whole,
            },
            baseline: None,
            run_id: Some(external_id.to_owned()),
        };
        let progress = |event: Progress<'_>| match event {
            Progress::Step(step) => tracing::info!(step, "gates"),
            Progress::Finished {
                tool,
                base,
                duration,
                findings,
            } => tracing::info!(%tool, base, ?duration, ?findings, "gate tool finished"),
            Progress::Started { .. } | Progress::Skipped { .. } => {}
        };
        run_gates(&request, &settings, &self.provisioner, &progress)
            .await
            .map_err(|e| Unproven::Report(e.to_string()))
    }
}

impl DeliveryHandler for GateReruns {
    fn handle<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            self.inner.handle(delivery).await?;
            self.rerun(delivery).await
        })
    }

    fn observe<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), HandlerError>> {
        self.inner.observe(delivery)
    }
}

/// Fetches `head` (and `base`) into the cached clone of `url` and checks
/// `head` out into `checkout`. Returns the revision to compare with: the
/// pull request's base, else the head's first parent, else none (the whole
/// repository). Blocking.
fn fetch_and_check_out(
    url: &str,
    credentials: &GitCredentials,
    repos: &Path,
    head: &workspace::CommitSha,
    base: Option<&workspace::CommitSha>,
    checkout: &Path,
    retention: Duration,
) -> Result<Option<String>, workspace::WorkspaceError> {
    std::fs::create_dir_all(repos).map_err(|source| workspace::WorkspaceError::Write {
        path: repos.to_path_buf(),
        source,
    })?;
    // One fetch into the shared clones at a time; checkouts borrow their objects.
    let lock_path = repos.join(".lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .and_then(|file| file.lock().map(|()| file))
        .map_err(|source| workspace::WorkspaceError::Write {
            path: lock_path,
            source,
        })?;
    let clone = Workspace::cached_clone_as(url, repos, Some(credentials))?;
    // Best effort: a clone whose mark cannot be written is at worst cloned again.
    let _ = std::fs::write(clone.path().join(LAST_USED), b"");
    let pruned = prune_clones(repos, retention, clone.path());
    if pruned > 0 {
        tracing::info!(
            pruned,
            "deleted cached clones unused for longer than the retention"
        );
    }
    clone.ensure_commit(head, Some(credentials))?;
    if let Some(base) = base {
        clone.ensure_commit(base, Some(credentials))?;
    }
    clone.checkout_detached(head, checkout)?;
    drop(lock);
    if let Some(base) = base {
        return Ok(Some(base.to_string()));
    }
    let repo = git2::Repository::open(checkout)?;
    let parent = repo
        .head()?
        .peel_to_commit()?
        .parent_ids()
        .next()
        .map(|p| p.to_string());
    Ok(parent)
}

fn sha(sha: &CommitSha) -> Result<workspace::CommitSha, Unproven> {
    git2::Oid::from_str(sha.as_str())
        .map(workspace::CommitSha::from)
        .map_err(|e| Unproven::Report(format!("`{sha}` is not a commit id: {e}")))
}

/// GitHub failures are retried; a 4xx other than rate limits will fail the
/// same way again, but the inbox's try limit bounds that.
fn github_failure(error: OpsError) -> HandlerError {
    HandlerError::transient(error.to_string())
}

/// `fixwright/ruff=failure, ...`, for the store and the log.
fn outcome(started: &StartedChecks, run: Option<&GateRun>) -> String {
    started
        .runs
        .iter()
        .map(|(tool, _)| {
            let conclusion = run
                .and_then(|r| r.gates.iter().find(|g| g.tool == *tool))
                .map_or(
                    "failure",
                    |g| if g.passed() { "success" } else { "failure" },
                );
            format!("{}={conclusion}", tool.check_name())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory that looks like a cached clone, last used `ago`.
    fn clone_used(repos: &Path, name: &str, ago: Duration) -> PathBuf {
        let path = repos.join(name);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        let mark = std::fs::File::create(path.join(LAST_USED)).unwrap();
        mark.set_modified(std::time::SystemTime::now() - ago)
            .unwrap();
        path
    }

    #[test]
    fn unused_clones_are_pruned_after_the_retention() {
        let repos = tempfile::tempdir().unwrap();
        let day = Duration::from_secs(24 * 3600);
        let stale = clone_used(repos.path(), "0123456789abcdef.git", 20 * day);
        let fresh = clone_used(repos.path(), "fedcba9876543210.git", day);
        let in_use = clone_used(repos.path(), "00000000ffffffff.git", 30 * day);
        let lock = repos.path().join(".lock");
        std::fs::write(&lock, "").unwrap();

        assert_eq!(prune_clones(repos.path(), 14 * day, &in_use), 1);
        assert!(!stale.exists());
        assert!(fresh.exists() && in_use.exists() && lock.exists());
        // Nothing else is old enough now.
        assert_eq!(prune_clones(repos.path(), 14 * day, &in_use), 0);
        // A missing folder is nothing to prune.
        assert_eq!(prune_clones(&repos.path().join("none"), day, &in_use), 0);
    }
}

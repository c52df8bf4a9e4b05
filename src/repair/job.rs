//! The main job: from a broken scraper and its evidence to a proven fix
//! committed on a repair branch of a local repository, with a report of every
//! step. Inputs are checked before anything is written, so bad input changes
//! nothing in the repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::attempt::{self, AttemptError, AttemptId, AttemptState, NewAttempt};
use super::replay::{self, ContentKind, ReplayError, ReplayVerdict, Replayer, SavedResponse};
use super::scraper::{self, Scraper, ScraperError};
use super::steps::{self, ConfidenceView, DiagnosisView, ModeInForce, PolicyContext};
use super::workspace::{self, AttemptWorktree, CommitSha, Workspace, WorkspaceError};
use crate::agents::contract::MemoryHit;
use crate::confidence::Band;
use crate::gates::engine::GateSettings;
use crate::gates::{GateRequest, GateRun, GatesError, Target, ToolPins, run_gates};
use crate::incident::{ErrorClass, ScraperName, UpstreamHost};
use crate::memory::{Memory, Outcome, OutcomeRecord, Rate, RememberedRename, Strategy};
use crate::policy::Mode;
use crate::python::{EnvInputs, ProvisionError, Provisioner};
use crate::store::{Store, StoreError};

/// What to repair.
#[derive(Clone, Debug)]
pub struct RepairRequest {
    /// The repository's top directory (no search for an enclosing one).
    pub repo: PathBuf,
    pub scraper: String,
    /// The failing run's log.
    pub log: Option<PathBuf>,
    /// The response the scraper failed on (HTML or JSON).
    pub response: Option<PathBuf>,
    /// The URL the response came from, when known.
    pub response_url: Option<String>,
    /// Fixwright's data directory: store, environments, worktrees.
    pub data_dir: PathBuf,
    /// Where Python environments are cached (default `<data_dir>/venvs`).
    pub env_cache: Option<PathBuf>,
    /// Fixwright's own switch (`FIXWRIGHT_MODE`, see [`steps::global_mode`]).
    /// The stricter of it and the repository's `mode:` is in force: `off`
    /// refuses before anything is written, `dry-run` writes no branch.
    pub mode: Mode,
}

/// Receives one line per step, for a progress display.
pub trait Progress: Send + Sync {
    fn step(&self, message: &str);
}

/// Progress as plain lines on stderr.
#[derive(Clone, Copy, Debug, Default)]
pub struct StderrProgress;

impl Progress for StderrProgress {
    fn step(&self, message: &str) {
        eprintln!("==> {message}");
    }
}

/// Why the job could not run. Input errors come before any write.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error(transparent)]
    Repository(#[from] WorkspaceError),
    #[error(transparent)]
    Scraper(#[from] ScraperError),
    #[error("cannot read the log {}: {source}", path.display())]
    LogUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the response {}: {source}", path.display())]
    ResponseUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the response {} is neither HTML nor JSON", path.display())]
    ResponseNotHtmlOrJson { path: PathBuf },
    #[error("nothing to diagnose: give the failing run's --log, its --response, or both")]
    NoEvidence,
    #[error("{0}")]
    Policy(String),
    #[error("cannot load the confidence calibration: {0}")]
    Calibration(String),
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Attempt(#[from] AttemptError),
    #[error("provisioning the scraper's Python environment: {0}")]
    Provision(#[from] ProvisionError),
    #[error("replay: {0}")]
    Replay(#[from] ReplayError),
    #[error("the quality gates could not run: {0}")]
    Gates(#[from] GatesError),
    #[error(transparent)]
    Memory(#[from] crate::memory::MemoryError),
}

impl RepairError {
    /// Whether the error is the caller's input (exit code 2) rather than a
    /// failure while working.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            RepairError::Repository(
                WorkspaceError::NotARepository { .. } | WorkspaceError::NoHead { .. }
            ) | RepairError::Scraper(_)
                | RepairError::LogUnreadable { .. }
                | RepairError::ResponseUnreadable { .. }
                | RepairError::ResponseNotHtmlOrJson { .. }
                | RepairError::NoEvidence
                | RepairError::Policy(_)
        )
    }
}

/// The proposal as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ProposalView {
    pub agent: String,
    pub strategy: String,
    pub root_cause: String,
    pub rationale: String,
    /// The agent's own score, before any evidence.
    pub self_score: f64,
    pub files: Vec<String>,
}

/// Everything the job found and did.
#[derive(Clone, Debug, Serialize)]
pub struct RepairReport {
    pub attempt: AttemptId,
    pub repository: String,
    pub scraper: String,
    pub state: AttemptState,
    pub diagnosis: DiagnosisView,
    pub proposal: Option<ProposalView>,
    /// Why no fix was proposed or kept, when none was.
    pub refusal: Option<String>,
    pub policy_refusals: Vec<String>,
    /// The mode in force and the two switches it came from.
    pub mode: ModeInForce,
    /// Replacements memory remembered for this error class and upstream host,
    /// offered to the healer before its own search (`before -> after`).
    pub remembered: Vec<RememberedRename>,
    /// The pattern this attempt taught memory (`before`, `after`), if any.
    pub learned: Option<(String, String)>,
    pub replay: Option<ReplayVerdict>,
    /// ruff, mypy and pytest on the scraper in the attempt's worktree,
    /// compared with the base commit: only what the fix introduced counts.
    pub gates: Option<GateRun>,
    pub confidence: Option<ConfidenceView>,
    pub branch: Option<String>,
    pub commit: Option<CommitSha>,
    pub diff: Option<String>,
    /// What Fixwright would do next with this attempt on GitHub.
    pub next: String,
}

impl RepairReport {
    /// Whether a fix was committed.
    pub fn fixed(&self) -> bool {
        self.commit.is_some()
    }
}

/// Checked inputs, read once.
struct Inputs {
    workspace: Workspace,
    base: CommitSha,
    scraper: Scraper,
    policy: PolicyContext,
    mode: ModeInForce,
    log: String,
    response: Option<SavedResponse>,
    repository: String,
}

fn check_inputs(request: &RepairRequest) -> Result<Inputs, RepairError> {
    let workspace = Workspace::open_local(&request.repo)?;
    let base = workspace.head()?;
    let repo_policy = steps::read_policy(&request.repo)?;
    let mode = ModeInForce::new(request.mode, repo_policy.mode);
    if mode.mode == Mode::Off {
        return Err(RepairError::Policy(format!(
            "mode is off in {}: Fixwright leaves this repository alone",
            mode.source()
        )));
    }
    let layout = steps::layout(&repo_policy)?;
    let (mut scraper, others) = scraper::find_among(&request.repo, &request.scraper, &layout)?;
    let policy = PolicyContext::new(&request.repo, repo_policy, &scraper.name, &others)?;
    policy.refine(&mut scraper, &workspace.files_at(&base)?);
    let log = match &request.log {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|source| RepairError::LogUnreadable {
                path: path.clone(),
                source,
            })?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        None => String::new(),
    };
    let response = match &request.response {
        Some(path) => {
            let body = std::fs::read(path).map_err(|source| RepairError::ResponseUnreadable {
                path: path.clone(),
                source,
            })?;
            let kind = ContentKind::sniff(&body)
                .ok_or_else(|| RepairError::ResponseNotHtmlOrJson { path: path.clone() })?;
            Some(SavedResponse {
                body,
                kind,
                url: request.response_url.clone(),
            })
        }
        None => None,
    };
    if request.log.is_none() && response.is_none() {
        return Err(RepairError::NoEvidence);
    }
    let repository = std::fs::canonicalize(&request.repo)
        .unwrap_or_else(|_| request.repo.clone())
        .display()
        .to_string();
    Ok(Inputs {
        workspace,
        base,
        scraper,
        policy,
        mode,
        log,
        response,
        repository,
    })
}

/// Runs the whole job: diagnose, propose, check policy, prove by replay,
/// score, and commit on `fixwright/<scraper>/<attempt>` when the fix is
/// proven and policy allows it.
pub async fn run(
    request: &RepairRequest,
    progress: &dyn Progress,
) -> Result<RepairReport, RepairError> {
    let inputs = check_inputs(request)?;
    std::fs::create_dir_all(&request.data_dir).map_err(|source| RepairError::DataDir {
        path: request.data_dir.clone(),
        source,
    })?;
    let store_url = format!(
        "sqlite://{}",
        request.data_dir.join("fixwright.db").display()
    );
    let store = Store::open(&store_url).await?;

    progress.step(&format!("diagnosing {}", inputs.scraper.name));
    let diagnosis = steps::diagnose(&inputs.log, inputs.response.as_ref(), &inputs.scraper);
    progress.step(&format!(
        "diagnosis: {} ({})",
        diagnosis.class, diagnosis.decided_by
    ));
    let earlier =
        attempt::for_fingerprint(&store, &inputs.repository, &diagnosis.fingerprint).await?;
    let new = NewAttempt {
        repository: inputs.repository.clone(),
        scraper: inputs.scraper.name.to_string(),
        fingerprint: diagnosis.fingerprint.clone(),
    };
    let created = attempt::create(
        &store,
        &new,
        &format!("{}: {}", diagnosis.class, diagnosis.decided_by),
    )
    .await?;
    let mut report = RepairReport {
        attempt: created.id,
        repository: inputs.repository.clone(),
        scraper: inputs.scraper.name.to_string(),
        state: created.state,
        diagnosis: diagnosis.clone(),
        proposal: None,
        refusal: None,
        policy_refusals: Vec::new(),
        mode: inputs.mode,
        remembered: Vec::new(),
        learned: None,
        replay: None,
        gates: None,
        confidence: None,
        branch: None,
        commit: None,
        diff: None,
        next: String::new(),
    };
    let ctx = Ctx {
        store: &store,
        report: &mut report,
    };
    if let Err(error) = work(request, &inputs, earlier.len() as u32 + 1, ctx, progress).await {
        // The attempt must not stay half-way: a human gets it, with the error.
        let reason = format!("the repair stopped: {error}");
        let _ = attempt::transition(&store, report.attempt, AttemptState::Escalated, &reason).await;
        return Err(error);
    }
    Ok(report)
}

struct Ctx<'a> {
    store: &'a Store,
    report: &'a mut RepairReport,
}

impl Ctx<'_> {
    async fn move_to(&mut self, to: AttemptState, reason: &str) -> Result<(), RepairError> {
        let moved = attempt::transition(self.store, self.report.attempt, to, reason).await?;
        self.report.state = moved.state;
        Ok(())
    }

    async fn give_up(&mut self, reason: String, next: String) -> Result<(), RepairError> {
        self.move_to(AttemptState::Escalated, &reason).await?;
        self.report.refusal = Some(reason);
        self.report.next = next;
        Ok(())
    }
}

async fn work(
    request: &RepairRequest,
    inputs: &Inputs,
    attempt_number: u32,
    mut ctx: Ctx<'_>,
    progress: &dyn Progress,
) -> Result<(), RepairError> {
    let escalate_next =
        "open an alert issue with the diagnosis and notify the maintainers".to_owned();
    if let Some(reason) = inputs.policy.attempts_exhausted(attempt_number) {
        return ctx.give_up(reason, escalate_next).await;
    }
    let Some(failing) = &inputs.response else {
        let reason = "no failing response was given, so there is nothing to heal from".to_owned();
        return ctx.give_up(reason, escalate_next).await;
    };

    let files = scraper_files(&inputs.workspace, &inputs.base, &inputs.scraper)?;
    let fixture = saved_fixture(&files, &inputs.scraper, failing.kind);
    let memory = Memory::new(ctx.store.clone());
    let key = memory_key(&ctx.report.diagnosis);
    if failing.kind == ContentKind::Json {
        record_schemas(
            &memory,
            &inputs.scraper,
            fixture.as_ref(),
            failing,
            progress,
        )
        .await?;
    }
    if let Some((class, host)) = &key {
        ctx.report.remembered = memory.remembered_renames(*class, host.as_ref()).await?;
    }
    if !ctx.report.remembered.is_empty() {
        progress.step(&format!(
            "memory offers {} remembered rename(s), tried first",
            ctx.report.remembered.len()
        ));
    }
    let hits = memory_hits(
        &ctx.report.remembered,
        &ctx.report.diagnosis.class,
        failing.kind,
    );

    progress.step("proposing a fix with the built-in healer");
    let fixture_ref = fixture.as_ref().map(|(path, body)| (path.as_path(), body));
    let fix = match steps::propose(
        &inputs.scraper,
        &files,
        fixture_ref,
        failing,
        &ctx.report.diagnosis,
        &inputs.log,
        &hits,
    )
    .await
    {
        Ok(fix) => fix,
        Err(refusal) => {
            progress.step(&format!("no fix proposed: {refusal}"));
            return ctx.give_up(refusal, escalate_next).await;
        }
    };
    let fixture_path = fixture_target(&inputs.scraper, failing.kind);
    let mut edits: BTreeMap<PathBuf, Vec<u8>> = fix.edits.iter().cloned().collect();
    if let Some(path) = &fixture_path {
        // The new response becomes the scraper's fixture, so its own test
        // proves the fix.
        edits.insert(path.clone(), failing.body.clone());
    }
    ctx.report.proposal = Some(ProposalView {
        agent: fix.agent.clone(),
        strategy: fix.strategy.clone(),
        root_cause: fix.root_cause.clone(),
        rationale: fix.rationale.clone(),
        self_score: fix.score,
        files: edits.keys().map(|p| p.display().to_string()).collect(),
    });
    ctx.move_to(
        AttemptState::Proposed,
        &format!("{}: {}", fix.strategy, fix.root_cause),
    )
    .await?;

    // The diff-size limit is about code: a replaced fixture is data.
    let code_lines = changed_lines(&files, &fix.edits.iter().cloned().collect());
    let refusals = inputs
        .policy
        .check_apply(&edits, code_lines, attempt_number);
    if !refusals.is_empty() {
        progress.step("policy refused the proposal");
        ctx.report.policy_refusals = refusals.clone();
        return ctx
            .give_up(
                format!("policy refused the proposal: {}", refusals.join("; ")),
                escalate_next,
            )
            .await;
    }

    progress.step("preparing the attempt's worktree");
    let worktrees = request.data_dir.join("worktrees");
    let worktree = inputs.workspace.start_attempt(
        &inputs.scraper.name,
        ctx.report.attempt,
        &inputs.base,
        &worktrees,
    )?;
    let proven = prove(request, inputs, &worktree, &edits, failing, progress).await;
    let verdict = match proven {
        Ok(verdict) => verdict,
        Err(error) => {
            inputs.workspace.finish_attempt(worktree, false)?;
            return Err(error);
        }
    };
    ctx.report.replay = Some(verdict.clone());
    let learned = learned_pattern(&files, &fix.edits);
    if !verdict.passed {
        progress.step(&format!("replay failed: {}", verdict.reason));
        inputs.workspace.finish_attempt(worktree, false)?;
        // A fix its own replay disproves counts against the strategy.
        remember(
            &memory,
            &ctx,
            key.as_ref(),
            &fix,
            learned.as_ref(),
            Outcome::GatesFailed,
        )
        .await?;
        return ctx
            .give_up(
                format!("the fix does not pass replay: {}", verdict.reason),
                escalate_next,
            )
            .await;
    }
    progress.step("running ruff, mypy and pytest on the scraper, and on the base for comparison");
    let gated = check_gates(request, inputs, &worktree, ctx.report.attempt).await;
    let gates = match gated {
        Ok(gates) => gates,
        Err(error) => {
            inputs.workspace.finish_attempt(worktree, false)?;
            return Err(error);
        }
    };
    let gate_summary = crate::gates::report::one_line(&gates);
    progress.step(&format!("gates: {gate_summary}"));
    ctx.report.gates = Some(gates.clone());
    ctx.move_to(
        AttemptState::Proven,
        &format!("replay passed: {}; gates: {gate_summary}", verdict.reason),
    )
    .await?;

    let rate = strategy_record(ctx.store, &fix.strategy, &ctx.report.diagnosis.class).await;
    let evidence = steps::ProofEvidence {
        verdict: &verdict,
        gates: Some(&gates),
        code_lines,
        strategy_rate: rate,
    };
    let confidence = steps::score(ctx.store, &inputs.policy, &fix, &evidence).await?;
    progress.step(&format!(
        "confidence {:.3} ({})",
        confidence.calibrated, confidence.band
    ));
    let merge = inputs.policy.check_merge(
        &edits,
        code_lines,
        attempt_number,
        confidence.band,
        &gates.failed_gates(),
    );
    ctx.report.confidence = Some(confidence.clone());

    if !inputs.mode.mode.writes() {
        // Dry run: everything but the write. The attempt stays proven and
        // memory learns nothing, since no fix exists to have an outcome.
        inputs.workspace.finish_attempt(worktree, false)?;
        ctx.report.policy_refusals = merge.refusals.clone();
        ctx.report.next = format!(
            "nothing: the mode in force is {} (set by {}), so no branch was written; with writes on it would {}",
            inputs.mode.mode,
            inputs.mode.source(),
            next_step(&confidence, &merge)
        );
        return Ok(());
    }

    let summary = format!("fix({}): {}", inputs.scraper.name, fix.summary());
    let body = format!(
        "Diagnosis: {} ({}).\nRoot cause: {}\n{}\nReplay: {}.",
        ctx.report.diagnosis.class,
        ctx.report.diagnosis.decided_by,
        fix.root_cause,
        fix.rationale,
        verdict.reason
    );
    let message =
        workspace::commit_message(&summary, &body, ctx.report.attempt, confidence.calibrated);
    let committed = worktree.commit(&message);
    let branch = worktree.branch.clone();
    let commit = match committed {
        Ok(commit) => commit,
        Err(error) => {
            inputs.workspace.finish_attempt(worktree, false)?;
            return Err(error.into());
        }
    };
    inputs.workspace.finish_attempt(worktree, true)?;
    attempt::set_branch(ctx.store, ctx.report.attempt, &branch).await?;
    ctx.move_to(
        AttemptState::Committed,
        &format!("committed {commit} on {branch}"),
    )
    .await?;
    progress.step(&format!("committed {} on {branch}", &commit.as_str()[..12]));
    // Proposed: undecided until the pull request is merged, verified or
    // reverted (`Memory::update_outcome` with the attempt's id).
    remember(
        &memory,
        &ctx,
        key.as_ref(),
        &fix,
        learned.as_ref(),
        Outcome::Proposed,
    )
    .await?;
    ctx.report.learned = learned;
    ctx.report.diff = Some(inputs.workspace.diff(&inputs.base, &commit)?);
    ctx.report.branch = Some(branch);
    ctx.report.commit = Some(commit);
    ctx.report.policy_refusals = merge.refusals.clone();
    ctx.report.next = next_step(&confidence, &merge);
    Ok(())
}

/// Memory's key for a diagnosis: its error class and upstream host; none
/// when the class is not one memory knows.
fn memory_key(diagnosis: &DiagnosisView) -> Option<(ErrorClass, Option<UpstreamHost>)> {
    let class = diagnosis.class.parse::<ErrorClass>().ok()?;
    let host = diagnosis.upstream_host.as_deref().map(UpstreamHost::new);
    Some((class, host))
}

/// Remembered renames as the agent contract's memory hits, with each
/// pattern's own record read through the same prior as strategy rates.
fn memory_hits(remembered: &[RememberedRename], class: &str, kind: ContentKind) -> Vec<MemoryHit> {
    remembered
        .iter()
        .map(|r| MemoryHit {
            error_class: class.to_owned(),
            strategy: steps::heal_strategy(kind),
            before: r.before.clone(),
            after: r.after.clone(),
            success_rate: Rate::new(r.successes, r.failures).estimate(),
        })
        .collect()
}

/// The first literal the fix rewrote, as `(before, after)`: the pattern a
/// later repair of the same class and host tries first. Memory keeps one
/// pattern per attempt.
fn learned_pattern(
    files: &BTreeMap<PathBuf, Vec<u8>>,
    edits: &[(PathBuf, Vec<u8>)],
) -> Option<(String, String)> {
    edits.iter().find_map(|(path, new)| {
        let old = files.get(path)?;
        steps::literal_changes(&String::from_utf8_lossy(old), &String::from_utf8_lossy(new))
            .into_iter()
            .next()
    })
}

/// Records the attempt's fix pattern and its outcome so far.
async fn remember(
    memory: &Memory,
    ctx: &Ctx<'_>,
    key: Option<&(ErrorClass, Option<UpstreamHost>)>,
    fix: &steps::Fix,
    learned: Option<&(String, String)>,
    outcome: Outcome,
) -> Result<(), RepairError> {
    let Some((class, host)) = key else {
        return Ok(());
    };
    let record = OutcomeRecord {
        attempt: ctx.report.attempt.ulid(),
        scraper: ScraperName::new(ctx.report.scraper.as_str()),
        class: *class,
        upstream_host: host.clone(),
        strategy: Strategy::new(fix.strategy.as_str()),
        before: learned.map(|(b, _)| b.clone()),
        after: learned.map(|(_, a)| a.clone()),
        outcome,
    };
    memory.record_outcome(&record, chrono::Utc::now()).await?;
    Ok(())
}

/// Records the JSON shapes the scraper's responses had: the saved fixture
/// first when memory has no history for the scraper yet (it is the shape the
/// scraper was written against), then the failing response.
async fn record_schemas(
    memory: &Memory,
    scraper: &Scraper,
    fixture: Option<&(PathBuf, SavedResponse)>,
    failing: &SavedResponse,
    progress: &dyn Progress,
) -> Result<(), RepairError> {
    let name = ScraperName::new(scraper.name.as_str());
    let now = chrono::Utc::now();
    if memory.schema_history(&name).await?.is_empty()
        && let Some((_, saved)) = fixture
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&saved.body)
    {
        memory.record_schema(&name, &value, now).await?;
    }
    // The response was sniffed as JSON; a body that still does not parse has
    // no shape to record, and the healer reports it.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&failing.body) {
        let change = memory.record_schema(&name, &value, now).await?;
        if !change.is_unchanged() && !change.first {
            progress.step(&format!(
                "response shape changed: {} path(s) gone, {} new",
                change.missing.len(),
                change.added.len()
            ));
        }
    }
    Ok(())
}

/// Successes and failures of `strategy` on `class` so far; none when memory
/// has no record (or cannot be read, which only makes the score humbler).
async fn strategy_record(store: &Store, strategy: &str, class: &str) -> (u64, u64) {
    let Ok(class) = class.parse::<crate::incident::ErrorClass>() else {
        return (0, 0);
    };
    let memory = crate::memory::Memory::new(store.clone());
    match memory
        .strategy_rate(&crate::memory::Strategy::new(strategy), class)
        .await
    {
        Ok(rate) => (rate.successes, rate.failures),
        Err(_) => (0, 0),
    }
}

/// The quality gates on the attempt's worktree (the fix applied, not yet
/// committed), scoped to the scraper and compared with the base commit, so
/// only findings the fix introduced count. The run is named by the attempt's
/// id, which its check runs carry as `external_id`.
async fn check_gates(
    request: &RepairRequest,
    inputs: &Inputs,
    worktree: &AttemptWorktree,
    attempt: AttemptId,
) -> Result<GateRun, RepairError> {
    let mut settings = GateSettings::new(request.data_dir.join("gates"));
    settings.layout = inputs.policy.layout()?;
    // The worktree is thrown away after the attempt: its bytecode would be
    // of no use to a later run.
    settings.bytecode_cache = None;
    let gate_request = GateRequest {
        repo: worktree.path.clone(),
        target: Target::Scraper(inputs.scraper.name.to_string()),
        baseline: Some(inputs.base.to_string()),
        run_id: Some(attempt.to_string()),
    };
    let provisioner = Provisioner::new(env_cache(request));
    Ok(run_gates(&gate_request, &settings, &provisioner, &|_| {}).await?)
}

/// Where the job's Python environments are cached.
fn env_cache(request: &RepairRequest) -> PathBuf {
    request
        .env_cache
        .clone()
        .unwrap_or_else(|| request.data_dir.join("venvs"))
}

/// The proof: baseline from the original code on its fixture, then the
/// edited code on the failing response, both in the attempt's worktree.
async fn prove(
    request: &RepairRequest,
    inputs: &Inputs,
    worktree: &AttemptWorktree,
    edits: &BTreeMap<PathBuf, Vec<u8>>,
    failing: &SavedResponse,
    progress: &dyn Progress,
) -> Result<ReplayVerdict, RepairError> {
    progress.step(
        "provisioning the scraper's Python environment (first run installs its requirements)",
    );
    // One environment for the replay and the gates: the repository's own
    // requirements plus the gates' pinned tools.
    let env = Provisioner::new(env_cache(request))
        .provision(&EnvInputs {
            repo: worktree.path.clone(),
            extra_requirements: ToolPins::default().requirements(),
        })
        .await?;
    if env.reused {
        progress.step(&format!("reusing environment {}", env.root.display()));
    }
    let replayer = Replayer::new(request.data_dir.join("replay"));
    progress.step("replaying the original scraper on its saved fixture");
    let fixture = scraper_fixture_on_disk(&worktree.path, &inputs.scraper, failing.kind);
    let baseline = match &fixture {
        Some(fixture) => Some(
            replayer
                .extract(&env, &worktree.path, &inputs.scraper, fixture)
                .await?,
        ),
        None => None,
    };
    for (path, content) in edits {
        worktree.write_file(path, content)?;
    }
    progress.step("replaying the fixed scraper on the failing response");
    let candidate = replayer
        .extract(&env, &worktree.path, &inputs.scraper, failing)
        .await?;
    Ok(replay::verdict(baseline, candidate))
}

/// The scraper's files at `base`, by path.
fn scraper_files(
    workspace: &Workspace,
    base: &CommitSha,
    scraper: &Scraper,
) -> Result<BTreeMap<PathBuf, Vec<u8>>, RepairError> {
    let mut files = BTreeMap::new();
    for path in scraper.files() {
        if let Some(content) = workspace.read_at(base, &path)? {
            files.insert(path, content);
        }
    }
    Ok(files)
}

/// The scraper's saved fixture of the same kind as the failing response.
fn saved_fixture(
    files: &BTreeMap<PathBuf, Vec<u8>>,
    scraper: &Scraper,
    kind: ContentKind,
) -> Option<(PathBuf, SavedResponse)> {
    scraper.fixtures.iter().find_map(|path| {
        let body = files.get(path)?;
        (ContentKind::sniff(body) == Some(kind)).then(|| {
            (
                path.clone(),
                SavedResponse {
                    body: body.clone(),
                    kind,
                    url: None,
                },
            )
        })
    })
}

fn scraper_fixture_on_disk(
    checkout: &Path,
    scraper: &Scraper,
    kind: ContentKind,
) -> Option<SavedResponse> {
    scraper.fixtures.iter().find_map(|path| {
        let body = std::fs::read(checkout.join(path)).ok()?;
        (ContentKind::sniff(&body) == Some(kind)).then_some(SavedResponse {
            body,
            kind,
            url: None,
        })
    })
}

/// Where the failing response is saved as the new fixture: over the fixture
/// of the same kind, else as `<name>.html|json` in the fixtures directory;
/// `None` when the repository keeps no fixtures.
pub fn fixture_target(scraper: &Scraper, kind: ContentKind) -> Option<PathBuf> {
    let extension = match kind {
        ContentKind::Html => "html",
        ContentKind::Json => "json",
    };
    scraper
        .fixtures
        .iter()
        .find(|f| {
            f.extension()
                .is_some_and(|e| e == extension || (extension == "html" && e == "htm"))
        })
        .cloned()
        .or_else(|| {
            scraper
                .fixtures_dir
                .as_ref()
                .map(|dir| dir.join(format!("{}.{extension}", scraper.name)))
        })
}

/// Lines added plus lines removed, counted per file by a line-set difference
/// (fixtures included).
pub fn changed_lines(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
) -> u32 {
    let mut total = 0usize;
    for (path, new) in after {
        let old = before
            .get(path)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let new = String::from_utf8_lossy(new);
        let mut old_lines: BTreeMap<&str, i64> = BTreeMap::new();
        for line in old.lines() {
            *old_lines.entry(line).or_default() += 1;
        }
        let mut added = 0usize;
        for line in new.lines() {
            match old_lines.get_mut(line) {
                Some(count) if *count > 0 => *count -= 1,
                _ => added += 1,
            }
        }
        let removed: i64 = old_lines.values().filter(|c| **c > 0).sum();
        total += added + removed.max(0) as usize;
    }
    u32::try_from(total).unwrap_or(u32::MAX)
}

/// What Fixwright would do next on GitHub with a committed fix.
pub fn next_step(confidence: &ConfidenceView, merge: &steps::MergeDecision) -> String {
    match confidence.band {
        Band::High if merge.allowed => "push the branch, open a pull request labelled `fixwright: high`, merge it with the head SHA as guard once the gates are green, let the deploy workflow ship it, and verify the scraper's next run (revert automatically if it fails)".to_owned(),
        Band::High => format!(
            "push the branch and open a pull request labelled `fixwright: high` for review: policy does not allow an automatic merge ({})",
            merge.refusals.join("; ")
        ),
        Band::Medium => "push the branch, open a pull request labelled `fixwright: medium` and request review from the scraper's code owners".to_owned(),
        Band::Low => "push the branch as a draft pull request labelled `fixwright: low`, and open an alert issue with the diagnosis for a human".to_owned(),
    }
}

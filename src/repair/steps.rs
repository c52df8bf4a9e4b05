//! The repair job's calls into the other parts of the loop: diagnosis
//! (`incident`), the proposal (the built-in healer), policy and confidence.
//! Each returns the plain view the report shows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::job::RepairError;
use super::replay::{ContentKind, ReplayVerdict, SavedResponse};
use super::scraper::{Layout, Scraper, ScraperName};
use crate::agents::contract::{
    self, AgentName, AgentRequest, CONTRACT_VERSION, Change, Document, DocumentFormat, MemoryHit,
    SourceFile, Strategy, TaskKind,
};
use crate::agents::{Agent, healer::Healer};
use crate::confidence::{self, Band, Replay, score::GateSummary};
use crate::gates::GateRun;
use crate::incident::{self, Evidence, FailingResponse};
use crate::policy::{self, CedarPolicy, ProposalFacts, RepoPolicy};
use crate::store::Store;

/// The diagnosis as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct DiagnosisView {
    pub class: String,
    /// The rule that decided the class.
    pub decided_by: String,
    /// The lines of evidence, decisive first.
    pub evidence: Vec<String>,
    pub fingerprint: String,
    pub upstream_host: Option<String>,
}

/// Diagnoses the failure from the log and the response.
pub fn diagnose(log: &str, response: Option<&SavedResponse>, scraper: &Scraper) -> DiagnosisView {
    let evidence = Evidence {
        log: log.to_owned(),
        response: response.map(|r| FailingResponse {
            url: r.url.as_deref().and_then(|u| url::Url::parse(u).ok()),
            status: None,
            content_type: Some(
                match r.kind {
                    ContentKind::Html => "text/html",
                    ContentKind::Json => "application/json",
                }
                .to_owned(),
            ),
            body: r.body.clone(),
        }),
        scraper: Some(incident::ScraperName::new(scraper.name.as_str())),
        scraper_files: scraper
            .files()
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    };
    let diagnosis = incident::classify(&evidence);
    let decisive = diagnosis.decisive();
    DiagnosisView {
        class: diagnosis.class.as_str().to_owned(),
        decided_by: decisive.rule.as_str().to_owned(),
        evidence: diagnosis
            .reasons
            .iter()
            .map(|r| format!("{}: {}", r.rule.as_str(), r.excerpt))
            .collect(),
        fingerprint: diagnosis.fingerprint.to_string(),
        upstream_host: diagnosis
            .upstream_host
            .as_ref()
            .map(|h| h.as_str().to_owned()),
    }
}

/// A proposed fix: whole-file edits and what the agent said about them.
#[derive(Clone, Debug)]
pub struct Fix {
    pub agent: String,
    pub strategy: String,
    pub root_cause: String,
    pub rationale: String,
    /// The agent's own score in [0, 1].
    pub score: f64,
    pub edits: Vec<(PathBuf, Vec<u8>)>,
}

impl Fix {
    /// One line for a commit subject.
    pub fn summary(&self) -> String {
        match self.strategy.as_str() {
            "selector_heal" => "heal selectors after a page change".to_owned(),
            "json_key_heal" => "heal JSON keys after an API change".to_owned(),
            other => format!("{other} fix"),
        }
    }
}

fn document(response: &SavedResponse, path: Option<&Path>) -> Document {
    Document {
        format: match response.kind {
            ContentKind::Html => DocumentFormat::Html,
            ContentKind::Json => DocumentFormat::Json,
        },
        body: String::from_utf8_lossy(&response.body).into_owned(),
        path: path.map(|p| p.display().to_string()),
        url: response.url.clone(),
        status: None,
    }
}

fn strategy_name(strategy: &Strategy) -> String {
    match strategy {
        Strategy::SelectorHeal => "selector_heal".into(),
        Strategy::JsonKeyHeal => "json_key_heal".into(),
        Strategy::Refuse => "refuse".into(),
        Strategy::Other(name) => name.clone(),
    }
}

/// Asks the built-in healer (through the agent contract) for a fix of the
/// scraper's module. `Err` carries the reason when it refuses or cannot help.
pub async fn propose(
    scraper: &Scraper,
    files: &BTreeMap<PathBuf, Vec<u8>>,
    fixture: Option<(&Path, &SavedResponse)>,
    failing: &SavedResponse,
    diagnosis: &DiagnosisView,
    log: &str,
    memory: &[MemoryHit],
) -> Result<Fix, String> {
    let Some((fixture_path, fixture)) = fixture else {
        return Err(format!(
            "{} has no saved {} fixture to learn the expected data from",
            scraper.name,
            kind_name(failing.kind)
        ));
    };
    // Only the module is the healer's to edit; the fixture travels as evidence.
    let module = files
        .get(&scraper.module)
        .ok_or_else(|| format!("cannot read {}", scraper.module.display()))?;
    let request = AgentRequest {
        version: CONTRACT_VERSION,
        agent: AgentName("healer".into()),
        task: TaskKind::Fix,
        scraper: contract::ScraperName(scraper.name.to_string()),
        files: vec![SourceFile {
            path: scraper.module.display().to_string(),
            content: String::from_utf8_lossy(module).into_owned(),
        }],
        evidence: contract::Evidence {
            error_class: Some(diagnosis.class.clone()),
            fingerprint: Some(diagnosis.fingerprint.clone()),
            log_excerpt: (!log.is_empty()).then(|| tail_lines(log, 40)),
            fixture: Some(document(fixture, Some(fixture_path))),
            response: Some(document(failing, None)),
        },
        memory: memory.to_vec(),
        attempts: Vec::new(),
        hints: Vec::new(),
        budget: contract::Budget::default(),
    };
    let healer = Healer;
    let proposal = healer
        .invoke(&request)
        .await
        .map_err(|e| format!("the healer failed: {e}"))?;
    if proposal.strategy == Strategy::Refuse || proposal.edits.is_empty() {
        return Err(format!(
            "the healer refused (its score {:.2}): {}",
            proposal.confidence,
            one_line(&proposal.rationale)
        ));
    }
    let mut edits = Vec::new();
    for edit in proposal.edits {
        match edit.change {
            Change::Content { content } => {
                edits.push((PathBuf::from(edit.path), content.into_bytes()))
            }
            Change::Diff { .. } => {
                return Err(format!(
                    "the healer sent a diff for {}, which this job does not apply",
                    edit.path
                ));
            }
        }
    }
    Ok(Fix {
        agent: healer.name().to_owned(),
        strategy: strategy_name(&proposal.strategy),
        root_cause: proposal.root_cause,
        rationale: proposal.rationale,
        score: proposal.confidence,
        edits,
    })
}

/// The contract's strategy for a heal of `kind`: what a remembered rename of
/// that kind of response was found by.
pub fn heal_strategy(kind: ContentKind) -> Strategy {
    match kind {
        ContentKind::Html => Strategy::SelectorHeal,
        ContentKind::Json => Strategy::JsonKeyHeal,
    }
}

/// The selector and key literals whose value an edit changed, as
/// `(before, after)`, in source order. The healer edits literal values only,
/// so the literals of the two versions pair up one to one; when they do not
/// (a file that does not parse, a literal added or removed) there is no
/// pattern to remember and the answer is empty.
pub fn literal_changes(before: &str, after: &str) -> Vec<(String, String)> {
    let (Ok(old), Ok(new)) = (
        crate::heal::source::find_literals(before),
        crate::heal::source::find_literals(after),
    ) else {
        return Vec::new();
    };
    if old.len() != new.len() {
        return Vec::new();
    }
    old.into_iter()
        .zip(new)
        .filter(|(a, b)| a.value != b.value)
        .map(|(a, b)| (a.value, b.value))
        .collect()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn kind_name(kind: ContentKind) -> &'static str {
    match kind {
        ContentKind::Html => "HTML",
        ContentKind::Json => "JSON",
    }
}

/// The repository's policy (`.github/fixwright.yml` and
/// `.github/fixwright.cedar`) for one scraper, and the decisions made from it.
#[derive(Debug)]
pub struct PolicyContext {
    policy: RepoPolicy,
    cedar: CedarPolicy,
    scraper: policy::ScraperName,
    /// The files of longer-named scrapers that this scraper's patterns also cover.
    claims: Vec<(policy::ScraperName, Vec<policy::glob::Pattern>)>,
}

/// Reads the repository's `.github/fixwright.yml`; a bad policy file is an
/// input error naming the file, line and field.
pub fn read_policy(repo: &Path) -> Result<RepoPolicy, RepairError> {
    RepoPolicy::load(repo).map_err(|e| RepairError::Policy(e.to_string()))
}

/// Where scrapers live by `policy`; a pattern the scraper finder cannot follow
/// is a policy error naming its field.
pub fn layout(policy: &RepoPolicy) -> Result<Layout, RepairError> {
    Layout::from_policy(policy).map_err(|e| RepairError::Policy(e.to_string()))
}

impl PolicyContext {
    /// The policy for `scraper` among the repository's `others` (whose files
    /// it may not touch where its patterns also cover them), with the
    /// repository's `.github/fixwright.cedar`.
    pub fn new(
        repo: &Path,
        policy: RepoPolicy,
        scraper: &ScraperName,
        others: &[ScraperName],
    ) -> Result<Self, RepairError> {
        let bad = |e: &dyn std::fmt::Display| RepairError::Policy(e.to_string());
        let name = policy::ScraperName::new(scraper.as_str()).map_err(|e| bad(&e))?;
        let others = super::scraper::policy_names(others);
        let cedar = CedarPolicy::load(repo, &policy, &name, &others).map_err(|e| bad(&e))?;
        let claims = policy.claimed_by_others(&name, &others);
        Ok(PolicyContext {
            policy,
            cedar,
            scraper: name,
            claims,
        })
    }
}

/// Whether a fix may be merged without a human, and if not why.
#[derive(Clone, Debug, Serialize)]
pub struct MergeDecision {
    pub allowed: bool,
    pub refusals: Vec<String>,
}

impl PolicyContext {
    /// Where scrapers live in this repository; a pattern the scraper finder
    /// cannot follow is a policy error naming its field.
    pub fn layout(&self) -> Result<Layout, RepairError> {
        layout(&self.policy)
    }

    /// Applies the repository's own `tests` and `fixtures` patterns, when
    /// `.github/fixwright.yml` gives them, to the scraper found by the layout:
    /// its tests and fixtures become the files of `repo_files` they match,
    /// except another scraper's (see [`RepoPolicy::claimed_by_others`]).
    pub fn refine(&self, scraper: &mut Scraper, repo_files: &[String]) {
        let [_, (_, tests), (_, fixtures)] = self.policy.scraper_globs_by_kind();
        let matching = |globs: &[policy::Glob]| -> Vec<PathBuf> {
            let patterns: Vec<_> = globs.iter().map(|g| g.expand(&self.scraper)).collect();
            repo_files
                .iter()
                .filter(|f| patterns.iter().any(|p| p.matches(f)))
                .filter(|f| policy::rules::owner(&self.claims, f).is_none())
                .map(PathBuf::from)
                .collect()
        };
        if self.policy.scrapers.tests.is_some() {
            scraper.tests = matching(&tests);
        }
        if self.policy.scrapers.fixtures.is_some() {
            scraper.fixtures = matching(&fixtures);
            if let Some(dir) = scraper.fixtures.first().and_then(|f| f.parent()) {
                scraper.fixtures_dir = Some(dir.to_path_buf());
            }
        }
    }

    /// Why attempt number `attempt` may not run, if it may not.
    pub fn attempts_exhausted(&self, attempt: u32) -> Option<String> {
        let limit = self.policy.limits.max_attempts;
        (attempt > limit).then(|| policy::Refusal::AttemptsExhausted { attempt, limit }.to_string())
    }

    fn facts(
        &self,
        edits: &BTreeMap<PathBuf, Vec<u8>>,
        code_lines: u32,
        attempt: u32,
        band: Band,
        replay: Replay,
        failed_gates: &[String],
    ) -> ProposalFacts {
        ProposalFacts {
            agent: "healer".into(),
            scraper: self.scraper.clone(),
            paths: edits.keys().map(|p| p.display().to_string()).collect(),
            diff_lines: code_lines,
            attempt,
            // The built-in healer makes no model call; this one invocation
            // is all this job spends.
            agent_calls_last_hour: 1,
            agent_calls_last_day: 1,
            band,
            failed_gates: failed_gates.to_vec(),
            replay,
        }
    }

    /// Every reason the edits may not be committed to a repair branch
    /// (paths outside the scraper's files or protected, diff size, attempts),
    /// decided by the repository's Cedar policy set. `code_lines` counts the
    /// changed lines of code; a replaced fixture is data and is not counted.
    pub fn check_apply(
        &self,
        edits: &BTreeMap<PathBuf, Vec<u8>>,
        code_lines: u32,
        attempt: u32,
    ) -> Vec<String> {
        let facts = self.facts(edits, code_lines, attempt, Band::Low, Replay::NotRun, &[]);
        self.cedar
            .decide(&facts)
            .apply
            .refusals
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Whether the proven fix may be merged without a human. `failed_gates`
    /// names the checks (`fixwright/mypy`, ...) that did not pass.
    pub fn check_merge(
        &self,
        edits: &BTreeMap<PathBuf, Vec<u8>>,
        code_lines: u32,
        attempt: u32,
        band: Band,
        failed_gates: &[String],
    ) -> MergeDecision {
        let facts = self.facts(
            edits,
            code_lines,
            attempt,
            band,
            Replay::Passed,
            failed_gates,
        );
        let merge = self.cedar.decide(&facts).merge;
        MergeDecision {
            allowed: merge.allowed,
            refusals: merge.refusals.iter().map(ToString::to_string).collect(),
        }
    }

    /// The repository's own `mode:` (before Fixwright's global switch).
    pub fn mode(&self) -> policy::Mode {
        self.policy.mode
    }
}

/// Fixwright's global switch in the repository policy's terms. The one place
/// the two enums meet: both say the same three things.
pub fn global_mode(mode: crate::config::RepairMode) -> policy::Mode {
    match mode {
        crate::config::RepairMode::On => policy::Mode::On,
        crate::config::RepairMode::DryRun => policy::Mode::DryRun,
        crate::config::RepairMode::Off => policy::Mode::Off,
    }
}

/// The mode in force and which switch decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ModeInForce {
    pub mode: policy::Mode,
    /// Fixwright's own switch (`FIXWRIGHT_MODE`).
    pub global: policy::Mode,
    /// The repository's `mode:` in `.github/fixwright.yml`.
    pub repository: policy::Mode,
}

impl ModeInForce {
    /// The stricter of the two switches (`policy::effective_mode`).
    pub fn new(global: policy::Mode, repository: policy::Mode) -> Self {
        Self {
            mode: policy::effective_mode(global, repository),
            global,
            repository,
        }
    }

    /// Which switch set the mode in force, for messages.
    pub fn source(&self) -> &'static str {
        match self.global.cmp(&self.repository) {
            std::cmp::Ordering::Less => "Fixwright's own configuration (FIXWRIGHT_MODE)",
            std::cmp::Ordering::Greater => ".github/fixwright.yml",
            std::cmp::Ordering::Equal => {
                "both Fixwright's own configuration and .github/fixwright.yml"
            }
        }
    }
}

/// One factor of a confidence score.
#[derive(Clone, Debug, Serialize)]
pub struct Factor {
    pub name: String,
    /// The factor's value in [0, 1].
    pub value: f64,
    pub weight: f64,
    /// `value * weight`.
    pub contribution: f64,
    pub note: String,
}

/// The confidence in a proven fix, with its breakdown.
#[derive(Clone, Debug, Serialize)]
pub struct ConfidenceView {
    pub raw: f64,
    pub calibrated: f64,
    pub band: Band,
    pub factors: Vec<Factor>,
    /// Why the raw score was capped, if it was.
    pub cap: Option<String>,
    /// What the calibration in force was fitted on.
    pub calibration: Option<String>,
}

/// What a fix's proof found, for scoring.
#[derive(Clone, Copy, Debug)]
pub struct ProofEvidence<'a> {
    pub verdict: &'a ReplayVerdict,
    /// The gates on the change, when they ran.
    pub gates: Option<&'a GateRun>,
    /// Changed lines of code (fixtures not counted).
    pub code_lines: u32,
    /// The strategy's (successes, failures) on this error class.
    pub strategy_rate: (u64, u64),
}

/// Scores a proven fix from independent evidence (the agent's own score, the
/// replay, the gates, the size of the code change, the strategy's track
/// record) with the calibration in force for this installation.
pub async fn score(
    store: &Store,
    policy: &PolicyContext,
    fix: &Fix,
    proof: &ProofEvidence<'_>,
) -> Result<ConfidenceView, RepairError> {
    let (successes, failures) = proof.strategy_rate;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let evidence = confidence::Evidence {
        proposal_score: fix.score,
        replay: if proof.verdict.passed {
            Replay::Passed
        } else {
            Replay::Failed
        },
        gates: proof.gates.map(|run| {
            let failed = run.failed_gates().len();
            GateSummary {
                passed: count(run.gates.len() - failed),
                failed: count(failed),
            }
        }),
        diff_lines: proof.code_lines,
        within_scraper: true,
        strategy_history: confidence::Rate {
            successes: u32::try_from(successes).unwrap_or(u32::MAX),
            trials: u32::try_from(successes + failures).unwrap_or(u32::MAX),
        },
    };
    let calibration = confidence::outcomes::current_calibration(store)
        .await
        .map_err(|e| RepairError::Calibration(e.to_string()))?;
    let assessed = confidence::assess(&evidence, &calibration, &policy.policy.bands);
    Ok(ConfidenceView {
        raw: assessed.raw,
        calibrated: assessed.calibrated,
        band: assessed.band,
        factors: assessed
            .factors
            .iter()
            .map(|f| Factor {
                name: f.name.to_owned(),
                value: f.score,
                weight: f.weight,
                contribution: f.contribution,
                note: match (f.name, proof.gates) {
                    ("gates", Some(run)) => gates_note(&f.note, run),
                    _ => f.note.clone(),
                },
            })
            .collect(),
        cap: assessed.cap,
        calibration: calibration.source().map(str::to_owned),
    })
}

/// The gates factor's note, naming the first new finding of each gate that
/// did not pass.
fn gates_note(counts: &str, run: &GateRun) -> String {
    let failures: Vec<String> = run
        .gates
        .iter()
        .filter(|g| !g.passed())
        .map(|g| match g.new.first() {
            Some(f) => format!(
                "{} failed: {}:{} [{}] {}",
                g.tool,
                f.path,
                f.line,
                f.rule,
                one_line(f.message.lines().next().unwrap_or_default())
            ),
            None => format!("{} could not run", g.tool),
        })
        .collect();
    if failures.is_empty() {
        counts.to_owned()
    } else {
        format!("{counts}; {}", failures.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RepairMode;
    use crate::policy::Mode;

    #[test]
    fn literal_changes_pairs_the_rewritten_literals_in_order() {
        let before = "def parse(self, response):\n    for b in response.css(\"article.old\"):\n        yield {\"t\": b.css(\"h3 a::text\").get()}\n";
        let after = before.replace("article.old", "article.new");
        assert_eq!(
            literal_changes(before, &after),
            vec![("article.old".to_owned(), "article.new".to_owned())]
        );
        assert!(literal_changes(before, before).is_empty());
        // A literal added or removed: no pattern to remember.
        let more = format!("{before}    x = response.css(\"p.extra\")\n");
        assert!(literal_changes(before, &more).is_empty());
    }

    /// A repository with `books` and `books_api`: `tests/files/{name}*` covers
    /// `books_api`'s fixture for `books` too, but a fix of `books` may not touch it.
    #[test]
    fn a_fix_leaves_the_files_of_a_scraper_with_a_longer_name_alone() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path();
        for (path, text) in [
            ("scrapers/books.py", "def parse(text):\n    return []\n"),
            ("scrapers/books_api.py", "def parse(text):\n    return []\n"),
            ("tests/files/books.html", "<html></html>"),
            ("tests/files/books_api.json", "{}"),
        ] {
            let path = root.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
            }
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        }
        let policy = read_policy(root).unwrap_or_else(|e| panic!("{e}"));
        let layout = layout(&policy).unwrap_or_else(|e| panic!("{e}"));
        let (books, others) = super::super::scraper::find_among(root, "books", &layout)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(books.fixtures, [PathBuf::from("tests/files/books.html")]);
        let context = PolicyContext::new(root, policy, &books.name, &others)
            .unwrap_or_else(|e| panic!("{e}"));
        let edits = |paths: &[&str]| -> BTreeMap<PathBuf, Vec<u8>> {
            paths
                .iter()
                .map(|p| (PathBuf::from(p), b"x".to_vec()))
                .collect()
        };
        assert_eq!(
            context.check_apply(
                &edits(&["scrapers/books.py", "tests/files/books.html"]),
                2,
                1
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            context.check_apply(&edits(&["tests/files/books_api.json"]), 0, 1),
            ["path `tests/files/books_api.json` is one of scraper `books_api`'s files"]
        );

        // The repository's own fixture pattern, which covers both, gives `books`
        // only its own.
        std::fs::create_dir_all(root.join(".github")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            root.join(".github/fixwright.yml"),
            "scrapers:\n  fixtures: [\"tests/files/{name}*\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let policy = read_policy(root).unwrap_or_else(|e| panic!("{e}"));
        let context = PolicyContext::new(root, policy, &books.name, &others)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut refined = books.clone();
        let files = ["tests/files/books.html", "tests/files/books_api.json"].map(str::to_owned);
        context.refine(&mut refined, &files);
        assert_eq!(refined.fixtures, [PathBuf::from("tests/files/books.html")]);
    }

    #[test]
    fn the_stricter_switch_is_in_force_and_is_named() {
        for (global, repo, want) in [
            (RepairMode::Off, Mode::On, Mode::Off),
            (RepairMode::On, Mode::Off, Mode::Off),
            (RepairMode::DryRun, Mode::On, Mode::DryRun),
            (RepairMode::On, Mode::DryRun, Mode::DryRun),
            (RepairMode::On, Mode::On, Mode::On),
        ] {
            let mode = ModeInForce::new(global_mode(global), repo);
            assert_eq!(mode.mode, want, "{global:?} + {repo:?}");
        }
        let global_off = ModeInForce::new(global_mode(RepairMode::Off), Mode::On);
        assert!(global_off.source().contains("FIXWRIGHT_MODE"));
        let repo_dry = ModeInForce::new(Mode::On, Mode::DryRun);
        assert_eq!(repo_dry.source(), ".github/fixwright.yml");
    }
}

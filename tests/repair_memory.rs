//! The repair job with memory and the global switch, end to end on real git
//! copies of the example repository, the real Python and a real SQLite store:
//! a second repair of the same drift tries the remembered rename first and
//! the strategy's rate moves with outcomes; Fixwright's own `off` wins over a
//! repository's `on`; a global `dry-run` writes nothing.

use std::path::{Path, PathBuf};

use fixwright::cli::demo::{self, Case};
use fixwright::incident::{ErrorClass, ScraperName};
use fixwright::memory::{Memory, Outcome, Rate, Strategy};
use fixwright::policy::Mode;
use fixwright::repair::attempt::AttemptState;
use fixwright::repair::job::{self, Progress, RepairReport, RepairRequest};
use fixwright::store::Store;

struct Quiet;
impl Progress for Quiet {
    fn step(&self, _: &str) {}
}

fn env_cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/test-venvs")
}

/// A fresh copy of the example repository broken as `case`, in `dir`.
fn broken_copy(case: Case, dir: &Path, data: &Path, mode: Mode) -> RepairRequest {
    let (repo, log, response) =
        demo::prepare(case, dir).unwrap_or_else(|e| panic!("prepare {}: {e}", dir.display()));
    let (scraper, _, url) = case.parts();
    RepairRequest {
        repo,
        scraper: scraper.into(),
        log: Some(log),
        response: Some(response),
        response_url: Some(url.into()),
        data_dir: data.to_path_buf(),
        env_cache: Some(env_cache()),
        mode,
    }
}

async fn memory(data: &Path) -> Memory {
    let url = format!("sqlite://{}", data.join("fixwright.db").display());
    let store = Store::open(&url)
        .await
        .unwrap_or_else(|e| panic!("store {url}: {e}"));
    Memory::new(store)
}

async fn selector_heal_rate(memory: &Memory) -> Rate {
    memory
        .strategy_rate(&Strategy::new("selector_heal"), ErrorClass::SelectorDrift)
        .await
        .unwrap_or_else(|e| panic!("rate: {e}"))
}

fn history_factor(report: &RepairReport) -> f64 {
    report
        .confidence
        .as_ref()
        .and_then(|c| c.factors.iter().find(|f| f.name == "history"))
        .map(|f| f.value)
        .unwrap_or_else(|| panic!("no history factor: {:?}", report.confidence))
}

/// Every reference of the repository with its target, and HEAD.
fn refs(repo: &Path) -> Vec<(String, String)> {
    let git = git2::Repository::open(repo).unwrap_or_else(|e| panic!("open: {e}"));
    let mut refs: Vec<(String, String)> = git
        .references()
        .unwrap_or_else(|e| panic!("refs: {e}"))
        .flatten()
        .map(|r| {
            (
                r.name().unwrap_or("?").to_owned(),
                r.target().map(|t| t.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    refs.push((
        "HEAD".into(),
        git.head()
            .ok()
            .and_then(|h| h.target())
            .map(|t| t.to_string())
            .unwrap_or_default(),
    ));
    refs.sort();
    refs
}

#[tokio::test]
async fn repair_memory_second_repair_tries_the_remembered_rename_and_rates_move() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let data = temp.path().join("data");

    let first_request = broken_copy(Case::Books, &temp.path().join("one"), &data, Mode::On);
    let first = job::run(&first_request, &Quiet)
        .await
        .unwrap_or_else(|e| panic!("first repair: {e}"));
    assert!(first.fixed(), "not fixed: {:?}", first.refusal);
    assert!(first.remembered.is_empty(), "{:?}", first.remembered);
    let (before, after) = first
        .learned
        .clone()
        .unwrap_or_else(|| panic!("the committed fix taught memory nothing"));
    assert_eq!(
        (before.as_str(), after.as_str()),
        ("article.product_pod", "article.product-card")
    );

    // Proposed is undecided: neither the rate nor the remembered renames
    // count it until the pull request is decided.
    let memory = memory(&data).await;
    assert_eq!(selector_heal_rate(&memory).await, Rate::new(0, 0));
    let merged = memory
        .update_outcome(first.attempt.ulid(), Outcome::Merged, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("merge: {e}"));
    assert!(merged, "memory had no record of attempt {}", first.attempt);
    assert_eq!(selector_heal_rate(&memory).await, Rate::new(1, 0));

    // The same drift in a fresh copy: memory offers the rename, the healer
    // uses it, and the history factor reads the moved rate.
    let second_request = broken_copy(Case::Books, &temp.path().join("two"), &data, Mode::On);
    let second = job::run(&second_request, &Quiet)
        .await
        .unwrap_or_else(|e| panic!("second repair: {e}"));
    assert!(second.fixed(), "not fixed: {:?}", second.refusal);
    assert_eq!(second.remembered.len(), 1, "{:?}", second.remembered);
    assert_eq!(second.remembered[0].before, before);
    assert_eq!(second.remembered[0].after, after);
    assert_eq!(second.remembered[0].successes, 1);
    let rationale = second
        .proposal
        .as_ref()
        .map(|p| p.rationale.clone())
        .unwrap_or_default();
    assert!(
        rationale.contains(&format!("remembered rename {before} -> {after}")),
        "the heal did not come from memory: {rationale}"
    );
    assert!(
        second.diff.as_deref().is_some_and(
            |d| d.contains(&format!("+        for book in response.css(\"{after}\"):"))
        ),
        "{:?}",
        second.diff
    );
    assert!(
        history_factor(&second) > history_factor(&first),
        "history {} after one success, {} before",
        history_factor(&second),
        history_factor(&first)
    );

    // A revert later counts against the strategy.
    memory
        .update_outcome(second.attempt.ulid(), Outcome::Reverted, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("revert: {e}"));
    assert_eq!(selector_heal_rate(&memory).await, Rate::new(1, 1));
}

#[tokio::test]
async fn repair_memory_global_off_refuses_even_when_the_repository_says_on() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let data = temp.path().join("data");
    let request = broken_copy(Case::Books, temp.path(), &data, Mode::Off);
    std::fs::create_dir_all(request.repo.join(".github")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(request.repo.join(".github/fixwright.yml"), "mode: on\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let before = refs(&request.repo);

    match job::run(&request, &Quiet).await {
        Err(error) => assert!(
            error.is_input()
                && error.to_string().contains("mode is off")
                && error.to_string().contains("FIXWRIGHT_MODE"),
            "{error}"
        ),
        Ok(report) => panic!("global off must refuse, got {:?}", report.state),
    }
    assert!(!data.exists(), "the data directory was created");
    assert_eq!(refs(&request.repo), before);

    // The repository's own `off` is named as the source when it is the stricter.
    std::fs::write(request.repo.join(".github/fixwright.yml"), "mode: off\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let on = RepairRequest {
        mode: Mode::On,
        ..request.clone()
    };
    match job::run(&on, &Quiet).await {
        Err(error) => assert!(
            error
                .to_string()
                .contains("mode is off in .github/fixwright.yml"),
            "{error}"
        ),
        Ok(report) => panic!("repository off must refuse, got {:?}", report.state),
    }
    assert!(!data.exists());
}

#[tokio::test]
async fn repair_memory_global_dry_run_writes_nothing() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let data = temp.path().join("data");
    let request = broken_copy(Case::Books, temp.path(), &data, Mode::DryRun);
    let before = refs(&request.repo);

    let report = job::run(&request, &Quiet)
        .await
        .unwrap_or_else(|e| panic!("dry run: {e}"));
    assert_eq!(report.state, AttemptState::Proven);
    assert!(report.replay.as_ref().is_some_and(|r| r.passed));
    assert!(report.branch.is_none() && !report.fixed() && report.learned.is_none());
    assert!(
        report.next.contains("dry-run") && report.next.contains("FIXWRIGHT_MODE"),
        "{}",
        report.next
    );
    assert_eq!(report.mode.repository, Mode::On);
    assert_eq!(refs(&request.repo), before);
    let git = git2::Repository::open(&request.repo).unwrap_or_else(|e| panic!("open: {e}"));
    let statuses = git.statuses(None).unwrap_or_else(|e| panic!("status: {e}"));
    assert!(statuses.iter().all(|s| s.status().is_ignored()));

    // Nothing was learned either: no outcome row for the attempt.
    let memory = memory(&data).await;
    let recorded = memory
        .update_outcome(report.attempt.ulid(), Outcome::Merged, chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("update: {e}"));
    assert!(!recorded, "a dry run recorded an outcome");
}

#[tokio::test]
async fn repair_memory_records_the_json_schema_history() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let data = temp.path().join("data");
    let request = broken_copy(Case::WeatherApi, temp.path(), &data, Mode::On);
    let report = job::run(&request, &Quiet)
        .await
        .unwrap_or_else(|e| panic!("repair: {e}"));
    assert!(report.fixed(), "not fixed: {:?}", report.refusal);
    let (before, after) = report
        .learned
        .clone()
        .unwrap_or_else(|| panic!("nothing learned"));
    assert_ne!(before, after);

    // Both shapes are kept: the fixture's old key and the response's new one.
    let history = memory(&data)
        .await
        .schema_history(&ScraperName::new(request.scraper.as_str()))
        .await
        .unwrap_or_else(|e| panic!("history: {e}"));
    let has = |key: &str| history.iter().any(|p| p.path.ends_with(key));
    assert!(
        has(&before) && has(&after),
        "{before} / {after} in {history:?}"
    );
}

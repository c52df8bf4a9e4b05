//! The main job end to end on a real git copy of the example repository, with
//! the real Python: a fix is diagnosed, proposed, proven and committed; data
//! that is gone is refused; bad input changes nothing.

mod support;

use std::path::{Path, PathBuf};

use fixwright::cli::demo::{self, Case};
use fixwright::confidence::Band;
use fixwright::gates::{GateStatus, Tool, checks};
use fixwright::repair::attempt::{self, AttemptState};
use fixwright::repair::job::{self, Progress, RepairRequest};
use fixwright::store::Store;

struct Quiet;
impl Progress for Quiet {
    fn step(&self, _: &str) {}
}

fn env_cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/test-venvs")
}

fn request(
    repo: &Path,
    scraper: &str,
    log: Option<PathBuf>,
    response: Option<PathBuf>,
    data: &Path,
) -> RepairRequest {
    RepairRequest {
        repo: repo.to_path_buf(),
        scraper: scraper.into(),
        log,
        response,
        response_url: None,
        data_dir: data.to_path_buf(),
        env_cache: Some(env_cache()),
        mode: fixwright::policy::Mode::On,
    }
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

/// HEAD's commit in a list made by [`refs`].
fn before_head(refs: &[(String, String)]) -> &str {
    refs.iter()
        .find(|(name, _)| name == "HEAD")
        .map(|(_, target)| target.as_str())
        .unwrap_or_default()
}

/// Commits every change of the working tree on HEAD.
fn commit_all(repo: &Path, message: &str) {
    let git = git2::Repository::open(repo).unwrap_or_else(|e| panic!("open: {e}"));
    let mut index = git.index().unwrap_or_else(|e| panic!("index: {e}"));
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap_or_else(|e| panic!("add: {e}"));
    index.write().unwrap_or_else(|e| panic!("write index: {e}"));
    let tree = index
        .write_tree()
        .and_then(|id| git.find_tree(id))
        .unwrap_or_else(|e| panic!("tree: {e}"));
    let parent = git
        .head()
        .and_then(|h| h.peel_to_commit())
        .unwrap_or_else(|e| panic!("head: {e}"));
    let sig = git2::Signature::now("Test", "test@example.com").unwrap_or_else(|e| panic!("{e}"));
    git.commit(Some("HEAD"), &sig, &sig, message, &tree, &[&parent])
        .unwrap_or_else(|e| panic!("commit: {e}"));
}

fn status_is_clean(repo: &Path) -> bool {
    let git = git2::Repository::open(repo).unwrap_or_else(|e| panic!("open: {e}"));
    let statuses = git.statuses(None).unwrap_or_else(|e| panic!("status: {e}"));
    statuses.iter().all(|s| s.status().is_ignored())
}

#[tokio::test]
async fn repair_job_heals_the_books_spider_and_commits_the_proof() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let (repo, log, response) =
        demo::prepare(Case::Books, temp.path()).unwrap_or_else(|e| panic!("prepare: {e}"));
    let before = refs(&repo);
    let data = temp.path().join("data");
    let report = job::run(
        &request(&repo, "books", Some(log), Some(response.clone()), &data),
        &Quiet,
    )
    .await
    .unwrap_or_else(|e| panic!("repair: {e}"));

    assert_eq!(
        report.diagnosis.class, "selector_drift",
        "{:?}",
        report.diagnosis
    );
    assert!(report.fixed(), "not fixed: {:?}", report.refusal);
    assert_eq!(report.state, AttemptState::Committed);
    let replay = report
        .replay
        .as_ref()
        .unwrap_or_else(|| panic!("no replay"));
    assert!(replay.passed, "{}", replay.reason);
    assert_eq!(replay.comparison.candidate.count, 4);
    let branch = report.branch.clone().unwrap_or_default();
    assert_eq!(branch, format!("fixwright/books/{}", report.attempt));
    let diff = report.diff.clone().unwrap_or_default();
    assert!(
        diff.contains("+        for book in response.css(\"article.product-card\"):"),
        "{diff}"
    );
    let confidence = report
        .confidence
        .as_ref()
        .unwrap_or_else(|| panic!("no confidence"));
    assert!(confidence.calibrated > 0.0 && confidence.calibrated <= 1.0);
    assert!(!report.next.is_empty());

    // The commit: on the branch, with trailers, the healed spider and the new
    // response saved as the fixture.
    let git = git2::Repository::open(&repo).unwrap_or_else(|e| panic!("open: {e}"));
    let tip = git
        .find_branch(&branch, git2::BranchType::Local)
        .and_then(|b| b.get().peel_to_commit())
        .unwrap_or_else(|e| panic!("branch {branch}: {e}"));
    let message = tip.message().unwrap_or_default().to_owned();
    assert!(
        message.contains(&format!("Fixwright-Attempt: {}\n", report.attempt)),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "Fixwright-Confidence: {:.3}\n",
            confidence.calibrated
        )),
        "{message}"
    );
    let tree = tip.tree().unwrap_or_else(|e| panic!("tree: {e}"));
    let blob = |path: &str| {
        tree.get_path(Path::new(path))
            .and_then(|e| git.find_blob(e.id()))
            .map(|b| b.content().to_vec())
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    assert_eq!(
        blob("tests/files/books.html"),
        std::fs::read(&response).unwrap_or_default()
    );

    // The user's checkout is untouched: only the branch was added.
    assert!(status_is_clean(&repo));
    let mut after = refs(&repo);
    after.retain(|(name, _)| name != &format!("refs/heads/{branch}"));
    assert_eq!(after, before);

    // The attempt is durable, with its history.
    let store = Store::open(&format!("sqlite://{}", data.join("fixwright.db").display()))
        .await
        .unwrap_or_else(|e| panic!("store: {e}"));
    let stored = attempt::get(&store, report.attempt)
        .await
        .unwrap_or_else(|e| panic!("attempt: {e}"));
    let states: Vec<AttemptState> = stored.history.iter().map(|t| t.to).collect();
    assert_eq!(
        states,
        [
            AttemptState::Diagnosed,
            AttemptState::Proposed,
            AttemptState::Proven,
            AttemptState::Committed
        ]
    );
    assert_eq!(stored.branch.as_deref(), Some(branch.as_str()));

    // The gates ran on the fix against the base: all green, so the fix keeps
    // the band its evidence earns, uncapped; the attempt's history says so.
    let gates = report
        .gates
        .as_ref()
        .unwrap_or_else(|| panic!("no gate run"));
    assert!(gates.passed(), "{}", fixwright::gates::report::text(gates));
    assert_eq!(gates.id, report.attempt.to_string());
    assert_eq!(gates.baseline.as_deref(), Some(before_head(&before)));
    let tests = gates
        .gates
        .iter()
        .find_map(|g| g.tests.clone())
        .unwrap_or_default();
    assert_eq!((tests.tests, tests.failures, tests.errors), (1, 0, 0));
    let gates_factor = confidence
        .factors
        .iter()
        .find(|f| f.name == "gates")
        .unwrap_or_else(|| panic!("no gates factor: {:?}", confidence.factors));
    assert_eq!(gates_factor.value, 1.0);
    assert_eq!(gates_factor.note, "3 of 3 gates green");
    assert_eq!(confidence.cap, None);
    assert_eq!(confidence.band, Band::High, "{confidence:?}");
    assert!(
        stored.history[2]
            .reason
            .contains("gates: ruff pass, mypy pass, pytest pass (1 tests)"),
        "{}",
        stored.history[2].reason
    );

    // The scraper's own test passes on the branch: the saved fixture proves the fix.
    let checkout = temp.path().join("branch-checkout");
    let url = format!("file://{}", repo.display());
    git2::build::RepoBuilder::new()
        .branch(&branch)
        .clone(&url, &checkout)
        .unwrap_or_else(|e| panic!("clone branch: {e}"));
    let env = fixwright::python::Provisioner::new(env_cache())
        .provision(&fixwright::python::EnvInputs::repository(&checkout))
        .await
        .unwrap_or_else(|e| panic!("env: {e}"));
    let pytest = tokio::process::Command::new(&env.python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_books.py",
        ])
        .current_dir(&checkout)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .await
        .unwrap_or_else(|e| panic!("pytest: {e}"));
    assert!(
        pytest.status.success(),
        "pytest on the branch failed:\n{}",
        String::from_utf8_lossy(&pytest.stdout)
    );
}

#[tokio::test]
async fn repair_job_refuses_when_the_data_is_gone() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let (repo, log, response) =
        demo::prepare(Case::BooksGone, temp.path()).unwrap_or_else(|e| panic!("prepare: {e}"));
    let before = refs(&repo);
    let report = job::run(
        &request(
            &repo,
            "books",
            Some(log),
            Some(response),
            &temp.path().join("data"),
        ),
        &Quiet,
    )
    .await
    .unwrap_or_else(|e| panic!("repair: {e}"));
    assert!(!report.fixed());
    assert_eq!(report.state, AttemptState::Escalated);
    assert!(report.refusal.is_some());
    assert!(report.branch.is_none());
    assert_eq!(refs(&repo), before, "no branch for a refused repair");
    assert!(status_is_clean(&repo));
}

#[tokio::test]
async fn repair_job_bad_input_changes_nothing() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let (repo, log, response) =
        demo::prepare(Case::Books, temp.path()).unwrap_or_else(|e| panic!("prepare: {e}"));
    let before = refs(&repo);
    let data = temp.path().join("data");
    let not_html = temp.path().join("trace.txt");
    std::fs::write(
        &not_html,
        "Traceback (most recent call last):\nKeyError: 'x'\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let cases: Vec<(RepairRequest, &str)> = vec![
        (
            request(
                &repo.join("bookshop"),
                "books",
                Some(log.clone()),
                Some(response.clone()),
                &data,
            ),
            "not a git repository",
        ),
        (
            request(
                temp.path(),
                "books",
                Some(log.clone()),
                Some(response.clone()),
                &data,
            ),
            "not a git repository",
        ),
        (
            request(
                &repo,
                "bookz",
                Some(log.clone()),
                Some(response.clone()),
                &data,
            ),
            "no scraper named `bookz`",
        ),
        (
            request(
                &repo,
                "books",
                Some(temp.path().join("missing.log")),
                Some(response.clone()),
                &data,
            ),
            "cannot read the log",
        ),
        (
            request(
                &repo,
                "books",
                Some(log.clone()),
                Some(not_html.clone()),
                &data,
            ),
            "neither HTML nor JSON",
        ),
        (
            request(&repo, "books", None, None, &data),
            "nothing to diagnose",
        ),
    ];
    for (bad, expected) in cases {
        match job::run(&bad, &Quiet).await {
            Err(error) => {
                assert!(error.is_input(), "{error}");
                assert!(
                    error.to_string().contains(expected),
                    "`{error}` should say `{expected}`"
                );
            }
            Ok(report) => panic!("expected `{expected}`, got a report: {:?}", report.state),
        }
    }
    assert_eq!(refs(&repo), before);
    assert!(status_is_clean(&repo));
    assert!(
        !data.exists(),
        "bad input must not even create the data directory"
    );
}

#[tokio::test]
async fn repair_job_heals_xpath_beautifulsoup_and_json_scrapers() {
    let cases = [
        (Case::Quotes, "quotes", "bookshop/spiders/quotes.py"),
        (Case::Events, "events", "scrapers/events.py"),
        (Case::WeatherApi, "weather_api", "scrapers/weather_api.py"),
    ];
    for (case, scraper, module) in cases {
        let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
        let (repo, log, response) =
            demo::prepare(case, temp.path()).unwrap_or_else(|e| panic!("prepare: {e}"));
        let report = job::run(
            &request(
                &repo,
                scraper,
                Some(log),
                Some(response),
                &temp.path().join("data"),
            ),
            &Quiet,
        )
        .await
        .unwrap_or_else(|e| panic!("{scraper}: {e}"));
        assert!(report.fixed(), "{scraper} not fixed: {:?}", report.refusal);
        let replay = report
            .replay
            .as_ref()
            .unwrap_or_else(|| panic!("{scraper}: no replay"));
        assert!(
            replay.passed && replay.comparison.candidate.count == 3,
            "{scraper}: {}",
            replay.reason
        );
        let proposal = report
            .proposal
            .as_ref()
            .unwrap_or_else(|| panic!("{scraper}: no proposal"));
        assert!(
            proposal.files.iter().any(|f| f == module),
            "{scraper}: {:?}",
            proposal.files
        );
        let expected_class = if case == Case::WeatherApi {
            "schema_drift"
        } else {
            "selector_drift"
        };
        assert_eq!(report.diagnosis.class, expected_class, "{scraper}");
    }
}

#[tokio::test]
async fn repair_job_follows_the_repository_policy() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let (repo, log, response) =
        demo::prepare(Case::Books, temp.path()).unwrap_or_else(|e| panic!("prepare: {e}"));
    let data = temp.path().join("data");
    let policy_file = repo.join(".github/fixwright.yml");
    std::fs::create_dir_all(repo.join(".github")).unwrap_or_else(|e| panic!("{e}"));
    let before = refs(&repo);

    // A bad file is an input error naming the file; nothing changes.
    std::fs::write(&policy_file, "mode: sometimes\n").unwrap_or_else(|e| panic!("{e}"));
    match job::run(
        &request(
            &repo,
            "books",
            Some(log.clone()),
            Some(response.clone()),
            &data,
        ),
        &Quiet,
    )
    .await
    {
        Err(error) => assert!(
            error.is_input() && error.to_string().contains("fixwright.yml"),
            "{error}"
        ),
        Ok(report) => panic!(
            "a bad policy file must stop the job, got {:?}",
            report.state
        ),
    }
    // Off: the repository is left alone.
    std::fs::write(&policy_file, "mode: off\n").unwrap_or_else(|e| panic!("{e}"));
    let off = job::run(
        &request(
            &repo,
            "books",
            Some(log.clone()),
            Some(response.clone()),
            &data,
        ),
        &Quiet,
    )
    .await;
    assert!(off.is_err_and(|e| e.is_input() && e.to_string().contains("mode is off")));
    assert!(!data.exists());

    // Dry run: proven, but no branch is written.
    std::fs::write(&policy_file, "mode: dry-run\nlimits:\n  max_attempts: 2\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let dry = job::run(
        &request(
            &repo,
            "books",
            Some(log.clone()),
            Some(response.clone()),
            &data,
        ),
        &Quiet,
    )
    .await
    .unwrap_or_else(|e| panic!("dry run: {e}"));
    assert_eq!(dry.state, AttemptState::Proven);
    assert!(dry.replay.as_ref().is_some_and(|r| r.passed));
    assert!(dry.branch.is_none() && !dry.fixed());
    assert!(dry.next.contains("dry-run"), "{}", dry.next);
    assert_eq!(refs(&repo), before);

    // The same incident again is attempt 2 (allowed), then attempt 3 is
    // over the limit and goes to a human.
    let second = job::run(
        &request(
            &repo,
            "books",
            Some(log.clone()),
            Some(response.clone()),
            &data,
        ),
        &Quiet,
    )
    .await
    .unwrap_or_else(|e| panic!("second: {e}"));
    assert_eq!(second.state, AttemptState::Proven);
    let third = job::run(
        &request(&repo, "books", Some(log), Some(response), &data),
        &Quiet,
    )
    .await
    .unwrap_or_else(|e| panic!("third: {e}"));
    assert_eq!(third.state, AttemptState::Escalated);
    assert!(
        third
            .refusal
            .as_deref()
            .is_some_and(|r| r.contains("attempt 3")),
        "{:?}",
        third.refusal
    );
    assert!(third.proposal.is_none());
    assert_eq!(refs(&repo), before);
}

#[tokio::test]
async fn repair_job_provisioning_failure_names_the_package_and_escalates() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let (repo, log, response) =
        demo::prepare(Case::Books, temp.path()).unwrap_or_else(|e| panic!("prepare: {e}"));
    // The repository pins a package that does not exist.
    let requirements = repo.join("requirements.txt");
    let mut pins = std::fs::read_to_string(&requirements).unwrap_or_default();
    pins.push_str("fixwright-no-such-package-anywhere==9.9.9\n");
    std::fs::write(&requirements, pins).unwrap_or_else(|e| panic!("{e}"));
    let git = git2::Repository::open(&repo).unwrap_or_else(|e| panic!("open: {e}"));
    let mut index = git.index().unwrap_or_else(|e| panic!("index: {e}"));
    index
        .add_path(Path::new("requirements.txt"))
        .unwrap_or_else(|e| panic!("add: {e}"));
    index.write().unwrap_or_else(|e| panic!("write index: {e}"));
    let tree = git
        .find_tree(index.write_tree().unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    let head = git
        .head()
        .and_then(|h| h.peel_to_commit())
        .unwrap_or_else(|e| panic!("head: {e}"));
    let sig = git2::Signature::now("Maintainer", "maintainer@example.com")
        .unwrap_or_else(|e| panic!("{e}"));
    git.commit(Some("HEAD"), &sig, &sig, "Pin a package", &tree, &[&head])
        .unwrap_or_else(|e| panic!("commit: {e}"));
    let before = refs(&repo);
    let data = temp.path().join("data");

    let error = match job::run(
        &request(&repo, "books", Some(log), Some(response), &data),
        &Quiet,
    )
    .await
    {
        Err(error) => error,
        Ok(report) => panic!("expected a provisioning error, got {:?}", report.state),
    };
    let message = error.to_string();
    assert!(
        message.contains("requirements.txt")
            && message.contains("fixwright-no-such-package-anywhere"),
        "{message}"
    );
    assert_eq!(refs(&repo), before, "no branch is left behind");
    let store = Store::open(&format!("sqlite://{}", data.join("fixwright.db").display()))
        .await
        .unwrap_or_else(|e| panic!("store: {e}"));
    let db_ids: Vec<String> = match &store {
        Store::Sqlite(pool) => sqlx::query_scalar("SELECT id FROM repair_attempts")
            .fetch_all(pool)
            .await
            .unwrap_or_default(),
        Store::Postgres(_) => Vec::new(),
    };
    assert_eq!(db_ids.len(), 1);
    let id = db_ids[0].parse().unwrap_or_else(|e| panic!("id: {e:?}"));
    let stored = attempt::get(&store, id)
        .await
        .unwrap_or_else(|e| panic!("get: {e}"));
    assert_eq!(stored.state, AttemptState::Escalated);
    assert!(
        stored
            .history
            .last()
            .is_some_and(|t| t.reason.contains("fixwright-no-such-package-anywhere"))
    );
}

#[tokio::test]
async fn repair_job_uses_the_fixture_patterns_of_the_policy_file() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let (repo, log, response) =
        demo::prepare(Case::Books, temp.path()).unwrap_or_else(|e| panic!("prepare: {e}"));
    // This repository keeps its saved pages elsewhere and says so.
    std::fs::create_dir_all(repo.join("tests/data")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::rename(
        repo.join("tests/files/books.html"),
        repo.join("tests/data/books-page.html"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(repo.join(".github")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        repo.join(".github/fixwright.yml"),
        "scrapers:\n  fixtures: [\"tests/data/{name}-page.html\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let git = git2::Repository::open(&repo).unwrap_or_else(|e| panic!("open: {e}"));
    let mut index = git.index().unwrap_or_else(|e| panic!("index: {e}"));
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap_or_else(|e| panic!("add: {e}"));
    index
        .update_all(["*"], None)
        .unwrap_or_else(|e| panic!("update: {e}"));
    index.write().unwrap_or_else(|e| panic!("write index: {e}"));
    let tree = git
        .find_tree(index.write_tree().unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    let head = git
        .head()
        .and_then(|h| h.peel_to_commit())
        .unwrap_or_else(|e| panic!("head: {e}"));
    let sig = git2::Signature::now("Maintainer", "maintainer@example.com")
        .unwrap_or_else(|e| panic!("{e}"));
    git.commit(Some("HEAD"), &sig, &sig, "Move fixtures", &tree, &[&head])
        .unwrap_or_else(|e| panic!("commit: {e}"));

    let report = job::run(
        &request(
            &repo,
            "books",
            Some(log),
            Some(response),
            &temp.path().join("data"),
        ),
        &Quiet,
    )
    .await
    .unwrap_or_else(|e| panic!("repair: {e}"));
    assert!(
        report.fixed(),
        "not fixed: {:?} {:?}",
        report.refusal,
        report.policy_refusals
    );
    let files = report.proposal.map(|p| p.files).unwrap_or_default();
    assert_eq!(
        files,
        ["bookshop/spiders/books.py", "tests/data/books-page.html"]
    );
    let replay = report.replay.unwrap_or_else(|| panic!("no replay"));
    assert!(
        replay.comparison.baseline.is_some(),
        "the moved fixture is the baseline"
    );
}

/// The weather scraper typed with TypedDicts: the API's renamed key is
/// healed in the access, but the TypedDict still names the old key.
const TYPED_WEATHER: &str = r#""""Station observations from the weather service's JSON API.

Entry point: ``parse(text) -> list[dict]``.
"""

import json
from typing import TypedDict


class Observation(TypedDict):
    station_id: str
    temp_c: float
    observed_at: str


class Payload(TypedDict):
    observations: list[Observation]


def parse(text: str) -> list[dict]:
    data: Payload = json.loads(text)
    return [
        {
            "station": obs["station_id"],
            "temperature": obs["temp_c"],
            "observed_at": obs["observed_at"],
        }
        for obs in data["observations"]
    ]
"#;

#[tokio::test]
async fn repair_job_gates_name_a_new_type_error_and_keep_the_fix_below_high() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let (repo, log, response) =
        demo::prepare(Case::WeatherApi, temp.path()).unwrap_or_else(|e| panic!("prepare: {e}"));
    std::fs::write(repo.join("scrapers/weather_api.py"), TYPED_WEATHER)
        .unwrap_or_else(|e| panic!("write: {e}"));
    commit_all(&repo, "Type the weather API's observations");
    let data = temp.path().join("data");
    let report = job::run(
        &request(&repo, "weather_api", Some(log), Some(response), &data),
        &Quiet,
    )
    .await
    .unwrap_or_else(|e| panic!("repair: {e}"));
    // The replay proves the data is back, so the fix is committed...
    assert!(report.fixed(), "not fixed: {:?}", report.refusal);
    let diff = report.diff.clone().unwrap_or_default();
    assert!(
        diff.contains("+            \"temperature\": obs[\"temperature_c\"],"),
        "{diff}"
    );

    // ...but mypy finds the key the TypedDict does not have, and only that:
    // ruff and the scraper's test are green.
    let gates = report
        .gates
        .as_ref()
        .unwrap_or_else(|| panic!("no gate run"));
    let text = fixwright::gates::report::text(gates);
    let gate = |tool: Tool| {
        gates
            .gates
            .iter()
            .find(|g| g.tool == tool)
            .unwrap_or_else(|| panic!("no {tool} gate: {text}"))
    };
    let mypy = gate(Tool::Mypy);
    assert_eq!(mypy.status, GateStatus::Fail, "{text}");
    let new: Vec<(&str, u32, &str)> = mypy
        .new
        .iter()
        .map(|f| (f.path.as_str(), f.line, f.rule.as_str()))
        .collect();
    assert_eq!(
        new,
        [("scrapers/weather_api.py", 25, "typeddict-item")],
        "{text}"
    );
    assert_eq!(
        mypy.new[0].message,
        "TypedDict \"Observation\" has no key \"temperature_c\""
    );
    assert!(gate(Tool::Ruff).passed(), "{text}");
    assert!(gate(Tool::Pytest).passed(), "{text}");

    // Confidence: the gates factor scores nothing and names the finding, the
    // score is capped and the band is not high; policy will not merge it.
    let confidence = report
        .confidence
        .as_ref()
        .unwrap_or_else(|| panic!("no confidence"));
    assert_ne!(confidence.band, Band::High, "{confidence:?}");
    assert_eq!(
        confidence.cap.as_deref(),
        Some("capped at 0.50: a gate failed")
    );
    let factor = confidence
        .factors
        .iter()
        .find(|f| f.name == "gates")
        .unwrap_or_else(|| panic!("no gates factor"));
    assert_eq!(factor.value, 0.0);
    assert_eq!(
        factor.note,
        "2 of 3 gates green; mypy failed: scrapers/weather_api.py:25 [typeddict-item] TypedDict \"Observation\" has no key \"temperature_c\""
    );
    assert!(
        report
            .policy_refusals
            .iter()
            .any(|r| r.contains("fixwright/mypy")),
        "{:?}",
        report.policy_refusals
    );

    // The report a maintainer reads names the finding.
    let rendered = fixwright::repair::report::render_text(&report);
    assert!(
        rendered.contains(
            "scrapers/weather_api.py:25:32 [typeddict-item] TypedDict \"Observation\" has no key \"temperature_c\""
        ),
        "{rendered}"
    );
    assert!(rendered.contains("mypy   FAIL  1 new"), "{rendered}");

    // On GitHub the gates are check runs on the fix's commit, each carrying
    // the attempt's id.
    let support::FakeRepo {
        fake,
        client,
        name,
        head,
    } = support::fake_scrapers_repo().await;
    checks::report(&client, &name, &head, gates)
        .await
        .unwrap_or_else(|e| panic!("check runs: {e}"));
    let mut runs = fake.check_runs("acme", "scrapers");
    runs.sort_by(|a, b| a.name.cmp(&b.name));
    let seen: Vec<(&str, Option<&str>, Option<&str>)> = runs
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.conclusion.as_deref(),
                c.external_id.as_deref(),
            )
        })
        .collect();
    let attempt_id = report.attempt.to_string();
    let attempt_id = Some(attempt_id.as_str());
    assert_eq!(
        seen,
        [
            ("fixwright/mypy", Some("failure"), attempt_id),
            ("fixwright/pytest", Some("success"), attempt_id),
            ("fixwright/ruff", Some("success"), attempt_id),
        ]
    );
    let annotation = &runs[0].annotations[0];
    assert_eq!(annotation["path"], "scrapers/weather_api.py");
    assert_eq!(annotation["start_line"], 25);
    fake.assert_clean();
}

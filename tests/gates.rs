//! The gates with the real ruff, mypy and pytest on a scraper repository
//! written for these tests (tests/fixtures/gates-repo), committed to a real
//! git repository, with known defects injected into its working tree. The
//! base commit already has one ruff and one mypy finding, which must never
//! fail a gate.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fixwright::gates::engine::{GateSettings, Progress, TimeLimits};
use fixwright::gates::scope::Scope;
use fixwright::gates::{
    Finding, GateRequest, GateRun, GateStatus, Target, Tool, checks, run_gates,
};
use fixwright::python::Provisioner;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Environments are shared with the other Python tests: PyPI is asked once.
fn shared_envs() -> PathBuf {
    root().join(".cache/test-venvs")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for entry in std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("read {}: {e}", from.display()))
        .flatten()
    {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("copy: {e}"));
        }
    }
}

/// A git repository holding the fixture repository as its one commit.
fn scraper_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    copy_dir(&root().join("tests/fixtures/gates-repo"), dir.path());
    let repo = git2::Repository::init(dir.path()).unwrap_or_else(|e| panic!("git init: {e}"));
    let mut index = repo.index().unwrap_or_else(|e| panic!("index: {e}"));
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap_or_else(|e| panic!("add: {e}"));
    index.write().unwrap_or_else(|e| panic!("write index: {e}"));
    let tree_id = index.write_tree().unwrap_or_else(|e| panic!("tree: {e}"));
    let tree = repo
        .find_tree(tree_id)
        .unwrap_or_else(|e| panic!("tree: {e}"));
    let sig = git2::Signature::now("Test", "test@example.com").unwrap_or_else(|e| panic!("{e}"));
    repo.commit(Some("HEAD"), &sig, &sig, "base", &tree, &[])
        .unwrap_or_else(|e| panic!("commit: {e}"));
    dir
}

/// Replaces the one occurrence of `from` in `file`.
fn edit(repo: &Path, file: &str, from: &str, to: &str) {
    let path = repo.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {file}: {e}"));
    assert_eq!(
        text.matches(from).count(),
        1,
        "{file} must hold `{from}` once"
    );
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap_or_else(|e| panic!("write: {e}"));
}

fn settings(work: &Path) -> GateSettings {
    let mut settings = GateSettings::new(work);
    settings.test_timeout = Duration::from_secs(3);
    settings.time_limits = TimeLimits::all(Duration::from_secs(300));
    settings
}

async fn gates(repo: &Path, target: Target, baseline: Option<&str>) -> GateRun {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let request = GateRequest {
        repo: repo.to_path_buf(),
        target,
        baseline: baseline.map(str::to_owned),
        run_id: Some("attempt-42".into()),
    };
    run_gates(
        &request,
        &settings(work.path()),
        &Provisioner::new(shared_envs()),
        &|_| {},
    )
    .await
    .unwrap_or_else(|e| panic!("gates could not run: {e}"))
}

fn gate(run: &GateRun, tool: Tool) -> &fixwright::gates::GateResult {
    run.gates
        .iter()
        .find(|g| g.tool == tool)
        .unwrap_or_else(|| panic!("no {tool} gate in {run:?}"))
}

fn places(findings: &[Finding]) -> Vec<(String, u32, String)> {
    let mut v: Vec<_> = findings
        .iter()
        .map(|f| (f.path.clone(), f.line, f.rule.clone()))
        .collect();
    v.sort();
    v
}

fn place(path: &str, line: u32, rule: &str) -> (String, u32, String) {
    (path.into(), line, rule.into())
}

#[tokio::test]
async fn gates_base_findings_never_fail_and_are_counted() {
    let repo = scraper_repo();
    let run = gates(repo.path(), Target::Whole, Some("HEAD")).await;
    assert!(run.passed(), "{}", fixwright::gates::report::text(&run));
    let ruff = gate(&run, Tool::Ruff);
    assert_eq!(
        places(&ruff.existing),
        vec![place("scrapers/events.py", 11, "E711")]
    );
    let mypy = gate(&run, Tool::Mypy);
    assert_eq!(
        places(&mypy.existing),
        vec![place("scrapers/events.py", 14, "return-value")]
    );
    let tests = gate(&run, Tool::Pytest).tests.clone().unwrap_or_default();
    assert_eq!((tests.tests, tests.failures, tests.errors), (6, 0, 0));

    // Without a baseline the same findings are new and fail their gates.
    let bare = gates(repo.path(), Target::Whole, None).await;
    assert_eq!(gate(&bare, Tool::Ruff).status, GateStatus::Fail);
    assert_eq!(gate(&bare, Tool::Mypy).status, GateStatus::Fail);
    assert_eq!(gate(&bare, Tool::Pytest).status, GateStatus::Pass);
}

#[tokio::test]
async fn gates_injected_defects_are_exact_findings_and_check_run_annotations() {
    let repo = scraper_repo();
    let r = repo.path();
    // An unused import on line 2 of the Scrapy spider.
    edit(
        r,
        "bookshop/spiders/books.py",
        "from collections.abc",
        "import os\nfrom collections.abc",
    );
    // A type error on line 4 of the weather scraper.
    edit(
        r,
        "scrapers/weather.py",
        "from typing import Any\n",
        "from typing import Any\nDAYS: int = \"seven\"\n",
    );
    // Lines shift under the base's own findings: they stay not new.
    edit(
        r,
        "scrapers/events.py",
        "from bs4",
        "# Parses the listing.\nfrom bs4",
    );
    // A failing assertion on line 8 of the weather test.
    edit(
        r,
        "tests/test_weather.py",
        "\"high\": 21.5",
        "\"high\": 22.5",
    );
    // A hanging test: pytest-timeout fails it alone after 3 s.
    let test_books = r.join("tests/test_books.py");
    let mut text = std::fs::read_to_string(&test_books).unwrap_or_else(|e| panic!("{e}"));
    text.push_str("\n\ndef test_hangs() -> None:\n    import time\n\n    time.sleep(600)\n");
    std::fs::write(&test_books, text).unwrap_or_else(|e| panic!("{e}"));

    let run = gates(r, Target::ChangedFrom("HEAD".into()), None).await;
    let report = fixwright::gates::report::text(&run);
    match &run.scope {
        Scope::Scrapers { names, .. } => {
            assert_eq!(names, &["books", "events", "weather"], "{report}")
        }
        other => panic!("expected scraper scope, got {other:?}"),
    }
    assert_eq!(run.baseline.as_deref(), Some("HEAD"));

    let ruff = gate(&run, Tool::Ruff);
    assert_eq!(ruff.status, GateStatus::Fail, "{report}");
    assert_eq!(
        places(&ruff.new),
        vec![place("bookshop/spiders/books.py", 2, "F401")]
    );
    assert_eq!(ruff.new[0].message, "`os` imported but unused");
    assert_eq!(
        places(&ruff.existing),
        vec![place("scrapers/events.py", 12, "E711")]
    );

    let mypy = gate(&run, Tool::Mypy);
    assert_eq!(
        places(&mypy.new),
        vec![place("scrapers/weather.py", 4, "assignment")],
        "{report}"
    );
    assert_eq!(
        mypy.new[0].message,
        "Incompatible types in assignment (expression has type \"str\", variable has type \"int\")"
    );
    assert_eq!(
        places(&mypy.existing),
        vec![place("scrapers/events.py", 15, "return-value")]
    );

    let pytest = gate(&run, Tool::Pytest);
    assert_eq!(pytest.status, GateStatus::Fail);
    assert_eq!(
        places(&pytest.new),
        vec![
            place("tests/test_books.py", 25, "tests/test_books.py::test_hangs"),
            place(
                "tests/test_weather.py",
                8,
                "tests/test_weather.py::test_forecast_from_fixture"
            ),
        ],
        "{report}"
    );
    let hang = pytest.new.iter().find(|f| f.rule.ends_with("test_hangs"));
    assert_eq!(
        hang.map(|f| f.message.as_str()),
        Some("Failed: Timeout (>3.0s) from pytest-timeout.")
    );
    // Every other test of the three scrapers still ran and passed.
    let stats = pytest.tests.clone().unwrap_or_default();
    assert_eq!((stats.tests, stats.failures), (7, 2));

    // The same run as check runs on the fake GitHub.
    let support::FakeRepo {
        fake,
        client,
        name,
        head,
    } = support::fake_scrapers_repo().await;
    let started = checks::start(&client, &name, &head, &run.id)
        .await
        .unwrap_or_else(|e| panic!("start checks: {e}"));
    let in_progress = fake.check_runs("acme", "scrapers");
    assert_eq!(in_progress.len(), 3);
    assert!(in_progress.iter().all(|c| c.status == "in_progress"));
    checks::finish(&client, &name, &started, &run)
        .await
        .unwrap_or_else(|e| panic!("finish checks: {e}"));
    let mut runs = fake.check_runs("acme", "scrapers");
    runs.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<_> = runs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["fixwright/mypy", "fixwright/pytest", "fixwright/ruff"]
    );
    for check in &runs {
        assert_eq!(check.status, "completed");
        assert_eq!(check.conclusion.as_deref(), Some("failure"));
        assert_eq!(check.external_id.as_deref(), Some("attempt-42"));
        assert_eq!(check.head_sha, head.to_string());
    }
    let ruff_check = &runs[2];
    assert_eq!(ruff_check.annotations.len(), 1);
    let a = &ruff_check.annotations[0];
    assert_eq!(a["path"], "bookshop/spiders/books.py");
    assert_eq!(a["start_line"], 2);
    assert_eq!(a["annotation_level"], "failure");
    assert_eq!(a["title"], "ruff F401");
    let summary = ruff_check.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("1 new finding(s), 1 already on the base"),
        "{summary}"
    );
    let pytest_check = &runs[1];
    let lines: Vec<_> = pytest_check
        .annotations
        .iter()
        .map(|a| (a["path"].clone(), a["start_line"].clone()))
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.contains(&(
        serde_json::json!("tests/test_weather.py"),
        serde_json::json!(8)
    )));
    assert!(
        pytest_check
            .summary
            .as_deref()
            .is_some_and(|s| s.contains("slowest tests") && s.contains("test_hangs"))
    );
    fake.assert_clean();
}

#[tokio::test]
async fn gates_syntax_error_and_crashing_conftest_are_errors_not_passes() {
    let repo = scraper_repo();
    let r = repo.path();
    edit(
        r,
        "scrapers/weather.py",
        "json.loads(text)",
        "json.loads(text",
    );
    let run = gates(r, Target::ChangedFrom("HEAD".into()), None).await;
    let report = fixwright::gates::report::text(&run);
    assert_eq!(
        places(&gate(&run, Tool::Ruff).new),
        vec![place("scrapers/weather.py", 7, "invalid-syntax")],
        "{report}"
    );
    assert_eq!(
        places(&gate(&run, Tool::Mypy).new),
        vec![place("scrapers/weather.py", 7, "syntax")],
        "{report}"
    );
    let pytest = gate(&run, Tool::Pytest);
    assert_eq!(pytest.status, GateStatus::Fail, "{report}");
    assert_eq!(
        places(&pytest.new),
        vec![place("tests/test_weather.py", 3, "tests/test_weather.py")]
    );

    // A conftest that raises stops pytest before any test: an error gate
    // pointing at the raising line, and the whole repository in scope.
    edit(
        r,
        "scrapers/weather.py",
        "json.loads(text",
        "json.loads(text)",
    );
    let conftest = r.join("tests/conftest.py");
    let mut text = std::fs::read_to_string(&conftest).unwrap_or_else(|e| panic!("{e}"));
    text.push_str("\nraise RuntimeError(\"conftest is broken\")\n");
    std::fs::write(&conftest, text).unwrap_or_else(|e| panic!("{e}"));
    let run = gates(r, Target::ChangedFrom("HEAD".into()), None).await;
    let report = fixwright::gates::report::text(&run);
    assert!(matches!(run.scope, Scope::Whole { .. }), "{report}");
    let pytest = gate(&run, Tool::Pytest);
    match &pytest.status {
        GateStatus::Error {
            reason,
            output_tail,
        } => {
            assert_eq!(reason, "pytest exited with code 4");
            assert!(
                output_tail.contains("ImportError while loading conftest"),
                "{output_tail}"
            );
        }
        other => panic!("a crashing conftest must be an error gate, got {other:?}\n{report}"),
    }
    assert_eq!(
        places(&pytest.new),
        vec![place("tests/conftest.py", 12, "conftest-error")]
    );
    assert!(!run.passed());
    assert!(run.failed_gates().contains(&"fixwright/pytest".to_owned()));
    assert!(gate(&run, Tool::Ruff).passed(), "{report}");
}

/// Every `.pyc` file under `dir`.
fn bytecode_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "pyc") {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test]
async fn gates_scoped_pytest_collects_only_its_tests_and_bytecode_stays_out_of_the_repository() {
    let repo = scraper_repo();
    let r = repo.path();
    // The repository's conftest records every file pytest considers.
    let conftest = r.join("tests/conftest.py");
    let mut text = std::fs::read_to_string(&conftest).unwrap_or_else(|e| panic!("{e}"));
    text.push_str(
        "\n\nCONSIDERED = Path(__file__).parent.parent / \"considered.txt\"\n\n\ndef pytest_collect_file(file_path: Path, parent: object) -> None:\n    with CONSIDERED.open(\"a\") as out:\n        out.write(file_path.name + \"\\n\")\n",
    );
    std::fs::write(&conftest, text).unwrap_or_else(|e| panic!("{e}"));
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let settings = settings(work.path());
    let request = GateRequest {
        repo: r.to_path_buf(),
        target: Target::Scraper("weather".into()),
        baseline: Some("HEAD".into()),
        run_id: None,
    };
    let run = run_gates(
        &request,
        &settings,
        &Provisioner::new(shared_envs()),
        &|_| {},
    )
    .await
    .unwrap_or_else(|e| panic!("gates could not run: {e}"));
    let report = fixwright::gates::report::text(&run);
    assert!(run.passed(), "{report}");
    let stats = gate(&run, Tool::Pytest).tests.clone().unwrap_or_default();
    assert_eq!((stats.tests, stats.failures), (1, 0), "{report}");
    // Only the scope's test file, the conftest and the package marker were
    // looked at; the other scrapers' tests were not.
    let considered =
        std::fs::read_to_string(r.join("considered.txt")).unwrap_or_else(|e| panic!("{e}"));
    let mut names: Vec<&str> = considered.lines().collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names, ["__init__.py", "conftest.py", "test_weather.py"]);

    // Bytecode went to the cache, for the repository's own modules too, and
    // none of it into the repository or for the base checkout, now gone.
    assert!(bytecode_under(r).is_empty(), "{:?}", bytecode_under(r));
    let cache = settings
        .bytecode_cache
        .clone()
        .unwrap_or_else(|| panic!("bytecode is cached by default"));
    let cached = bytecode_under(&cache);
    let canonical = std::fs::canonicalize(r).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        cached.iter().any(|p| p.starts_with(
            cache.join(
                canonical
                    .strip_prefix("/")
                    .unwrap_or(&canonical)
                    .join("scrapers")
            )
        )),
        "the repository's modules are cached"
    );
    assert!(
        !cached
            .iter()
            .any(|p| p.to_string_lossy().contains("/base-")),
        "the base checkout's bytecode is removed with it"
    );
}

/// mypy 2 keeps its cache in SQLite, and two gate runs of one environment
/// share it: a mypy that found the cache locked too long would fail. So runs
/// take turns on it: while another holds the cache, mypy waits, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_runs_take_turns_on_the_mypy_cache() {
    let repo = scraper_repo();
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let request = GateRequest {
        repo: repo.path().to_path_buf(),
        target: Target::Scraper("weather".into()),
        baseline: None,
        run_id: None,
    };
    let provisioner = Provisioner::new(shared_envs());
    let first = run_gates(&request, &settings(work.path()), &provisioner, &|_| {})
        .await
        .unwrap_or_else(|e| panic!("gates could not run: {e}"));
    assert!(first.passed(), "{}", fixwright::gates::report::text(&first));
    let locks: Vec<PathBuf> = std::fs::read_dir(work.path().join("mypy"))
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "lock"))
        .collect();
    assert_eq!(locks.len(), 1, "one turn per environment: {locks:?}");

    // Another run holds the cache.
    let held = std::fs::OpenOptions::new()
        .write(true)
        .open(&locks[0])
        .unwrap_or_else(|e| panic!("{e}"));
    held.lock().unwrap_or_else(|e| panic!("{e}"));
    let steps = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let second = tokio::spawn({
        let steps = steps.clone();
        let settings = settings(work.path());
        async move {
            let record = move |p: Progress<'_>| {
                if let (Progress::Step(step), Ok(mut steps)) = (p, steps.lock()) {
                    steps.push(step.to_owned());
                }
            };
            run_gates(&request, &settings, &provisioner, &record).await
        }
    });
    let waiting = |steps: &[String]| steps.iter().any(|s| s.contains("mypy to finish"));
    let mut seen = false;
    for _ in 0..600 {
        if steps.lock().is_ok_and(|s| waiting(&s)) {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "mypy did not wait for its turn: {:?}", steps.lock());
    // mypy cannot start while the turn is held, so the run cannot end.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the run ended without its mypy turn");
    drop(held);
    let second = second
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("gates could not run: {e}"));
    assert!(
        second.passed(),
        "{}",
        fixwright::gates::report::text(&second)
    );
    assert_eq!(gate(&second, Tool::Mypy).status, GateStatus::Pass);
}

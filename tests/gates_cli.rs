//! `fixwright gates` as a user runs it: exit codes, Actions workflow
//! commands and the job summary, with the real tools.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir: {e}"));
    for entry in std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("read dir: {e}"))
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

/// A cache directory whose environments are the ones the other Python
/// tests share, so PyPI is asked once.
fn cache_dir(tmp: &Path) -> PathBuf {
    let cache = tmp.join("cache");
    let shared = root().join(".cache/test-venvs");
    std::fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("mkdir: {e}"));
    std::fs::create_dir_all(&shared).unwrap_or_else(|e| panic!("mkdir: {e}"));
    std::os::unix::fs::symlink(&shared, cache.join("envs")).unwrap_or_else(|e| panic!("{e}"));
    cache
}

fn gates(repo: &Path, cache: &Path, args: &[&str], summary: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fixwright"))
        .arg("gates")
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("FIXWRIGHT_CACHE_DIR", cache)
        .env("GITHUB_STEP_SUMMARY", summary)
        .output()
        .unwrap_or_else(|e| panic!("run fixwright gates: {e}"))
}

#[test]
fn gates_cli_exit_codes_workflow_commands_and_job_summary() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let repo = tmp.path().join("repo");
    copy_dir(&root().join("tests/fixtures/gates-repo"), &repo);
    let cache = cache_dir(tmp.path());
    let summary = tmp.path().join("summary.md");

    let clean = gates(
        &repo,
        &cache,
        &["--scraper", "weather", "--format", "github"],
        &summary,
    );
    let stderr = String::from_utf8_lossy(&clean.stderr);
    assert_eq!(clean.status.code(), Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&clean.stdout).trim().is_empty());
    let written = std::fs::read_to_string(&summary).unwrap_or_default();
    assert!(written.contains("## Fixwright gates: passed"), "{written}");
    assert!(written.contains("Scope: scrapers: weather"), "{written}");

    let spider = repo.join("bookshop/spiders/books.py");
    let text = std::fs::read_to_string(&spider).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &spider,
        text.replacen("from collections.abc", "import os\nfrom collections.abc", 1),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let failed = gates(
        &repo,
        &cache,
        &["--scraper", "books", "--format", "github"],
        &summary,
    );
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    assert!(
        stdout.contains("::error file=bookshop/spiders/books.py,line=2,endLine=2,col=8,title=ruff F401::`os` imported but unused"),
        "{stdout}"
    );
    let written = std::fs::read_to_string(&summary).unwrap_or_default();
    assert!(written.contains("## Fixwright gates: failed"), "{written}");

    let unknown = gates(&repo, &cache, &["--scraper", "nope"], &summary);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no scraper called `nope`"));

    let usage = gates(
        &repo,
        &cache,
        &["--scraper", "books", "--changed-from", "HEAD"],
        &summary,
    );
    assert_eq!(usage.status.code(), Some(2));
}

/// The run's JSON report, checked to be the only thing on stdout.
fn json_report(stdout: &[u8]) -> serde_json::Value {
    serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(stdout)
        )
    })
}

#[test]
fn gates_cli_progress_is_plain_in_logs_and_spinners_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let repo = tmp.path().join("repo");
    copy_dir(&root().join("tests/fixtures/gates-repo"), &repo);
    let cache = cache_dir(tmp.path());
    let summary = tmp.path().join("summary.md");

    // stderr is a pipe (a CI log): one plain line per step and tool, no
    // terminal control sequences; stdout is the JSON report alone.
    let piped = gates(
        &repo,
        &cache,
        &["--scraper", "weather", "--format", "json"],
        &summary,
    );
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert_eq!(piped.status.code(), Some(0), "{stderr}");
    let report = json_report(&piped.stdout);
    assert_eq!(report["tools"]["ruff"], "0.17.6", "{report}");
    for line in [
        "fixwright gates: provisioning the Python environment...",
        "fixwright gates: ruff started",
        "fixwright gates: ruff done in ",
        "fixwright gates: mypy done in ",
        "fixwright gates: pytest done in ",
    ] {
        assert!(stderr.contains(line), "`{line}` missing from:\n{stderr}");
    }
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");

    // stderr is a terminal (a pseudo-terminal from util-linux `script`):
    // a spinner per tool, each ending on its outcome; stdout, redirected to
    // a file, is still the JSON report alone.
    let out = tmp.path().join("report.json");
    let command = format!(
        "'{}' gates --repo '{}' --scraper weather --format json > '{}'",
        env!("CARGO_BIN_EXE_fixwright"),
        repo.display(),
        out.display()
    );
    let terminal = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("FIXWRIGHT_CACHE_DIR", &cache)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `script` (util-linux, `apt-get install util-linux`): {e}")
        });
    let screen = String::from_utf8_lossy(&terminal.stdout);
    assert_eq!(terminal.status.code(), Some(0), "{screen}");
    assert!(screen.contains('\u{1b}'), "no terminal drawing: {screen:?}");
    assert!(
        screen.contains("running ruff, mypy and pytest"),
        "{screen:?}"
    );
    for tool in ["ruff", "mypy", "pytest"] {
        // The tool's name padded to its column, then its outcome.
        let finished = format!("{tool:<14} done in ");
        assert!(screen.contains(&finished), "no `{finished}`: {screen:?}");
    }
    assert!(
        !screen.contains("fixwright gates: ruff started"),
        "{screen:?}"
    );
    let written = std::fs::read(&out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json_report(&written)["tools"]["ruff"], "0.17.6");
}

/// Replaces every `from` in `file` with `to`.
fn rewrite(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read: {e}"));
    assert!(text.contains(from), "{} lacks `{from}`", file.display());
    std::fs::write(file, text.replace(from, to)).unwrap_or_else(|e| panic!("write: {e}"));
}

#[test]
fn gates_cli_follows_the_scraper_layout_of_the_policy_file() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let repo = tmp.path().join("repo");
    copy_dir(&root().join("tests/fixtures/gates-repo"), &repo);
    let cache = cache_dir(tmp.path());
    let summary = tmp.path().join("summary.md");
    // Scrapers in `crawlers/`, their tests in `checks/`: neither is where
    // the finder looks by default.
    for (from, to) in [("scrapers", "crawlers"), ("tests", "checks")] {
        std::fs::rename(repo.join(from), repo.join(to)).unwrap_or_else(|e| panic!("{e}"));
    }
    for test in ["checks/test_weather.py", "checks/test_events.py"] {
        rewrite(&repo.join(test), "from scrapers.", "from crawlers.");
    }
    let unconfigured = gates(&repo, &cache, &["--scraper", "weather"], &summary);
    assert_eq!(unconfigured.status.code(), Some(2));

    std::fs::create_dir_all(repo.join(".github")).unwrap_or_else(|e| panic!("{e}"));
    let policy = repo.join(".github/fixwright.yml");
    std::fs::write(
        &policy,
        "scrapers:\n  modules: ['crawlers/{name}.py']\n  tests: ['checks/test_{name}.py']\n  fixtures: ['checks/files/{name}*']\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let run = gates(
        &repo,
        &cache,
        &["--scraper", "weather", "--format", "json"],
        &summary,
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report = json_report(&run.stdout);
    assert_eq!(
        report["scope"],
        serde_json::json!({
            "kind": "scrapers",
            "names": ["weather"],
            "sources": ["checks/test_weather.py", "crawlers/weather.py"],
            "tests": ["checks/test_weather.py"],
        }),
        "{report}"
    );

    rewrite(&policy, "crawlers/{name}.py", "crawlers/*/{name}.py");
    let bad = gates(&repo, &cache, &["--scraper", "weather"], &summary);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "error: .github/fixwright.yml: field `scrapers.modules`: the pattern `crawlers/*/{name}.py` cannot be used to find scrapers"
        ),
        "{stderr}"
    );
}

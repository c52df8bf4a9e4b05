//! The `fixwright demo` and `fixwright repair` commands as a user runs them.

use std::path::{Path, PathBuf};
use std::process::Output;

fn fixwright(args: &[&str]) -> Output {
    fixwright_with(args, &[])
}

fn fixwright_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fixwright"))
        .args(args)
        .env_remove("FIXWRIGHT_DATA_DIR")
        .env_remove("FIXWRIGHT_MODE")
        .env_remove("FIXWRIGHT_CONFIG")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("run fixwright: {e}"))
}

/// A data directory whose Python environments are the shared test cache, so
/// the suite installs the example's requirements once.
fn data_dir(temp: &Path) -> PathBuf {
    let data = temp.join("data");
    std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/test-venvs");
    std::fs::create_dir_all(&shared).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(&shared, data.join("venvs")).unwrap_or_else(|e| panic!("{e}"));
    data
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn repair_cli_demo_heals_the_events_scraper_and_prints_the_story() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let data = data_dir(temp.path());
    let demo_dir = temp.path().join("demo");
    let out = fixwright(&[
        "demo",
        "--case",
        "events",
        "--data-dir",
        &data.to_string_lossy(),
        "--dir",
        &demo_dir.to_string_lossy(),
    ]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        text(&out.stderr)
    );
    for needle in [
        "Diagnosis: selector_drift",
        "Proposal: selector_heal",
        "Replay: passed",
        "Confidence: ",
        "Branch: fixwright/events/",
        "+                \"name\": card.select_one(\"h3.event-title\")",
        "Next: ",
    ] {
        assert!(stdout.contains(needle), "missing `{needle}` in:\n{stdout}");
    }
    assert!(text(&out.stderr).contains("==> diagnosing events"));
}

#[test]
fn repair_cli_json_report_and_exit_codes() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let data = data_dir(temp.path());
    let demo_dir = temp.path().join("demo");
    // The data-gone case: a report, no fix, exit code 1.
    let out = fixwright(&[
        "demo",
        "--case",
        "books-gone",
        "--format",
        "json",
        "--data-dir",
        &data.to_string_lossy(),
        "--dir",
        &demo_dir.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("json report: {e}\n{}", text(&out.stdout)));
    assert_eq!(report["state"], "escalated");
    assert_eq!(report["scraper"], "books");
    assert!(report["refusal"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(report["branch"].is_null());

    // Bad input: exit code 2 and a message naming the problem.
    let repo = demo_dir.join("scrapers-repo");
    let out = fixwright(&[
        "repair",
        "--repo",
        &repo.join("scrapers").to_string_lossy(),
        "--scraper",
        "books",
        "--response",
        &demo_dir.join("books_data_gone.html").to_string_lossy(),
        "--data-dir",
        &data.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not a git repository"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn repair_cli_global_mode_from_the_environment_and_the_flag() {
    let temp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let data = data_dir(temp.path());
    let data_arg = data.to_string_lossy().into_owned();

    // FIXWRIGHT_MODE=dry-run: proven and reported, no branch (exit 1).
    let demo_dir = temp.path().join("dry");
    let dir_arg = demo_dir.to_string_lossy().into_owned();
    let out = fixwright_with(
        &[
            "demo",
            "--case",
            "events",
            "--data-dir",
            &data_arg,
            "--dir",
            &dir_arg,
        ],
        &[("FIXWRIGHT_MODE", "dry-run")],
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("mode dry-run (set by Fixwright's own configuration (FIXWRIGHT_MODE))"),
        "{stdout}"
    );
    assert!(stdout.contains("Replay: passed"), "{stdout}");
    assert!(!stdout.contains("Branch: fixwright/"), "{stdout}");

    // --mode off: refused as bad input before anything runs (exit 2).
    let off_dir = temp.path().join("off");
    let off_arg = off_dir.to_string_lossy().into_owned();
    let out = fixwright(&[
        "demo",
        "--case",
        "events",
        "--data-dir",
        &data_arg,
        "--dir",
        &off_arg,
        "--mode",
        "off",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("mode is off") && stderr.contains("FIXWRIGHT_MODE"),
        "{stderr}"
    );

    // A bad value names where it came from.
    let out = fixwright_with(
        &["demo", "--data-dir", &data_arg, "--dir", &off_arg],
        &[("FIXWRIGHT_MODE", "maybe")],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("FIXWRIGHT_MODE") && stderr.contains("maybe"),
        "{stderr}"
    );
}

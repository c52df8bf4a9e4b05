//! Per-repository tool pins (`gates.tools` in `.github/fixwright.yml`), with
//! `fixwright gates` as a user runs it: the pinned version is installed from
//! the package index and reported, the environment is rebuilt when a pin
//! changes and reused when none does, and a bad pin is an error naming its
//! line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A small scraper repository: one flat scraper and its test, no
/// dependencies of its own, so each environment holds only the gate tools.
fn repository(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    let files = [
        (
            "pyproject.toml",
            "[project]\nname = \"pins\"\nversion = \"0.1.0\"\nrequires-python = \">=3.10\"\ndependencies = []\n\n[tool.pytest.ini_options]\npythonpath = [\".\"]\ntestpaths = [\"tests\"]\n",
        ),
        ("scrapers/__init__.py", ""),
        (
            "scrapers/hello.py",
            "def greeting(name: str) -> str:\n    return f\"hello {name}\"\n",
        ),
        (
            "tests/test_hello.py",
            "from scrapers.hello import greeting\n\n\ndef test_greeting() -> None:\n    assert greeting(\"you\") == \"hello you\"\n",
        ),
    ];
    for (path, text) in files {
        let path = repo.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    repo
}

fn write_policy(repo: &Path, text: &str) {
    let dir = repo.join(".github");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
    std::fs::write(dir.join("fixwright.yml"), text).unwrap_or_else(|e| panic!("write: {e}"));
}

fn gates_json(repo: &Path, cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fixwright"))
        .args(["gates", "--format", "json", "--repo"])
        .arg(repo)
        .env("FIXWRIGHT_CACHE_DIR", cache)
        .output()
        .unwrap_or_else(|e| panic!("run fixwright gates: {e}"))
}

/// The run's JSON, after checking that every gate passed.
fn passed_run(output: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stderr}\n{stdout}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout}\n{stderr}"))
}

fn ruff_gate(run: &Value) -> &Value {
    run["gates"]
        .as_array()
        .and_then(|gates| gates.iter().find(|g| g["tool"] == "ruff"))
        .unwrap_or_else(|| panic!("no ruff gate in {run}"))
}

fn environments(cache: &Path) -> usize {
    std::fs::read_dir(cache.join("envs"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with("env-") && !name.ends_with(".lock")
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn gates_pins_install_the_repository_version_and_rebuild_only_on_change() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    // A cache of its own: whether an environment is built or reused is the point.
    let cache = tmp.path().join("cache");
    let repo = repository(tmp.path());
    write_policy(
        &repo,
        "# older ruff until the new rules are triaged\ngates:\n  tools:\n    ruff: \"0.17.5\"\n",
    );

    let first = passed_run(&gates_json(&repo, &cache));
    assert_eq!(first["tools"]["ruff"], "0.17.5", "{first}");
    assert_eq!(ruff_gate(&first)["version"], "0.17.5", "{first}");
    // The other tools keep Fixwright's pins.
    assert_eq!(first["tools"]["mypy"], "2.4.1", "{first}");
    assert_eq!(first["tools"]["pytest"], "9.2.0", "{first}");
    assert_eq!(first["tools"]["pytest-timeout"], "2.4.0", "{first}");
    assert_eq!(first["environment_reused"], false, "{first}");

    // Same pins: the environment is reused, nothing is installed.
    let again = passed_run(&gates_json(&repo, &cache));
    assert_eq!(again["environment_reused"], true, "{again}");
    assert_eq!(again["tools"]["ruff"], "0.17.5", "{again}");
    assert_eq!(environments(&cache), 1);

    // A changed pin is a different environment.
    write_policy(&repo, "gates:\n  tools:\n    ruff: \"0.17.6\"\n");
    let changed = passed_run(&gates_json(&repo, &cache));
    assert_eq!(changed["environment_reused"], false, "{changed}");
    assert_eq!(changed["tools"]["ruff"], "0.17.6", "{changed}");
    assert_eq!(environments(&cache), 2);

    // Back to the first pin: its environment is still there.
    write_policy(&repo, "gates:\n  tools:\n    ruff: \"0.17.5\"\n");
    let back = passed_run(&gates_json(&repo, &cache));
    assert_eq!(back["environment_reused"], true, "{back}");
    assert_eq!(back["tools"]["ruff"], "0.17.5", "{back}");

    // A range is not a pin: exit 2, the file, line, column and field named,
    // and nothing on stdout for a JSON reader to misread.
    write_policy(
        &repo,
        "gates:\n  tools:\n    ruff: \"0.17.5\"\n    mypy: \">=2\"\n",
    );
    let bad = gates_json(&repo, &cache);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{stderr}");
    assert!(
        bad.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&bad.stdout)
    );
    assert!(
        stderr.contains(
            ".github/fixwright.yml:4:11: gates.tools.mypy: `>=2` is a requirement, not a version"
        ),
        "{stderr}"
    );
}

//! The Action scraper repositories use: its metadata against every workflow
//! that calls it, and its install script against a release packaged here
//! from the real binary by the same script the release workflow runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Deserialize)]
struct Input {
    #[serde(default)]
    required: bool,
    #[serde(default)]
    default: Option<String>,
}

#[derive(Deserialize)]
struct ActionMeta {
    inputs: BTreeMap<String, Input>,
    runs: Runs,
}

#[derive(Deserialize)]
struct Runs {
    using: String,
    steps: Vec<serde_norway::Value>,
}

fn action() -> ActionMeta {
    let text = std::fs::read_to_string(root().join("action/action.yml"))
        .unwrap_or_else(|e| panic!("read action/action.yml: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("action/action.yml: {e}"))
}

fn workflow_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [".github/workflows", ".github/workflow-templates"] {
        for entry in std::fs::read_dir(root().join(dir))
            .unwrap_or_else(|e| panic!("read {dir}: {e}"))
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// `uses:` values that mean this repository's Action.
fn calls_this_action(uses: &str) -> bool {
    uses == "./action" || uses.starts_with("fixwright/fixwright/action@")
}

#[test]
fn gates_action_inputs_match_every_caller() {
    let meta = action();
    assert_eq!(meta.runs.using, "composite");
    let names: Vec<&str> = meta.inputs.keys().map(String::as_str).collect();
    assert_eq!(names, ["changed-from", "fixwright-version", "scraper"]);
    let mut callers = 0;
    for file in workflow_files() {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
        let doc: serde_norway::Value =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let jobs = doc
            .get("jobs")
            .and_then(|j| j.as_mapping())
            .unwrap_or_else(|| panic!("{} has no jobs", file.display()));
        for (job, body) in jobs {
            let steps = body.get("steps").and_then(|s| s.as_sequence());
            for step in steps.into_iter().flatten() {
                let Some(uses) = step.get("uses").and_then(|u| u.as_str()) else {
                    continue;
                };
                if !calls_this_action(uses) {
                    continue;
                }
                callers += 1;
                let with: Vec<String> = step
                    .get("with")
                    .and_then(|w| w.as_mapping())
                    .map(|m| {
                        m.keys()
                            .filter_map(|k| k.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                for key in &with {
                    assert!(
                        meta.inputs.contains_key(key),
                        "{} job {job:?} passes `{key}`, which the Action does not take",
                        file.display()
                    );
                }
                for (name, input) in &meta.inputs {
                    if input.required && input.default.is_none() {
                        assert!(
                            with.contains(name),
                            "{} job {job:?} omits the required input `{name}`",
                            file.display()
                        );
                    }
                }
            }
        }
    }
    assert!(callers >= 1, "no workflow or template uses the Action");
    // Every input reaches the steps.
    let steps = serde_norway::to_string(&meta.runs.steps).unwrap_or_default();
    for name in meta.inputs.keys() {
        assert!(
            steps.contains(&format!("inputs.{name}")),
            "input {name} is never used"
        );
    }
}

fn bash(script: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new("bash")
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("GITHUB_PATH")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()))
}

#[test]
fn gates_action_installs_a_packaged_release_only_when_its_checksum_matches() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let release = tmp.path().join("releases/v0.1.0");
    let packaged = bash(
        &root().join("scripts/package-release"),
        &[
            "0.1.0",
            "x86_64-unknown-linux-gnu",
            env!("CARGO_BIN_EXE_fixwright"),
            &release.to_string_lossy(),
        ],
        &[],
    );
    assert!(
        packaged.status.success(),
        "{}",
        String::from_utf8_lossy(&packaged.stderr)
    );
    let sums = std::fs::read_to_string(release.join("SHA256SUMS")).unwrap_or_default();
    assert!(
        sums.contains("  fixwright-0.1.0-x86_64-unknown-linux-gnu.tar.gz"),
        "{sums}"
    );

    let base = format!("file://{}", tmp.path().join("releases").display());
    let install_dir = tmp.path().join("bin");
    let github_path = tmp.path().join("github_path");
    let install = |dir: &Path| {
        Command::new("bash")
            .arg(root().join("action/install.sh"))
            .env("FIXWRIGHT_VERSION", "0.1.0")
            .env("FIXWRIGHT_DOWNLOAD_BASE", &base)
            .env("RUNNER_ARCH", "X64")
            .env("FIXWRIGHT_INSTALL_DIR", dir)
            .env("GITHUB_PATH", &github_path)
            .output()
            .unwrap_or_else(|e| panic!("install.sh: {e}"))
    };
    let ok = install(&install_dir);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let version = Command::new(install_dir.join("fixwright"))
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("installed fixwright: {e}"));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("fixwright "));
    let path_file = std::fs::read_to_string(&github_path).unwrap_or_default();
    assert_eq!(path_file.trim(), install_dir.to_string_lossy());

    // A tampered asset is refused and nothing is installed.
    let asset = release.join("fixwright-0.1.0-x86_64-unknown-linux-gnu.tar.gz");
    let mut bytes = std::fs::read(&asset).unwrap_or_else(|e| panic!("{e}"));
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&asset, bytes).unwrap_or_else(|e| panic!("{e}"));
    let refused_dir = tmp.path().join("refused");
    let refused = install(&refused_dir);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("checksum mismatch"));
    assert!(!refused_dir.join("fixwright").exists());
}

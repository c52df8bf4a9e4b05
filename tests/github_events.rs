//! Every example payload of the handled events in `@octokit/webhooks-examples`
//! 7.6.1 (api.github.com and each GitHub Enterprise Server version) parses.

use std::collections::BTreeMap;
use std::path::PathBuf;

use fixwright::github::events::{Event, HANDLED_EVENTS};

const PACKAGE: &str = ".cache/npm/@octokit__webhooks-examples-7.6.1/package";

/// Examples per event over all the package's targets, counted when the
/// package was pinned; a change here means the package or the test changed.
const EXPECTED: [(&str, usize); 13] = [
    ("check_run", 18),
    ("check_suite", 20),
    ("deployment_status", 11),
    ("installation", 16),
    ("installation_repositories", 12),
    ("issue_comment", 20),
    ("pull_request", 46),
    ("pull_request_review", 11),
    ("push", 14),
    ("status", 11),
    ("workflow_dispatch", 7),
    ("workflow_job", 11),
    ("workflow_run", 10),
];

#[derive(serde::Deserialize)]
struct Definition {
    name: String,
    examples: Vec<serde_json::Value>,
}

fn package_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(PACKAGE);
    assert!(
        dir.is_dir(),
        "{} is missing: run `bash scripts/test-setup` first",
        dir.display()
    );
    dir
}

#[test]
fn every_example_of_every_handled_event_parses() {
    let dir = package_dir();
    let mut targets: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path().join("index.json")))
        .filter(|index| index.is_file())
        .collect();
    targets.sort();
    assert!(
        targets
            .iter()
            .any(|t| t.parent().is_some_and(|p| p.ends_with("api.github.com"))),
        "no api.github.com examples under {}",
        dir.display()
    );

    let mut parsed: BTreeMap<String, usize> = BTreeMap::new();
    let mut api_dot_com = 0;
    let mut failures = Vec::new();
    for index in &targets {
        let text = std::fs::read_to_string(index)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", index.display()));
        let definitions: Vec<Definition> = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not the expected layout: {e}", index.display()));
        for definition in definitions
            .iter()
            .filter(|d| HANDLED_EVENTS.contains(&d.name.as_str()))
        {
            for (i, example) in definition.examples.iter().enumerate() {
                let body = serde_json::to_vec(example).expect("a JSON value serialises");
                match Event::parse(&definition.name, &body) {
                    Ok(Event::Unhandled { name }) => failures.push(format!("{name} was not typed")),
                    Ok(event) => {
                        assert_eq!(event.name(), definition.name);
                        *parsed.entry(definition.name.clone()).or_default() += 1;
                        if index
                            .parent()
                            .is_some_and(|p| p.ends_with("api.github.com"))
                        {
                            api_dot_com += 1;
                        }
                    }
                    Err(e) => failures.push(format!("{} #{i}: {e}", index.display())),
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} examples failed to parse:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let expected: BTreeMap<String, usize> =
        EXPECTED.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    assert_eq!(parsed, expected, "examples parsed per event");
    assert_eq!(parsed.values().sum::<usize>(), 207);
    assert_eq!(api_dot_com, 100, "api.github.com examples");
    assert_eq!(targets.len(), 6, "api.github.com and five GHES versions");
}

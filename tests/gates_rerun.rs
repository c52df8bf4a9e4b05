//! Re-running the gates from GitHub, end to end: a signed `check_run` or
//! `check_suite` `rerequested` delivery (built from `@octokit/webhooks-examples`)
//! goes through the real webhook edge and inbox workers to the gate re-run
//! handler, which fetches the repository from the fake GitHub with git over
//! HTTP and an installation token, runs the real ruff, mypy and pytest, and
//! reports fresh check runs there.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use fixwright::config::{Config, ConfigLayer};
use fixwright::gates::Tool;
use fixwright::gates::rerun::{GateReruns, RerunSettings, rerun_request};
use fixwright::github::auth::{AppAuth, AppSettings, SystemClock};
use fixwright::github::events::Event;
use fixwright::github::ops::checks::{CheckConclusion, CheckOutput, CheckStatus, NewCheckRun};
use fixwright::github::{AppId, CommitSha, InstallationId, RepoName};
use fixwright::inbox::{
    Arrivals, Delivery, DeliveryHandler, RecordOnly, Route, WorkerPool, WorkerSettings, envelope,
};
use fixwright::python::Provisioner;
use fixwright::repair::attempt::{self, NewAttempt};
use fixwright::server::Edge;
use fixwright::store::Store;
use fixwright::store::inbox::{DeliveryId, InboxStatus};
use fixwright_testkit::FakeGitHub;
use fixwright_testkit::github::CheckRun;
use hmac::{Hmac, Mac};
use http::{Request, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use tower::ServiceExt;

const EXAMPLES: &str =
    ".cache/npm/@octokit__webhooks-examples-7.6.1/package/api.github.com/index.json";
const SECRET: &str = "rerun-secret";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real example of `event` whose action is `action` (the first one).
fn example(event: &str, action: &str) -> Value {
    let path = root().join(EXAMPLES);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} (run `bash scripts/test-setup`): {e}",
            path.display()
        )
    });
    let all: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    all.iter()
        .filter(|d| d["name"] == event)
        .flat_map(|d| d["examples"].as_array().cloned().unwrap_or_default())
        .find(|x| x["action"] == action)
        .unwrap_or_else(|| panic!("no {event} {action} example"))
}

/// Every file of a directory as (relative path, text), for seeding the fake.
fn files_of(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)
            .unwrap_or_else(|e| panic!("read {}: {e}", current.display()))
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                out.push((relative, text));
            }
        }
    }
    out.sort();
    out
}

/// The example payload pointed at our repository, commit and App.
fn retarget(
    mut payload: Value,
    object: &str,
    fake: &FakeGitHub,
    installation: u64,
    head: &str,
    base: &str,
) -> Value {
    payload["installation"] = json!({"id": installation, "node_id": "MDIz"});
    payload["repository"]["full_name"] = json!("acme/scrapers");
    payload["repository"]["name"] = json!("scrapers");
    payload["repository"]["owner"]["login"] = json!("acme");
    payload["repository"]["default_branch"] = json!("main");
    payload["sender"]["login"] = json!("alice");
    payload["sender"]["type"] = json!("User");
    let target = &mut payload[object];
    target["head_sha"] = json!(head);
    target["app"]["id"] = json!(fake.app_id());
    target["pull_requests"] = json!([{
        "url": "https://api.github.com/repos/acme/scrapers/pulls/1",
        "id": 1,
        "number": 1,
        "head": {"ref": "fix", "sha": head, "repo": {"id": 1, "url": "https://api.github.com/repos/acme/scrapers", "name": "scrapers"}},
        "base": {"ref": "main", "sha": base, "repo": {"id": 1, "url": "https://api.github.com/repos/acme/scrapers", "name": "scrapers"}},
    }]);
    payload
}

fn check_run_rerequested(
    fake: &FakeGitHub,
    installation: u64,
    name: &str,
    external_id: &str,
    head: &str,
    base: &str,
) -> Value {
    let mut payload = retarget(
        example("check_run", "rerequested"),
        "check_run",
        fake,
        installation,
        head,
        base,
    );
    payload["check_run"]["name"] = json!(name);
    payload["check_run"]["external_id"] = json!(external_id);
    payload["check_run"]["check_suite"]["head_sha"] = json!(head);
    payload
}

fn signed(event: &str, id: &str, body: &[u8]) -> Request<Body> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    Request::post("/webhooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", id)
        .header("x-hub-signature-256", signature)
        .body(Body::from(body.to_vec()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn runs_named(fake: &FakeGitHub, name: &str) -> Vec<CheckRun> {
    let mut runs: Vec<CheckRun> = fake
        .check_runs("acme", "scrapers")
        .into_iter()
        .filter(|r| r.name == name)
        .collect();
    runs.sort_by_key(|r| r.id);
    runs
}

async fn wait_done(store: &Store, id: &str) {
    for _ in 0..2400 {
        let shown = store.inbox_show(id).await.ok().flatten();
        match shown.as_ref().map(|(e, _)| e.status) {
            Some(InboxStatus::Done) => return,
            Some(InboxStatus::Dead) => panic!("delivery {id} was dead-lettered: {shown:?}"),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    panic!("delivery {id} was not processed within 10 minutes");
}

#[test]
fn gates_rerun_asks_only_for_our_rerequested_gate_checks() {
    let app = AppId(4242);
    let parse = |event: &str, payload: &Value| {
        Event::parse(event, &serde_json::to_vec(payload).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let mut run = example("check_run", "rerequested");
    run["check_run"]["app"]["id"] = json!(app.0);
    // The example's own name is another App's check.
    assert_eq!(rerun_request(&parse("check_run", &run), app), None);
    run["check_run"]["name"] = json!("fixwright/pytest");
    run["check_run"]["external_id"] = json!("");
    let request = rerun_request(&parse("check_run", &run), app)
        .unwrap_or_else(|| panic!("a re-requested fixwright/pytest is a re-run"));
    assert_eq!(request.tools, [Tool::Pytest]);
    assert_eq!(request.external_id, None);
    assert_eq!(request.base_sha, None);
    // Not a gate, or not ours, or not re-requested: nothing.
    run["check_run"]["name"] = json!("fixwright/confidence");
    assert_eq!(rerun_request(&parse("check_run", &run), app), None);
    run["check_run"]["name"] = json!("fixwright/ruff");
    assert!(rerun_request(&parse("check_run", &run), AppId(1)).is_none());
    run["action"] = json!("completed");
    assert_eq!(rerun_request(&parse("check_run", &run), app), None);

    let mut suite = example("check_suite", "rerequested");
    suite["check_suite"]["app"]["id"] = json!(app.0);
    let request = rerun_request(&parse("check_suite", &suite), app)
        .unwrap_or_else(|| panic!("a re-requested suite of ours is a re-run"));
    assert_eq!(request.tools, Tool::ALL);
    assert_eq!(
        request.base_sha.as_ref().map(|s| s.as_str().len()),
        Some(40),
        "the suite's pull request base"
    );
    assert!(rerun_request(&parse("check_suite", &suite), AppId(1)).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gates_rerun_reports_fresh_check_runs_once_per_delivery() {
    let fake = FakeGitHub::start()
        .await
        .unwrap_or_else(|e| panic!("fake GitHub (run `bash scripts/test-setup`): {e}"));
    let installation = fake.add_installation("acme");
    let seed = files_of(&root().join("tests/fixtures/gates-repo"));
    let seed: Vec<(&str, &str)> = seed.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let base = fake
        .add_repo(installation, "acme", "scrapers", &seed)
        .unwrap_or_else(|e| panic!("seed: {e}"));
    // The pull request's commit: an unused import (ruff) and a failing assertion (pytest).
    let text = |path: &str| {
        seed.iter()
            .find(|(p, _)| *p == path)
            .map(|(_, t)| (*t).to_owned())
            .unwrap_or_else(|| panic!("no {path} in the fixture"))
    };
    let spider = text("bookshop/spiders/books.py").replacen(
        "from collections.abc",
        "import os\nfrom collections.abc",
        1,
    );
    let test = text("tests/test_weather.py").replacen("\"high\": 21.5", "\"high\": 22.5", 1);
    let head = fake
        .commit(
            "acme",
            "scrapers",
            "fix",
            &[
                ("bookshop/spiders/books.py", Some(&spider)),
                ("tests/test_weather.py", Some(&test)),
            ],
            "Fix the books spider",
        )
        .unwrap_or_else(|e| panic!("commit: {e}"));

    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(&format!(
        "sqlite://{}",
        tmp.path().join("fixwright.db").display()
    ))
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let attempt = attempt::create(
        &store,
        &NewAttempt {
            repository: "acme/scrapers".into(),
            scraper: "books".into(),
            fingerprint: "books-selector".into(),
        },
        "diagnosed",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let attempt_id = attempt.id.to_string();

    let api = url::Url::parse(&fake.base_url()).unwrap_or_else(|e| panic!("{e}"));
    let app = Arc::new(
        AppAuth::from_pem(
            AppSettings::new(AppId(fake.app_id()), api),
            fake.app_private_key_pem().as_bytes(),
            Path::new("fake.pem"),
            Arc::new(SystemClock),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    // The attempt's earlier (now stale) green checks on the commit.
    let client = app.installation_client(InstallationId(installation));
    let repo = RepoName::new("acme", "scrapers").unwrap_or_else(|e| panic!("{e}"));
    for tool in Tool::ALL {
        client
            .create_check_run(
                &repo,
                &NewCheckRun {
                    name: tool.check_name(),
                    head_sha: CommitSha::from(head.as_str()),
                    external_id: attempt_id.clone(),
                    status: CheckStatus::Completed,
                    conclusion: Some(CheckConclusion::Success),
                    started_at: None,
                    completed_at: None,
                    output: Some(CheckOutput {
                        title: format!("{tool}: passed"),
                        summary: "earlier run".into(),
                        text: None,
                        annotations: Vec::new(),
                    }),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("seed check run: {e}"));
    }

    let toml = format!("webhook_secrets = [{SECRET:?}]\n");
    let layer = ConfigLayer::from_toml(&toml).unwrap_or_else(|e| panic!("{e}"));
    let config =
        Config::validate(layer, Some(tmp.path().join("data"))).unwrap_or_else(|e| panic!("{e}"));
    let arrivals = Arrivals::new();
    let edge = Edge::build(&config, store.clone(), arrivals.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let handler = Arc::new(GateReruns::new(
        Arc::new(RecordOnly),
        app.clone(),
        store.clone(),
        // Environments are shared with the other Python tests: PyPI is asked once.
        Provisioner::new(root().join(".cache/test-venvs")),
        RerunSettings::new(tmp.path().join("work")),
    ));
    let pool = WorkerPool::spawn(
        store.clone(),
        handler.clone(),
        None,
        WorkerSettings {
            workers: 1,
            lease: Duration::from_secs(600),
            backoff_base: Duration::ZERO,
            backoff_max: Duration::ZERO,
            max_tries: 3,
            batch: 4,
            idle_poll: Duration::from_millis(100),
            linger: Duration::ZERO,
            bot_login: Some(fake.bot_login()),
        },
        arrivals,
    );
    let send = async |event: &str, id: &str, payload: &Value| {
        let body = serde_json::to_vec(payload).unwrap_or_else(|e| panic!("{e}"));
        let response = edge
            .router
            .clone()
            .oneshot(signed(event, id, &body))
            .await
            .unwrap_or_else(|e| match e {});
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        body
    };

    // 1. "Re-run" on the attempt's ruff check: a fresh ruff run, same external_id.
    let payload = check_run_rerequested(
        &fake,
        installation,
        "fixwright/ruff",
        &attempt_id,
        &head,
        &base,
    );
    let body = send("check_run", "rerun-ruff-1", &payload).await;
    wait_done(&store, "rerun-ruff-1").await;
    let ruff = runs_named(&fake, "fixwright/ruff");
    assert_eq!(ruff.len(), 2, "{ruff:#?}");
    let fresh = &ruff[1];
    assert_eq!(fresh.status, "completed");
    assert_eq!(fresh.conclusion.as_deref(), Some("failure"), "{fresh:#?}");
    assert_eq!(fresh.external_id.as_deref(), Some(attempt_id.as_str()));
    assert_eq!(fresh.head_sha, head);
    assert_eq!(fresh.annotations.len(), 1, "{fresh:#?}");
    let annotation = &fresh.annotations[0];
    assert_eq!(annotation["path"], "bookshop/spiders/books.py");
    assert_eq!(annotation["start_line"], 2);
    assert_eq!(annotation["title"], "ruff F401");
    let summary = fresh.summary.clone().unwrap_or_default();
    assert!(summary.contains("ruff 0.17.6"), "{summary}");
    // The earlier run is left as it was; the other checks were not re-run.
    assert_eq!(ruff[0].conclusion.as_deref(), Some("success"));
    assert_eq!(runs_named(&fake, "fixwright/mypy").len(), 1);
    assert_eq!(runs_named(&fake, "fixwright/pytest").len(), 1);
    let record = store
        .gate_rerun("rerun-ruff-1")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("the re-run is recorded"));
    assert_eq!(record.state, "reported");
    assert_eq!(record.outcome.as_deref(), Some("fixwright/ruff=failure"));
    // The cached clone is marked used, so pruning keeps it while re-runs need it.
    let clones: Vec<_> = std::fs::read_dir(tmp.path().join("work/repos"))
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "git"))
        .collect();
    assert_eq!(clones.len(), 1);
    assert!(clones[0].path().join("fixwright-last-used").is_file());
    assert!(
        store
            .inbox_envelope("rerun-ruff-1")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_some(),
        "the envelope is still recorded"
    );

    // The same delivery handled again (a worker died after reporting): nothing new.
    let delivery = Delivery {
        id: DeliveryId::parse("rerun-ruff-1").unwrap_or_else(|| panic!("delivery id")),
        event: "check_run".into(),
        tries: 2,
        envelope: envelope("rerun-ruff-1", "check_run", &body, Some(&fake.bot_login()))
            .unwrap_or_else(|e| panic!("{e}")),
        body,
        route: Route::Work,
    };
    handler
        .handle(&delivery)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(runs_named(&fake, "fixwright/ruff").len(), 2);

    // 2. "Re-run all checks" on the suite: all three afresh, the attempt's id
    // found on the commit's runs.
    let mut suite = retarget(
        example("check_suite", "rerequested"),
        "check_suite",
        &fake,
        installation,
        &head,
        &base,
    );
    suite["check_suite"]["head_branch"] = json!("fix");
    send("check_suite", "rerun-suite-1", &suite).await;
    wait_done(&store, "rerun-suite-1").await;
    for (name, conclusion, annotations) in [
        ("fixwright/ruff", "failure", 1),
        ("fixwright/mypy", "success", 0),
        ("fixwright/pytest", "failure", 1),
    ] {
        let runs = runs_named(&fake, name);
        let newest = runs.last().unwrap_or_else(|| panic!("no {name} run"));
        assert_eq!(newest.status, "completed", "{name}");
        assert_eq!(
            newest.conclusion.as_deref(),
            Some(conclusion),
            "{newest:#?}"
        );
        assert_eq!(newest.external_id.as_deref(), Some(attempt_id.as_str()));
        assert_eq!(newest.annotations.len(), annotations, "{newest:#?}");
    }
    assert_eq!(runs_named(&fake, "fixwright/ruff").len(), 3);
    assert_eq!(runs_named(&fake, "fixwright/mypy").len(), 2);
    let pytest = runs_named(&fake, "fixwright/pytest");
    assert_eq!(pytest.len(), 2);
    assert_eq!(pytest[1].annotations[0]["path"], "tests/test_weather.py");

    // 3. A check that was not an attempt's gets a new gate-run id.
    let payload = check_run_rerequested(
        &fake,
        installation,
        "fixwright/mypy",
        "gates-run-by-hand",
        &head,
        &base,
    );
    send("check_run", "rerun-mypy-1", &payload).await;
    wait_done(&store, "rerun-mypy-1").await;
    let mypy = runs_named(&fake, "fixwright/mypy");
    assert_eq!(mypy.len(), 3);
    let id = mypy[2].external_id.clone().unwrap_or_default();
    assert_ne!(id, "gates-run-by-hand");
    assert_ne!(id, attempt_id);
    assert!(ulid::Ulid::from_string(&id).is_ok(), "a gate-run id: {id}");
    assert_eq!(mypy[2].conclusion.as_deref(), Some("success"));

    // 4. A pull request from a fork: GitHub names no pull request in the check
    // suite, so the base is found by the head commit. Its first commit adds an
    // unused import, its second touches only a test: compared with the head's
    // first parent, the import would pass as already there.
    let spider = text("bookshop/spiders/books.py").replacen(
        "from collections.abc",
        "import sys\nfrom collections.abc",
        1,
    );
    let contrib = |files: &[(&str, Option<&str>)], message: &str| {
        fake.commit("acme", "scrapers", "contrib", files, message)
            .unwrap_or_else(|e| panic!("commit: {e}"))
    };
    contrib(
        &[("bookshop/spiders/books.py", Some(&spider))],
        "Parse the books' ratings",
    );
    let test = text("tests/test_weather.py") + "# contributed\n";
    let fork_head = contrib(&[("tests/test_weather.py", Some(&test))], "Note the test");
    fake.open_pull_request("acme", "scrapers", "carol", "contrib", "main", "Ratings")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut payload = check_run_rerequested(
        &fake,
        installation,
        "fixwright/ruff",
        "gates-run-by-hand",
        &fork_head,
        &base,
    );
    payload["check_run"]["pull_requests"] = json!([]);
    payload["check_run"]["check_suite"]["pull_requests"] = json!([]);
    payload["check_run"]["check_suite"]["head_branch"] = Value::Null;
    send("check_run", "rerun-fork-1", &payload).await;
    wait_done(&store, "rerun-fork-1").await;
    let ruff: Vec<CheckRun> = runs_named(&fake, "fixwright/ruff")
        .into_iter()
        .filter(|r| r.head_sha == fork_head)
        .collect();
    assert_eq!(ruff.len(), 1, "{ruff:#?}");
    assert_eq!(ruff[0].conclusion.as_deref(), Some("failure"), "{ruff:#?}");
    assert_eq!(ruff[0].annotations.len(), 1, "{ruff:#?}");
    assert_eq!(ruff[0].annotations[0]["path"], "bookshop/spiders/books.py");
    assert_eq!(ruff[0].annotations[0]["title"], "ruff F401");

    pool.shutdown().await;
    fake.assert_clean();
}

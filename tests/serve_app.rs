//! `fixwright serve` with GitHub App credentials, run as the real binary
//! against the fake GitHub: the App JWT GitHub verifies, missed-delivery
//! recovery on start, signed deliveries stored and processed with a cached,
//! refreshed installation token, and start-up refused for a bad key.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fixwright::store::Store;
use fixwright::store::inbox::{DeliveryId, InboxStatus, Millis, NewDelivery};
use fixwright_testkit::FakeGitHub;
use fixwright_testkit::github::DeliverySeed;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A running `fixwright serve`; killed when dropped.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- fixwright serve log ---\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

/// A free local port (bound, then released for the server to take).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `fixwright serve` with only the given environment (and `PATH`), logging to `dir`.
fn serve_command(dir: &Path, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fixwright"));
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FIXWRIGHT_LOG", "info,fixwright=debug");
    for (name, value) in env {
        command.env(name, value);
    }
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    command
}

/// The environment of a server with App credentials against `fake`, storing in `dir`.
fn app_env(fake: &FakeGitHub, dir: &Path, key: &Path, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("FIXWRIGHT_APP_ID", fake.app_id().to_string()),
        ("FIXWRIGHT_PRIVATE_KEY_PATH", key.display().to_string()),
        ("FIXWRIGHT_WEBHOOK_SECRET", fake.webhook_secret()),
        ("FIXWRIGHT_GITHUB_API_URL", fake.base_url()),
        ("FIXWRIGHT_DATA_DIR", dir.display().to_string()),
        (
            "FIXWRIGHT_DATABASE_URL",
            format!("sqlite://{}", dir.join("fixwright.db").display()),
        ),
        ("FIXWRIGHT_LISTEN", format!("127.0.0.1:{port}")),
        ("FIXWRIGHT_WORKERS", "1".into()),
        ("FIXWRIGHT_BACKOFF_BASE_SECONDS", "1".into()),
    ]
}

/// Polls `done` every 50 ms for up to 30 s.
async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// POSTs a delivery signed the way GitHub signs it.
async fn post_signed(server: &Server, secret: &str, event: &str, guid: &str, body: &[u8]) -> u16 {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    reqwest::Client::new()
        .post(format!("{}/webhooks/github", server.base))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", guid)
        .header("x-hub-signature-256", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn status_of(store: &Store, guid: &str) -> Option<InboxStatus> {
    store
        .inbox_show(guid)
        .await
        .unwrap()
        .map(|(entry, _)| entry.status)
}

fn installation_json(id: u64) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "app_id": 1,
        "account": {"id": 10, "login": "acme", "type": "Organization"},
    })
}

fn sender() -> serde_json::Value {
    serde_json::json!({"id": 11, "login": "alice", "type": "User"})
}

fn repository(full_name: &str) -> serde_json::Value {
    let name = full_name.split('/').nth(1).unwrap();
    serde_json::json!({"id": 12, "name": name, "full_name": full_name, "private": true})
}

fn failed_delivery(guid: &str) -> DeliverySeed {
    DeliverySeed {
        guid: guid.into(),
        event: "issue_comment".into(),
        action: Some("created".into()),
        status_code: 502,
        installation_id: None,
        repository_id: None,
        payload: serde_json::json!({"action": "created", "sender": sender()}),
    }
}

fn labels_of(fake: &FakeGitHub, repo: &str) -> Vec<String> {
    fake.repo("acme", repo)
        .map(|r| r.labels.keys().cloned().collect())
        .unwrap_or_default()
}

const FIXWRIGHT_LABELS: [&str; 4] = [
    "fixwright",
    "fixwright: high",
    "fixwright: low",
    "fixwright: medium",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_app_credentials_recovers_processes_and_caches_tokens() {
    let fake = FakeGitHub::start()
        .await
        .expect("fake GitHub starts (run `bash scripts/test-setup` first)");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(&key, fake.app_private_key_pem()).unwrap();
    let installation = fake.add_installation("acme");
    fake.add_repo(
        installation,
        "acme",
        "scrapers",
        &[("scrapers/shop.py", "URL = 'x'\n")],
    )
    .unwrap();
    fake.add_repo(
        installation,
        "acme",
        "more",
        &[("scrapers/news.py", "URL = 'y'\n")],
    )
    .unwrap();
    fake.add_repo(
        installation,
        "acme",
        "quiet",
        &[(".github/fixwright.yml", "mode: off\n")],
    )
    .unwrap();
    // Installation tokens live five minutes (Fixwright's refresh margin) and 12 s.
    fake.set_token_ttl(Duration::from_secs(5 * 60 + 12));

    // GitHub's log: 130 failed deliveries (two pages of 100) from ten minutes
    // ago, and successful ones; the inbox already holds five of the failed.
    let failed: Vec<u64> = (0..130)
        .map(|i| fake.add_hook_delivery(failed_delivery(&format!("failed-{i:03}"))))
        .collect();
    for i in 0..20 {
        fake.add_hook_delivery(DeliverySeed {
            status_code: 202,
            ..failed_delivery(&format!("fine-{i:03}"))
        });
    }
    fake.world(|w| {
        for d in &mut w.deliveries {
            d.delivered_at = chrono::Utc::now() - chrono::TimeDelta::minutes(10);
        }
    });
    let database = format!("sqlite://{}", dir.path().join("fixwright.db").display());
    let store = Store::open(&database).await.unwrap();
    let body =
        serde_json::to_vec(&serde_json::json!({"action": "created", "sender": sender()})).unwrap();
    let held: Vec<NewDelivery> = (0..5)
        .map(|i| {
            NewDelivery::new(
                DeliveryId::parse(&format!("failed-{i:03}")).unwrap(),
                "issue_comment".into(),
                Some("created".into()),
                None,
                None,
                Millis::now(),
                &body,
            )
            .unwrap()
        })
        .collect();
    store.inbox_insert(&held).await.unwrap();

    let port = free_port();
    fake.set_webhook_target(&format!("http://127.0.0.1:{port}/webhooks/github"));
    let child = serve_command(dir.path(), &app_env(&fake, dir.path(), &key, port))
        .spawn()
        .expect("the fixwright binary starts");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log: dir.path().join("serve.log"),
    };
    let http = reqwest::Client::new();
    wait_until("/readyz answers 200", async || {
        matches!(
            http.get(format!("{}/readyz", server.base)).send().await,
            Ok(r) if r.status().is_success()
        )
    })
    .await;
    let ready: serde_json::Value = http
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["database"], "reachable", "{ready}");
    assert_eq!(ready["github"], "App credentials configured", "{ready}");
    // The start-up check (and any recovery pass since) reached the fake GitHub.
    assert_eq!(ready["github_last_contact"]["reachable"], true, "{ready}");
    assert!(ready["github_last_contact"]["error"].is_null(), "{ready}");

    // The App authenticated with a JWT GitHub accepts: read the App at start, then
    // list deliveries; every JWT issued a minute back, valid at most 10 minutes.
    assert!(fake.request_count("apps/get-authenticated") >= 1);
    let jwts = fake.app_jwts();
    assert!(!jwts.is_empty());
    for jwt in &jwts {
        assert!(jwt.exp - jwt.iat <= 600, "{jwt:?}");
        assert!(jwt.exp > jwt.seen_at, "{jwt:?}");
        assert!(
            (60..=180).contains(&(jwt.seen_at - jwt.iat)),
            "iat is a minute before signing: {jwt:?}"
        );
    }

    // Recovery on start: both pages read, exactly the failed deliveries the
    // inbox lacks asked for again, and GitHub's redeliveries stored.
    wait_until("the missing deliveries are asked for", async || {
        fake.redelivery_attempts().len() >= 125
    })
    .await;
    let mut asked = fake.redelivery_attempts();
    asked.sort();
    assert_eq!(asked, failed[5..].to_vec());
    assert_eq!(fake.request_count("apps/list-webhook-deliveries"), 2);
    assert!(
        fake.requests()
            .iter()
            .filter(|r| r.operation_id.as_deref() == Some("apps/list-webhook-deliveries"))
            .all(|r| r.status == 200)
    );
    wait_until("the redeliveries are stored and processed", async || {
        for i in 5..130 {
            if status_of(&store, &format!("failed-{i:03}")).await != Some(InboxStatus::Done) {
                return false;
            }
        }
        true
    })
    .await;
    assert_eq!(
        fake.token_requests(installation),
        0,
        "comments without repository work need no installation token"
    );

    // The App is installed on a repository: stored, processed, a token minted,
    // and the repository gets Fixwright's labels.
    let installed = serde_json::json!({
        "action": "created",
        "installation": installation_json(installation),
        "repositories": [repository("acme/scrapers")],
        "sender": sender(),
    });
    let status = post_signed(
        &server,
        &fake.webhook_secret(),
        "installation",
        "install-1",
        &serde_json::to_vec(&installed).unwrap(),
    )
    .await;
    assert_eq!(status, 202);
    wait_until("the installation is processed", async || {
        status_of(&store, "install-1").await == Some(InboxStatus::Done)
    })
    .await;
    assert_eq!(labels_of(&fake, "scrapers"), FIXWRIGHT_LABELS);
    assert_eq!(fake.token_requests(installation), 1);

    // A repository added later: the cached token serves.
    let added = |repo: &str| {
        serde_json::to_vec(&serde_json::json!({
            "action": "added",
            "installation": installation_json(installation),
            "repository_selection": "selected",
            "repositories_added": [repository(repo)],
            "repositories_removed": [],
            "sender": sender(),
        }))
        .unwrap()
    };
    let secret = fake.webhook_secret();
    let status = post_signed(
        &server,
        &secret,
        "installation_repositories",
        "added-1",
        &added("acme/more"),
    )
    .await;
    assert_eq!(status, 202);
    wait_until("the added repository is processed", async || {
        status_of(&store, "added-1").await == Some(InboxStatus::Done)
    })
    .await;
    assert_eq!(labels_of(&fake, "more"), FIXWRIGHT_LABELS);
    assert_eq!(
        fake.token_requests(installation),
        1,
        "the second use did not mint again"
    );

    // Once the token is inside the refresh margin, the next use mints a new one.
    let expires = fake.world(|w| {
        w.tokens
            .values()
            .filter(|t| t.installation == installation)
            .map(|t| t.expires_at)
            .max()
            .unwrap()
    });
    let refresh_from = expires - chrono::TimeDelta::minutes(5) + chrono::TimeDelta::seconds(1);
    while chrono::Utc::now() < refresh_from {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = post_signed(
        &server,
        &secret,
        "installation_repositories",
        "added-2",
        &added("acme/quiet"),
    )
    .await;
    assert_eq!(status, 202);
    wait_until("the second added repository is processed", async || {
        status_of(&store, "added-2").await == Some(InboxStatus::Done)
    })
    .await;
    assert_eq!(
        fake.token_requests(installation),
        2,
        "refreshed before expiry"
    );
    assert!(
        labels_of(&fake, "quiet").is_empty(),
        "the repository's own `mode: off` is honoured"
    );

    // A delivery with a bad signature is refused and stored nowhere.
    let status = post_signed(
        &server,
        "not-the-secret",
        "installation_repositories",
        "forged-1",
        &added("acme/more"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(status_of(&store, "forged-1").await, None);
    drop(server);
    fake.assert_clean();
}

/// Runs `fixwright serve` expecting it to refuse to start; returns its output.
async fn refused_start(fake: &FakeGitHub, dir: &Path, key: &Path) -> String {
    let child = serve_command(dir, &app_env(fake, dir, key, free_port()))
        .spawn()
        .expect("the fixwright binary starts");
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(!output.status.success(), "start-up must fail");
    std::fs::read_to_string(dir.join("serve.log")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_to_start_with_a_bad_or_unreadable_key() {
    let fake = FakeGitHub::start()
        .await
        .expect("fake GitHub starts (run `bash scripts/test-setup` first)");
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("absent.pem");
    let log = refused_start(&fake, dir.path(), &missing).await;
    assert!(
        log.contains("private_key_path")
            && log.contains(&format!("cannot read {}", missing.display())),
        "{log}"
    );

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let log = refused_start(&fake, dir.path(), &garbage).await;
    assert!(
        log.contains(&format!(
            "the GitHub App private key {} is not a usable RSA PEM key",
            garbage.display()
        )),
        "{log}"
    );

    // A well-formed key of another App: GitHub refuses its JWT.
    let other = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-only-app-key.pem");
    let log = refused_start(&fake, dir.path(), &other).await;
    assert!(
        log.contains("GitHub refused the App's credentials")
            && log.contains(&other.display().to_string()),
        "{log}"
    );
    assert!(
        !dir.path().join("fixwright.db").exists(),
        "nothing was migrated before the key was checked"
    );
    fake.assert_clean();
}

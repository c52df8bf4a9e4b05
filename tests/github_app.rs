//! App-level flows against the fake GitHub: missed-delivery recovery (with the
//! real inbox as ledger), token dropping on uninstall through the inbox workers,
//! and the manifest flow of `fixwright setup`.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use fixwright::cli::setup::{APP_MANIFEST, ManifestFlow, parse_manifest, run_manifest_flow};
use fixwright::github::auth::{AppSettings, SystemClock};
use fixwright::github::deliveries::{
    DeliveryLedger, DeliveryRecovery, LedgerError, RecoverySettings,
};
use fixwright::github::retry::RecordingSleeper;
use fixwright::github::{
    AppAuth, AppId, DeliveryGuid, HookDeliveryId, InstallationId, RetryPolicy,
};
use fixwright::inbox::{Arrivals, RecordOnly, WorkerPool, WorkerSettings};
use fixwright::store::Store;
use fixwright::store::inbox::{DeliveryId, InboxStatus, Millis, NewDelivery};
use fixwright_testkit::github::DeliverySeed;
use fixwright_testkit::{Failure, FakeGitHub};

/// The inbox's answer: the guids it has stored.
struct Ledger(Mutex<HashSet<DeliveryGuid>>);

impl Ledger {
    fn new(guids: &[&str]) -> Arc<Self> {
        Arc::new(Self(Mutex::new(
            guids.iter().map(|g| DeliveryGuid::from(*g)).collect(),
        )))
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl DeliveryLedger for Ledger {
    fn known(
        &self,
        guids: &[DeliveryGuid],
    ) -> impl Future<Output = Result<HashSet<DeliveryGuid>, LedgerError>> + Send {
        let stored = self.0.lock().unwrap();
        let known = guids
            .iter()
            .filter(|g| stored.contains(*g))
            .cloned()
            .collect();
        std::future::ready(Ok(known))
    }
}

/// A webhook endpoint standing in for the inbox: stores each delivery's guid.
async fn receiver(ledger: Arc<Ledger>) -> String {
    async fn store(
        axum::extract::State(ledger): axum::extract::State<Arc<Ledger>>,
        headers: axum::http::HeaderMap,
    ) -> axum::http::StatusCode {
        match headers
            .get("x-github-delivery")
            .and_then(|v| v.to_str().ok())
        {
            Some(guid) => {
                ledger.0.lock().unwrap().insert(DeliveryGuid::from(guid));
                axum::http::StatusCode::ACCEPTED
            }
            None => axum::http::StatusCode::BAD_REQUEST,
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/webhooks/github", axum::routing::post(store))
        .with_state(ledger);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/webhooks/github")
}

fn delivery(guid: &str, status_code: u16) -> DeliverySeed {
    DeliverySeed {
        guid: guid.into(),
        event: "issue_comment".into(),
        action: Some("created".into()),
        status_code,
        installation_id: None,
        repository_id: None,
        payload: serde_json::json!({"action": "created"}),
    }
}

async fn app_auth(fake: &FakeGitHub, key_pem: &[u8]) -> Arc<AppAuth> {
    let api = url::Url::parse(&fake.base_url()).unwrap();
    let settings = AppSettings {
        retry: RetryPolicy::recorded(Arc::new(RecordingSleeper::default())),
        ..AppSettings::new(AppId(fake.app_id()), api)
    };
    Arc::new(
        AppAuth::from_pem(
            settings,
            key_pem,
            Path::new("fake key"),
            Arc::new(SystemClock),
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn missed_deliveries_are_found_across_pages_and_redelivered_once() {
    let fake = FakeGitHub::start()
        .await
        .expect("fake GitHub starts (run `bash scripts/test-setup` first)");
    let auth = app_auth(&fake, fake.app_private_key_pem().as_bytes()).await;
    // Oldest first, as GitHub's log grows: one past the retention window.
    let expired = fake.add_hook_delivery(delivery("expired", 0));
    fake.world(|w| {
        for d in w.deliveries.iter_mut().filter(|d| d.id == expired) {
            d.delivered_at = chrono::Utc::now() - chrono::TimeDelta::days(4);
        }
    });
    let mut missing = Vec::new();
    for i in 0..105 {
        missing.push(HookDeliveryId(
            fake.add_hook_delivery(delivery(&format!("missing-{i}"), 502)),
        ));
    }
    fake.add_hook_delivery(delivery("stored", 502));
    fake.add_hook_delivery(delivery("accepted", 202));
    fake.fail("apps/list-webhook-deliveries", Failure::ServerError(502), 1);

    let ledger = Ledger::new(&["stored"]);
    fake.set_webhook_target(&receiver(ledger.clone()).await);
    let settings = RecoverySettings {
        settle: chrono::TimeDelta::zero(),
        ..RecoverySettings::default()
    };
    let recovery = DeliveryRecovery::new(
        auth.app_client(),
        ledger.clone(),
        Arc::new(SystemClock),
        settings,
    );
    let report = recovery.run_once().await.unwrap();
    assert_eq!(
        report.scanned, 106,
        "the failed deliveries inside the window, over two pages"
    );
    let mut redelivered = report.redelivered.clone();
    redelivered.sort();
    assert_eq!(redelivered, missing);
    assert!(report.refused.is_empty() && report.given_up.is_empty());
    let mut asked: Vec<u64> = fake.redelivery_attempts();
    asked.sort();
    assert_eq!(asked, missing.iter().map(|d| d.0).collect::<Vec<_>>());
    assert_eq!(
        fake.request_count("apps/list-webhook-deliveries"),
        3,
        "one 502, then two pages"
    );

    // GitHub redelivers to the endpoint, the inbox stores them: the next pass asks for nothing.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while ledger.len() < 106 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} deliveries arrived",
            ledger.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let again = recovery.run_once().await.unwrap();
    assert!(again.redelivered.is_empty(), "{again:?}");
    assert_eq!(fake.redelivery_attempts().len(), 105);
    fake.assert_clean();
}

#[tokio::test]
async fn recovery_runs_on_start_and_stops_on_shutdown() {
    let fake = FakeGitHub::start()
        .await
        .expect("fake GitHub starts (run `bash scripts/test-setup` first)");
    let auth = app_auth(&fake, fake.app_private_key_pem().as_bytes()).await;
    let lost = fake.add_hook_delivery(delivery("lost-while-down", 0));
    let settings = RecoverySettings {
        settle: chrono::TimeDelta::zero(),
        interval: std::time::Duration::from_secs(3600),
        ..RecoverySettings::default()
    };
    let recovery = DeliveryRecovery::new(
        auth.app_client(),
        Ledger::new(&[]),
        Arc::new(SystemClock),
        settings,
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(recovery.run(async {
        let _ = stopped.await;
    }));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while fake.redelivery_attempts().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recovery pass on start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fake.redelivery_attempts(), [lost]);
    fake.assert_clean();
}

#[tokio::test]
async fn setup_converts_the_manifest_code_and_writes_private_credentials() {
    let fake = FakeGitHub::start()
        .await
        .expect("fake GitHub starts (run `bash scripts/test-setup` first)");
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("fixwright.toml");
    std::fs::write(&config_path, "database_url = \"sqlite://keep-me.db\"\n").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let flow = ManifestFlow {
        github_url: url::Url::parse(&fake.base_url()).unwrap(),
        api_url: url::Url::parse(&fake.base_url()).unwrap(),
        webhook_url: url::Url::parse("https://fixwright.example.org/webhooks/github").unwrap(),
        org: Some("acme".into()),
        config_path: config_path.clone(),
        manifest: parse_manifest(APP_MANIFEST, "app-manifest.json").unwrap(),
        retry: RetryPolicy::recorded(Arc::new(RecordingSleeper::default())),
    };
    let running = tokio::spawn(run_manifest_flow(flow, listener));

    let http = reqwest::Client::new();
    let page = http
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let action = attribute(&page, "action");
    let manifest = attribute(&page, "value");
    assert!(
        action.starts_with(&format!(
            "{}/organizations/acme/settings/apps/new?state=",
            fake.base_url()
        )),
        "{action}"
    );
    let state = action.split("state=").nth(1).unwrap().to_owned();

    // A redirect that does not carry this run's state is refused and changes nothing.
    let forged = fake.issue_manifest_code();
    let refused = http
        .get(format!("http://{addr}/callback?code={forged}&state=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        std::fs::read_to_string(&config_path).unwrap(),
        "database_url = \"sqlite://keep-me.db\"\n"
    );

    // The browser posts the form to GitHub, which shows the App and redirects back with a code.
    let done = http
        .post(&action)
        .form(&[("manifest", manifest.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.status(),
        200,
        "{}",
        done.text().await.unwrap_or_default()
    );
    let posted = fake.manifests();
    assert_eq!(posted.len(), 1);
    assert_eq!(
        posted[0]["hook_attributes"]["url"],
        "https://fixwright.example.org/webhooks/github"
    );
    assert_eq!(posted[0]["redirect_url"], format!("http://{addr}/callback"));
    assert!(posted[0]["default_permissions"].get("workflows").is_none());
    assert!(!state.is_empty());
    let outcome = running.await.unwrap().unwrap();
    assert_eq!(outcome.app_id, AppId(fake.app_id()));

    for path in [&outcome.config_path, &outcome.private_key_path] {
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
    let config: toml::Table = std::fs::read_to_string(&config_path)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(config["app_id"].as_integer(), Some(fake.app_id() as i64));
    assert_eq!(config["database_url"].as_str(), Some("sqlite://keep-me.db"));
    assert_eq!(config["app_slug"].as_str(), Some(fake.app_slug().as_str()));
    let secrets: Vec<&str> = config["webhook_secrets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(secrets, [fake.webhook_secret()]);
    assert_eq!(
        config["private_key_path"].as_str(),
        Some(outcome.private_key_path.to_str().unwrap())
    );
    assert!(
        !std::fs::read_to_string(&config_path)
            .unwrap()
            .contains("PRIVATE KEY"),
        "the key lives in its own file"
    );

    // The written key is the App's: it authenticates against GitHub.
    let api = url::Url::parse(&fake.base_url()).unwrap();
    let auth = Arc::new(
        AppAuth::from_key_file(
            AppSettings::new(outcome.app_id, api),
            &outcome.private_key_path,
            Arc::new(SystemClock),
        )
        .unwrap(),
    );
    let installation = InstallationId(fake.add_installation("acme"));
    auth.installation_token(installation).await.unwrap();
    assert_eq!(fake.token_requests(installation.0), 1);
    fake.assert_clean();
}

/// GitHub Enterprise Server serves the API under `/api/v3`: every route keeps that prefix.
#[tokio::test]
async fn an_enterprise_base_path_prefixes_every_route() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before the request head ended");
            head.extend_from_slice(&buf[..n]);
        }
        let body = br#"{"default_branch":"trunk"}"#;
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        socket.write_all(reply.as_bytes()).await.unwrap();
        socket.write_all(body).await.unwrap();
        String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    });
    let base = url::Url::parse(&format!("http://{addr}/api/v3")).unwrap();
    let client = fixwright::github::GitHubClient::anonymous(&base, RetryPolicy::default()).unwrap();
    let repo = "acme/scrapers".parse().unwrap();
    assert_eq!(
        client.default_branch(&repo).await.unwrap().as_str(),
        "trunk"
    );
    assert_eq!(
        server.await.unwrap(),
        "GET /api/v3/repos/acme/scrapers HTTP/1.1"
    );
}

/// The unescaped value of the first `name="..."` attribute in `html`.
fn attribute(html: &str, name: &str) -> String {
    let start = html
        .find(&format!("{name}=\""))
        .map(|i| i + name.len() + 2)
        .expect("attribute present");
    let end = start + html[start..].find('"').expect("attribute closed");
    html[start..end]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A fresh SQLite inbox in its own temp dir (kept alive by the returned guard).
async fn sqlite_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("inbox.db").display());
    let store = Store::open(&url).await.unwrap();
    (dir, store)
}

/// Stores a delivery in the inbox as the webhook edge would after verifying it.
async fn store_delivery(store: &Store, guid: &str, event: &str, body: &serde_json::Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let delivery = NewDelivery::new(
        DeliveryId::parse(guid).unwrap(),
        event.to_owned(),
        body["action"].as_str().map(str::to_owned),
        body["installation"]["id"]
            .as_i64()
            .map(fixwright::store::inbox::InstallationId),
        None,
        Millis::now(),
        &bytes,
    )
    .unwrap();
    store.inbox_insert(&[delivery]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstall_through_the_workers_drops_the_apps_cached_token() {
    let fake = FakeGitHub::start()
        .await
        .expect("fake GitHub starts (run `bash scripts/test-setup` first)");
    let auth = app_auth(&fake, fake.app_private_key_pem().as_bytes()).await;
    let gone = fake.add_installation("acme");
    let kept = fake.add_installation("globex");
    for installation in [gone, kept, gone, kept] {
        auth.installation_token(InstallationId(installation))
            .await
            .unwrap();
    }
    assert_eq!(
        (fake.token_requests(gone), fake.token_requests(kept)),
        (1, 1),
        "tokens are cached before the uninstall"
    );

    let (_dir, store) = sqlite_store().await;
    store_delivery(
        &store,
        "uninstall-1",
        "installation",
        &serde_json::json!({
            "action": "deleted",
            "installation": {"id": gone, "account": {"login": "acme"}},
            "sender": {"login": "acme-admin", "type": "User"},
        }),
    )
    .await;
    let pool = WorkerPool::spawn(
        store.clone(),
        Arc::new(RecordOnly),
        Some(auth.clone()),
        WorkerSettings {
            workers: 1,
            lease: std::time::Duration::from_secs(30),
            backoff_base: std::time::Duration::ZERO,
            backoff_max: std::time::Duration::ZERO,
            max_tries: 3,
            batch: 4,
            idle_poll: std::time::Duration::from_millis(20),
            linger: std::time::Duration::ZERO,
            bot_login: None,
        },
        Arrivals::new(),
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let entry = store.inbox_show("uninstall-1").await.unwrap();
        if let Some((entry, _)) = &entry
            && entry.status == InboxStatus::Done
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the uninstall was not processed: {entry:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    pool.shutdown().await;

    auth.installation_token(InstallationId(gone)).await.unwrap();
    auth.installation_token(InstallationId(kept)).await.unwrap();
    assert_eq!(
        fake.token_requests(gone),
        2,
        "the uninstalled installation's token was dropped, so a new one is minted"
    );
    assert_eq!(
        fake.token_requests(kept),
        1,
        "other installations keep their cached token"
    );
    fake.assert_clean();
}

#[tokio::test]
async fn recovery_with_the_sqlite_inbox_as_ledger_redelivers_only_what_it_lacks() {
    let fake = FakeGitHub::start()
        .await
        .expect("fake GitHub starts (run `bash scripts/test-setup` first)");
    let auth = app_auth(&fake, fake.app_private_key_pem().as_bytes()).await;
    let (_dir, store) = sqlite_store().await;
    // The inbox holds one delivery GitHub saw fail (we stored it, then the answer
    // was lost) and nothing of the other two.
    let comment = serde_json::json!({"action": "created", "sender": {"login": "alice"}});
    store_delivery(&store, "held-but-failed", "issue_comment", &comment).await;
    fake.add_hook_delivery(delivery("held-but-failed", 502));
    let lost = [
        fake.add_hook_delivery(delivery("lost-1", 0)),
        fake.add_hook_delivery(delivery("lost-2", 503)),
    ];

    let recovery = DeliveryRecovery::new(
        auth.app_client(),
        Arc::new(store.clone()),
        Arc::new(SystemClock),
        RecoverySettings {
            settle: chrono::TimeDelta::zero(),
            ..RecoverySettings::default()
        },
    );
    let report = recovery.run_once().await.unwrap();
    assert_eq!(report.scanned, 3);
    let mut redelivered: Vec<u64> = report.redelivered.iter().map(|d| d.0).collect();
    redelivered.sort();
    assert_eq!(redelivered, lost);
    let mut asked = fake.redelivery_attempts();
    asked.sort();
    assert_eq!(
        asked, lost,
        "GitHub was asked only for what the inbox lacks"
    );

    // Once the inbox holds them (as the edge stores redeliveries), a pass asks for nothing.
    store_delivery(&store, "lost-1", "issue_comment", &comment).await;
    store_delivery(&store, "lost-2", "issue_comment", &comment).await;
    let again = recovery.run_once().await.unwrap();
    assert!(again.redelivered.is_empty(), "{again:?}");
    assert_eq!(fake.redelivery_attempts().len(), 2);
    fake.assert_clean();
}

/// Whether some session holds the advisory lock of recovery turns in this database.
async fn recovery_turn_held(store: &Store) -> bool {
    let Store::Postgres(pool) = store else {
        panic!("a PostgreSQL store")
    };
    let key = fixwright::store::turns::TurnKind::DeliveryRecovery.key();
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted AND objsubid = 1 \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND ((classid::bigint << 32) | objid::bigint) = $1",
    )
    .bind(key)
    .fetch_one(pool)
    .await
    .unwrap();
    held > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_postgres_take_turns_at_recovery() {
    let fake = FakeGitHub::start()
        .await
        .expect("fake GitHub starts (run `bash scripts/test-setup` first)");
    let auth = app_auth(&fake, fake.app_private_key_pem().as_bytes()).await;
    let db = fixwright_testkit::postgres::FreshDatabase::create().await;
    let stores = [
        Store::open(db.url()).await.unwrap(),
        Store::open(db.url()).await.unwrap(),
    ];
    let settings = RecoverySettings {
        settle: chrono::TimeDelta::zero(),
        interval: std::time::Duration::from_secs(300),
        ..RecoverySettings::default()
    };
    let [a, b] = stores.clone().map(|store| {
        Arc::new(
            DeliveryRecovery::new(
                auth.app_client(),
                Arc::new(store.clone()),
                Arc::new(SystemClock),
                settings.clone(),
            )
            .taking_turns(Arc::new(store)),
        )
    });
    let sorted = |mut ids: Vec<u64>| {
        ids.sort();
        ids
    };

    // Both replicas start a round at once; the pass is slowed so the rounds overlap.
    let lost: Vec<u64> = (0..3)
        .map(|i| fake.add_hook_delivery(delivery(&format!("lost-{i}"), 502)))
        .collect();
    fake.fail(
        "apps/list-webhook-deliveries",
        Failure::Delay(std::time::Duration::from_secs(2)),
        1,
    );
    let (ra, rb) = tokio::join!(a.run_turn(), b.run_turn());
    let reports: Vec<_> = [ra.unwrap(), rb.unwrap()].into_iter().flatten().collect();
    assert_eq!(reports.len(), 1, "exactly one replica ran the pass");
    assert_eq!(
        sorted(reports[0].redelivered.iter().map(|d| d.0).collect()),
        lost
    );
    assert_eq!(
        sorted(fake.redelivery_attempts()),
        lost,
        "each missing delivery was asked for once"
    );
    assert_eq!(fake.request_count("apps/list-webhook-deliveries"), 1);
    assert!(
        !recovery_turn_held(&stores[0]).await,
        "the turn was given back"
    );
    // The redeliveries reach the edge, which stores them.
    let comment = serde_json::json!({"action": "created", "sender": {"login": "alice"}});
    for i in 0..3 {
        store_delivery(&stores[0], &format!("lost-{i}"), "issue_comment", &comment).await;
    }

    // Replica A takes the turn and hangs in its pass; B skips its rounds meanwhile.
    let later: Vec<u64> = (0..2)
        .map(|i| fake.add_hook_delivery(delivery(&format!("later-{i}"), 0)))
        .collect();
    fake.fail(
        "apps/list-webhook-deliveries",
        Failure::Delay(std::time::Duration::from_secs(120)),
        1,
    );
    let hanging = tokio::spawn({
        let a = a.clone();
        async move { a.run_turn().await }
    });
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !recovery_turn_held(&stores[1]).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica A never took the turn"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        b.run_turn().await.unwrap().is_none(),
        "B skips while A holds the turn"
    );
    assert_eq!(fake.redelivery_attempts().len(), 3);

    // A goes away without giving the turn back (its process dies): B takes over.
    hanging.abort();
    assert!(hanging.await.unwrap_err().is_cancelled());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let report = loop {
        if let Some(report) = b.run_turn().await.unwrap() {
            break report;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B never took over from the vanished holder"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        sorted(report.redelivered.iter().map(|d| d.0).collect()),
        later
    );
    assert_eq!(
        sorted(fake.redelivery_attempts()),
        sorted(lost.iter().chain(&later).copied().collect())
    );
    fake.assert_clean();
}

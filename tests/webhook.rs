//! The real router with HMAC-signed requests, on a real SQLite file (and the real
//! PostgreSQL for "database down"), and the inbox workers behind it.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use fixwright::config::{Config, ConfigLayer};
use fixwright::inbox::{
    Arrivals, Delivery, DeliveryHandler, HandlerError, TokenCache, WorkerPool, WorkerSettings,
};
use fixwright::server::Edge;
use fixwright::store::Store;
use fixwright::store::inbox::{InboxStatus, InstallationId, Millis, NewDelivery};
use fixwright_testkit::postgres::FreshDatabase;
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use secrecy::SecretString;
use sha2::Sha256;
use tower::ServiceExt;

struct Harness {
    router: Router,
    store: Store,
    arrivals: Arrivals,
    _dir: tempfile::TempDir,
}

fn config(secrets: &[&str], extra: &str) -> Config {
    let list: Vec<String> = secrets.iter().map(|s| format!("{s:?}")).collect();
    let toml = format!("webhook_secrets = [{}]\n{extra}", list.join(", "));
    let layer = ConfigLayer::from_toml(&toml).unwrap_or_else(|e| panic!("{e}"));
    Config::validate(layer, Some("/tmp/fixwright-test".into())).unwrap_or_else(|e| panic!("{e}"))
}

async fn harness_with(config: Config) -> Harness {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("sqlite://{}", dir.path().join("fixwright.db").display());
    let store = Store::open(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let arrivals = Arrivals::new();
    let edge = Edge::build(&config, store.clone(), arrivals.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Harness {
        router: edge.router,
        store,
        arrivals,
        _dir: dir,
    }
}

impl Harness {
    /// A worker pool on this harness's store, handed what its edge stores.
    fn workers(&self, handler: Arc<dyn DeliveryHandler>, settings: WorkerSettings) -> WorkerPool {
        WorkerPool::spawn(
            self.store.clone(),
            handler,
            None,
            settings,
            self.arrivals.clone(),
        )
    }
}

async fn harness() -> Harness {
    harness_with(config(&["s3cret"], "")).await
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn post(headers: &[(&str, &str)], body: impl Into<Body>) -> Request<Body> {
    let mut req = Request::post("/webhooks/github").header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(body.into()).unwrap_or_else(|e| panic!("{e}"))
}

fn delivery(secret: &str, event: &str, id: &str, body: &[u8]) -> Request<Body> {
    let sig = sign(secret, body);
    post(
        &[
            ("x-github-event", event),
            ("x-github-delivery", id),
            ("x-hub-signature-256", &sig),
        ],
        body.to_vec(),
    )
}

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = router
        .clone()
        .oneshot(req)
        .await
        .unwrap_or_else(|e| match e {});
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn stored_count(store: &Store) -> u64 {
    let c = store.inbox_counts().await.unwrap_or_else(|e| panic!("{e}"));
    c.queued + c.done + c.dead + c.rejected
}

fn comment(sender: &str, installation: i64) -> Vec<u8> {
    serde_json::json!({
        "action": "created",
        "installation": {"id": installation},
        "sender": {"login": sender, "type": if sender.ends_with("[bot]") { "Bot" } else { "User" }},
        "repository": {"full_name": "acme/scrapers"},
        "comment": {"body": "/retry-fix"},
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn webhook_github_documented_vector_is_accepted() {
    // GitHub's documented example: the signature verifies; the body is not JSON, so
    // the delivery is kept as rejected with its reason and answered 400.
    let h = harness_with(config(&["It's a Secret to Everybody"], "")).await;
    let req = post(
        &[
            ("x-github-event", "ping"),
            ("x-github-delivery", "vector-1"),
            (
                "x-hub-signature-256",
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            ),
        ],
        "Hello, World!",
    );
    let (status, text) = send(&h.router, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let (entry, body) = h
        .store
        .inbox_show("vector-1")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a signed non-JSON delivery is kept"));
    assert_eq!(entry.status, InboxStatus::Rejected);
    assert!(
        entry
            .last_error
            .as_deref()
            .is_some_and(|r| r.contains("not a JSON object"))
    );
    assert_eq!(body.as_deref(), Some(&b"Hello, World!"[..]));
}

#[tokio::test]
async fn webhook_verified_delivery_is_stored_before_202() {
    let h = harness().await;
    let body = comment("alice", 11);
    let (status, _) = send(&h.router, delivery("s3cret", "issue_comment", "d-1", &body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (entry, stored) = h
        .store
        .inbox_show("d-1")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("stored"));
    assert_eq!(entry.status, InboxStatus::Queued);
    assert_eq!(entry.event, "issue_comment");
    assert_eq!(entry.action.as_deref(), Some("created"));
    assert_eq!(entry.installation_id, Some(11));
    assert_eq!(stored, Some(body));
}

#[tokio::test]
async fn webhook_bad_signatures_get_401_and_store_nothing() {
    let h = harness().await;
    let body = comment("alice", 1);
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let good_sig = sign("s3cret", &body);
    let cases = [
        (
            "tampered byte",
            post(
                &[
                    ("x-github-event", "issue_comment"),
                    ("x-github-delivery", "t-1"),
                    ("x-hub-signature-256", &good_sig),
                ],
                tampered,
            ),
        ),
        (
            "wrong secret",
            delivery("not-the-secret", "issue_comment", "t-2", &body),
        ),
        (
            "missing signature",
            post(
                &[
                    ("x-github-event", "issue_comment"),
                    ("x-github-delivery", "t-3"),
                ],
                body.clone(),
            ),
        ),
        (
            "sha1 only",
            post(
                &[
                    ("x-github-event", "issue_comment"),
                    ("x-github-delivery", "t-4"),
                    ("x-hub-signature", "sha1=0000"),
                ],
                body.clone(),
            ),
        ),
    ];
    for (name, req) in cases {
        let (status, _) = send(&h.router, req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
    }
    assert_eq!(stored_count(&h.store).await, 0);
}

#[tokio::test]
async fn webhook_rotated_secrets_are_all_accepted() {
    let h = harness_with(config(&["new-secret", "old-secret"], "")).await;
    let body = comment("alice", 1);
    for (secret, id) in [("new-secret", "r-1"), ("old-secret", "r-2")] {
        let (status, _) = send(&h.router, delivery(secret, "issue_comment", id, &body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{secret}");
    }
    let (status, _) = send(
        &h.router,
        delivery("retired-secret", "issue_comment", "r-3", &body),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn webhook_missing_github_headers_get_400() {
    let h = harness().await;
    let body = comment("alice", 1);
    let sig = sign("s3cret", &body);
    let no_event = post(
        &[("x-github-delivery", "h-1"), ("x-hub-signature-256", &sig)],
        body.clone(),
    );
    let no_delivery = post(
        &[
            ("x-github-event", "issue_comment"),
            ("x-hub-signature-256", &sig),
        ],
        body.clone(),
    );
    for req in [no_event, no_delivery] {
        let (status, text) = send(&h.router, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("X-GitHub-"), "{text}");
    }
    assert_eq!(stored_count(&h.store).await, 0);
}

#[tokio::test]
async fn webhook_oversize_gets_413() {
    let h = harness().await;
    let big = vec![b' '; 25 * 1024 * 1024 + 1];
    let sig = sign("s3cret", &big);
    let headers = [
        ("x-github-event", "push"),
        ("x-github-delivery", "big-1"),
        ("x-hub-signature-256", sig.as_str()),
    ];
    // Declared length: refused before reading.
    let (status, _) = send(&h.router, post(&headers, big.clone())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Undeclared length (streamed): refused while reading.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = big
        .chunks(1024 * 1024)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let streamed = Body::from_stream(futures::stream::iter(chunks));
    let (status, _) = send(&h.router, post(&headers, streamed)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(stored_count(&h.store).await, 0);
}

#[tokio::test]
async fn webhook_duplicate_delivery_gets_200_and_no_new_work() {
    let h = harness().await;
    let body = comment("alice", 1);
    let (first, _) = send(
        &h.router,
        delivery("s3cret", "issue_comment", "dup-1", &body),
    )
    .await;
    let (second, _) = send(
        &h.router,
        delivery("s3cret", "issue_comment", "dup-1", &body),
    )
    .await;
    assert_eq!((first, second), (StatusCode::ACCEPTED, StatusCode::OK));
    let counts = h
        .store
        .inbox_counts()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts.queued, 1);
}

#[tokio::test]
async fn webhook_invalid_json_is_kept_as_rejected() {
    let h = harness().await;
    let body = br#"{"action": "created", "installation": "#;
    let (status, _) = send(
        &h.router,
        delivery("s3cret", "issue_comment", "bad-1", body),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let list = h
        .store
        .inbox_list(Some(InboxStatus::Rejected), 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(list.len(), 1);
    assert!(
        list[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("not valid JSON"))
    );
}

#[tokio::test]
async fn webhook_database_down_gets_503_never_2xx() {
    let db = FreshDatabase::create().await;
    let store = Store::open(db.url())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let edge = Edge::build(&config(&["s3cret"], ""), store.clone(), Arrivals::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let body = comment("alice", 1);
    let (status, _) = send(
        &edge.router,
        delivery("s3cret", "issue_comment", "up-1", &body),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // The database goes away under the running server.
    db.close().await.unwrap_or_else(|e| panic!("{e}"));
    let (status, _) = send(
        &edge.router,
        delivery("s3cret", "issue_comment", "down-1", &body),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let ready = Request::get("/readyz")
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, text) = send(&edge.router, ready).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(text.contains("unreachable"), "{text}");
}

#[tokio::test]
async fn webhook_ops_endpoints() {
    let h = harness_with(config(&["s3cret"], "metrics_token = \"scrape-me\"")).await;
    let get = |path: &str, auth: Option<&str>| {
        let mut req = Request::get(path);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.body(Body::empty()).unwrap_or_else(|e| panic!("{e}"))
    };
    assert_eq!(
        send(&h.router, get("/healthz", None)).await.0,
        StatusCode::OK
    );
    let (status, text) = send(&h.router, get("/readyz", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("will take no action on GitHub"), "{text}");
    let ready: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(
        ready["github_last_contact"].is_null(),
        "no call to GitHub without credentials: {ready}"
    );
    let body = comment("alice", 1);
    send(&h.router, delivery("s3cret", "issue_comment", "m-1", &body)).await;
    assert_eq!(
        send(&h.router, get("/metrics", None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&h.router, get("/metrics", Some("Bearer wrong")))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, text) = send(&h.router, get("/metrics", Some("Bearer scrape-me"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("fixwright_inbox_queue_depth")
            && text.contains("fixwright_webhook_deliveries_total"),
        "metrics output: {text}"
    );
}

// ---- workers ----

fn fast_settings(workers: usize, lease: Duration, max_tries: u32) -> WorkerSettings {
    WorkerSettings {
        workers,
        lease,
        backoff_base: Duration::ZERO,
        backoff_max: Duration::ZERO,
        max_tries,
        batch: 4,
        idle_poll: Duration::from_millis(50),
        linger: Duration::ZERO,
        bot_login: Some("fixwright[bot]".to_owned()),
    }
}

/// Workers that never poll the store on their own: whatever they run was handed
/// over, or found in the rounds that look in the store first.
fn handovers_only(settings: WorkerSettings) -> WorkerSettings {
    WorkerSettings {
        idle_poll: Duration::from_secs(60),
        linger: Duration::from_secs(60),
        ..settings
    }
}

/// An `issue_comment` delivery as the edge would store it, received at `at`.
fn stored_comment(id: &str, at: Millis) -> NewDelivery {
    NewDelivery::new(
        fixwright::store::inbox::DeliveryId::parse(id).unwrap_or_else(|| panic!("{id}")),
        "issue_comment".to_owned(),
        Some("created".to_owned()),
        Some(InstallationId(5)),
        None,
        at,
        &comment("alice", 5),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Counts what it was given; its one effect, idempotent by delivery id as a handler's
/// effects must be, is recording the delivery's envelope.
struct Counting {
    store: Store,
    handled: Mutex<Vec<String>>,
    observed: Mutex<Vec<String>>,
    /// Deliveries whose first handling records its effect and then hangs, as a worker
    /// that crashes after the effect but before recording completion.
    hang_once: Mutex<HashSet<String>>,
    fail_with: Option<HandlerError>,
    /// How long each handling takes.
    slow: Duration,
    /// Handlings under way now, and the most there ever were at once.
    running: std::sync::atomic::AtomicUsize,
    most_at_once: std::sync::atomic::AtomicUsize,
}

impl Counting {
    fn new(store: &Store) -> Self {
        Self {
            store: store.clone(),
            handled: Mutex::default(),
            observed: Mutex::default(),
            hang_once: Mutex::default(),
            fail_with: None,
            slow: Duration::ZERO,
            running: Default::default(),
            most_at_once: Default::default(),
        }
    }

    fn handled(&self) -> Vec<String> {
        self.handled.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl DeliveryHandler for Counting {
    fn handle<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            if let Ok(mut v) = self.handled.lock() {
                v.push(d.id.to_string());
            }
            self.store
                .inbox_record_envelope(&d.envelope, Millis::now())
                .await
                .map_err(|e| HandlerError::transient(e.to_string()))?;
            let hang = self
                .hang_once
                .lock()
                .map(|mut s| s.remove(d.id.as_str()))
                .unwrap_or(false);
            if hang {
                futures::future::pending::<()>().await;
            }
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_at_once.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.slow).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            match &self.fail_with {
                Some(e) => Err(e.clone()),
                None => Ok(()),
            }
        })
    }

    fn observe<'a>(&'a self, d: &'a Delivery) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            if let Ok(mut v) = self.observed.lock() {
                v.push(d.id.to_string());
            }
            Ok(())
        })
    }
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn status_of(store: &Store, id: &str) -> Option<(InboxStatus, i64)> {
    store
        .inbox_show(id)
        .await
        .ok()
        .flatten()
        .map(|(e, _)| (e.status, e.tries))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_crash_and_restart_processes_once() {
    let h = harness().await;
    let body = comment("alice", 5);
    let (status, _) = send(&h.router, delivery("s3cret", "issue_comment", "c-1", &body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // First run: the effect happens, then the worker dies before completing.
    let crashing = Arc::new(Counting::new(&h.store));
    if let Ok(mut s) = crashing.hang_once.lock() {
        s.insert("c-1".into());
    }
    let lease = Duration::from_secs(1);
    let pool = h.workers(crashing.clone(), fast_settings(1, lease, 5));
    let store = h.store.clone();
    wait_for("the first handling", async || {
        store.inbox_envelope("c-1").await.ok().flatten().is_some()
    })
    .await;
    pool.abort();
    assert_eq!(
        status_of(&h.store, "c-1").await,
        Some((InboxStatus::Queued, 1))
    );

    // Restart: the lease expires, the delivery is handled again, its effect stays single.
    let restarted = Arc::new(Counting::new(&h.store));
    let pool = h.workers(restarted.clone(), fast_settings(2, lease, 5));
    wait_for("completion after restart", async || {
        status_of(&store, "c-1").await == Some((InboxStatus::Done, 2))
    })
    .await;
    pool.shutdown().await;
    assert_eq!(crashing.handled(), ["c-1"]);
    assert_eq!(restarted.handled(), ["c-1"]);
    let envelopes: i64 = match &h.store {
        Store::Sqlite(p) => sqlx::query_scalar("SELECT COUNT(*) FROM inbox_envelope")
            .fetch_one(p)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        Store::Postgres(_) => unreachable!("this harness is SQLite"),
    };
    assert_eq!(
        envelopes, 1,
        "a delivery handled twice has its effects once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_is_handed_what_the_edge_stores() {
    let h = harness().await;
    let handler = Arc::new(Counting::new(&h.store));
    // Workers that would look in the store only after a minute: whatever they finish
    // sooner was handed to them by the edge.
    let settings = handovers_only(fast_settings(2, Duration::from_secs(30), 3));
    let pool = h.workers(handler.clone(), settings);
    let ids: Vec<String> = (0..6).map(|n| format!("h-{n}")).collect();
    for id in &ids {
        let (status, _) = send(
            &h.router,
            delivery("s3cret", "issue_comment", id, &comment("alice", 5)),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let (status, tries) = status_of(&h.store, id)
            .await
            .unwrap_or_else(|| panic!("{id} stored"));
        assert!(
            status == InboxStatus::Done || tries == 1,
            "{id} was stored leased, its first try counted, before the answer"
        );
    }
    let store = h.store.clone();
    wait_for("every handed-over delivery", async || {
        store.inbox_counts().await.map(|c| c.done).unwrap_or(0) == 6
    })
    .await;
    pool.shutdown().await;
    let mut handled = handler.handled();
    handled.sort();
    assert_eq!(handled, ids, "each handled once");
    for id in &ids {
        assert_eq!(status_of(&h.store, id).await, Some((InboxStatus::Done, 1)));
        assert!(h.store.inbox_envelope(id).await.ok().flatten().is_some());
    }
}

/// Under a stream of handovers some handover is always waiting; a delivery due in the
/// store (a retry, one stored while the queue was full, another replica's expired
/// lease) must still be taken while the stream goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_delivery_in_the_store_is_taken_while_handovers_keep_coming() {
    let h = harness().await;
    let handler = Arc::new(Counting {
        slow: Duration::from_millis(5),
        ..Counting::new(&h.store)
    });
    // One worker that never polls on its own: only handovers, and its rounds, lead
    // it to the store.
    let settings = handovers_only(fast_settings(1, Duration::from_secs(30), 3));
    let pool = h.workers(handler.clone(), settings);
    let streaming = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let stream = tokio::spawn({
        let router = h.router.clone();
        let streaming = streaming.clone();
        async move {
            for n in 0..300 {
                let id = format!("stream-{n}");
                let (status, _) = send(
                    &router,
                    delivery("s3cret", "issue_comment", &id, &comment("alice", 5)),
                )
                .await;
                assert_eq!(status, StatusCode::ACCEPTED, "{id}");
            }
            streaming.store(false, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let handler_ = handler.clone();
    wait_for("the stream to be handed over", async || {
        handler_.handled().len() >= 10
    })
    .await;
    // Stored behind the edge's back (no handover, no wake-up), and due for an hour,
    // ahead of anything the stream leaves in the store.
    let backlog = stored_comment("backlog-1", Millis::now().before(Duration::from_secs(3600)));
    h.store
        .inbox_insert(&[backlog])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let handler_ = handler.clone();
    wait_for("the due delivery to be taken", async || {
        handler_.handled().iter().any(|id| id == "backlog-1")
    })
    .await;
    assert!(
        streaming.load(std::sync::atomic::Ordering::SeqCst),
        "the due delivery waited until the stream of handovers ended"
    );
    stream.await.unwrap_or_else(|e| panic!("{e}"));
    let store = h.store.clone();
    wait_for("everything", async || {
        store.inbox_counts().await.map(|c| c.done).unwrap_or(0) == 301
    })
    .await;
    pool.shutdown().await;
}

/// A group commit's deliveries arrive as one handover; the worker that takes it keeps
/// one batch and passes the rest on, so a burst is shared by the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_handover_is_shared_between_workers() {
    let h = harness().await;
    let handler = Arc::new(Counting {
        slow: Duration::from_millis(200),
        ..Counting::new(&h.store)
    });
    let settings = handovers_only(fast_settings(2, Duration::from_secs(30), 3));
    let pool = h.workers(handler.clone(), settings);
    // One commit of eight deliveries, stored leased and handed over as the edge's
    // writer does (the settings' batch is 4).
    let grant = h
        .arrivals
        .grant()
        .unwrap_or_else(|| panic!("handovers are open while the pool runs"));
    let batch: Vec<NewDelivery> = (0..8)
        .map(|n| stored_comment(&format!("burst-{n}"), Millis::now()))
        .collect();
    let mut writer = h
        .store
        .inbox_writer(true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    writer
        .insert(&batch, Some(&grant.lease))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let lease = grant.lease.clone();
    grant.hand_over(batch.into_iter().map(|d| d.into_leased(&lease)).collect());
    let store = h.store.clone();
    wait_for("the burst", async || {
        store.inbox_counts().await.map(|c| c.done).unwrap_or(0) == 8
    })
    .await;
    pool.shutdown().await;
    assert_eq!(handler.handled().len(), 8, "each handled once");
    assert_eq!(
        handler.most_at_once.load(Ordering::SeqCst),
        2,
        "one worker ran the whole handover while the other waited"
    );
    for n in 0..8 {
        assert_eq!(
            status_of(&h.store, &format!("burst-{n}")).await,
            Some((InboxStatus::Done, 1))
        );
    }
}

/// A handover's lease runs from when the writer granted it, and a handover may wait
/// for a worker: the worker renews it at once if a third of it has gone, instead of a
/// third of a lease after it started, when as little as a sixth could be left. The
/// renewal comes while the handler writes: neither may wait for the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handover_that_waited_is_renewed_when_taken() {
    let h = harness().await;
    let handler = Arc::new(Counting {
        slow: Duration::from_secs(2),
        ..Counting::new(&h.store)
    });
    let lease = Duration::from_secs(3);
    let settings = handovers_only(fast_settings(1, lease, 3));
    let pool = h.workers(handler.clone(), settings);
    let late = stored_comment("late-1", Millis::now());
    let mut writer = h
        .store
        .inbox_writer(true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let grant = h
        .arrivals
        .grant()
        .unwrap_or_else(|| panic!("handovers are open while the pool runs"));
    writer
        .insert(std::slice::from_ref(&late), Some(&grant.lease))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(writer);
    // Waits 1.2 s of its 3 s lease before a worker takes it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let until = grant.lease.until;
    let held = grant.lease.clone();
    grant.hand_over(vec![late.into_leased(&held)]);
    let handler_ = handler.clone();
    wait_for("the handling to start", async || {
        handler_.handled() == ["late-1"]
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Just past the granted lease, the delivery must still be held.
    let taken = tokio::time::timeout(
        Duration::from_secs(10),
        h.store
            .inbox_lease(until.after(Duration::from_millis(100)), lease, 10),
    )
    .await
    .unwrap_or_else(|_| panic!("leasing waited 10 s for the inbox's write turn"))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        taken.is_empty(),
        "the lease was not renewed when the worker took the handover: {taken:?}"
    );
    pool.shutdown().await;
    assert_eq!(
        status_of(&h.store, "late-1").await,
        Some((InboxStatus::Done, 1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_pool_shutdown_gives_back_handed_over_deliveries() {
    let h = harness().await;
    let first = Arc::new(Counting {
        slow: Duration::from_millis(500),
        ..Counting::new(&h.store)
    });
    let pool = h.workers(first.clone(), fast_settings(1, Duration::from_secs(30), 3));
    send(
        &h.router,
        delivery("s3cret", "issue_comment", "g-1", &comment("alice", 5)),
    )
    .await;
    wait_for("the first handling", async || first.handled() == ["g-1"]).await;
    // The one worker is busy: these wait, handed over, in the queue.
    for id in ["g-2", "g-3"] {
        send(
            &h.router,
            delivery("s3cret", "issue_comment", id, &comment("alice", 5)),
        )
        .await;
    }
    pool.shutdown().await;
    assert_eq!(first.handled(), ["g-1"]);
    assert_eq!(
        status_of(&h.store, "g-1").await,
        Some((InboxStatus::Done, 1))
    );
    for id in ["g-2", "g-3"] {
        assert_eq!(
            status_of(&h.store, id).await,
            Some((InboxStatus::Queued, 0)),
            "{id} given back untried, visible at once"
        );
    }
    // The next process's workers take them at once, not after a lease expires.
    let next = Arc::new(Counting::new(&h.store));
    let pool = WorkerPool::spawn(
        h.store.clone(),
        next.clone(),
        None,
        fast_settings(1, Duration::from_secs(30), 3),
        Arrivals::new(),
    );
    let store = h.store.clone();
    wait_for("the given-back deliveries", async || {
        store.inbox_counts().await.map(|c| c.done).unwrap_or(0) == 3
    })
    .await;
    pool.shutdown().await;
    assert_eq!(next.handled(), ["g-2", "g-3"]);
    assert_eq!(
        status_of(&h.store, "g-3").await,
        Some((InboxStatus::Done, 1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_crash_with_a_handed_over_delivery_loses_nothing() {
    let h = harness().await;
    let crashing = Arc::new(Counting::new(&h.store));
    if let Ok(mut s) = crashing.hang_once.lock() {
        s.insert("hc-1".into());
    }
    let lease = Duration::from_secs(1);
    let pool = h.workers(crashing.clone(), fast_settings(1, lease, 5));
    send(
        &h.router,
        delivery("s3cret", "issue_comment", "hc-1", &comment("alice", 5)),
    )
    .await;
    wait_for("the first handling", async || {
        crashing.handled() == ["hc-1"]
    })
    .await;
    pool.abort();
    // A new process: its own arrivals; the stored lease expires and the delivery runs again.
    let restarted = Arc::new(Counting::new(&h.store));
    let pool = WorkerPool::spawn(
        h.store.clone(),
        restarted.clone(),
        None,
        fast_settings(1, lease, 5),
        Arrivals::new(),
    );
    let store = h.store.clone();
    wait_for("completion after restart", async || {
        status_of(&store, "hc-1").await == Some((InboxStatus::Done, 2))
    })
    .await;
    pool.shutdown().await;
    assert_eq!(restarted.handled(), ["hc-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_renews_its_lease_while_a_handler_runs_long() {
    let h = harness().await;
    let body = comment("alice", 5);
    let (status, _) = send(
        &h.router,
        delivery("s3cret", "issue_comment", "slow-1", &body),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Each handling lasts three leases; two workers look for work all along.
    let handler = Arc::new(Counting {
        slow: Duration::from_secs(3),
        ..Counting::new(&h.store)
    });
    let pool = h.workers(handler.clone(), fast_settings(2, Duration::from_secs(1), 5));
    let store = h.store.clone();
    wait_for("completion", async || {
        status_of(&store, "slow-1").await == Some((InboxStatus::Done, 1))
    })
    .await;
    pool.shutdown().await;
    assert_eq!(
        handler.handled(),
        ["slow-1"],
        "a renewed lease is never taken over"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_own_events_are_recorded_and_start_no_work() {
    let h = harness().await;
    let handler = Arc::new(Counting::new(&h.store));
    let pool = h.workers(
        handler.clone(),
        fast_settings(2, Duration::from_secs(30), 3),
    );
    send(
        &h.router,
        delivery(
            "s3cret",
            "issue_comment",
            "own-1",
            &comment("fixwright[bot]", 5),
        ),
    )
    .await;
    send(
        &h.router,
        delivery("s3cret", "issue_comment", "user-1", &comment("alice", 5)),
    )
    .await;
    let store = h.store.clone();
    wait_for("both processed", async || {
        store.inbox_counts().await.map(|c| c.done).unwrap_or(0) == 2
    })
    .await;
    pool.shutdown().await;
    assert_eq!(handler.handled(), ["user-1"]);
    assert_eq!(
        handler
            .observed
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default(),
        ["own-1"]
    );
    let own = h.store.inbox_envelope("own-1").await.ok().flatten();
    assert!(own.is_some_and(|e| e.from_app && e.sender_type.as_deref() == Some("Bot")));
}

#[derive(Default)]
struct Tokens(Mutex<Vec<InstallationId>>);

impl TokenCache for Tokens {
    fn forget_installation(&self, installation: InstallationId) {
        if let Ok(mut v) = self.0.lock() {
            v.push(installation);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_installation_deleted_drops_tokens_and_purges() {
    let h = harness().await;
    // An earlier, processed delivery of installation 42 still has its body.
    send(
        &h.router,
        delivery("s3cret", "issue_comment", "i42-old", &comment("alice", 42)),
    )
    .await;
    send(
        &h.router,
        delivery("s3cret", "issue_comment", "i43", &comment("alice", 43)),
    )
    .await;
    let tokens = Arc::new(Tokens::default());
    let handler = Arc::new(Counting::new(&h.store));
    let pool = WorkerPool::spawn(
        h.store.clone(),
        handler.clone(),
        Some(tokens.clone()),
        fast_settings(1, Duration::from_secs(30), 3),
        h.arrivals.clone(),
    );
    let store = h.store.clone();
    wait_for("earlier deliveries", async || {
        store.inbox_counts().await.map(|c| c.done).unwrap_or(0) == 2
    })
    .await;
    let uninstall = serde_json::json!({
        "action": "deleted",
        "installation": {"id": 42},
        "sender": {"login": "alice", "type": "User"},
    })
    .to_string();
    send(
        &h.router,
        delivery(
            "s3cret",
            "installation",
            "uninstall-42",
            uninstall.as_bytes(),
        ),
    )
    .await;
    wait_for("the uninstall", async || {
        status_of(&store, "uninstall-42").await.map(|s| s.0) == Some(InboxStatus::Done)
    })
    .await;
    pool.shutdown().await;
    assert_eq!(
        tokens.0.lock().map(|v| v.clone()).unwrap_or_default(),
        [InstallationId(42)]
    );
    for (id, kept) in [("i42-old", false), ("uninstall-42", false), ("i43", true)] {
        let body = h
            .store
            .inbox_show(id)
            .await
            .ok()
            .flatten()
            .and_then(|(_, b)| b);
        assert_eq!(body.is_some(), kept, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_retries_then_dead_letters_with_the_error() {
    let h = harness().await;
    let mut failing = Counting::new(&h.store);
    failing.fail_with = Some(HandlerError::transient("GitHub answered 502"));
    let failing = Arc::new(failing);
    let pool = h.workers(
        failing.clone(),
        fast_settings(1, Duration::from_secs(30), 3),
    );
    send(
        &h.router,
        delivery("s3cret", "issue_comment", "f-1", &comment("alice", 1)),
    )
    .await;
    let store = h.store.clone();
    wait_for("dead letter", async || {
        status_of(&store, "f-1").await.map(|s| s.0) == Some(InboxStatus::Dead)
    })
    .await;
    pool.shutdown().await;
    assert_eq!(failing.handled().len(), 3, "max_tries = 3");
    let (entry, _) = h
        .store
        .inbox_show("f-1")
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("kept"));
    assert_eq!(entry.last_error.as_deref(), Some("GitHub answered 502"));
    assert_eq!(entry.tries, 3);
}

#[test]
fn webhook_config_secret_types_stay_redacted() {
    let c = config(&["very-private-value"], "");
    let _: &[SecretString] = &c.webhook_secrets;
    assert!(!format!("{c:?}").contains("very-private-value"));
}

//! The inbox contract, run against a real SQLite file and the real PostgreSQL
//! (a fresh database per test, dropped afterwards), plus migrations applied to
//! non-empty databases.

use std::borrow::Cow;
use std::collections::HashSet;
use std::time::Duration;

use fixwright::store::Store;
use fixwright::store::inbox::{
    DeliveryId, Envelope, InboxStatus, Inserted, InstallationId, Lease, LeaseToken, Millis,
    NewDelivery, RetryOutcome,
};
use fixwright_testkit::postgres::FreshDatabase;

async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let url = format!("sqlite://{}", dir.path().join("inbox.db").display());
    let store = Store::open(&url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
    (store, dir)
}

async fn pg_store() -> (Store, FreshDatabase) {
    let db = FreshDatabase::create().await;
    let store = Store::open(db.url())
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", db.url()));
    (store, db)
}

fn id(s: &str) -> DeliveryId {
    DeliveryId::parse(s).unwrap_or_else(|| panic!("bad test id {s}"))
}

fn delivery(guid: &str, installation: Option<i64>, at: Millis) -> NewDelivery {
    let body = format!(
        r#"{{"action":"created","delivery":"{guid}","installation":{{"id":{}}},"padding":"{}"}}"#,
        installation.unwrap_or(0),
        "x".repeat(2000)
    );
    NewDelivery::new(
        id(guid),
        "issue_comment".to_owned(),
        Some("created".to_owned()),
        installation.map(InstallationId),
        None,
        at,
        body.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn insert(store: &Store, batch: &[NewDelivery]) -> Vec<Inserted> {
    store
        .inbox_insert(batch)
        .await
        .unwrap_or_else(|e| panic!("insert: {e}"))
}

const T0: Millis = Millis(1_800_000_000_000);
const LEASE: Duration = Duration::from_secs(10);

// ---- the contract: every function below runs on both backends ----

async fn dedupes_by_delivery_id(store: Store) {
    let outcomes = insert(
        &store,
        &[
            delivery("a", Some(1), T0),
            delivery("b", Some(1), T0),
            delivery("a", Some(1), T0),
        ],
    )
    .await;
    assert_eq!(
        outcomes,
        [Inserted::New, Inserted::New, Inserted::Duplicate]
    );
    assert_eq!(
        insert(&store, &[delivery("a", Some(1), T0)]).await,
        [Inserted::Duplicate]
    );
    assert!(store.contains_delivery("a").await.unwrap_or(false));
    assert!(!store.contains_delivery("zzz").await.unwrap_or(true));
    let found = store
        .contains_deliveries(&["a".into(), "x".into(), "b".into()])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found, HashSet::from(["a".to_owned(), "b".to_owned()]));
    let counts = store.inbox_counts().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts.queued, 2);
}

/// A group commit larger than one statement's worth of rows, with repeats inside it
/// and of stored ids, stores each new delivery once and every byte of its body.
async fn large_batches_store_everything_once(store: Store) {
    insert(&store, &[delivery("seen-before", Some(1), T0)]).await;
    let mut batch: Vec<_> = (0..600)
        .map(|n| delivery(&format!("bulk-{n}"), Some(2), T0))
        .collect();
    batch.insert(300, delivery("bulk-7", Some(2), T0));
    batch.push(delivery("seen-before", Some(1), T0));
    let outcomes = insert(&store, &batch).await;
    let new = outcomes.iter().filter(|o| **o == Inserted::New).count();
    assert_eq!(new, 600);
    assert_eq!(
        outcomes[300],
        Inserted::Duplicate,
        "the repeat inside the batch"
    );
    assert_eq!(outcomes[601], Inserted::Duplicate, "the id stored before");
    let counts = store.inbox_counts().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts.queued, 601);
    let (entry, body) = store
        .inbox_show("bulk-599")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("bulk-599 is stored"));
    assert_eq!(entry.installation_id, Some(2));
    let body = body.unwrap_or_else(|| panic!("bulk-599 keeps its body"));
    assert_eq!(i64::try_from(body.len()).ok(), Some(entry.body_len));
    assert!(String::from_utf8_lossy(&body).contains(r#""delivery":"bulk-599""#));
}

async fn leases_hide_items_until_expiry(store: Store) {
    insert(
        &store,
        &[delivery("a", Some(1), T0), delivery("b", Some(1), T0)],
    )
    .await;
    let first = store
        .inbox_lease(T0, LEASE, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|l| l.tries == 1));
    let body = first[0]
        .body()
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_default();
    assert!(body.starts_with(br#"{"action":"created""#));
    assert!(
        store
            .inbox_lease(T0.after(Duration::from_secs(9)), LEASE, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty(),
        "a live lease must hide the item"
    );
    // The first holder "crashed": after expiry the items come back, as a second try.
    let second = store
        .inbox_lease(T0.after(Duration::from_secs(11)), LEASE, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.len(), 2);
    assert!(second.iter().all(|l| l.tries == 2));
    let stale = &first[0];
    assert!(
        !store
            .inbox_complete(&stale.id, &stale.token, T0)
            .await
            .unwrap_or(true),
        "an expired lease cannot complete"
    );
    let ids: Vec<_> = first.iter().map(|l| l.id.clone()).collect();
    let envelopes: Vec<_> = ids.iter().map(|id| envelope_of(id.as_str())).collect();
    assert_eq!(
        store
            .inbox_complete_many(&ids, &envelopes, &stale.token, T0)
            .await
            .unwrap_or(9),
        0,
        "expired leases cannot complete together either"
    );
    assert!(
        store
            .inbox_complete(&second[0].id, &second[0].token, T0)
            .await
            .unwrap_or(false)
    );
    // Completing a batch counts only what the lease still holds.
    assert_eq!(
        store
            .inbox_complete_many(&ids, &envelopes, &second[1].token, T0)
            .await
            .unwrap_or(9),
        1
    );
    // Only the completion that held its lease recorded an envelope.
    for id in &ids {
        let recorded = store.inbox_envelope(id.as_str()).await.ok().flatten();
        assert_eq!(
            recorded.is_some(),
            *id == second[1].id,
            "envelope of {id} recorded only with its own completion"
        );
    }
    let counts = store.inbox_counts().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((counts.queued, counts.done), (0, 2));
    assert!(
        store
            .inbox_lease(T0.after(Duration::from_secs(100)), LEASE, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
}

/// The edge's writer can store new deliveries already leased (to hand them to its
/// own workers): a first try, hidden like any lease, completed with the token,
/// given back untried by `release`, or taken over by anyone once it expires.
async fn writer_stores_deliveries_leased(store: Store) {
    insert(&store, &[delivery("w-old", Some(1), T0)]).await;
    let mut writer = store
        .inbox_writer(true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut rejected = delivery("w-rejected", Some(1), T0);
    rejected.rejected = Some("payload is not a JSON object".into());
    let lease = Lease {
        token: LeaseToken::fresh(),
        until: T0.after(LEASE),
    };
    let batch = [
        delivery("w-1", Some(1), T0),
        delivery("w-2", Some(1), T0),
        delivery("w-old", Some(1), T0),
        rejected,
    ];
    let outcomes = writer
        .insert(&batch, Some(&lease))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        outcomes,
        [
            Inserted::New,
            Inserted::New,
            Inserted::Duplicate,
            Inserted::New
        ]
    );
    let tries = async |id: &str| {
        store
            .inbox_show(id)
            .await
            .ok()
            .flatten()
            .map(|(e, _)| (e.status, e.tries))
    };
    assert_eq!(tries("w-1").await, Some((InboxStatus::Queued, 1)));
    assert_eq!(
        tries("w-old").await,
        Some((InboxStatus::Queued, 0)),
        "a duplicate leaves the stored delivery as it was"
    );
    assert_eq!(tries("w-rejected").await, Some((InboxStatus::Rejected, 0)));
    // Only the unleased older delivery can be leased while the writer's lease lives.
    let others = store
        .inbox_lease(T0.after(Duration::from_secs(1)), LEASE, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = others.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["w-old"]);
    // Renewing keeps only what the lease holds, whatever ids it names.
    let renewed = store
        .inbox_renew_lease(
            &lease.token,
            &[id("w-1"), id("w-2"), id("w-old")],
            T0.after(LEASE),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(renewed, 2, "w-old is another lease's");
    // The holder completes one and gives the other back untried.
    let done = [id("w-1")];
    let completed = store
        .inbox_complete_many(&done, &[envelope_of("w-1")], &lease.token, T0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(completed, 1);
    let released = store
        .inbox_release(
            &lease.token,
            &[id("w-1"), id("w-2")],
            T0.after(Duration::from_secs(2)),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(released, 1, "only what the lease still holds goes back");
    assert_eq!(tries("w-2").await, Some((InboxStatus::Queued, 0)));
    let again = store
        .inbox_lease(T0.after(Duration::from_secs(2)), LEASE, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id.as_str(), again[0].tries), ("w-2", 1));

    // A holder that dies: its deliveries come back when the lease expires, as a second try.
    let crashed = Lease {
        token: LeaseToken::fresh(),
        until: T0.after(LEASE),
    };
    writer
        .insert(&[delivery("w-3", Some(1), T0)], Some(&crashed))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let early = store
        .inbox_lease(T0.after(Duration::from_secs(9)), LEASE, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(early.is_empty());
    let taken = store
        .inbox_lease(T0.after(Duration::from_secs(11)), LEASE, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // (w-old's lease from the first second has run out too.)
    let w3 = taken.iter().find(|l| l.id.as_str() == "w-3");
    assert_eq!(w3.map(|l| l.tries), Some(2), "taken: {taken:?}");
    assert_eq!(
        store
            .inbox_release(&crashed.token, &[id("w-3")], T0)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        0,
        "a lease taken over cannot give anything back"
    );
    drop(writer);
}

async fn concurrent_leases_never_overlap(store: Store) {
    let batch: Vec<_> = (0..60)
        .map(|n| delivery(&format!("d{n}"), None, T0))
        .collect();
    insert(&store, &batch).await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store
                    .inbox_lease(T0, LEASE, 4)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|l| l.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_else(|e| panic!("{e}")));
    }
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 60, "every item leased exactly once");
    assert_eq!(unique.len(), 60);
}

async fn failures_retry_then_dead_letter_then_operator_retry(store: Store) {
    insert(&store, &[delivery("a", None, T0)]).await;
    let l = store
        .inbox_lease(T0, LEASE, 1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let retry_at = T0.after(Duration::from_secs(5));
    assert!(
        store
            .inbox_reschedule(&l[0].id, &l[0].token, "GitHub 502", retry_at)
            .await
            .unwrap_or(false)
    );
    assert!(
        store
            .inbox_lease(T0.after(Duration::from_secs(4)), LEASE, 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty(),
        "backoff hides the item"
    );
    let l = store
        .inbox_lease(retry_at, LEASE, 1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l[0].tries, 2);
    assert!(
        store
            .inbox_dead_letter(&l[0].id, &l[0].token, "GitHub 502 again", retry_at)
            .await
            .unwrap_or(false)
    );
    let dead = store
        .inbox_list(Some(InboxStatus::Dead), 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("GitHub 502 again"));
    assert_eq!(dead[0].tries, 2);
    assert_eq!(
        store.inbox_retry("a", retry_at).await.ok(),
        Some(RetryOutcome::Requeued)
    );
    assert_eq!(
        store.inbox_retry("a", retry_at).await.ok(),
        Some(RetryOutcome::NotRetryable {
            status: InboxStatus::Queued,
            has_body: true
        })
    );
    assert_eq!(
        store.inbox_retry("nope", retry_at).await.ok(),
        Some(RetryOutcome::NotFound)
    );
    let l = store
        .inbox_lease(retry_at, LEASE, 1)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l[0].tries, 1, "an operator retry starts the count again");
}

async fn rejected_deliveries_are_kept_but_never_leased(store: Store) {
    let rejected = NewDelivery::new(
        id("r"),
        "push".into(),
        None,
        None,
        Some("payload is not valid JSON".into()),
        T0,
        b"not json",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    insert(&store, &[rejected]).await;
    assert!(
        store
            .inbox_lease(T0, LEASE, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
    let (entry, body) = store
        .inbox_show("r")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("rejected delivery must be kept"));
    assert_eq!(entry.status, InboxStatus::Rejected);
    assert_eq!(
        entry.last_error.as_deref(),
        Some("payload is not valid JSON")
    );
    assert_eq!(body.as_deref(), Some(&b"not json"[..]));
    assert!(matches!(
        store.inbox_retry("r", T0).await,
        Ok(RetryOutcome::NotRetryable {
            status: InboxStatus::Rejected,
            ..
        })
    ));
}

async fn purge_and_prune_drop_bodies_only(store: Store) {
    let old = T0.before(Duration::from_secs(10 * 86_400));
    insert(
        &store,
        &[
            delivery("i7a", Some(7), T0),
            delivery("i7b", Some(7), T0),
            delivery("i8", Some(8), T0),
            delivery("old-done", Some(9), old),
            delivery("old-queued", Some(9), old),
        ],
    )
    .await;
    assert_eq!(
        store
            .inbox_purge_installation(InstallationId(7))
            .await
            .unwrap_or(0),
        2
    );
    let (entry, body) = store
        .inbox_show("i7a")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("metadata stays"));
    assert!(body.is_none() && !entry.has_body);
    assert!(
        store
            .inbox_show("i8")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_some_and(|(_, b)| b.is_some())
    );
    // Finish "old-done" only; the queued one keeps its body whatever its age.
    let leased = store
        .inbox_lease(T0, LEASE, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for l in leased.iter().filter(|l| l.id.as_str() != "old-queued") {
        assert!(
            store
                .inbox_complete(&l.id, &l.token, T0)
                .await
                .unwrap_or(false)
        );
    }
    let purged_item = leased.iter().find(|l| l.id.as_str() == "i7b");
    assert!(purged_item.is_some_and(|l| !l.has_body()));
    let pruned = store
        .inbox_prune_bodies(T0.before(Duration::from_secs(86_400)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pruned, 1, "only the finished old delivery loses its body");
    let (_, body) = store
        .inbox_show("old-queued")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("kept"));
    assert!(body.is_some());
}

fn envelope_of(id: &str) -> Envelope {
    Envelope {
        delivery_id: id.into(),
        event: "issue_comment".into(),
        action: Some("created".into()),
        installation_id: Some(3),
        sender_login: Some("fixwright[bot]".into()),
        sender_type: Some("Bot".into()),
        repository: Some("acme/scrapers".into()),
        from_app: true,
    }
}

async fn envelopes_are_recorded_once(store: Store) {
    let envelope = envelope_of("e1");
    assert!(
        store
            .inbox_record_envelope(&envelope, T0)
            .await
            .unwrap_or(false)
    );
    assert!(
        !store
            .inbox_record_envelope(&envelope, T0)
            .await
            .unwrap_or(true)
    );
    assert_eq!(
        store.inbox_envelope("e1").await.ok().flatten(),
        Some(envelope)
    );
}

async fn list_is_newest_first_and_filters(store: Store) {
    insert(
        &store,
        &[
            delivery("old", None, T0),
            delivery("new", None, T0.after(Duration::from_secs(1))),
        ],
    )
    .await;
    let all = store
        .inbox_list(None, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<_> = all.iter().map(|e| e.delivery_id.as_str()).collect();
    assert_eq!(ids, ["new", "old"]);
    assert!(
        store
            .inbox_list(Some(InboxStatus::Done), 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
    assert_eq!(
        store
            .inbox_list(None, 1)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .len(),
        1
    );
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (store, _dir) = super::sqlite_store().await;
                    super::$case(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (store, _db) = super::pg_store().await;
                    super::$case(store.clone()).await;
                    if let fixwright::store::Store::Postgres(pool) = store {
                        pool.close().await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    dedupes_by_delivery_id,
    large_batches_store_everything_once,
    leases_hide_items_until_expiry,
    writer_stores_deliveries_leased,
    concurrent_leases_never_overlap,
    failures_retry_then_dead_letter_then_operator_retry,
    rejected_deliveries_are_kept_but_never_leased,
    purge_and_prune_drop_bodies_only,
    envelopes_are_recorded_once,
    list_is_newest_first_and_filters,
);

// ---- migrations on non-empty databases ----

/// Applies the migrations up to and including `version`, as an older release would have.
fn migrator_up_to(all: &sqlx::migrate::Migrator, version: i64) -> sqlx::migrate::Migrator {
    let migrations: Vec<_> = all
        .iter()
        .filter(|m| m.version <= version)
        .cloned()
        .collect();
    sqlx::migrate::Migrator {
        migrations: Cow::Owned(migrations),
        ..sqlx::migrate::Migrator::DEFAULT
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A queued delivery as the 0002 schema stored it.
const OLD_ROW: &str = "INSERT INTO inbox (delivery_id, event, status, tries, received_at, \
     visible_at, body_len, body_zstd) VALUES ('before-upgrade', 'issue_comment', 'queued', 0, $1, $1, $2, $3)";
const OLD_BODY: &str = r#"{"action":"created","comment":{"body":"written before the upgrade"}}"#;

fn old_body() -> (i64, Vec<u8>) {
    let zstd = zstd::bulk::compress(OLD_BODY.as_bytes(), 3).unwrap_or_else(|e| panic!("{e}"));
    (OLD_BODY.len() as i64, zstd)
}

async fn check_upgraded(store: &Store) {
    // Data written before the upgrade is still there and usable after it.
    let meta: Vec<(String, String)> = match store {
        Store::Sqlite(p) => {
            sqlx::query_as("SELECT key, value FROM fixwright_meta")
                .fetch_all(p)
                .await
        }
        Store::Postgres(p) => {
            sqlx::query_as("SELECT key, value FROM fixwright_meta")
                .fetch_all(p)
                .await
        }
    }
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(meta, [("written-by".to_owned(), "0001".to_owned())]);
    assert!(
        store
            .contains_delivery("before-upgrade")
            .await
            .unwrap_or(false)
    );
    let leased = store
        .inbox_lease(T0, LEASE, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(leased.len(), 1);
    assert_eq!(
        leased[0]
            .body()
            .unwrap_or_else(|e| panic!("{e}"))
            .as_deref(),
        Some(OLD_BODY.as_bytes()),
        "the body survives the upgrade"
    );
    assert_eq!(
        insert(store, &[delivery("after-upgrade", None, T0)]).await,
        [Inserted::New]
    );
}

#[tokio::test]
async fn migrations_sqlite_apply_on_non_empty_database() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    {
        let pool = sqlx::SqlitePool::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        migrator_up_to(&SQLITE_MIGRATIONS, 1)
            .run(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query("INSERT INTO fixwright_meta (key, value) VALUES ('written-by', '0001')")
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        migrator_up_to(&SQLITE_MIGRATIONS, 2)
            .run(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Written as the 0002 schema stored it.
        let (len, zstd) = old_body();
        sqlx::query(OLD_ROW)
            .bind(T0.0)
            .bind(len)
            .bind(zstd)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        pool.close().await;
    }
    // Opening applies every later migration to the non-empty database.
    let store = Store::open(&url).await.unwrap_or_else(|e| panic!("{e}"));
    check_upgraded(&store).await;
}

#[tokio::test]
async fn migrations_postgres_apply_on_non_empty_database() {
    let db = FreshDatabase::create().await;
    {
        let pool = sqlx::PgPool::connect(db.url())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        migrator_up_to(&POSTGRES_MIGRATIONS, 1)
            .run(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query("INSERT INTO fixwright_meta (key, value) VALUES ('written-by', '0001')")
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        migrator_up_to(&POSTGRES_MIGRATIONS, 2)
            .run(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (len, zstd) = old_body();
        sqlx::query(OLD_ROW)
            .bind(T0.0)
            .bind(len)
            .bind(zstd)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        pool.close().await;
    }
    let store = Store::open(db.url())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    check_upgraded(&store).await;
    if let Store::Postgres(pool) = store {
        pool.close().await;
    }
}

/// Commits never checkpoint on SQLite; the store's background task copies the log
/// back into the database file while it stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_log_is_checkpointed_in_the_background() {
    let (store, dir) = sqlite_store().await;
    let file = dir.path().join("inbox.db");
    let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let before = size();
    // Bodies that do not compress, so the log really holds megabytes.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..4 {
        let batch: Vec<_> = (0..200)
            .map(|n| {
                let body: String = (0..200).map(|_| format!("{:016x}", noise())).collect();
                NewDelivery::new(
                    id(&format!("wal-{round}-{n}")),
                    "push".to_owned(),
                    None,
                    None,
                    None,
                    T0,
                    format!(r#"{{"noise":"{body}"}}"#).as_bytes(),
                )
                .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        insert(&store, &batch).await;
    }
    let mut grown = false;
    for _ in 0..50 {
        if size() > before + 500_000 {
            grown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        grown,
        "the database file grew from {before} to only {} bytes: the log was not checkpointed",
        size()
    );
}

/// The inbox turns SQLite's own checkpoint off (it would run inside a commit), so
/// the log starts over only when the background checkpoint makes it: without it,
/// the log holds every frame ever committed and grows without bound.
///
/// How many commits a round holds depends on the machine's speed at the moment, so
/// the test does not bound the log's size by a guess. It reads what SQLite records:
/// the log's header counts the times the log started over, and the commit that
/// starts it over writes from its start, so the file does not grow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_log_starts_over_under_a_steady_stream_of_commits() {
    const STARTS_OVER: u32 = 3;
    const CHUNK: usize = 250;
    const MOST_CHUNKS: usize = 20;
    let (store, dir) = sqlite_store().await;
    let wal = dir.path().join("inbox.db-wal");
    let wal_size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    // The checkpoint sequence number: bytes 12-15 of the log's header, big-endian,
    // raised each time the log starts over.
    let sequence = || {
        let mut header = [0_u8; 16];
        let mut file = std::fs::File::open(&wal).ok()?;
        std::io::Read::read_exact(&mut file, &mut header).ok()?;
        let [.., a, b, c, d] = header;
        Some(u32::from_be_bytes([a, b, c, d]))
    };
    let mut writer = store
        .inbox_writer(true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Bodies that do not compress (each is compressed on its own, so a few serve
    // every delivery).
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let bodies: Vec<String> = (0..8)
        .map(|_| {
            let noise: String = (0..200)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    format!("{state:016x}")
                })
                .collect();
            format!(r#"{{"noise":"{noise}"}}"#)
        })
        .collect();
    let mut written = 0_u64;
    let mut largest = 0;
    let mut first = None;
    let mut last = None;
    let mut started_over = 0;
    let mut rewritten = 0;
    for chunk in 0..MOST_CHUNKS {
        // Prepared a chunk at a time, up front, so that commits follow each other at once.
        let batches: Vec<Vec<NewDelivery>> = (chunk * CHUNK..(chunk + 1) * CHUNK)
            .map(|commit| {
                (0..4)
                    .map(|n| {
                        let body = &bodies[(commit + n) % bodies.len()];
                        NewDelivery::new(
                            id(&format!("stream-{commit}-{n}")),
                            "push".to_owned(),
                            None,
                            None,
                            None,
                            T0,
                            body.as_bytes(),
                        )
                        .unwrap_or_else(|e| panic!("{e}"))
                    })
                    .collect()
            })
            .collect();
        for batch in &batches {
            writer
                .insert(batch, None)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            written += batch.len() as u64 * 3_200;
            let size = wal_size();
            let now = sequence();
            if now.is_some() && now != last {
                if last.is_some() {
                    started_over += 1;
                    // The commit wrote the log from its start, over the frames
                    // of the rounds before it.
                    rewritten += u32::from(size <= largest);
                }
                last = now;
                first = first.or(now);
            }
            largest = largest.max(size);
        }
        if started_over >= STARTS_OVER {
            break;
        }
    }
    assert!(
        started_over >= STARTS_OVER,
        "the log started over {started_over} times in {written} bytes of deliveries \
         (checkpoint sequence {first:?} to {last:?}): it grows without bound"
    );
    assert!(
        rewritten > 0,
        "the log started over {started_over} times but every such commit grew the \
         file (to {largest} bytes): it was not written again from its start"
    );
    drop(writer);
    store.close().await;
}

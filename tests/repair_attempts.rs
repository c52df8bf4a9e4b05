//! Repair attempts on a real SQLite file and on the real PostgreSQL.

use fixwright::repair::attempt::{self, AttemptError, AttemptState, NewAttempt, TransitionError};
use fixwright::store::Store;
use fixwright_testkit::postgres::FreshDatabase;

/// A fresh PostgreSQL database for one test (dropped with the guard); fails
/// loudly when the server is down.
async fn fresh_postgres() -> (Store, FreshDatabase) {
    let db = FreshDatabase::create().await;
    let store = Store::open(db.url())
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", db.url()));
    (store, db)
}

async fn drop_postgres(store: Store, db: FreshDatabase) {
    if let Store::Postgres(pool) = store {
        pool.close().await;
    }
    drop(db);
}

fn new_attempt() -> NewAttempt {
    NewAttempt {
        repository: "acme/scrapers".into(),
        scraper: "books".into(),
        fingerprint: "selector_drift:3f2a9c".into(),
    }
}

async fn exercise(store: &Store) {
    let created = attempt::create(store, &new_attempt(), "scrapy reported 0 items")
        .await
        .unwrap_or_else(|e| panic!("create: {e}"));
    assert_eq!(created.state, AttemptState::Diagnosed);
    assert_eq!(created.history.len(), 1);
    assert_eq!(created.history[0].from, None);

    let proposed = attempt::transition(
        store,
        created.id,
        AttemptState::Proposed,
        "healer: selector_heal",
    )
    .await
    .unwrap_or_else(|e| panic!("propose: {e}"));
    assert_eq!(proposed.state, AttemptState::Proposed);

    // Skipping the proof is refused and changes nothing.
    let skipped = attempt::transition(store, created.id, AttemptState::Merged, "skip").await;
    assert!(matches!(
        skipped,
        Err(AttemptError::Transition {
            source: TransitionError::NotAllowed { .. },
            ..
        })
    ));
    for (to, reason) in [
        (AttemptState::Proven, "replay passed"),
        (AttemptState::Committed, "committed abc123"),
    ] {
        attempt::transition(store, created.id, to, reason)
            .await
            .unwrap_or_else(|e| panic!("{to}: {e}"));
    }
    let branch = format!("fixwright/books/{}", created.id);
    attempt::set_branch(store, created.id, &branch)
        .await
        .unwrap_or_else(|e| panic!("set branch: {e}"));
    let escalated =
        attempt::transition(store, created.id, AttemptState::Escalated, "low confidence")
            .await
            .unwrap_or_else(|e| panic!("escalate: {e}"));
    assert_eq!(escalated.branch.as_deref(), Some(branch.as_str()));
    let states: Vec<_> = escalated.history.iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(
        states,
        vec![
            (None, AttemptState::Diagnosed),
            (Some(AttemptState::Diagnosed), AttemptState::Proposed),
            (Some(AttemptState::Proposed), AttemptState::Proven),
            (Some(AttemptState::Proven), AttemptState::Committed),
            (Some(AttemptState::Committed), AttemptState::Escalated),
        ]
    );
    assert_eq!(escalated.history[4].reason, "low confidence");
    assert!(escalated.history.windows(2).all(|w| w[0].at <= w[1].at));
    let after_final = attempt::transition(store, created.id, AttemptState::Proposed, "retry").await;
    assert!(matches!(
        after_final,
        Err(AttemptError::Transition {
            source: TransitionError::Final(AttemptState::Escalated),
            ..
        })
    ));

    let second = attempt::create(store, &new_attempt(), "same incident again")
        .await
        .unwrap_or_else(|e| panic!("second: {e}"));
    let both = attempt::for_fingerprint(store, "acme/scrapers", "selector_drift:3f2a9c")
        .await
        .unwrap_or_else(|e| panic!("by fingerprint: {e}"));
    assert_eq!(
        both.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![created.id, second.id]
    );
}

/// Two writers read the same state; only one of them may move the attempt.
async fn racing_writers(store: &Store) {
    let created = attempt::create(store, &new_attempt(), "race")
        .await
        .unwrap_or_else(|e| panic!("create: {e}"));
    let (a, b) = tokio::join!(
        attempt::transition(store, created.id, AttemptState::Proposed, "worker a"),
        attempt::transition(store, created.id, AttemptState::Abandoned, "worker b"),
    );
    let wins = [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count();
    assert!(wins >= 1);
    let stored = attempt::get(store, created.id)
        .await
        .unwrap_or_else(|e| panic!("get: {e}"));
    // However the race went, the history is a valid chain.
    for pair in stored.history.windows(2) {
        assert_eq!(pair[1].from, Some(pair[0].to));
        assert!(attempt::check_transition(pair[0].to, pair[1].to).is_ok());
    }
    assert_eq!(stored.history.len(), 1 + wins);
}

#[tokio::test]
async fn repair_attempts_on_sqlite_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let url = format!("sqlite://{}", dir.path().join("fixwright.db").display());
    let store = Store::open(&url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
    exercise(&store).await;
    racing_writers(&store).await;
    // The rows survive a reopen of the file.
    drop(store);
    let reopened = Store::open(&url)
        .await
        .unwrap_or_else(|e| panic!("reopen {url}: {e}"));
    let all = attempt::for_fingerprint(&reopened, "acme/scrapers", "selector_drift:3f2a9c")
        .await
        .unwrap_or_else(|e| panic!("after reopen: {e}"));
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn repair_attempts_on_postgres() {
    let (store, db) = fresh_postgres().await;
    exercise(&store).await;
    racing_writers(&store).await;
    drop_postgres(store, db).await;
}

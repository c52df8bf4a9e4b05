//! The gate re-run claims, on a real SQLite file and the real PostgreSQL (a
//! fresh database per test): a delivery is claimed once, a running claim
//! holds off other workers until it goes stale or is released, and a
//! reported one is never run again.

use std::time::Duration;

use fixwright::store::Store;
use fixwright::store::gate_reruns::{Claimed, RerunClaim};
use fixwright::store::inbox::Millis;
use fixwright_testkit::postgres::FreshDatabase;

fn claim(delivery: &str, external_id: &str) -> RerunClaim {
    RerunClaim {
        delivery_id: delivery.into(),
        repository: "acme/scrapers".into(),
        head_sha: "0123456789abcdef0123456789abcdef01234567".into(),
        external_id: external_id.into(),
    }
}

async fn claims_hold_until_stale_released_or_reported(store: Store) {
    let stale = Duration::from_secs(3600);
    let t0 = Millis(1_000_000_000);
    let claimed = |c: RerunClaim, at: Millis| {
        let store = store.clone();
        async move {
            store
                .gate_rerun_claim(&c, at, stale)
                .await
                .unwrap_or_else(|e| panic!("claim: {e}"))
        }
    };
    assert_eq!(claimed(claim("d-1", "first"), t0).await, Claimed::Fresh);
    // Another worker, the same delivery, a different candidate id: held off.
    assert_eq!(
        claimed(claim("d-1", "second"), t0.after(Duration::from_secs(60))).await,
        Claimed::Busy
    );
    // Stale: taken over with the id the first claim chose.
    assert_eq!(
        claimed(
            claim("d-1", "third"),
            t0.after(stale + Duration::from_secs(1))
        )
        .await,
        Claimed::Resumed {
            external_id: "first".into()
        }
    );
    // Released after a failed try: the next try resumes at once.
    store
        .gate_rerun_release("d-1")
        .await
        .unwrap_or_else(|e| panic!("release: {e}"));
    let soon = t0.after(stale + Duration::from_secs(2));
    assert_eq!(
        claimed(claim("d-1", "fourth"), soon).await,
        Claimed::Resumed {
            external_id: "first".into()
        }
    );
    store
        .gate_rerun_finish("d-1", "fixwright/ruff=failure", soon)
        .await
        .unwrap_or_else(|e| panic!("finish: {e}"));
    assert_eq!(
        claimed(claim("d-1", "fifth"), soon.after(stale * 2)).await,
        Claimed::Reported
    );
    let record = store
        .gate_rerun("d-1")
        .await
        .unwrap_or_else(|e| panic!("read: {e}"))
        .unwrap_or_else(|| panic!("d-1 is recorded"));
    assert_eq!(record.state, "reported");
    assert_eq!(record.external_id, "first");
    assert_eq!(record.finished_at, Some(soon));
    assert_eq!(record.outcome.as_deref(), Some("fixwright/ruff=failure"));
    assert_eq!(
        store
            .gate_rerun("d-2")
            .await
            .unwrap_or_else(|e| panic!("read: {e}")),
        None
    );
    // Another delivery is claimed on its own.
    assert_eq!(claimed(claim("d-2", "other"), soon).await, Claimed::Fresh);
}

#[tokio::test]
async fn gate_reruns_sqlite() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let url = format!("sqlite://{}", dir.path().join("reruns.db").display());
    let store = Store::open(&url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
    claims_hold_until_stale_released_or_reported(store).await;
}

#[tokio::test]
async fn gate_reruns_postgres() {
    let db = FreshDatabase::create().await;
    let store = Store::open(db.url())
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", db.url()));
    claims_hold_until_stale_released_or_reported(store).await;
}

use fixwright_testkit::postgres::FreshDatabase;

use super::*;

async fn exercise(store: &Store) {
    assert!(load(store).await.unwrap().is_empty());
    let a = Ulid::new();
    assert!(record(store, a, 0.91, OutcomeKind::Verified).await.unwrap());
    // Redelivery of the same outcome changes nothing.
    assert!(!record(store, a, 0.91, OutcomeKind::Verified).await.unwrap());
    assert!(
        record(store, Ulid::new(), 0.4, OutcomeKind::Reverted)
            .await
            .unwrap()
    );
    assert!(
        record(store, Ulid::new(), 0.75, OutcomeKind::Rejected)
            .await
            .unwrap()
    );
    let err = record(store, Ulid::new(), 1.2, OutcomeKind::Failed)
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("raw score 1.2 of attempt"),
        "{err}"
    );
    let outcomes = load(store).await.unwrap();
    assert_eq!(
        outcomes,
        [
            Outcome::new(0.91, true),
            Outcome::new(0.4, false),
            Outcome::new(0.75, false)
        ]
    );
}

#[tokio::test]
async fn the_prior_is_used_until_enough_outcomes_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fixwright.db").display());
    let store = Store::open(&url).await.unwrap();
    let prior = IsotonicCalibration::prior().unwrap();
    assert_eq!(current_calibration(&store).await.unwrap(), prior);
    // An installation whose fixes above 0.8 always held and below never did.
    for i in 0..MIN_OWN_OUTCOMES {
        let score = i as f64 / MIN_OWN_OUTCOMES as f64;
        let kind = if score >= 0.8 {
            OutcomeKind::Verified
        } else {
            OutcomeKind::Reverted
        };
        record(&store, Ulid::new(), score, kind).await.unwrap();
    }
    let own = current_calibration(&store).await.unwrap();
    assert_ne!(own, prior);
    // Ten of ten held above 0.8: the Wilson lower bound 10 / (10 + z²),
    // short of the high band until more outcomes back it.
    let z2 = crate::confidence::calibration::LOWER_BOUND_Z.powi(2);
    assert!((own.apply(0.85) - 10.0 / (10.0 + z2)).abs() < 1e-12);
    assert_eq!(own.apply(0.5), 0.0);
    assert_eq!(
        own.source(),
        Some("50 outcomes recorded by this installation")
    );
}

#[tokio::test]
async fn outcomes_round_trip_through_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fixwright.db").display());
    let store = Store::open(&url).await.unwrap();
    exercise(&store).await;
}

#[tokio::test]
async fn outcomes_round_trip_through_postgres() {
    let db = FreshDatabase::create().await;
    let store = Store::open(db.url()).await.unwrap();
    exercise(&store).await;
    if let Store::Postgres(pool) = store {
        pool.close().await;
    }
    db.close().await.unwrap();
}

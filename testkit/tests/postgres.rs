//! `FreshDatabase` against the real local PostgreSQL: the database exists while
//! the guard lives and is gone after a normal end, a panic, or `close`.

use fixwright_testkit::postgres::{FreshDatabase, FreshDatabaseError, PG_START};
use sqlx::Connection;

async fn exists(admin: &str, name: &str) -> bool {
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} ({e}); start it with: {PG_START}"));
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("query pg_database: {e}"));
    found.is_some()
}

#[tokio::test]
async fn postgres_database_lives_as_long_as_the_guard() {
    let db = FreshDatabase::create().await;
    let (admin, name) = (db.admin_url().to_owned(), db.name().to_owned());
    assert!(name.starts_with("fixwright_test_"), "{name}");
    assert!(db.url().ends_with(&format!("/{name}")), "{}", db.url());
    let mut conn = sqlx::PgConnection::connect(db.url())
        .await
        .unwrap_or_else(|e| panic!("connect {}: {e}", db.url()));
    let current: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(current, name);
    assert!(exists(&admin, &name).await);
    // A connection still open must not keep the database alive.
    drop(db);
    assert!(!exists(&admin, &name).await, "{name} left behind");
}

#[tokio::test]
async fn postgres_database_is_dropped_when_the_test_panics() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let db = FreshDatabase::create().await;
        let _ = tx.send((db.admin_url().to_owned(), db.name().to_owned()));
        panic!("the test body fails");
    });
    let joined = task.await;
    assert!(joined.is_err_and(|e| e.is_panic()));
    let (admin, name) = rx
        .await
        .unwrap_or_else(|e| panic!("the task sent no name: {e}"));
    assert!(!exists(&admin, &name).await, "{name} left behind");
}

#[tokio::test]
async fn postgres_close_drops_under_an_open_pool() {
    let db = FreshDatabase::create().await;
    let (admin, name) = (db.admin_url().to_owned(), db.name().to_owned());
    let pool = sqlx::PgPool::connect(db.url())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("SELECT 1")
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    db.close()
        .await
        .unwrap_or_else(|e| panic!("close should drop the database: {e}"));
    assert!(!exists(&admin, &name).await, "{name} left behind");
    assert!(sqlx::query("SELECT 1").execute(&pool).await.is_err());
}

#[tokio::test]
async fn postgres_server_down_names_the_start_command() {
    // Port 1 has no PostgreSQL listening.
    let err = FreshDatabase::create_on(&["postgres://postgres@127.0.0.1:1/postgres".to_owned()])
        .await
        .err()
        .unwrap_or_else(|| panic!("a database was created on port 1"));
    assert!(
        matches!(err, FreshDatabaseError::Unavailable { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains(PG_START), "{message}");
    assert!(message.contains("127.0.0.1:1"), "{message}");
}

#[tokio::test]
async fn postgres_rejects_a_non_postgres_admin_url() {
    let err = FreshDatabase::create_on(&["sqlite://x.db".to_owned()])
        .await
        .err()
        .unwrap_or_else(|| panic!("a sqlite URL was accepted"));
    assert!(err.to_string().contains("sqlite://x.db"), "{err}");
}

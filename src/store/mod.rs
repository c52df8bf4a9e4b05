//! The durable store: one interface over SQLite (the embedded default, WAL) and
//! PostgreSQL (shared by several replicas).
//!
//! Each concept keeps its own queries in its own file here (`inbox.rs`,
//! `attempts.rs`, ...); this file only connects and migrates.

use std::str::FromStr;
use std::time::Duration;

pub mod gate_reruns;
pub mod inbox;
pub mod turns;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// A connection pool to one of the two supported databases.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL `{0}`: expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot connect to the database: no connection within {0:?}")]
    ConnectTimeout(Duration),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens the database at `url` (creating a SQLite file if needed) and applies
    /// every pending migration.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let store = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(StoreError::Connect)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                // Checkpoints run in the background (see `checkpoint_in_background`),
                // never inside a commit that someone is waiting on.
                .pragma("wal_autocheckpoint", "0");
            let pool = SqlitePoolOptions::new()
                // One writer at a time anyway (WAL): a few connections serve the
                // readers, and each one fewer is a page cache and a thread less.
                .max_connections(4)
                .connect_with(options)
                .await
                .map_err(StoreError::Connect)?;
            tokio::spawn(checkpoint_in_background(pool.clone()));
            Store::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(StoreError::Connect)?;
            Store::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Closes every connection; on SQLite the last one to close checkpoints the WAL.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }

    /// Applies every pending migration of this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
            Store::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        }
        .map_err(StoreError::Migrate)
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        match self {
            Store::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
            Store::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
        }
    }
}

/// How often the SQLite write-ahead log is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Copies the SQLite write-ahead log back into the database file, off every commit's
/// path. SQLite's own automatic checkpoint runs inside whichever commit crosses 1,000
/// pages: a webhook batch waiting on that commit would wait for the copy and its
/// fsync too. A passive checkpoint takes no lock writers need, so commits go on
/// while it runs. Ends when the pool is closed; the last connection to close
/// checkpoints whatever is left.
async fn checkpoint_in_background(pool: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        tick.tick().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "cannot checkpoint the SQLite write-ahead log");
        }
    }
}

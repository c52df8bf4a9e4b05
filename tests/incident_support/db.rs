//! Fresh real databases per test: a new PostgreSQL database on the local
//! server, a new SQLite file in a temporary directory, and the local Redis.
//! A missing service fails the test with the command that starts it.

use fixwright::store::Store;
use fixwright_testkit::postgres::FreshDatabase;
use ulid::Ulid;

pub const REDIS_START: &str =
    "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A database created for one test; `drop_now` removes it again, and a
/// PostgreSQL one is also dropped when the test panics before that.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    pg: Option<FreshDatabase>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh PostgreSQL database with every migration applied.
    pub async fn postgres() -> TestDb {
        let db = FreshDatabase::create().await;
        let url = db.url().to_owned();
        let store = Store::open(&url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
        TestDb {
            store,
            url,
            pg: Some(db),
            _dir: None,
        }
    }

    /// A fresh SQLite file with every migration applied.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("fixwright.db").display());
        let store = Store::open(&url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
        TestDb {
            store,
            url,
            pg: None,
            _dir: Some(dir),
        }
    }

    /// Closes the pool and drops a PostgreSQL test database.
    pub async fn drop_now(mut self) {
        match &self.store {
            Store::Sqlite(p) => p.close().await,
            Store::Postgres(p) => p.close().await,
        }
        if let Some(db) = self.pg.take() {
            let _ = db.close().await;
        }
    }
}

/// A unique key prefix so tests sharing the Redis server never meet.
pub fn redis_prefix(test: &str) -> String {
    format!("fixwright-test:{test}:{}:", Ulid::new())
}

/// Fails loudly when Redis is down.
pub async fn require_redis() {
    let client = redis::Client::open(REDIS_URL).expect("redis URL");
    let conn = client.get_multiplexed_async_connection().await;
    if let Err(e) = conn {
        panic!("Redis is not reachable at 127.0.0.1:6379 ({e}); start it with: {REDIS_START}");
    }
}

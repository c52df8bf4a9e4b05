//! Fresh real databases per test: a new PostgreSQL database on the local
//! server, a new SQLite file in a temporary directory, and the local Redis.
//! A missing service fails the test with the command that starts it.

use fixwright::store::Store;
use ulid::Ulid;

pub const PG_START: &str =
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";
pub const REDIS_START: &str =
    "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
const PG_ADMIN_URLS: [&str; 2] = [
    "postgres://postgres@127.0.0.1:5432/test",
    "postgres://root@127.0.0.1:5432/test",
];

/// A database created for one test; `drop_now` removes it again.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh PostgreSQL database with every migration applied.
    pub async fn postgres() -> TestDb {
        use sqlx::Connection;
        let mut last_err = None;
        for admin in PG_ADMIN_URLS {
            match sqlx::PgConnection::connect(admin).await {
                Ok(mut conn) => {
                    let name = format!(
                        "fixwright_incident_test_{}",
                        Ulid::new().to_string().to_lowercase()
                    );
                    sqlx::query(&format!("CREATE DATABASE {name}"))
                        .execute(&mut conn)
                        .await
                        .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
                    let url = admin.replace("/test", &format!("/{name}"));
                    let store = Store::open(&url)
                        .await
                        .unwrap_or_else(|e| panic!("opening {url}: {e}"));
                    return TestDb {
                        store,
                        url,
                        pg: Some((admin.to_owned(), name)),
                        _dir: None,
                    };
                }
                Err(e) => last_err = Some(e),
            }
        }
        panic!(
            "PostgreSQL is not reachable at 127.0.0.1:5432 ({last_err:?}); start it with: {PG_START}"
        );
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
        if let Some((admin, name)) = self.pg.take() {
            drop_database(&admin, &name).await;
        }
    }
}

async fn drop_database(admin: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

impl Drop for TestDb {
    /// A test that panicked before `drop_now` still leaves no database
    /// behind; its own runtime may be gone, so this uses a fresh one.
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(drop_database(&admin, &name));
                }
            })
            .join();
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

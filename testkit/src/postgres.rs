//! A throwaway PostgreSQL database per test on the real local server.
//!
//! ```no_run
//! # async fn demo() {
//! let db = fixwright_testkit::postgres::FreshDatabase::create().await;
//! // open the code under test on db.url(); the database is dropped with `db`,
//! // also when the test panics, or earlier with `db.close().await`.
//! # }
//! ```

use std::time::Duration;

use sqlx::Connection;

/// The command that starts the local PostgreSQL server; every "server down"
/// failure names it.
pub const PG_START: &str =
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

/// Admin URLs tried in order when `DATABASE_URL` is not set: the `postgres`
/// role exists on every stock server (and GitHub's service container), `root`
/// only where it was created for local work.
pub const DEFAULT_ADMIN_URLS: [&str; 2] = [
    "postgres://postgres@127.0.0.1:5432/postgres",
    "postgres://root@127.0.0.1:5432/test",
];

/// How long dropping a database may take before the guard gives up; a hung
/// server must not hang the test run on top of failing it.
const DROP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why no fresh database could be had, or why one could not be dropped.
#[derive(Debug, thiserror::Error)]
pub enum FreshDatabaseError {
    /// No admin URL both connected and created the database.
    #[error(
        "no PostgreSQL admin connection could create a test database (tried {tried}); \
         is the server running? start it with: {PG_START}"
    )]
    Unavailable {
        /// Each admin URL tried, with its error.
        tried: String,
    },
    /// An admin URL that is not of the form `postgres://[authority]/[database][?query]`.
    #[error("admin URL {admin:?} is not a postgres:// URL")]
    BadAdminUrl {
        /// The URL as given.
        admin: String,
    },
    /// `DROP DATABASE` failed or did not finish in time.
    #[error("DROP DATABASE {name} via {admin}: {reason}")]
    Drop {
        /// The database that may be left behind.
        name: String,
        /// The admin URL used.
        admin: String,
        /// The server's error, or the timeout.
        reason: String,
    },
}

/// A database created for one test.
///
/// It is dropped (`DROP DATABASE IF EXISTS .. WITH (FORCE)`, so open pools do
/// not block it) when this guard is dropped, including during a panic's
/// unwinding, or earlier with [`FreshDatabase::close`]. Callers open their own
/// pools or stores on [`FreshDatabase::url`].
#[derive(Debug)]
pub struct FreshDatabase {
    admin: String,
    name: String,
    url: String,
    dropped: bool,
}

impl FreshDatabase {
    /// Creates a fresh, empty database, panicking with the server's start
    /// command when PostgreSQL is not reachable: a test needing it must fail
    /// loudly, never skip.
    ///
    /// The admin URL is `DATABASE_URL` when set, else [`DEFAULT_ADMIN_URLS`]
    /// in order.
    pub async fn create() -> FreshDatabase {
        let env = std::env::var("DATABASE_URL").ok();
        match Self::create_on(&admin_urls(env.as_deref())).await {
            Ok(db) => db,
            Err(e) => panic!("{e}"),
        }
    }

    /// Creates a fresh database through the first of `admins` that connects
    /// and may create databases.
    pub async fn create_on(admins: &[String]) -> Result<FreshDatabase, FreshDatabaseError> {
        let name = format!(
            "fixwright_test_{}",
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        );
        let mut tried = Vec::new();
        for admin in admins {
            let url =
                database_url(admin, &name).ok_or_else(|| FreshDatabaseError::BadAdminUrl {
                    admin: admin.clone(),
                })?;
            match create_database(admin, &name).await {
                Ok(()) => {
                    return Ok(FreshDatabase {
                        admin: admin.clone(),
                        name,
                        url,
                        dropped: false,
                    });
                }
                Err(e) => tried.push(format!("{admin}: {e}")),
            }
        }
        Err(FreshDatabaseError::Unavailable {
            tried: tried.join("; "),
        })
    }

    /// The URL of the new database, with the admin URL's user, host, port
    /// and query parameters.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name: `fixwright_test_` and a lowercase ULID.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The admin URL the database was created through.
    pub fn admin_url(&self) -> &str {
        &self.admin
    }

    /// Drops the database now, terminating any connection still open on it
    /// (so a test can take the database away under a running server), and
    /// reports whether that worked.
    pub async fn close(mut self) -> Result<(), FreshDatabaseError> {
        self.dropped = true;
        match tokio::time::timeout(DROP_TIMEOUT, drop_database(&self.admin, &self.name)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.drop_error(e.to_string())),
            Err(_) => Err(self.drop_error(format!("no answer within {DROP_TIMEOUT:?}"))),
        }
    }

    fn drop_error(&self, reason: String) -> FreshDatabaseError {
        FreshDatabaseError::Drop {
            name: self.name.clone(),
            admin: self.admin.clone(),
            reason,
        }
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which may be unwinding or be a
        // current-thread one: a helper thread with its own runtime can block on
        // the DROP without needing that runtime to make progress.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                // The timeout is built inside the runtime: its timer needs one.
                let _ = rt.block_on(async {
                    tokio::time::timeout(DROP_TIMEOUT, drop_database(&admin, &name)).await
                });
            }
        })
        .join();
    }
}

/// The admin URLs to try: `database_url_env` alone when set (an explicit
/// choice must not silently fall back), else [`DEFAULT_ADMIN_URLS`].
pub fn admin_urls(database_url_env: Option<&str>) -> Vec<String> {
    match database_url_env.map(str::trim) {
        Some(url) if !url.is_empty() => vec![url.to_owned()],
        _ => DEFAULT_ADMIN_URLS.iter().map(|u| (*u).to_owned()).collect(),
    }
}

/// `admin` with its database replaced by `name`, keeping user, password,
/// host, port and query; `None` when `admin` is not a `postgres://` or
/// `postgresql://` URL.
pub fn database_url(admin: &str, name: &str) -> Option<String> {
    let (scheme, rest) = admin.split_once("://")?;
    if scheme != "postgres" && scheme != "postgresql" {
        return None;
    }
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    let mut url = format!("{scheme}://{authority}/{name}");
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    Some(url)
}

async fn create_database(admin: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

async fn drop_database(admin: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_replaces_only_the_database() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "db1").as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/db1")
        );
        assert_eq!(
            database_url("postgresql://u:p%2Fw@h:6543/test?sslmode=disable", "db1").as_deref(),
            Some("postgresql://u:p%2Fw@h:6543/db1?sslmode=disable")
        );
        assert_eq!(
            database_url("postgres://root@localhost", "db1").as_deref(),
            Some("postgres://root@localhost/db1")
        );
        assert_eq!(database_url("mysql://root@localhost/x", "db1"), None);
        assert_eq!(database_url("127.0.0.1:5432", "db1"), None);
    }

    #[test]
    fn admin_urls_prefer_the_environment() {
        assert_eq!(
            admin_urls(Some("postgres://postgres@127.0.0.1:5432/test")),
            vec!["postgres://postgres@127.0.0.1:5432/test".to_owned()]
        );
        assert_eq!(admin_urls(None), DEFAULT_ADMIN_URLS.to_vec());
        assert_eq!(admin_urls(Some("  ")), DEFAULT_ADMIN_URLS.to_vec());
    }
}

//! The dedupe registry: the first claimant of a key (an incident's
//! fingerprint) within its time-to-live wins; everyone else learns who holds it.
//!
//! Two backends with one contract: Redis (`SET key holder NX EX ttl`) when a
//! Redis URL is configured, the store (a table with an expiry, claimed by one
//! atomic insert-or-take-over-if-expired statement) otherwise.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::aio::MultiplexedConnection;

use super::fingerprint::Fingerprint;
use crate::store::Store;

/// A registry key. Keys for incidents are built from their fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DedupeKey(String);

impl DedupeKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key under which an incident with this fingerprint is deduplicated.
    pub fn for_fingerprint(fingerprint: &Fingerprint) -> Self {
        Self(format!("incident:{fingerprint}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The answer to a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the key until the TTL runs out. A holder claiming its
    /// own live key again also wins (a retried or redelivered signal), and
    /// its TTL starts again.
    Won,
    /// Someone else holds the key.
    Held {
        /// Who holds it (`None` if the claim expired between the two reads).
        holder: Option<String>,
        /// How long until it expires, when the backend knows.
        remaining: Option<Duration>,
    },
}

impl Claim {
    pub fn is_won(&self) -> bool {
        matches!(self, Claim::Won)
    }
}

/// Why a claim could not be decided.
#[derive(Debug, thiserror::Error)]
pub enum DedupeError {
    #[error("dedupe TTL must be at least one millisecond, got {0:?}")]
    InvalidTtl(Duration),
    #[error("cannot reach Redis at `{url}`: {source}")]
    RedisConnect {
        url: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("Redis command for dedupe key `{key}` failed: {source}")]
    Redis {
        key: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("dedupe claim for key `{key}` failed in the store: {source}")]
    Store {
        key: String,
        #[source]
        source: sqlx::Error,
    },
}

/// A registry where the first claimant of a key wins until the TTL passes.
pub trait DedupeRegistry: Send + Sync {
    /// Claims `key` for `holder` for `ttl`. Atomic: of any number of
    /// concurrent claimants of a free key, exactly one gets [`Claim::Won`].
    fn claim(
        &self,
        key: &DedupeKey,
        holder: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Claim, DedupeError>> + Send;
}

fn check_ttl(ttl: Duration) -> Result<(), DedupeError> {
    if ttl.as_millis() == 0 {
        return Err(DedupeError::InvalidTtl(ttl));
    }
    Ok(())
}

/// Renews the caller's own claim, or reports who holds the key and for how
/// long. Returns `{1, holder, ttl_ms}` or `{0, holder_or_false, pttl}`.
const RENEW_OR_INSPECT: &str = r"
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {1, current, tonumber(ARGV[2]) * 1000}
end
return {0, current, redis.call('PTTL', KEYS[1])}
";

/// The Redis registry. Keys are stored as `<prefix><key>`.
#[derive(Clone)]
pub struct RedisDedupe {
    conn: MultiplexedConnection,
    prefix: String,
}

impl RedisDedupe {
    /// Connects to `url` (`redis://host:port/db`).
    pub async fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, DedupeError> {
        let connect_err = |source| DedupeError::RedisConnect {
            url: url.to_owned(),
            source,
        };
        let client = redis::Client::open(url).map_err(connect_err)?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(connect_err)?;
        Ok(Self {
            conn,
            prefix: prefix.into(),
        })
    }

    async fn claim_inner(
        &self,
        key: &DedupeKey,
        holder: &str,
        ttl: Duration,
    ) -> Result<Claim, DedupeError> {
        check_ttl(ttl)?;
        let full = format!("{}{}", self.prefix, key.as_str());
        let err = |source| DedupeError::Redis {
            key: full.clone(),
            source,
        };
        // EX takes whole seconds; round up so a claim never lasts less than asked.
        let secs = ttl.as_millis().div_ceil(1000).max(1) as u64;
        let mut conn = self.conn.clone();
        // A key that expires between the failed SET and the GET is free again:
        // try once more rather than report a holder that no longer exists.
        for _ in 0..2 {
            let set: Option<String> = redis::cmd("SET")
                .arg(&full)
                .arg(holder)
                .arg("NX")
                .arg("EX")
                .arg(secs)
                .query_async(&mut conn)
                .await
                .map_err(err)?;
            if set.is_some() {
                return Ok(Claim::Won);
            }
            // Renewing our own claim must not touch a claim someone else
            // made after ours expired: compare and expire in one script.
            let (mine, current, pttl): (i64, Option<String>, i64) = redis::cmd("EVAL")
                .arg(RENEW_OR_INSPECT)
                .arg(1)
                .arg(&full)
                .arg(holder)
                .arg(secs)
                .query_async(&mut conn)
                .await
                .map_err(err)?;
            if mine == 1 {
                return Ok(Claim::Won);
            }
            if let Some(current) = current {
                return Ok(Claim::Held {
                    holder: Some(current),
                    remaining: u64::try_from(pttl).ok().map(Duration::from_millis),
                });
            }
        }
        Ok(Claim::Held {
            holder: None,
            remaining: None,
        })
    }
}

impl DedupeRegistry for RedisDedupe {
    fn claim(
        &self,
        key: &DedupeKey,
        holder: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Claim, DedupeError>> + Send {
        self.claim_inner(key, holder, ttl)
    }
}

/// The store-backed registry (table `dedupe_claims`), on SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub struct StoreDedupe {
    store: Store,
}

const CLAIM_SQL: &str = "INSERT INTO dedupe_claims (key, holder, claimed_at, expires_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, \
         claimed_at = excluded.claimed_at, expires_at = excluded.expires_at \
     WHERE dedupe_claims.expires_at <= $3 OR dedupe_claims.holder = $2 \
     RETURNING holder";
const HOLDER_SQL: &str = "SELECT holder, expires_at FROM dedupe_claims WHERE key = $1";
const PURGE_SQL: &str = "DELETE FROM dedupe_claims WHERE expires_at <= $1";

impl StoreDedupe {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// [`DedupeRegistry::claim`] at an explicit time (milliseconds matter:
    /// expiry is compared in milliseconds since the epoch).
    pub async fn claim_at(
        &self,
        key: &DedupeKey,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Claim, DedupeError> {
        check_ttl(ttl)?;
        let err = |source| DedupeError::Store {
            key: key.as_str().to_owned(),
            source,
        };
        let now_ms = now.timestamp_millis();
        let expires = now_ms.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let won: Option<(String,)> = match &self.store {
            Store::Sqlite(pool) => sqlx::query_as(CLAIM_SQL)
                .bind(key.as_str())
                .bind(holder)
                .bind(now_ms)
                .bind(expires)
                .fetch_optional(pool)
                .await
                .map_err(err)?,
            Store::Postgres(pool) => sqlx::query_as(CLAIM_SQL)
                .bind(key.as_str())
                .bind(holder)
                .bind(now_ms)
                .bind(expires)
                .fetch_optional(pool)
                .await
                .map_err(err)?,
        };
        if won.is_some() {
            return Ok(Claim::Won);
        }
        let current: Option<(String, i64)> = match &self.store {
            Store::Sqlite(pool) => sqlx::query_as(HOLDER_SQL)
                .bind(key.as_str())
                .fetch_optional(pool)
                .await
                .map_err(err)?,
            Store::Postgres(pool) => sqlx::query_as(HOLDER_SQL)
                .bind(key.as_str())
                .fetch_optional(pool)
                .await
                .map_err(err)?,
        };
        Ok(match current {
            Some((holder, expires_at)) => Claim::Held {
                holder: Some(holder),
                remaining: u64::try_from(expires_at - now_ms)
                    .ok()
                    .map(Duration::from_millis),
            },
            None => Claim::Held {
                holder: None,
                remaining: None,
            },
        })
    }

    /// Deletes claims that expired before `now`; returns how many.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, DedupeError> {
        let err = |source| DedupeError::Store {
            key: "*".to_owned(),
            source,
        };
        let now_ms = now.timestamp_millis();
        let done = match &self.store {
            Store::Sqlite(pool) => sqlx::query(PURGE_SQL)
                .bind(now_ms)
                .execute(pool)
                .await
                .map_err(err)?
                .rows_affected(),
            Store::Postgres(pool) => sqlx::query(PURGE_SQL)
                .bind(now_ms)
                .execute(pool)
                .await
                .map_err(err)?
                .rows_affected(),
        };
        Ok(done)
    }
}

impl DedupeRegistry for StoreDedupe {
    fn claim(
        &self,
        key: &DedupeKey,
        holder: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Claim, DedupeError>> + Send {
        self.claim_at(key, holder, ttl, Utc::now())
    }
}

/// The configured registry: Redis when a URL is given, the store otherwise.
#[derive(Clone)]
pub enum Dedupe {
    Redis(RedisDedupe),
    Store(StoreDedupe),
}

impl Dedupe {
    /// Redis at `redis_url` when given (keys prefixed with `prefix`), else the store.
    pub async fn from_config(
        redis_url: Option<&str>,
        prefix: &str,
        store: Store,
    ) -> Result<Self, DedupeError> {
        Ok(match redis_url {
            Some(url) => Dedupe::Redis(RedisDedupe::connect(url, prefix).await?),
            None => Dedupe::Store(StoreDedupe::new(store)),
        })
    }
}

impl DedupeRegistry for Dedupe {
    async fn claim(
        &self,
        key: &DedupeKey,
        holder: &str,
        ttl: Duration,
    ) -> Result<Claim, DedupeError> {
        match self {
            Dedupe::Redis(r) => r.claim_inner(key, holder, ttl).await,
            Dedupe::Store(s) => s.claim_at(key, holder, ttl, Utc::now()).await,
        }
    }
}

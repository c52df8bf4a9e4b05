//! JSON schema history per scraper: every key path and type its responses
//! have had, when each was first and last seen, and what changed since the
//! previous response.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::outcomes::{Memory, MemoryError, store_err};
use crate::incident::ScraperName;

/// A JSON value's type; integers and other numbers are told apart because
/// an API switching `12` to `12.5` (or to `"12"`) is drift worth seeing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonType {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
}

impl JsonType {
    pub const ALL: [JsonType; 7] = [
        JsonType::Null,
        JsonType::Boolean,
        JsonType::Integer,
        JsonType::Number,
        JsonType::String,
        JsonType::Array,
        JsonType::Object,
    ];

    pub fn of(value: &Value) -> Self {
        match value {
            Value::Null => JsonType::Null,
            Value::Bool(_) => JsonType::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => JsonType::Integer,
            Value::Number(_) => JsonType::Number,
            Value::String(_) => JsonType::String,
            Value::Array(_) => JsonType::Array,
            Value::Object(_) => JsonType::Object,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Boolean => "boolean",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::String => "string",
            JsonType::Array => "array",
            JsonType::Object => "object",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        JsonType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The paths of a JSON document with the types seen at each: `$` is the
/// root, `.key` an identifier key, `["a key"]` any other key, `[]` every
/// element of an array.
pub fn json_shape(value: &Value) -> BTreeSet<(String, JsonType)> {
    let mut out = BTreeSet::new();
    walk(value, "$".to_owned(), 0, &mut out);
    out
}

const MAX_DEPTH: usize = 64;
const MAX_PATHS: usize = 20_000;

fn walk(value: &Value, path: String, depth: usize, out: &mut BTreeSet<(String, JsonType)>) {
    if depth > MAX_DEPTH || out.len() > MAX_PATHS {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let is_ident = key
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                let child_path = if is_ident {
                    format!("{path}.{key}")
                } else {
                    format!("{path}[{}]", Value::String(key.clone()))
                };
                walk(child, child_path, depth + 1, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, format!("{path}[]"), depth + 1, out);
            }
        }
        _ => {}
    }
    out.insert((path, JsonType::of(value)));
}

/// One path and type in a scraper's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaPath {
    pub path: String,
    pub json_type: JsonType,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub times_seen: u64,
}

/// How a response's shape differs from the scraper's previous one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaChange {
    /// True when this was the scraper's first recorded response.
    pub first: bool,
    /// Paths (with type) in this response but not the previous one.
    pub added: Vec<(String, JsonType)>,
    /// Paths (with type) in the previous response but not this one.
    pub missing: Vec<(String, JsonType)>,
}

impl SchemaChange {
    pub fn is_unchanged(&self) -> bool {
        !self.first && self.added.is_empty() && self.missing.is_empty()
    }
}

// One body for both databases; see the note on storm grouping's transaction.
macro_rules! record_schema_tx {
    ($name:ident, $db:ty) => {
        async fn $name(
            tx: &mut sqlx::Transaction<'static, $db>,
            scraper: &str,
            shape: &BTreeSet<(String, JsonType)>,
            now_ms: i64,
        ) -> Result<SchemaChange, sqlx::Error> {
            let previous: Option<(i64,)> = sqlx::query_as(
                "SELECT observed_at FROM memory_schema_observations WHERE scraper = $1 \
                 ORDER BY observed_at DESC, id DESC LIMIT 1",
            )
            .bind(scraper)
            .fetch_optional(&mut **tx)
            .await?;
            let mut before = BTreeSet::new();
            // Observations of one scraper get distinct, increasing times so
            // "seen in the previous response" is exactly `last_seen = previous`.
            let mut at = now_ms;
            if let Some((prev,)) = previous {
                at = at.max(prev + 1);
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT path, json_type FROM memory_schema_paths \
                     WHERE scraper = $1 AND last_seen = $2",
                )
                .bind(scraper)
                .bind(prev)
                .fetch_all(&mut **tx)
                .await?;
                before.extend(
                    rows.into_iter()
                        .filter_map(|(p, t)| JsonType::parse(&t).map(|t| (p, t))),
                );
            }
            for (path, json_type) in shape {
                sqlx::query(
                    "INSERT INTO memory_schema_paths \
                     (scraper, path, json_type, first_seen, last_seen, times_seen) \
                     VALUES ($1, $2, $3, $4, $4, 1) \
                     ON CONFLICT (scraper, path, json_type) DO UPDATE SET \
                         last_seen = excluded.last_seen, \
                         times_seen = memory_schema_paths.times_seen + 1",
                )
                .bind(scraper)
                .bind(path)
                .bind(json_type.as_str())
                .bind(at)
                .execute(&mut **tx)
                .await?;
            }
            let mut digest = Sha256::new();
            for (path, json_type) in shape {
                digest.update(path.as_bytes());
                digest.update(b"\t");
                digest.update(json_type.as_str().as_bytes());
                digest.update(b"\n");
            }
            sqlx::query(
                "INSERT INTO memory_schema_observations (scraper, observed_at, digest, path_count) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(scraper)
            .bind(at)
            .bind(hex::encode(digest.finalize()))
            .bind(i64::try_from(shape.len()).unwrap_or(i64::MAX))
            .execute(&mut **tx)
            .await?;
            Ok(SchemaChange {
                first: previous.is_none(),
                added: shape.difference(&before).cloned().collect(),
                missing: if previous.is_some() {
                    before.difference(shape).cloned().collect()
                } else {
                    Vec::new()
                },
            })
        }
    };
}

record_schema_tx!(record_schema_sqlite, sqlx::Sqlite);
record_schema_tx!(record_schema_postgres, sqlx::Postgres);

impl Memory {
    /// Records the shape of one JSON response of `scraper` and says how it
    /// differs from the previous one.
    pub async fn record_schema(
        &self,
        scraper: &ScraperName,
        response: &Value,
        now: DateTime<Utc>,
    ) -> Result<SchemaChange, MemoryError> {
        let shape = json_shape(response);
        if shape.len() > MAX_PATHS {
            return Err(MemoryError::TooManyPaths {
                scraper: scraper.to_string(),
                limit: MAX_PATHS,
            });
        }
        let err = store_err("record_schema");
        let now_ms = now.timestamp_millis();
        match &self.store {
            crate::store::Store::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(&err)?;
                let change = record_schema_sqlite(&mut tx, scraper.as_str(), &shape, now_ms)
                    .await
                    .map_err(&err)?;
                tx.commit().await.map_err(&err)?;
                Ok(change)
            }
            crate::store::Store::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(&err)?;
                let change = record_schema_postgres(&mut tx, scraper.as_str(), &shape, now_ms)
                    .await
                    .map_err(&err)?;
                tx.commit().await.map_err(&err)?;
                Ok(change)
            }
        }
    }

    /// Every path and type `scraper`'s responses have had, by path.
    pub async fn schema_history(
        &self,
        scraper: &ScraperName,
    ) -> Result<Vec<SchemaPath>, MemoryError> {
        const SQL: &str = "SELECT path, json_type, first_seen, last_seen, times_seen \
             FROM memory_schema_paths WHERE scraper = $1 ORDER BY path, json_type";
        let err = store_err("schema_history");
        let rows: Vec<(String, String, i64, i64, i64)> = match &self.store {
            crate::store::Store::Sqlite(pool) => sqlx::query_as(SQL)
                .bind(scraper.as_str())
                .fetch_all(pool)
                .await
                .map_err(err)?,
            crate::store::Store::Postgres(pool) => sqlx::query_as(SQL)
                .bind(scraper.as_str())
                .fetch_all(pool)
                .await
                .map_err(err)?,
        };
        Ok(rows
            .into_iter()
            .filter_map(|(path, t, first, last, times)| {
                Some(SchemaPath {
                    path,
                    json_type: JsonType::parse(&t)?,
                    first_seen: DateTime::from_timestamp_millis(first)?,
                    last_seen: DateTime::from_timestamp_millis(last)?,
                    times_seen: u64::try_from(times).unwrap_or(0),
                })
            })
            .collect())
    }
}

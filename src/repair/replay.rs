//! Replay: run a scraper's own extraction, in Python, in its provisioned
//! environment, on a saved response, and compare the records' shape with what
//! it extracts from its saved fixture.
//!
//! The Python side is a small harness shipped inside the binary; the decision
//! (does the shape match?) is [`compare`], a pure function.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::scraper::{Scraper, ScraperKind};
use crate::python::PythonEnv;

const HARNESS: &str = include_str!("replay_harness.py");

/// What a response body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    Html,
    Json,
}

impl ContentKind {
    /// Tells HTML from JSON by the body itself; `None` for anything else.
    pub fn sniff(body: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(body).ok()?;
        let trimmed = text.trim_start_matches('\u{feff}').trim();
        if (trimmed.starts_with('{') || trimmed.starts_with('['))
            && serde_json::from_str::<serde_json::Value>(trimmed).is_ok()
        {
            return Some(ContentKind::Json);
        }
        let lower = trimmed.get(..trimmed.len().min(2048))?.to_ascii_lowercase();
        let looks_html = lower.starts_with("<!doctype html")
            || lower.starts_with("<html")
            || lower.starts_with("<?xml") && lower.contains("<html")
            || (lower.starts_with('<')
                && [
                    "<body", "<div", "<head", "<ul", "<table", "<p", "<section", "<main",
                ]
                .iter()
                .any(|tag| lower.contains(tag)));
        looks_html.then_some(ContentKind::Html)
    }

    fn content_type(self) -> &'static str {
        match self {
            ContentKind::Html => "text/html; charset=utf-8",
            ContentKind::Json => "application/json",
        }
    }
}

/// A saved response to replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedResponse {
    pub body: Vec<u8>,
    pub kind: ContentKind,
    /// The URL it came from, when known (a spider's first start URL otherwise).
    pub url: Option<String>,
}

/// The exception a scraper raised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScraperFailure {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub traceback: String,
}

/// What one run of the scraper's extraction gave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Extraction {
    pub records: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Requests a spider yielded to follow (not records).
    pub requests: usize,
    pub error: Option<ScraperFailure>,
}

#[derive(Deserialize)]
struct HarnessResult {
    records: Vec<serde_json::Value>,
    requests: usize,
    error: Option<ScraperFailure>,
}

/// How often each field is present and non-empty across records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub count: usize,
    /// field → (records where present, records where non-empty).
    pub fields: BTreeMap<String, FieldFill>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldFill {
    pub present: usize,
    pub filled: usize,
}

/// The shape of a list of records.
pub fn shape(records: &[serde_json::Map<String, serde_json::Value>]) -> Shape {
    let mut fields: BTreeMap<String, FieldFill> = BTreeMap::new();
    for record in records {
        for (key, value) in record {
            let fill = fields.entry(key.clone()).or_default();
            fill.present += 1;
            if is_filled(value) {
                fill.filled += 1;
            }
        }
    }
    Shape {
        count: records.len(),
        fields,
    }
}

fn is_filled(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => false,
        serde_json::Value::String(s) => !s.trim().is_empty(),
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// The candidate's shape next to the baseline's, and what differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShapeComparison {
    /// `None` when the scraper has no saved fixture to compare with.
    pub baseline: Option<Shape>,
    pub candidate: Shape,
    /// Each reason the candidate does not look like the baseline; empty when
    /// it does.
    pub problems: Vec<String>,
}

impl ShapeComparison {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A field must keep at least this share of its baseline fill rate.
const FILL_TOLERANCE: f64 = 0.25;
/// The candidate's record count must be within this factor of the baseline's.
const COUNT_FACTOR: f64 = 2.0;

/// Compares the records a change extracts from the failing response with
/// those the original extracts from its fixture: at least one record, a
/// similar count (within a factor of two), and every field the fixture fills
/// in most records present and about as often non-empty.
pub fn compare(baseline: Option<&Shape>, candidate: &Shape) -> ShapeComparison {
    let mut problems = Vec::new();
    if candidate.count == 0 {
        problems.push("no records extracted".to_owned());
    }
    if let Some(base) = baseline {
        if base.count == 0 {
            problems.push(
                "the saved fixture yields no records, so there is no shape to compare with".into(),
            );
        } else if candidate.count > 0 {
            let ratio = candidate.count as f64 / base.count as f64;
            if !(1.0 / COUNT_FACTOR..=COUNT_FACTOR).contains(&ratio) {
                problems.push(format!(
                    "{} records where the fixture gives {}",
                    candidate.count, base.count
                ));
            }
            for (field, fill) in &base.fields {
                let base_rate = fill.filled as f64 / base.count as f64;
                if base_rate < 0.5 {
                    continue; // rarely filled on the fixture: not part of the shape
                }
                let got = candidate.fields.get(field).copied().unwrap_or_default();
                let rate = got.filled as f64 / candidate.count as f64;
                if got.present == 0 {
                    problems.push(format!("field `{field}` is missing"));
                } else if rate + FILL_TOLERANCE < base_rate {
                    problems.push(format!(
                        "field `{field}` is filled in {} of {} records (fixture: {} of {})",
                        got.filled, candidate.count, fill.filled, base.count
                    ));
                }
            }
        }
    }
    ShapeComparison {
        baseline: baseline.cloned(),
        candidate: candidate.clone(),
        problems,
    }
}

/// The outcome of replaying a change on the failing response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayVerdict {
    /// What the original code extracts from the saved fixture.
    pub baseline: Option<Extraction>,
    /// What the code under test extracts from the failing response.
    pub candidate: Extraction,
    pub comparison: ShapeComparison,
    pub passed: bool,
    /// One sentence: why it passed or failed.
    pub reason: String,
}

/// Why a replay could not be run (as opposed to the scraper failing in it).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("scraper module {module} has no entry function (parse, extract or scrape)")]
    NoEntry { module: PathBuf },
    #[error("cannot prepare the replay in {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run the replay harness with {}: {source}", python.display())]
    Spawn {
        python: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the replay of {scraper} did not finish within {seconds} s")]
    Timeout { scraper: String, seconds: u64 },
    #[error("the replay harness failed (exit {status}): {stderr}")]
    Harness { status: String, stderr: String },
}

/// Runs the harness. Cheap to clone; keeps its scratch files under a directory.
#[derive(Clone, Debug)]
pub struct Replayer {
    scratch: PathBuf,
    timeout: Duration,
}

impl Replayer {
    /// Keeps the harness and scratch files under `scratch` (created on use).
    pub fn new(scratch: impl Into<PathBuf>) -> Self {
        Replayer {
            scratch: scratch.into(),
            timeout: Duration::from_secs(120),
        }
    }

    /// The time one extraction may take.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs `scraper`'s extraction as it is in `checkout` on `response`.
    pub async fn extract(
        &self,
        env: &PythonEnv,
        checkout: &Path,
        scraper: &Scraper,
        response: &SavedResponse,
    ) -> Result<Extraction, ReplayError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ReplayError::Io { path, source }
        };
        tokio::fs::create_dir_all(&self.scratch)
            .await
            .map_err(io(&self.scratch))?;
        let harness = self.harness().await?;
        let run_id = ulid::Ulid::new();
        let body_path = self.scratch.join(format!("{run_id}.body"));
        let out_path = self.scratch.join(format!("{run_id}.json"));
        tokio::fs::write(&body_path, &response.body)
            .await
            .map_err(io(&body_path))?;
        let mut request = serde_json::json!({
            "repo": checkout,
            "module": scraper.import_path(),
            "body_path": body_path,
            "out": out_path,
            "url": response.url,
            "content_kind": response.kind,
            "content_type": response.kind.content_type(),
        });
        match &scraper.kind {
            ScraperKind::ScrapySpider { class_name } => {
                request["kind"] = "scrapy_spider".into();
                request["class_name"] = class_name.as_str().into();
                request["callback"] = "parse".into();
            }
            ScraperKind::Module { entry: Some(entry) } => {
                request["kind"] = "module".into();
                request["entry"] = entry.as_str().into();
            }
            ScraperKind::Module { entry: None } => {
                return Err(ReplayError::NoEntry {
                    module: scraper.module.clone(),
                });
            }
        }
        let result = self.run(env, checkout, &harness, &request, scraper).await;
        let output = match result {
            Ok(()) => tokio::fs::read(&out_path).await.map_err(io(&out_path)),
            Err(e) => Err(e),
        };
        let _ = tokio::fs::remove_file(&body_path).await;
        let _ = tokio::fs::remove_file(&out_path).await;
        let parsed: HarnessResult =
            serde_json::from_slice(&output?).map_err(|e| ReplayError::Harness {
                status: "0".into(),
                stderr: format!("unreadable result: {e}"),
            })?;
        let records = parsed
            .records
            .into_iter()
            .map(|r| match r {
                serde_json::Value::Object(map) => map,
                other => {
                    let mut map = serde_json::Map::new();
                    map.insert("value".into(), other);
                    map
                }
            })
            .collect();
        Ok(Extraction {
            records,
            requests: parsed.requests,
            error: parsed.error,
        })
    }

    async fn run(
        &self,
        env: &PythonEnv,
        checkout: &Path,
        harness: &Path,
        request: &serde_json::Value,
        scraper: &Scraper,
    ) -> Result<(), ReplayError> {
        let spawn_err = |source| ReplayError::Spawn {
            python: env.python.clone(),
            source,
        };
        let mut child = Command::new(&env.python)
            .arg(harness)
            .current_dir(checkout)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONIOENCODING", "utf-8")
            .env("PYTHONPATH", checkout)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_err)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(request.to_string().as_bytes())
                .await
                .map_err(spawn_err)?;
        }
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| ReplayError::Timeout {
                scraper: scraper.name.to_string(),
                seconds: self.timeout.as_secs(),
            })?
            .map_err(spawn_err)?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: String = stderr
                .chars()
                .rev()
                .take(2000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(ReplayError::Harness {
                status: output.status.to_string(),
                stderr: tail,
            });
        }
        Ok(())
    }

    /// Writes the harness under its content hash once; later runs reuse it.
    async fn harness(&self) -> Result<PathBuf, ReplayError> {
        let digest = hex::encode(Sha256::digest(HARNESS.as_bytes()));
        let path = self
            .scratch
            .join(format!("replay_harness_{}.py", &digest[..12]));
        if !path.is_file() {
            let tmp = self
                .scratch
                .join(format!(".harness-{}.py", ulid::Ulid::new()));
            let io = |source| ReplayError::Io {
                path: path.clone(),
                source,
            };
            tokio::fs::write(&tmp, HARNESS).await.map_err(io)?;
            tokio::fs::rename(&tmp, &path).await.map_err(io)?;
        }
        Ok(path)
    }

    /// Proves a change: the original code (`original`) on the scraper's saved
    /// fixture gives the baseline shape; the changed code (`changed`) on the
    /// failing response must give records of the same shape.
    pub async fn prove(
        &self,
        env: &PythonEnv,
        original: &Path,
        changed: &Path,
        scraper: &Scraper,
        failing: &SavedResponse,
    ) -> Result<ReplayVerdict, ReplayError> {
        let baseline = match fixture_for(original, scraper, failing.kind).await {
            Some(fixture) => Some(self.extract(env, original, scraper, &fixture).await?),
            None => None,
        };
        let candidate = self.extract(env, changed, scraper, failing).await?;
        Ok(verdict(baseline, candidate))
    }
}

/// The decision of a replay from its two extractions.
pub fn verdict(baseline: Option<Extraction>, candidate: Extraction) -> ReplayVerdict {
    let baseline_shape = baseline.as_ref().map(|b| shape(&b.records));
    let mut comparison = compare(baseline_shape.as_ref(), &shape(&candidate.records));
    if let Some(error) = &candidate.error {
        comparison.problems.insert(
            0,
            format!("the scraper raised {}: {}", error.kind, error.message),
        );
    }
    if let Some(error) = baseline.as_ref().and_then(|b| b.error.as_ref()) {
        comparison.problems.push(format!(
            "the original scraper raised {} on its own fixture: {}",
            error.kind, error.message
        ));
    }
    let passed = comparison.passed();
    let reason = if passed {
        match &comparison.baseline {
            Some(base) => format!(
                "{} records with every field of the fixture's {} filled",
                comparison.candidate.count, base.count
            ),
            None => format!(
                "{} records; no saved fixture to compare their shape with",
                comparison.candidate.count
            ),
        }
    } else {
        comparison.problems.join("; ")
    };
    ReplayVerdict {
        baseline,
        candidate,
        comparison,
        passed,
        reason,
    }
}

/// The scraper's saved fixture of the same kind as the failing response.
async fn fixture_for(
    checkout: &Path,
    scraper: &Scraper,
    kind: ContentKind,
) -> Option<SavedResponse> {
    for fixture in &scraper.fixtures {
        let Ok(body) = tokio::fs::read(checkout.join(fixture)).await else {
            continue;
        };
        if ContentKind::sniff(&body) == Some(kind) {
            return Some(SavedResponse {
                body,
                kind,
                url: None,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn records(values: serde_json::Value) -> Vec<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_value(values).unwrap_or_default()
    }

    #[test]
    fn a_matching_shape_passes() {
        let base = shape(&records(json!([
            {"title": "A", "price": "1"}, {"title": "B", "price": "2"}, {"title": "C", "price": ""}
        ])));
        let new = shape(&records(json!([
            {"title": "A", "price": "1"}, {"title": "B", "price": "2"}, {"title": "D", "price": "4"}
        ])));
        assert!(compare(Some(&base), &new).passed());
    }

    #[test]
    fn emptied_fields_missing_fields_and_counts_fail() {
        let base = shape(&records(json!([
            {"title": "A", "price": "1"}, {"title": "B", "price": "2"}, {"title": "C", "price": "3"}, {"title": "D", "price": "4"}
        ])));
        let emptied = shape(&records(json!([
            {"title": "A", "price": null}, {"title": "B", "price": " "}, {"title": "C", "price": null}, {"title": "D", "price": "4"}
        ])));
        let problems = compare(Some(&base), &emptied).problems;
        assert_eq!(
            problems,
            ["field `price` is filled in 1 of 4 records (fixture: 4 of 4)"]
        );
        let missing = shape(&records(
            json!([{"title": "A"}, {"title": "B"}, {"title": "C"}]),
        ));
        assert_eq!(
            compare(Some(&base), &missing).problems,
            ["field `price` is missing"]
        );
        let one = shape(&records(json!([{"title": "A", "price": "1"}])));
        assert_eq!(
            compare(Some(&base), &one).problems,
            ["1 records where the fixture gives 4"]
        );
        assert_eq!(
            compare(Some(&base), &Shape::default()).problems,
            ["no records extracted"]
        );
    }

    #[test]
    fn content_is_sniffed() {
        assert_eq!(ContentKind::sniff(b"  {\"a\": 1}"), Some(ContentKind::Json));
        assert_eq!(
            ContentKind::sniff(b"<!DOCTYPE html><html></html>"),
            Some(ContentKind::Html)
        );
        assert_eq!(
            ContentKind::sniff(b"<div class=x>hi</div>"),
            Some(ContentKind::Html)
        );
        assert_eq!(
            ContentKind::sniff(b"Traceback (most recent call last):"),
            None
        );
        assert_eq!(ContentKind::sniff(b"{not json"), None);
        assert_eq!(ContentKind::sniff(&[0xff, 0xfe, 0x00]), None);
    }
}

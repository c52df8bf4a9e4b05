//! What an incident is built from, and the identifiers it carries.

use std::fmt;

use serde::{Deserialize, Serialize};
use ulid::Ulid;
use url::Url;

/// A scraper as the repository names it (a Scrapy spider's `name`, else the
/// module's file stem).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScraperName(String);

impl ScraperName {
    /// Wraps a name; callers validate it against the repository layout.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScraperName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The host a scraper talks to, lower-cased, without port or credentials.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UpstreamHost(String);

impl UpstreamHost {
    /// Lower-cases `host` and drops a trailing dot, so `API.Example.com.` and
    /// `api.example.com` are one host.
    pub fn new(host: &str) -> Self {
        Self(host.trim_end_matches('.').to_ascii_lowercase())
    }

    /// The host of `url`, if it has one.
    pub fn from_url(url: &Url) -> Option<Self> {
        url.host_str().map(Self::new)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UpstreamHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One incident's identity: a ULID, so ids sort by creation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(Ulid);

impl IncidentId {
    /// A fresh id.
    pub fn new() -> Self {
        Self(Ulid::new())
    }

    pub fn from_ulid(id: Ulid) -> Self {
        Self(id)
    }

    pub fn ulid(&self) -> Ulid {
        self.0
    }
}

impl Default for IncidentId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The response a scraper failed on, as captured by its run report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingResponse {
    pub url: Option<Url>,
    pub status: Option<u16>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Everything known about one failure. Log and body are data, never
/// instructions: nothing in them changes what classification may conclude
/// beyond the error class.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The run's log: Python traceback(s) plus scrapy / requests / httpx /
    /// BeautifulSoup / Kubernetes lines, in order.
    pub log: String,
    pub response: Option<FailingResponse>,
    pub scraper: Option<ScraperName>,
    /// The scraper's own files, relative to the repository root (for example
    /// `shop/spiders/books.py`): traceback frames in these files are the
    /// scraper's code, every other frame is a library's.
    pub scraper_files: Vec<String>,
}

impl Evidence {
    /// Evidence from a log alone.
    pub fn from_log(log: impl Into<String>) -> Self {
        Self {
            log: log.into(),
            ..Self::default()
        }
    }
}

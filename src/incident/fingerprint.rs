//! The normalised fingerprint of a failure: the same cause gives the same
//! fingerprint across runs (timestamps, PIDs, line numbers, request ids and
//! URLs differ), different causes give different ones.

use std::fmt;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::classify::{ErrorClass, Reason, Source};
use super::evidence::ScraperName;
use super::traceback::{ExceptionBlock, Frame};

/// 32 lowercase hex digits: the first 128 bits of a SHA-256 over the
/// normalised failure. Bump [`FINGERPRINT_VERSION`] when the normalisation
/// changes, so old and new fingerprints never collide by accident.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

const FINGERPRINT_VERSION: &str = "fixwright-fingerprint-v1";
const HEX_LEN: usize = 32;

/// A string that is not a fingerprint.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a fingerprint: expected {HEX_LEN} lowercase hex digits")]
pub struct InvalidFingerprint(pub String);

impl Fingerprint {
    /// Parses a fingerprint as stored or shown.
    pub fn parse(s: &str) -> Result<Self, InvalidFingerprint> {
        if s.len() == HEX_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidFingerprint(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Hashes the normalised failure (see [`Fingerprint::canonical`]).
    pub(crate) fn compute(
        class: ErrorClass,
        decisive: &Reason,
        exception: Option<&ExceptionBlock>,
        own_frames: &[Frame],
        scraper: Option<&ScraperName>,
        scraper_files: &[String],
    ) -> Self {
        let text = Self::canonical(
            class,
            decisive,
            exception,
            own_frames,
            scraper,
            scraper_files,
        );
        let digest = Sha256::digest(text.as_bytes());
        let mut hex = hex::encode(digest);
        hex.truncate(HEX_LEN);
        Self(hex)
    }

    /// The text that is hashed, one `key=value` per line: class, status,
    /// exception type, the scraper's own frames (path and function, never line
    /// numbers), the masked message; the decisive rule and masked line when
    /// the class was decided outside the exception; the scraper's name when no
    /// frame of its own identifies it.
    pub(crate) fn canonical(
        class: ErrorClass,
        decisive: &Reason,
        exception: Option<&ExceptionBlock>,
        own_frames: &[Frame],
        scraper: Option<&ScraperName>,
        scraper_files: &[String],
    ) -> String {
        let mut out = vec![
            FINGERPRINT_VERSION.to_owned(),
            format!("class={class}"),
            format!("rule={}", decisive.rule),
        ];
        if let Some(status) = decisive.http_status {
            out.push(format!("status={status}"));
        }
        if let Some(exc) = exception {
            out.push(format!("type={}", exc.exc_type));
            let mut last: Option<String> = None;
            for frame in own_frames {
                let line = format!(
                    "frame={}:{}",
                    normalise_path(&frame.file, scraper_files),
                    frame.function.as_deref().unwrap_or("-")
                );
                // Recursion prints the same frame many times, a varying number
                // of times; one is enough.
                if last.as_deref() != Some(line.as_str()) {
                    out.push(line.clone());
                    last = Some(line);
                }
            }
            if own_frames.is_empty()
                && let Some(frame) = exc.frames.last()
            {
                out.push(format!(
                    "library_frame={}:{}",
                    normalise_path(&frame.file, &[]),
                    frame.function.as_deref().unwrap_or("-")
                ));
            }
            out.push(format!("message={}", mask_message(&exc.message)));
        }
        let decided_by_exception = exception
            .is_some_and(|e| matches!(decisive.source, Source::Log { line } if line == e.line_no));
        if !decided_by_exception {
            out.push(format!(
                "decisive={}",
                mask_message(strip_log_header(&decisive.excerpt))
            ));
        }
        if own_frames.is_empty()
            && let Some(name) = scraper
        {
            out.push(format!("scraper={name}"));
        }
        out.join("\n")
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| unreachable!("static regex `{pattern}`: {e}"))
}

static LOG_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:\d{4}-\d{2}-\d{2}[ T][\d:.,]+(?:Z|[+-]\d{2}:?\d{2})?\s+)?(?:\[[^\]]*\]\s+)?(?:(?:DEBUG|INFO|WARNING|ERROR|CRITICAL):?\s*)?",
    )
});
static PYDANTIC_INPUT: LazyLock<Regex> = LazyLock::new(|| re(r"input_value=.*?, input_type=(\w+)"));
static URL: LazyLock<Regex> = LazyLock::new(|| re(r#"https?://[^\s'"<>()\]]+"#));
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
});
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| re(r"\b0x[0-9a-fA-F]+\b"));
static HEX: LazyLock<Regex> = LazyLock::new(|| re(r"\b[0-9a-fA-F]{8,}\b"));
static QUOTED: LazyLock<Regex> = LazyLock::new(|| re(r#"'([^'\n]*)'|"([^"\n]*)""#));
static IDENTIFIER: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$"));
static TOKEN: LazyLock<Regex> = LazyLock::new(|| re(r"[A-Za-z0-9_\-]{6,}"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| re(r"\d+(?:\.\d+)?"));
static SPACES: LazyLock<Regex> = LazyLock::new(|| re(r"\s+"));

/// Removes a log record's timestamp, `[logger]` and level, which say when and
/// where a line was logged, not what failed.
fn strip_log_header(line: &str) -> &str {
    match LOG_HEADER.find(line) {
        Some(m) => &line[m.end()..],
        None => line,
    }
}

/// Masks what varies between runs of the same failure: URLs, UUIDs, memory
/// addresses, hashes, ids, numbers and quoted data values. Quoted
/// identifiers (`'price'`, `'NoneType'`, `'lxml'`) are kept: they name the
/// missing key, the type or the module, which is the cause itself.
pub fn mask_message(message: &str) -> String {
    let s = PYDANTIC_INPUT.replace_all(message, "input_value=<v>, input_type=$1");
    let s = URL.replace_all(&s, "<url>");
    let s = UUID.replace_all(&s, "<uuid>");
    let s = ADDRESS.replace_all(&s, "<addr>");
    let s = HEX.replace_all(&s, |c: &Captures| {
        let m = &c[0];
        if m.bytes().any(|b| b.is_ascii_digit()) && m.bytes().any(|b| b.is_ascii_alphabetic()) {
            "<hash>".to_owned()
        } else {
            m.to_owned()
        }
    });
    let s = QUOTED.replace_all(&s, |c: &Captures| {
        let (quote, inner) = match (c.get(1), c.get(2)) {
            (Some(m), _) => ('\'', m.as_str()),
            (_, Some(m)) => ('"', m.as_str()),
            _ => return c[0].to_owned(),
        };
        let digits = inner.bytes().filter(u8::is_ascii_digit).count();
        if IDENTIFIER.is_match(inner) && digits <= 1 {
            format!("{quote}{inner}{quote}")
        } else {
            format!("{quote}<q>{quote}")
        }
    });
    let s = TOKEN.replace_all(&s, |c: &Captures| {
        let m = &c[0];
        let digits = m.bytes().filter(u8::is_ascii_digit).count();
        let letters = m.bytes().filter(u8::is_ascii_alphabetic).count();
        if digits >= 2 && letters >= 1 {
            "<id>".to_owned()
        } else {
            m.to_owned()
        }
    });
    let s = NUMBER.replace_all(&s, "<n>");
    let s = SPACES.replace_all(s.trim(), " ");
    let mut out = s.into_owned();
    if let Some((cut, _)) = out.char_indices().nth(500) {
        out.truncate(cut);
    }
    out
}

/// A frame's path independent of where the code was checked out: the
/// matching scraper file (repository-relative), else the path inside
/// `site-packages`, else the last two components.
fn normalise_path(file: &str, scraper_files: &[String]) -> String {
    let file = file.replace('\\', "/");
    for own in scraper_files {
        let own = own.replace('\\', "/");
        let own = own.trim_start_matches("./");
        if file == own || file.ends_with(&format!("/{own}")) {
            return own.to_owned();
        }
    }
    for marker in ["/site-packages/", "/dist-packages/"] {
        if let Some(pos) = file.rfind(marker) {
            return file[pos + marker.len()..].to_owned();
        }
    }
    let parts: Vec<&str> = file.rsplit('/').take(2).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}

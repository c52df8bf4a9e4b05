//! Path patterns of `.github/fixwright.yml` and the names they are expanded with.
//!
//! A pattern is a repository-relative path in which `*` (or `**`, the same)
//! matches any run of characters, `/` included, and `{name}` stands for the
//! scraper's name. These are exactly the semantics of Cedar's `like`, so a
//! pattern means the same thing in the YAML, in the generated Cedar policy and
//! in AgentCore Policy. `tests/files/{name}*` therefore covers a fixture
//! directory `tests/files/quotes/page.html` as well as `tests/files/quotes.html`.

use std::fmt;

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Why a pattern or a name was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GlobError {
    #[error("pattern `{pattern}`: {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("scraper name `{name}`: {reason}")]
    Name { name: String, reason: String },
}

/// A validated path pattern, as written in the file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Glob(String);

impl JsonSchema for Glob {
    fn schema_name() -> Cow<'static, str> {
        "Glob".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "pattern": "^[A-Za-z0-9._\\-*@+~=,/{}]+$",
            "description": "A repository-relative path; `*` (or `**`) matches any characters including `/`; `{name}` is the scraper's name. No `.` or `..` segments, no leading `/`."
        })
    }
}

/// A scraper's name: a Scrapy spider's `name`, else its module's file stem.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScraperName(String);

/// A pattern with `{name}` filled in: literal text and `*` wildcards only.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pattern(String);

const PATTERN_CHARS: &str = "._-/*@+~=,";

impl Glob {
    /// Checks a pattern: relative, no `.`/`..` segment, ASCII letters, digits
    /// and `._-/*@+~=,` only, and braces only as `{name}`.
    pub fn new(pattern: impl Into<String>) -> Result<Self, GlobError> {
        let pattern = pattern.into();
        let bad = |reason: &str| GlobError::Pattern {
            pattern: pattern.clone(),
            reason: reason.to_owned(),
        };
        if pattern.is_empty() {
            return Err(bad("is empty"));
        }
        if pattern.starts_with('/') {
            return Err(bad("must be relative to the repository root"));
        }
        let rest = pattern.replace("{name}", "");
        if let Some(c) = rest
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || PATTERN_CHARS.contains(*c)))
        {
            return Err(bad(&format!(
                "character `{c}` is not allowed (letters, digits, `{PATTERN_CHARS}` and `{{name}}`)"
            )));
        }
        if pattern
            .split('/')
            .any(|seg| seg == "." || seg == ".." || seg.is_empty())
        {
            return Err(bad("has an empty, `.` or `..` segment"));
        }
        Ok(Self(pattern))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern mentions `{name}` (a per-scraper pattern).
    pub fn is_per_scraper(&self) -> bool {
        self.0.contains("{name}")
    }

    /// The pattern for one scraper: `{name}` replaced, `**` folded into `*`.
    pub fn expand(&self, name: &ScraperName) -> Pattern {
        let mut text = self.0.replace("{name}", name.as_str());
        while text.contains("**") {
            text = text.replace("**", "*");
        }
        Pattern(text)
    }
}

impl TryFrom<String> for Glob {
    type Error = GlobError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Glob::new(value)
    }
}

impl From<Glob> for String {
    fn from(glob: Glob) -> Self {
        glob.0
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ScraperName {
    /// Checks a name: 1 to 100 ASCII letters, digits, `_`, `-` or `.`, not
    /// starting with `.` (so it can never contain a wildcard or a `/`).
    pub fn new(name: impl Into<String>) -> Result<Self, GlobError> {
        let name = name.into();
        let bad = |reason: &str| GlobError::Name {
            name: name.clone(),
            reason: reason.to_owned(),
        };
        if name.is_empty() || name.len() > 100 {
            return Err(bad("must be 1 to 100 characters long"));
        }
        if name.starts_with('.') {
            return Err(bad("must not start with `.`"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(bad("may contain only letters, digits, `_`, `-` and `.`"));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ScraperName {
    type Error = GlobError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ScraperName::new(value)
    }
}

impl From<ScraperName> for String {
    fn from(name: ScraperName) -> Self {
        name.0
    }
}

impl fmt::Display for ScraperName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Pattern {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `path` matches: `*` matches any run of characters (possibly
    /// empty, `/` included); every other character matches itself.
    pub fn matches(&self, path: &str) -> bool {
        let p: Vec<char> = self.0.chars().collect();
        let t: Vec<char> = path.chars().collect();
        let (mut pi, mut ti) = (0, 0);
        // Position after the last `*` seen, and the text position it resumed at.
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && p[pi] == '*' {
                star = Some((pi + 1, ti));
                pi += 1;
            } else if pi < p.len() && p[pi] == t[ti] {
                pi += 1;
                ti += 1;
            } else if let Some((after, from)) = star {
                pi = after;
                ti = from + 1;
                star = Some((after, from + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }

    /// The pattern as a Cedar string literal for the right side of `like`.
    pub fn to_cedar_like(&self) -> String {
        let mut out = String::with_capacity(self.0.len() + 2);
        out.push('"');
        for c in self.0.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

/// Why a changed path is malformed, if it is: empty, absolute, with a
/// trailing `/`, an empty, `.` or `..` segment, a backslash or a control
/// character. Such a path is refused before any other rule.
pub fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("is empty");
    }
    if path.starts_with('/') {
        return Some("is absolute");
    }
    if path.contains('\\') {
        return Some("contains a backslash");
    }
    if path.chars().any(char::is_control) {
        return Some("contains a control character");
    }
    if path
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Some("has an empty, `.` or `..` segment");
    }
    None
}

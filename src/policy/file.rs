//! `.github/fixwright.yml`: the repository's policy file.
//!
//! Parsing is strict: an unknown field, a wrong type or a bad value is an
//! error that names the line and the field. Every section is optional and has
//! documented defaults, so an empty file (or none) is the default policy.
//! Each section is a field of [`RepoPolicy`]; `gates:` is in [`super::gates`].

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::gates::Gates;
use super::glob::{Glob, Pattern, ScraperName};
use super::mode::Mode;

/// Where the file lives in a repository.
pub const POLICY_FILE: &str = ".github/fixwright.yml";
/// Where the optional user Cedar policies live in a repository.
pub const CEDAR_FILE: &str = ".github/fixwright.cedar";

/// Paths no fix may ever touch, whatever the file says: CI workflows and
/// actions, Fixwright's own policy, deploy manifests and secrets.
pub const ALWAYS_PROTECTED: &[&str] = &[
    // CI
    ".github/workflows/**",
    ".github/actions/**",
    ".github/CODEOWNERS",
    "CODEOWNERS",
    // this policy
    ".github/fixwright.yml",
    ".github/fixwright.cedar",
    // deploy manifests
    "deploy/**",
    "k8s/**",
    "kubernetes/**",
    "helm/**",
    "charts/**",
    "**kustomization.yaml",
    "**kustomization.yml",
    "**Dockerfile",
    "**docker-compose*",
    "**.tf",
    // secrets
    ".env",
    ".env.*",
    "**/.env",
    "**/.env.*",
    "**.pem",
    "**.key",
    "**.p12",
    "**.pfx",
    "**id_rsa*",
    "**id_ed25519*",
    "**secret*",
    "**credential*",
];

/// The repository's policy, with every default filled in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[schemars(title = "Fixwright repository policy (.github/fixwright.yml)")]
pub struct RepoPolicy {
    /// `off`: Fixwright ignores the repository; `dry-run`: everything but
    /// writes; `on`: act. Combined with the installation's own switch, the
    /// stricter wins. Default `on`.
    pub mode: Mode,
    /// Confidence thresholds of the bands.
    pub bands: Bands,
    /// Where scrapers live; a fix may touch only its scraper's files.
    pub scrapers: Scrapers,
    /// More paths no fix may touch, on top of the ones that are always protected.
    pub protected_paths: Vec<Glob>,
    /// Size and retry limits.
    pub limits: Limits,
    /// How many agent calls may be spent.
    pub agent_budget: AgentBudget,
    /// What happens to a fix that may be merged.
    pub merge: Merge,
    /// Tool versions and time limits of the quality gates.
    pub gates: Gates,
}

/// Band thresholds on the calibrated confidence.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Bands {
    /// Above this the band is high (merge when every gate is green). Default 0.95.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub high: f64,
    /// From this up to `high` the band is medium (a human reviews). Default 0.70.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub medium: f64,
}

impl Default for Bands {
    fn default() -> Self {
        Self {
            high: 0.95,
            medium: 0.70,
        }
    }
}

/// A repository layout with default patterns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Both the Scrapy and the flat layout.
    #[default]
    Auto,
    /// `<package>/spiders/{name}.py`, `tests/test_{name}.py`, `tests/files/{name}*`.
    Scrapy,
    /// `scrapers/{name}.py`, `tests/test_{name}.py`, `tests/files/{name}*`.
    Flat,
}

/// Where a scraper's files are. Each list, when given, replaces the layout's
/// default for that kind of file; patterns use `{name}` for the scraper.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Scrapers {
    pub layout: Layout,
    /// The scraper's module(s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modules: Option<Vec<Glob>>,
    /// The scraper's tests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tests: Option<Vec<Glob>>,
    /// The scraper's saved responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixtures: Option<Vec<Glob>>,
}

/// Limits on one proposal and one incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most changed lines (added plus removed) a fix may have. Default 200.
    pub max_diff_lines: u32,
    /// Attempts per incident before it goes to a human. Default 3.
    #[schemars(range(min = 1))]
    pub max_attempts: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_diff_lines: 200,
            max_attempts: 3,
        }
    }
}

/// Agent calls (any backend) allowed per repository, counted over the
/// trailing hour and day, the proposal's own calls included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AgentBudget {
    /// Default 20.
    pub calls_per_hour: u32,
    /// Default 100.
    pub calls_per_day: u32,
}

impl Default for AgentBudget {
    fn default() -> Self {
        Self {
            calls_per_hour: 20,
            calls_per_day: 100,
        }
    }
}

/// How a mergeable fix lands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Merge {
    /// Merge high-band fixes without a human. Default true.
    pub auto_merge: bool,
    /// Default `squash`.
    pub method: MergeMethod,
    /// GitHub logins or `org/team` slugs asked to review medium-band fixes
    /// (CODEOWNERS of the scraper's path when empty).
    pub reviewers: Vec<String>,
}

impl Default for Merge {
    fn default() -> Self {
        Self {
            auto_merge: true,
            method: MergeMethod::Squash,
            reviewers: Vec::new(),
        }
    }
}

/// GitHub's merge methods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MergeMethod {
    Merge,
    #[default]
    Squash,
    Rebase,
}

/// Why a policy file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The YAML is malformed or a field is unknown, mistyped or invalid.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A rule across several fields is broken.
    #[error("{file}:{line}: field `{field}`: {message}")]
    Invalid {
        file: PathBuf,
        line: usize,
        field: &'static str,
        message: String,
    },
    #[error("cannot read {file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RepoPolicy {
    /// Parses a policy file's text; `file` only names it in errors. An empty
    /// (or comment-only) text is the default policy.
    pub fn parse(text: &str, file: &Path) -> Result<Self, PolicyError> {
        let is_empty = text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
        let policy: RepoPolicy = if is_empty {
            RepoPolicy::default()
        } else {
            serde_norway::from_str(text).map_err(|err| {
                let (line, column) = err
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .unwrap_or((0, 0));
                let message = strip_location(&err.to_string());
                // A bad list item is located at its list; point at the item.
                let (line, column) =
                    bad_pattern_position(text, &message, line).unwrap_or((line, column));
                PolicyError::Syntax {
                    file: file.to_owned(),
                    line,
                    column,
                    message,
                }
            })?
        };
        policy.check(text, file)?;
        Ok(policy)
    }

    /// Reads `.github/fixwright.yml` under a repository root; a missing file
    /// is the default policy.
    pub fn load(repo_root: &Path) -> Result<Self, PolicyError> {
        let file = repo_root.join(POLICY_FILE);
        match std::fs::read_to_string(&file) {
            Ok(text) => Self::parse(&text, &file),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(PolicyError::Read { file, source }),
        }
    }

    fn check(&self, text: &str, file: &Path) -> Result<(), PolicyError> {
        let invalid = |field: &'static str, message: String| PolicyError::Invalid {
            file: file.to_owned(),
            line: line_of(text, field),
            field,
            message,
        };
        let in_unit = |x: f64| (0.0..=1.0).contains(&x);
        if !in_unit(self.bands.high) {
            return Err(invalid(
                "bands.high",
                format!("{} is not in [0, 1]", self.bands.high),
            ));
        }
        if !in_unit(self.bands.medium) {
            return Err(invalid(
                "bands.medium",
                format!("{} is not in [0, 1]", self.bands.medium),
            ));
        }
        if self.bands.medium > self.bands.high {
            return Err(invalid(
                "bands.medium",
                format!(
                    "{} is above bands.high ({})",
                    self.bands.medium, self.bands.high
                ),
            ));
        }
        if self.limits.max_attempts == 0 {
            return Err(invalid(
                "limits.max_attempts",
                "must be at least 1".to_owned(),
            ));
        }
        for (field, list) in [
            ("scrapers.modules", &self.scrapers.modules),
            ("scrapers.tests", &self.scrapers.tests),
            ("scrapers.fixtures", &self.scrapers.fixtures),
        ] {
            let shared = list.iter().flatten().find(|g| !g.is_per_scraper());
            if let Some(glob) = shared {
                return Err(invalid(
                    field,
                    format!(
                        "pattern `{glob}` does not mention {{name}}, so it would hand every scraper's fix the same files"
                    ),
                ));
            }
        }
        let limits = &self.gates.time_limit_seconds;
        for (field, seconds) in [
            ("gates.time_limit_seconds.ruff", limits.ruff),
            ("gates.time_limit_seconds.mypy", limits.mypy),
            ("gates.time_limit_seconds.pytest", limits.pytest),
            (
                "gates.test_timeout_seconds",
                self.gates.test_timeout_seconds,
            ),
        ] {
            if seconds == 0 {
                return Err(invalid(field, "must be at least 1 second".to_owned()));
            }
        }
        if let Some(reviewer) = self.merge.reviewers.iter().find(|r| !is_reviewer(r)) {
            return Err(invalid(
                "merge.reviewers",
                format!("`{reviewer}` is not a GitHub login or an org/team slug"),
            ));
        }
        Ok(())
    }

    /// The patterns (with `{name}` unexpanded) of a scraper's own files by
    /// kind (`modules`, `tests`, `fixtures`), from the layout unless overridden.
    pub fn scraper_globs_by_kind(&self) -> [(&'static str, Vec<Glob>); 3] {
        let defaults = |scrapy: &[&str], flat: &[&str]| -> Vec<Glob> {
            let names: Vec<&str> = match self.scrapers.layout {
                Layout::Auto => scrapy.iter().chain(flat).copied().collect(),
                Layout::Scrapy => scrapy.to_vec(),
                Layout::Flat => flat.to_vec(),
            };
            let mut out: Vec<Glob> = Vec::new();
            // Built-in patterns are valid by construction (checked in tests).
            for glob in names.into_iter().filter_map(|n| Glob::new(n).ok()) {
                if !out.contains(&glob) {
                    out.push(glob);
                }
            }
            out
        };
        let s = &self.scrapers;
        [
            (
                "modules",
                s.modules
                    .clone()
                    .unwrap_or_else(|| defaults(&["*/spiders/{name}.py"], &["scrapers/{name}.py"])),
            ),
            (
                "tests",
                s.tests.clone().unwrap_or_else(|| {
                    defaults(&["tests/test_{name}.py"], &["tests/test_{name}.py"])
                }),
            ),
            (
                "fixtures",
                s.fixtures.clone().unwrap_or_else(|| {
                    defaults(&["tests/files/{name}*"], &["tests/files/{name}*"])
                }),
            ),
        ]
    }

    /// Every pattern of a scraper's own files, `{name}` unexpanded.
    pub fn scraper_globs(&self) -> Vec<Glob> {
        self.scraper_globs_by_kind()
            .into_iter()
            .flat_map(|(_, globs)| globs)
            .collect()
    }

    /// The patterns of one scraper's own files.
    pub fn scraper_patterns(&self, scraper: &ScraperName) -> Vec<Pattern> {
        self.scraper_globs()
            .iter()
            .map(|g| g.expand(scraper))
            .collect()
    }

    /// The files of other scrapers that `scraper`'s own patterns also cover, by
    /// owner, longest name first. A path two scrapers' patterns both cover belongs
    /// to the one with the longer name when that name contains the other's, as the
    /// scraper finder assigns fixtures: `tests/files/{name}*` covers
    /// `tests/files/books_api.json` for `books` too, but it is `books_api`'s.
    pub fn claimed_by_others(
        &self,
        scraper: &ScraperName,
        others: &[ScraperName],
    ) -> Vec<(ScraperName, Vec<Pattern>)> {
        let mine = scraper.as_str();
        let mut claims: Vec<(ScraperName, Vec<Pattern>)> = others
            .iter()
            .filter(|o| o.as_str().len() > mine.len() && o.as_str().contains(mine))
            .map(|o| (o.clone(), self.scraper_patterns(o)))
            .collect();
        claims.sort_by(|(a, _), (b, _)| {
            b.as_str()
                .len()
                .cmp(&a.as_str().len())
                .then_with(|| a.cmp(b))
        });
        claims.dedup_by(|(a, _), (b, _)| a == b);
        claims
    }

    /// Whether `path` is one of `scraper`'s own files (module, tests, fixtures).
    pub fn is_scraper_file(&self, scraper: &ScraperName, path: &str) -> bool {
        self.scraper_patterns(scraper)
            .iter()
            .any(|p| p.matches(path))
    }

    /// Whether no fix may touch `path`.
    pub fn is_protected(&self, scraper: &ScraperName, path: &str) -> bool {
        self.protected_patterns(scraper)
            .iter()
            .any(|p| p.matches(path))
    }

    /// Every protected pattern: the always-protected ones, then the file's.
    pub fn protected_globs(&self) -> Vec<Glob> {
        ALWAYS_PROTECTED
            .iter()
            .filter_map(|p| Glob::new(*p).ok())
            .chain(self.protected_paths.iter().cloned())
            .collect()
    }

    /// The protected patterns as seen for one scraper (`{name}` may appear in
    /// the file's own protected paths too).
    pub fn protected_patterns(&self, scraper: &ScraperName) -> Vec<Pattern> {
        self.protected_globs()
            .iter()
            .map(|g| g.expand(scraper))
            .collect()
    }
}

/// The 1-based line where a dotted field (`bands.medium`) is written, found
/// by following block-style keys by indentation; 1 when it is not written as
/// a block key (flow style), 0 for an empty text.
fn line_of(text: &str, field: &str) -> usize {
    let mut wanted = field.split('.').peekable();
    let mut parent_indent: Option<usize> = None;
    let mut found = if text.is_empty() { 0 } else { 1 };
    for (i, line) in text.lines().enumerate() {
        let Some(key) = wanted.peek() else { break };
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if parent_indent.is_some_and(|p| indent <= p) {
            // Left the parent's block without finding the key.
            break;
        }
        if trimmed
            .strip_prefix(*key)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
        {
            found = i + 1;
            parent_indent = Some(indent);
            wanted.next();
        }
    }
    found
}

/// The JSON Schema of `.github/fixwright.yml`, as published in
/// `docs/fixwright.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RepoPolicy);
    // Serialising a schema value cannot fail.
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

fn is_reviewer(name: &str) -> bool {
    let part_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    match name.split_once('/') {
        Some((org, team)) => part_ok(org) && part_ok(team),
        None => part_ok(name),
    }
}

/// Where the pattern named in a `pattern `...`` message is written, at or
/// after `from_line` (1-based line and column).
fn bad_pattern_position(text: &str, message: &str, from_line: usize) -> Option<(usize, usize)> {
    let rest = &message[message.find("pattern `")? + "pattern `".len()..];
    let pattern = &rest[..rest.find('`')?];
    text.lines()
        .enumerate()
        .skip(from_line.saturating_sub(1))
        .find_map(|(i, line)| line.find(pattern).map(|col| (i + 1, col + 1)))
}

/// serde_norway appends " at line L column C" to messages; the error carries
/// the location separately.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

//! Finding a scraper and its files by the repository's layout.
//!
//! A scraper is one Scrapy spider (named by its `name = "..."`) or one plain
//! module (named by its file stem). Its files are its module, its tests and its
//! fixtures; a fix may touch only those.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::policy::{self, RepoPolicy};

/// A scraper's name as the repository names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScraperName(String);

impl ScraperName {
    /// A name made of letters, digits, `_`, `-` and `.` (it appears in branch
    /// names and paths); `None` otherwise.
    pub fn new(name: &str) -> Option<Self> {
        let valid = !name.is_empty()
            && name.len() <= 100
            && !name.starts_with(['.', '-'])
            && !name.contains("..")
            && !name.ends_with(".lock")
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        valid.then(|| ScraperName(name.to_owned()))
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

/// Where scrapers live in a repository. The defaults cover a Scrapy project
/// (`<package>/spiders/<name>.py`) and a flat `scrapers/<name>.py` repository,
/// with tests at `tests/test_<name>.py` and fixtures at `tests/files/<name>*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Look for Scrapy spiders in `<package>/spiders/*.py`.
    pub scrapy: bool,
    /// Directories holding one plain scraper module per file.
    pub module_dirs: Vec<PathBuf>,
    /// Where `test_<name>.py` files are.
    pub tests_dir: PathBuf,
    /// Where saved responses are, first existing one wins.
    pub fixture_dirs: Vec<PathBuf>,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            scrapy: true,
            module_dirs: vec![PathBuf::from("scrapers")],
            tests_dir: PathBuf::from("tests"),
            fixture_dirs: vec![
                PathBuf::from("tests/files"),
                PathBuf::from("tests/fixtures"),
            ],
        }
    }
}

impl Layout {
    /// The layout `.github/fixwright.yml` describes: its `layout:` choice,
    /// with each of `modules`, `tests` and `fixtures` that the file gives
    /// replacing the finder's default. The finder understands
    /// `*/spiders/{name}.py` (Scrapy) and `<dir>/{name}.py` for modules,
    /// `<dir>/test_{name}.py` (one directory) for tests, and
    /// `<dir>/{name}*` or `<dir>/{name}<. _ or ->...` for fixtures, `<dir>`
    /// being a plain relative path; any other pattern is an error naming it.
    pub fn from_policy(policy: &RepoPolicy) -> Result<Self, LayoutError> {
        let scrapers = &policy.scrapers;
        let mut layout = Layout::default();
        match scrapers.layout {
            policy::file::Layout::Auto => {}
            policy::file::Layout::Scrapy => layout.module_dirs.clear(),
            policy::file::Layout::Flat => layout.scrapy = false,
        }
        if let Some(globs) = &scrapers.modules {
            layout.scrapy = false;
            layout.module_dirs.clear();
            for glob in globs {
                let pattern = glob.as_str();
                if pattern == "*/spiders/{name}.py" {
                    layout.scrapy = true;
                    continue;
                }
                let dir = literal_dir(pattern, "{name}.py").ok_or_else(|| {
                    LayoutError::new(
                        "scrapers.modules",
                        pattern,
                        "`<dir>/{name}.py` or `*/spiders/{name}.py`",
                    )
                })?;
                if !layout.module_dirs.contains(&dir) {
                    layout.module_dirs.push(dir);
                }
            }
        }
        if let Some(globs) = &scrapers.tests {
            let expected = "`<dir>/test_{name}.py`, every pattern in the same directory";
            let mut tests_dir: Option<PathBuf> = None;
            for glob in globs {
                let pattern = glob.as_str();
                let dir = literal_dir(pattern, "test_{name}.py")
                    .filter(|dir| tests_dir.as_ref().is_none_or(|first| first == dir))
                    .ok_or_else(|| LayoutError::new("scrapers.tests", pattern, expected))?;
                tests_dir = Some(dir);
            }
            if let Some(dir) = tests_dir {
                layout.tests_dir = dir;
            }
        }
        if let Some(globs) = &scrapers.fixtures {
            layout.fixture_dirs.clear();
            for glob in globs {
                let pattern = glob.as_str();
                let dir = pattern
                    .rsplit_once('/')
                    .filter(|(_, file)| {
                        file.strip_prefix("{name}").is_some_and(|rest| {
                            rest == "*"
                                || (rest.starts_with(['.', '_', '-']) && !rest.contains('{'))
                        })
                    })
                    .and_then(|(dir, _)| plain_dir(dir))
                    .ok_or_else(|| {
                        LayoutError::new(
                            "scrapers.fixtures",
                            pattern,
                            "`<dir>/{name}*` or `<dir>/{name}.<ext>`",
                        )
                    })?;
                if !layout.fixture_dirs.contains(&dir) {
                    layout.fixture_dirs.push(dir);
                }
            }
        }
        Ok(layout)
    }
}

/// `<dir>` when `pattern` is `<dir>/<file>` with `<dir>` a plain relative path.
fn literal_dir(pattern: &str, file: &str) -> Option<PathBuf> {
    let dir = pattern.strip_suffix(file)?.strip_suffix('/')?;
    plain_dir(dir)
}

/// `dir` as a path when it is relative and has no wildcard, `{name}` or `..`.
fn plain_dir(dir: &str) -> Option<PathBuf> {
    let plain = !dir.is_empty()
        && dir
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && !dir.contains(['*', '{', '}']);
    plain.then(|| PathBuf::from(dir))
}

/// A pattern of `.github/fixwright.yml` the scraper finder cannot follow.
#[derive(Debug, thiserror::Error)]
#[error(
    "{}: field `{field}`: the pattern `{pattern}` cannot be used to find scrapers; use {expected}",
    policy::file::POLICY_FILE
)]
pub struct LayoutError {
    pub field: &'static str,
    pub pattern: String,
    pub expected: &'static str,
}

impl LayoutError {
    fn new(field: &'static str, pattern: &str, expected: &'static str) -> Self {
        LayoutError {
            field,
            pattern: pattern.to_owned(),
            expected,
        }
    }
}

/// How a scraper's extraction is called.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScraperKind {
    /// A Scrapy spider class; its `parse` callback takes a response.
    ScrapySpider { class_name: String },
    /// A module whose entry function takes the response text, such as
    /// `parse(text)`; `None` when it defines none of the usual names.
    Module { entry: Option<String> },
}

/// A scraper and its files, as paths relative to the repository root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scraper {
    pub name: ScraperName,
    pub kind: ScraperKind,
    pub module: PathBuf,
    pub tests: Vec<PathBuf>,
    pub fixtures: Vec<PathBuf>,
    /// Where this repository keeps fixtures, if it does.
    pub fixtures_dir: Option<PathBuf>,
}

impl Scraper {
    /// The module's dotted import path (`bookshop/spiders/books.py` →
    /// `bookshop.spiders.books`).
    pub fn import_path(&self) -> String {
        let without_ext = self.module.with_extension("");
        without_ext
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(".")
    }

    /// Every file the scraper owns today.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.module.clone()];
        files.extend(self.tests.iter().cloned());
        files.extend(self.fixtures.iter().cloned());
        files
    }
}

/// Why a scraper could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ScraperError {
    #[error("`{0}` is not a valid scraper name (letters, digits, `_`, `-`, `.`)")]
    BadName(String),
    #[error("no scraper named `{name}` in {}; scrapers found: {}", repo.display(), if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    Unknown {
        name: String,
        repo: PathBuf,
        known: Vec<String>,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The policy's names for `names`. Names the finder accepts are valid policy
/// names too; one that were not could not match a scraper's pattern either, so it
/// is left out.
pub fn policy_names(names: &[ScraperName]) -> Vec<crate::policy::ScraperName> {
    names
        .iter()
        .filter_map(|n| crate::policy::ScraperName::new(n.as_str()).ok())
        .collect()
}

/// Finds the scraper called `name` in the repository at `root`.
pub fn find(root: &Path, name: &str, layout: &Layout) -> Result<Scraper, ScraperError> {
    find_among(root, name, layout).map(|(scraper, _)| scraper)
}

/// Finds the scraper called `name` in the repository at `root`, and the names
/// of the repository's other scrapers.
pub fn find_among(
    root: &Path,
    name: &str,
    layout: &Layout,
) -> Result<(Scraper, Vec<ScraperName>), ScraperError> {
    let wanted = ScraperName::new(name).ok_or_else(|| ScraperError::BadName(name.to_owned()))?;
    let (mine, others): (Vec<Scraper>, Vec<Scraper>) = discover(root, layout)?
        .into_iter()
        .partition(|s| s.name == wanted);
    let others: Vec<ScraperName> = others.into_iter().map(|s| s.name).collect();
    match mine.into_iter().next() {
        Some(scraper) => Ok((scraper, others)),
        None => Err(ScraperError::Unknown {
            name: name.to_owned(),
            repo: root.to_path_buf(),
            known: others.iter().map(ToString::to_string).collect(),
        }),
    }
}

/// Every scraper in the repository at `root`, sorted by name.
pub fn discover(root: &Path, layout: &Layout) -> Result<Vec<Scraper>, ScraperError> {
    let mut found: Vec<(ScraperName, ScraperKind, PathBuf)> = Vec::new();
    if layout.scrapy {
        for package in subdirs(root)? {
            let spiders = package.join("spiders");
            if !spiders.is_dir() {
                continue;
            }
            for file in python_files(&spiders)? {
                let source = read(&file)?;
                for (class_name, name) in spiders_in(&source) {
                    if let Some(name) = ScraperName::new(&name) {
                        found.push((
                            name,
                            ScraperKind::ScrapySpider { class_name },
                            relative(root, &file),
                        ));
                    }
                }
            }
        }
    }
    for dir in &layout.module_dirs {
        let dir = root.join(dir);
        if !dir.is_dir() {
            continue;
        }
        for file in python_files(&dir)? {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if stem.starts_with('_') {
                continue;
            }
            let Some(name) = ScraperName::new(&stem) else {
                continue;
            };
            let source = read(&file)?;
            found.push((
                name,
                ScraperKind::Module {
                    entry: entry_function(&source),
                },
                relative(root, &file),
            ));
        }
    }
    let names: HashSet<&str> = found.iter().map(|(n, _, _)| n.as_str()).collect();
    let fixtures_dir = layout
        .fixture_dirs
        .iter()
        .find(|d| root.join(d).is_dir())
        .cloned();
    // Each fixture file is given to its owner once, so discovery stays
    // linear in the number of files however many scrapers there are.
    let mut fixtures_of: HashMap<String, Vec<PathBuf>> = HashMap::new();
    if let Some(dir) = &fixtures_dir {
        for file in file_names(&root.join(dir))? {
            if let Some(owner) = owner_of_fixture(&file, &names) {
                fixtures_of
                    .entry(owner.to_owned())
                    .or_default()
                    .push(dir.join(&file));
            }
        }
    }
    let mut scrapers: Vec<Scraper> = found
        .into_iter()
        .map(|(name, kind, module)| {
            let test = layout.tests_dir.join(format!("test_{name}.py"));
            let tests = if root.join(&test).is_file() {
                vec![test]
            } else {
                Vec::new()
            };
            let fixtures = fixtures_of.remove(name.as_str()).unwrap_or_default();
            Scraper {
                name,
                kind,
                module,
                tests,
                fixtures,
                fixtures_dir: fixtures_dir.clone(),
            }
        })
        .collect();
    scrapers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(scrapers)
}

/// `(class name, spider name)` for each Scrapy spider class in `source`.
fn spiders_in(source: &str) -> Vec<(String, String)> {
    static PATTERNS: std::sync::OnceLock<Option<(Regex, Regex)>> = std::sync::OnceLock::new();
    let Some((class_re, name_re)) = PATTERNS
        .get_or_init(|| {
            Some((
                Regex::new(r"^class\s+([A-Za-z_]\w*)\s*\(([^)]*)\)\s*:").ok()?,
                Regex::new(r#"^\s+name\s*(?::\s*\w+\s*)?=\s*["']([^"']+)["']"#).ok()?,
            ))
        })
        .as_ref()
    else {
        return Vec::new();
    };
    let mut spiders = Vec::new();
    let mut current: Option<String> = None;
    for line in source.lines() {
        if let Some(caps) = class_re.captures(line) {
            let bases = &caps[2];
            current = bases.contains("Spider").then(|| caps[1].to_owned());
        } else if !line.starts_with([' ', '\t']) && !line.trim().is_empty() {
            current = None;
        } else if let (Some(class_name), Some(caps)) = (&current, name_re.captures(line)) {
            spiders.push((class_name.clone(), caps[1].to_owned()));
            current = None;
        }
    }
    spiders
}

/// The first of the usual entry function names a module defines.
fn entry_function(source: &str) -> Option<String> {
    ["parse", "extract", "scrape"]
        .into_iter()
        .find(|name| {
            source
                .lines()
                .any(|l| l.starts_with(&format!("def {name}(")))
        })
        .map(str::to_owned)
}

/// The scraper a fixture belongs to: the longest name it starts with, so
/// `books_api.json` goes to `books_api`, not `books`.
fn owner_of_fixture<'a>(file: &str, names: &HashSet<&'a str>) -> Option<&'a str> {
    // A name ends where `.`, `_` or `-` follows it; try the longest first.
    file.char_indices()
        .rev()
        .filter(|(_, c)| matches!(c, '.' | '_' | '-'))
        .find_map(|(end, _)| names.get(&file[..end]).copied())
}

fn read(path: &Path) -> Result<String, ScraperError> {
    std::fs::read_to_string(path).map_err(|source| ScraperError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn entries(dir: &Path) -> Result<Vec<std::fs::DirEntry>, ScraperError> {
    let read_err = |source| ScraperError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(read_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ScraperError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, ScraperError> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect())
}

fn python_files(dir: &Path) -> Result<Vec<PathBuf>, ScraperError> {
    Ok(entries(dir)?
        .into_iter()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "py"))
        .collect())
}

fn file_names(dir: &Path) -> Result<Vec<String>, ScraperError> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect())
}

fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spider_names_are_read_from_class_bodies() {
        let source = "import scrapy\n\nclass BooksSpider(scrapy.Spider):\n    name = \"books\"\n    start_urls = []\n\nclass Helper:\n    name = 'not-a-spider'\n\nclass Other(CrawlSpider):\n    \"\"\"doc\"\"\"\n    name: str = 'other'\n";
        assert_eq!(
            spiders_in(source),
            vec![
                ("BooksSpider".into(), "books".into()),
                ("Other".into(), "other".into())
            ]
        );
    }

    #[test]
    fn fixtures_go_to_the_longest_matching_name() {
        let names: HashSet<&str> = ["books", "books_api"].into_iter().collect();
        assert_eq!(owner_of_fixture("books.html", &names), Some("books"));
        assert_eq!(owner_of_fixture("books_page2.html", &names), Some("books"));
        assert_eq!(
            owner_of_fixture("books_api.json", &names),
            Some("books_api")
        );
        assert_eq!(owner_of_fixture("bookshelf.html", &names), None);
    }

    #[test]
    fn names_are_safe_for_branches() {
        assert!(ScraperName::new("weather_api").is_some());
        assert!(ScraperName::new("../etc").is_none());
        assert!(ScraperName::new("a b").is_none());
        assert!(ScraperName::new("").is_none());
    }

    fn policy(yaml: &str) -> RepoPolicy {
        RepoPolicy::parse(yaml, Path::new(".github/fixwright.yml"))
            .unwrap_or_else(|e| panic!("policy: {e}"))
    }

    #[test]
    fn the_policy_file_layout_becomes_the_finders() {
        assert_eq!(
            Layout::from_policy(&policy("")).ok(),
            Some(Layout::default())
        );
        let flat = Layout::from_policy(&policy("scrapers:\n  layout: flat\n"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!flat.scrapy);
        let custom = Layout::from_policy(&policy(
            "scrapers:\n  modules: ['crawlers/{name}.py', 'src/more/{name}.py', '*/spiders/{name}.py']\n  tests: ['checks/test_{name}.py']\n  fixtures: ['checks/pages/{name}*', 'data/{name}-page.html']\n",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            custom,
            Layout {
                scrapy: true,
                module_dirs: vec![PathBuf::from("crawlers"), PathBuf::from("src/more")],
                tests_dir: PathBuf::from("checks"),
                fixture_dirs: vec![PathBuf::from("checks/pages"), PathBuf::from("data")],
            }
        );
    }

    #[test]
    fn a_pattern_the_finder_cannot_follow_is_named() {
        for (yaml, field, pattern) in [
            (
                "modules: ['crawlers/**/{name}.py']",
                "scrapers.modules",
                "crawlers/**/{name}.py",
            ),
            ("modules: ['{name}.py']", "scrapers.modules", "{name}.py"),
            (
                "modules: ['src/*/{name}.py']",
                "scrapers.modules",
                "src/*/{name}.py",
            ),
            (
                "modules: ['pkg/{name}/spider.py']",
                "scrapers.modules",
                "pkg/{name}/spider.py",
            ),
            (
                "tests: ['checks/{name}_test.py']",
                "scrapers.tests",
                "checks/{name}_test.py",
            ),
            (
                "tests: ['checks/test_{name}.py', 'more/test_{name}.py']",
                "scrapers.tests",
                "more/test_{name}.py",
            ),
            (
                "fixtures: ['fixtures/{name}/**']",
                "scrapers.fixtures",
                "fixtures/{name}/**",
            ),
            (
                "fixtures: ['*/files/{name}*']",
                "scrapers.fixtures",
                "*/files/{name}*",
            ),
        ] {
            let err = Layout::from_policy(&policy(&format!("scrapers:\n  {yaml}\n")))
                .err()
                .unwrap_or_else(|| panic!("`{yaml}` was accepted"));
            assert_eq!((err.field, err.pattern.as_str()), (field, pattern));
            let message = err.to_string();
            assert!(
                message.starts_with(&format!(
                    ".github/fixwright.yml: field `{field}`: the pattern `{pattern}` cannot be used"
                )),
                "{message}"
            );
        }
    }
}

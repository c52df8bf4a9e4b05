//! What the gates run on: the scrapers a change touched and their tests, or
//! the whole repository when a change reaches outside every scraper.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::repair::scraper::{self, Layout, Scraper, ScraperError};

/// The files each tool gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scope {
    /// Run every tool on the whole repository (its own configuration decides
    /// what that covers).
    Whole { reason: String },
    /// Run on these scrapers only.
    Scrapers {
        names: Vec<String>,
        /// Modules and tests, for ruff and mypy.
        sources: Vec<PathBuf>,
        /// Test files, for pytest.
        tests: Vec<PathBuf>,
    },
}

/// A scraper with every test file that exercises it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoveredScraper {
    pub name: String,
    pub module: PathBuf,
    /// `test_<name>.py` plus test files importing the module.
    pub tests: Vec<PathBuf>,
    /// Files that belong to it (module, its own tests, fixtures).
    pub owned: Vec<PathBuf>,
}

/// The scope for an explicit list of scrapers.
pub fn for_scrapers(covered: &[CoveredScraper], names: &[String]) -> Scope {
    let chosen: Vec<&CoveredScraper> = covered.iter().filter(|s| names.contains(&s.name)).collect();
    let mut sources = BTreeSet::new();
    let mut tests = BTreeSet::new();
    for s in &chosen {
        sources.insert(s.module.clone());
        for t in &s.tests {
            sources.insert(t.clone());
            tests.insert(t.clone());
        }
    }
    Scope::Scrapers {
        names: chosen.iter().map(|s| s.name.clone()).collect(),
        sources: sources.into_iter().collect(),
        tests: tests.into_iter().collect(),
    }
}

/// The scope for a set of changed paths (relative to the repository root).
/// A path owned by a scraper, or a test file that exercises only known
/// scrapers, selects those scrapers; any other path (shared code,
/// `conftest.py`, requirements, configuration) selects the whole repository.
pub fn for_changes(covered: &[CoveredScraper], changed: &[PathBuf]) -> Scope {
    let mut names = Vec::new();
    for path in changed {
        let owners: Vec<&CoveredScraper> = covered
            .iter()
            .filter(|s| s.owned.contains(path) || s.tests.contains(path))
            .collect();
        if owners.is_empty() {
            return Scope::Whole {
                reason: format!("{} belongs to no scraper", path.display()),
            };
        }
        for s in owners {
            if !names.contains(&s.name) {
                names.push(s.name.clone());
            }
        }
    }
    if names.is_empty() {
        return Scope::Whole {
            reason: "no changed files".into(),
        };
    }
    for_scrapers(covered, &names)
}

/// The dotted modules a Python source imports: `import a.b` gives `a.b`,
/// `from a import b, c` gives `a`, `a.b` and `a.c` (either may be a module).
pub fn imported_modules(source: &str) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for line in source.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("import ") {
            for part in rest.split(',') {
                if let Some(name) = part.split_whitespace().next() {
                    modules.insert(name.to_owned());
                }
            }
        } else if let Some(rest) = line.strip_prefix("from ")
            && let Some((module, names)) = rest.split_once(" import ")
        {
            let module = module.trim();
            modules.insert(module.to_owned());
            let names = names.trim().trim_start_matches('(').trim_end_matches(')');
            for name in names.split(',') {
                if let Some(name) = name.split_whitespace().next() {
                    modules.insert(format!("{module}.{name}"));
                }
            }
        }
    }
    modules
}

/// Every scraper in the repository with the tests that cover it, found by
/// the layout's naming convention and by which test files import the module.
pub fn discover(root: &Path, layout: &Layout) -> Result<Vec<CoveredScraper>, ScraperError> {
    let scrapers = scraper::discover(root, layout)?;
    // Module → the test files importing it, built once: one pass over the
    // tests whatever the number of scrapers.
    let mut importers: HashMap<String, Vec<PathBuf>> = HashMap::new();
    for rel in test_files(root, &layout.tests_dir) {
        let source = std::fs::read_to_string(root.join(&rel)).unwrap_or_default();
        for module in imported_modules(&source) {
            importers.entry(module).or_default().push(rel.clone());
        }
    }
    Ok(scrapers
        .iter()
        .map(|s| cover(s, &importers))
        .collect::<Vec<_>>())
}

fn cover(s: &Scraper, importers: &HashMap<String, Vec<PathBuf>>) -> CoveredScraper {
    let mut tests: BTreeSet<PathBuf> = s.tests.iter().cloned().collect();
    if let Some(files) = importers.get(&s.import_path()) {
        tests.extend(files.iter().cloned());
    }
    CoveredScraper {
        name: s.name.to_string(),
        module: s.module.clone(),
        tests: tests.into_iter().collect(),
        owned: s.files(),
    }
}

/// `test_*.py` and `*_test.py` under `dir`, relative to `root`.
fn test_files(root: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "__pycache__" {
                    stack.push(path);
                }
            } else if name.ends_with(".py")
                && (name.starts_with("test_") || name.ends_with("_test.py"))
                && let Ok(rel) = path.strip_prefix(root)
            {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// The paths that differ between `base` (any revision git understands) and
/// the working tree of the repository at `root`, including untracked files,
/// old and new names both.
pub fn changed_from(root: &Path, base: &str) -> Result<Vec<PathBuf>, git2::Error> {
    let repo = git2::Repository::open(root)?;
    let tree = repo.revparse_single(base)?.peel_to_tree()?;
    let mut options = git2::DiffOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true);
    let diff = repo.diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))?;
    let mut paths = BTreeSet::new();
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            if let Some(p) = file.path() {
                paths.insert(p.to_path_buf());
            }
        }
    }
    Ok(paths.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered() -> Vec<CoveredScraper> {
        vec![
            CoveredScraper {
                name: "books".into(),
                module: "bookshop/spiders/books.py".into(),
                tests: vec![
                    "tests/test_books.py".into(),
                    "tests/test_catalogue_smoke.py".into(),
                ],
                owned: vec![
                    "bookshop/spiders/books.py".into(),
                    "tests/test_books.py".into(),
                    "tests/files/books.html".into(),
                ],
            },
            CoveredScraper {
                name: "events".into(),
                module: "scrapers/events.py".into(),
                tests: vec!["tests/test_events.py".into()],
                owned: vec!["scrapers/events.py".into(), "tests/test_events.py".into()],
            },
        ]
    }

    #[test]
    fn a_scraper_change_selects_its_module_and_every_test_using_it() {
        let scope = for_changes(&covered(), &["tests/files/books.html".into()]);
        assert_eq!(
            scope,
            Scope::Scrapers {
                names: vec!["books".into()],
                sources: vec![
                    "bookshop/spiders/books.py".into(),
                    "tests/test_books.py".into(),
                    "tests/test_catalogue_smoke.py".into(),
                ],
                tests: vec![
                    "tests/test_books.py".into(),
                    "tests/test_catalogue_smoke.py".into(),
                ],
            }
        );
    }

    #[test]
    fn a_change_outside_every_scraper_runs_everything() {
        let scope = for_changes(
            &covered(),
            &["scrapers/events.py".into(), "tests/conftest.py".into()],
        );
        assert!(matches!(scope, Scope::Whole { reason } if reason.contains("tests/conftest.py")));
    }

    #[test]
    fn imports_are_read_in_every_form() {
        let modules = imported_modules(
            "import os, json as j\nfrom bookshop.spiders import books, quotes as q\nfrom scrapers.events import (parse,\n",
        );
        for m in [
            "os",
            "json",
            "bookshop.spiders",
            "bookshop.spiders.books",
            "bookshop.spiders.quotes",
            "scrapers.events",
            "scrapers.events.parse",
        ] {
            assert!(modules.contains(m), "{m} missing from {modules:?}");
        }
    }
}

//! Which interpreter a repository asks for, and finding it on this machine.

use std::fmt;
use std::path::{Path, PathBuf};

use tokio::process::Command;

/// A CPython version as `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PythonVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl PythonVersion {
    /// Parses `3`, `3.11` or `3.11.7` (missing parts are zero); `None` otherwise.
    pub fn parse(text: &str) -> Option<(Self, usize)> {
        let parts: Vec<&str> = text.trim().split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return None;
        }
        let mut numbers = [0u32; 3];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            *slot = part.parse().ok()?;
        }
        Some((
            PythonVersion {
                major: numbers[0],
                minor: numbers[1],
                patch: numbers[2],
            },
            parts.len(),
        ))
    }
}

/// Where a repository's interpreter request came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestSource {
    /// `.python-version` at the repository root.
    PythonVersionFile,
    /// `requires-python` in `pyproject.toml`.
    RequiresPython,
    /// The repository asks for nothing: the default `python3`.
    Default,
}

impl fmt::Display for RequestSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RequestSource::PythonVersionFile => ".python-version",
            RequestSource::RequiresPython => "pyproject.toml (requires-python)",
            RequestSource::Default => "the default python3",
        })
    }
}

/// One version clause such as `>=3.10` or `==3.11.*`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Clause {
    op: String,
    version: PythonVersion,
    /// How many components were written (`3.11` is 2), for prefix matching.
    precision: usize,
    wildcard: bool,
}

/// The interpreter a repository asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonRequest {
    /// The text as written, for messages.
    pub text: String,
    pub source: RequestSource,
    clauses: Vec<Clause>,
}

impl PythonRequest {
    /// Any Python 3.
    pub fn any() -> Self {
        PythonRequest {
            text: "3".into(),
            source: RequestSource::Default,
            clauses: vec![],
        }
    }

    /// A `.python-version` line: a version prefix such as `3.11` or `3.11.7`
    /// (pyenv's `system` means any). `None` when it is not a version.
    pub fn from_python_version_file(content: &str) -> Option<Self> {
        let line = content
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))?;
        if line == "system" {
            return Some(PythonRequest {
                source: RequestSource::PythonVersionFile,
                ..PythonRequest::any()
            });
        }
        // pyenv also accepts names like `pypy3.10-7.3` or `3.11-dev`: take the
        // CPython version prefix when there is one.
        let numeric: String = line
            .trim_start_matches("python")
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let (version, precision) = PythonVersion::parse(numeric.trim_end_matches('.'))?;
        Some(PythonRequest {
            text: line.to_owned(),
            source: RequestSource::PythonVersionFile,
            clauses: vec![Clause {
                op: "==".into(),
                version,
                precision,
                wildcard: true,
            }],
        })
    }

    /// A PEP 440 specifier set such as `>=3.10,<4` from `requires-python`.
    /// `None` when a clause cannot be read.
    pub fn from_requires_python(spec: &str) -> Option<Self> {
        let mut clauses = Vec::new();
        for raw in spec.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let op_len = raw
                .find(|c: char| c.is_ascii_digit())
                .filter(|&n| n > 0 || raw.starts_with(|c: char| c.is_ascii_digit()))?;
            let op = raw[..op_len].trim();
            let op = if op.is_empty() { "==" } else { op };
            if !["==", "!=", ">=", "<=", ">", "<", "~="].contains(&op) {
                return None;
            }
            let rest = raw[op_len..].trim();
            let wildcard = rest.ends_with(".*");
            let (version, precision) = PythonVersion::parse(rest.trim_end_matches(".*"))?;
            clauses.push(Clause {
                op: op.to_owned(),
                version,
                precision,
                wildcard,
            });
        }
        Some(PythonRequest {
            text: spec.trim().to_owned(),
            source: RequestSource::RequiresPython,
            clauses,
        })
    }

    /// Whether `version` satisfies every clause.
    pub fn matches(&self, version: PythonVersion) -> bool {
        version.major == 3 && self.clauses.iter().all(|c| clause_matches(c, version))
    }

    /// The `pythonX.Y` names worth trying first for this request.
    fn preferred_minors(&self) -> Vec<u32> {
        let pinned: Vec<u32> = self
            .clauses
            .iter()
            .filter(|c| c.op == "==" && c.precision >= 2)
            .map(|c| c.version.minor)
            .collect();
        if pinned.is_empty() {
            (6..=20).rev().collect()
        } else {
            pinned
        }
    }
}

fn truncate(v: PythonVersion, precision: usize) -> (u32, u32, u32) {
    match precision {
        1 => (v.major, 0, 0),
        2 => (v.major, v.minor, 0),
        _ => (v.major, v.minor, v.patch),
    }
}

fn clause_matches(clause: &Clause, v: PythonVersion) -> bool {
    let want = truncate(clause.version, clause.precision);
    let have_prefix = truncate(v, clause.precision);
    let have = (v.major, v.minor, v.patch);
    match clause.op.as_str() {
        "==" if clause.wildcard || clause.precision < 3 => have_prefix == want,
        "==" => have == want,
        "!=" if clause.wildcard => have_prefix != want,
        "!=" => have != want,
        ">=" => have >= want,
        ">" => have > want && have_prefix != want,
        "<=" => have_prefix <= want,
        "<" => have_prefix < want,
        "~=" => {
            // ~=3.10 means >=3.10,==3.*; ~=3.10.2 means >=3.10.2,==3.10.*
            let upper_precision = clause.precision.saturating_sub(1).max(1);
            have >= want
                && truncate(v, upper_precision) == truncate(clause.version, upper_precision)
        }
        _ => false,
    }
}

/// A Python interpreter found on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interpreter {
    pub path: PathBuf,
    pub version: PythonVersion,
}

/// Why no interpreter could be used.
#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    #[error(
        "no Python interpreter matching `{requested}` (asked for by {source_file}) is installed; tried: {tried}. Install it (for example with pyenv) or change {source_file}"
    )]
    Missing {
        requested: String,
        source_file: RequestSource,
        tried: String,
    },
    #[error("cannot read {file}: `{value}` is not a Python version")]
    BadRequest { file: String, value: String },
}

/// Where to look for interpreters: the directories of `PATH`, then pyenv's
/// installed versions (`$PYENV_ROOT/versions/*/bin`, default `~/.pyenv`).
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    if let Some(root) = pyenv_root
        && let Ok(entries) = std::fs::read_dir(root.join("versions"))
    {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .collect();
        versions.sort();
        dirs.extend(versions);
    }
    dirs
}

/// Finds an interpreter satisfying `request` in `dirs`, trying `pythonX.Y`
/// names before `python3`. Each candidate is run once to learn its real
/// version (pyenv shims exist for versions that are not active).
pub async fn find(
    request: &PythonRequest,
    dirs: &[PathBuf],
) -> Result<Interpreter, InterpreterError> {
    let mut names: Vec<String> = request
        .preferred_minors()
        .into_iter()
        .map(|minor| format!("python3.{minor}"))
        .collect();
    names.push("python3".into());
    let mut tried = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for name in &names {
        for dir in dirs {
            let candidate = dir.join(name);
            if !is_executable(&candidate) {
                continue;
            }
            let canonical = std::fs::canonicalize(&candidate).unwrap_or_else(|_| candidate.clone());
            if !seen.insert((canonical, name.clone())) {
                continue;
            }
            match probe(&candidate).await {
                Some((version, path)) if request.matches(version) => {
                    return Ok(Interpreter { path, version });
                }
                Some((version, _)) => tried.push(format!("{} ({version})", candidate.display())),
                None => {}
            }
        }
    }
    Err(InterpreterError::Missing {
        requested: request.text.clone(),
        source_file: request.source.clone(),
        tried: if tried.is_empty() {
            "no python3 on PATH or in pyenv".into()
        } else {
            tried.join(", ")
        },
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs the interpreter to learn its version and real executable (a pyenv
/// shim resolves to the interpreter behind it); `None` when it does not run
/// (a shim for an inactive version exits non-zero).
async fn probe(path: &Path) -> Option<(PythonVersion, PathBuf)> {
    let output = Command::new(path)
        .args([
            "-c",
            "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.executable)",
        ])
        .kill_on_drop(true)
        .output()
        .await
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let (version, _) = PythonVersion::parse(lines.next()?)?;
    let executable = lines
        .next()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map_or_else(|| path.to_path_buf(), PathBuf::from);
    Some((version, executable))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> PythonVersion {
        PythonVersion::parse(text)
            .map(|(v, _)| v)
            .unwrap_or(PythonVersion {
                major: 0,
                minor: 0,
                patch: 0,
            })
    }

    #[test]
    fn python_version_file_is_a_prefix() {
        let request = PythonRequest::from_python_version_file("3.11\n");
        let request = request.as_ref();
        assert!(request.is_some_and(|r| r.matches(v("3.11.7"))));
        assert!(request.is_some_and(|r| !r.matches(v("3.12.1"))));
        let exact = PythonRequest::from_python_version_file("3.11.7");
        assert!(exact.as_ref().is_some_and(|r| r.matches(v("3.11.7"))));
        assert!(exact.as_ref().is_some_and(|r| !r.matches(v("3.11.8"))));
        assert!(PythonRequest::from_python_version_file("not-a-version").is_none());
    }

    #[test]
    fn requires_python_specifiers() {
        let cases = [
            (">=3.10", "3.11.7", true),
            (">=3.10", "3.9.18", false),
            (">=3.10,<3.12", "3.12.0", false),
            (">=3.10,<3.12", "3.11.2", true),
            ("~=3.10", "3.13.0", true),
            ("~=3.10.2", "3.11.0", false),
            ("==3.11.*", "3.11.4", true),
            ("!=3.11.*", "3.11.4", false),
            (">3.11", "3.11.9", false),
            ("<=3.11", "3.11.9", true),
        ];
        for (spec, version, expected) in cases {
            let request = PythonRequest::from_requires_python(spec);
            assert_eq!(
                request.map(|r| r.matches(v(version))),
                Some(expected),
                "{spec} vs {version}"
            );
        }
        assert!(PythonRequest::from_requires_python(">>3").is_none());
    }
}

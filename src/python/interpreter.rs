//! Which interpreter a repository asks for, and finding it on this machine.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
/// names before `python3`. Each candidate is run to learn its real version
/// (pyenv shims exist for versions that are not active), unless `known`
/// remembers the same unchanged executable file.
pub async fn find(
    request: &PythonRequest,
    dirs: &[PathBuf],
    known: &mut KnownInterpreters,
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
            let probed = match known.get(&candidate) {
                Some(found) => Some(found),
                None => {
                    let probed = probe(&candidate).await;
                    if let Some((version, executable)) = &probed {
                        known.remember(&candidate, *version, executable);
                    }
                    probed
                }
            };
            match probed {
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

/// What earlier probes learned about interpreter executables, so a later
/// run need not start each candidate again. Only real executables are
/// remembered, keyed by their canonical path and valid while the file keeps
/// its size and modification time: a new build in the same place is probed
/// anew. Scripts (pyenv shims and other wrappers) answer differently as
/// their configuration changes, so they are always run, and a candidate
/// that did not run is never remembered.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KnownInterpreters {
    entries: BTreeMap<PathBuf, KnownInterpreter>,
    #[serde(skip)]
    changed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct KnownInterpreter {
    len: u64,
    modified_ns: u128,
    version: String,
    executable: PathBuf,
}

impl KnownInterpreters {
    /// Reads what `file` remembers; a missing or unreadable file remembers
    /// nothing.
    pub fn load(file: &Path) -> Self {
        std::fs::read(file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Writes what was learned to `file`, when anything was (aside and
    /// renamed, so readers never see half a file).
    pub fn save(&self, file: &Path) -> std::io::Result<()> {
        if !self.changed {
            return Ok(());
        }
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let tmp = file.with_extension(format!("tmp-{}", ulid::Ulid::new()));
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, file)
    }

    fn get(&self, candidate: &Path) -> Option<(PythonVersion, PathBuf)> {
        let (canonical, stamp) = executable_stamp(candidate)?;
        let known = self.entries.get(&canonical)?;
        if (known.len, known.modified_ns) != stamp {
            return None;
        }
        let (version, _) = PythonVersion::parse(&known.version)?;
        Some((version, known.executable.clone()))
    }

    fn remember(&mut self, candidate: &Path, version: PythonVersion, executable: &Path) {
        let Some((canonical, (len, modified_ns))) = executable_stamp(candidate) else {
            return;
        };
        self.entries.insert(
            canonical,
            KnownInterpreter {
                len,
                modified_ns,
                version: version.to_string(),
                executable: executable.to_path_buf(),
            },
        );
        self.changed = true;
    }
}

/// The canonical path of a binary executable with its size and modification
/// time; `None` for scripts (`#!`) and unreadable files.
fn executable_stamp(candidate: &Path) -> Option<(PathBuf, (u64, u128))> {
    use std::io::Read;
    let canonical = std::fs::canonicalize(candidate).ok()?;
    let mut head = [0u8; 2];
    std::fs::File::open(&canonical)
        .ok()?
        .read_exact(&mut head)
        .ok()?;
    if &head == b"#!" {
        return None;
    }
    let meta = std::fs::metadata(&canonical).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some((canonical, (meta.len(), modified.as_nanos())))
}

/// Runs the interpreter to learn its version and real executable (a pyenv
/// shim resolves to the interpreter behind it); `None` when it does not run
/// (a shim for an inactive version exits non-zero).
async fn probe(path: &Path) -> Option<(PythonVersion, PathBuf)> {
    let output = Command::new(path)
        .args([
            // Isolated and without `site`: only the version is wanted, and
            // this is the cheapest way to start.
            "-I",
            "-S",
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

    fn fake_binary(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap_or_else(|e| panic!("write: {e}"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod: {e}"));
        path
    }

    #[tokio::test]
    async fn a_remembered_executable_is_not_run_again_until_it_changes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        // Not a real interpreter: running it fails, so only memory can answer.
        let binary = fake_binary(dir.path(), "python3.12", b"\x7fELF not really");
        let mut known = KnownInterpreters::default();
        known.remember(&binary, v("3.12.1"), &binary);
        let request = PythonRequest::from_requires_python(">=3.10");
        let Some(request) = request else {
            panic!("the request parses")
        };
        let dirs = vec![dir.path().to_path_buf()];
        let found = find(&request, &dirs, &mut known).await;
        assert_eq!(
            found.ok().map(|i| i.version),
            Some(v("3.12.1")),
            "answered from memory"
        );
        // A new file in the same place is probed, and this one does not run.
        fake_binary(dir.path(), "python3.12", b"\x7fELF rebuilt, longer now");
        assert!(known.get(&binary).is_none());
        assert!(find(&request, &dirs, &mut known).await.is_err());
    }

    #[test]
    fn scripts_are_never_remembered() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let shim = fake_binary(dir.path(), "python3", b"#!/bin/sh\nexec python3 \"$@\"\n");
        let mut known = KnownInterpreters::default();
        known.remember(&shim, v("3.11.7"), Path::new("/usr/bin/python3.11"));
        assert!(known.get(&shim).is_none());
        assert!(!known.changed, "nothing to save");
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

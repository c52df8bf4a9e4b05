//! Building and caching one virtual environment per repository and tool set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::process::Command;

use super::interpreter::{self, Interpreter, InterpreterError, KnownInterpreters, PythonRequest};

/// Bumped when the layout of a cached environment changes, so old ones are
/// not reused.
const ENV_FORMAT: &str = "fixwright-venv-1";
/// Written last into a finished environment; its presence means "complete".
const MARKER: &str = "fixwright-env.json";
const OUTPUT_TAIL: usize = 4000;
/// Where the cache directory remembers probed interpreters.
const KNOWN_INTERPRETERS: &str = "interpreters.json";

/// What an environment is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvInputs {
    /// The scraper repository's root (its `requirements*.txt`, `pyproject.toml`
    /// and `.python-version` are read from here).
    pub repo: PathBuf,
    /// Pinned requirements installed on top of the repository's own, such as
    /// the gates' `ruff==X`, `mypy==Y`, `pytest==Z`. Part of the cache key.
    pub extra_requirements: Vec<String>,
}

impl EnvInputs {
    /// The repository's own requirements and nothing more.
    pub fn repository(repo: impl Into<PathBuf>) -> Self {
        EnvInputs {
            repo: repo.into(),
            extra_requirements: Vec::new(),
        }
    }
}

/// A ready virtual environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonEnv {
    /// The environment's directory; it is complete and never changes.
    pub root: PathBuf,
    /// `<root>/bin/python`: run tools as `python -m tool`.
    pub python: PathBuf,
    /// The base interpreter it was built with.
    pub interpreter: Interpreter,
    /// The hash of the inputs (hex), which names the directory.
    pub key: String,
    /// True when an existing environment was reused without building.
    pub reused: bool,
}

/// Why an environment could not be provisioned. Every variant names the file
/// (and where known the package) at fault.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Interpreter(#[from] InterpreterError),
    #[error("cannot read {}: {source}", path.display())]
    ReadInput {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} is not valid TOML: {message}")]
    BadPyproject { file: PathBuf, message: String },
    #[error("cannot use the environment cache at {}: {source}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{python} -m venv` failed: {output}")]
    Venv { python: PathBuf, output: String },
    #[error(
        "the package index is unreachable{} while installing `{package}` from {file}; check PIP_INDEX_URL / pip.conf and the network. pip said: {output}",
        host.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    IndexUnreachable {
        file: String,
        package: String,
        host: Option<String>,
        output: String,
    },
    #[error("pip could not install `{package}` from {file}: {reason}. pip said: {output}")]
    PipInstall {
        file: String,
        package: String,
        reason: String,
        output: String,
    },
    #[error("`{command}` did not finish within {seconds} s")]
    Timeout { command: String, seconds: u64 },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

/// Builds environments into a cache directory.
#[derive(Clone, Debug)]
pub struct Provisioner {
    cache_dir: PathBuf,
    search_dirs: Vec<PathBuf>,
    install_timeout: Duration,
    pip_env: Vec<(String, String)>,
}

/// The files an environment is built from, read once.
#[derive(Debug)]
struct RepoInputs {
    /// (path relative to the repository, content), sorted by path.
    files: Vec<(String, Vec<u8>)>,
    request: PythonRequest,
    requirement_files: Vec<PathBuf>,
    pyproject_dependencies: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Marker {
    format: String,
    interpreter: PathBuf,
    version: String,
    files: Vec<String>,
    extra_requirements: Vec<String>,
}

impl Provisioner {
    /// Environments go under `cache_dir` (created when needed); interpreters
    /// are looked for on `PATH` and in pyenv's versions.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Provisioner {
            cache_dir: cache_dir.into(),
            search_dirs: interpreter::search_dirs(),
            install_timeout: Duration::from_secs(900),
            pip_env: Vec::new(),
        }
    }

    /// Looks for interpreters only in `dirs`.
    pub fn with_search_dirs(mut self, dirs: Vec<PathBuf>) -> Self {
        self.search_dirs = dirs;
        self
    }

    /// Extra pip configuration for this provisioner's pip runs, as pip's own
    /// environment variables (`PIP_INDEX_URL`, `PIP_EXTRA_INDEX_URL`, ...),
    /// on top of the inherited environment and pip.conf.
    pub fn with_pip_env(mut self, vars: Vec<(String, String)>) -> Self {
        self.pip_env = vars;
        self
    }

    /// The time `pip install` may take.
    pub fn with_install_timeout(mut self, timeout: Duration) -> Self {
        self.install_timeout = timeout;
        self
    }

    /// Returns the environment for `inputs`, building it only when no complete
    /// environment with the same inputs exists. A build happens in a temporary
    /// directory renamed into place at the end, under a lock file, so a crash
    /// never leaves a half-built environment that later runs would use.
    pub async fn provision(&self, inputs: &EnvInputs) -> Result<PythonEnv, ProvisionError> {
        let repo_inputs = read_inputs(&inputs.repo)?;
        let interpreter = self.find_interpreter(&repo_inputs.request).await?;
        let key = cache_key(&repo_inputs.files, &interpreter, &inputs.extra_requirements);
        let root = self.cache_dir.join(format!("env-{}", &key[..20]));
        let ready = |reused| PythonEnv {
            python: root.join("bin").join("python"),
            root: root.clone(),
            interpreter: interpreter.clone(),
            key: key.clone(),
            reused,
        };
        if root.join(MARKER).is_file() {
            return Ok(ready(true));
        }
        let cache_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ProvisionError::Cache { path, source }
        };
        tokio::fs::create_dir_all(&self.cache_dir)
            .await
            .map_err(cache_err(&self.cache_dir))?;
        let lock_path = self.cache_dir.join(format!("env-{}.lock", &key[..20]));
        let _lock = lock(&lock_path).await.map_err(cache_err(&lock_path))?;
        // Someone else may have finished it while we waited for the lock.
        if root.join(MARKER).is_file() {
            return Ok(ready(true));
        }
        if root.exists() {
            // A directory without its marker is debris from an older layout.
            tokio::fs::remove_dir_all(&root)
                .await
                .map_err(cache_err(&root))?;
        }
        let tmp = self
            .cache_dir
            .join(format!(".tmp-env-{}-{}", &key[..20], ulid::Ulid::new()));
        let built = self
            .build(&tmp, &root, &interpreter, &repo_inputs, inputs)
            .await;
        if let Err(error) = built {
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            return Err(error);
        }
        tokio::fs::rename(&tmp, &root)
            .await
            .map_err(cache_err(&root))?;
        Ok(ready(false))
    }

    /// The interpreter for `request`, with what earlier runs learned about
    /// this machine's interpreters kept in the cache directory.
    async fn find_interpreter(
        &self,
        request: &PythonRequest,
    ) -> Result<Interpreter, InterpreterError> {
        let file = self.cache_dir.join(KNOWN_INTERPRETERS);
        let mut known = KnownInterpreters::load(&file);
        let found = interpreter::find(request, &self.search_dirs, &mut known).await?;
        // Kept only when an interpreter was found, so a request this machine
        // cannot serve leaves the cache as it was. Losing the file only costs
        // the next run its probes.
        if std::fs::create_dir_all(&self.cache_dir).is_ok() {
            let _ = known.save(&file);
        }
        Ok(found)
    }

    async fn build(
        &self,
        tmp: &Path,
        root: &Path,
        interpreter: &Interpreter,
        repo_inputs: &RepoInputs,
        inputs: &EnvInputs,
    ) -> Result<(), ProvisionError> {
        let mut venv = Command::new(&interpreter.path);
        venv.arg("-m").arg("venv").arg(tmp);
        let output = run(venv, "python -m venv", Duration::from_secs(300)).await?;
        if !output.success {
            return Err(ProvisionError::Venv {
                python: interpreter.path.clone(),
                output: output.tail(),
            });
        }
        let mut args: Vec<String> = Vec::new();
        for file in &repo_inputs.requirement_files {
            args.push("-r".into());
            args.push(inputs.repo.join(file).to_string_lossy().into_owned());
        }
        args.extend(repo_inputs.pyproject_dependencies.iter().cloned());
        args.extend(inputs.extra_requirements.iter().cloned());
        if !args.is_empty() {
            let mut pip = Command::new(tmp.join("bin").join("python"));
            // pip's own configuration (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL,
            // pip.conf) is inherited untouched.
            pip.args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
            ])
            .args(&args)
            .envs(self.pip_env.iter().map(|(k, v)| (k, v)))
            .current_dir(&inputs.repo);
            let output = run(pip, "pip install", self.install_timeout).await?;
            if !output.success {
                let sources = requirement_sources(repo_inputs, &inputs.extra_requirements);
                let error = classify_pip_failure(&output.text, &sources);
                return Err(self.confirm_not_found(error, tmp, &inputs.repo).await);
            }
        }
        relocate(tmp, root).await?;
        let marker = Marker {
            format: ENV_FORMAT.into(),
            interpreter: interpreter.path.clone(),
            version: interpreter.version.to_string(),
            files: repo_inputs.files.iter().map(|(p, _)| p.clone()).collect(),
            extra_requirements: inputs.extra_requirements.clone(),
        };
        let marker_path = tmp.join(MARKER);
        let json = serde_json::to_vec_pretty(&marker).unwrap_or_default();
        tokio::fs::write(&marker_path, json)
            .await
            .map_err(|source| ProvisionError::Cache {
                path: marker_path,
                source,
            })
    }
}

impl Provisioner {
    /// pip reports an unreachable index exactly like a missing package when it
    /// does not retry (`retries = 0`). Asking once more for that package alone,
    /// with one retry, tells the two apart.
    async fn confirm_not_found(
        &self,
        error: ProvisionError,
        tmp: &Path,
        repo: &Path,
    ) -> ProvisionError {
        let ProvisionError::PipInstall {
            file,
            package,
            reason,
            output,
        } = error
        else {
            return error;
        };
        if !reason.contains("No matching distribution") && !reason.contains("from versions: none") {
            return ProvisionError::PipInstall {
                file,
                package,
                reason,
                output,
            };
        }
        let mut probe = Command::new(tmp.join("bin").join("python"));
        probe
            .args([
                "-m",
                "pip",
                "download",
                "--disable-pip-version-check",
                "--no-input",
            ])
            .args(["--no-deps", "--retries", "1", "--dest"])
            .arg(tmp.join("probe-download"))
            .arg(&package)
            .envs(self.pip_env.iter().map(|(k, v)| (k, v)))
            .current_dir(repo);
        let probed = run(probe, "pip download", Duration::from_secs(120)).await;
        match probed {
            Ok(probed) if is_unreachable(&probed.text) => ProvisionError::IndexUnreachable {
                file,
                package,
                host: unreachable_host(&probed.text),
                output: tail(&probed.text),
            },
            _ => ProvisionError::PipInstall {
                file,
                package,
                reason,
                output,
            },
        }
    }
}

/// Takes an exclusive lock on `path`, waiting for another builder.
async fn lock(path: &Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(std::io::Error::other)?
}

/// The output of a finished command.
struct Finished {
    success: bool,
    text: String,
}

impl Finished {
    fn tail(&self) -> String {
        tail(&self.text)
    }
}

fn tail(text: &str) -> String {
    let trimmed = text.trim();
    match trimmed.char_indices().rev().nth(OUTPUT_TAIL) {
        Some((cut, _)) => format!("...{}", &trimmed[cut..]),
        None => trimmed.to_owned(),
    }
}

async fn run(
    mut command: Command,
    name: &str,
    timeout: Duration,
) -> Result<Finished, ProvisionError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().map_err(|source| ProvisionError::Spawn {
        command: name.into(),
        source,
    })?;
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| ProvisionError::Timeout {
            command: name.into(),
            seconds: timeout.as_secs(),
        })?
        .map_err(|source| ProvisionError::Spawn {
            command: name.into(),
            source,
        })?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok(Finished {
        success: output.status.success(),
        text,
    })
}

/// Reads the files that define the environment and the interpreter request.
fn read_inputs(repo: &Path) -> Result<RepoInputs, ProvisionError> {
    let read = |path: PathBuf| {
        std::fs::read(&path).map_err(|source| ProvisionError::ReadInput { path, source })
    };
    let entries = std::fs::read_dir(repo).map_err(|source| ProvisionError::ReadInput {
        path: repo.to_path_buf(),
        source,
    })?;
    let mut requirement_files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("requirements") && name.ends_with(".txt"))
        .map(PathBuf::from)
        .collect();
    requirement_files.sort();
    let mut files = Vec::new();
    for file in &requirement_files {
        files.push((file.to_string_lossy().into_owned(), read(repo.join(file))?));
    }
    let mut request = None;
    let version_file = repo.join(".python-version");
    if version_file.is_file() {
        let content = read(version_file)?;
        let text = String::from_utf8_lossy(&content).into_owned();
        request = Some(
            PythonRequest::from_python_version_file(&text).ok_or_else(|| {
                InterpreterError::BadRequest {
                    file: ".python-version".into(),
                    value: text.trim().to_owned(),
                }
            })?,
        );
        files.push((".python-version".into(), content));
    }
    let mut pyproject_dependencies = Vec::new();
    let pyproject = repo.join("pyproject.toml");
    if pyproject.is_file() {
        let content = read(pyproject.clone())?;
        let parsed = parse_pyproject(&String::from_utf8_lossy(&content)).map_err(|message| {
            ProvisionError::BadPyproject {
                file: pyproject.clone(),
                message,
            }
        })?;
        pyproject_dependencies = parsed.dependencies;
        if request.is_none()
            && let Some(spec) = parsed.requires_python
        {
            request = Some(PythonRequest::from_requires_python(&spec).ok_or_else(|| {
                InterpreterError::BadRequest {
                    file: "pyproject.toml (requires-python)".into(),
                    value: spec.clone(),
                }
            })?);
        }
        files.push(("pyproject.toml".into(), content));
    }
    files.sort();
    Ok(RepoInputs {
        files,
        request: request.unwrap_or_else(PythonRequest::any),
        requirement_files,
        pyproject_dependencies,
    })
}

struct Pyproject {
    requires_python: Option<String>,
    dependencies: Vec<String>,
}

fn parse_pyproject(text: &str) -> Result<Pyproject, String> {
    let value: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let project = value.get("project").and_then(toml::Value::as_table);
    let requires_python = project
        .and_then(|p| p.get("requires-python"))
        .and_then(toml::Value::as_str)
        .map(str::to_owned);
    let dependencies = match project.and_then(|p| p.get("dependencies")) {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("project.dependencies holds a non-string: {item}"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("project.dependencies is not a list: {other}")),
    };
    Ok(Pyproject {
        requires_python,
        dependencies,
    })
}

/// The hash naming an environment: the interpreter, every input file's name
/// and content, and the extra pins.
fn cache_key(files: &[(String, Vec<u8>)], interpreter: &Interpreter, extras: &[String]) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(ENV_FORMAT.as_bytes());
    field(interpreter.path.to_string_lossy().as_bytes());
    field(interpreter.version.to_string().as_bytes());
    for (name, content) in files {
        field(name.as_bytes());
        field(content);
    }
    for extra in extras {
        field(b"extra");
        field(extra.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Scripts pip writes into `bin/` name the interpreter by absolute path; the
/// environment is built elsewhere and renamed, so point them at the final
/// place before the rename.
async fn relocate(tmp: &Path, root: &Path) -> Result<(), ProvisionError> {
    let from = tmp.to_string_lossy().into_owned();
    let to = root.to_string_lossy().into_owned();
    let mut paths = vec![tmp.join("pyvenv.cfg")];
    let bin = tmp.join("bin");
    let mut entries = tokio::fs::read_dir(&bin)
        .await
        .map_err(|source| ProvisionError::Cache {
            path: bin.clone(),
            source,
        })?;
    while let Ok(Some(entry)) = entries.next_entry().await {
        let is_file = entry.file_type().await.is_ok_and(|t| t.is_file());
        if is_file {
            paths.push(entry.path());
        }
    }
    for path in paths {
        let Ok(bytes) = tokio::fs::read(&path).await else {
            continue;
        };
        let Ok(text) = String::from_utf8(bytes) else {
            continue; // a compiled tool such as ruff: nothing to rewrite
        };
        if text.contains(&from) {
            tokio::fs::write(&path, text.replace(&from, &to))
                .await
                .map_err(|source| ProvisionError::Cache { path, source })?;
        }
    }
    Ok(())
}

/// Normalised distribution name → the file that asked for it.
fn requirement_sources(inputs: &RepoInputs, extras: &[String]) -> BTreeMap<String, String> {
    let mut sources = BTreeMap::new();
    for (name, content) in &inputs.files {
        if !name.ends_with(".txt") {
            continue;
        }
        for line in String::from_utf8_lossy(content).lines() {
            if let Some(package) = requirement_name(line) {
                sources.entry(package).or_insert_with(|| name.clone());
            }
        }
    }
    for dep in &inputs.pyproject_dependencies {
        if let Some(package) = requirement_name(dep) {
            sources
                .entry(package)
                .or_insert_with(|| "pyproject.toml".into());
        }
    }
    for extra in extras {
        if let Some(package) = requirement_name(extra) {
            sources
                .entry(package)
                .or_insert_with(|| "Fixwright's pinned tool requirements".into());
        }
    }
    sources
}

/// The normalised distribution name a requirement line names, if any.
fn requirement_name(line: &str) -> Option<String> {
    let line = line.split('#').next()?.trim();
    if line.is_empty() || line.starts_with('-') {
        return None;
    }
    let name: String = line
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    (!name.is_empty()).then(|| normalise(&name))
}

fn normalise(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '.'], "-")
}

/// Turns pip's output into the error that names the package and its file.
fn classify_pip_failure(output: &str, sources: &BTreeMap<String, String>) -> ProvisionError {
    let package = failing_requirement(output);
    let file = package
        .as_deref()
        .and_then(requirement_name)
        .and_then(|name| sources.get(&name).cloned())
        .unwrap_or_else(|| {
            let files: Vec<&str> = sources.values().map(String::as_str).collect();
            let mut files = files;
            files.dedup();
            files.join(", ")
        });
    let package = package.unwrap_or_else(|| "(unknown package)".into());
    if is_unreachable(output) {
        return ProvisionError::IndexUnreachable {
            file,
            package,
            host: unreachable_host(output),
            output: tail(output),
        };
    }
    let reason = output
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("ERROR:"))
        .map(|l| l.trim_start_matches("ERROR:").trim().to_owned())
        .unwrap_or_else(|| "pip exited with an error".into());
    ProvisionError::PipInstall {
        file,
        package,
        reason,
        output: tail(output),
    }
}

fn is_unreachable(output: &str) -> bool {
    const NEEDLES: [&str; 7] = [
        "NewConnectionError",
        "Failed to establish a new connection",
        "Temporary failure in name resolution",
        "Name or service not known",
        "ProxyError",
        "ConnectTimeoutError",
        "Max retries exceeded",
    ];
    NEEDLES.iter().any(|needle| output.contains(needle))
}

/// The requirement pip was working on when it failed.
fn failing_requirement(output: &str) -> Option<String> {
    const MARKERS: [&str; 3] = [
        "No matching distribution found for ",
        "Could not find a version that satisfies the requirement ",
        "Invalid requirement: ",
    ];
    for line in output.lines() {
        for marker in MARKERS {
            if let Some(pos) = line.find(marker) {
                let rest = &line[pos + marker.len()..];
                let requirement = rest
                    .split(" (")
                    .next()
                    .unwrap_or(rest)
                    .trim()
                    .trim_matches(['\'', '"']);
                if !requirement.is_empty() {
                    return Some(requirement.to_owned());
                }
            }
        }
    }
    // A build failure: the last package pip started on.
    output
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("Collecting "))
        .map(|rest| rest.split_whitespace().next().unwrap_or(rest).to_owned())
}

fn unreachable_host(output: &str) -> Option<String> {
    let Some(start) = output.find("host='").map(|p| p + "host='".len()) else {
        // pip names the index it tried on its first line.
        return output
            .lines()
            .find_map(|l| l.trim().strip_prefix("Looking in indexes: "))
            .map(|urls| urls.split(',').next().unwrap_or(urls).trim().to_owned());
    };
    let host = &output[start..];
    let host = &host[..host.find('\'')?];
    let port = output[start..]
        .find("port=")
        .map(|p| &output[start + p + 5..])
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .filter(|p| !p.is_empty());
    Some(match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_not_found_names_package_and_file() {
        let mut sources = BTreeMap::new();
        sources.insert(
            "no-such-pkg".to_string(),
            "requirements-dev.txt".to_string(),
        );
        let output = "ERROR: Could not find a version that satisfies the requirement No_Such.Pkg==1.0 (from versions: none)\nERROR: No matching distribution found for No_Such.Pkg==1.0\n";
        match classify_pip_failure(output, &sources) {
            ProvisionError::PipInstall { file, package, .. } => {
                assert_eq!(file, "requirements-dev.txt");
                assert_eq!(package, "No_Such.Pkg==1.0");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn pip_connection_refused_is_unreachable() {
        let mut sources = BTreeMap::new();
        sources.insert("six".to_string(), "requirements.txt".to_string());
        let output = "WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new connection: [Errno 111] Connection refused')': /simple/six/\nERROR: Could not find a version that satisfies the requirement six==1.16.0 (from versions: none)\nERROR: No matching distribution found for six==1.16.0\n";
        let output = format!("HTTPConnectionPool(host='127.0.0.1', port=9): Max retries\n{output}");
        match classify_pip_failure(&output, &sources) {
            ProvisionError::IndexUnreachable {
                file,
                package,
                host,
                ..
            } => {
                assert_eq!(file, "requirements.txt");
                assert_eq!(package, "six==1.16.0");
                assert_eq!(host.as_deref(), Some("127.0.0.1:9"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn requirement_names_are_normalised() {
        assert_eq!(
            requirement_name("Scrapy==2.19.0  # crawler"),
            Some("scrapy".into())
        );
        assert_eq!(
            requirement_name("zope.interface>=5"),
            Some("zope-interface".into())
        );
        assert_eq!(requirement_name("-r base.txt"), None);
        assert_eq!(requirement_name("# comment"), None);
    }
}

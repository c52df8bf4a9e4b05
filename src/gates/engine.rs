//! One gate run: provision the environment, decide the scope, run ruff,
//! mypy and pytest in parallel on the change, run them again on the base
//! commit, and keep only what the change introduced.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::baseline;
use super::finding::{Finding, GateResult, GateStatus, Tool};
use super::parse::{self, Parsed, ToolOutput, Unusable};
use super::run::{self, Invocation, RunError};
use super::scope::{self, CoveredScraper, Scope};
use crate::policy::gates::TimeLimits as TimeLimitSeconds;
use crate::policy::{Gates, ToolVersions};
use crate::python::{EnvInputs, ProvisionError, Provisioner};
use crate::repair::scraper::{Layout, ScraperError};

/// Exact tool versions installed into every gate environment (pip
/// requirement strings). They are part of the environment's cache key, so a
/// change of pin builds a new environment and an unchanged one reuses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ToolPins {
    pub ruff: String,
    pub mypy: String,
    pub pytest: String,
    pub pytest_timeout: String,
}

impl Default for ToolPins {
    /// Fixwright's own pins.
    fn default() -> Self {
        ToolPins::from_versions(&ToolVersions::default())
    }
}

impl ToolPins {
    /// The pins of a repository's `gates.tools` (validated exact versions).
    pub fn from_versions(versions: &ToolVersions) -> Self {
        ToolPins {
            ruff: format!("ruff=={}", versions.ruff),
            mypy: format!("mypy=={}", versions.mypy),
            pytest: format!("pytest=={}", versions.pytest),
            pytest_timeout: format!("pytest-timeout=={}", versions.pytest_timeout),
        }
    }

    /// The requirements to install on top of the repository's own.
    pub fn requirements(&self) -> Vec<String> {
        vec![
            self.ruff.clone(),
            self.mypy.clone(),
            self.pytest.clone(),
            self.pytest_timeout.clone(),
        ]
    }
}

/// The distributions whose installed versions a gate run reports.
const REPORTED_TOOLS: [&str; 4] = ["ruff", "mypy", "pytest", "pytest-timeout"];

/// The wall-clock limit of each tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeLimits {
    pub ruff: Duration,
    pub mypy: Duration,
    pub pytest: Duration,
}

impl TimeLimits {
    /// The same limit for every tool.
    pub fn all(limit: Duration) -> Self {
        TimeLimits {
            ruff: limit,
            mypy: limit,
            pytest: limit,
        }
    }

    /// The limit of `tool`.
    pub fn of(&self, tool: Tool) -> Duration {
        match tool {
            Tool::Ruff => self.ruff,
            Tool::Mypy => self.mypy,
            Tool::Pytest => self.pytest,
        }
    }
}

/// Limits and places for gate runs.
#[derive(Clone, Debug)]
pub struct GateSettings {
    pub pins: ToolPins,
    /// Holds mypy's per-repository caches and temporary checkouts.
    pub work_dir: PathBuf,
    /// Wall-clock limit of each tool.
    pub time_limits: TimeLimits,
    /// pytest-timeout's per-test limit: a hanging test fails alone.
    pub test_timeout: Duration,
    /// Bytes of a tool's stdout kept; more is an error gate.
    pub max_output: usize,
    pub layout: Layout,
    /// Where the tools keep Python bytecode (`PYTHONPYCACHEPREFIX`), so a
    /// repository's modules are compiled once, not on every run, and never
    /// into the repository. `None` writes no bytecode at all.
    pub bytecode_cache: Option<PathBuf>,
}

impl GateSettings {
    /// Defaults: Fixwright's pins, 10 minutes per tool, 60 s per test, 16 MiB
    /// of output, bytecode under `<work_dir>/pycache`.
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        let work_dir = work_dir.into();
        GateSettings {
            pins: ToolPins::default(),
            bytecode_cache: Some(work_dir.join("pycache")),
            work_dir,
            time_limits: TimeLimits::all(Duration::from_secs(TimeLimitSeconds::DEFAULT_SECONDS)),
            test_timeout: Duration::from_secs(Gates::TEST_TIMEOUT_SECONDS),
            max_output: 16 * 1024 * 1024,
            layout: Layout::default(),
        }
    }

    /// These settings with a repository's `gates:` section applied: its tool
    /// pins, time limits and per-test limit.
    pub fn with_policy(mut self, gates: &Gates) -> Self {
        let secs = Duration::from_secs;
        self.pins = ToolPins::from_versions(&gates.tools);
        self.time_limits = TimeLimits {
            ruff: secs(gates.time_limit_seconds.ruff),
            mypy: secs(gates.time_limit_seconds.mypy),
            pytest: secs(gates.time_limit_seconds.pytest),
        };
        self.test_timeout = secs(gates.test_timeout_seconds);
        self
    }
}

/// What to run the gates on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every file of the repository.
    Whole,
    /// One scraper by name.
    Scraper(String),
    /// Whatever differs from this revision in the working tree.
    ChangedFrom(String),
    /// These paths, relative to the repository root.
    Changed(Vec<PathBuf>),
}

/// What a gate run is doing, for progress displays. Tools run at once, so
/// their events interleave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress<'a> {
    /// A step of the run as a whole (provisioning, the base revision).
    Step(&'a str),
    /// A tool started, on the change or (`base`) on the base revision.
    Started { tool: Tool, base: bool },
    /// A tool had nothing in scope (a scraper without tests).
    Skipped { tool: Tool, base: bool },
    /// A tool finished: how many findings it printed (before the comparison
    /// with the base), or why its output could not be used.
    Finished {
        tool: Tool,
        base: bool,
        duration: Duration,
        findings: Result<usize, &'a str>,
    },
}

/// A gate run's request.
#[derive(Clone, Debug)]
pub struct GateRequest {
    /// The repository's working tree.
    pub repo: PathBuf,
    pub target: Target,
    /// Compare with this revision; defaults to the `ChangedFrom` revision.
    pub baseline: Option<String>,
    /// Names the run (`external_id` of its check runs): the repair
    /// attempt's id, or a fresh id when `None`.
    pub run_id: Option<String>,
}

/// A finished gate run.
#[derive(Clone, Debug, Serialize)]
pub struct GateRun {
    pub id: String,
    pub scope: Scope,
    /// The revision findings were compared with.
    pub baseline: Option<String>,
    pub gates: Vec<GateResult>,
    /// Whether the environment existed already.
    pub environment_reused: bool,
    pub provision_ms: u64,
    /// The installed version of each gate tool (PyPI name to version), as
    /// the environment reports it.
    pub tools: BTreeMap<String, String>,
    /// Where the run's time went.
    pub timings: Timings,
}

/// Wall-clock milliseconds of a gate run's phases.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// Finding the environment (or building it).
    pub provision_ms: u64,
    /// Reading the repository's scrapers and tests, and git for the
    /// changed paths.
    pub scope_ms: u64,
    /// ruff, mypy and pytest on the change, in parallel.
    pub head_ms: u64,
    /// Writing the base revision's files and running the tools on it.
    pub base_ms: u64,
    /// Of `base_ms`, writing the base revision's files (git).
    pub export_ms: u64,
}

impl GateRun {
    /// Whether every gate passed.
    pub fn passed(&self) -> bool {
        self.gates.iter().all(GateResult::passed)
    }

    /// The check names (`fixwright/ruff`, ...) of gates that failed or could
    /// not run, as the merge policy's facts take them.
    pub fn failed_gates(&self) -> Vec<String> {
        self.gates
            .iter()
            .filter(|g| !g.passed())
            .map(|g| g.tool.check_name())
            .collect()
    }
}

/// Why no gate could run at all (a usage or provisioning problem, not a
/// verdict on the code).
#[derive(Debug, thiserror::Error)]
pub enum GatesError {
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error("cannot read the scrapers of {}: {source}", repo.display())]
    Layout {
        repo: PathBuf,
        #[source]
        source: ScraperError,
    },
    #[error("no scraper called `{name}` in {}; known: {}", repo.display(), known.join(", "))]
    UnknownScraper {
        name: String,
        repo: PathBuf,
        known: Vec<String>,
    },
    #[error("git error in {} for `{revision}`: {source}", repo.display())]
    Git {
        repo: PathBuf,
        revision: String,
        #[source]
        source: git2::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Work {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the gates. Tool problems become error gates in the result; only
/// problems that stop every gate are an `Err`.
pub async fn run_gates(
    request: &GateRequest,
    settings: &GateSettings,
    provisioner: &Provisioner,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<GateRun, GatesError> {
    let repo = &request.repo;
    progress(Progress::Step("provisioning the Python environment"));
    let started = Instant::now();
    let env = provisioner
        .provision(&EnvInputs {
            repo: repo.clone(),
            extra_requirements: settings.pins.requirements(),
        })
        .await?;
    let provision_ms = elapsed_ms(started);
    let python = run::python_in(&env.root);
    let tools = installed_versions(&python, &REPORTED_TOOLS).await;
    let started = Instant::now();
    let covered = scope::discover(repo, &settings.layout).map_err(|source| GatesError::Layout {
        repo: repo.clone(),
        source,
    })?;
    let git_err = |revision: &str| {
        let revision = revision.to_owned();
        move |source| GatesError::Git {
            repo: repo.clone(),
            revision,
            source,
        }
    };
    let scope = match &request.target {
        Target::Whole => Scope::Whole {
            reason: "the whole repository was asked for".into(),
        },
        Target::Scraper(name) => {
            if !covered.iter().any(|s| &s.name == name) {
                return Err(GatesError::UnknownScraper {
                    name: name.clone(),
                    repo: repo.clone(),
                    known: covered.iter().map(|s| s.name.clone()).collect(),
                });
            }
            scope::for_scrapers(&covered, std::slice::from_ref(name))
        }
        Target::ChangedFrom(rev) => {
            let changed = scope::changed_from(repo, rev).map_err(git_err(rev))?;
            scope::for_changes(&covered, &changed)
        }
        Target::Changed(paths) => scope::for_changes(&covered, paths),
    };
    let baseline = request.baseline.clone().or(match &request.target {
        Target::ChangedFrom(rev) => Some(rev.clone()),
        _ => None,
    });
    let scope_ms = elapsed_ms(started);
    // One mypy cache per environment: the installed packages, the costly
    // part to analyse, are the environment's, and mypy checks every cached
    // module of the repository against its file's content. So a fresh
    // checkout (a repair attempt's worktree, a CI clone) starts warm.
    let mypy_cache = settings
        .work_dir
        .join("mypy")
        .join(&env.key[..env.key.len().min(20)]);
    let plugin = pytest_plugin(settings)
        .await
        .map_err(|(path, source)| GatesError::Work { path, source })?;
    let setup = ToolSetup {
        python: &python,
        settings,
        mypy_cache: &mypy_cache,
        pytest_plugin: &plugin,
    };
    progress(Progress::Step("running ruff, mypy and pytest"));
    let started = Instant::now();
    let head = run_tools(setup, repo, &scope, false, progress).await;
    let head_ms = elapsed_ms(started);
    let started = Instant::now();
    let mut export_ms = 0;
    let mut base_findings: Vec<Vec<Finding>> = vec![Vec::new(); Tool::ALL.len()];
    if let Some(rev) = &baseline {
        progress(Progress::Step(&format!(
            "running the gates on the base {rev}"
        )));
        let checkout = settings
            .work_dir
            .join(format!("base-{}", ulid::Ulid::new()));
        let skip = not_needed_by(&scope, &covered);
        export_tree(repo, rev, &checkout, &skip).map_err(|e| match e {
            ExportError::Git(source) => git_err(rev)(source),
            ExportError::Io(path, source) => GatesError::Work { path, source },
        })?;
        export_ms = elapsed_ms(started);
        let base_scope = scope_in(&scope, &checkout);
        // The base shares the head's mypy cache: the two runs never overlap, and
        // mypy checks each cached module against its file's content, so the
        // files the change left alone are not analysed again.
        let base = run_tools(setup, &checkout, &base_scope, true, progress).await;
        // The checkout is gone after this run: so is its bytecode.
        if let (Some(prefix), Ok(canonical)) =
            (&settings.bytecode_cache, std::fs::canonicalize(&checkout))
        {
            let _ = tokio::fs::remove_dir_all(bytecode_dir(prefix, &canonical)).await;
        }
        let _ = tokio::fs::remove_dir_all(&checkout).await;
        for (slot, run) in base_findings.iter_mut().zip(base) {
            if let Ok(parsed) = run.parsed {
                *slot = parsed.findings;
            }
        }
    }
    let base_ms = elapsed_ms(started);
    let gates = head
        .into_iter()
        .zip(&base_findings)
        .map(|(run, base)| {
            let mut gate = verdict(run, base);
            gate.version = tools.get(&gate.tool.to_string()).cloned();
            gate
        })
        .collect();
    Ok(GateRun {
        id: request
            .run_id
            .clone()
            .unwrap_or_else(|| ulid::Ulid::new().to_string()),
        scope,
        baseline,
        gates,
        environment_reused: env.reused,
        provision_ms,
        tools,
        timings: Timings {
            provision_ms,
            scope_ms,
            head_ms,
            base_ms,
            export_ms,
        },
    })
}

/// Files of the base revision a scoped run does not need: the fixtures of
/// scrapers outside the scope (saved pages are data only their own tests
/// read, and most of a large repository's bytes). Source and test files are
/// all kept, since anything in scope may import them. Nothing is left out
/// of a whole-repository run.
fn not_needed_by(scope: &Scope, covered: &[CoveredScraper]) -> HashSet<PathBuf> {
    let Scope::Scrapers { names, .. } = scope else {
        return HashSet::new();
    };
    let in_scope: HashSet<&PathBuf> = covered
        .iter()
        .filter(|s| names.contains(&s.name))
        .flat_map(|s| &s.owned)
        .collect();
    covered
        .iter()
        .filter(|s| !names.contains(&s.name))
        .flat_map(|s| &s.owned)
        .filter(|p| !in_scope.contains(p) && p.extension().is_none_or(|e| e != "py"))
        .cloned()
        .collect()
}

/// Where Python keeps the bytecode of `dir` (absolute) under `prefix`.
fn bytecode_dir(prefix: &Path, dir: &Path) -> PathBuf {
    prefix.join(dir.strip_prefix("/").unwrap_or(dir))
}

/// The pytest plugin that keeps a scoped run's collection to its own test
/// files (`pytest_scope.py`), written under the work directory once. Returns
/// the directory to put on `PYTHONPATH`.
async fn pytest_plugin(settings: &GateSettings) -> Result<PathBuf, (PathBuf, std::io::Error)> {
    const SOURCE: &str = include_str!("pytest_scope.py");
    let dir = settings.work_dir.join("pytest-plugin");
    let file = dir.join(format!("{PYTEST_PLUGIN}.py"));
    if tokio::fs::read_to_string(&file).await.ok().as_deref() == Some(SOURCE) {
        return Ok(dir);
    }
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| (dir.clone(), e))?;
    // Written aside and renamed, so a concurrent run never imports half a file.
    let tmp = dir.join(format!(".{}.tmp", ulid::Ulid::new()));
    tokio::fs::write(&tmp, SOURCE)
        .await
        .map_err(|e| (tmp.clone(), e))?;
    tokio::fs::rename(&tmp, &file)
        .await
        .map_err(|e| (file.clone(), e))?;
    Ok(dir)
}

/// The plugin's module name (`-p` takes it).
const PYTEST_PLUGIN: &str = "fixwright_pytest_scope";

/// What `python` has installed of `names` (PyPI names), from the packages'
/// own metadata. A tool it cannot report is left out; its gate then fails on
/// its own when run.
async fn installed_versions(python: &Path, names: &[&str]) -> BTreeMap<String, String> {
    // Names are compared in PEP 503's normalised form (`pytest_timeout` is `pytest-timeout`).
    const SCRIPT: &str = r"import importlib.metadata as m, json, re, sys; want = set(sys.argv[1:]); print(json.dumps({n: d.version for d in m.distributions() for n in [re.sub(r'[-_.]+', '-', (d.metadata['Name'] or '').lower())] if n in want}))";
    let output = tokio::process::Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .args(names)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(60), output).await {
        Ok(Ok(output)) if output.status.success() => {
            serde_json::from_slice(&output.stdout).unwrap_or_default()
        }
        _ => BTreeMap::new(),
    }
}

/// One tool's head or base run.
pub struct ToolRun {
    pub tool: Tool,
    pub parsed: Result<Parsed, Unusable>,
    /// stderr's tail (or the run error), for error gates.
    pub output_tail: String,
    pub duration: Duration,
}

/// The gate's verdict from its run and the base's findings. Pure.
pub fn verdict(run: ToolRun, base: &[Finding]) -> GateResult {
    let duration_ms = u64::try_from(run.duration.as_millis()).unwrap_or(u64::MAX);
    match run.parsed {
        Ok(parsed) => {
            let (new, existing) = baseline::split(parsed.findings, base);
            let status = if new.iter().any(Finding::blocks) {
                GateStatus::Fail
            } else {
                GateStatus::Pass
            };
            GateResult {
                tool: run.tool,
                status,
                new,
                existing,
                duration_ms,
                tests: parsed.tests,
                version: None,
            }
        }
        Err(unusable) => GateResult {
            tool: run.tool,
            status: GateStatus::Error {
                reason: unusable.reason,
                output_tail: run.output_tail,
            },
            new: unusable.findings,
            existing: Vec::new(),
            duration_ms,
            tests: None,
            version: None,
        },
    }
}

/// The scope with files that do not exist under `root` left out.
fn scope_in(scope: &Scope, root: &Path) -> Scope {
    match scope {
        Scope::Whole { reason } => Scope::Whole {
            reason: reason.clone(),
        },
        Scope::Scrapers {
            names,
            sources,
            tests,
        } => {
            let keep = |paths: &Vec<PathBuf>| -> Vec<PathBuf> {
                paths
                    .iter()
                    .filter(|p| root.join(p).is_file())
                    .cloned()
                    .collect()
            };
            Scope::Scrapers {
                names: names.clone(),
                sources: keep(sources),
                tests: keep(tests),
            }
        }
    }
}

/// Where one run's tools keep their caches and reports.
#[derive(Clone, Debug)]
pub struct ToolPaths {
    /// mypy's incremental cache.
    pub mypy_cache: PathBuf,
    /// pytest's JUnit XML report.
    pub junit: PathBuf,
    /// The directory holding the scoped-collection pytest plugin.
    pub pytest_plugin: PathBuf,
}

/// The three tools' invocations for `scope` in `root`.
pub fn invocations(
    python: &Path,
    root: &Path,
    scope: &Scope,
    settings: &GateSettings,
    paths: &ToolPaths,
) -> Vec<(Tool, Option<Invocation>)> {
    let (sources, tests) = match scope {
        Scope::Whole { .. } => (None, None),
        Scope::Scrapers { sources, tests, .. } => {
            (Some(run::path_args(sources)), Some(run::path_args(tests)))
        }
    };
    // Tools must not litter the repository with bytecode: it goes to the
    // cache, or nowhere.
    let (bytecode_env, env_remove) = match &settings.bytecode_cache {
        Some(prefix) => (
            vec![(
                "PYTHONPYCACHEPREFIX".to_owned(),
                // Python takes a relative prefix from each tool's own
                // working directory.
                std::path::absolute(prefix)
                    .unwrap_or_else(|_| prefix.clone())
                    .to_string_lossy()
                    .into_owned(),
            )],
            vec!["PYTHONDONTWRITEBYTECODE".to_owned()],
        ),
        None => (
            vec![("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned())],
            Vec::new(),
        ),
    };
    let base = |tool: Tool,
                args: Vec<String>,
                extra_env: Vec<(String, String)>,
                report: Option<PathBuf>| {
        let mut env = bytecode_env.clone();
        env.extend(extra_env);
        Invocation {
            program: python.to_path_buf(),
            args,
            cwd: root.to_path_buf(),
            env,
            env_remove: env_remove.clone(),
            timeout: settings.time_limits.of(tool),
            max_output: settings.max_output,
            report,
        }
    };
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let targets = |given: &Option<Vec<String>>| given.clone().unwrap_or_else(|| vec![".".into()]);
    let nothing = |given: &Option<Vec<String>>| given.as_ref().is_some_and(Vec::is_empty);

    let mut ruff = strings(&[
        "-m",
        "ruff",
        "check",
        "--output-format",
        "json",
        "--no-cache",
    ]);
    ruff.push("--force-exclude".into());
    ruff.extend(targets(&sources));
    let mut mypy = strings(&["-m", "mypy", "-O", "json", "--cache-dir"]);
    mypy.push(paths.mypy_cache.to_string_lossy().into_owned());
    mypy.extend(targets(&sources));
    let mut pytest = strings(&["-m", "pytest", "-p", "no:cacheprovider", "-q"]);
    pytest.push(format!("--junitxml={}", paths.junit.display()));
    pytest.extend(strings(&["-o", "junit_family=xunit2"]));
    pytest.push(format!(
        "--timeout={}",
        settings.test_timeout.as_secs().max(1)
    ));
    let mut pytest_env = Vec::new();
    match &tests {
        // No paths: the repository's own `testpaths` decides.
        None => {}
        Some(tests) => {
            // Collect only the given files, not every sibling of theirs.
            pytest.extend(strings(&["-p", PYTEST_PLUGIN]));
            pytest.extend(tests.iter().cloned());
            let mut python_path = vec![paths.pytest_plugin.clone()];
            if let Some(inherited) = std::env::var_os("PYTHONPATH") {
                python_path.extend(std::env::split_paths(&inherited));
            }
            let joined = std::env::join_paths(python_path)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| paths.pytest_plugin.to_string_lossy().into_owned());
            pytest_env.push(("PYTHONPATH".to_owned(), joined));
            let listed = std::env::join_paths(tests)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            pytest_env.push(("FIXWRIGHT_PYTEST_SCOPE".to_owned(), listed));
        }
    }
    vec![
        (
            Tool::Ruff,
            (!nothing(&sources)).then(|| base(Tool::Ruff, ruff, Vec::new(), None)),
        ),
        (
            Tool::Mypy,
            (!nothing(&sources)).then(|| base(Tool::Mypy, mypy, Vec::new(), None)),
        ),
        (
            Tool::Pytest,
            (!nothing(&tests))
                .then(|| base(Tool::Pytest, pytest, pytest_env, Some(paths.junit.clone()))),
        ),
    ]
}

/// What the head and the base runs of one gate run share.
#[derive(Clone, Copy)]
struct ToolSetup<'a> {
    python: &'a Path,
    settings: &'a GateSettings,
    mypy_cache: &'a Path,
    pytest_plugin: &'a Path,
}

/// Runs the three tools at once and parses what they print; `base` says
/// whether this is the base revision's run, for `progress`.
async fn run_tools(
    setup: ToolSetup<'_>,
    root: &Path,
    scope: &Scope,
    base: bool,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Vec<ToolRun> {
    let ToolSetup {
        python,
        settings,
        mypy_cache,
        pytest_plugin,
    } = setup;
    let junit = std::env::temp_dir().join(format!("fixwright-junit-{}.xml", ulid::Ulid::new()));
    let paths = ToolPaths {
        mypy_cache: mypy_cache.to_path_buf(),
        junit: junit.clone(),
        pytest_plugin: pytest_plugin.to_path_buf(),
    };
    let runs = invocations(python, root, scope, settings, &paths);
    let futures = runs.into_iter().map(|(tool, inv)| async move {
        let Some(inv) = inv else {
            // Nothing in scope for this tool (a scraper without tests).
            progress(Progress::Skipped { tool, base });
            return ToolRun {
                tool,
                parsed: Ok(Parsed {
                    findings: Vec::new(),
                    tests: (tool == Tool::Pytest).then(Default::default),
                }),
                output_tail: String::new(),
                duration: Duration::ZERO,
            };
        };
        // mypy 2 keeps its cache in SQLite: a second mypy writing the same
        // cache at once can fail on the lock, so runs take turns on it.
        let _turn = match tool {
            Tool::Mypy => take_turn(&mypy_cache.with_extension("lock"), progress).await,
            _ => None,
        };
        progress(Progress::Started { tool, base });
        let result = run::run(&inv).await;
        let run = match result {
            Ok((output, duration)) => ToolRun {
                tool,
                parsed: parse_output(tool, &output, root),
                output_tail: run::tail(&format!("{}\n{}", output.stderr, output.stdout)),
                duration,
            },
            Err(error) => ToolRun {
                tool,
                parsed: Err(Unusable {
                    reason: error.to_string(),
                    findings: Vec::new(),
                }),
                output_tail: match &error {
                    RunError::TooMuchOutput { tail, .. } | RunError::Timeout { tail, .. } => {
                        tail.clone()
                    }
                    _ => String::new(),
                },
                duration: inv.timeout,
            },
        };
        let findings = match &run.parsed {
            Ok(parsed) => Ok(parsed.findings.len()),
            Err(unusable) => Err(unusable.reason.as_str()),
        };
        progress(Progress::Finished {
            tool,
            base,
            duration: run.duration,
            findings,
        });
        run
    });
    let results = futures::future::join_all(futures).await;
    let _ = tokio::fs::remove_file(&junit).await;
    results
}

/// Waits for the turn held by the lock on `lock_path` (beside the mypy cache,
/// so clearing the cache leaves it), saying so through
/// `progress` when another run holds it. The turn lasts as long as the
/// returned file. Best effort: a lock that cannot be taken at all (a file
/// system without locks) leaves the tool to run as it would without turns.
async fn take_turn(
    lock_path: &Path,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Option<std::fs::File> {
    let open = || {
        if let Some(parent) = lock_path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path)
    };
    let file = match open() {
        Ok(file) => file,
        Err(error) => {
            tracing::warn!(path = %lock_path.display(), %error, "cannot open the mypy cache's lock; running without it");
            return None;
        }
    };
    match file.try_lock() {
        Ok(()) => return Some(file),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(error)) => {
            tracing::warn!(path = %lock_path.display(), %error, "cannot lock the mypy cache; running without its lock");
            return None;
        }
    }
    progress(Progress::Step(
        "waiting for another run's mypy to finish with the cache",
    ));
    match tokio::task::spawn_blocking(move || file.lock().map(|()| file)).await {
        Ok(Ok(file)) => Some(file),
        Ok(Err(error)) => {
            tracing::warn!(path = %lock_path.display(), %error, "cannot lock the mypy cache; running without its lock");
            None
        }
        Err(error) => {
            tracing::warn!(%error, "the task waiting for the mypy cache failed; running without its lock");
            None
        }
    }
}

fn parse_output(tool: Tool, output: &ToolOutput, root: &Path) -> Result<Parsed, Unusable> {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    match tool {
        Tool::Ruff => parse::ruff(output, &root),
        Tool::Mypy => parse::mypy(output, &root),
        Tool::Pytest => parse::pytest(output, &root),
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

enum ExportError {
    Git(git2::Error),
    Io(PathBuf, std::io::Error),
}

/// Writes the tree of `rev` into `dest` (a fresh directory), but for the
/// files in `skip`.
fn export_tree(
    repo: &Path,
    rev: &str,
    dest: &Path,
    skip: &HashSet<PathBuf>,
) -> Result<(), ExportError> {
    let git = git2::Repository::open(repo).map_err(ExportError::Git)?;
    let tree = git
        .revparse_single(rev)
        .and_then(|o| o.peel_to_tree())
        .map_err(ExportError::Git)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| ExportError::Io(path, e)
    };
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let mut failure = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        let relative = Path::new(dir).join(entry.name().unwrap_or_default());
        if skip.contains(&relative) {
            return git2::TreeWalkResult::Skip;
        }
        let path = dest.join(&relative);
        let written = match entry.kind() {
            Some(git2::ObjectType::Tree) => std::fs::create_dir_all(&path).map_err(io(&path)),
            Some(git2::ObjectType::Blob) => {
                match entry.to_object(&git).and_then(|o| o.peel_to_blob()) {
                    Ok(blob) => std::fs::write(&path, blob.content()).map_err(io(&path)),
                    Err(e) => Err(ExportError::Git(e)),
                }
            }
            _ => Ok(()),
        };
        match written {
            Ok(()) => git2::TreeWalkResult::Ok,
            Err(e) => {
                failure = Some(e);
                git2::TreeWalkResult::Abort
            }
        }
    })
    .or_else(|e| {
        if failure.is_some() {
            Ok(())
        } else {
            Err(ExportError::Git(e))
        }
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(name: &str) -> CoveredScraper {
        CoveredScraper {
            name: name.into(),
            module: format!("scrapers/{name}.py").into(),
            tests: vec![format!("tests/test_{name}.py").into()],
            owned: vec![
                format!("scrapers/{name}.py").into(),
                format!("tests/test_{name}.py").into(),
                format!("tests/files/{name}.html").into(),
            ],
        }
    }

    #[test]
    fn a_scoped_base_leaves_out_only_other_scrapers_fixtures() {
        let all = vec![covered("books"), covered("events")];
        let scope = scope::for_scrapers(&all, &["books".to_owned()]);
        let skipped = not_needed_by(&scope, &all);
        assert_eq!(
            skipped,
            HashSet::from([PathBuf::from("tests/files/events.html")])
        );
        let whole = Scope::Whole {
            reason: "asked".into(),
        };
        assert!(not_needed_by(&whole, &all).is_empty());
    }
}

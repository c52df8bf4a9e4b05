//! `fixwright gates`: ruff, mypy and pytest on a scraper repository, the
//! same engine the App uses for check runs.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::gates::engine::{GateSettings, TimeLimits};
use crate::gates::{GateRequest, Target, report, run_gates};
use crate::policy::RepoPolicy;
use crate::python::Provisioner;

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// GitHub Actions workflow commands, plus a job summary written to
    /// `$GITHUB_STEP_SUMMARY`.
    Github,
}

#[derive(Debug, Args)]
pub struct GatesArgs {
    /// The scraper repository's working tree.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Run the gates for this scraper only.
    #[arg(long, conflicts_with = "changed_from")]
    pub scraper: Option<String>,
    /// Run the gates for what changed since this revision, compared with it.
    #[arg(long)]
    pub changed_from: Option<String>,
    /// Findings already present at this revision do not fail a gate
    /// (defaults to --changed-from).
    #[arg(long)]
    pub baseline: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Where environments and caches are kept.
    #[arg(long, env = "FIXWRIGHT_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Seconds one test may run before pytest-timeout fails it (default:
    /// `gates.test_timeout_seconds` of the repository's policy file, else 60).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub test_timeout: Option<u64>,
    /// Seconds each tool may run (default: `gates.time_limit_seconds` of the
    /// repository's policy file, else 600).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub tool_timeout: Option<u64>,
}

fn default_cache_dir() -> PathBuf {
    directories::ProjectDirs::from("dev", "fixwright", "fixwright")
        .map(|d| d.cache_dir().to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("fixwright-cache"))
}

/// Reports why the gates could not run at all; exit code 2.
fn usage_error(format: Format, message: &str) -> ExitCode {
    eprintln!("error: {message}");
    if format == Format::Github {
        println!(
            "::error title=fixwright gates::{}",
            message.replace('%', "%25").replace('\n', "%0A")
        );
    }
    ExitCode::from(2)
}

/// Runs the gates: exit 0 when every gate passes, 1 when one fails, 2 when
/// they could not run (usage, provisioning, git).
pub async fn run(args: GatesArgs) -> ExitCode {
    let cache = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    // The repository's `gates:` section (tool pins, limits), as in its tree.
    let policy = match RepoPolicy::load(&args.repo) {
        Ok(policy) => policy,
        Err(e) => return usage_error(args.format, &e.to_string()),
    };
    let mut settings = GateSettings::new(cache.join("gates")).with_policy(&policy.gates);
    if let Some(seconds) = args.test_timeout {
        settings.test_timeout = Duration::from_secs(seconds);
    }
    if let Some(seconds) = args.tool_timeout {
        settings.time_limits = TimeLimits::all(Duration::from_secs(seconds));
    }
    let provisioner = Provisioner::new(cache.join("envs"));
    let target = match (&args.scraper, &args.changed_from) {
        (Some(name), _) => Target::Scraper(name.clone()),
        (None, Some(rev)) => Target::ChangedFrom(rev.clone()),
        (None, None) => Target::Whole,
    };
    let request = GateRequest {
        repo: args.repo.clone(),
        target,
        baseline: args.baseline.clone(),
        run_id: None,
    };
    let progress = |step: &str| eprintln!("fixwright gates: {step}...");
    let run = match run_gates(&request, &settings, &provisioner, &progress).await {
        Ok(run) => run,
        Err(e) => return usage_error(args.format, &e.to_string()),
    };
    let printed = match args.format {
        Format::Text => report::text(&run),
        Format::Json => report::json(&run),
        Format::Github => {
            if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
                let written = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .and_then(|mut f| f.write_all(report::summary_markdown(&run).as_bytes()));
                if let Err(e) = written {
                    eprintln!(
                        "warning: cannot write the job summary to {}: {e}",
                        PathBuf::from(path).display()
                    );
                }
            }
            report::github_commands(&run)
        }
    };
    print!("{printed}");
    if run.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

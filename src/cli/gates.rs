//! `fixwright gates`: ruff, mypy and pytest on a scraper repository, the
//! same engine the App uses for check runs.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::{Args, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::gates::engine::{GateSettings, TimeLimits};
use crate::gates::{GateRequest, Progress, Target, Tool, report, run_gates};
use crate::policy::RepoPolicy;
use crate::python::Provisioner;
use crate::repair::scraper::Layout;

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
    // Where its scrapers and their tests are (`scrapers:`).
    settings.layout = match Layout::from_policy(&policy) {
        Ok(layout) => layout,
        Err(e) => return usage_error(args.format, &e.to_string()),
    };
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
    let display = Display::for_stderr();
    let progress = |event: Progress<'_>| display.show(event);
    let outcome = run_gates(&request, &settings, &provisioner, &progress).await;
    display.finish();
    let run = match outcome {
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

/// Progress on stderr: a spinner per tool on a terminal, plain lines
/// otherwise (CI logs, files, pipes). stdout only ever holds the report.
enum Display {
    Terminal {
        bars: MultiProgress,
        step: ProgressBar,
        tools: Mutex<HashMap<(Tool, bool), ProgressBar>>,
    },
    Plain,
}

const TICK: Duration = Duration::from_millis(100);

impl Display {
    fn for_stderr() -> Self {
        if !std::io::stderr().is_terminal() {
            return Display::Plain;
        }
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let step = bars.add(ProgressBar::new_spinner());
        step.set_style(spinner_style("{spinner} {msg}"));
        step.enable_steady_tick(TICK);
        Display::Terminal {
            bars,
            step,
            tools: Mutex::new(HashMap::new()),
        }
    }

    fn show(&self, event: Progress<'_>) {
        match self {
            Display::Plain => eprintln!("fixwright gates: {}", plain_line(event)),
            Display::Terminal { bars, step, tools } => {
                let mut tools = tools.lock().unwrap_or_else(|p| p.into_inner());
                let mut bar = |tool: Tool, base: bool| {
                    tools
                        .entry((tool, base))
                        .or_insert_with(|| {
                            let bar = bars.add(ProgressBar::new_spinner());
                            bar.set_style(spinner_style("{spinner} {prefix:<14} {msg}"));
                            bar.set_prefix(tool_label(tool, base));
                            bar
                        })
                        .clone()
                };
                match event {
                    Progress::Step(text) => step.set_message(format!("{text}...")),
                    Progress::Started { tool, base } => {
                        let bar = bar(tool, base);
                        bar.set_message("running");
                        bar.enable_steady_tick(TICK);
                    }
                    Progress::Skipped { tool, base } => {
                        bar(tool, base).finish_with_message("nothing in scope");
                    }
                    Progress::Finished {
                        tool,
                        base,
                        duration,
                        findings,
                    } => bar(tool, base).finish_with_message(finished(duration, findings)),
                }
            }
        }
    }

    /// Stops the spinners; the tools' final lines stay on screen.
    fn finish(&self) {
        if let Display::Terminal { step, .. } = self {
            step.finish_and_clear();
        }
    }
}

fn spinner_style(template: &str) -> ProgressStyle {
    // The templates are constants; a bad one falls back to the default style.
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn tool_label(tool: Tool, base: bool) -> String {
    if base {
        format!("{tool} (base)")
    } else {
        tool.to_string()
    }
}

fn finished(duration: Duration, findings: Result<usize, &str>) -> String {
    let seconds = duration.as_secs_f64();
    match findings {
        Ok(n) => format!("done in {seconds:.1} s, {n} finding(s)"),
        Err(reason) => format!(
            "could not run after {seconds:.1} s: {}",
            reason.lines().next().unwrap_or_default()
        ),
    }
}

/// One line per event for logs. Pure.
fn plain_line(event: Progress<'_>) -> String {
    match event {
        Progress::Step(text) => format!("{text}..."),
        Progress::Started { tool, base } => format!("{} started", tool_label(tool, base)),
        Progress::Skipped { tool, base } => {
            format!("{}: nothing in scope", tool_label(tool, base))
        }
        Progress::Finished {
            tool,
            base,
            duration,
            findings,
        } => format!(
            "{} {}",
            tool_label(tool, base),
            finished(duration, findings)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_progress_plain_lines_name_the_tool_and_the_outcome() {
        let line = |event| plain_line(event);
        assert_eq!(
            line(Progress::Step("provisioning the Python environment")),
            "provisioning the Python environment..."
        );
        assert_eq!(
            line(Progress::Started {
                tool: Tool::Mypy,
                base: true
            }),
            "mypy (base) started"
        );
        assert_eq!(
            line(Progress::Finished {
                tool: Tool::Ruff,
                base: false,
                duration: Duration::from_millis(420),
                findings: Ok(3)
            }),
            "ruff done in 0.4 s, 3 finding(s)"
        );
        assert_eq!(
            line(Progress::Finished {
                tool: Tool::Pytest,
                base: false,
                duration: Duration::from_secs(600),
                findings: Err("pytest did not finish\nmore")
            }),
            "pytest could not run after 600.0 s: pytest did not finish"
        );
        assert_eq!(
            line(Progress::Skipped {
                tool: Tool::Pytest,
                base: false
            }),
            "pytest: nothing in scope"
        );
    }
}

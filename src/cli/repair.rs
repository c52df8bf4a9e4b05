//! `fixwright repair`: repair one scraper of a local repository.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::repair::job::{self, RepairReport, RepairRequest, StderrProgress};
use crate::repair::report;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Where Fixwright keeps its store, Python environments and worktrees.
#[derive(Clone, Debug, Args)]
pub struct DataDirArg {
    /// Data directory (default: the platform's data directory for fixwright).
    #[arg(long, env = "FIXWRIGHT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DataDirArg {
    /// The given directory, else the platform's (`~/.local/share/fixwright`).
    pub fn resolve(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            directories::ProjectDirs::from("", "", "fixwright")
                .map(|dirs| dirs.data_dir().to_path_buf())
                .unwrap_or_else(|| std::env::temp_dir().join("fixwright-data"))
        })
    }
}

/// Diagnose, propose, prove and commit a fix for one scraper of the git
/// repository at PATH, on branch fixwright/<scraper>/<attempt>.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The repository's top directory (no search for an enclosing repository).
    #[arg(long, value_name = "PATH")]
    pub repo: PathBuf,
    /// The scraper: a Scrapy spider's name or a module's file stem.
    #[arg(long, value_name = "NAME")]
    pub scraper: String,
    /// The failing run's log (traceback and scraper log lines).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// The response the scraper failed on (HTML or JSON).
    #[arg(long, value_name = "FILE")]
    pub response: Option<PathBuf>,
    /// The URL the response was fetched from.
    #[arg(long, value_name = "URL")]
    pub response_url: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub data: DataDirArg,
}

/// Runs the job and prints its report. Exit code 0 when a fix was committed,
/// 1 when none was (the report says why), 2 on bad input or a failure.
pub async fn run(args: RepairArgs) -> ExitCode {
    let request = RepairRequest {
        repo: args.repo,
        scraper: args.scraper,
        log: args.log,
        response: args.response,
        response_url: args.response_url,
        data_dir: args.data.resolve(),
        env_cache: None,
    };
    match job::run(&request, &StderrProgress).await {
        Ok(report) => print_report(&report, args.format),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// Prints `report` and returns the job's exit code.
pub fn print_report(report: &RepairReport, format: Format) -> ExitCode {
    match format {
        Format::Text => print!("{}", report::render_text(report)),
        Format::Json => match serde_json::to_string_pretty(report) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("error: cannot serialise the report: {error}");
                return ExitCode::from(2);
            }
        },
    }
    if report.fixed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

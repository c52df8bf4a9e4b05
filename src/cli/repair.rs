//! `fixwright repair`: repair one scraper of a local repository.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::config::{ConfigLayer, RepairMode};
use crate::policy::Mode;
use crate::repair::job::{self, RepairReport, RepairRequest, StderrProgress};
use crate::repair::{report, steps};

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

/// Fixwright's own repair switch, for the jobs that run a repair.
#[derive(Clone, Debug, Args)]
pub struct ModeArg {
    /// Global switch: on | dry-run | off. The stricter of it and the
    /// repository's `mode:` in .github/fixwright.yml is in force.
    #[arg(long, env = "FIXWRIGHT_MODE", value_name = "MODE")]
    pub mode: Option<String>,
    /// Fixwright's TOML configuration; its `mode` applies when --mode and
    /// FIXWRIGHT_MODE are not given.
    #[arg(long = "config", env = "FIXWRIGHT_CONFIG", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
}

impl ModeArg {
    /// The switch in force: the flag or environment variable, else the
    /// configuration file's `mode`, else `on`. A bad value is an error that
    /// names where it came from.
    pub fn resolve(&self) -> Result<Mode, String> {
        let (text, origin) = match (&self.mode, &self.config_file) {
            (Some(mode), _) => (Some(mode.clone()), "--mode / FIXWRIGHT_MODE".to_owned()),
            (None, Some(path)) => {
                let layer = ConfigLayer::from_file(path).map_err(|e| e.to_string())?;
                (layer.mode, format!("`mode` in {}", path.display()))
            }
            (None, None) => (None, String::new()),
        };
        let global = match text {
            None => RepairMode::default(),
            Some(text) => text
                .parse::<RepairMode>()
                .map_err(|e| format!("invalid {origin}: {e}"))?,
        };
        Ok(steps::global_mode(global))
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
    #[command(flatten)]
    pub mode: ModeArg,
}

/// Runs the job and prints its report. Exit code 0 when a fix was committed,
/// 1 when none was (the report says why), 2 on bad input or a failure.
pub async fn run(args: RepairArgs) -> ExitCode {
    let mode = match args.mode.resolve() {
        Ok(mode) => mode,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let request = RepairRequest {
        repo: args.repo,
        scraper: args.scraper,
        log: args.log,
        response: args.response,
        response_url: args.response_url,
        data_dir: args.data.resolve(),
        env_cache: None,
        mode,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_flag_wins_over_the_file_and_bad_values_name_their_source() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
        let file = dir.path().join("fixwright.toml");
        std::fs::write(&file, "mode = \"off\"\n").unwrap_or_else(|e| panic!("{e}"));
        let arg = |mode: Option<&str>, config: Option<PathBuf>| ModeArg {
            mode: mode.map(str::to_owned),
            config_file: config,
        };
        assert_eq!(arg(None, None).resolve(), Ok(Mode::On));
        assert_eq!(arg(None, Some(file.clone())).resolve(), Ok(Mode::Off));
        assert_eq!(
            arg(Some("dry-run"), Some(file.clone())).resolve(),
            Ok(Mode::DryRun)
        );
        let bad = arg(Some("maybe"), None).resolve().err().unwrap_or_default();
        assert!(
            bad.contains("FIXWRIGHT_MODE") && bad.contains("maybe"),
            "{bad}"
        );
        std::fs::write(&file, "mode = \"sometimes\"\n").unwrap_or_else(|e| panic!("{e}"));
        let bad = arg(None, Some(file.clone()))
            .resolve()
            .err()
            .unwrap_or_default();
        assert!(bad.contains("fixwright.toml"), "{bad}");
    }
}

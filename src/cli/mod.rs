//! The `fixwright` command line: one subcommand per job.

pub mod bench;
pub mod calibrate;
pub mod config;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "fixwright",
    version,
    about = "Repairs broken Python scrapers autonomously"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Repository policy (.github/fixwright.yml).
    Config(config::ConfigArgs),
    /// Fit confidence calibration from recorded outcomes.
    Calibrate(calibrate::CalibrateArgs),
}

/// Parses the command line, runs the chosen job and maps its result to an exit code.
pub async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Bench(cmd) => bench::run(cmd),
        Command::Config(args) => config::run(args),
        Command::Calibrate(args) => calibrate::run(args).await,
    }
}

//! The `fixwright` command line: one subcommand per job.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod bench;

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
}

/// Parses the command line, runs the chosen job and maps its result to an exit code.
pub async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Bench(cmd) => bench::run(cmd),
    }
}

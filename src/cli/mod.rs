//! The `fixwright` command line: one subcommand per job.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod gates;
pub mod setup;

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

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the GitHub App from its manifest and write its credentials.
    Setup(setup::SetupArgs),
    /// Run ruff, mypy and pytest on a scraper repository (exit 0 pass, 1 fail, 2 error).
    Gates(gates::GatesArgs),
}

/// Parses the command line, runs the chosen job and maps its result to an exit code.
pub async fn main() -> ExitCode {
    let result: Result<(), Box<dyn std::error::Error>> = match Cli::parse().command {
        Command::Gates(args) => return gates::run(args).await,
        Command::Setup(args) => setup::run(args).await.map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

//! The `fixwright` command line: one subcommand per job.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod bench;
pub mod calibrate;
pub mod config;
pub mod demo;
pub mod gates;
pub mod inbox;
pub mod repair;
pub mod serve;
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Receive, verify and store GitHub webhooks, and process them.
    Serve(serve::ServeArgs),
    /// Inspect and retry stored deliveries.
    Inbox(inbox::InboxArgs),
    /// Repair one scraper of a local git repository.
    Repair(repair::RepairArgs),
    /// Heal a scraper of the built-in example repository in a temporary copy.
    Demo(demo::DemoArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Repository policy (.github/fixwright.yml).
    Config(config::ConfigArgs),
    /// Fit confidence calibration from recorded outcomes.
    Calibrate(calibrate::CalibrateArgs),
    /// Create the GitHub App from its manifest and write its credentials.
    Setup(Box<setup::SetupArgs>),
    /// Run ruff, mypy and pytest on a scraper repository (exit 0 pass, 1 fail, 2 error).
    Gates(gates::GatesArgs),
}

/// Parses the command line, runs the chosen job and maps its result to an exit code.
pub async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => report(serve::run(args).await),
        Command::Inbox(args) => report(inbox::run(args).await),
        Command::Repair(args) => repair::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Bench(cmd) => bench::run(cmd),
        Command::Config(args) => config::run(args),
        Command::Calibrate(args) => calibrate::run(args).await,
        Command::Setup(args) => report(setup::run(*args).await),
        Command::Gates(args) => gates::run(args).await,
    }
}

/// Prints a failed job's error and maps the outcome to an exit code.
fn report<E: std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

//! The `fixwright` command line: one subcommand per job.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod inbox;
pub mod serve;

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
}

/// Parses the command line, runs the chosen job and maps its result to an exit code.
pub async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => exit_code(serve::run(args).await),
        Command::Inbox(args) => exit_code(inbox::run(args).await),
    }
}

/// Prints an error's message (it names the bad field, file or value) and fails.
fn exit_code<E: std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

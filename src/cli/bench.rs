//! `fixwright bench heal`: the healer benchmark over every corpus case.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use crate::heal::bench::{self, Healers, JsonHealer};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Runs the built-in healer over every case and scores it by the corpus rules.
    Heal(HealArgs),
}

#[derive(Debug, Args)]
pub struct HealArgs {
    /// The shared corpus (a folder holding `cases/`).
    #[arg(long, default_value = "../shared/corpus")]
    pub corpus: PathBuf,
    /// This repository's own cases, in the corpus format.
    #[arg(long, default_value = "benches/heal-cases")]
    pub cases: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also list every case's answer, score and time.
    #[arg(long)]
    pub per_case: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Runs a `bench` subcommand.
pub fn run(cmd: BenchCommand) -> ExitCode {
    match cmd {
        BenchCommand::Heal(args) => match heal(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn heal(args: &HealArgs) -> Result<(), bench::BenchError> {
    let mut cases = bench::load_cases(&args.corpus)?;
    if args.cases.is_dir() {
        cases.extend(bench::load_cases(&args.cases)?);
    }
    let healers = Healers {
        json: &JsonHealer,
        html: None,
    };
    let results: Vec<_> = cases.iter().map(|c| bench::run_case(&healers, c)).collect();
    let report = bench::report(&results);
    match args.format {
        Format::Text => {
            if args.per_case {
                for r in &results {
                    println!(
                        "{:<48} {:?} score {:.3} {} :: {}",
                        r.id,
                        r.verdict,
                        r.score,
                        r.selector.as_deref().unwrap_or("-"),
                        r.reason.as_deref().unwrap_or("")
                    );
                }
            }
            print!("{}", bench::render_table(&report));
        }
        Format::Json => {
            let out = serde_json::json!({ "report": report, "cases": results });
            println!("{out}");
        }
    }
    Ok(())
}

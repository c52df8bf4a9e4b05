//! `fixwright bench heal`: the healer benchmark over every corpus case.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use crate::heal::bench::{self, Healers, HtmlHealer, JsonHealer};

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
    /// Write the calibration fitted on the fit half to this file (the prior a
    /// new installation starts from: data/calibration/prior.json).
    #[arg(long, num_args = 0..=1, default_missing_value = "data/calibration/prior.json")]
    pub write_prior: Option<PathBuf>,
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

/// Why the benchmark could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum BenchCliError {
    #[error(transparent)]
    Corpus(#[from] bench::BenchError),
    #[error("cannot fit the calibration to write as the prior: {0}")]
    Calibration(String),
    #[error("cannot write the prior to {path}: {source}")]
    WritePrior {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn heal(args: &HealArgs) -> Result<(), BenchCliError> {
    let mut cases = bench::load_cases(&args.corpus)?;
    if args.cases.is_dir() {
        cases.extend(bench::load_cases(&args.cases)?);
    }
    let healers = Healers {
        json: &JsonHealer,
        html: Some(&HtmlHealer),
    };
    let results: Vec<_> = cases.iter().map(|c| bench::run_case(&healers, c)).collect();
    let report = bench::report(&results);
    // A corpus too small to fit on still gets its raw report.
    let calibrated = bench::calibrate(&results);
    if let Some(path) = &args.write_prior {
        let calibration = match &calibrated {
            Ok(c) => c.calibration.clone().with_source(Some(format!(
                "fixwright bench heal: isotonic fit (90% Wilson lower bounds) on the healer's {} proposals over the fit half of {} cases (split by case-id hash)",
                c.fitted_on,
                results.len()
            ))),
            Err(e) => return Err(BenchCliError::Calibration(e.to_string())),
        };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let body = serde_json::to_string_pretty(&calibration).map_err(std::io::Error::other)?;
            std::fs::write(path, body + "\n")
        };
        write().map_err(|source| BenchCliError::WritePrior {
            path: path.clone(),
            source,
        })?;
    }
    let held_out = calibrated.as_ref().ok().map(|c| bench::report(&c.held_out));
    let calibration = calibrated.as_ref().ok().map(|c| &c.calibration);
    let fitted_on = calibrated.as_ref().map_or(0, |c| c.fitted_on);
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
            println!("every case, raw healer scores:");
            print!("{}", bench::render_table(&report));
            match &calibrated {
                Ok(c) => {
                    println!(
                        "\nheld-out half ({} cases), scores calibrated on the other half ({} proposals):",
                        c.held_out.len(),
                        c.fitted_on
                    );
                    print!("{}", bench::render_table(&bench::report(&c.held_out)));
                }
                Err(e) => println!("\nno calibration fitted: {e}"),
            }
        }
        Format::Json => {
            let out = serde_json::json!({
                "report": report,
                "held_out": held_out,
                "calibration": calibration,
                "calibration_fitted_on": fitted_on,
                "cases": results,
            });
            println!("{out}");
        }
    }
    Ok(())
}

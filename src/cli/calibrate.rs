//! `fixwright calibrate`: fits isotonic calibration from the store's recorded
//! outcomes (valued at lower bounds, as the calibration in force is) and
//! prints the reliability table before and after.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::confidence::calibration::{IsotonicCalibration, Outcome, ReliabilityTable};
use crate::confidence::outcomes;
use crate::config::ConfigArgs;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The store holding recorded outcomes is the one `serve` uses: the configured
    /// `database_url`, else SQLite in the data directory.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Bins of the reliability table.
    #[arg(long, default_value_t = 10)]
    pub bins: usize,
    /// Write the fitted calibration (JSON) here.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

pub async fn run(args: CalibrateArgs) -> ExitCode {
    let config = match args.config.load() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let store = match Store::open(&config.database_url).await {
        Ok(store) => store,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let recorded = match outcomes::load(&store).await {
        Ok(recorded) => recorded,
        Err(err) => {
            eprintln!("error: cannot read recorded outcomes: {err}");
            return ExitCode::FAILURE;
        }
    };
    match report(&recorded, args.bins) {
        Ok((text, fitted)) => {
            print!("{text}");
            if let (Some(path), Some(fitted)) = (args.output, fitted) {
                let json = match serde_json::to_string_pretty(&fitted) {
                    Ok(json) => json,
                    Err(err) => {
                        eprintln!("error: cannot serialise the calibration: {err}");
                        return ExitCode::FAILURE;
                    }
                };
                if let Err(err) = std::fs::write(&path, json + "\n") {
                    eprintln!("error: cannot write {}: {err}", path.display());
                    return ExitCode::FAILURE;
                }
                println!("calibration written to {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The printed report, and the fitted calibration when there were outcomes.
pub fn report(
    recorded: &[Outcome],
    bins: usize,
) -> Result<(String, Option<IsotonicCalibration>), crate::confidence::calibration::CalibrationError>
{
    if recorded.is_empty() {
        let prior = IsotonicCalibration::prior()?;
        return Ok((
            format!(
                "no outcomes recorded yet: the shipped prior stays in use ({})\n",
                prior.source().unwrap_or("data/calibration/prior.json")
            ),
            None,
        ));
    }
    let fitted = IsotonicCalibration::fit_lower_bound(recorded)?;
    let successes = recorded.iter().filter(|o| o.success).count();
    let text = format!(
        "{} outcomes, {} succeeded; {} calibration blocks\n\nraw scores:\n{}\n\ncalibrated (in-sample):\n{}\n",
        recorded.len(),
        successes,
        fitted.blocks().len(),
        ReliabilityTable::new(recorded, bins),
        fitted.reliability_table(recorded, bins),
    );
    Ok((text, Some(fitted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibrate_report_on_a_known_outcome_set() {
        let recorded: Vec<Outcome> = [
            (0.1, false),
            (0.2, true),
            (0.3, false),
            (0.4, true),
            (0.5, true),
            (0.6, false),
            (0.7, true),
            (0.8, true),
            (0.97, true),
            (0.99, true),
        ]
        .iter()
        .map(|&(s, ok)| Outcome::new(s, ok))
        .collect();
        let (text, fitted) = report(&recorded, 5).unwrap();
        assert!(fitted.is_some());
        insta::assert_snapshot!(text);
        let (text, fitted) = report(&[], 5).unwrap();
        assert!(fitted.is_none());
        assert!(text.starts_with("no outcomes recorded yet"), "{text}");
    }
}

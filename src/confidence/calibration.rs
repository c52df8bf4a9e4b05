//! Isotonic calibration: maps raw confidence scores to the success rate that
//! scores like them actually had, fitted by pool-adjacent-violators (PAV).
//!
//! A fitted [`IsotonicCalibration`] is a non-decreasing step function over
//! score blocks, linearly interpolated between blocks, serialisable as JSON so
//! a prior can ship in the repository and an installation can store its own.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One recorded outcome: the raw score a proposal had and whether the fix held
/// (merged and verified, as opposed to rejected, reverted or failed).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Raw (uncalibrated) score in [0, 1].
    pub score: f64,
    /// Whether the fix turned out to be correct.
    pub success: bool,
}

impl Outcome {
    pub fn new(score: f64, success: bool) -> Self {
        Self { score, success }
    }
}

/// Why a calibration could not be fitted or loaded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalibrationError {
    #[error("no outcomes to fit a calibration from")]
    NoOutcomes,
    #[error("outcome {index} has score {score}, expected a number in [0, 1]")]
    ScoreOutOfRange { index: usize, score: f64 },
    #[error("calibration block {index}: {reason}")]
    InvalidBlock { index: usize, reason: String },
    #[error("calibration has no blocks")]
    NoBlocks,
    #[error("data/calibration/prior.json is invalid: {0}")]
    Prior(String),
    #[error("unsupported calibration version {0}, expected {CALIBRATION_VERSION}")]
    Version(u32),
}

/// The format version written into serialised calibrations.
pub const CALIBRATION_VERSION: u32 = 1;

/// A run of raw scores `[lo, hi]` that all calibrate to `value`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Lowest raw score in the block.
    pub lo: f64,
    /// Highest raw score in the block.
    pub hi: f64,
    /// Observed success rate of the block's outcomes: the calibrated score.
    pub value: f64,
    /// How many outcomes the block pooled.
    pub weight: f64,
}

/// A fitted isotonic calibration.
///
/// Callers may rely on: `apply` is non-decreasing in its argument, returns a
/// value in [0, 1], and for a raw score inside a block returns that block's
/// observed success rate. Between two blocks it interpolates linearly; below
/// the first block it returns the first block's value, above the last the
/// last block's value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCalibration", into = "RawCalibration")]
pub struct IsotonicCalibration {
    blocks: Vec<Block>,
    source: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalibration {
    version: u32,
    /// What the calibration was fitted on, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    blocks: Vec<Block>,
}

/// The prior shipped in the repository, used until an installation has
/// outcomes of its own.
const PRIOR: &str = include_str!("../../data/calibration/prior.json");

impl TryFrom<RawCalibration> for IsotonicCalibration {
    type Error = CalibrationError;

    fn try_from(raw: RawCalibration) -> Result<Self, Self::Error> {
        if raw.version != CALIBRATION_VERSION {
            return Err(CalibrationError::Version(raw.version));
        }
        Ok(Self::from_blocks(raw.blocks)?.with_source(raw.source))
    }
}

impl From<IsotonicCalibration> for RawCalibration {
    fn from(calibration: IsotonicCalibration) -> Self {
        RawCalibration {
            version: CALIBRATION_VERSION,
            source: calibration.source,
            blocks: calibration.blocks,
        }
    }
}

fn in_unit(x: f64) -> bool {
    (0.0..=1.0).contains(&x)
}

impl IsotonicCalibration {
    /// Fits the calibration by pool-adjacent-violators: outcomes sorted by
    /// score, equal scores pooled first, then adjacent blocks merged while a
    /// block's success rate exceeds the next one's.
    pub fn fit(outcomes: &[Outcome]) -> Result<Self, CalibrationError> {
        if outcomes.is_empty() {
            return Err(CalibrationError::NoOutcomes);
        }
        for (index, outcome) in outcomes.iter().enumerate() {
            if !in_unit(outcome.score) {
                return Err(CalibrationError::ScoreOutOfRange {
                    index,
                    score: outcome.score,
                });
            }
        }
        let mut sorted: Vec<Outcome> = outcomes.to_vec();
        sorted.sort_by(|a, b| a.score.total_cmp(&b.score));

        // Blocks carry the sum of successes so pooling is exact.
        let mut stack: Vec<(Block, f64)> = Vec::new();
        for outcome in sorted {
            let hit = if outcome.success { 1.0 } else { 0.0 };
            match stack.last_mut() {
                // Ties pool unconditionally: one score cannot map to two values.
                Some((block, sum)) if block.hi == outcome.score => {
                    *sum += hit;
                    block.weight += 1.0;
                    block.value = *sum / block.weight;
                }
                _ => stack.push((
                    Block {
                        lo: outcome.score,
                        hi: outcome.score,
                        value: hit,
                        weight: 1.0,
                    },
                    hit,
                )),
            }
            while let [.., (prev, prev_sum), (last, last_sum)] = stack.as_mut_slice() {
                if prev.value <= last.value {
                    break;
                }
                *prev_sum += *last_sum;
                prev.weight += last.weight;
                prev.hi = last.hi;
                prev.value = *prev_sum / prev.weight;
                stack.pop();
            }
        }
        Ok(Self {
            blocks: stack.into_iter().map(|(block, _)| block).collect(),
            source: None,
        })
    }

    /// Builds a calibration from explicit blocks, checking that they are
    /// ordered, non-overlapping, non-decreasing and inside [0, 1].
    pub fn from_blocks(blocks: Vec<Block>) -> Result<Self, CalibrationError> {
        if blocks.is_empty() {
            return Err(CalibrationError::NoBlocks);
        }
        let invalid = |index: usize, reason: &str| CalibrationError::InvalidBlock {
            index,
            reason: reason.to_owned(),
        };
        for (index, block) in blocks.iter().enumerate() {
            if !(in_unit(block.lo) && in_unit(block.hi) && in_unit(block.value)) {
                return Err(invalid(index, "lo, hi and value must lie in [0, 1]"));
            }
            if block.lo > block.hi {
                return Err(invalid(index, "lo is greater than hi"));
            }
            if !(block.weight.is_finite() && block.weight > 0.0) {
                return Err(invalid(index, "weight must be positive"));
            }
            if index > 0 {
                let prev = &blocks[index - 1];
                if block.lo <= prev.hi {
                    return Err(invalid(index, "overlaps or precedes the previous block"));
                }
                if block.value < prev.value {
                    return Err(invalid(index, "value is lower than the previous block's"));
                }
            }
        }
        Ok(Self {
            blocks,
            source: None,
        })
    }

    /// The calibration shipped in `data/calibration/prior.json`.
    pub fn prior() -> Result<Self, CalibrationError> {
        serde_json::from_str(PRIOR).map_err(|err| CalibrationError::Prior(err.to_string()))
    }

    /// Records what the calibration was fitted on (kept in its JSON form).
    pub fn with_source(mut self, source: Option<String>) -> Self {
        self.source = source;
        self
    }

    /// What the calibration was fitted on, when recorded.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The fitted blocks, in score order.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The calibrated score for a raw score. A NaN raw score calibrates to
    /// the lowest value (never to a confident one).
    pub fn apply(&self, score: f64) -> f64 {
        let (Some(first), Some(last)) = (self.blocks.first(), self.blocks.last()) else {
            return 0.0;
        };
        if score.is_nan() || score <= first.hi {
            return first.value;
        }
        if score >= last.lo {
            return last.value;
        }
        // First block whose upper end reaches the score.
        let i = self.blocks.partition_point(|block| block.hi < score);
        let block = &self.blocks[i];
        if score >= block.lo {
            return block.value;
        }
        let prev = &self.blocks[i - 1];
        let t = (score - prev.hi) / (block.lo - prev.hi);
        prev.value + t * (block.value - prev.value)
    }

    /// The reliability table of this calibration on `outcomes`: their scores
    /// are calibrated, then binned into `bins` equal-width bins over [0, 1].
    pub fn reliability_table(&self, outcomes: &[Outcome], bins: usize) -> ReliabilityTable {
        let calibrated: Vec<Outcome> = outcomes
            .iter()
            .map(|o| Outcome::new(self.apply(o.score), o.success))
            .collect();
        ReliabilityTable::new(&calibrated, bins)
    }
}

/// One bin of a reliability table.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge (inclusive).
    pub lo: f64,
    /// Upper edge (exclusive, except for the last bin which includes 1.0).
    pub hi: f64,
    /// Outcomes whose predicted score fell in the bin.
    pub count: usize,
    /// Mean predicted score of those outcomes (0 when empty).
    pub mean_predicted: f64,
    /// Fraction of those outcomes that succeeded (0 when empty).
    pub observed_rate: f64,
}

/// How well predicted scores match observed success rates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityTable {
    pub bins: Vec<ReliabilityBin>,
    /// Expected calibration error: the count-weighted mean of
    /// |mean predicted − observed rate| over the bins.
    pub ece: f64,
    /// Number of outcomes tabulated.
    pub total: usize,
}

impl ReliabilityTable {
    /// Tabulates outcomes whose `score` is already the predicted probability.
    /// Scores outside [0, 1] are clamped into the edge bins; `bins` of 0 is
    /// treated as 1.
    pub fn new(predictions: &[Outcome], bins: usize) -> Self {
        let n_bins = bins.max(1);
        let mut sums = vec![(0usize, 0.0f64, 0usize); n_bins];
        for p in predictions {
            let x = if p.score.is_nan() {
                0.0
            } else {
                p.score.clamp(0.0, 1.0)
            };
            // Precision: `as` truncates toward zero, the bin index we want.
            let i = ((x * n_bins as f64) as usize).min(n_bins - 1);
            sums[i].0 += 1;
            sums[i].1 += x;
            sums[i].2 += usize::from(p.success);
        }
        let total = predictions.len();
        let mut ece = 0.0;
        let bins = sums
            .into_iter()
            .enumerate()
            .map(|(i, (count, sum, hits))| {
                let (mean_predicted, observed_rate) = if count == 0 {
                    (0.0, 0.0)
                } else {
                    (sum / count as f64, hits as f64 / count as f64)
                };
                if total > 0 {
                    ece += count as f64 / total as f64 * (mean_predicted - observed_rate).abs();
                }
                ReliabilityBin {
                    lo: i as f64 / n_bins as f64,
                    hi: (i + 1) as f64 / n_bins as f64,
                    count,
                    mean_predicted,
                    observed_rate,
                }
            })
            .collect();
        Self { bins, ece, total }
    }
}

impl fmt::Display for ReliabilityTable {
    /// A fixed-width table, one line per bin, then the ECE.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "bin          count  mean predicted  observed rate")?;
        for bin in &self.bins {
            let close = if bin.hi >= 1.0 { ']' } else { ')' };
            if bin.count == 0 {
                writeln!(
                    f,
                    "[{:.2}, {:.2}{close} {:>6}  {:>14}  {:>13}",
                    bin.lo, bin.hi, 0, "-", "-"
                )?;
            } else {
                writeln!(
                    f,
                    "[{:.2}, {:.2}{close} {:>6}  {:>14.3}  {:>13.3}",
                    bin.lo, bin.hi, bin.count, bin.mean_predicted, bin.observed_rate
                )?;
            }
        }
        write!(f, "outcomes: {}  ECE: {:.4}", self.total, self.ece)
    }
}

#[cfg(test)]
mod tests;

//! A success rate that is honest about small numbers.

use serde::{Deserialize, Serialize};

/// Successes and failures of a strategy on an error class, read through a
/// Beta(1, 1) prior (Laplace's rule of succession): with no data the
/// estimate is 0.5, and one success gives 2/3, never 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    pub successes: u64,
    pub failures: u64,
}

impl Rate {
    /// The prior's pseudo-counts of successes and failures.
    pub const PRIOR_SUCCESSES: f64 = 1.0;
    pub const PRIOR_FAILURES: f64 = 1.0;

    pub fn new(successes: u64, failures: u64) -> Self {
        Self {
            successes,
            failures,
        }
    }

    pub fn trials(&self) -> u64 {
        self.successes + self.failures
    }

    /// The posterior mean, strictly between 0 and 1.
    pub fn estimate(&self) -> f64 {
        (self.successes as f64 + Self::PRIOR_SUCCESSES)
            / (self.trials() as f64 + Self::PRIOR_SUCCESSES + Self::PRIOR_FAILURES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_strategy_is_neither_hopeless_nor_certain() {
        assert_eq!(Rate::new(0, 0).estimate(), 0.5);
        assert!((Rate::new(1, 0).estimate() - 2.0 / 3.0).abs() < 1e-12);
        assert!((Rate::new(0, 1).estimate() - 1.0 / 3.0).abs() < 1e-12);
        let many = Rate::new(98, 0).estimate();
        assert!(many > 0.98 && many < 1.0, "{many}");
    }
}

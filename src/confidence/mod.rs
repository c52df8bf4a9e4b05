//! Confidence: how sure Fixwright is that a proposal fixes the scraper, built
//! from independent evidence (never the agent's word alone), calibrated
//! against recorded outcomes, and mapped to a band.
//!
//! - [`score`]: evidence → raw score with its breakdown → calibrated → band.
//! - [`calibration`]: isotonic calibration and reliability tables.
//! - [`outcomes`]: the recorded outcomes calibration is fitted from.

pub mod band;
pub mod calibration;
pub mod outcomes;
pub mod score;

pub use band::{Band, Replay};
pub use score::{Confidence, Evidence, Rate, assess};

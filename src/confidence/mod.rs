//! Confidence: how sure Fixwright is that a proposal fixes the scraper, built
//! from independent evidence (never the agent's word alone), calibrated
//! against recorded outcomes, and mapped to a band.

pub mod calibration;

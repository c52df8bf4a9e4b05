//! The built-in healer: repairs selector drift in HTML and key drift in JSON
//! without a model, by comparing the scraper's saved fixture with the new
//! response.
//!
//! Shared vocabulary for the HTML and JSON halves and for the benchmark.

pub mod html;

use serde::{Deserialize, Serialize};

/// The language a selector is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectorKind {
    Css,
    Xpath,
    JsonPath,
}

/// A selector as the scraper wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    pub kind: SelectorKind,
    pub expr: String,
}

/// What the healer concluded for one selector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HealOutcome {
    /// The selector still extracts what it extracted on the old page.
    Unchanged,
    /// A new selector that extracts the same data from the new page.
    Healed(Heal),
    /// No fix is offered, with the reason (for example: the data is gone).
    Refused { reason: String, score: f64 },
}

/// A proposed replacement selector and the evidence for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heal {
    pub selector: Selector,
    /// The healer's own score in [0, 1], before calibration.
    pub score: f64,
    /// What the new selector extracts from the new page.
    pub values: Vec<String>,
    /// One line on why this selector was chosen.
    pub rationale: String,
}

pub mod bench;
pub mod json;
pub mod source;

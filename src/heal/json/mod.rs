//! JSON key drift: the path language scrapers read responses with, and the
//! healer that finds where a renamed or moved key went.

mod heal;
pub mod path;
mod similarity;

pub use heal::{heal, heal_documents, heal_documents_with};
pub use path::{JsonPath, PathError, Step};

use crate::heal::Selector;

/// What `selector` extracts from the JSON document `body`, Python-style.
pub fn extract(body: &str, selector: &Selector) -> Result<Vec<String>, JsonError> {
    let path: JsonPath = selector.expr.parse()?;
    let doc: serde_json::Value = serde_json::from_str(body).map_err(JsonError::Body)?;
    Ok(path.extract(&doc))
}

/// Why a JSON selector could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("response body is not JSON: {0}")]
    Body(serde_json::Error),
}

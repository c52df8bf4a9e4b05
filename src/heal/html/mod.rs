//! Selector drift in HTML: evaluate CSS and XPath selectors exactly as
//! Scrapy/parsel do, and heal a selector that broke when a page changed.
//!
//! `dom` parses pages with libxml2 and evaluates XPath; `css` translates CSS to
//! XPath as parsel does; `tokens` finds the editable parts of a selector;
//! `features` describes nodes and compares them; `search` proposes edited
//! selectors, verifies and scores them.

pub mod css;
mod dom;
mod features;
mod search;
mod tokens;

use super::{HealOutcome, Selector, SelectorKind};

pub use search::HealOptions;

/// Why a selector could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error("the {page} page could not be parsed as HTML: {reason}")]
    Parse { page: &'static str, reason: String },
    #[error("selector `{selector}` is not valid: {reason}")]
    BadSelector { selector: String, reason: String },
    #[error("selector `{selector}` is a {kind:?} selector, not CSS or XPath")]
    NotHtml {
        selector: String,
        kind: SelectorKind,
    },
}

/// The XPath that parsel evaluates for `selector` (CSS is translated; XPath is
/// returned unchanged).
pub fn to_xpath(selector: &Selector) -> Result<String, HtmlError> {
    match selector.kind {
        SelectorKind::Css => css::css_to_xpath(&selector.expr),
        SelectorKind::Xpath => Ok(selector.expr.clone()),
        kind => Err(HtmlError::NotHtml {
            selector: selector.expr.clone(),
            kind,
        }),
    }
}

/// Extracts values from `html` as a parsel-based scraper would: for each match
/// in document order, an element gives its full `string()`, a text or
/// attribute node its string; whitespace runs collapse to one space, values
/// are stripped, and empty values are dropped.
pub fn extract(html: &str, selector: &Selector) -> Result<Vec<String>, HtmlError> {
    let xpath = to_xpath(selector)?;
    let page = dom::Page::parse(html, "given")?;
    Ok(page
        .eval(&xpath)?
        .into_iter()
        .filter_map(|h| h.value)
        .collect())
}

/// Heals `selector`, written against `old_html`, so that it selects the same
/// nodes in `new_html`. A `Healed` answer has been verified by evaluating it on
/// the new page; its score is in [0, 1] and low scores mean "do not trust".
pub fn heal(old_html: &str, new_html: &str, selector: &Selector) -> HealOutcome {
    heal_with(old_html, new_html, selector, &HealOptions::default())
}

/// [`heal`] with options (for example renames remembered from earlier fixes).
pub fn heal_with(
    old_html: &str,
    new_html: &str,
    selector: &Selector,
    options: &HealOptions,
) -> HealOutcome {
    search::heal(old_html, new_html, selector, options)
}

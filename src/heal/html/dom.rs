//! A parsed page and XPath evaluation on it, with parsel's parser settings and
//! the corpus's extraction rule.

use libxml::parser::{Parser, ParserOptions};
use libxml::readonly::RoNode;
use libxml::tree::{Document, NodeType};
use libxml::xpath::Context;

use super::HtmlError;

/// What one match of a selector is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HitKind {
    Element,
    Text,
    Attr,
    /// A comment, the document node or a scalar XPath result.
    Other,
}

/// One match of a selector, in document order.
#[derive(Clone, Debug)]
pub struct Hit {
    pub kind: HitKind,
    /// The node itself (None for a scalar result).
    pub node: Option<RoNode>,
    /// The element the match belongs to: itself, or the parent of a text or
    /// attribute node.
    pub anchor: Option<RoNode>,
    /// The extracted value after whitespace normalisation (None when empty).
    pub value: Option<String>,
}

/// A page parsed as parsel parses it: libxml2's HTML parser in recover mode,
/// UTF-8, no network, blank text kept, implied `html`/`body` added, and no
/// `tbody` inserted.
pub struct Page {
    /// Owns the tree: the context and every node handed out point into it.
    _doc: Document,
    ctx: Context,
    root: RoNode,
}

/// Collapses whitespace runs to one space and strips; None when nothing is left.
pub fn normalize(s: &str) -> Option<String> {
    let out = s.split_whitespace().collect::<Vec<_>>().join(" ");
    (!out.is_empty()).then_some(out)
}

impl Page {
    pub fn parse(html: &str, which: &'static str) -> Result<Page, HtmlError> {
        // parsel strips the text and drops NULs before handing it to lxml.
        let body = html.trim().replace('\0', "");
        let body = if body.is_empty() {
            "<html/>".to_string()
        } else {
            body
        };
        let options = ParserOptions {
            recover: true,
            no_net: true,
            compact: true,
            no_error: true,
            no_warning: true,
            encoding: Some("utf-8"),
            ..ParserOptions::default()
        };
        let doc = Parser::default_html()
            .parse_string_with_options(body.as_bytes(), options)
            .map_err(|e| HtmlError::Parse {
                page: which,
                reason: format!("{e:?}"),
            })?;
        let root = doc.get_root_readonly().ok_or(HtmlError::Parse {
            page: which,
            reason: "no root element".into(),
        })?;
        let ctx = Context::new(&doc).map_err(|()| HtmlError::Parse {
            page: which,
            reason: "cannot create an XPath context".into(),
        })?;
        // SAFETY: the context pointer is valid while `ctx` lives; libxml2
        // calls this handler for XPath errors of this context only, instead of
        // printing them to stderr.
        unsafe {
            (*ctx.as_ptr()).error = Some(record_xpath_error);
        }
        Ok(Page {
            _doc: doc,
            ctx,
            root,
        })
    }

    /// The root element (`html`), the context node parsel evaluates from.
    pub fn root(&self) -> RoNode {
        self.root
    }

    /// Evaluates an XPath 1.0 expression from the root element.
    pub fn eval(&self, xpath: &str) -> Result<Vec<Hit>, HtmlError> {
        LAST_XPATH_ERROR.with(|l| l.borrow_mut().take());
        let obj = self
            .ctx
            .node_evaluate_readonly_checked(xpath, self.root)
            .map_err(|e| HtmlError::BadSelector {
                selector: xpath.to_string(),
                reason: LAST_XPATH_ERROR
                    .with(|l| l.borrow_mut().take())
                    .or(e.message)
                    .unwrap_or_else(|| "invalid XPath expression".into())
                    .trim()
                    .to_string(),
            })?;
        // SAFETY: `obj.ptr` is a non-null object libxml2 just returned (the
        // checked evaluation errors on null) and lives until `obj` drops.
        let (ty, scalar) = unsafe {
            let raw = &*obj.ptr;
            let scalar = match raw.type_ {
                libxml::bindings::xmlXPathObjectType_XPATH_STRING if !raw.stringval.is_null() => {
                    Some(
                        std::ffi::CStr::from_ptr(raw.stringval as *const std::ffi::c_char)
                            .to_string_lossy()
                            .into_owned(),
                    )
                }
                libxml::bindings::xmlXPathObjectType_XPATH_BOOLEAN => {
                    Some(if raw.boolval != 0 { "True" } else { "False" }.to_string())
                }
                libxml::bindings::xmlXPathObjectType_XPATH_NUMBER => {
                    Some(python_float(raw.floatval))
                }
                _ => None,
            };
            (raw.type_, scalar)
        };
        if ty != libxml::bindings::xmlXPathObjectType_XPATH_NODESET {
            return Ok(vec![Hit {
                kind: HitKind::Other,
                node: None,
                anchor: None,
                value: scalar.and_then(|s| normalize(&s)),
            }]);
        }
        Ok(obj
            .get_readonly_nodes_as_vec()
            .into_iter()
            .map(hit_of)
            .collect())
    }

    /// Every element of the page in document order.
    pub fn elements(&self) -> Vec<RoNode> {
        let mut out = Vec::new();
        let mut stack = vec![self.root];
        while let Some(n) = stack.pop() {
            out.push(n);
            let mut kids = n.get_child_elements();
            kids.reverse();
            stack.extend(kids);
        }
        out
    }
}

thread_local! {
    static LAST_XPATH_ERROR: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Keeps libxml2's message for an XPath error of one of our contexts.
unsafe extern "C" fn record_xpath_error(
    _user: *mut std::ffi::c_void,
    error: libxml::bindings::xmlErrorPtr,
) {
    // SAFETY: libxml2 passes a valid error (or null) for the duration of the call.
    let message = unsafe {
        error.as_ref().filter(|e| !e.message.is_null()).map(|e| {
            std::ffi::CStr::from_ptr(e.message)
                .to_string_lossy()
                .trim()
                .to_string()
        })
    };
    LAST_XPATH_ERROR.with(|l| *l.borrow_mut() = message);
}

fn python_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

fn hit_of(node: RoNode) -> Hit {
    let (kind, anchor) = match node.get_type() {
        Some(NodeType::ElementNode) => (HitKind::Element, Some(node)),
        Some(NodeType::TextNode | NodeType::CDataSectionNode) => (HitKind::Text, node.get_parent()),
        Some(NodeType::AttributeNode) => (HitKind::Attr, node.get_parent()),
        _ => (HitKind::Other, node.get_parent()),
    };
    Hit {
        kind,
        node: Some(node),
        anchor,
        value: normalize(&node.get_content()),
    }
}

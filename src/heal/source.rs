//! Finds the selector string literals a Python scraper uses and edits exactly
//! one of them, leaving every other byte of the file alone.
//!
//! Recognised uses (tree-sitter-python): the argument of `.css()`, `.xpath()`,
//! `.select()` and `.select_one()`; `find()`/`find_all()` with a tag name,
//! `class_=`, `id=` or `attrs={...}`; and JSON key reads, `data["key"]` and
//! `.get("key")`, chained (`data["a"][0]["b"]`, `x.get("a", {}).get("b")`).

use std::ops::Range;

use serde::{Deserialize, Serialize};
use tree_sitter::{Node, Parser};

/// The call (or read) a selector literal belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    Css,
    Xpath,
    Select,
    SelectOne,
    Find,
    FindAll,
    /// `data["key"]`.
    Subscript,
    /// `data.get("key")`.
    Get,
}

/// What the literal means inside its call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "role", content = "name")]
pub enum Role {
    /// A whole CSS selector (`css`, `select`, `select_one`).
    Css,
    /// A whole XPath expression.
    Xpath,
    /// The tag name of `find()`/`find_all()`.
    Tag,
    /// `class_=` (or `attrs={"class": ...}`).
    Class,
    /// `id=` (or `attrs={"id": ...}`).
    Id,
    /// Another attribute inside `attrs={...}`.
    Attr(String),
    /// A JSON key read.
    JsonKey,
}

/// How the literal is quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quote {
    Single,
    Double,
    TripleSingle,
    TripleDouble,
}

impl Quote {
    fn delimiter(self) -> &'static str {
        match self {
            Quote::Single => "'",
            Quote::Double => "\"",
            Quote::TripleSingle => "'''",
            Quote::TripleDouble => "\"\"\"",
        }
    }
}

/// One step of a chained JSON key read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStep {
    Key(String),
    Index(i64),
}

/// A selector literal found in a scraper's source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectorLiteral {
    /// The string's value as Python sees it (escapes decoded).
    pub value: String,
    /// Bytes of the whole literal, prefix and quotes included.
    pub range: Range<usize>,
    /// 1-based line of the literal.
    pub line: usize,
    pub quote: Quote,
    /// String prefix letters as written (`""`, `"r"`, `"f"`, `"u"`, ...).
    pub prefix: String,
    pub call: CallKind,
    pub role: Role,
    /// Source text of the whole call or read, for humans.
    pub call_text: String,
    /// Bytes of the whole call or read (literals of one `find()` share it).
    pub call_range: Range<usize>,
    /// For JSON key reads: the chain this key is part of, up to and
    /// including this key (`data["a"][0]["b"]` gives a, 0, b at "b").
    pub key_chain: Vec<KeyStep>,
    /// Whether [`replace_literal`] can rewrite it (no f-string, raw or bytes
    /// prefix, no implicit concatenation).
    pub editable: bool,
}

/// Why the source could not be read or edited.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("tree-sitter-python could not be loaded: {0}")]
    Language(String),
    #[error("the source could not be parsed as Python")]
    Parse,
    #[error(
        "the literal at line {line} has prefix {prefix:?}: raw, f- and byte strings are not edited"
    )]
    Prefix { line: usize, prefix: String },
    #[error("the literal at line {line} is part of an implicit concatenation and is not edited")]
    Concatenated { line: usize },
    #[error("the source at bytes {start}..{end} is no longer the literal {expected:?}")]
    Stale {
        start: usize,
        end: usize,
        expected: String,
    },
}

/// Every selector literal in `source`, in source order.
pub fn find_literals(source: &str) -> Result<Vec<SelectorLiteral>, SourceError> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .map_err(|e| SourceError::Language(e.to_string()))?;
    let tree = parser.parse(source, None).ok_or(SourceError::Parse)?;
    let mut out = Vec::new();
    visit(tree.root_node(), source, &mut out);
    out.sort_by_key(|l| l.range.start);
    out.dedup_by_key(|l| l.range.start);
    Ok(out)
}

fn visit(node: Node<'_>, src: &str, out: &mut Vec<SelectorLiteral>) {
    match node.kind() {
        "call" => on_call(node, src, out),
        "subscript" => on_subscript(node, src, out),
        _ => {}
    }
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        visit(child, src, out);
    }
}

fn text<'s>(node: Node<'_>, src: &'s str) -> &'s str {
    &src[node.byte_range()]
}

fn method_name<'s>(call: Node<'_>, src: &'s str) -> Option<&'s str> {
    let func = call.child_by_field_name("function")?;
    match func.kind() {
        "attribute" => func.child_by_field_name("attribute").map(|n| text(n, src)),
        "identifier" => Some(text(func, src)),
        _ => None,
    }
}

fn positional_args(call: Node<'_>) -> Vec<Node<'_>> {
    let Some(args) = call.child_by_field_name("arguments") else {
        return Vec::new();
    };
    let mut cursor = args.walk();
    args.named_children(&mut cursor)
        .filter(|n| n.kind() != "keyword_argument" && n.kind() != "comment")
        .collect()
}

fn keyword_args<'t>(call: Node<'t>, src: &str) -> Vec<(String, Node<'t>)> {
    let Some(args) = call.child_by_field_name("arguments") else {
        return Vec::new();
    };
    let mut cursor = args.walk();
    args.named_children(&mut cursor)
        .filter(|n| n.kind() == "keyword_argument")
        .filter_map(|n| {
            let name = n.child_by_field_name("name")?;
            let value = n.child_by_field_name("value")?;
            Some((text(name, src).to_string(), value))
        })
        .collect()
}

fn on_call(call: Node<'_>, src: &str, out: &mut Vec<SelectorLiteral>) {
    let Some(name) = method_name(call, src) else {
        return;
    };
    let is_method = call
        .child_by_field_name("function")
        .is_some_and(|f| f.kind() == "attribute");
    let push = |out: &mut Vec<SelectorLiteral>,
                node: Node<'_>,
                kind: CallKind,
                role: Role,
                chain: Vec<KeyStep>| {
        if let Some(lit) = literal(node, src, call, kind, role, chain) {
            out.push(lit);
        }
    };
    let first = positional_args(call).into_iter().next();
    match name {
        "css" | "xpath" | "select" | "select_one" if is_method => {
            let (kind, role) = match name {
                "css" => (CallKind::Css, Role::Css),
                "xpath" => (CallKind::Xpath, Role::Xpath),
                "select" => (CallKind::Select, Role::Css),
                _ => (CallKind::SelectOne, Role::Css),
            };
            let arg = first.or_else(|| {
                keyword_args(call, src)
                    .into_iter()
                    .find(|(k, _)| k == "query" || k == "selector" || k == "select")
                    .map(|(_, v)| v)
            });
            if let Some(arg) = arg {
                push(out, arg, kind, role, Vec::new());
            }
        }
        "find" | "find_all" | "findAll" | "find_parent" | "find_next" if is_method => {
            let kind = if name == "find" {
                CallKind::Find
            } else {
                CallKind::FindAll
            };
            let keywords = keyword_args(call, src);
            let mut any = false;
            for (k, v) in &keywords {
                match k.as_str() {
                    "class_" => {
                        any = true;
                        push(out, *v, kind, Role::Class, Vec::new());
                    }
                    "id" => {
                        any = true;
                        push(out, *v, kind, Role::Id, Vec::new());
                    }
                    "attrs" if v.kind() == "dictionary" => {
                        any = true;
                        let mut cursor = v.walk();
                        for pair in v.named_children(&mut cursor).filter(|n| n.kind() == "pair") {
                            let (Some(key), Some(value)) = (
                                pair.child_by_field_name("key"),
                                pair.child_by_field_name("value"),
                            ) else {
                                continue;
                            };
                            let Some(attr) = string_value(key, src) else {
                                continue;
                            };
                            let role = match attr.as_str() {
                                "class" => Role::Class,
                                "id" => Role::Id,
                                _ => Role::Attr(attr),
                            };
                            push(out, value, kind, role, Vec::new());
                        }
                    }
                    _ => {}
                }
            }
            // A bare `.find("x")` on a dict-like is not BeautifulSoup; a tag
            // name counts with a selector keyword, or a second positional
            // argument (the class, as bs4 allows), or as the only argument of
            // a soup-looking receiver.
            let positional = positional_args(call);
            let soup_like = call
                .child_by_field_name("function")
                .and_then(|f| f.child_by_field_name("object"))
                .is_some_and(|o| {
                    let t = text(o, src).to_ascii_lowercase();
                    t.contains("soup")
                        || t.contains("tag")
                        || t.contains("row")
                        || t.contains("div")
                        || t.contains("table")
                        || t.contains("el")
                });
            if let Some(tag) = positional.first()
                && (any || positional.len() > 1 || soup_like)
            {
                push(out, *tag, kind, Role::Tag, Vec::new());
            }
            if let Some(class) = positional.get(1) {
                push(out, *class, kind, Role::Class, Vec::new());
            }
        }
        "get" if is_method && !is_http_get(call, src) => {
            if let Some(arg) = first
                && let Some(key) = string_value(arg, src)
            {
                let mut chain = chain_of(
                    call.child_by_field_name("function")
                        .and_then(|f| f.child_by_field_name("object")),
                    src,
                );
                chain.push(KeyStep::Key(key));
                push(out, arg, CallKind::Get, Role::JsonKey, chain);
            }
        }
        _ => {}
    }
}

/// `requests.get(url)`, `client.get("/path")`: a request, not a key read.
fn is_http_get(call: Node<'_>, src: &str) -> bool {
    let receiver = call
        .child_by_field_name("function")
        .and_then(|f| f.child_by_field_name("object"))
        .map(|o| text(o, src).to_ascii_lowercase())
        .unwrap_or_default();
    let url_like = positional_args(call)
        .first()
        .and_then(|a| string_value(*a, src))
        .is_some_and(|v| v.contains("://") || v.starts_with('/'));
    url_like
        || [
            "requests",
            "session",
            "client",
            "httpx",
            "http",
            "self.session",
        ]
        .iter()
        .any(|r| receiver == *r || receiver.ends_with(&format!(".{r}")))
}

fn on_subscript(node: Node<'_>, src: &str, out: &mut Vec<SelectorLiteral>) {
    let Some(index) = node.child_by_field_name("subscript") else {
        return;
    };
    let Some(key) = string_value(index, src) else {
        return;
    };
    let mut chain = chain_of(node.child_by_field_name("value"), src);
    chain.push(KeyStep::Key(key));
    if let Some(lit) = literal(index, src, node, CallKind::Subscript, Role::JsonKey, chain) {
        out.push(lit);
    }
}

/// The key steps leading to `node` (`data["a"][0]` gives a, 0).
fn chain_of(node: Option<Node<'_>>, src: &str) -> Vec<KeyStep> {
    let mut steps = Vec::new();
    let mut cur = node;
    while let Some(n) = cur {
        match n.kind() {
            "subscript" => {
                let step = n.child_by_field_name("subscript").and_then(|s| {
                    if s.kind() == "integer" {
                        text(s, src).parse().ok().map(KeyStep::Index)
                    } else if s.kind() == "unary_operator" {
                        text(s, src)
                            .replace(' ', "")
                            .parse()
                            .ok()
                            .map(KeyStep::Index)
                    } else {
                        string_value(s, src).map(KeyStep::Key)
                    }
                });
                match step {
                    Some(s) => steps.push(s),
                    None => break,
                }
                cur = n.child_by_field_name("value");
            }
            "call" if method_name(n, src) == Some("get") => {
                let key = positional_args(n)
                    .first()
                    .and_then(|a| string_value(*a, src));
                match key {
                    Some(k) => steps.push(KeyStep::Key(k)),
                    None => break,
                }
                cur = n
                    .child_by_field_name("function")
                    .and_then(|f| f.child_by_field_name("object"));
            }
            "parenthesized_expression" => cur = n.named_child(0),
            _ => break,
        }
    }
    steps.reverse();
    steps
}

/// The value of a plain string literal node (no interpolation), decoded.
fn string_value(node: Node<'_>, src: &str) -> Option<String> {
    if node.kind() != "string" {
        return None;
    }
    let (prefix, quote, body) = split_literal(text(node, src))?;
    if prefix.to_ascii_lowercase().contains('f') || prefix.to_ascii_lowercase().contains('b') {
        return None;
    }
    let raw = prefix.to_ascii_lowercase().contains('r');
    let _ = quote;
    Some(if raw { body.to_string() } else { decode(body) })
}

fn literal(
    node: Node<'_>,
    src: &str,
    call: Node<'_>,
    kind: CallKind,
    role: Role,
    chain: Vec<KeyStep>,
) -> Option<SelectorLiteral> {
    let (concatenated, node) = match node.kind() {
        "string" => (false, node),
        "concatenated_string" => (true, node.named_child(0)?),
        _ => return None,
    };
    let whole = text(node, src);
    let (prefix, quote, body) = split_literal(whole)?;
    let lower = prefix.to_ascii_lowercase();
    let value = if lower.contains('r') {
        body.to_string()
    } else {
        decode(body)
    };
    let editable =
        !concatenated && !lower.contains('r') && !lower.contains('f') && !lower.contains('b');
    Some(SelectorLiteral {
        value,
        range: node.byte_range(),
        line: node.start_position().row + 1,
        quote,
        prefix: prefix.to_string(),
        call: kind,
        role,
        call_text: text(call, src).to_string(),
        call_range: call.byte_range(),
        key_chain: chain,
        editable,
    })
}

/// Splits `r'abc'` into (`r`, quote style, `abc`).
fn split_literal(lit: &str) -> Option<(&str, Quote, &str)> {
    let start = lit.find(['\'', '"'])?;
    let (prefix, rest) = lit.split_at(start);
    let quote = if rest.starts_with("'''") {
        Quote::TripleSingle
    } else if rest.starts_with("\"\"\"") {
        Quote::TripleDouble
    } else if rest.starts_with('\'') {
        Quote::Single
    } else {
        Quote::Double
    };
    let d = quote.delimiter().len();
    if rest.len() < 2 * d {
        return None;
    }
    Some((prefix, quote, &rest[d..rest.len() - d]))
}

/// Decodes Python's escapes in a non-raw string body (unknown escapes stay,
/// backslash included, as Python keeps them).
fn decode(body: &str) -> String {
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('\n') => {}
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Encodes `value` as the body of a literal quoted with `quote`, so that
/// Python reads back exactly `value`.
fn encode(value: &str, quote: Quote) -> String {
    let mut out = String::new();
    let q = quote.delimiter().chars().next().unwrap_or('"');
    let triple = matches!(quote, Quote::TripleSingle | Quote::TripleDouble);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' if !triple => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' if !triple => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `source` with `literal` replaced by `new_value`, quoted and prefixed as it
/// was. Refuses raw, f- and byte strings, concatenations, and a literal that
/// is no longer where it was found.
pub fn replace_literal(
    source: &str,
    literal: &SelectorLiteral,
    new_value: &str,
) -> Result<String, SourceError> {
    let lower = literal.prefix.to_ascii_lowercase();
    if lower.contains('r') || lower.contains('f') || lower.contains('b') {
        return Err(SourceError::Prefix {
            line: literal.line,
            prefix: literal.prefix.clone(),
        });
    }
    if !literal.editable {
        return Err(SourceError::Concatenated { line: literal.line });
    }
    let stale = || SourceError::Stale {
        start: literal.range.start,
        end: literal.range.end,
        expected: literal.value.clone(),
    };
    let current = source.get(literal.range.clone()).ok_or_else(stale)?;
    match split_literal(current) {
        Some((p, q, body))
            if p == literal.prefix && q == literal.quote && decode(body) == literal.value => {}
        _ => return Err(stale()),
    }
    let d = literal.quote.delimiter();
    let mut out = String::with_capacity(source.len() + new_value.len());
    out.push_str(&source[..literal.range.start]);
    out.push_str(&literal.prefix);
    out.push_str(d);
    out.push_str(&encode(new_value, literal.quote));
    out.push_str(d);
    out.push_str(&source[literal.range.end..]);
    Ok(out)
}

/// The JSON path (corpus language) a key chain reads, from the response root.
pub fn chain_to_json_path(chain: &[KeyStep]) -> String {
    let mut s = String::from("$");
    for step in chain {
        match step {
            KeyStep::Key(k)
                if !k.is_empty()
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !k.starts_with(|c: char| c.is_ascii_digit()) =>
            {
                s.push('.');
                s.push_str(k);
            }
            KeyStep::Key(k) => s.push_str(&format!(
                "['{}']",
                k.replace('\\', "\\\\").replace('\'', "\\'")
            )),
            KeyStep::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

#[cfg(test)]
mod tests;

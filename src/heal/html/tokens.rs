//! The editable parts of a selector, found by a small lexer, so a repair can
//! change one token of the selector the scraper wrote and leave the rest as
//! written.

use super::super::SelectorKind;

/// What an editable span of a selector is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// An element name test (`td`, `div`).
    Tag,
    /// An attribute name (`@href`, `[itemprop=...]`, `::attr(name)`).
    AttrName,
    /// A string compared with an attribute (`attr` names it; `class` for CSS
    /// `.x`, `id` for CSS `#x`) or, when `attr` is None, with text.
    Literal { attr: Option<String> },
    /// A positional number (`[3]`, `:nth-child(3)`).
    Number,
    /// A step separator (`/`, `//`) or CSS combinator; a wrapper step may be
    /// inserted after it.
    Sep,
    /// A removable condition (`[...]` in XPath; `.x`, `#x`, `[...]`, `:x` in CSS).
    Condition,
}

/// One editable span: `start..end` in bytes of the selector text.
#[derive(Clone, Debug)]
pub struct Slot {
    pub kind: SlotKind,
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// Nesting depth in brackets/parentheses (0 = the main path).
    pub depth: usize,
}

/// Editable spans of `expr`, in order.
pub fn slots(kind: SelectorKind, expr: &str) -> Vec<Slot> {
    match kind {
        SelectorKind::Css => css_slots(expr),
        _ => xpath_slots(expr),
    }
}

fn name_char(c: char, first: bool) -> bool {
    if first {
        c.is_alphabetic() || c == '_'
    } else {
        c.is_alphanumeric() || c == '_' || c == '-' || c == '.'
    }
}

fn xpath_slots(expr: &str) -> Vec<Slot> {
    let chars: Vec<(usize, char)> = expr.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let off = |i: usize| chars.get(i).map_or(expr.len(), |&(o, _)| o);
    let mut out = Vec::new();
    // The previous significant token: used to tell a name test from an operator.
    let mut prev = String::from("^");
    let mut depth = 0usize;
    let mut brackets: Vec<(usize, usize)> = Vec::new(); // (start offset, depth at open)
    let mut last_attr: Vec<Option<String>> = vec![None];
    let mut i = 0;
    let push = |out: &mut Vec<Slot>, kind, s: usize, e: usize, depth| {
        out.push(Slot {
            kind,
            start: s,
            end: e,
            text: expr[s..e].to_string(),
            depth,
        });
    };
    while i < chars.len() {
        let c = chars[i].1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '\'' | '"' => {
                let s = i + 1;
                let mut j = s;
                while j < chars.len() && chars[j].1 != c {
                    j += 1;
                }
                let attr = last_attr.last().cloned().flatten();
                push(&mut out, SlotKind::Literal { attr }, off(s), off(j), depth);
                i = j + 1;
                prev = "lit".into();
            }
            '/' => {
                let s = i;
                i += if at(i + 1) == Some('/') { 2 } else { 1 };
                push(&mut out, SlotKind::Sep, off(s), off(i), depth);
                prev = "/".into();
            }
            '[' | '(' => {
                if c == '[' {
                    brackets.push((off(i), depth));
                }
                depth += 1;
                last_attr.push(None);
                i += 1;
                prev = c.to_string();
            }
            ']' | ')' => {
                depth = depth.saturating_sub(1);
                // An attribute named inside a function call (`concat(' ', @class, ' ')`)
                // still names what the rest of the predicate compares.
                let inner = last_attr.pop().flatten();
                if last_attr.is_empty() {
                    last_attr.push(None);
                }
                if c == ')'
                    && inner.is_some()
                    && let Some(l) = last_attr.last_mut()
                {
                    *l = inner;
                }
                if c == ']'
                    && let Some((s, d)) = brackets.pop()
                {
                    push(&mut out, SlotKind::Condition, s, off(i + 1), d);
                }
                i += 1;
                prev = "operand".into();
            }
            '@' => {
                let s = i + 1;
                let mut j = s;
                while j < chars.len() && (name_char(chars[j].1, j == s) || chars[j].1 == ':') {
                    j += 1;
                }
                if j > s {
                    push(&mut out, SlotKind::AttrName, off(s), off(j), depth);
                    if let Some(l) = last_attr.last_mut() {
                        *l = Some(expr[off(s)..off(j)].to_string());
                    }
                }
                i = j.max(s + usize::from(at(s) == Some('*')));
                prev = "operand".into();
            }
            d if d.is_ascii_digit() => {
                let s = i;
                while at(i).is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    i += 1;
                }
                let before = expr[..off(s)].trim_end();
                let after = expr[off(i)..].trim_start();
                if before.ends_with('[') && after.starts_with(']') {
                    push(&mut out, SlotKind::Number, off(s), off(i), depth);
                }
                prev = "operand".into();
            }
            c if name_char(c, true) => {
                let s = i;
                while at(i).is_some_and(|c| name_char(c, false)) {
                    i += 1;
                }
                let name = &expr[off(s)..off(i)];
                let rest = expr[off(i)..].trim_start();
                let is_operator = matches!(name, "and" | "or" | "div" | "mod") && prev == "operand";
                if rest.starts_with("::") {
                    prev = "::".into();
                    i = chars
                        .iter()
                        .position(|&(o, _)| o >= off(i) + (expr[off(i)..].len() - rest.len()) + 2)
                        .unwrap_or(chars.len());
                    continue;
                }
                if !is_operator && !rest.starts_with('(') {
                    push(&mut out, SlotKind::Tag, off(s), off(i), depth);
                    prev = "operand".into();
                } else if is_operator {
                    prev = "op".into();
                } else {
                    prev = "fn".into();
                }
            }
            '*' => {
                prev = if prev == "operand" {
                    "op".into()
                } else {
                    "operand".into()
                };
                i += 1;
            }
            '.' => {
                i += if at(i + 1) == Some('.') { 2 } else { 1 };
                prev = "operand".into();
            }
            _ => {
                i += 1;
                prev = "op".into();
            }
        }
    }
    out.sort_by_key(|s| (s.start, s.end));
    out
}

fn css_slots(expr: &str) -> Vec<Slot> {
    let chars: Vec<(usize, char)> = expr.char_indices().collect();
    let off = |i: usize| chars.get(i).map_or(expr.len(), |&(o, _)| o);
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let ident_end = |mut j: usize| {
        while at(j).is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_' || !c.is_ascii()) {
            j += 1;
        }
        j
    };
    let mut out = Vec::new();
    let push = |out: &mut Vec<Slot>, kind, s: usize, e: usize| {
        out.push(Slot {
            kind,
            start: s,
            end: e,
            text: expr[s..e].to_string(),
            depth: 0,
        });
    };
    let mut i = 0;
    let mut compound_start = true;
    while i < chars.len() {
        let c = chars[i].1;
        match c {
            ' ' | '\t' | '\n' | '>' | '+' | '~' => {
                let s = i;
                while at(i).is_some_and(|c| c.is_whitespace() || matches!(c, '>' | '+' | '~')) {
                    i += 1;
                }
                if at(i).is_some_and(|c| c != ',') && s > 0 {
                    push(&mut out, SlotKind::Sep, off(s), off(i));
                }
                compound_start = true;
            }
            ',' => {
                i += 1;
                while at(i).is_some_and(char::is_whitespace) {
                    i += 1;
                }
                compound_start = true;
            }
            '.' | '#' => {
                let s = i + 1;
                let e = ident_end(s);
                let attr = if c == '.' { "class" } else { "id" };
                push(
                    &mut out,
                    SlotKind::Literal {
                        attr: Some(attr.into()),
                    },
                    off(s),
                    off(e),
                );
                push(&mut out, SlotKind::Condition, off(i), off(e));
                i = e;
                compound_start = false;
            }
            '[' => {
                let s = i;
                let ns = i + 1;
                let ne = ident_end(ns);
                let name = expr[off(ns)..off(ne)].to_string();
                push(&mut out, SlotKind::AttrName, off(ns), off(ne));
                let mut j = ne;
                while at(j).is_some_and(|c| c != ']' && c != '"' && c != '\'') {
                    j += 1;
                }
                if let Some(q @ ('"' | '\'')) = at(j) {
                    let vs = j + 1;
                    let mut ve = vs;
                    while at(ve).is_some_and(|c| c != q) {
                        ve += 1;
                    }
                    push(
                        &mut out,
                        SlotKind::Literal { attr: Some(name) },
                        off(vs),
                        off(ve),
                    );
                    j = ve + 1;
                } else {
                    let vs = expr[off(ne)..].find('=').map(|p| off(ne) + p + 1);
                    if let Some(vs) = vs {
                        let ve = expr[vs..].find(']').map_or(expr.len(), |p| vs + p);
                        if ve > vs {
                            push(&mut out, SlotKind::Literal { attr: Some(name) }, vs, ve);
                        }
                    }
                }
                while at(j).is_some_and(|c| c != ']') {
                    j += 1;
                }
                i = j + 1;
                push(&mut out, SlotKind::Condition, off(s), off(i));
                compound_start = false;
            }
            ':' => {
                let s = i;
                let double = at(i + 1) == Some(':');
                let ns = if double { i + 2 } else { i + 1 };
                let ne = ident_end(ns);
                let name = expr[off(ns)..off(ne)].to_ascii_lowercase();
                let mut j = ne;
                if at(j) == Some('(') {
                    let as_ = j + 1;
                    let mut d = 0;
                    while let Some(c) = at(j) {
                        if c == '(' {
                            d += 1;
                        } else if c == ')' {
                            d -= 1;
                            if d == 0 {
                                break;
                            }
                        }
                        j += 1;
                    }
                    let inner = expr[off(as_)..off(j)].trim();
                    if double && name == "attr" {
                        push(&mut out, SlotKind::AttrName, off(as_), off(j));
                    } else if name.starts_with("nth-")
                        && inner.chars().all(|c| c.is_ascii_digit())
                        && !inner.is_empty()
                    {
                        push(&mut out, SlotKind::Number, off(as_), off(j));
                    }
                    j += 1;
                }
                if !double {
                    push(&mut out, SlotKind::Condition, off(s), off(j));
                }
                i = j;
                compound_start = false;
            }
            '*' => {
                i += 1;
                compound_start = false;
            }
            c if compound_start && (c.is_alphabetic() || c == '_') => {
                let e = ident_end(i);
                push(&mut out, SlotKind::Tag, off(i), off(e));
                i = e;
                compound_start = false;
            }
            _ => i += 1,
        }
    }
    out.sort_by_key(|s| (s.start, s.end));
    out
}

/// Applies one replacement to `expr`.
pub fn splice(expr: &str, start: usize, end: usize, with: &str) -> String {
    format!("{}{}{}", &expr[..start], with, &expr[end..])
}

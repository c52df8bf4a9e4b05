//! The JSON path language scrapers' key reads are written in: `$`, `.key`,
//! `['key']` / `["key"]`, `[n]` (negative counts from the end, as in Python)
//! and `[*]`. Evaluation yields scalars only, `str()`-ed the way Python prints
//! them and normalised like the corpus (whitespace runs collapsed, stripped,
//! empty results dropped).

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// One step of a [`JsonPath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// `.key` or `['key']`.
    Key(String),
    /// `[n]`; negative counts from the end.
    Index(i64),
    /// `[*]`: every element of an array.
    Wildcard,
}

/// A parsed JSON path. `Display` prints it back in the shortest form the
/// language allows (`.key` when the key is an identifier, else `['key']`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JsonPath {
    pub steps: Vec<Step>,
}

/// A path that does not parse, with the offending position.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("JSON path {path:?} must start with `$`")]
    NoRoot { path: String },
    #[error("JSON path {path:?}: unexpected {found:?} at byte {at}")]
    Unexpected {
        path: String,
        at: usize,
        found: String,
    },
    #[error("JSON path {path:?}: unterminated bracket or quote starting at byte {at}")]
    Unterminated { path: String, at: usize },
}

/// A concrete position inside a document (what a match was found at).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Loc {
    Key(String),
    Index(usize),
}

impl FromStr for JsonPath {
    type Err = PathError;

    fn from_str(path: &str) -> Result<Self, PathError> {
        let path_s = path.to_string();
        let bytes = path.as_bytes();
        let mut i = match path.trim_start().strip_prefix('$') {
            Some(_) => path.len() - path.trim_start().len() + 1,
            None => return Err(PathError::NoRoot { path: path_s }),
        };
        let mut steps = Vec::new();
        while i < bytes.len() {
            match bytes[i] {
                b'.' => {
                    let start = i + 1;
                    let end = path[start..]
                        .find(['.', '['])
                        .map_or(path.len(), |off| start + off);
                    let key = path[start..end].trim_end();
                    if key.is_empty() {
                        return Err(PathError::Unexpected {
                            path: path_s,
                            at: i,
                            found: ".".into(),
                        });
                    }
                    steps.push(if key == "*" {
                        Step::Wildcard
                    } else {
                        Step::Key(key.to_string())
                    });
                    i = end;
                }
                b'[' => {
                    let close = |from: usize| path[from..].find(']').map(|o| from + o);
                    let inner_start = i + 1;
                    match bytes.get(inner_start) {
                        Some(q @ (b'\'' | b'"')) => {
                            let (key, after) = parse_quoted(path, inner_start, *q).ok_or(
                                PathError::Unterminated {
                                    path: path_s.clone(),
                                    at: i,
                                },
                            )?;
                            if bytes.get(after) != Some(&b']') {
                                return Err(PathError::Unexpected {
                                    path: path_s,
                                    at: after,
                                    found: path[after..].chars().take(1).collect(),
                                });
                            }
                            steps.push(Step::Key(key));
                            i = after + 1;
                        }
                        _ => {
                            let end = close(inner_start).ok_or(PathError::Unterminated {
                                path: path_s.clone(),
                                at: i,
                            })?;
                            let inner = path[inner_start..end].trim();
                            if inner == "*" {
                                steps.push(Step::Wildcard);
                            } else {
                                let n =
                                    inner.parse::<i64>().map_err(|_| PathError::Unexpected {
                                        path: path_s.clone(),
                                        at: inner_start,
                                        found: inner.to_string(),
                                    })?;
                                steps.push(Step::Index(n));
                            }
                            i = end + 1;
                        }
                    }
                }
                b' ' | b'\t' | b'\n' => i += 1,
                _ => {
                    return Err(PathError::Unexpected {
                        path: path_s,
                        at: i,
                        found: path[i..].chars().take(1).collect(),
                    });
                }
            }
        }
        Ok(JsonPath { steps })
    }
}

/// Reads a quoted key starting at the quote at `at`; returns the key and the
/// byte after the closing quote. Backslash escapes the next character.
fn parse_quoted(path: &str, at: usize, quote: u8) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = path[at + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            c if c as u32 == u32::from(quote) => return Some((out, at + 1 + off + 1)),
            c => out.push(c),
        }
    }
    None
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for step in &self.steps {
            match step {
                Step::Key(k) if is_identifier(k) => write!(f, ".{k}")?,
                Step::Key(k) => write!(f, "['{}']", k.replace('\\', "\\\\").replace('\'', "\\'"))?,
                Step::Index(n) => write!(f, "[{n}]")?,
                Step::Wildcard => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

/// One node a path reached, with where it was found.
#[derive(Clone, Debug)]
pub struct Match<'a> {
    pub loc: Vec<Loc>,
    pub value: &'a Value,
}

impl JsonPath {
    /// Every node the path reaches, in document order (object keys in the
    /// order the document lists them).
    pub fn select<'a>(&self, doc: &'a Value) -> Vec<Match<'a>> {
        let mut current = vec![Match {
            loc: Vec::new(),
            value: doc,
        }];
        for step in &self.steps {
            let mut next = Vec::new();
            for m in current {
                match (step, m.value) {
                    (Step::Key(k), Value::Object(map)) => {
                        if let Some(v) = map.get(k) {
                            next.push(m.child(Loc::Key(k.clone()), v));
                        }
                    }
                    (Step::Index(n), Value::Array(items)) => {
                        let len = items.len() as i64;
                        let idx = if *n < 0 { len + n } else { *n };
                        if (0..len).contains(&idx) {
                            let idx = idx as usize;
                            next.push(m.child(Loc::Index(idx), &items[idx]));
                        }
                    }
                    (Step::Wildcard, Value::Array(items)) => {
                        for (idx, v) in items.iter().enumerate() {
                            next.push(m.child(Loc::Index(idx), v));
                        }
                    }
                    _ => {}
                }
            }
            current = next;
        }
        current
    }

    /// What a scraper reading this path gets: the scalar results, `str()`-ed
    /// as Python would and normalised; containers, `null`s (an absent value)
    /// and empty strings dropped.
    pub fn extract(&self, doc: &Value) -> Vec<String> {
        self.select(doc)
            .into_iter()
            .filter(|m| !m.value.is_null())
            .filter_map(|m| python_str(m.value))
            .map(|s| normalise(&s))
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The keys of the path, in order (indices and wildcards left out).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().filter_map(|s| match s {
            Step::Key(k) => Some(k.as_str()),
            _ => None,
        })
    }
}

impl Match<'_> {
    fn child<'b>(&self, loc: Loc, value: &'b Value) -> Match<'b> {
        let mut path = self.loc.clone();
        path.push(loc);
        Match { loc: path, value }
    }
}

/// Collapses whitespace runs to one space and strips the ends.
pub fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Python's `str()` of a scalar JSON value as `json.loads` returns it; `None`
/// for objects and arrays.
pub fn python_str(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some("None".into()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(if let Some(i) = n.as_i64() {
            i.to_string()
        } else if let Some(u) = n.as_u64() {
            u.to_string()
        } else {
            python_float(n.as_f64().unwrap_or(f64::NAN))
        }),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// `repr(float)` in Python: the shortest round-tripping digits, fixed notation
/// for decimal exponents in [-4, 16), scientific (`1e+16`, `1.5e-05`) outside.
pub fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's `{:e}` prints the shortest round-tripping digits, e.g. `1.5e-5`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            let (a, b) = digits.split_at(point as usize);
            format!("{a}.{b}")
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> JsonPath {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_every_step_form() {
        let path = p("$['@graph'][7].recipeYield[*][\"a b\"][-1]");
        assert_eq!(
            path.steps,
            vec![
                Step::Key("@graph".into()),
                Step::Index(7),
                Step::Key("recipeYield".into()),
                Step::Wildcard,
                Step::Key("a b".into()),
                Step::Index(-1),
            ]
        );
        assert_eq!(path.to_string(), "$['@graph'][7].recipeYield[*]['a b'][-1]");
        assert_eq!(p("$").steps, vec![]);
        assert_eq!(p("$['it\\'s']").to_string(), "$['it\\'s']");
    }

    #[test]
    fn rejects_malformed_paths_naming_the_problem() {
        assert!(matches!(
            "a.b".parse::<JsonPath>(),
            Err(PathError::NoRoot { .. })
        ));
        assert!(matches!(
            "$[1".parse::<JsonPath>(),
            Err(PathError::Unterminated { .. })
        ));
        assert!(matches!(
            "$['a".parse::<JsonPath>(),
            Err(PathError::Unterminated { .. })
        ));
        let err = "$[x]".parse::<JsonPath>().unwrap_err();
        assert!(err.to_string().contains("\"x\""), "{err}");
        assert!("$..a".parse::<JsonPath>().is_err());
    }

    #[test]
    fn extracts_scalars_python_style_in_document_order() {
        let doc = json!({"z": [1, 2.5, true, null, "  a \n b ", "", {"x": 1}, 1e16, 0.0001, 0.00001, 3.0, -2.0e-7]});
        assert_eq!(
            p("$.z[*]").extract(&doc),
            vec![
                "1", "2.5", "True", "a b", "1e+16", "0.0001", "1e-05", "3.0", "-2e-07"
            ]
        );
        let ordered: Value = serde_json::from_str(r#"{"b": [1], "a": [2]}"#).unwrap();
        assert_eq!(p("$.b[*]").extract(&ordered), vec!["1"]);
        assert!(
            p("$[*]").extract(&ordered).is_empty(),
            "[*] walks arrays only"
        );
        assert_eq!(python_str(&json!(null)).as_deref(), Some("None"));
        assert_eq!(p("$.z[-1]").extract(&doc), vec!["-2e-07"]);
        assert!(p("$.z[99]").extract(&doc).is_empty());
        assert!(p("$.missing.deeper").extract(&doc).is_empty());
    }

    #[test]
    fn python_float_matches_repr() {
        for (f, s) in [
            (0.1, "0.1"),
            (100.0, "100.0"),
            (123456789012345.6, "123456789012345.6"),
            (1e15, "1000000000000000.0"),
            (1.5e300, "1.5e+300"),
            (-0.5, "-0.5"),
        ] {
            assert_eq!(python_float(f), s);
        }
    }
}

//! CSS selectors translated to XPath 1.0 exactly as parsel's `HTMLTranslator`
//! (cssselect's `GenericTranslator` with HTML case rules) translates them, so a
//! CSS selector selects here what it selects in a Scrapy spider.
//!
//! Supported: type and universal selectors, `#id`, `.class`, attribute
//! selectors with every CSS3 operator, the combinators ` `, `>`, `+`, `~`,
//! selector groups, `:first-child`, `:last-child`, `:only-child`,
//! `:first-of-type`, `:last-of-type`, `:only-of-type`, `:empty`, `:root`,
//! `:nth-child()`, `:nth-last-child()`, `:nth-of-type()`,
//! `:nth-last-of-type()`, `:not()`, `:contains()`, and parsel's
//! pseudo-elements `::text` and `::attr(name)`.

use super::HtmlError;

/// Translates a CSS selector to the XPath parsel would evaluate for it.
pub fn css_to_xpath(css: &str) -> Result<String, HtmlError> {
    let bad = |reason: String| HtmlError::BadSelector {
        selector: css.to_string(),
        reason,
    };
    let mut parser = Parser {
        chars: css.chars().collect(),
        pos: 0,
    };
    let mut out = Vec::new();
    loop {
        let complex = parser.complex().map_err(bad)?;
        out.push(format!(
            "descendant-or-self::{}",
            complex.translate().map_err(bad)?
        ));
        parser.skip_ws();
        match parser.peek() {
            None => break,
            Some(',') => parser.pos += 1,
            Some(c) => return Err(bad(format!("unexpected '{c}' at offset {}", parser.pos))),
        }
    }
    Ok(out.join(" | "))
}

#[derive(Debug, Clone)]
enum Part {
    Class(String),
    Id(String),
    Attr {
        name: String,
        op: String,
        value: Option<String>,
    },
    Pseudo(String),
    Nth {
        name: String,
        a: i64,
        b: i64,
    },
    Not(Box<Compound>),
    Contains(String),
}

#[derive(Debug, Clone, Default)]
struct Compound {
    element: Option<String>,
    parts: Vec<Part>,
}

#[derive(Debug)]
enum PseudoElement {
    Text,
    Attr(String),
}

#[derive(Debug)]
struct Complex {
    /// The first compound and then (combinator, compound) pairs.
    first: Compound,
    rest: Vec<(char, Compound)>,
    pseudo: Option<PseudoElement>,
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '_' || !c.is_ascii()
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn peek_at(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }
    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
        self.pos > start
    }
    fn ident(&mut self) -> Result<String, String> {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if is_ident_char(c) {
                s.push(c);
                self.pos += 1;
            } else if c == '\\' {
                self.pos += 1;
                if let Some(e) = self.peek() {
                    s.push(e);
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
        if s.is_empty() {
            Err(format!("expected a name at offset {}", self.pos))
        } else {
            Ok(s)
        }
    }
    fn string(&mut self) -> Result<String, String> {
        let Some(q) = self.peek() else {
            return Err("expected a string".into());
        };
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string".into()),
                Some(c) if c == q => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some('\\') => {
                    self.pos += 1;
                    if let Some(e) = self.peek() {
                        s.push(e);
                        self.pos += 1;
                    }
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }
    fn until_paren(&mut self) -> Result<String, String> {
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    let s: String = self.chars[start..self.pos].iter().collect();
                    self.pos += 1;
                    return Ok(s);
                }
                ')' => depth -= 1,
                _ => {}
            }
            self.pos += 1;
        }
        Err("missing ')'".into())
    }

    fn complex(&mut self) -> Result<Complex, String> {
        self.skip_ws();
        let (first, mut pseudo) = self.compound()?;
        let mut rest = Vec::new();
        while pseudo.is_none() {
            let ws = self.skip_ws();
            let comb = match self.peek() {
                Some(c @ ('>' | '+' | '~')) => {
                    self.pos += 1;
                    self.skip_ws();
                    c
                }
                None | Some(',') => break,
                Some(_) if ws => ' ',
                Some(c) => return Err(format!("unexpected '{c}' at offset {}", self.pos)),
            };
            let (compound, p) = self.compound()?;
            pseudo = p;
            rest.push((comb, compound));
        }
        Ok(Complex {
            first,
            rest,
            pseudo,
        })
    }

    fn compound(&mut self) -> Result<(Compound, Option<PseudoElement>), String> {
        let mut c = Compound::default();
        match self.peek() {
            Some('*') => {
                self.pos += 1;
            }
            Some(ch) if is_ident_char(ch) || ch == '\\' => c.element = Some(self.ident()?),
            _ => {}
        }
        let mut any = c.element.is_some() || self.pos > 0 && self.chars[self.pos - 1] == '*';
        loop {
            match self.peek() {
                Some('#') => {
                    self.pos += 1;
                    c.parts.push(Part::Id(self.ident()?));
                }
                Some('.') => {
                    self.pos += 1;
                    c.parts.push(Part::Class(self.ident()?));
                }
                Some('[') => {
                    self.pos += 1;
                    c.parts.push(self.attrib()?);
                }
                Some(':') if self.peek_at(1) == Some(':') => {
                    self.pos += 2;
                    let name = self.ident()?.to_ascii_lowercase();
                    let pe = match name.as_str() {
                        "text" => PseudoElement::Text,
                        "attr" if self.peek() == Some('(') => {
                            self.pos += 1;
                            let inner = self.until_paren()?;
                            PseudoElement::Attr(inner.trim().to_string())
                        }
                        _ => return Err(format!("unsupported pseudo-element ::{name}")),
                    };
                    return Ok((c, Some(pe)));
                }
                Some(':') => {
                    self.pos += 1;
                    let name = self.ident()?.to_ascii_lowercase();
                    if self.peek() == Some('(') {
                        self.pos += 1;
                        c.parts.push(self.function(&name)?);
                    } else {
                        c.parts.push(Part::Pseudo(name));
                    }
                }
                _ => break,
            }
            any = true;
        }
        if !any {
            return Err(format!("expected a selector at offset {}", self.pos));
        }
        Ok((c, None))
    }

    fn attrib(&mut self) -> Result<Part, String> {
        self.skip_ws();
        let name = self.ident()?;
        self.skip_ws();
        let op = match (self.peek(), self.peek_at(1)) {
            (Some(']'), _) => {
                self.pos += 1;
                return Ok(Part::Attr {
                    name,
                    op: "exists".into(),
                    value: None,
                });
            }
            (Some('='), _) => {
                self.pos += 1;
                "=".to_string()
            }
            (Some(c @ ('~' | '|' | '^' | '$' | '*' | '!')), Some('=')) => {
                self.pos += 2;
                format!("{c}=")
            }
            _ => return Err(format!("bad attribute operator at offset {}", self.pos)),
        };
        self.skip_ws();
        let value = match self.peek() {
            Some('"' | '\'') => self.string()?,
            _ => self.ident()?,
        };
        self.skip_ws();
        if self.peek() != Some(']') {
            return Err(format!("expected ']' at offset {}", self.pos));
        }
        self.pos += 1;
        Ok(Part::Attr {
            name,
            op,
            value: Some(value),
        })
    }

    fn function(&mut self, name: &str) -> Result<Part, String> {
        match name {
            "not" => {
                self.skip_ws();
                let (inner, pe) = self.compound()?;
                self.skip_ws();
                if pe.is_some() || self.peek() != Some(')') {
                    return Err("unsupported argument to :not()".into());
                }
                self.pos += 1;
                Ok(Part::Not(Box::new(inner)))
            }
            "contains" => {
                self.skip_ws();
                let v = match self.peek() {
                    Some('"' | '\'') => self.string()?,
                    _ => self.ident()?,
                };
                self.skip_ws();
                if self.peek() != Some(')') {
                    return Err("expected ')' after :contains() argument".into());
                }
                self.pos += 1;
                Ok(Part::Contains(v))
            }
            "nth-child" | "nth-last-child" | "nth-of-type" | "nth-last-of-type" => {
                let arg = self.until_paren()?;
                let (a, b) = parse_series(&arg)?;
                Ok(Part::Nth {
                    name: name.to_string(),
                    a,
                    b,
                })
            }
            _ => Err(format!("unsupported pseudo-class :{name}()")),
        }
    }
}

/// Parses `an+b` the way cssselect's `parse_series` does.
fn parse_series(arg: &str) -> Result<(i64, i64), String> {
    let s: String = arg
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let bad = || format!("invalid series '{arg}'");
    match s.as_str() {
        "odd" => return Ok((2, 1)),
        "even" => return Ok((2, 0)),
        "n" => return Ok((1, 0)),
        _ => {}
    }
    let Some(npos) = s.find('n') else {
        return s.parse::<i64>().map(|b| (0, b)).map_err(|_| bad());
    };
    let (a, b) = s.split_at(npos);
    let a = match a {
        "" | "+" => 1,
        "-" => -1,
        other => other.parse::<i64>().map_err(|_| bad())?,
    };
    let b = &b[1..];
    let b = if b.is_empty() {
        0
    } else {
        b.trim_start_matches('+')
            .parse::<i64>()
            .map_err(|_| bad())?
    };
    Ok((a, b))
}

/// The shape cssselect builds an expression in: a path so far, the current
/// element name and its condition.
struct Expr {
    path: String,
    element: String,
    condition: String,
}

impl Expr {
    fn add_condition(&mut self, cond: &str) {
        if self.condition.is_empty() {
            self.condition = cond.to_string();
        } else {
            self.condition = format!("({}) and ({cond})", self.condition);
        }
    }
    fn add_name_test(&mut self) {
        if self.element == "*" {
            return;
        }
        let cond = format!("self::{}", self.element);
        self.add_condition(&cond);
        self.element = "*".into();
    }
    fn render(&self) -> String {
        if self.condition.is_empty() {
            format!("{}{}", self.path, self.element)
        } else {
            format!("{}{}[{}]", self.path, self.element, self.condition)
        }
    }
    fn join(&mut self, combiner: &str, other: Expr) {
        self.path = format!("{}{combiner}{}", self.render(), other.path);
        self.element = other.element;
        self.condition = other.condition;
    }
}

/// XPath string literal as cssselect's `xpath_literal` writes it.
pub fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s
            .split_inclusive('\'')
            .flat_map(|chunk| {
                let (body, quote) = match chunk.strip_suffix('\'') {
                    Some(b) => (b, true),
                    None => (chunk, false),
                };
                let mut v = Vec::new();
                if !body.is_empty() {
                    v.push(format!("'{body}'"));
                }
                if quote {
                    v.push("\"'\"".to_string());
                }
                v
            })
            .collect();
        format!("concat({})", parts.join(","))
    }
}

fn is_safe_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn attr_ref(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    if is_safe_name(&name) {
        format!("@{name}")
    } else {
        format!("attribute::*[name() = {}]", xpath_literal(&name))
    }
}

fn includes(name: &str, value: &str) -> String {
    if !value.is_empty() && !value.contains(char::is_whitespace) {
        format!(
            "{name} and contains({name}, {}) and contains(concat(' ', normalize-space({name}), ' '), {})",
            xpath_literal(value),
            xpath_literal(&format!(" {value} "))
        )
    } else {
        "0".into()
    }
}

impl Compound {
    fn to_expr(&self) -> Result<Expr, String> {
        let (element, safe) = match &self.element {
            None => ("*".to_string(), true),
            Some(e) => (e.to_ascii_lowercase(), is_safe_name(e)),
        };
        let mut x = Expr {
            path: String::new(),
            element,
            condition: String::new(),
        };
        if !safe {
            let lit = xpath_literal(&x.element);
            x.add_condition(&format!("name() = {lit}"));
            x.element = "*".into();
        }
        for part in &self.parts {
            part.apply(&mut x)?;
        }
        Ok(x)
    }
}

impl Part {
    fn apply(&self, x: &mut Expr) -> Result<(), String> {
        let cond = match self {
            Part::Class(c) => includes("@class", c),
            Part::Id(id) => format!("@id = {}", xpath_literal(id)),
            Part::Attr { name, op, value } => {
                let n = attr_ref(name);
                let v = value.clone().unwrap_or_default();
                match op.as_str() {
                    "exists" => n,
                    "=" => format!("{n} = {}", xpath_literal(&v)),
                    "!=" if v.is_empty() => format!("{n} != {}", xpath_literal(&v)),
                    "!=" => format!("not({n}) or {n} != {}", xpath_literal(&v)),
                    "~=" => includes(&n, &v),
                    "|=" => format!(
                        "{n} and ({n} = {} or starts-with({n}, {}))",
                        xpath_literal(&v),
                        xpath_literal(&format!("{v}-"))
                    ),
                    _ if v.is_empty() => "0".into(),
                    "^=" => format!("{n} and starts-with({n}, {})", xpath_literal(&v)),
                    "$=" => format!(
                        "{n} and substring({n}, string-length({n})-{}) = {}",
                        v.chars().count() as i64 - 1,
                        xpath_literal(&v)
                    ),
                    "*=" => format!("{n} and contains({n}, {})", xpath_literal(&v)),
                    other => return Err(format!("unsupported attribute operator {other}")),
                }
            }
            Part::Pseudo(p) => {
                let el = x.element.clone();
                let typed = |what: &str| -> Result<String, String> {
                    if el == "*" {
                        Err(format!("*:{what} is not implemented"))
                    } else {
                        Ok(el.clone())
                    }
                };
                match p.as_str() {
                    "first-child" => "count(preceding-sibling::*) = 0".into(),
                    "last-child" => "count(following-sibling::*) = 0".into(),
                    "only-child" => {
                        "count(preceding-sibling::*) = 0 and count(following-sibling::*) = 0".into()
                    }
                    "first-of-type" => format!("count(preceding-sibling::{}) = 0", typed(p)?),
                    "last-of-type" => format!("count(following-sibling::{}) = 0", typed(p)?),
                    "only-of-type" => {
                        let t = typed(p)?;
                        format!(
                            "count(preceding-sibling::{t}) = 0 and count(following-sibling::{t}) = 0"
                        )
                    }
                    "empty" => "not(*) and not(string-length())".into(),
                    "root" => "not(parent::*)".into(),
                    "link" | "visited" | "hover" | "active" | "focus" | "target" => "0".into(),
                    other => return Err(format!("unsupported pseudo-class :{other}")),
                }
            }
            Part::Nth { name, a, b } => match nth_condition(name, *a, *b, &x.element)? {
                Some(c) => c,
                None => return Ok(()),
            },
            Part::Not(inner) => {
                let mut e = inner.to_expr()?;
                e.add_name_test();
                if e.condition.is_empty() {
                    "0".into()
                } else {
                    format!("not({})", e.condition)
                }
            }
            Part::Contains(v) => format!("contains(., {})", xpath_literal(v)),
        };
        x.add_condition(&cond);
        Ok(())
    }
}

fn nth_condition(name: &str, a: i64, b: i64, element: &str) -> Result<Option<String>, String> {
    let last = name.contains("last");
    let of_type = name.ends_with("of-type");
    let b1 = b - 1;
    if a == 1 && b1 <= 0 {
        return Ok(None);
    }
    if a < 0 && b1 < 0 {
        return Ok(Some("0".into()));
    }
    let test = if of_type {
        if element == "*" {
            return Err(format!("*:{name} is not implemented"));
        }
        element
    } else {
        "*"
    };
    let count = if last {
        format!("count(following-sibling::{test})")
    } else {
        format!("count(preceding-sibling::{test})")
    };
    if a == 0 {
        return Ok(Some(format!("{count} = {b1}")));
    }
    let mut exprs = Vec::new();
    if a > 0 {
        if b1 > 0 {
            exprs.push(format!("{count} >= {b1}"));
        }
    } else {
        exprs.push(format!("{count} <= {b1}"));
    }
    if a.abs() != 1 {
        let b_neg = (-b1).rem_euclid(a.abs());
        let left = if b_neg != 0 {
            format!("({count} +{b_neg})")
        } else {
            count.clone()
        };
        exprs.push(format!("{left} mod {a} = 0"));
    }
    Ok(Some(if exprs.len() > 1 {
        exprs
            .iter()
            .map(|e| format!("({e})"))
            .collect::<Vec<_>>()
            .join(" and ")
    } else {
        exprs.join(" and ")
    }))
}

impl Complex {
    fn translate(&self) -> Result<String, String> {
        let mut x = self.first.to_expr()?;
        for (comb, compound) in &self.rest {
            let right = compound.to_expr()?;
            match comb {
                ' ' => {
                    if right.element == "*" && right.condition.is_empty() && right.path.is_empty() {
                        x.join("/descendant-or-self::*/", right);
                    } else {
                        x.join("/descendant::", right);
                    }
                }
                '>' => x.join("/", right),
                '+' => {
                    x.join("/following-sibling::", right);
                    x.add_name_test();
                    x.add_condition("position() = 1");
                }
                _ => x.join("/following-sibling::", right),
            }
        }
        let mut path = x.render();
        match &self.pseudo {
            None => {}
            Some(PseudoElement::Text) => {
                if path == "*" {
                    path = "text()".into();
                } else if path.ends_with("::*/*") {
                    path = format!("{}text()", &path[..path.len() - 3]);
                } else {
                    path.push_str("/text()");
                }
            }
            Some(PseudoElement::Attr(name)) => {
                if path.ends_with("::*/*") {
                    path.truncate(path.len() - 2);
                }
                if is_safe_name(name) {
                    path.push_str(&format!("/@{name}"));
                } else {
                    path.push_str(&format!("/attribute::*[name() = {}]", xpath_literal(name)));
                }
            }
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::css_to_xpath;

    /// Each pair: a CSS selector and the XPath parsel 1.12's `HTMLTranslator`
    /// (cssselect 1.6) produces for it.
    const KNOWN: &[(&str, &str)] = &[
        (
            "p.gh-article-excerpt",
            "descendant-or-self::p[@class and contains(@class, 'gh-article-excerpt') and contains(concat(' ', normalize-space(@class), ' '), ' gh-article-excerpt ')]",
        ),
        (
            "section.gh-content > ul > li",
            "descendant-or-self::section[@class and contains(@class, 'gh-content') and contains(concat(' ', normalize-space(@class), ' '), ' gh-content ')]/ul/li",
        ),
        (
            "section.gh-content ul > li",
            "descendant-or-self::section[@class and contains(@class, 'gh-content') and contains(concat(' ', normalize-space(@class), ' '), ' gh-content ')]/descendant::ul/li",
        ),
        (
            "#ingredients .ingredient-list li",
            "descendant-or-self::*[@id = 'ingredients']/descendant::*[@class and contains(@class, 'ingredient-list') and contains(concat(' ', normalize-space(@class), ' '), ' ingredient-list ')]/descendant::li",
        ),
        (
            "meta[name=\"og:title\"]::attr(content)",
            "descendant-or-self::meta[@name = 'og:title']/@content",
        ),
        (
            ".print[data-name]::attr(data-name)",
            "descendant-or-self::*[(@class and contains(@class, 'print') and contains(concat(' ', normalize-space(@class), ' '), ' print ')) and (@data-name)]/@data-name",
        ),
        (
            "div.ings table tr:not(.delimiter) td.name",
            "descendant-or-self::div[@class and contains(@class, 'ings') and contains(concat(' ', normalize-space(@class), ' '), ' ings ')]/descendant::table/descendant::tr[not(@class and contains(@class, 'delimiter') and contains(concat(' ', normalize-space(@class), ' '), ' delimiter '))]/descendant::td[@class and contains(@class, 'name') and contains(concat(' ', normalize-space(@class), ' '), ' name ')]",
        ),
        ("a::text", "descendant-or-self::a/text()"),
        ("::text", "descendant-or-self::text()"),
        ("*::text", "descendant-or-self::text()"),
        (
            "td:first-child",
            "descendant-or-self::td[count(preceding-sibling::*) = 0]",
        ),
        (
            "li:last-child",
            "descendant-or-self::li[count(following-sibling::*) = 0]",
        ),
        (
            "li:nth-child(2)",
            "descendant-or-self::li[count(preceding-sibling::*) = 1]",
        ),
        (
            "li:nth-child(2n+1)",
            "descendant-or-self::li[count(preceding-sibling::*) mod 2 = 0]",
        ),
        (
            "li:nth-of-type(3)",
            "descendant-or-self::li[count(preceding-sibling::li) = 2]",
        ),
        (
            "h1 + p",
            "descendant-or-self::h1/following-sibling::*[(self::p) and (position() = 1)]",
        ),
        ("h1 ~ p", "descendant-or-self::h1/following-sibling::p"),
        ("a, b", "descendant-or-self::a | descendant-or-self::b"),
        (
            "[a~=\"x\"]",
            "descendant-or-self::*[@a and contains(@a, 'x') and contains(concat(' ', normalize-space(@a), ' '), ' x ')]",
        ),
        (
            "[a|=\"en\"]",
            "descendant-or-self::*[@a and (@a = 'en' or starts-with(@a, 'en-'))]",
        ),
        (
            "[a^=\"x\"]",
            "descendant-or-self::*[@a and starts-with(@a, 'x')]",
        ),
        (
            "[a$=\"xyz\"]",
            "descendant-or-self::*[@a and substring(@a, string-length(@a)-2) = 'xyz']",
        ),
        (
            "[a*=\"x\"]",
            "descendant-or-self::*[@a and contains(@a, 'x')]",
        ),
        ("[a!=\"x\"]", "descendant-or-self::*[not(@a) or @a != 'x']"),
        (
            "DIV.A",
            "descendant-or-self::div[@class and contains(@class, 'A') and contains(concat(' ', normalize-space(@class), ' '), ' A ')]",
        ),
        (
            "li:nth-last-child(2)",
            "descendant-or-self::li[count(following-sibling::*) = 1]",
        ),
        (
            "li:only-child",
            "descendant-or-self::li[count(preceding-sibling::*) = 0 and count(following-sibling::*) = 0]",
        ),
        (
            "p:empty",
            "descendant-or-self::p[not(*) and not(string-length())]",
        ),
        ("a:contains('x')", "descendant-or-self::a[contains(., 'x')]"),
        (
            "li:not(:first-child)",
            "descendant-or-self::li[not(count(preceding-sibling::*) = 0)]",
        ),
        (
            "div p::text",
            "descendant-or-self::div/descendant::p/text()",
        ),
        (
            "div *::text",
            "descendant-or-self::div/descendant-or-self::text()",
        ),
        ("a[href]", "descendant-or-self::a[@href]"),
        (
            "li:first-of-type",
            "descendant-or-self::li[count(preceding-sibling::li) = 0]",
        ),
        (
            "li:last-of-type",
            "descendant-or-self::li[count(following-sibling::li) = 0]",
        ),
        (":root", "descendant-or-self::*[not(parent::*)]"),
        (
            "span.a.b#c",
            "descendant-or-self::span[((@class and contains(@class, 'a') and contains(concat(' ', normalize-space(@class), ' '), ' a ')) and (@class and contains(@class, 'b') and contains(concat(' ', normalize-space(@class), ' '), ' b '))) and (@id = 'c')]",
        ),
        (
            "tr:nth-child(odd)",
            "descendant-or-self::tr[count(preceding-sibling::*) mod 2 = 0]",
        ),
        (
            "tr:nth-child(-n+3)",
            "descendant-or-self::tr[count(preceding-sibling::*) <= 2]",
        ),
        ("tr:nth-child(n)", "descendant-or-self::tr"),
        (
            "li:nth-last-of-type(2)",
            "descendant-or-self::li[count(following-sibling::li) = 1]",
        ),
        ("div > *::text", "descendant-or-self::div/*/text()"),
        (
            "a:only-of-type",
            "descendant-or-self::a[count(preceding-sibling::a) = 0 and count(following-sibling::a) = 0]",
        ),
    ];

    #[test]
    fn translation_matches_parsel() {
        for (css, want) in KNOWN {
            match css_to_xpath(css) {
                Ok(got) => assert_eq!(&got, want, "css `{css}`"),
                Err(e) => panic!("css `{css}`: {e}"),
            }
        }
    }

    #[test]
    fn malformed_css_is_an_error_naming_the_selector() {
        for bad in ["td[", "a >", "li:nth-child(x)", "p::before", "[a='x]"] {
            let err = css_to_xpath(bad).expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}

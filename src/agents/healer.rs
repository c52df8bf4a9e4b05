//! The built-in healer as an agent: no model, no network. Given the scraper's
//! source files, its saved fixture and the new response, it finds the
//! selector literals (`heal::source`), checks each against both documents,
//! heals the ones that no longer extract anything (`heal::html`,
//! `heal::json`), and edits only those literals. When the data is gone it
//! refuses, with a low confidence and the reason.

use std::collections::BTreeMap;

use serde_json::Value;

use super::contract::{
    AgentRequest, CONTRACT_VERSION, Change, DocumentFormat, Edit, Proposal, Strategy, TaskKind,
    Usage,
};
use super::{Agent, AgentError};
use crate::heal::json::{JsonPath, Step};
use crate::heal::source::{
    self, CallKind, KeyStep, Role, SelectorLiteral, chain_to_json_path, find_literals,
};
use crate::heal::{HealOutcome, Selector, SelectorKind, html, json};

/// The built-in deterministic healer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Healer;

impl Agent for Healer {
    fn name(&self) -> &str {
        "healer"
    }

    async fn invoke(&self, request: &AgentRequest) -> Result<Proposal, AgentError> {
        propose(request)
    }
}

/// One read of the page the scraper makes, and the literals it is written in.
struct Read {
    file: String,
    selector: Selector,
    literals: Vec<SelectorLiteral>,
}

/// A literal to rewrite, and the heal that asked for it.
struct LiteralEdit {
    file: String,
    literal: SelectorLiteral,
    new_value: String,
}

/// The healer's decision for a request: pure, no I/O.
pub fn propose(request: &AgentRequest) -> Result<Proposal, AgentError> {
    if request.task != TaskKind::Fix {
        return Err(AgentError::Unsupported {
            agent: "healer".into(),
            task: request.task,
        });
    }
    let fixture = request
        .evidence
        .fixture
        .as_ref()
        .ok_or(AgentError::Missing("evidence.fixture (the saved response)"))?;
    let response = request
        .evidence
        .response
        .as_ref()
        .ok_or(AgentError::Missing(
            "evidence.response (the failing response)",
        ))?;
    if fixture.format != response.format {
        return Ok(refusal(
            "the fixture and the new response are different formats: not a drift the healer fixes",
            0.0,
        ));
    }
    let format = fixture.format;

    let mut literals_by_file: Vec<(String, Vec<SelectorLiteral>)> = Vec::new();
    for file in request.files.iter().filter(|f| f.path.ends_with(".py")) {
        let lits = find_literals(&file.content).map_err(|e| AgentError::Failed {
            agent: "healer".into(),
            reason: format!("{}: {e}", file.path),
        })?;
        literals_by_file.push((file.path.clone(), lits));
    }

    let (reads, fixture_doc, response_doc) = match format {
        DocumentFormat::Html => (html_reads(&literals_by_file), None, None),
        DocumentFormat::Json => {
            let parse = |body: &str, what: &str| {
                serde_json::from_str::<Value>(body).map_err(|e| AgentError::Failed {
                    agent: "healer".into(),
                    reason: format!("{what} is not JSON: {e}"),
                })
            };
            let old = parse(&fixture.body, "the fixture")?;
            let new = parse(&response.body, "the new response")?;
            (json_reads(&literals_by_file, &old), Some(old), Some(new))
        }
    };

    let extract = |body: &str, doc: Option<&Value>, sel: &Selector| -> Vec<String> {
        match (sel.kind, doc) {
            (SelectorKind::JsonPath, Some(doc)) => sel
                .expr
                .parse::<JsonPath>()
                .map(|p| p.extract(doc))
                .unwrap_or_default(),
            (SelectorKind::JsonPath, None) => Vec::new(),
            _ => html::extract(body, sel).unwrap_or_default(),
        }
    };

    // Replacements that worked before on this class and host, best first: the
    // HTML search tries them before its own edits, and the JSON healer favours
    // the paths they predict.
    let renames = remembered_renames(request);
    let mut edits: Vec<LiteralEdit> = Vec::new();
    let mut healed_notes = Vec::new();
    let mut refused_notes = Vec::new();
    let mut scores = Vec::new();
    let mut refused_scores = Vec::new();
    for read in &reads {
        let before = extract(&fixture.body, fixture_doc.as_ref(), &read.selector);
        if before.is_empty() {
            continue; // not a read of this page
        }
        if !extract(&response.body, response_doc.as_ref(), &read.selector).is_empty() {
            continue; // still works
        }
        let outcome = match (&fixture_doc, &response_doc) {
            (Some(old), Some(new)) => match read.selector.expr.parse::<JsonPath>() {
                Ok(path) => json::heal_documents_with(old, new, &path, &renames),
                Err(e) => HealOutcome::Refused {
                    reason: e.to_string(),
                    score: 0.0,
                },
            },
            _ => html::heal_with(
                &fixture.body,
                &response.body,
                &read.selector,
                &html::HealOptions {
                    renames: renames.clone(),
                },
            ),
        };
        match outcome {
            HealOutcome::Unchanged => {}
            HealOutcome::Healed(heal) => match literal_edits(read, &heal.selector, &reads) {
                Ok(mut e) => {
                    scores.push(heal.score);
                    healed_notes.push(format!(
                        "{}: `{}` -> `{}` (score {:.2}; {})",
                        read.file,
                        read.selector.expr,
                        heal.selector.expr,
                        heal.score,
                        heal.rationale
                    ));
                    edits.append(&mut e);
                }
                Err(why) => {
                    refused_scores.push(heal.score * 0.5);
                    refused_notes.push(format!("{}: `{}`: {why}", read.file, read.selector.expr));
                }
            },
            HealOutcome::Refused { reason, score } => {
                refused_scores.push(score);
                refused_notes.push(format!("{}: `{}`: {reason}", read.file, read.selector.expr));
            }
        }
    }

    if edits.is_empty() {
        if refused_notes.is_empty() {
            return Ok(refusal(
                "every selector the scraper uses still extracts data from the new response: nothing for the healer to fix",
                0.0,
            ));
        }
        let score = refused_scores.iter().copied().fold(0.0, f64::max).min(0.3);
        return Ok(refusal(&refused_notes.join("\n"), score));
    }

    let files = apply_edits(request, edits)?;
    let mut confidence = scores.iter().copied().fold(1.0, f64::min);
    if !refused_notes.is_empty() {
        // Part of the scraper stays broken: the fix is incomplete.
        confidence *= 0.5;
    }
    let strategy = if format == DocumentFormat::Json {
        Strategy::JsonKeyHeal
    } else {
        Strategy::SelectorHeal
    };
    let mut rationale = healed_notes.join("\n");
    if !refused_notes.is_empty() {
        rationale.push_str("\nnot healed:\n");
        rationale.push_str(&refused_notes.join("\n"));
    }
    Ok(Proposal {
        version: CONTRACT_VERSION,
        edits: files
            .into_iter()
            .map(|(path, content)| Edit {
                path,
                change: Change::Content { content },
            })
            .collect(),
        strategy,
        root_cause: format!(
            "{} drift: {} selector(s) no longer extract anything from the new response",
            if format == DocumentFormat::Json {
                "JSON key"
            } else {
                "HTML selector"
            },
            scores.len() + refused_notes.len()
        ),
        confidence: confidence.clamp(0.0, 1.0),
        rationale,
        usage: Usage::default(),
    })
}

/// The request's memory hits of the request's error class as `(before, after)`
/// pairs, in the order memory ranked them.
fn remembered_renames(request: &AgentRequest) -> Vec<(String, String)> {
    let class = request.evidence.error_class.as_deref();
    request
        .memory
        .iter()
        .filter(|hit| class.is_none_or(|c| c == hit.error_class))
        .filter(|hit| !hit.before.is_empty() && hit.before != hit.after)
        .map(|hit| (hit.before.clone(), hit.after.clone()))
        .collect()
}

fn refusal(reason: &str, score: f64) -> Proposal {
    Proposal {
        version: CONTRACT_VERSION,
        edits: Vec::new(),
        strategy: Strategy::Refuse,
        root_cause: reason.lines().next().unwrap_or(reason).to_string(),
        confidence: score.clamp(0.0, 1.0),
        rationale: reason.to_string(),
        usage: Usage::default(),
    }
}

/// CSS/XPath literals, and `find()`/`find_all()` calls as CSS.
fn html_reads(files: &[(String, Vec<SelectorLiteral>)]) -> Vec<Read> {
    let mut reads = Vec::new();
    for (file, lits) in files {
        let mut finds: BTreeMap<usize, Vec<SelectorLiteral>> = BTreeMap::new();
        for lit in lits
            .iter()
            .filter(|l| l.editable || matches!(l.role, Role::Css | Role::Xpath))
        {
            match (&lit.role, lit.call) {
                (Role::Css, _) => reads.push(Read {
                    file: file.clone(),
                    selector: Selector {
                        kind: SelectorKind::Css,
                        expr: lit.value.clone(),
                    },
                    literals: vec![lit.clone()],
                }),
                (Role::Xpath, _) => reads.push(Read {
                    file: file.clone(),
                    selector: Selector {
                        kind: SelectorKind::Xpath,
                        expr: lit.value.clone(),
                    },
                    literals: vec![lit.clone()],
                }),
                (
                    Role::Tag | Role::Class | Role::Id | Role::Attr(_),
                    CallKind::Find | CallKind::FindAll,
                ) => {
                    finds
                        .entry(lit.call_range.start)
                        .or_default()
                        .push(lit.clone());
                }
                _ => {}
            }
        }
        for (_, group) in finds {
            if let Some(css) = find_to_css(&group) {
                reads.push(Read {
                    file: file.clone(),
                    selector: Selector {
                        kind: SelectorKind::Css,
                        expr: css,
                    },
                    literals: group,
                });
            }
        }
    }
    reads
}

/// `find("td", class_="x", id="y", attrs={"data-k": "v"})` as `td.x#y[data-k="v"]`.
fn find_to_css(group: &[SelectorLiteral]) -> Option<String> {
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let mut css = String::new();
    if let Some(tag) = group.iter().find(|l| l.role == Role::Tag) {
        if !ident(&tag.value) {
            return None;
        }
        css.push_str(&tag.value);
    }
    for lit in group {
        match &lit.role {
            Role::Class if lit.value.split_whitespace().all(ident) => {
                for class in lit.value.split_whitespace() {
                    css.push('.');
                    css.push_str(class);
                }
            }
            Role::Id if ident(&lit.value) => {
                css.push('#');
                css.push_str(&lit.value);
            }
            Role::Attr(name) if ident(name) => {
                css.push_str(&format!("[{name}=\"{}\"]", lit.value.replace('"', "\\\"")));
            }
            Role::Tag => {}
            _ => return None,
        }
    }
    (!css.is_empty()).then_some(css)
}

/// JSON key literals resolved, through the fixture, to full paths.
fn json_reads(files: &[(String, Vec<SelectorLiteral>)], fixture: &Value) -> Vec<Read> {
    let mut reads = Vec::new();
    for (file, lits) in files {
        for lit in lits.iter().filter(|l| l.role == Role::JsonKey) {
            if let Some(path) = resolve_chain(fixture, &lit.key_chain) {
                reads.push(Read {
                    file: file.clone(),
                    selector: Selector {
                        kind: SelectorKind::JsonPath,
                        expr: path.to_string(),
                    },
                    literals: vec![lit.clone()],
                });
            }
        }
    }
    reads
}

/// The shortest path of the fixture whose scalars are read by a key chain
/// (the chain may start below the root, as `item["title"]` in a loop does).
fn resolve_chain(doc: &Value, chain: &[KeyStep]) -> Option<JsonPath> {
    let mut found: Vec<JsonPath> = Vec::new();
    fn walk(v: &Value, steps: &mut Vec<Step>, out: &mut Vec<JsonPath>, chain: &[KeyStep]) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    steps.push(Step::Key(k.clone()));
                    walk(child, steps, out, chain);
                    steps.pop();
                }
            }
            Value::Array(items) => {
                if let Some(first) = items.iter().find(|x| !x.is_null()) {
                    steps.push(Step::Wildcard);
                    walk(first, steps, out, chain);
                    steps.pop();
                }
            }
            _ => {
                // Scalars, or lists of them: the path ends at the chain's last key.
                let ends_at = |steps: &[Step]| -> Option<JsonPath> {
                    if steps.len() < chain.len() {
                        return None;
                    }
                    let tail = &steps[steps.len() - chain.len()..];
                    let mut out = steps[..steps.len() - chain.len()].to_vec();
                    for (s, c) in tail.iter().zip(chain) {
                        match (s, c) {
                            (Step::Key(a), KeyStep::Key(b)) if a == b => out.push(s.clone()),
                            (Step::Wildcard, KeyStep::Index(i)) => out.push(Step::Index(*i)),
                            _ => return None,
                        }
                    }
                    Some(JsonPath { steps: out })
                };
                let trimmed = steps
                    .iter()
                    .rposition(|s| !matches!(s, Step::Wildcard))
                    .map_or(0, |i| i + 1);
                if let Some(p) = ends_at(&steps[..trimmed]) {
                    let mut p = p;
                    p.steps.extend(steps[trimmed..].iter().cloned());
                    out.push(p);
                }
            }
        }
    }
    if chain.is_empty() {
        return None;
    }
    walk(doc, &mut Vec::new(), &mut found, chain);
    found.sort_by_key(|p| p.steps.len());
    found.into_iter().find(|p| !p.extract(doc).is_empty())
}

/// The literal rewrites that turn `read` into `healed`, or why the heal
/// cannot be written as literal edits.
fn literal_edits(read: &Read, healed: &Selector, all: &[Read]) -> Result<Vec<LiteralEdit>, String> {
    let one = |lit: &SelectorLiteral, value: String| LiteralEdit {
        file: read.file.clone(),
        literal: lit.clone(),
        new_value: value,
    };
    let editable = |lit: &SelectorLiteral| -> Result<(), String> {
        if lit.editable {
            Ok(())
        } else {
            Err(format!(
                "the literal at line {} ({}{:?}) cannot be edited safely",
                lit.line, lit.prefix, lit.value
            ))
        }
    };
    match read.selector.kind {
        SelectorKind::JsonPath => {
            let old: JsonPath = read.selector.expr.parse().map_err(|e| format!("{e}"))?;
            let new: JsonPath = healed.expr.parse().map_err(|e| format!("{e}"))?;
            if old.steps.len() != new.steps.len() {
                return Err(format!(
                    "the key moved to `{}`: the read needs a new level, more than a one-literal edit",
                    healed.expr
                ));
            }
            let mut out = Vec::new();
            for (a, b) in old.steps.iter().zip(&new.steps) {
                match (a, b) {
                    (Step::Key(x), Step::Key(y)) if x != y => {
                        // The literal naming this key: in this read's chain
                        // first, else any read of the same file.
                        let lit = read
                            .literals
                            .iter()
                            .chain(
                                all.iter()
                                    .filter(|r| r.file == read.file)
                                    .flat_map(|r| r.literals.iter()),
                            )
                            .find(|l| l.role == Role::JsonKey && &l.value == x)
                            .ok_or_else(|| {
                                format!("no literal names the key {x:?} that became {y:?}")
                            })?;
                        editable(lit)?;
                        out.push(one(lit, y.clone()));
                    }
                    (a, b) if a == b => {}
                    _ => {
                        return Err(format!(
                            "the path changed shape (`{}` -> `{}`), more than a key rename",
                            read.selector.expr, healed.expr
                        ));
                    }
                }
            }
            Ok(out)
        }
        SelectorKind::Css | SelectorKind::Xpath
            if read.literals.len() == 1
                && matches!(read.literals[0].role, Role::Css | Role::Xpath) =>
        {
            let lit = &read.literals[0];
            editable(lit)?;
            if healed.kind != read.selector.kind {
                return Err(format!(
                    "the heal changed the selector language to {:?}",
                    healed.kind
                ));
            }
            Ok(vec![one(lit, healed.expr.clone())])
        }
        _ => {
            // A find() call: the healed CSS must still be tag.class#id.
            let (tag, classes, id) = simple_css(&healed.expr).ok_or_else(|| {
                format!("`{}` cannot be written as find() arguments", healed.expr)
            })?;
            let mut out = Vec::new();
            let lit_for = |role: &Role| read.literals.iter().find(|l| &l.role == role);
            let mut set = |role: Role, value: Option<String>| -> Result<(), String> {
                match (lit_for(&role), value) {
                    (Some(lit), Some(v)) if lit.value != v => {
                        editable(lit)?;
                        out.push(one(lit, v));
                        Ok(())
                    }
                    (Some(_), Some(_)) => Ok(()),
                    (None, None) => Ok(()),
                    (Some(lit), None) => Err(format!(
                        "the heal drops the {:?} argument {:?}",
                        role, lit.value
                    )),
                    (None, Some(v)) => Err(format!("the heal needs a new {role:?} argument {v:?}")),
                }
            };
            set(Role::Tag, tag)?;
            set(
                Role::Class,
                (!classes.is_empty()).then(|| classes.join(" ")),
            )?;
            set(Role::Id, id)?;
            if read
                .literals
                .iter()
                .any(|l| matches!(l.role, Role::Attr(_)))
            {
                return Err("find() with attrs other than class and id is not re-derived".into());
            }
            Ok(out)
        }
    }
}

/// `tag.a.b#id` split into parts; `None` for anything more complex.
fn simple_css(css: &str) -> Option<(Option<String>, Vec<String>, Option<String>)> {
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let mut tag = None;
    let mut classes = Vec::new();
    let mut id = None;
    let mut rest = css.trim();
    let end = rest.find(['.', '#']).unwrap_or(rest.len());
    if end > 0 {
        if !ident(&rest[..end]) {
            return None;
        }
        tag = Some(rest[..end].to_string());
    }
    rest = &rest[end..];
    while !rest.is_empty() {
        let marker = rest.chars().next()?;
        let body = &rest[1..];
        let end = body.find(['.', '#']).unwrap_or(body.len());
        let name = &body[..end];
        if !ident(name) {
            return None;
        }
        match marker {
            '.' => classes.push(name.to_string()),
            '#' if id.is_none() => id = Some(name.to_string()),
            _ => return None,
        }
        rest = &body[end..];
    }
    Some((tag, classes, id))
}

/// Applies the literal edits file by file, last literal first so earlier
/// byte ranges stay valid; returns the changed files' new contents.
fn apply_edits(
    request: &AgentRequest,
    mut edits: Vec<LiteralEdit>,
) -> Result<Vec<(String, String)>, AgentError> {
    edits.sort_by(|a, b| {
        (a.file.as_str(), std::cmp::Reverse(a.literal.range.start))
            .cmp(&(b.file.as_str(), std::cmp::Reverse(b.literal.range.start)))
    });
    edits.dedup_by(|a, b| a.file == b.file && a.literal.range == b.literal.range);
    let mut out: Vec<(String, String)> = Vec::new();
    for edit in edits {
        let content = match out.iter_mut().find(|(p, _)| *p == edit.file) {
            Some((_, c)) => c,
            None => {
                let original = request
                    .files
                    .iter()
                    .find(|f| f.path == edit.file)
                    .map(|f| f.content.clone())
                    .ok_or(AgentError::Missing(
                        "the edited file among the request's files",
                    ))?;
                out.push((edit.file.clone(), original));
                let last = out.len() - 1;
                &mut out[last].1
            }
        };
        *content =
            source::replace_literal(content, &edit.literal, &edit.new_value).map_err(|e| {
                AgentError::Failed {
                    agent: "healer".into(),
                    reason: format!("{}: {e}", edit.file),
                }
            })?;
    }
    Ok(out)
}

/// The JSON path a key literal's chain reads (for messages and tests).
pub fn key_chain_path(lit: &SelectorLiteral) -> String {
    chain_to_json_path(&lit.key_chain)
}

#[cfg(test)]
mod tests;

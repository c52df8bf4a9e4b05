//! The repair job's calls into the other parts of the loop: diagnosis
//! (`incident`), the proposal (the built-in healer), policy and confidence.
//! Each returns the plain view the report shows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::job::RepairError;
use super::replay::{ContentKind, ReplayVerdict, SavedResponse};
use super::scraper::{Layout, Scraper};
use crate::heal::{HealOutcome, Selector, SelectorKind};
use crate::incident::{self, Evidence, FailingResponse};

/// The diagnosis as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct DiagnosisView {
    pub class: String,
    /// The rule that decided the class.
    pub decided_by: String,
    /// The lines of evidence, decisive first.
    pub evidence: Vec<String>,
    pub fingerprint: String,
    pub upstream_host: Option<String>,
}

/// Diagnoses the failure from the log and the response.
pub fn diagnose(log: &str, response: Option<&SavedResponse>, scraper: &Scraper) -> DiagnosisView {
    let evidence = Evidence {
        log: log.to_owned(),
        response: response.map(|r| FailingResponse {
            url: r.url.as_deref().and_then(|u| url::Url::parse(u).ok()),
            status: None,
            content_type: Some(
                match r.kind {
                    ContentKind::Html => "text/html",
                    ContentKind::Json => "application/json",
                }
                .to_owned(),
            ),
            body: r.body.clone(),
        }),
        scraper: Some(incident::ScraperName::new(scraper.name.as_str())),
        scraper_files: scraper
            .files()
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    };
    let diagnosis = incident::classify(&evidence);
    let decisive = &diagnosis.decisive;
    DiagnosisView {
        class: diagnosis.class.as_str().to_owned(),
        decided_by: decisive.rule.as_str().to_owned(),
        evidence: diagnosis
            .reasons()
            .map(|r| format!("{}: {}", r.rule.as_str(), r.excerpt))
            .collect(),
        fingerprint: diagnosis.fingerprint.to_string(),
        upstream_host: diagnosis
            .upstream_host
            .as_ref()
            .map(|h| h.as_str().to_owned()),
    }
}

/// A proposed fix: whole-file edits and what the agent said about them.
#[derive(Clone, Debug)]
pub struct Fix {
    pub agent: String,
    pub strategy: String,
    pub root_cause: String,
    pub rationale: String,
    /// The agent's own score in [0, 1].
    pub score: f64,
    pub edits: Vec<(PathBuf, Vec<u8>)>,
    /// Each replaced literal: (before, after).
    pub changes: Vec<(String, String)>,
}

impl Fix {
    /// One line for a commit subject.
    pub fn summary(&self) -> String {
        match self.changes.as_slice() {
            [(before, after)] => format!("heal `{before}` -> `{after}`"),
            changes => format!("heal {} selectors", changes.len()),
        }
    }
}

/// A selector string literal in a scraper's source.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Literal {
    selector: Selector,
    /// Byte range of the literal's content (inside the quotes).
    start: usize,
    end: usize,
    quote: char,
}

/// The selector literals passed to `.css()`, `.xpath()`, `.select()` and
/// `.select_one()` in `source` (plain or raw single- or double-quoted strings).
fn selector_literals(source: &str) -> Vec<Literal> {
    static PATTERN: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(pattern) = PATTERN
        .get_or_init(|| {
            regex::Regex::new(r#"\.(css|xpath|select_one|select)\(\s*r?(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')"#).ok()
        })
        .as_ref()
    else {
        return Vec::new();
    };
    pattern
        .captures_iter(source)
        .filter_map(|caps| {
            let kind = match &caps[1] {
                "xpath" => SelectorKind::Xpath,
                _ => SelectorKind::Css,
            };
            let (content, quote) = match (caps.get(2), caps.get(3)) {
                (Some(m), _) => (m, '"'),
                (_, Some(m)) => (m, '\''),
                _ => return None,
            };
            if content.as_str().contains('\\') {
                return None; // escapes would need Python's rules to evaluate
            }
            Some(Literal {
                selector: Selector {
                    kind,
                    expr: content.as_str().to_owned(),
                },
                start: content.start(),
                end: content.end(),
                quote,
            })
        })
        .collect()
}

/// Proposes a fix with the built-in healer: every selector literal of the
/// scraper's module that no longer selects on the new page what it selected
/// on the saved fixture is healed and edited in place. Refuses, with the
/// reason, when there is nothing it can heal.
pub async fn propose(
    scraper: &Scraper,
    files: &BTreeMap<PathBuf, Vec<u8>>,
    fixture: Option<&SavedResponse>,
    failing: &SavedResponse,
    diagnosis: &DiagnosisView,
) -> Result<Fix, String> {
    let Some(fixture) = fixture else {
        return Err(format!(
            "{} has no saved {} fixture to learn the expected data from",
            scraper.name,
            kind_name(failing.kind)
        ));
    };
    if failing.kind != ContentKind::Html {
        return Err(
            "the built-in healer here heals HTML selectors; JSON key drift is not healed yet"
                .into(),
        );
    }
    let source = files
        .get(&scraper.module)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .ok_or_else(|| format!("cannot read {}", scraper.module.display()))?;
    let old_html = String::from_utf8_lossy(&fixture.body).into_owned();
    let new_html = String::from_utf8_lossy(&failing.body).into_owned();
    let literals = selector_literals(&source);
    if literals.is_empty() {
        return Err(format!(
            "no selector literals found in {}",
            scraper.module.display()
        ));
    }
    let mut healed = Vec::new();
    let mut refusals = Vec::new();
    for literal in literals {
        let outcome = crate::heal::html::heal(&old_html, &new_html, &literal.selector);
        match outcome {
            HealOutcome::Unchanged => {}
            HealOutcome::Healed(heal)
                if !heal.selector.expr.contains(literal.quote)
                    && heal.selector.kind == literal.selector.kind =>
            {
                healed.push((literal, heal));
            }
            HealOutcome::Healed(heal) => refusals.push(format!(
                "`{}` heals to `{}`, which cannot be written in the same literal",
                literal.selector.expr, heal.selector.expr
            )),
            HealOutcome::Refused { reason, .. } => {
                refusals.push(format!("`{}`: {reason}", literal.selector.expr));
            }
        }
    }
    if healed.is_empty() {
        return Err(if refusals.is_empty() {
            format!(
                "every selector in {} still selects on the new page what it selected on the fixture; the {} is not a selector change the healer can fix",
                scraper.module.display(),
                diagnosis.class
            )
        } else {
            format!("the healer refused: {}", refusals.join("; "))
        });
    }
    let mut edited = source.clone();
    // Edit from the end so earlier byte ranges stay valid.
    healed.sort_by_key(|(literal, _)| std::cmp::Reverse(literal.start));
    for (literal, heal) in &healed {
        edited.replace_range(literal.start..literal.end, &heal.selector.expr);
    }
    healed.reverse();
    let score = healed.iter().map(|(_, h)| h.score).fold(1.0_f64, f64::min);
    let rationale = healed
        .iter()
        .map(|(literal, heal)| {
            format!(
                "`{}` -> `{}`: {}",
                literal.selector.expr, heal.selector.expr, heal.rationale
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Fix {
        agent: "healer".into(),
        strategy: "selector_heal".into(),
        root_cause: format!(
            "the page changed: {} selector(s) in {} no longer select what they did on the saved fixture",
            healed.len(),
            scraper.module.display()
        ),
        rationale,
        score,
        edits: vec![(scraper.module.clone(), edited.into_bytes())],
        changes: healed
            .iter()
            .map(|(literal, heal)| (literal.selector.expr.clone(), heal.selector.expr.clone()))
            .collect(),
    })
}

fn kind_name(kind: ContentKind) -> &'static str {
    match kind {
        ContentKind::Html => "HTML",
        ContentKind::Json => "JSON",
    }
}

/// The repository's rules for a repair, and the decisions made from them.
#[derive(Clone, Debug)]
pub struct PolicyContext {
    layout: Layout,
    bands: Bands,
    max_attempts: u32,
    max_diff_lines: u32,
    auto_merge: bool,
}

/// Band thresholds: above `high` is high, from `medium` up is medium.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Bands {
    pub high: f64,
    pub medium: f64,
}

/// Paths no fix may touch, whatever the repository's file says.
const ALWAYS_PROTECTED: [&str; 5] = [".github/", "deploy/", "k8s/", ".env", "secrets/"];

/// Loads the repository's policy for `scraper`.
pub fn load_policy(_repo: &Path, _scraper: &str) -> Result<PolicyContext, RepairError> {
    Ok(PolicyContext {
        layout: Layout::default(),
        bands: Bands {
            high: 0.95,
            medium: 0.70,
        },
        max_attempts: 3,
        max_diff_lines: 200,
        auto_merge: true,
    })
}

/// Whether a fix may be merged without a human, and if not why.
#[derive(Clone, Debug, Serialize)]
pub struct MergeDecision {
    pub allowed: bool,
    pub refusals: Vec<String>,
}

impl PolicyContext {
    /// Where scrapers live in this repository.
    pub fn layout(&self) -> Layout {
        self.layout.clone()
    }

    /// Why attempt number `attempt` may not run, if it may not.
    pub fn attempts_exhausted(&self, attempt: u32) -> Option<String> {
        (attempt > self.max_attempts).then(|| {
            format!(
                "this is attempt {attempt}, the limit is {} per incident: a human takes over",
                self.max_attempts
            )
        })
    }

    /// Every reason the edits may not be committed to a repair branch.
    pub fn check_apply(
        &self,
        scraper: &Scraper,
        edits: &BTreeMap<PathBuf, Vec<u8>>,
        diff_lines: u32,
        attempt: u32,
    ) -> Vec<String> {
        let mut refusals = Vec::new();
        for path in edits.keys() {
            let text = path.display().to_string();
            if ALWAYS_PROTECTED.iter().any(|p| text.starts_with(p)) {
                refusals.push(format!("path `{text}` is protected"));
            } else if !scraper.owns(path) {
                refusals.push(format!("path `{text}` is not one of the scraper's files"));
            }
        }
        if edits.is_empty() {
            refusals.push("the proposal changes nothing".into());
        }
        let code_lines = diff_lines;
        if code_lines
            > self
                .max_diff_lines
                .saturating_add(fixture_allowance(scraper, edits))
        {
            refusals.push(format!(
                "the diff has {code_lines} changed lines, the limit is {}",
                self.max_diff_lines
            ));
        }
        refusals.extend(self.attempts_exhausted(attempt));
        refusals
    }

    /// Whether the proven fix may be merged without a human.
    pub fn check_merge(
        &self,
        scraper: &Scraper,
        edits: &BTreeMap<PathBuf, Vec<u8>>,
        diff_lines: u32,
        attempt: u32,
        confidence: &ConfidenceView,
    ) -> MergeDecision {
        let mut refusals = self.check_apply(scraper, edits, diff_lines, attempt);
        if confidence.band != "high" {
            refusals.push(format!(
                "confidence band is {}, merging needs high",
                confidence.band
            ));
        }
        if !self.auto_merge {
            refusals.push("auto-merge is off in .github/fixwright.yml".into());
        }
        MergeDecision {
            allowed: refusals.is_empty(),
            refusals,
        }
    }

    /// Whether this repository's mode lets the job write branches.
    pub fn writes(&self) -> bool {
        true
    }

    pub fn mode_name(&self) -> &'static str {
        "on"
    }

    pub fn bands(&self) -> Bands {
        self.bands
    }
}

/// A replaced fixture is data, not code: its lines do not count against the
/// diff-size limit.
fn fixture_allowance(scraper: &Scraper, edits: &BTreeMap<PathBuf, Vec<u8>>) -> u32 {
    edits
        .iter()
        .filter(|(path, _)| {
            scraper
                .fixtures_dir
                .as_ref()
                .is_some_and(|d| path.starts_with(d))
        })
        .map(|(_, body)| String::from_utf8_lossy(body).lines().count() as u32 * 2)
        .sum()
}

/// One factor of a confidence score.
#[derive(Clone, Debug, Serialize)]
pub struct Factor {
    pub name: String,
    /// The factor's value in [0, 1].
    pub value: f64,
    pub weight: f64,
    /// `value * weight`.
    pub contribution: f64,
    pub note: String,
}

/// The confidence in a proven fix, with its breakdown.
#[derive(Clone, Debug, Serialize)]
pub struct ConfidenceView {
    pub raw: f64,
    pub calibrated: f64,
    pub band: String,
    pub factors: Vec<Factor>,
}

/// Scores a proven fix from independent evidence: the agent's own score, the
/// replay, the size of the code change and the strategy's track record.
pub fn score(
    policy: &PolicyContext,
    fix: &Fix,
    verdict: &ReplayVerdict,
    code_lines: u32,
    strategy_rate: (u64, u64),
) -> ConfidenceView {
    let (successes, failures) = strategy_rate;
    let rate = (successes as f64 + 1.0) / ((successes + failures) as f64 + 2.0);
    let replay = if verdict.passed {
        if verdict.comparison.baseline.is_some() {
            1.0
        } else {
            0.6
        }
    } else {
        0.0
    };
    let size = 1.0 - (f64::from(code_lines) / 40.0).min(1.0);
    let factors = vec![
        factor(
            "proposal",
            fix.score,
            0.35,
            format!("{}'s own score", fix.agent),
        ),
        factor("replay", replay, 0.35, verdict.reason.clone()),
        factor(
            "diff size",
            size,
            0.10,
            format!("{code_lines} changed lines of code"),
        ),
        factor(
            "track record",
            rate,
            0.20,
            format!(
                "{} on this error class: {successes} succeeded, {failures} failed",
                fix.strategy
            ),
        ),
    ];
    let raw: f64 = factors.iter().map(|f| f.contribution).sum();
    let raw = raw.clamp(0.0, 1.0);
    let bands = policy.bands();
    let band = if raw > bands.high {
        "high"
    } else if raw >= bands.medium {
        "medium"
    } else {
        "low"
    };
    ConfidenceView {
        raw,
        calibrated: raw,
        band: band.to_owned(),
        factors,
    }
}

fn factor(name: &str, value: f64, weight: f64, note: String) -> Factor {
    Factor {
        name: name.to_owned(),
        value,
        weight,
        contribution: value * weight,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_literals_are_found_with_their_ranges() {
        let source = "for b in response.css(\"article.product_pod\"):\n    t = b.xpath('./h3/a/@title').get()\n    s = soup.select_one(\"h3.name\")\n    u = soup.select(r'li > a')\n";
        let literals = selector_literals(source);
        let found: Vec<(SelectorKind, &str)> = literals
            .iter()
            .map(|l| (l.selector.kind, &source[l.start..l.end]))
            .collect();
        assert_eq!(
            found,
            vec![
                (SelectorKind::Css, "article.product_pod"),
                (SelectorKind::Xpath, "./h3/a/@title"),
                (SelectorKind::Css, "h3.name"),
                (SelectorKind::Css, "li > a"),
            ]
        );
    }
}

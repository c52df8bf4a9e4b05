//! The healer benchmark: runs the healer over every case of a corpus (the
//! shared selector-healing corpus and this repository's own cases, same
//! format) and scores each answer by the corpus rules.
//!
//! Loading and timing are the only side effects; scoring and aggregation are
//! pure functions over [`CaseResult`]s so they can be tested on tiny cases.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{HealOutcome, Selector, SelectorKind};
use crate::confidence::calibration::{CalibrationError, IsotonicCalibration, Outcome};
use crate::confidence::score::GateSummary;
use crate::confidence::{Evidence, Rate, Replay, assess};
use crate::policy::file::Bands;

/// Answers scored below this count as refusals (the medium band's floor).
pub const MEDIUM_THRESHOLD: f64 = 0.70;
/// Answers scored above this would be merged without a human.
pub const HIGH_THRESHOLD: f64 = 0.95;

/// One corpus case as `case.json` describes it (fields the scoring needs).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Case {
    pub id: String,
    pub kind: String,
    pub selector_type: SelectorKind,
    pub selector_before: String,
    pub expected_values: Vec<String>,
    pub tier: u8,
    #[serde(default)]
    pub decoy: Option<bool>,
    #[serde(default)]
    pub reference_selector_after: Option<String>,
}

impl Case {
    /// `unfixable_removed` and `rewrite`: refusing is the right answer.
    pub fn expects_refusal(&self) -> bool {
        matches!(self.kind.as_str(), "unfixable_removed" | "rewrite")
    }
}

/// A case with its pages loaded.
#[derive(Clone, Debug)]
pub struct LoadedCase {
    pub case: Case,
    pub old: String,
    pub new: String,
    pub dir: PathBuf,
}

/// Why a corpus could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot read corpus directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid case.json: {source}")]
    CaseJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("case {dir} has neither old.html/new.html nor old.json/new.json")]
    NoPages { dir: PathBuf },
}

/// Loads every case under `root` (either the corpus root holding `cases/`, or
/// a folder of case folders), sorted by id.
pub fn load_cases(root: &Path) -> Result<Vec<LoadedCase>, BenchError> {
    let dir = if root.join("cases").is_dir() {
        root.join("cases")
    } else {
        root.to_path_buf()
    };
    let entries = std::fs::read_dir(&dir).map_err(|source| BenchError::Dir {
        path: dir.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| BenchError::Dir {
            path: dir.clone(),
            source,
        })?;
        let case_dir = entry.path();
        let case_json = case_dir.join("case.json");
        if !case_json.is_file() {
            continue;
        }
        let read = |p: PathBuf| {
            std::fs::read_to_string(&p).map_err(|source| BenchError::File { path: p, source })
        };
        let case: Case = serde_json::from_str(&read(case_json.clone())?).map_err(|source| {
            BenchError::CaseJson {
                path: case_json.clone(),
                source,
            }
        })?;
        let (old, new) = if case_dir.join("old.json").is_file() {
            (case_dir.join("old.json"), case_dir.join("new.json"))
        } else if case_dir.join("old.html").is_file() {
            (case_dir.join("old.html"), case_dir.join("new.html"))
        } else {
            return Err(BenchError::NoPages { dir: case_dir });
        };
        out.push(LoadedCase {
            case,
            old: read(old)?,
            new: read(new)?,
            dir: case_dir,
        });
    }
    out.sort_by(|a, b| a.case.id.cmp(&b.case.id));
    Ok(out)
}

/// The healing half the benchmark drives for one document format.
pub trait DocumentHealer {
    /// What `selector` extracts from `doc` under the corpus extraction rule.
    fn extract(&self, doc: &str, selector: &Selector) -> Result<Vec<String>, String>;
    /// The healer's answer for `selector` between the two documents.
    fn heal(&self, old: &str, new: &str, selector: &Selector) -> HealOutcome;
}

/// The JSON key-drift healer.
pub struct JsonHealer;

impl DocumentHealer for JsonHealer {
    fn extract(&self, doc: &str, selector: &Selector) -> Result<Vec<String>, String> {
        super::json::extract(doc, selector).map_err(|e| e.to_string())
    }
    fn heal(&self, old: &str, new: &str, selector: &Selector) -> HealOutcome {
        super::json::heal(old, new, selector)
    }
}

/// The HTML selector healer (CSS and XPath, evaluated as parsel does).
pub struct HtmlHealer;

impl DocumentHealer for HtmlHealer {
    fn extract(&self, doc: &str, selector: &Selector) -> Result<Vec<String>, String> {
        super::html::extract(doc, selector).map_err(|e| e.to_string())
    }
    fn heal(&self, old: &str, new: &str, selector: &Selector) -> HealOutcome {
        super::html::heal(old, new, selector)
    }
}

/// The healers the benchmark runs, by selector language.
pub struct Healers<'a> {
    pub json: &'a dyn DocumentHealer,
    /// `None` while no HTML healer is built in: such cases are reported as
    /// not run, never as refusals.
    pub html: Option<&'a dyn DocumentHealer>,
}

/// How one answer scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Healed,
    Wrong,
    Refused,
    CorrectRefusal,
    NotRun,
}

/// One case's answer and verdict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaseResult {
    pub id: String,
    pub tier: u8,
    pub kind: String,
    pub decoy: Option<bool>,
    pub expects_refusal: bool,
    /// The selector proposed (for `Unchanged`, the old one), if any.
    pub selector: Option<String>,
    /// The healer's raw score in [0, 1] (0 for a refusal without one).
    pub raw_score: f64,
    /// The score the verdict used: calibrated when a calibration is applied.
    pub score: f64,
    /// Whether the proposal, taken at any score, extracts the expected values
    /// (for refusal cases: always false). The calibration's label.
    pub proposal_correct: bool,
    pub proposed: bool,
    /// False when no healer for the case's selector language is built in.
    pub ran: bool,
    pub verdict: Verdict,
    pub millis: f64,
    pub reason: Option<String>,
}

/// Runs the healer on one case and scores the answer (score not yet
/// calibrated; see [`apply_threshold`]).
pub fn run_case(healers: &Healers<'_>, lc: &LoadedCase) -> CaseResult {
    let case = &lc.case;
    let healer = match case.selector_type {
        SelectorKind::JsonPath => Some(healers.json),
        SelectorKind::Css | SelectorKind::Xpath => healers.html,
    };
    let mut result = CaseResult {
        id: case.id.clone(),
        tier: case.tier,
        kind: case.kind.clone(),
        decoy: case.decoy,
        expects_refusal: case.expects_refusal(),
        selector: None,
        raw_score: 0.0,
        score: 0.0,
        proposal_correct: false,
        proposed: false,
        ran: false,
        verdict: Verdict::NotRun,
        millis: 0.0,
        reason: None,
    };
    let Some(healer) = healer else {
        result.reason = Some("no healer for this selector language in this build".into());
        return result;
    };
    let before = Selector {
        kind: case.selector_type,
        expr: case.selector_before.clone(),
    };
    result.ran = true;
    let started = Instant::now();
    let outcome = healer.heal(&lc.old, &lc.new, &before);
    result.millis = started.elapsed().as_secs_f64() * 1000.0;
    let proposal = match outcome {
        HealOutcome::Unchanged => Some((before.clone(), 1.0)),
        HealOutcome::Healed(h) => {
            result.reason = Some(h.rationale.clone());
            Some((h.selector, h.score))
        }
        HealOutcome::Refused { reason, score } => {
            result.raw_score = score;
            result.reason = Some(reason);
            None
        }
    };
    if let Some((selector, score)) = proposal {
        result.proposed = true;
        result.raw_score = score;
        result.proposal_correct = !case.expects_refusal()
            && healer.extract(&lc.new, &selector).ok().as_ref() == Some(&case.expected_values);
        result.selector = Some(selector.expr);
    }
    result.score = result.raw_score;
    apply_threshold(&mut result);
    result
}

/// Sets the verdict from the proposal and the (possibly calibrated) score:
/// an answer below [`MEDIUM_THRESHOLD`] counts as refused.
pub fn apply_threshold(r: &mut CaseResult) {
    if !r.ran {
        return;
    }
    let answered = r.proposed && r.score >= MEDIUM_THRESHOLD;
    r.verdict = match (answered, r.expects_refusal) {
        (false, true) => Verdict::CorrectRefusal,
        (false, false) => Verdict::Refused,
        (true, true) => Verdict::Wrong,
        (true, false) if r.proposal_correct => Verdict::Healed,
        (true, false) => Verdict::Wrong,
    };
}

/// Deterministic half of the corpus a case belongs to: `true` for the half the
/// calibration is fitted on (FNV-1a of the id, so it never depends on order).
pub fn in_fit_half(id: &str) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.is_multiple_of(2)
}

/// Counts for one group of cases.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Tally {
    pub cases: usize,
    pub fixable: usize,
    pub healed: usize,
    pub wrong: usize,
    pub refused: usize,
    pub correct_refusals: usize,
    pub refusal_cases: usize,
    pub not_run: usize,
    /// Wrong answers scored above the high threshold.
    pub wrong_above_high: usize,
    /// Healed answers scored above the high threshold.
    pub healed_above_high: usize,
    pub median_ms: f64,
    pub p95_ms: f64,
}

impl Tally {
    /// Tallies a group of results.
    pub fn of<'a>(results: impl IntoIterator<Item = &'a CaseResult>) -> Tally {
        let mut t = Tally::default();
        let mut times = Vec::new();
        for r in results {
            t.cases += 1;
            if r.expects_refusal {
                t.refusal_cases += 1;
            } else {
                t.fixable += 1;
            }
            match r.verdict {
                Verdict::Healed => t.healed += 1,
                Verdict::Wrong => t.wrong += 1,
                Verdict::Refused => t.refused += 1,
                Verdict::CorrectRefusal => t.correct_refusals += 1,
                Verdict::NotRun => t.not_run += 1,
            }
            if r.score > HIGH_THRESHOLD && r.proposed {
                match r.verdict {
                    Verdict::Wrong => t.wrong_above_high += 1,
                    Verdict::Healed => t.healed_above_high += 1,
                    _ => {}
                }
            }
            if r.verdict != Verdict::NotRun {
                times.push(r.millis);
            }
        }
        times.sort_by(f64::total_cmp);
        t.median_ms = percentile(&times, 0.5);
        t.p95_ms = percentile(&times, 0.95);
        t
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// The benchmark's tables: by tier, by tier and kind, tier 2 by decoy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub overall: Tally,
    pub by_tier: BTreeMap<String, Tally>,
    pub by_tier_kind: BTreeMap<String, Tally>,
    pub tier2_by_decoy: BTreeMap<String, Tally>,
}

/// Groups results into the report's tables.
pub fn report(results: &[CaseResult]) -> Report {
    let group = |key: &dyn Fn(&CaseResult) -> Option<String>| {
        let mut groups: BTreeMap<String, Vec<&CaseResult>> = BTreeMap::new();
        for r in results {
            if let Some(k) = key(r) {
                groups.entry(k).or_default().push(r);
            }
        }
        groups
            .into_iter()
            .map(|(k, v)| (k, Tally::of(v)))
            .collect::<BTreeMap<_, _>>()
    };
    Report {
        overall: Tally::of(results),
        by_tier: group(&|r| Some(format!("tier {}", r.tier))),
        by_tier_kind: group(&|r| Some(format!("tier {} {}", r.tier, r.kind))),
        tier2_by_decoy: group(&|r| {
            (r.tier == 2).then(|| {
                if r.decoy == Some(true) {
                    "decoy"
                } else {
                    "no decoy"
                }
                .to_string()
            })
        }),
    }
}

/// A calibration fitted on one half of the results and the other half scored
/// with it.
pub struct Calibrated {
    pub calibration: IsotonicCalibration,
    /// Proposals the calibration was fitted on.
    pub fitted_on: usize,
    /// The held-out results, verdicts recomputed on calibrated scores.
    pub held_out: Vec<CaseResult>,
}

/// The raw confidence a repair attempt computes for a healer proposal with
/// this score on an installation's first day: the fix verified on the new
/// response (the benchmark's stand-in for the replay), its three gates green
/// (a literal rewritten inside the scraper's own files, as a repair's gates
/// see it), a one-line change inside the scraper, and no history yet.
///
/// The prior calibration is fitted on this score, not on the healer's own, so
/// that it maps the same raw scale `confidence::assess` produces in a repair.
pub fn day_one_raw(heal_score: f64) -> f64 {
    let evidence = Evidence {
        proposal_score: heal_score,
        replay: Replay::Passed,
        gates: Some(GateSummary {
            passed: 3,
            failed: 0,
        }),
        diff_lines: 2,
        within_scraper: true,
        strategy_history: Rate::default(),
    };
    assess(
        &evidence,
        &IsotonicCalibration::identity(),
        &Bands::default(),
    )
    .raw
}

/// Fits an isotonic calibration (valued at lower bounds, the fit decisions use:
/// [`IsotonicCalibration::fit_lower_bound`]) on the proposals of the fit half
/// (label: the proposal extracts the expected values), scored as a repair
/// scores them ([`day_one_raw`]), and rescores the other half with it.
pub fn calibrate(results: &[CaseResult]) -> Result<Calibrated, CalibrationError> {
    let outcomes: Vec<Outcome> = results
        .iter()
        .filter(|r| r.ran && r.proposed && in_fit_half(&r.id))
        .map(|r| Outcome::new(day_one_raw(r.raw_score), r.proposal_correct))
        .collect();
    let calibration = IsotonicCalibration::fit_lower_bound(&outcomes)?;
    let held_out = results
        .iter()
        .filter(|r| !in_fit_half(&r.id))
        .cloned()
        .map(|mut r| {
            if r.proposed {
                r.score = calibration.apply(day_one_raw(r.raw_score));
            }
            apply_threshold(&mut r);
            r
        })
        .collect();
    Ok(Calibrated {
        calibration,
        fitted_on: outcomes.len(),
        held_out,
    })
}

/// The corpus README's value-matching baseline (tier, n, healed, wrong,
/// refused, correct refusals, refusal cases), printed for comparison.
pub const BASELINE: [(u8, usize, usize, usize, usize, usize, usize); 3] = [
    (1, 204, 150, 0, 54, 23, 23),
    (2, 195, 0, 27, 168, 20, 21),
    (3, 41, 0, 1, 40, 29, 30),
];

/// Renders the report as a plain-text table.
pub fn render_table(report: &Report) -> String {
    let mut out = String::new();
    let header = format!(
        "{:<34} {:>5} {:>7} {:>13} {:>6} {:>8} {:>13} {:>7} {:>9} {:>9} {:>8} {:>8}\n",
        "group",
        "cases",
        "fixable",
        "healed",
        "wrong",
        "refused",
        "correct-ref",
        "not-run",
        ">0.95 ok",
        ">0.95 bad",
        "med ms",
        "p95 ms"
    );
    let row = |name: &str, t: &Tally| {
        let pct = if t.fixable > 0 {
            format!(
                "{} ({:.1}%)",
                t.healed,
                100.0 * t.healed as f64 / t.fixable as f64
            )
        } else {
            t.healed.to_string()
        };
        format!(
            "{:<34} {:>5} {:>7} {:>13} {:>6} {:>8} {:>13} {:>7} {:>9} {:>9} {:>8.2} {:>8.2}\n",
            name,
            t.cases,
            t.fixable,
            pct,
            t.wrong,
            t.refused,
            format!("{}/{}", t.correct_refusals, t.refusal_cases),
            t.not_run,
            t.healed_above_high,
            t.wrong_above_high,
            t.median_ms,
            t.p95_ms
        )
    };
    out.push_str(&header);
    out.push_str(&row("all", &report.overall));
    for (k, t) in &report.by_tier {
        out.push_str(&row(k, t));
    }
    out.push('\n');
    out.push_str(&header);
    for (k, t) in &report.by_tier_kind {
        out.push_str(&row(k, t));
    }
    out.push('\n');
    out.push_str(&header);
    for (k, t) in &report.tier2_by_decoy {
        out.push_str(&row(&format!("tier 2 {k}"), t));
    }
    out.push_str("\nvalue-matching baseline (corpus README):\n");
    for (tier, n, healed, wrong, refused, correct, refusal_cases) in BASELINE {
        out.push_str(&format!(
            "  tier {tier}: n {n}, healed {healed}, wrong {wrong}, refused {refused}, correct refusals {correct}/{refusal_cases}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lc(
        id: &str,
        kind: &str,
        before: &str,
        expected: &[&str],
        old: &str,
        new: &str,
    ) -> LoadedCase {
        LoadedCase {
            case: Case {
                id: id.into(),
                kind: kind.into(),
                selector_type: SelectorKind::JsonPath,
                selector_before: before.into(),
                expected_values: expected.iter().map(|s| s.to_string()).collect(),
                tier: 1,
                decoy: None,
                reference_selector_after: None,
            },
            old: old.into(),
            new: new.into(),
            dir: PathBuf::new(),
        }
    }

    /// A healer that always answers with a fixed selector and score.
    struct Fixed(&'static str, f64);
    impl DocumentHealer for Fixed {
        fn extract(&self, doc: &str, selector: &Selector) -> Result<Vec<String>, String> {
            JsonHealer.extract(doc, selector)
        }
        fn heal(&self, _: &str, _: &str, s: &Selector) -> HealOutcome {
            HealOutcome::Healed(crate::heal::Heal {
                selector: Selector {
                    kind: s.kind,
                    expr: self.0.into(),
                },
                score: self.1,
                values: vec![],
                rationale: "fixed".into(),
            })
        }
    }

    const OLD: &str = r#"{"a": "x", "b": "y"}"#;
    const NEW: &str = r#"{"c": "x", "b": "y"}"#;

    fn verdict(healer: &dyn DocumentHealer, case: &LoadedCase) -> CaseResult {
        run_case(
            &Healers {
                json: healer,
                html: None,
            },
            case,
        )
    }

    #[test]
    fn scores_healed_wrong_and_low_score_refusals() {
        let case = lc("c1", "json_key_rename", "$.a", &["x"], OLD, NEW);
        assert_eq!(verdict(&Fixed("$.c", 0.9), &case).verdict, Verdict::Healed);
        assert_eq!(verdict(&Fixed("$.b", 0.9), &case).verdict, Verdict::Wrong);
        let low = verdict(&Fixed("$.c", 0.69), &case);
        assert_eq!(low.verdict, Verdict::Refused);
        assert!(low.proposal_correct, "the label ignores the threshold");
    }

    #[test]
    fn refusal_cases_count_any_answer_as_wrong() {
        let case = lc("c2", "unfixable_removed", "$.a", &[], OLD, r#"{"b": "y"}"#);
        assert_eq!(verdict(&Fixed("$.b", 0.8), &case).verdict, Verdict::Wrong);
        assert_eq!(
            verdict(&Fixed("$.b", 0.5), &case).verdict,
            Verdict::CorrectRefusal
        );
        assert_eq!(verdict(&JsonHealer, &case).verdict, Verdict::CorrectRefusal);
    }

    #[test]
    fn html_cases_without_an_html_healer_are_not_run() {
        let mut case = lc(
            "c3",
            "tag_change",
            "//p",
            &["x"],
            "<p>x</p>",
            "<div>x</div>",
        );
        case.case.selector_type = SelectorKind::Xpath;
        let r = verdict(&JsonHealer, &case);
        assert_eq!(r.verdict, Verdict::NotRun);
        let t = Tally::of([&r]);
        assert_eq!((t.not_run, t.refused, t.healed), (1, 0, 0));
    }

    #[test]
    fn tallies_split_by_tier_kind_and_decoy_with_times() {
        let mut results = Vec::new();
        for (i, (tier, decoy, verdict, ms)) in [
            (1, None, Verdict::Healed, 1.0),
            (1, None, Verdict::Refused, 3.0),
            (2, Some(true), Verdict::Wrong, 2.0),
            (2, Some(false), Verdict::Healed, 4.0),
        ]
        .into_iter()
        .enumerate()
        {
            results.push(CaseResult {
                id: format!("r{i}"),
                tier,
                kind: "json_key_rename".into(),
                decoy,
                expects_refusal: false,
                selector: Some("$.x".into()),
                raw_score: 0.99,
                score: 0.99,
                proposal_correct: verdict == Verdict::Healed,
                proposed: true,
                ran: true,
                verdict,
                millis: ms,
                reason: None,
            });
        }
        let rep = report(&results);
        assert_eq!(rep.overall.healed, 2);
        assert_eq!(rep.overall.wrong_above_high, 1);
        assert_eq!(rep.by_tier["tier 1"].refused, 1);
        assert_eq!(rep.tier2_by_decoy["decoy"].wrong, 1);
        assert_eq!(rep.tier2_by_decoy["no decoy"].healed, 1);
        assert_eq!(rep.overall.median_ms, 3.0);
        assert_eq!(rep.overall.p95_ms, 4.0);
        assert!(render_table(&rep).contains("tier 2 decoy"));
    }

    #[test]
    fn calibration_is_fitted_on_one_half_and_applied_to_the_other() {
        // Wrong answers at 0.9, right ones at 0.99, on both halves.
        let mut results = Vec::new();
        for i in 0..200 {
            let correct = i % 2 == 0;
            results.push(CaseResult {
                id: format!("case-{i}"),
                tier: 1,
                kind: "json_key_rename".into(),
                decoy: None,
                expects_refusal: false,
                selector: Some("$.x".into()),
                raw_score: if correct { 0.99 } else { 0.9 },
                score: 0.0,
                proposal_correct: correct,
                proposed: true,
                ran: true,
                verdict: Verdict::NotRun,
                millis: 1.0,
                reason: None,
            });
        }
        let cal = calibrate(&results).unwrap();
        assert!(cal.held_out.iter().all(|r| !in_fit_half(&r.id)));
        assert_eq!(cal.fitted_on + cal.held_out.len(), 200);
        // The 0.9 answers were all wrong: calibrated to 0, they become refusals.
        for r in &cal.held_out {
            let expected = if r.proposal_correct {
                Verdict::Healed
            } else {
                Verdict::Refused
            };
            assert_eq!(r.verdict, expected, "{}", r.id);
        }
    }

    #[test]
    fn the_split_is_deterministic_and_roughly_even() {
        let ids: Vec<String> = (0..400).map(|i| format!("case-{i}")).collect();
        let fit = ids.iter().filter(|id| in_fit_half(id)).count();
        assert!((150..250).contains(&fit), "{fit}");
        assert_eq!(
            in_fit_half("jr-ala-00-jrename"),
            in_fit_half("jr-ala-00-jrename")
        );
    }
}

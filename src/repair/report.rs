//! The repair report as text for a terminal (the JSON form is the report's
//! serde serialisation).

use std::fmt::Write;

use super::job::RepairReport;
use super::replay::Shape;

/// Renders the report for people: diagnosis, proposal, replay, confidence,
/// branch, diff (a replaced fixture shown by name only) and what happens next.
pub fn render_text(report: &RepairReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Fixwright repair of `{}` in {}",
        report.scraper, report.repository
    );
    let _ = writeln!(out, "attempt {} ({})", report.attempt, report.state);
    if !report.mode.mode.writes() {
        let _ = writeln!(
            out,
            "mode {} (set by {}): nothing is written",
            report.mode.mode,
            report.mode.source()
        );
    }

    let d = &report.diagnosis;
    let _ = writeln!(
        out,
        "\nDiagnosis: {} (decided by {})",
        d.class, d.decided_by
    );
    let _ = writeln!(out, "  fingerprint {}", d.fingerprint);
    if let Some(host) = &d.upstream_host {
        let _ = writeln!(out, "  upstream host {host}");
    }
    for line in d.evidence.iter().take(5) {
        let _ = writeln!(out, "  - {}", one_line(line, 160));
    }

    if !report.remembered.is_empty() || report.learned.is_some() {
        let _ = writeln!(out, "\nMemory:");
    }
    for r in &report.remembered {
        let _ = writeln!(
            out,
            "  remembered `{}` -> `{}` ({} succeeded, {} failed), tried first",
            r.before, r.after, r.successes, r.failures
        );
    }
    if let Some((before, after)) = &report.learned {
        let _ = writeln!(
            out,
            "  learned `{before}` -> `{after}` (counted once the pull request is decided)"
        );
    }

    match &report.proposal {
        Some(p) => {
            let _ = writeln!(
                out,
                "\nProposal: {} by the {} (its own score {:.2})",
                p.strategy, p.agent, p.self_score
            );
            let _ = writeln!(out, "  root cause: {}", p.root_cause);
            for line in p.rationale.lines() {
                let _ = writeln!(out, "  {}", one_line(line, 200));
            }
            let _ = writeln!(out, "  files: {}", p.files.join(", "));
        }
        None => {
            let _ = writeln!(out, "\nProposal: none");
        }
    }
    if let Some(refusal) = &report.refusal {
        let _ = writeln!(out, "  not fixed: {refusal}");
    }
    if !report.policy_refusals.is_empty() {
        let _ = writeln!(out, "\nPolicy:");
        for refusal in &report.policy_refusals {
            let _ = writeln!(out, "  - {refusal}");
        }
    }

    if let Some(replay) = &report.replay {
        let verdict = if replay.passed { "passed" } else { "FAILED" };
        let _ = writeln!(out, "\nReplay: {verdict}: {}", replay.reason);
        if let Some(base) = &replay.comparison.baseline {
            let _ = writeln!(
                out,
                "  saved fixture, original code:     {}",
                shape_line(base)
            );
        }
        let _ = writeln!(
            out,
            "  failing response, fixed code:     {}",
            shape_line(&replay.comparison.candidate)
        );
        if let Some(first) = replay.candidate.records.first() {
            let _ = writeln!(
                out,
                "  first record: {}",
                one_line(&serde_json::Value::Object(first.clone()).to_string(), 200)
            );
        }
    }

    if let Some(gates) = &report.gates {
        let base = gates
            .baseline
            .as_deref()
            .map(|b| format!(", compared with {}", &b[..12.min(b.len())]))
            .unwrap_or_default();
        let _ = writeln!(out, "\nGates{base}:");
        for line in crate::gates::report::text(gates).lines() {
            let _ = writeln!(out, "  {line}");
        }
    }

    if let Some(c) = &report.confidence {
        let _ = writeln!(
            out,
            "\nConfidence: {:.3} (raw {:.3}), band {}",
            c.calibrated, c.raw, c.band
        );
        for f in &c.factors {
            let _ = writeln!(
                out,
                "  {:<13} {:>5.2} x {:.2} = {:.3}  {}",
                f.name,
                f.value,
                f.weight,
                f.contribution,
                one_line(&f.note, 100)
            );
        }
    }

    if let (Some(branch), Some(commit)) = (&report.branch, &report.commit) {
        let _ = writeln!(
            out,
            "\nBranch: {branch} at {}",
            &commit.as_str()[..12.min(commit.as_str().len())]
        );
    }
    if let Some(diff) = &report.diff {
        let fixtures: Vec<&str> = report
            .proposal
            .as_ref()
            .map(|p| {
                p.files
                    .iter()
                    .map(String::as_str)
                    .filter(|f| f.contains("/files/") || f.contains("/fixtures/"))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(out, "\nDiff:");
        out.push_str(&abbreviate_diff(diff, &fixtures));
    }
    let _ = writeln!(out, "\nNext: {}", report.next);
    out
}

fn shape_line(shape: &Shape) -> String {
    let fields: Vec<String> = shape
        .fields
        .iter()
        .map(|(name, fill)| format!("{name} {}/{}", fill.filled, shape.count))
        .collect();
    format!("{} records ({})", shape.count, fields.join(", "))
}

fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}...", flat.chars().take(max).collect::<String>())
    }
}

/// The diff with each replaced fixture's body left out (it is the failing
/// response, shown elsewhere).
pub fn abbreviate_diff(diff: &str, fixtures: &[&str]) -> String {
    let mut out = String::new();
    let mut skipping = false;
    let mut skipped = 0usize;
    for line in diff.lines() {
        if line.starts_with("diff --git ") {
            if skipping {
                let _ = writeln!(out, "  ({skipped} lines of the saved response not shown)");
            }
            skipping = fixtures.iter().any(|f| line.ends_with(&format!(" b/{f}")));
            skipped = 0;
            let _ = writeln!(out, "{line}");
            continue;
        }
        if skipping {
            if line.starts_with("+++") || line.starts_with("---") {
                let _ = writeln!(out, "{line}");
            } else {
                skipped += 1;
            }
        } else {
            let _ = writeln!(out, "{line}");
        }
    }
    if skipping {
        let _ = writeln!(out, "  ({skipped} lines of the saved response not shown)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_fixtures_are_shown_by_name_only() {
        let diff = "diff --git a/s.py b/s.py\n--- a/s.py\n+++ b/s.py\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/tests/files/s.html b/tests/files/s.html\n--- a/tests/files/s.html\n+++ b/tests/files/s.html\n@@ -1,2 +1,2 @@\n-<p>\n+<div>\n";
        let shown = abbreviate_diff(diff, &["tests/files/s.html"]);
        assert_eq!(
            shown,
            "diff --git a/s.py b/s.py\n--- a/s.py\n+++ b/s.py\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/tests/files/s.html b/tests/files/s.html\n--- a/tests/files/s.html\n+++ b/tests/files/s.html\n  (3 lines of the saved response not shown)\n"
        );
    }
}

#[cfg(test)]
mod snapshot {
    use super::*;
    use crate::confidence::Band;
    use crate::gates::engine::Timings;
    use crate::gates::scope::Scope;
    use crate::gates::{Finding, GateResult, GateRun, GateStatus, Severity, TestStats, Tool};
    use crate::memory::RememberedRename;
    use crate::policy::Mode;
    use crate::repair::attempt::AttemptState;
    use crate::repair::job::ProposalView;
    use crate::repair::replay::{self, Extraction};
    use crate::repair::steps::{ConfidenceView, DiagnosisView, Factor, ModeInForce};

    fn records(json: serde_json::Value) -> Vec<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_value(json).unwrap_or_default()
    }

    /// ruff and pytest green, mypy with one new finding.
    fn gate_run() -> GateRun {
        let result = |tool, new: Vec<Finding>, tests| GateResult {
            tool,
            status: if new.is_empty() {
                GateStatus::Pass
            } else {
                GateStatus::Fail
            },
            new,
            existing: Vec::new(),
            duration_ms: 400,
            tests,
            version: None,
        };
        GateRun {
            id: "01jq0000000000000000000000".into(),
            scope: Scope::Scrapers {
                names: vec!["books".into()],
                sources: vec!["bookshop/spiders/books.py".into()],
                tests: vec!["tests/test_books.py".into()],
            },
            baseline: Some("3f2a9c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b".into()),
            gates: vec![
                result(Tool::Ruff, Vec::new(), None),
                result(
                    Tool::Mypy,
                    vec![Finding {
                        tool: Tool::Mypy,
                        path: "bookshop/spiders/books.py".into(),
                        line: 14,
                        column: Some(24),
                        end_line: None,
                        rule: "typeddict-item".into(),
                        severity: Severity::Error,
                        message: "TypedDict \"Book\" has no key \"cost\"".into(),
                    }],
                    None,
                ),
                result(
                    Tool::Pytest,
                    Vec::new(),
                    Some(TestStats {
                        tests: 2,
                        ..TestStats::default()
                    }),
                ),
            ],
            environment_reused: true,
            tools: Default::default(),
            provision_ms: 120,
            timings: Timings::default(),
        }
    }

    #[test]
    fn a_committed_fix_reads_as_a_story() {
        let extraction = |rows| Extraction {
            records: records(rows),
            requests: 0,
            error: None,
        };
        let verdict = replay::verdict(
            Some(extraction(
                serde_json::json!([{"title": "A", "price": "1"}, {"title": "B", "price": "2"}]),
            )),
            extraction(
                serde_json::json!([{"title": "A", "price": "1"}, {"title": "B", "price": "2"}]),
            ),
        );
        let report = RepairReport {
            attempt: "01jq0000000000000000000000".parse().unwrap_or_default(),
            repository: "/srv/scrapers".into(),
            scraper: "books".into(),
            state: AttemptState::Committed,
            diagnosis: DiagnosisView {
                class: "selector_drift".into(),
                decided_by: "zero_items".into(),
                evidence: vec!["zero_items: 'response_received_count': 1,".into()],
                fingerprint: "2b7e35f86cb3ceb79ab7b8b225d1e780".into(),
                upstream_host: Some("books.example.com".into()),
            },
            proposal: Some(ProposalView {
                agent: "healer".into(),
                strategy: "selector_heal".into(),
                root_cause: "the product card's class was renamed".into(),
                rationale: "`article.product_pod` -> `article.product-card`".into(),
                self_score: 0.97,
                files: vec!["bookshop/spiders/books.py".into(), "tests/files/books.html".into()],
            }),
            refusal: None,
            policy_refusals: vec!["confidence band is medium, merging needs high".into()],
            mode: ModeInForce::new(Mode::On, Mode::On),
            remembered: vec![RememberedRename {
                before: "article.product_pod".into(),
                after: "article.product-card".into(),
                successes: 2,
                failures: 0,
            }],
            learned: Some(("article.product_pod".into(), "article.product-card".into())),
            replay: Some(verdict),
            gates: Some(gate_run()),
            confidence: Some(ConfidenceView {
                raw: 0.9,
                calibrated: 0.9,
                band: Band::Medium,
                factors: vec![Factor {
                    name: "replay".into(),
                    value: 1.0,
                    weight: 0.35,
                    contribution: 0.35,
                    note: "replay passed".into(),
                }],
                cap: None,
                calibration: None,
            }),
            branch: Some("fixwright/books/01jq0000000000000000000000".into()),
            commit: None,
            diff: Some("diff --git a/bookshop/spiders/books.py b/bookshop/spiders/books.py\n-        for book in response.css(\"article.product_pod\"):\n+        for book in response.css(\"article.product-card\"):\n".into()),
            next: "push the branch, open a pull request labelled `fixwright: medium`".into(),
        };
        insta::assert_snapshot!(render_text(&report));
    }
}

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

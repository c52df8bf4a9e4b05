//! Rendering a gate run: plain text, JSON, GitHub Actions workflow commands,
//! markdown summaries and check-run output. Pure.

use std::fmt::Write as _;

use super::engine::GateRun;
use super::finding::{Finding, GateResult, GateStatus, Severity};
use super::scope::Scope;
use crate::github::ops::checks::{Annotation, AnnotationLevel, CheckConclusion, CheckOutput};

/// Failure excerpts and annotations shown per gate in a summary.
const SUMMARY_FINDINGS: usize = 20;

fn status_word(gate: &GateResult) -> &'static str {
    match gate.status {
        GateStatus::Pass => "pass",
        GateStatus::Fail => "FAIL",
        GateStatus::Error { .. } => "ERROR",
    }
}

fn scope_line(scope: &Scope) -> String {
    match scope {
        Scope::Whole { reason } => format!("whole repository ({reason})"),
        Scope::Scrapers { names, .. } => format!("scrapers: {}", names.join(", ")),
    }
}

fn location(f: &Finding) -> String {
    match f.column {
        Some(c) => format!("{}:{}:{}", f.path, f.line, c),
        None => format!("{}:{}", f.path, f.line),
    }
}

/// A human-readable report for a terminal.
pub fn text(run: &GateRun) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scope: {}", scope_line(&run.scope));
    if !run.tools.is_empty() {
        let tools: Vec<String> = run
            .tools
            .iter()
            .map(|(name, version)| format!("{name} {version}"))
            .collect();
        let _ = writeln!(out, "tools: {}", tools.join(", "));
    }
    for gate in &run.gates {
        let _ = writeln!(
            out,
            "{:<6} {:<5} {} new, {} on the base ({} ms)",
            gate.tool.to_string(),
            status_word(gate),
            gate.new.len(),
            gate.existing.len(),
            gate.duration_ms
        );
        if let GateStatus::Error {
            reason,
            output_tail,
        } = &gate.status
        {
            let _ = writeln!(out, "  error: {reason}");
            for line in output_tail
                .lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .iter()
                .rev()
            {
                let _ = writeln!(out, "  | {line}");
            }
        }
        for f in &gate.new {
            let _ = writeln!(
                out,
                "  {} [{}] {}",
                location(f),
                f.rule,
                first_line(&f.message)
            );
        }
    }
    let _ = writeln!(
        out,
        "{}",
        if run.passed() {
            "all gates passed"
        } else {
            "gates failed"
        }
    );
    out
}

/// Each gate's verdict in one line, such as `ruff pass, mypy FAIL (1 new),
/// pytest pass (5 tests)`, for progress lines and an attempt's history.
pub fn one_line(run: &GateRun) -> String {
    run.gates
        .iter()
        .map(|gate| {
            let mut parts = Vec::new();
            if !gate.new.is_empty() {
                parts.push(format!("{} new", gate.new.len()));
            }
            if let GateStatus::Error { reason, .. } = &gate.status {
                parts.push(first_line(reason).to_owned());
            }
            if let Some(stats) = &gate.tests {
                parts.push(format!("{} tests", stats.tests));
            }
            let detail = if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(", "))
            };
            format!("{} {}{detail}", gate.tool, status_word(gate))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The run as JSON (the shape of [`GateRun`]'s `Serialize`).
pub fn json(run: &GateRun) -> String {
    serde_json::to_string_pretty(run).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub Actions workflow commands: one `::error` (or `::warning`,
/// `::notice`) per new finding, and one per error gate.
pub fn github_commands(run: &GateRun) -> String {
    let mut out = String::new();
    for gate in &run.gates {
        if let GateStatus::Error { reason, .. } = &gate.status {
            let _ = writeln!(
                out,
                "::error title={}::{}",
                escape_property(&format!("{} could not run", gate.tool)),
                escape_data(reason)
            );
        }
        for f in &gate.new {
            let command = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Note => "notice",
            };
            let mut props = format!("file={},line={}", escape_property(&f.path), f.line);
            if let Some(end) = f.end_line {
                let _ = write!(props, ",endLine={end}");
            }
            if let Some(col) = f.column {
                let _ = write!(props, ",col={col}");
            }
            let _ = write!(
                props,
                ",title={}",
                escape_property(&format!("{} {}", f.tool, f.rule))
            );
            let _ = writeln!(out, "::{command} {props}::{}", escape_data(&f.message));
        }
    }
    out
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// One gate's markdown: counts, new versus base, slowest tests, failure
/// excerpts, and the tool's output tail when it could not run.
pub fn gate_markdown(gate: &GateResult) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "**{}**: {} new finding(s), {} already on the base (not blocking); {} ms",
        status_word(gate),
        gate.new.len(),
        gate.existing.len(),
        gate.duration_ms
    );
    match &gate.version {
        Some(version) => {
            let _ = writeln!(out, "; {} {version}.\n", gate.tool);
        }
        None => out.push_str(".\n\n"),
    }
    if let Some(tests) = &gate.tests {
        let _ = writeln!(
            out,
            "{} test(s): {} failed, {} errors, {} skipped.\n",
            tests.tests, tests.failures, tests.errors, tests.skipped
        );
        if !tests.slowest.is_empty() {
            let _ = writeln!(out, "| slowest tests | seconds |\n|---|---|");
            for (id, secs) in &tests.slowest {
                let _ = writeln!(out, "| `{id}` | {secs:.2} |");
            }
            out.push('\n');
        }
    }
    if let GateStatus::Error {
        reason,
        output_tail,
    } = &gate.status
    {
        let _ = writeln!(out, "The tool could not run: {reason}\n");
        if !output_tail.trim().is_empty() {
            let _ = writeln!(out, "```\n{}\n```\n", output_tail.trim());
        }
    }
    if !gate.new.is_empty() {
        let _ = writeln!(out, "| where | rule | message |\n|---|---|---|");
        for f in gate.new.iter().take(SUMMARY_FINDINGS) {
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {} |",
                location(f),
                f.rule,
                first_line(&f.message).replace('|', "\\|")
            );
        }
        if gate.new.len() > SUMMARY_FINDINGS {
            let _ = writeln!(out, "\n... and {} more.", gate.new.len() - SUMMARY_FINDINGS);
        }
    }
    out
}

/// The job summary written to `$GITHUB_STEP_SUMMARY`.
pub fn summary_markdown(run: &GateRun) -> String {
    let mut out = format!(
        "## Fixwright gates: {}\n\nScope: {}",
        if run.passed() { "passed" } else { "failed" },
        scope_line(&run.scope)
    );
    if let Some(base) = &run.baseline {
        let _ = write!(out, "; compared with `{base}`");
    }
    out.push_str(".\n\n");
    for gate in &run.gates {
        let _ = writeln!(out, "### {}\n\n{}", gate.tool, gate_markdown(gate));
    }
    out
}

/// A finding as a check-run annotation.
pub fn annotation(f: &Finding) -> Annotation {
    Annotation {
        path: f.path.clone(),
        start_line: f.line,
        end_line: f.end_line.unwrap_or(f.line).max(f.line),
        annotation_level: match f.severity {
            Severity::Error => AnnotationLevel::Failure,
            Severity::Warning => AnnotationLevel::Warning,
            Severity::Note => AnnotationLevel::Notice,
        },
        message: f.message.clone(),
        title: Some(format!("{} {}", f.tool, f.rule)),
    }
}

/// A gate's check-run conclusion and output: new findings as annotations
/// (base findings are not shown on the diff), the markdown summary.
pub fn check_output(gate: &GateResult) -> (CheckConclusion, CheckOutput) {
    let conclusion = match gate.status {
        GateStatus::Pass => CheckConclusion::Success,
        GateStatus::Fail | GateStatus::Error { .. } => CheckConclusion::Failure,
    };
    let title = match &gate.status {
        GateStatus::Pass => format!(
            "{}: passed ({} on the base)",
            gate.tool,
            gate.existing.len()
        ),
        GateStatus::Fail => format!("{}: {} new finding(s)", gate.tool, gate.new.len()),
        GateStatus::Error { .. } => format!("{}: could not run", gate.tool),
    };
    let mut summary = gate_markdown(gate);
    // GitHub caps the summary at 65535 characters.
    if summary.len() > 60_000 {
        let mut cut = 60_000;
        while !summary.is_char_boundary(cut) {
            cut -= 1;
        }
        summary.truncate(cut);
        summary.push_str("\n\n(truncated)");
    }
    (
        conclusion,
        CheckOutput {
            title,
            summary,
            text: None,
            annotations: gate.new.iter().map(annotation).collect(),
        },
    )
}

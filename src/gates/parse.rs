//! Tool output to [`Finding`]s. Pure: every function takes what a tool
//! printed and returns findings, or why the output cannot be trusted (which
//! makes an error gate, never a pass).

use std::path::Path;

use serde::Deserialize;

use super::finding::{Finding, Severity, TestStats, Tool};

/// What a finished tool run left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolOutput {
    /// `None` when the process was killed by a signal.
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The report file the tool wrote (pytest's JUnit XML), if any.
    pub report: Option<String>,
}

/// Findings from output that was understood.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    pub findings: Vec<Finding>,
    pub tests: Option<TestStats>,
}

/// Output that does not prove anything: the gate is an error. `findings`
/// holds what could still be located (a crashing `conftest.py`).
#[derive(Clone, Debug, PartialEq)]
pub struct Unusable {
    pub reason: String,
    pub findings: Vec<Finding>,
}

impl Unusable {
    fn new(reason: impl Into<String>) -> Self {
        Unusable {
            reason: reason.into(),
            findings: Vec::new(),
        }
    }
}

/// `path` relative to `root` with `/` separators; paths outside `root` are
/// kept as given.
pub fn relative(path: &str, root: &Path) -> String {
    let p = Path::new(path);
    let rel = p.strip_prefix(root).unwrap_or(p);
    let text = rel.to_string_lossy().replace('\\', "/");
    text.strip_prefix("./").unwrap_or(&text).to_owned()
}

#[derive(Deserialize)]
struct RuffLocation {
    row: u32,
    column: u32,
}

#[derive(Deserialize)]
struct RuffDiagnostic {
    code: Option<String>,
    name: Option<String>,
    filename: String,
    message: String,
    location: RuffLocation,
    end_location: Option<RuffLocation>,
    severity: Option<String>,
}

/// `ruff check --output-format json`: exit 0 (clean) or 1 (findings) with a
/// JSON array on stdout; anything else is an error.
pub fn ruff(out: &ToolOutput, root: &Path) -> Result<Parsed, Unusable> {
    if !matches!(out.exit_code, Some(0 | 1)) {
        return Err(Unusable::new(format!(
            "ruff exited with {}",
            exit_text(out.exit_code)
        )));
    }
    let diagnostics: Vec<RuffDiagnostic> = serde_json::from_str(out.stdout.trim())
        .map_err(|e| Unusable::new(format!("ruff printed something that is not its JSON: {e}")))?;
    if out.exit_code == Some(1) && diagnostics.is_empty() {
        return Err(Unusable::new("ruff failed without reporting a finding"));
    }
    let findings = diagnostics
        .into_iter()
        .map(|d| Finding {
            tool: Tool::Ruff,
            path: relative(&d.filename, root),
            line: d.location.row.max(1),
            column: Some(d.location.column),
            end_line: d.end_location.map(|e| e.row.max(d.location.row.max(1))),
            rule: d.code.or(d.name).unwrap_or_else(|| "ruff".into()),
            severity: match d.severity.as_deref() {
                Some("warning") => Severity::Warning,
                Some("info" | "note") => Severity::Note,
                _ => Severity::Error,
            },
            message: d.message,
        })
        .collect();
    Ok(Parsed {
        findings,
        tests: None,
    })
}

#[derive(Deserialize)]
struct MypyMessage {
    file: String,
    line: i64,
    column: Option<i64>,
    end_line: Option<i64>,
    message: String,
    hint: Option<String>,
    code: Option<String>,
    severity: String,
}

/// `mypy -O json`: one JSON object a line. Exit 0 (clean), 1 (type errors)
/// or 2 with findings (a syntax error stops mypy early) are understood; a
/// line that is not JSON, or exit 2 without findings, is an error.
pub fn mypy(out: &ToolOutput, root: &Path) -> Result<Parsed, Unusable> {
    if !matches!(out.exit_code, Some(0..=2)) {
        return Err(Unusable::new(format!(
            "mypy exited with {}",
            exit_text(out.exit_code)
        )));
    }
    let mut findings = Vec::new();
    for (n, line) in out.stdout.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let m: MypyMessage = serde_json::from_str(line).map_err(|e| {
            Unusable::new(format!(
                "mypy output line {} is not a JSON message ({e}): {line}",
                n + 1
            ))
        })?;
        let first = u32::try_from(m.line).unwrap_or(1).max(1);
        let mut message = m.message;
        if let Some(hint) = m.hint.filter(|h| !h.is_empty()) {
            message = format!("{message}\n{hint}");
        }
        findings.push(Finding {
            tool: Tool::Mypy,
            path: relative(&m.file, root),
            line: first,
            column: m.column.and_then(|c| u32::try_from(c + 1).ok()),
            end_line: m
                .end_line
                .and_then(|e| u32::try_from(e).ok())
                .map(|e| e.max(first)),
            rule: m.code.unwrap_or_else(|| "mypy".into()),
            severity: match m.severity.as_str() {
                "note" => Severity::Note,
                "warning" => Severity::Warning,
                _ => Severity::Error,
            },
            message,
        });
    }
    let blocking = findings.iter().any(Finding::blocks);
    if out.exit_code != Some(0) && !blocking {
        return Err(Unusable::new(format!(
            "mypy exited with {} without reporting an error",
            exit_text(out.exit_code)
        )));
    }
    Ok(Parsed {
        findings,
        tests: None,
    })
}

/// pytest with `--junitxml`: exit 0, 1 (failures) or 2 (collection errors)
/// with a JUnit report; exit 5 (no tests collected) is clean. Anything else
/// (a crashing `conftest.py` exits 4 before any report) is an error whose
/// findings point at the Python frames the output names.
pub fn pytest(out: &ToolOutput, root: &Path) -> Result<Parsed, Unusable> {
    match (out.exit_code, &out.report) {
        (Some(5), _) => Ok(Parsed {
            findings: Vec::new(),
            tests: Some(TestStats::default()),
        }),
        (Some(0..=2), Some(report)) => {
            let (findings, stats) = junit(report, root)?;
            if out.exit_code != Some(0) && findings.is_empty() {
                return Err(Unusable::new(format!(
                    "pytest exited with {} but its report lists no failure",
                    exit_text(out.exit_code)
                )));
            }
            Ok(Parsed {
                findings,
                tests: Some(stats),
            })
        }
        (code, report) => {
            let text = format!("{}\n{}", out.stderr, out.stdout);
            let what = if report.is_none() && matches!(code, Some(0..=2)) {
                "pytest wrote no JUnit report".to_owned()
            } else {
                format!("pytest exited with {}", exit_text(code))
            };
            let findings = startup_error(&text).into_iter().collect();
            Err(Unusable {
                reason: what,
                findings,
            })
        }
    }
}

/// The place a failure happened inside the repository: the last
/// `path.py:LINE:` frame whose path is relative (frames in site-packages or
/// the standard library are absolute or start with `..` or `<`).
fn last_repo_frame(text: &str) -> Option<(String, u32)> {
    text.lines()
        .filter_map(|line| {
            let (path, rest) = line.split_once(".py:")?;
            let path = format!("{path}.py");
            if path.starts_with(['/', '.', '<', ' ']) || path.contains(' ') {
                return None;
            }
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let n: u32 = digits.parse().ok()?;
            rest[digits.len()..].starts_with(':').then_some((path, n))
        })
        .next_back()
}

/// pytest's `ImportError while loading conftest '...'` (or any error before
/// collection) as a finding at the frame it names.
fn startup_error(text: &str) -> Option<Finding> {
    let (path, line) = last_repo_frame(text)?;
    let message = text
        .lines()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix("E "))
        .map(|m| m.trim().to_owned())
        .unwrap_or_else(|| "pytest could not start".into());
    let rule = if path.ends_with("conftest.py") {
        "conftest-error"
    } else {
        "startup-error"
    };
    Some(Finding {
        tool: Tool::Pytest,
        path,
        line: line.max(1),
        column: None,
        end_line: None,
        rule: rule.into(),
        severity: Severity::Error,
        message,
    })
}

/// A JUnit XML report (xunit1 or xunit2) to one finding per failed or
/// errored test case, plus the run's statistics.
pub fn junit(xml: &str, root: &Path) -> Result<(Vec<Finding>, TestStats), Unusable> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| Unusable::new(format!("pytest's JUnit report is not XML: {e}")))?;
    let mut stats = TestStats::default();
    let mut findings = Vec::new();
    let mut times = Vec::new();
    for case in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
        stats.tests += 1;
        let classname = case.attribute("classname").unwrap_or_default();
        let name = case.attribute("name").unwrap_or_default();
        let module_path = if classname.is_empty() {
            format!("{}.py", name.replace('.', "/"))
        } else {
            format!("{}.py", module_of(classname).replace('.', "/"))
        };
        let node_id = if classname.is_empty() {
            module_path.clone()
        } else {
            let class_part = classname
                .strip_prefix(module_of(classname))
                .unwrap_or_default()
                .trim_start_matches('.');
            if class_part.is_empty() {
                format!("{module_path}::{name}")
            } else {
                format!("{module_path}::{class_part}::{name}")
            }
        };
        let seconds: f64 = case
            .attribute("time")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0.0);
        times.push((node_id.clone(), seconds));
        for child in case.children().filter(|c| c.is_element()) {
            let kind = child.tag_name().name();
            match kind {
                "skipped" => stats.skipped += 1,
                "failure" | "error" => {
                    if kind == "failure" {
                        stats.failures += 1;
                    } else {
                        stats.errors += 1;
                    }
                    let text = child.text().unwrap_or_default();
                    let (path, line) = last_repo_frame(text)
                        .map(|(p, l)| (relative(&p, root), l))
                        .unwrap_or_else(|| (module_path.clone(), 1));
                    let headline = child
                        .attribute("message")
                        .unwrap_or(kind)
                        .lines()
                        .next()
                        .unwrap_or(kind)
                        .to_owned();
                    let message = if kind == "error" && headline == "collection failure" {
                        let cause = text
                            .lines()
                            .rev()
                            .find_map(|l| l.trim_start().strip_prefix("E "))
                            .map(str::trim)
                            .unwrap_or("collection failure");
                        format!("collection failure: {cause}")
                    } else {
                        headline
                    };
                    findings.push(Finding {
                        tool: Tool::Pytest,
                        path,
                        line: line.max(1),
                        column: None,
                        end_line: None,
                        rule: node_id.clone(),
                        severity: Severity::Error,
                        message,
                    });
                }
                _ => {}
            }
        }
    }
    times.sort_by(|a, b| b.1.total_cmp(&a.1));
    times.truncate(5);
    stats.slowest = times;
    Ok((findings, stats))
}

/// pytest's classname is `package.module` or `package.module.Class`: the
/// module part is what precedes the first segment that starts upper-case.
fn module_of(classname: &str) -> &str {
    let mut end = classname.len();
    let mut offset: usize = 0;
    for segment in classname.split('.') {
        if segment.starts_with(|c: char| c.is_ascii_uppercase()) {
            end = offset.saturating_sub(1);
            break;
        }
        offset += segment.len() + 1;
    }
    &classname[..end.min(classname.len())]
}

fn exit_text(code: Option<i32>) -> String {
    code.map_or_else(|| "a signal (killed)".into(), |c| format!("code {c}"))
}

#[cfg(test)]
mod tests;

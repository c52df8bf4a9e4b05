//! Parsers against output captured from ruff 0.17.6, mypy 2.4.1 and pytest
//! 9.2.0 (with pytest-timeout 2.4.0) on the test scraper repository with its
//! defects injected, checked out at `/tmp/cap`.

use std::path::Path;

use super::*;

const ROOT: &str = "/tmp/cap";

fn output(code: i32, stdout: &str) -> ToolOutput {
    ToolOutput {
        exit_code: Some(code),
        stdout: stdout.into(),
        ..ToolOutput::default()
    }
}

fn brief(f: &Finding) -> (String, u32, String) {
    (f.path.clone(), f.line, f.rule.clone())
}

#[test]
fn ruff_json_becomes_findings_with_relative_paths() {
    let out = output(1, include_str!("../testdata/ruff-defects.json"));
    let parsed = ruff(&out, Path::new(ROOT)).unwrap_or_else(|e| panic!("{e:?}"));
    let got: Vec<_> = parsed.findings.iter().map(brief).collect();
    assert_eq!(
        got,
        vec![
            ("bookshop/spiders/books.py".into(), 2, "F401".into()),
            ("scrapers/events.py".into(), 11, "E711".into()),
            ("scrapers/weather.py".into(), 7, "invalid-syntax".into()),
        ]
    );
    assert_eq!(parsed.findings[0].message, "`os` imported but unused");
    assert_eq!(parsed.findings[0].column, Some(8));
    assert_eq!(parsed.findings[2].end_line, Some(8));
}

#[test]
fn ruff_clean_and_broken_outputs() {
    let clean = ruff(&output(0, "[]"), Path::new(ROOT)).map(|p| p.findings.len());
    assert_eq!(clean, Ok(0));
    let crashed = ToolOutput {
        exit_code: Some(2),
        stderr: "ruff failed\n  Cause: Failed to parse pyproject.toml".into(),
        ..ToolOutput::default()
    };
    assert!(ruff(&crashed, Path::new(ROOT)).is_err());
    let garbage = ruff(&output(1, "error: something"), Path::new(ROOT));
    assert!(garbage.is_err_and(|e| e.reason.contains("not its JSON")));
    assert!(ruff(&output(1, "[]"), Path::new(ROOT)).is_err());
}

#[test]
fn mypy_json_lines_become_findings() {
    let out = output(1, include_str!("../testdata/mypy-defects.jsonl"));
    let parsed = mypy(&out, Path::new(ROOT)).unwrap_or_else(|e| panic!("{e:?}"));
    let got: Vec<_> = parsed.findings.iter().map(brief).collect();
    assert_eq!(
        got,
        vec![
            ("scrapers/events.py".into(), 14, "return-value".into()),
            ("scrapers/events.py".into(), 18, "return-value".into()),
        ]
    );
    assert_eq!(
        parsed.findings[1].message,
        "Incompatible return value type (got \"str\", expected \"int\")"
    );
    assert_eq!(parsed.findings[1].column, Some(12));
}

#[test]
fn mypy_syntax_error_exits_two_with_a_finding() {
    let out = output(2, include_str!("../testdata/mypy-syntax.jsonl"));
    let parsed = mypy(&out, Path::new("/tmp")).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(parsed.findings.len(), 1);
    assert_eq!(parsed.findings[0].rule, "syntax");
    assert_eq!(parsed.findings[0].line, 7);
}

#[test]
fn mypy_crash_or_noise_is_unusable() {
    let crash = ToolOutput {
        exit_code: Some(2),
        stderr: "Traceback (most recent call last):\nINTERNAL ERROR".into(),
        ..ToolOutput::default()
    };
    assert!(mypy(&crash, Path::new(ROOT)).is_err());
    assert!(mypy(&output(1, "scrapers/x.py:1: error: nope"), Path::new(ROOT)).is_err());
    assert_eq!(
        mypy(&output(0, ""), Path::new(ROOT)).map(|p| p.findings.len()),
        Ok(0)
    );
}

#[test]
fn junit_failures_point_at_the_failing_line() {
    let out = ToolOutput {
        exit_code: Some(1),
        report: Some(include_str!("../testdata/junit-failures.xml").into()),
        ..ToolOutput::default()
    };
    let parsed = pytest(&out, Path::new(ROOT)).unwrap_or_else(|e| panic!("{e:?}"));
    let got: Vec<_> = parsed.findings.iter().map(brief).collect();
    assert_eq!(
        got,
        vec![
            (
                "tests/test_books.py".into(),
                24,
                "tests/test_books.py::test_hangs".into()
            ),
            (
                "tests/test_events.py".into(),
                8,
                "tests/test_events.py::test_events_from_fixture".into()
            ),
            (
                "tests/test_events.py".into(),
                15,
                "tests/test_events.py::test_count".into()
            ),
        ]
    );
    assert_eq!(
        parsed.findings[0].message,
        "Failed: Timeout (>3.0s) from pytest-timeout."
    );
    let stats = parsed.tests.unwrap_or_default();
    assert_eq!((stats.tests, stats.failures, stats.errors), (7, 3, 0));
    assert_eq!(
        stats.slowest.first().map(|s| s.0.as_str()),
        Some("tests/test_books.py::test_hangs")
    );
}

#[test]
fn junit_collection_error_names_the_module() {
    let out = ToolOutput {
        exit_code: Some(2),
        report: Some(include_str!("../testdata/junit-collection-error.xml").into()),
        ..ToolOutput::default()
    };
    let parsed = pytest(&out, Path::new(ROOT)).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(parsed.findings.len(), 1);
    assert_eq!(brief(&parsed.findings[0]).0, "tests/test_weather.py");
    assert_eq!(parsed.findings[0].line, 3);
    assert_eq!(
        parsed.findings[0].message,
        "collection failure: SyntaxError: '(' was never closed"
    );
}

#[test]
fn crashing_conftest_is_an_error_with_its_location() {
    let out = ToolOutput {
        exit_code: Some(4),
        stderr: include_str!("../testdata/pytest-conftest-crash.txt").into(),
        ..ToolOutput::default()
    };
    let err = pytest(&out, Path::new(ROOT)).err();
    let err = err.unwrap_or_else(|| panic!("a crashing conftest must not parse as a result"));
    assert_eq!(err.reason, "pytest exited with code 4");
    let got: Vec<_> = err.findings.iter().map(brief).collect();
    assert_eq!(
        got,
        vec![("tests/conftest.py".into(), 11, "conftest-error".into())]
    );
    assert_eq!(err.findings[0].message, "RuntimeError: conftest is broken");
}

#[test]
fn pytest_without_report_or_killed_is_an_error() {
    let out = output(1, "");
    assert!(pytest(&out, Path::new(ROOT)).is_err());
    let killed = ToolOutput::default();
    assert!(pytest(&killed, Path::new(ROOT)).is_err());
    let none = output(5, "no tests ran");
    assert_eq!(
        pytest(&none, Path::new(ROOT)).map(|p| p.findings.len()),
        Ok(0)
    );
}

#[test]
fn classnames_split_module_and_class() {
    assert_eq!(module_of("tests.test_books"), "tests.test_books");
    assert_eq!(module_of("tests.test_books.TestPrices"), "tests.test_books");
}

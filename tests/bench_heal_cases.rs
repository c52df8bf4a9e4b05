//! The repository's own healer benchmark cases: each one is consistent with
//! the corpus rules, the healer answers none of them wrongly, and the
//! `fixwright bench heal` command reports them.

use std::path::Path;
use std::process::Command;

use fixwright::heal::bench::{self, Healers, HtmlHealer, JsonHealer, LoadedCase, Verdict};
use fixwright::heal::{Selector, SelectorKind};

fn cases() -> Vec<LoadedCase> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/heal-cases");
    bench::load_cases(&dir).expect("benches/heal-cases must load")
}

fn extract(kind: SelectorKind, doc: &str, expr: &str) -> Vec<String> {
    let sel = Selector {
        kind,
        expr: expr.to_string(),
    };
    match kind {
        SelectorKind::JsonPath => {
            fixwright::heal::json::extract(doc, &sel).expect("valid JSON case")
        }
        _ => fixwright::heal::html::extract(doc, &sel).expect("valid HTML case"),
    }
}

#[test]
fn own_cases_follow_the_corpus_rules() {
    let cases = cases();
    assert!(cases.len() >= 8, "{} cases", cases.len());
    for lc in &cases {
        let c = &lc.case;
        let kind = c.selector_type;
        let before_old = extract(kind, &lc.old, &c.selector_before);
        let before_new = extract(kind, &lc.new, &c.selector_before);
        assert!(
            !before_old.is_empty(),
            "{}: selector_before extracts nothing from old",
            c.id
        );
        if c.tier == 1 && !c.expects_refusal() {
            assert_eq!(before_old, c.expected_values, "{}: before-on-old", c.id);
        }
        let broken_from = if c.expects_refusal() {
            &before_old
        } else {
            &c.expected_values
        };
        assert_ne!(
            &before_new, broken_from,
            "{}: the drift must break the selector",
            c.id
        );
        match &c.reference_selector_after {
            Some(after) => assert_eq!(
                extract(kind, &lc.new, after),
                c.expected_values,
                "{}: reference-on-new",
                c.id
            ),
            None => {
                assert!(
                    c.expects_refusal(),
                    "{}: only refusal cases lack a reference",
                    c.id
                );
                for v in &before_old {
                    let elsewhere = c.decoy == Some(true);
                    assert!(
                        elsewhere || !lc.new.contains(v.as_str()),
                        "{}: removed value {v:?} still on the page",
                        c.id
                    );
                }
            }
        }
    }
}

#[test]
fn the_healer_answers_no_own_case_wrongly() {
    let healers = Healers {
        json: &JsonHealer,
        html: Some(&HtmlHealer),
    };
    let results: Vec<_> = cases()
        .iter()
        .map(|c| bench::run_case(&healers, c))
        .collect();
    for r in &results {
        assert_ne!(
            r.verdict,
            Verdict::Wrong,
            "{}: {:?} {:?}",
            r.id,
            r.selector,
            r.reason
        );
        assert_ne!(r.verdict, Verdict::NotRun, "{}", r.id);
        if r.expects_refusal {
            assert_eq!(r.verdict, Verdict::CorrectRefusal, "{}", r.id);
        }
    }
    let healed = results
        .iter()
        .filter(|r| r.verdict == Verdict::Healed)
        .count();
    let fixable = results.iter().filter(|r| !r.expects_refusal).count();
    assert!(healed * 10 >= fixable * 8, "healed {healed} of {fixable}");
}

#[test]
fn bench_command_reports_every_case_as_json() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_fixwright"))
        .args([
            "bench",
            "heal",
            "--format",
            "json",
            "--cases",
            "/nonexistent",
        ])
        .arg("--corpus")
        .arg(root.join("benches/heal-cases"))
        .output()
        .expect("run fixwright");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let n = cases().len() as u64;
    assert_eq!(v["report"]["overall"]["cases"], n);
    assert_eq!(v["cases"].as_array().map(Vec::len), Some(n as usize));
    assert_eq!(v["report"]["overall"]["wrong"], 0);

    let missing = Command::new(env!("CARGO_BIN_EXE_fixwright"))
        .args(["bench", "heal", "--corpus", "/nonexistent/corpus"])
        .output()
        .expect("run fixwright");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/corpus"));
}

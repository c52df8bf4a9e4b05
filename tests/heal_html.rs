//! The HTML selector healer on cases written for this project
//! (`tests/fixtures/heal/<case>/{old.html,new.html,case.json}`): every drift
//! kind for CSS and XPath, data that is really gone, changed data and a decoy.
//! Each healed answer is checked the way the benchmark checks it: the new
//! selector must extract exactly the expected values from the new page.

use std::path::PathBuf;

use fixwright::heal::html::{HealOptions, extract, heal, heal_with};
use fixwright::heal::{HealOutcome, Selector, SelectorKind};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    kind: String,
    selector_type: SelectorKind,
    selector: String,
    /// None: the data is gone and the healer must refuse.
    expected: Option<Vec<String>>,
}

fn fixture(name: &str) -> (Case, String, String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/heal")
        .join(name);
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap_or_else(|e| panic!("reading {}/{f}: {e}", dir.display()))
    };
    let case: Case = serde_json::from_str(&read("case.json"))
        .unwrap_or_else(|e| panic!("{name}/case.json: {e}"));
    (case, read("old.html"), read("new.html"))
}

fn check(name: &str) {
    let (case, old, new) = fixture(name);
    let selector = Selector {
        kind: case.selector_type,
        expr: case.selector.clone(),
    };
    let before_on_new = extract(&new, &selector).expect("the original selector evaluates");
    let outcome = heal(&old, &new, &selector);
    match (&case.expected, outcome) {
        (Some(expected), HealOutcome::Healed(h)) => {
            assert_ne!(
                &before_on_new, expected,
                "{name}: the drift must break the original selector"
            );
            assert_eq!(
                h.selector.kind, case.selector_type,
                "{name}: a heal keeps the selector language"
            );
            let got = extract(&new, &h.selector).expect("the healed selector evaluates");
            assert_eq!(
                &got, expected,
                "{name} ({}): `{}` -> `{}` ({})",
                case.kind, case.selector, h.selector.expr, h.rationale
            );
            assert_eq!(
                h.values, got,
                "{name}: the reported values are what the selector extracts"
            );
            assert!(
                h.score >= 0.70 && h.score <= 1.0,
                "{name}: score {} for a correct heal ({})",
                h.score,
                h.rationale
            );
        }
        (Some(_), other) => panic!(
            "{name} ({}): expected a heal of `{}`, got {other:?}",
            case.kind, case.selector
        ),
        (None, HealOutcome::Refused { reason, score }) => {
            assert!(!reason.is_empty(), "{name}: a refusal gives its reason");
            assert!(
                score < 0.70,
                "{name}: a refusal scores below the medium band, got {score}"
            );
        }
        (None, other) => panic!(
            "{name} ({}): the data is gone, expected a refusal, got {other:?}",
            case.kind
        ),
    }
}

#[test]
fn css_class_rename() {
    check("css-class-rename");
}

#[test]
fn xpath_class_rename() {
    check("xpath-class-rename");
}

#[test]
fn css_id_rename() {
    check("css-id-rename");
}

#[test]
fn xpath_id_rename() {
    check("xpath-id-rename");
}

#[test]
fn css_wrapper_added() {
    check("css-wrapper-added");
}

#[test]
fn xpath_wrapper_added_tbody() {
    check("xpath-wrapper-tbody");
}

#[test]
fn css_tag_change() {
    check("css-tag-change");
}

#[test]
fn xpath_tag_change() {
    check("xpath-tag-change");
}

#[test]
fn css_attribute_rename() {
    check("css-attribute-rename");
}

#[test]
fn xpath_attribute_rename() {
    check("xpath-attribute-rename");
}

#[test]
fn xpath_step_change() {
    check("xpath-step-change");
}

#[test]
fn css_step_change() {
    check("css-step-change");
}

#[test]
fn css_unfixable_removed() {
    check("css-unfixable-removed");
}

#[test]
fn xpath_unfixable_removed() {
    check("xpath-unfixable-removed");
}

#[test]
fn xpath_drift_with_changed_data() {
    check("xpath-changed-data");
}

#[test]
fn css_drift_with_changed_data() {
    check("css-changed-data");
}

#[test]
fn decoy_with_old_values_is_not_followed() {
    check("css-decoy");
}

#[test]
fn an_intact_selector_is_unchanged() {
    let (_, old, _) = fixture("css-class-rename");
    let selector = Selector {
        kind: SelectorKind::Css,
        expr: "td.case-name::text".into(),
    };
    assert_eq!(heal(&old, &old, &selector), HealOutcome::Unchanged);
}

#[test]
fn a_selector_that_selects_nothing_on_the_old_page_is_refused() {
    let (_, old, new) = fixture("css-class-rename");
    let selector = Selector {
        kind: SelectorKind::Xpath,
        expr: "//table[@class='missing']//td/text()".into(),
    };
    match heal(&old, &new, &selector) {
        HealOutcome::Refused { reason, .. } => assert!(reason.contains("nothing"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn invalid_selectors_are_errors_that_name_the_selector() {
    let (_, old, _) = fixture("css-class-rename");
    for (kind, expr) in [
        (SelectorKind::Xpath, "//td[@class='x'"),
        (SelectorKind::Css, "td[class="),
    ] {
        let err = extract(
            &old,
            &Selector {
                kind,
                expr: expr.into(),
            },
        )
        .expect_err("invalid selector");
        assert!(err.to_string().contains(expr), "{err}");
    }
    let err = extract(
        &old,
        &Selector {
            kind: SelectorKind::JsonPath,
            expr: "$.a".into(),
        },
    )
    .expect_err("not HTML");
    assert!(err.to_string().contains("$.a"), "{err}");
}

#[test]
fn xpath_errors_carry_libxml2s_reason() {
    let (_, old, _) = fixture("css-class-rename");
    let err = extract(
        &old,
        &Selector {
            kind: SelectorKind::Xpath,
            expr: "//td[".into(),
        },
    )
    .expect_err("invalid");
    assert!(err.to_string().to_lowercase().contains("invalid"), "{err}");
}

#[test]
fn remembered_renames_are_tried_first() {
    let (case, old, new) = fixture("xpath-class-rename");
    let selector = Selector {
        kind: case.selector_type,
        expr: case.selector.clone(),
    };
    let options = HealOptions {
        renames: vec![("case-name".into(), "case-title".into())],
    };
    match heal_with(&old, &new, &selector, &options) {
        HealOutcome::Healed(h) => {
            assert_eq!(h.selector.expr, "//td[@class='case-title']/text()");
            assert!(h.rationale.contains("remembered rename"), "{}", h.rationale);
        }
        other => panic!("expected a heal, got {other:?}"),
    }
}

#[test]
fn unusual_selectors_get_an_answer_not_a_crash() {
    let (_, old, new) = fixture("css-decoy");
    let cases = [
        (SelectorKind::Xpath, "count(//tr)"),
        (SelectorKind::Xpath, "string(//h1)"),
        (SelectorKind::Xpath, "//td/@class"),
        (SelectorKind::Xpath, "//*[@id]"),
        (SelectorKind::Xpath, "//tr[position() > 1]/td[last()]"),
        (SelectorKind::Xpath, "(//td)[2]"),
        (SelectorKind::Xpath, "//td[contains(., \"v.\")] | //th"),
        (SelectorKind::Css, "td:nth-child(2n+1)::text"),
        (SelectorKind::Css, "th, li"),
        (SelectorKind::Css, "::text"),
        (SelectorKind::Css, ".café"),
        (SelectorKind::Css, "a[href$='.pdf']::attr(href)"),
        (
            SelectorKind::Css,
            "h1 + table tr:not(:first-child) > td.case-name",
        ),
    ];
    for (kind, expr) in cases {
        let selector = Selector {
            kind,
            expr: expr.into(),
        };
        match heal(&old, &new, &selector) {
            HealOutcome::Healed(h) => {
                assert!((0.0..=1.0).contains(&h.score), "{expr}: score {}", h.score);
                let got = extract(&new, &h.selector).expect("a healed selector evaluates");
                assert_eq!(
                    got, h.values,
                    "{expr}: reported values are what `{}` extracts",
                    h.selector.expr
                );
            }
            HealOutcome::Refused { reason, score } => {
                assert!(!reason.is_empty() && (0.0..=1.0).contains(&score), "{expr}")
            }
            HealOutcome::Unchanged => {}
        }
    }
}

#[test]
fn empty_or_broken_pages_are_refused_not_crashed() {
    let selector = Selector {
        kind: SelectorKind::Css,
        expr: "td.case-name::text".into(),
    };
    let (_, old, _) = fixture("css-class-rename");
    for (o, n) in [
        ("", ""),
        (old.as_str(), ""),
        (old.as_str(), "<<<>>> not html at all \u{0}"),
        ("<p>no table</p>", old.as_str()),
    ] {
        match heal(o, n, &selector) {
            HealOutcome::Refused { reason, score } => {
                assert!(!reason.is_empty() && score < 0.70, "{reason}")
            }
            other => panic!(
                "expected a refusal for old={:.20?} new={:.20?}, got {other:?}",
                o, n
            ),
        }
    }
}

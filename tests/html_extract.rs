//! Extraction exactly as a parsel-based scraper sees it: libxml2's HTML parser
//! (no `<tbody>` inserted), XPath 1.0 from the root element, CSS translated as
//! parsel translates it, and the corpus's value rule (element -> string(),
//! whitespace collapsed, empty values dropped, document order). Every expected
//! value here is what parsel 1.12 (lxml) extracts from the same page.

use fixwright::heal::html::extract;
use fixwright::heal::{Selector, SelectorKind};

const PAGE: &str = r#"<html><body>
<table class="list">
  <tr><th>Date</th><th>Name</th></tr>
  <tr><td>2024-01-05</td><td class="name main"><a href="/a.pdf" title="A">Smith
      v.   Jones</a></td></tr>
  <tr><td>2024-01-09</td><td class="name"><a href="/b.pdf" title="B">Baker v. State</a></td></tr>
  <tr><td>   </td><td class="name-x"><a href="/c.pdf">Other</a></td></tr>
</table>
<ul id="steps"><li>Mix</li><li>Bake <b>hot</b></li><li>Serve</li></ul>
<p data-kind='intro'>Intro text</p>
</body></html>"#;

fn css(expr: &str) -> Vec<String> {
    extract(
        PAGE,
        &Selector {
            kind: SelectorKind::Css,
            expr: expr.into(),
        },
    )
    .unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn xpath(expr: &str) -> Vec<String> {
    extract(
        PAGE,
        &Selector {
            kind: SelectorKind::Xpath,
            expr: expr.into(),
        },
    )
    .unwrap_or_else(|e| panic!("{expr}: {e}"))
}

#[test]
fn a_table_without_tbody_gets_none() {
    // libxml2 keeps the rows directly under <table>; an HTML5 parser would not.
    assert_eq!(
        xpath("//table/tr/td[1]/text()"),
        ["2024-01-05", "2024-01-09"]
    );
    assert!(xpath("//table/tbody/tr").is_empty());
    assert_eq!(
        css("table > tr > td:first-child::text"),
        ["2024-01-05", "2024-01-09"]
    );
}

#[test]
fn text_and_attr_pseudo_elements() {
    assert_eq!(css("td.name a::text"), ["Smith v. Jones", "Baker v. State"]);
    assert_eq!(css("td.name a::attr(href)"), ["/a.pdf", "/b.pdf"]);
    assert_eq!(css("p[data-kind=intro]::text"), ["Intro text"]);
    assert_eq!(css("#steps li::text"), ["Mix", "Bake", "Serve"]);
}

#[test]
fn elements_give_their_full_string_with_whitespace_collapsed() {
    assert_eq!(css("#steps li"), ["Mix", "Bake hot", "Serve"]);
    assert_eq!(xpath("//td[@class='name main']"), ["Smith v. Jones"]);
    // The whitespace-only cell yields nothing rather than an empty value.
    assert_eq!(xpath("//tr/td[1]"), ["2024-01-05", "2024-01-09"]);
}

#[test]
fn class_selectors_match_whole_tokens() {
    assert_eq!(css(".name a::text"), ["Smith v. Jones", "Baker v. State"]);
    assert_eq!(css("[class~=main] a::text"), ["Smith v. Jones"]);
    assert_eq!(
        css("[class^=name] a::text"),
        ["Smith v. Jones", "Baker v. State", "Other"]
    );
}

#[test]
fn structural_pseudo_classes_and_combinators() {
    assert_eq!(css("#steps li:nth-child(2)"), ["Bake hot"]);
    assert_eq!(css("#steps li:last-child::text"), ["Serve"]);
    assert_eq!(css("#steps li:not(:first-child)::text"), ["Bake", "Serve"]);
    assert_eq!(css("#steps li + li::text"), ["Bake", "Serve"]);
    assert_eq!(
        css("tr:nth-child(odd) td:nth-of-type(2)"),
        ["Baker v. State"]
    );
    assert_eq!(css("th, #steps li:first-child"), ["Date", "Name", "Mix"]);
}

#[test]
fn scalar_xpath_results() {
    assert_eq!(xpath("string(//p)"), ["Intro text"]);
    assert_eq!(xpath("count(//li)"), ["3.0"]);
}

#[test]
fn following_sibling_text_after_a_label() {
    let page = "<div><b>Date:</b> 2024-01-05 <b>Court:</b> Appeals</div>";
    let sel = Selector {
        kind: SelectorKind::Xpath,
        expr: "//b[normalize-space(.)='Court:']/following-sibling::text()[1]".into(),
    };
    assert_eq!(extract(page, &sel).expect("valid"), ["Appeals"]);
}

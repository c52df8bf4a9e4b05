use super::*;

const SCRAPY: &str = r#"import scrapy


class QuotesSpider(scrapy.Spider):
    name = "quotes"
    start_urls = ["https://quotes.example.org/page/1/"]

    def parse(self, response):
        for quote in response.css("div.quote"):
            yield {
                "text": quote.css('span.text::text').get(),
                "author": quote.xpath(".//small[@class=\"author\"]/text()").get(),
                "tags": quote.css("div.tags a.tag::text").getall(),
            }
        next_page = response.css("li.next a::attr(href)").get()
        if next_page is not None:
            yield response.follow(next_page, self.parse)
"#;

const BS4: &str = r#"import requests
from bs4 import BeautifulSoup


def scrape(url: str) -> list[dict]:
    soup = BeautifulSoup(requests.get(url, timeout=30).text, "html.parser")
    rows = []
    for row in soup.find_all("tr", class_="opinion-row"):
        title = row.find("a", attrs={"class": "case-title", "data-kind": "opinion"})
        date = row.find("td", id="filed")
        docket = row.select_one("td.docket")
        rows.append({"title": title.get_text(strip=True), "date": date.text})
    return rows
"#;

const API: &str = r#"import httpx


def fetch(client: httpx.Client) -> list[dict]:
    data = client.get("https://api.example.org/opinions").json()
    out = []
    for item in data["publicationItems"]:
        out.append({
            "case": item["caseNumber"],
            "title": item.get("title"),
            "doc": item["documents"][0]["documentName"],
            "court": data.get("court", {}).get('name'),
        })
    return out
"#;

fn values(lits: &[SelectorLiteral]) -> Vec<(&str, CallKind, Role)> {
    lits.iter()
        .map(|l| (l.value.as_str(), l.call, l.role.clone()))
        .collect()
}

#[test]
fn finds_scrapy_css_and_xpath_literals_with_ranges() {
    let lits = find_literals(SCRAPY).unwrap();
    assert_eq!(
        values(&lits),
        vec![
            ("div.quote", CallKind::Css, Role::Css),
            ("span.text::text", CallKind::Css, Role::Css),
            (
                ".//small[@class=\"author\"]/text()",
                CallKind::Xpath,
                Role::Xpath
            ),
            ("div.tags a.tag::text", CallKind::Css, Role::Css),
            ("li.next a::attr(href)", CallKind::Css, Role::Css),
        ]
    );
    for l in &lits {
        let src = &SCRAPY[l.range.clone()];
        assert!(src.starts_with(['\'', '"']), "{src}");
    }
    assert_eq!(lits[1].quote, Quote::Single);
    assert_eq!(lits[2].quote, Quote::Double);
    assert_eq!(lits[0].line, 9);
    assert!(lits[0].call_text.starts_with("response.css("));
}

#[test]
fn finds_beautifulsoup_find_arguments_and_select_one() {
    let lits = find_literals(BS4).unwrap();
    let found = values(&lits);
    assert!(found.contains(&("tr", CallKind::FindAll, Role::Tag)));
    assert!(found.contains(&("opinion-row", CallKind::FindAll, Role::Class)));
    assert!(found.contains(&("a", CallKind::Find, Role::Tag)));
    assert!(found.contains(&("case-title", CallKind::Find, Role::Class)));
    assert!(found.contains(&("opinion", CallKind::Find, Role::Attr("data-kind".into()))));
    assert!(found.contains(&("filed", CallKind::Find, Role::Id)));
    assert!(found.contains(&("td.docket", CallKind::SelectOne, Role::Css)));
    // `requests.get(url)` and the parser name are not selectors.
    assert!(!found.iter().any(|(v, _, _)| *v == "html.parser"));
}

#[test]
fn finds_chained_json_key_reads() {
    let lits = find_literals(API).unwrap();
    let keys: Vec<(&str, String)> = lits
        .iter()
        .filter(|l| l.role == Role::JsonKey)
        .map(|l| (l.value.as_str(), chain_to_json_path(&l.key_chain)))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("publicationItems", "$.publicationItems".to_string()),
            ("caseNumber", "$.caseNumber".to_string()),
            ("title", "$.title".to_string()),
            ("documents", "$.documents".to_string()),
            ("documentName", "$.documents[0].documentName".to_string()),
            ("court", "$.court".to_string()),
            ("name", "$.court.name".to_string()),
        ]
    );
    // The URL passed to client.get() is not a key read of a response.
    assert!(lits.iter().all(|l| !l.value.starts_with("https://")));
}

#[test]
fn replaces_only_the_literal_keeping_quotes_and_escaping() {
    let lits = find_literals(SCRAPY).unwrap();
    let author = &lits[2];
    let edited = replace_literal(SCRAPY, author, ".//small[@class=\"writer\"]/text()").unwrap();
    assert!(
        edited.contains(r#"quote.xpath(".//small[@class=\"writer\"]/text()").get()"#),
        "{edited}"
    );
    let before: Vec<&str> = SCRAPY.lines().collect();
    let after: Vec<&str> = edited.lines().collect();
    let changed: Vec<usize> = (0..before.len())
        .filter(|&i| before[i] != after[i])
        .collect();
    assert_eq!(changed, vec![author.line - 1]);

    let text = &lits[1];
    let edited = replace_literal(SCRAPY, text, "span.body's::text").unwrap();
    assert!(
        edited.contains(r"quote.css('span.body\'s::text')"),
        "{edited}"
    );
    let again = find_literals(&edited).unwrap();
    assert_eq!(again[1].value, "span.body's::text");
}

#[test]
fn refuses_raw_f_and_byte_strings_and_stale_ranges() {
    let src = "x = response.xpath(r'//td[1]')\ny = response.css(f'div.{kind}')\n";
    let lits = find_literals(src).unwrap();
    let raw = lits.iter().find(|l| l.prefix == "r").unwrap();
    assert!(!raw.editable);
    assert_eq!(raw.value, "//td[1]");
    assert!(matches!(
        replace_literal(src, raw, "//td[2]"),
        Err(SourceError::Prefix { .. })
    ));
    let f = lits.iter().find(|l| l.prefix == "f").unwrap();
    assert!(matches!(
        replace_literal(src, f, "div.x"),
        Err(SourceError::Prefix { .. })
    ));

    let plain = "x = response.css('a.b')\n";
    let lit = find_literals(plain).unwrap().remove(0);
    let moved = format!("# moved\n{plain}");
    assert!(matches!(
        replace_literal(&moved, &lit, "a.c"),
        Err(SourceError::Stale { .. })
    ));
}

#[test]
fn concatenated_literals_are_reported_but_not_edited() {
    let src = "x = response.xpath('//table'\n    '//tr')\n";
    let lits = find_literals(src).unwrap();
    assert_eq!(lits.len(), 1);
    assert!(!lits[0].editable);
    assert!(matches!(
        replace_literal(src, &lits[0], "//div"),
        Err(SourceError::Concatenated { .. })
    ));
}

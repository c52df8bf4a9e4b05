use super::*;
use crate::agents::DynAgent;
use crate::agents::contract::{AgentName, Budget, Document, Evidence, ScraperName, SourceFile};

const API_SCRAPER: &str = r#"import httpx


def parse(payload: dict) -> list[dict]:
    out = []
    for item in payload["publicationItems"]:
        out.append({
            "case": item["caseNumber"],
            "title": item.get("title"),
            "decided": item['decisionDate'],
        })
    return out


def fetch(client: httpx.Client) -> list[dict]:
    return parse(client.get("https://api.example.org/releases").json())
"#;

fn items(case_key: &str, with_date: bool) -> String {
    let rows: Vec<String> = [
        ("SC-2024-0492", "Kolessar v. SJP Investment Partners", "2026-01-23"),
        ("SC-2024-0222", "Ex parte Sessions", "2026-01-16"),
        ("SC-2025-0862", "Evans v. Evans", "2026-01-09"),
    ]
    .iter()
    .map(|(case, title, date)| {
        let date = if with_date {
            format!(r#", "decisionDate": "{date}""#)
        } else {
            String::new()
        };
        format!(r#"{{"uuid": "u-{case}", "{case_key}": "{case}", "title": "{title}", "groupName": "Per Curiam"{date}}}"#)
    })
    .collect();
    format!(
        r#"{{"court": "Alabama Supreme Court", "publicationItems": [{}]}}"#,
        rows.join(", ")
    )
}

fn request(
    files: Vec<(&str, &str)>,
    format: DocumentFormat,
    fixture: String,
    response: String,
) -> AgentRequest {
    AgentRequest {
        version: CONTRACT_VERSION,
        agent: AgentName("healer".into()),
        task: TaskKind::Fix,
        scraper: ScraperName("releases".into()),
        files: files
            .into_iter()
            .map(|(path, content)| SourceFile {
                path: path.into(),
                content: content.into(),
            })
            .collect(),
        evidence: Evidence {
            error_class: Some("schema_drift".into()),
            fixture: Some(Document {
                format,
                body: fixture,
                path: Some("tests/files/releases.json".into()),
                url: None,
                status: Some(200),
            }),
            response: Some(Document {
                format,
                body: response,
                path: None,
                url: Some("https://api.example.org/releases".into()),
                status: Some(200),
            }),
            ..Evidence::default()
        },
        memory: vec![],
        attempts: vec![],
        hints: vec![],
        budget: Budget::default(),
    }
}

fn changed_lines(before: &str, after: &str) -> Vec<(String, String)> {
    before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        .collect()
}

fn content(p: &Proposal) -> &str {
    match &p.edits[0].change {
        Change::Content { content } => content,
        Change::Diff { .. } => panic!("healer sends whole contents"),
    }
}

#[tokio::test]
async fn renamed_json_key_is_healed_by_editing_only_its_literal() {
    let req = request(
        vec![("scrapers/releases.py", API_SCRAPER)],
        DocumentFormat::Json,
        items("caseNumber", true),
        items("caseNo", true),
    );
    let p = Healer.invoke(&req).await.unwrap();
    assert_eq!(p.strategy, Strategy::JsonKeyHeal, "{}", p.rationale);
    assert_eq!(p.edits.len(), 1);
    assert_eq!(p.edits[0].path, "scrapers/releases.py");
    assert_eq!(
        changed_lines(API_SCRAPER, content(&p)),
        vec![(
            r#""case": item["caseNumber"],"#.to_string(),
            r#""case": item["caseNo"],"#.to_string()
        )]
    );
    assert!(p.confidence >= 0.9, "{}", p.confidence);
    assert_eq!(p.usage, Usage::default(), "no tokens spent");
}

#[tokio::test]
async fn removed_json_field_is_refused_with_the_reason() {
    let req = request(
        vec![("scrapers/releases.py", API_SCRAPER)],
        DocumentFormat::Json,
        items("caseNumber", true),
        items("caseNumber", false),
    );
    let p = Healer.invoke(&req).await.unwrap();
    assert_eq!(p.strategy, Strategy::Refuse);
    assert!(p.edits.is_empty());
    assert!(p.confidence < 0.7, "{}", p.confidence);
    assert!(p.rationale.contains("decisionDate"), "{}", p.rationale);
}

#[tokio::test]
async fn nested_key_is_refused_because_one_literal_cannot_express_it() {
    let scraper = "def parse(recipe):\n    return {\"prep\": recipe[\"prepTime\"], \"name\": recipe[\"name\"]}\n";
    let old = r#"{"name": "Soup", "prepTime": "PT10M", "cookTime": "PT30M", "recipeYield": "4"}"#;
    let new =
        r#"{"name": "Soup", "time": {"prep": "PT10M"}, "cookTime": "PT30M", "recipeYield": "4"}"#;
    let req = request(
        vec![("scrapers/recipe.py", scraper)],
        DocumentFormat::Json,
        old.into(),
        new.into(),
    );
    let p = Healer.invoke(&req).await.unwrap();
    assert_eq!(p.strategy, Strategy::Refuse);
    assert!(p.rationale.contains("$.time.prep"), "{}", p.rationale);
}

const SHOP_OLD: &str = r#"<html><body><main>
<div class="product"><h2 class="title">Kettle</h2><span class="price">19.99</span><a class="buy" href="/p/1">Buy</a></div>
<div class="product"><h2 class="title">Toaster</h2><span class="price">24.50</span><a class="buy" href="/p/2">Buy</a></div>
<div class="product"><h2 class="title">Blender</h2><span class="price">49.00</span><a class="buy" href="/p/3">Buy</a></div>
</main></body></html>"#;

const SCRAPY_SPIDER: &str = r#"import scrapy


class ShopSpider(scrapy.Spider):
    name = "shop"

    def parse(self, response):
        for product in response.css("div.product"):
            yield {
                "title": product.css("h2.title::text").get(),
                "price": product.css('span.price::text').get(),
                "url": product.xpath("./a[@class='buy']/@href").get(),
            }
"#;

#[tokio::test]
async fn scrapy_css_class_rename_is_healed_in_place() {
    let new = SHOP_OLD.replace("class=\"price\"", "class=\"cost\"");
    let req = request(
        vec![("shop/spiders/shop.py", SCRAPY_SPIDER)],
        DocumentFormat::Html,
        SHOP_OLD.into(),
        new.clone(),
    );
    let p = Healer.invoke(&req).await.unwrap();
    assert_eq!(p.strategy, Strategy::SelectorHeal, "{}", p.rationale);
    let changed = changed_lines(SCRAPY_SPIDER, content(&p));
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].0.contains("'span.price::text'"));
    assert!(
        changed[0].1.starts_with("\"price\": product.css('"),
        "{changed:?}"
    );
    // The new literal extracts the prices from the new page.
    let lits = find_literals(content(&p)).unwrap();
    let price = lits
        .iter()
        .find(|l| l.line == changed_line_no(SCRAPY_SPIDER, content(&p)))
        .unwrap();
    let values = html::extract(
        &new,
        &Selector {
            kind: SelectorKind::Css,
            expr: price.value.clone(),
        },
    )
    .unwrap();
    assert_eq!(values, ["19.99", "24.50", "49.00"]);
}

fn changed_line_no(a: &str, b: &str) -> usize {
    a.lines()
        .zip(b.lines())
        .position(|(x, y)| x != y)
        .map_or(0, |i| i + 1)
}

#[tokio::test]
async fn beautifulsoup_find_class_rename_edits_the_class_argument() {
    let scraper = r#"from bs4 import BeautifulSoup


def parse(html: str) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    return [s.get_text(strip=True) for s in soup.find_all("span", class_="price")]
"#;
    let new = SHOP_OLD.replace("class=\"price\"", "class=\"amount\"");
    let req = request(
        vec![("scrapers/shop.py", scraper)],
        DocumentFormat::Html,
        SHOP_OLD.into(),
        new,
    );
    let p = Healer.invoke(&req).await.unwrap();
    assert_eq!(p.strategy, Strategy::SelectorHeal, "{}", p.rationale);
    assert_eq!(
        changed_lines(scraper, content(&p)),
        vec![(
            r#"return [s.get_text(strip=True) for s in soup.find_all("span", class_="price")]"#
                .to_string(),
            r#"return [s.get_text(strip=True) for s in soup.find_all("span", class_="amount")]"#
                .to_string()
        )]
    );
}

#[tokio::test]
async fn nothing_broken_means_nothing_proposed() {
    let req = request(
        vec![("shop/spiders/shop.py", SCRAPY_SPIDER)],
        DocumentFormat::Html,
        SHOP_OLD.into(),
        SHOP_OLD.into(),
    );
    let agent: Box<dyn DynAgent> = Box::new(Healer);
    let p = agent.invoke_boxed(&req).await.unwrap();
    assert_eq!(p.strategy, Strategy::Refuse);
    assert!(p.edits.is_empty());
    assert!(p.rationale.contains("still extracts"), "{}", p.rationale);
}

#[tokio::test]
async fn other_tasks_and_missing_evidence_are_errors() {
    let mut req = request(vec![], DocumentFormat::Json, "{}".into(), "{}".into());
    req.task = TaskKind::Generate;
    assert!(matches!(
        Healer.invoke(&req).await,
        Err(AgentError::Unsupported { .. })
    ));
    req.task = TaskKind::Fix;
    req.evidence.response = None;
    assert!(matches!(
        Healer.invoke(&req).await,
        Err(AgentError::Missing(_))
    ));
}

#[test]
fn contract_round_trips_and_rejects_unknown_versions() {
    let req = request(
        vec![("a.py", "x = 1\n")],
        DocumentFormat::Json,
        "{}".into(),
        "[]".into(),
    );
    let body = serde_json::to_string(&req).unwrap();
    assert!(body.contains(r#""task":"fix""#), "{body}");
    assert_eq!(AgentRequest::from_json(&body).unwrap(), req);
    let newer = body.replacen(r#""version":1"#, r#""version":2"#, 1);
    assert!(matches!(
        AgentRequest::from_json(&newer),
        Err(AgentError::Version { found: 2, .. })
    ));
    assert!(matches!(
        AgentRequest::from_json(r#"{"task":"fix"}"#),
        Err(AgentError::Missing("version"))
    ));

    let proposal = Proposal {
        version: CONTRACT_VERSION,
        edits: vec![Edit {
            path: "a.py".into(),
            change: Change::Diff {
                unified_diff: "--- a/a.py\n+++ b/a.py\n".into(),
            },
        }],
        strategy: Strategy::Other("model_rewrite".into()),
        root_cause: "r".into(),
        confidence: 0.5,
        rationale: "why".into(),
        usage: Usage {
            input_tokens: 10,
            output_tokens: 5,
            cost_usd: 0.01,
        },
    };
    let body = serde_json::to_string(&proposal).unwrap();
    assert!(body.contains(r#""kind":"diff""#), "{body}");
    assert_eq!(Proposal::from_json(&body).unwrap(), proposal);
}

#[tokio::test]
async fn remembered_json_key_rename_decides_between_two_fits() {
    // The case number now sits under two new keys with the same values.
    let mut response: serde_json::Value =
        serde_json::from_str(&items("caseNumber", true)).expect("test JSON");
    if let Some(rows) = response["publicationItems"].as_array_mut() {
        for row in rows {
            if let Some(case) = row.as_object_mut().and_then(|o| o.remove("caseNumber")) {
                row["caseNo"] = case.clone();
                row["docket"] = case;
            }
        }
    }
    for remembered in ["docket", "caseNo"] {
        let mut req = request(
            vec![("scrapers/releases.py", API_SCRAPER)],
            DocumentFormat::Json,
            items("caseNumber", true),
            response.to_string(),
        );
        req.memory = vec![crate::agents::contract::MemoryHit {
            error_class: "schema_drift".into(),
            strategy: Strategy::JsonKeyHeal,
            before: "caseNumber".into(),
            after: remembered.into(),
            success_rate: 0.9,
        }];
        let p = Healer.invoke(&req).await.unwrap();
        assert_eq!(p.strategy, Strategy::JsonKeyHeal, "{}", p.rationale);
        assert_eq!(
            changed_lines(API_SCRAPER, content(&p)),
            vec![(
                r#""case": item["caseNumber"],"#.to_string(),
                format!(r#""case": item["{remembered}"],"#)
            )]
        );
        assert!(p.rationale.contains("remembered"), "{}", p.rationale);
    }
}

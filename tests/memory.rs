//! Memory on a real SQLite file and the real PostgreSQL: outcomes, strategy
//! rates, remembered renames and JSON schema history.

mod incident_support;

use chrono::{TimeDelta, Utc};
use fixwright::incident::{ErrorClass, ScraperName, UpstreamHost};
use fixwright::memory::{JsonType, Memory, Outcome, OutcomeRecord, Rate, Strategy};
use incident_support::db::TestDb;
use serde_json::json;
use ulid::Ulid;

fn record(
    class: ErrorClass,
    host: &str,
    strategy: &str,
    before: Option<&str>,
    after: Option<&str>,
    outcome: Outcome,
) -> OutcomeRecord {
    OutcomeRecord {
        attempt: Ulid::new(),
        scraper: ScraperName::new("books"),
        class,
        upstream_host: Some(UpstreamHost::new(host)),
        strategy: Strategy::new(strategy),
        before: before.map(str::to_owned),
        after: after.map(str::to_owned),
        outcome,
    }
}

async fn rates_and_renames(db: TestDb) {
    let memory = Memory::new(db.store.clone());
    let now = Utc::now();
    let heal = Strategy::new("selector_heal");
    let sd = ErrorClass::SelectorDrift;

    // Nothing known: the prior alone.
    let rate = memory.strategy_rate(&heal, sd).await.expect("rate");
    assert_eq!(rate, Rate::new(0, 0));
    assert_eq!(rate.estimate(), 0.5);

    let host = "books.toscrape.com";
    let price = (Some("p.price_color::text"), Some("span.price::text"));
    for _ in 0..2 {
        let r = record(
            sd,
            host,
            "selector_heal",
            price.0,
            price.1,
            Outcome::Verified,
        );
        memory.record_outcome(&r, now).await.expect("record");
    }
    // Merged, then reverted: one attempt, one failure, not a success and a failure.
    let flip = record(
        sd,
        host,
        "selector_heal",
        Some("h3 a::attr(title)"),
        Some("h3 a::text"),
        Outcome::Merged,
    );
    memory.record_outcome(&flip, now).await.expect("record");
    assert_eq!(
        memory.strategy_rate(&heal, sd).await.expect("rate"),
        Rate::new(3, 0)
    );
    assert!(
        memory
            .update_outcome(flip.attempt, Outcome::Reverted, now + TimeDelta::hours(2))
            .await
            .expect("update")
    );
    assert!(
        !memory
            .update_outcome(Ulid::new(), Outcome::Verified, now)
            .await
            .expect("update"),
        "an unknown attempt is reported, not invented"
    );
    // Proposed attempts are not decided yet.
    let pending = record(
        sd,
        host,
        "selector_heal",
        Some("a"),
        Some("b"),
        Outcome::Proposed,
    );
    memory.record_outcome(&pending, now).await.expect("record");
    // Another class and another strategy do not leak in.
    let other = record(
        ErrorClass::SchemaDrift,
        host,
        "selector_heal",
        None,
        None,
        Outcome::Rejected,
    );
    memory.record_outcome(&other, now).await.expect("record");
    let agent = record(sd, host, "agent_rewrite", None, None, Outcome::GatesFailed);
    memory.record_outcome(&agent, now).await.expect("record");

    let rate = memory.strategy_rate(&heal, sd).await.expect("rate");
    assert_eq!(rate, Rate::new(2, 1));
    assert!((rate.estimate() - 3.0 / 5.0).abs() < 1e-12);
    let agent_rate = memory
        .strategy_rate(&Strategy::new("agent_rewrite"), sd)
        .await
        .expect("rate");
    assert_eq!(agent_rate, Rate::new(0, 1));

    // A second, older success for another selector on the same host.
    let title = record(
        sd,
        host,
        "selector_heal",
        Some("h1::text"),
        Some("div.product_main h1::text"),
        Outcome::Verified,
    );
    memory
        .record_outcome(&title, now - TimeDelta::days(3))
        .await
        .expect("record");
    // And one on another host, which must not show up.
    let elsewhere = record(
        sd,
        "quotes.toscrape.com",
        "selector_heal",
        Some("span.text"),
        Some("q.text"),
        Outcome::Verified,
    );
    memory
        .record_outcome(&elsewhere, now)
        .await
        .expect("record");

    let renames = memory
        .remembered_renames(sd, Some(&UpstreamHost::new(host)))
        .await
        .expect("renames");
    let pairs: Vec<(&str, &str, u64, u64)> = renames
        .iter()
        .map(|r| (r.before.as_str(), r.after.as_str(), r.successes, r.failures))
        .collect();
    assert_eq!(
        pairs,
        [
            ("p.price_color::text", "span.price::text", 2, 0),
            ("h1::text", "div.product_main h1::text", 1, 0),
        ],
        "the reverted rename is not offered; the most successful comes first"
    );
    let none = memory
        .remembered_renames(ErrorClass::SchemaDrift, Some(&UpstreamHost::new(host)))
        .await
        .expect("renames");
    assert!(none.is_empty());
    db.drop_now().await;
}

#[tokio::test]
async fn memory_rates_and_renames_sqlite() {
    rates_and_renames(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn memory_rates_and_renames_postgres() {
    rates_and_renames(TestDb::postgres().await).await;
}

async fn schema_history(db: TestDb) {
    let memory = Memory::new(db.store.clone());
    let scraper = ScraperName::new("product_api");
    let t0 = Utc::now();
    let v1 = json!({"products": [{"name": "Lamp", "price": {"amount": 12.5, "currency": "EUR"}, "stock": 3}], "next": null});
    let v2 = json!({"products": [{"name": "Lamp", "pricing": {"amount": 12.5, "currency": "EUR"}, "stock": "3"}], "next": "/p/2"});

    let first = memory
        .record_schema(&scraper, &v1, t0)
        .await
        .expect("record");
    assert!(first.first);
    assert!(first.missing.is_empty());
    assert!(
        first
            .added
            .contains(&("$.products[].price.amount".to_owned(), JsonType::Number))
    );

    let same = memory
        .record_schema(&scraper, &v1, t0 + TimeDelta::hours(1))
        .await
        .expect("record");
    assert!(same.is_unchanged(), "{same:?}");

    let change = memory
        .record_schema(&scraper, &v2, t0 + TimeDelta::hours(2))
        .await
        .expect("record");
    let missing: Vec<&str> = change.missing.iter().map(|(p, _)| p.as_str()).collect();
    assert!(missing.contains(&"$.products[].price"), "{missing:?}");
    assert!(missing.contains(&"$.products[].price.amount"));
    assert!(
        change
            .missing
            .contains(&("$.products[].stock".to_owned(), JsonType::Integer))
    );
    assert!(
        change
            .missing
            .contains(&("$.next".to_owned(), JsonType::Null))
    );
    assert!(
        change
            .added
            .contains(&("$.products[].pricing.amount".to_owned(), JsonType::Number))
    );
    assert!(
        change
            .added
            .contains(&("$.products[].stock".to_owned(), JsonType::String))
    );

    let history = memory.schema_history(&scraper).await.expect("history");
    let price = history
        .iter()
        .find(|p| p.path == "$.products[].price.amount")
        .expect("old path kept in history");
    assert_eq!(price.times_seen, 2);
    assert_eq!(price.first_seen.timestamp_millis(), t0.timestamp_millis());
    let name = history
        .iter()
        .find(|p| p.path == "$.products[].name")
        .expect("name");
    assert_eq!(name.times_seen, 3);
    assert!(
        memory
            .schema_history(&ScraperName::new("other"))
            .await
            .expect("history")
            .is_empty()
    );
    db.drop_now().await;
}

#[tokio::test]
async fn memory_schema_history_sqlite() {
    schema_history(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn memory_schema_history_postgres() {
    schema_history(TestDb::postgres().await).await;
}

//! The dedupe registry over the real Redis and over the store (a real SQLite
//! file and the real PostgreSQL), and storm grouping in the store.

mod incident_support;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use fixwright::incident::dedupe::{
    Claim, Dedupe, DedupeError, DedupeKey, DedupeRegistry, RedisDedupe, StoreDedupe,
};
use fixwright::incident::storm::{
    Decision, GroupKey, MatchedBy, StormCandidate, StormGrouper, decide, group_keys,
};
use fixwright::incident::{
    ErrorClass, Evidence, Fingerprint, IncidentId, ScraperName, UpstreamHost, classify,
};
use fixwright::store::Store;
use incident_support::db::{REDIS_URL, TestDb, redis_prefix, require_redis};

// ---------------------------------------------------------------- dedupe

async fn first_claimant_wins(registry: &impl DedupeRegistry) {
    let key = DedupeKey::new(format!("incident:{}", ulid::Ulid::new()));
    let ttl = Duration::from_secs(60);
    assert_eq!(
        registry.claim(&key, "attempt-a", ttl).await.expect("claim"),
        Claim::Won
    );
    match registry.claim(&key, "attempt-b", ttl).await.expect("claim") {
        Claim::Held { holder, remaining } => {
            assert_eq!(holder.as_deref(), Some("attempt-a"));
            let remaining = remaining.expect("remaining TTL");
            assert!(
                remaining <= ttl && remaining > Duration::from_secs(50),
                "{remaining:?}"
            );
        }
        Claim::Won => panic!("a second claimant won a live key"),
    }
    // A redelivered signal for the same attempt keeps its claim.
    assert_eq!(
        registry.claim(&key, "attempt-a", ttl).await.expect("claim"),
        Claim::Won
    );
    let other = DedupeKey::new(format!("incident:{}", ulid::Ulid::new()));
    assert_eq!(
        registry
            .claim(&other, "attempt-b", ttl)
            .await
            .expect("claim"),
        Claim::Won
    );
}

async fn exactly_one_of_many_concurrent_claimants_wins<R>(registry: R)
where
    R: DedupeRegistry + Clone + 'static,
{
    let key = DedupeKey::new(format!("incident:{}", ulid::Ulid::new()));
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let registry = registry.clone();
            let key = key.clone();
            tokio::spawn(async move {
                registry
                    .claim(&key, &format!("holder-{i}"), Duration::from_secs(60))
                    .await
                    .expect("claim")
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        if t.await.expect("task").is_won() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn incident_dedupe_redis_first_claimant_wins_and_expiry_frees_the_key() {
    require_redis().await;
    let registry = RedisDedupe::connect(REDIS_URL, redis_prefix("dedupe"))
        .await
        .expect("redis");
    first_claimant_wins(&registry).await;
    exactly_one_of_many_concurrent_claimants_wins(registry.clone()).await;

    let key = DedupeKey::new("short");
    assert!(
        registry
            .claim(&key, "a", Duration::from_millis(300))
            .await
            .expect("claim")
            .is_won()
    );
    assert!(
        !registry
            .claim(&key, "b", Duration::from_secs(5))
            .await
            .expect("claim")
            .is_won()
    );
    // EX has whole seconds: a 300 ms TTL lasts one second.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        registry
            .claim(&key, "b", Duration::from_secs(5))
            .await
            .expect("claim")
            .is_won()
    );

    assert!(matches!(
        registry.claim(&key, "c", Duration::ZERO).await,
        Err(DedupeError::InvalidTtl(_))
    ));
}

#[tokio::test]
async fn incident_dedupe_redis_unreachable_is_an_error_naming_the_url() {
    let err = RedisDedupe::connect("redis://127.0.0.1:1/", "x:")
        .await
        .err()
        .expect("nothing listens on port 1");
    assert!(err.to_string().contains("redis://127.0.0.1:1/"), "{err}");
}

async fn store_dedupe_contract(db: TestDb) {
    let registry = StoreDedupe::new(db.store.clone());
    first_claimant_wins(&registry).await;
    exactly_one_of_many_concurrent_claimants_wins(registry.clone()).await;

    let key = DedupeKey::for_fingerprint(
        &Fingerprint::parse("0123456789abcdef0123456789abcdef").expect("fp"),
    );
    let t0 = Utc::now();
    let ttl = Duration::from_secs(600);
    assert!(
        registry
            .claim_at(&key, "a", ttl, t0)
            .await
            .expect("claim")
            .is_won()
    );
    let before_expiry = t0 + TimeDelta::seconds(599);
    assert_eq!(
        registry
            .claim_at(&key, "b", ttl, before_expiry)
            .await
            .expect("claim"),
        Claim::Held {
            holder: Some("a".to_owned()),
            remaining: Some(Duration::from_secs(1)),
        }
    );
    let at_expiry = t0 + TimeDelta::seconds(600);
    assert!(
        registry
            .claim_at(&key, "b", ttl, at_expiry)
            .await
            .expect("claim")
            .is_won()
    );
    assert!(
        !registry
            .claim_at(&key, "a", ttl, at_expiry)
            .await
            .expect("claim")
            .is_won()
    );

    let purged = registry
        .purge_expired(t0 + TimeDelta::days(1))
        .await
        .expect("purge");
    assert!(purged >= 1);
    assert!(matches!(
        registry.claim(&key, "a", Duration::ZERO).await,
        Err(DedupeError::InvalidTtl(_))
    ));

    let configured = Dedupe::from_config(None, "ignored:", db.store.clone())
        .await
        .expect("store registry");
    assert!(matches!(configured, Dedupe::Store(_)));
    first_claimant_wins(&configured).await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn incident_dedupe_store_sqlite() {
    store_dedupe_contract(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn incident_dedupe_store_postgres() {
    store_dedupe_contract(TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn incident_dedupe_configured_with_redis_uses_redis() {
    require_redis().await;
    let db = TestDb::sqlite().await;
    let prefix = redis_prefix("configured");
    let registry = Dedupe::from_config(Some(REDIS_URL), &prefix, db.store.clone())
        .await
        .expect("redis registry");
    assert!(matches!(registry, Dedupe::Redis(_)));
    first_claimant_wins(&registry).await;
    // Nothing went to the store.
    let Store::Sqlite(pool) = &db.store else {
        unreachable!()
    };
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM dedupe_claims")
        .fetch_one(pool)
        .await
        .expect("count");
    assert_eq!(rows, 0);
}

// ---------------------------------------------------------------- storm

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/incident")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A diagnosed incident of scraper `name`, from a fixture whose scraper file
/// is renamed to the scraper's own.
fn diagnosed(fixture_name: &str, file_in_fixture: &str, name: &str, run: u32) -> StormCandidate {
    let dir = file_in_fixture.rsplit_once('/').map_or("", |(d, _)| d);
    let own = format!("{dir}/{name}.py");
    let log = fixture(fixture_name)
        .replace(file_in_fixture, &own)
        .replace("2025-03-11 ", &format!("2025-03-{:02} ", 11 + run % 9));
    let evidence = Evidence {
        log,
        response: None,
        scraper: Some(ScraperName::new(name)),
        scraper_files: vec![own.trim_start_matches("/app/").to_owned()],
    };
    StormCandidate::from_diagnosis(IncidentId::new(), &classify(&evidence))
}

/// 30 failing scrapers with 3 causes: the market-data API rate-limits ten
/// quote scrapers (two of which fail twice: same fingerprint), a redesign of
/// books.toscrape.com breaks ten spiders' selectors, and a missing package
/// breaks ten more at import.
fn storm() -> Vec<StormCandidate> {
    let mut out = Vec::new();
    for i in 0..8 {
        out.push(diagnosed(
            "httpx_429.log",
            "/app/scrapers/quotes_api.py",
            &format!("quotes_{i}"),
            0,
        ));
    }
    for i in 0..2 {
        out.push(diagnosed(
            "httpx_429.log",
            "/app/scrapers/quotes_api.py",
            "quotes_0",
            i + 1,
        ));
    }
    for i in 0..10 {
        out.push(diagnosed(
            "scrapy_css_none.log",
            "/app/bookshop/spiders/books.py",
            &format!("books_{i}"),
            i,
        ));
    }
    for i in 0..10 {
        out.push(diagnosed(
            "module_not_found.log",
            "/app/bookshop/spiders/books.py",
            &format!("shelf_{i}"),
            i,
        ));
    }
    out
}

async fn thirty_scrapers_three_causes(db: TestDb) {
    let incidents = storm();
    let classes: HashSet<ErrorClass> = incidents.iter().map(|c| c.class).collect();
    assert_eq!(
        classes,
        HashSet::from([
            ErrorClass::RateLimited,
            ErrorClass::SelectorDrift,
            ErrorClass::Dependency
        ])
    );
    let fingerprints: HashSet<&Fingerprint> = incidents.iter().map(|c| &c.fingerprint).collect();
    assert_eq!(
        fingerprints.len(),
        28,
        "two repeated runs share a fingerprint"
    );

    let grouper = StormGrouper::new(db.store.clone(), Duration::from_secs(3600));
    // All at once, as a storm arrives.
    let tasks: Vec<_> = incidents
        .iter()
        .cloned()
        .map(|c| {
            let grouper = grouper.clone();
            tokio::spawn(async move { (c.clone(), grouper.assign(&c).await.expect("assign")) })
        })
        .collect();
    let mut by_group: HashMap<_, Vec<_>> = HashMap::new();
    for t in tasks {
        let (candidate, assignment) = t.await.expect("task");
        by_group
            .entry(assignment.group)
            .or_default()
            .push((candidate, assignment));
    }
    assert_eq!(by_group.len(), 3, "three causes, three groups");
    for (group, members) in &by_group {
        assert_eq!(members.len(), 10);
        let leaders: Vec<_> = members.iter().filter(|(_, a)| a.leader).collect();
        assert_eq!(leaders.len(), 1, "one leader in group {group}");
        let classes: HashSet<ErrorClass> = members.iter().map(|(c, _)| c.class).collect();
        assert_eq!(classes.len(), 1, "a group holds one cause");
        let stored = grouper.group(*group).await.expect("group").expect("stored");
        assert_eq!(stored.members, 10);
        assert_eq!(stored.leader, leaders[0].0.incident);
        assert_eq!(stored.class, members[0].0.class);
        for (_, a) in members {
            assert_eq!(a.matched_by == MatchedBy::Opened, a.leader);
        }
    }
    let rate_limited = by_group
        .values()
        .find(|m| m[0].0.class == ErrorClass::RateLimited)
        .expect("rate-limited group");
    let group = grouper
        .group(rate_limited[0].1.group)
        .await
        .expect("group")
        .expect("stored");
    assert_eq!(
        group.upstream_host,
        Some(UpstreamHost::new("api.marketdata.example"))
    );

    // Asking again about an incident changes nothing and gives the same answer.
    let (candidate, first) = &by_group.values().next().expect("a group")[3];
    let again = grouper.assign(candidate).await.expect("assign");
    assert_eq!((again.group, again.leader), (first.group, first.leader));
    let stored = grouper
        .group(first.group)
        .await
        .expect("group")
        .expect("stored");
    assert_eq!(stored.members, 10);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn incident_storm_thirty_scrapers_three_causes_sqlite() {
    thirty_scrapers_three_causes(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn incident_storm_thirty_scrapers_three_causes_postgres() {
    thirty_scrapers_three_causes(TestDb::postgres().await).await;
}

async fn window_closes(db: TestDb) {
    let grouper = StormGrouper::new(db.store.clone(), Duration::from_secs(600));
    let t0 = Utc::now();
    let a = diagnosed(
        "httpx_429.log",
        "/app/scrapers/quotes_api.py",
        "quotes_a",
        0,
    );
    let b = diagnosed(
        "httpx_429.log",
        "/app/scrapers/quotes_api.py",
        "quotes_b",
        0,
    );
    let c = diagnosed(
        "httpx_429.log",
        "/app/scrapers/quotes_api.py",
        "quotes_c",
        0,
    );
    let first = grouper.assign_at(&a, t0).await.expect("assign");
    let inside = grouper
        .assign_at(&b, t0 + TimeDelta::seconds(599))
        .await
        .expect("assign");
    let after = grouper
        .assign_at(&c, t0 + TimeDelta::seconds(600))
        .await
        .expect("assign");
    assert!(first.leader);
    assert_eq!(
        (inside.group, inside.leader, inside.matched_by),
        (first.group, false, MatchedBy::HostClass)
    );
    assert_ne!(after.group, first.group, "the window closed");
    assert!(after.leader);
    db.drop_now().await;
}

#[tokio::test]
async fn incident_storm_window_closes_sqlite() {
    window_closes(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn incident_storm_window_closes_postgres() {
    window_closes(TestDb::postgres().await).await;
}

#[test]
fn incident_storm_code_bugs_on_one_host_are_separate() {
    let candidate = |fp: &str, class| StormCandidate {
        incident: IncidentId::new(),
        scraper: None,
        fingerprint: Fingerprint::parse(fp).expect("fp"),
        class,
        upstream_host: Some(UpstreamHost::new("shop.example")),
        cause: None,
    };
    let a = candidate("00000000000000000000000000000001", ErrorClass::CodeBug);
    assert_eq!(group_keys(&a).len(), 1, "only the fingerprint");
    let b = candidate(
        "00000000000000000000000000000002",
        ErrorClass::SelectorDrift,
    );
    assert_eq!(
        group_keys(&b)[1],
        GroupKey::HostClass(UpstreamHost::new("shop.example"), ErrorClass::SelectorDrift)
    );
}

#[test]
fn incident_storm_decision_prefers_the_most_specific_key() {
    let fp =
        GroupKey::Fingerprint(Fingerprint::parse("0123456789abcdef0123456789abcdef").expect("fp"));
    let host = GroupKey::HostClass(UpstreamHost::new("api.example"), ErrorClass::RateLimited);
    let keys = vec![fp.clone(), host.clone()];
    assert_eq!(decide(&keys, &[]), Decision::Open { keys: keys.clone() });
    let g1 = fixwright::incident::storm::GroupId::new();
    let g2 = fixwright::incident::storm::GroupId::new();
    assert_eq!(
        decide(&keys, &[(host.clone(), g2)]),
        Decision::Join {
            group: g2,
            matched_by: MatchedBy::HostClass,
            add_keys: vec![fp.clone()]
        }
    );
    assert_eq!(
        decide(&keys, &[(host.clone(), g2), (fp.clone(), g1)]),
        Decision::Join {
            group: g1,
            matched_by: MatchedBy::Fingerprint,
            add_keys: vec![]
        }
    );
}

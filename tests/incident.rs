//! Diagnosis and fingerprints on realistic logs of every error class
//! (fixtures in tests/fixtures/incident/, written the way scrapy 2.11,
//! requests, httpx, BeautifulSoup, pydantic 2, pip and kubectl print them).

use std::collections::HashMap;
use std::path::PathBuf;

use fixwright::incident::{
    ChainLink, ErrorClass, Evidence, FailingResponse, Rule, ScraperName, Source, classify,
    mask_message, parse_tracebacks,
};
use regex::{Captures, Regex};

struct Case {
    fixture: &'static str,
    scraper: &'static str,
    files: &'static [&'static str],
    class: ErrorClass,
    rule: Rule,
    host: Option<&'static str>,
    status: Option<u16>,
}

const fn case(
    fixture: &'static str,
    scraper: &'static str,
    files: &'static [&'static str],
    class: ErrorClass,
    rule: Rule,
    host: Option<&'static str>,
    status: Option<u16>,
) -> Case {
    Case {
        fixture,
        scraper,
        files,
        class,
        rule,
        host,
        status,
    }
}

use ErrorClass as C;

const CASES: &[Case] = &[
    case(
        "scrapy_css_none.log",
        "books",
        &["bookshop/spiders/books.py"],
        C::SelectorDrift,
        Rule::NoneFromSelector,
        Some("books.toscrape.com"),
        None,
    ),
    case(
        "scrapy_zero_items.log",
        "quotes",
        &["bookshop/spiders/quotes.py"],
        C::SelectorDrift,
        Rule::ZeroItems,
        Some("quotes.toscrape.com"),
        None,
    ),
    case(
        "scrapy_xpath_index.log",
        "book_detail",
        &["bookshop/spiders/book_detail.py"],
        C::SelectorDrift,
        Rule::EmptySelection,
        Some("books.toscrape.com"),
        None,
    ),
    case(
        "bs4_none_text.log",
        "news_headlines",
        &["scrapers/news_headlines.py"],
        C::SelectorDrift,
        Rule::NoneFromSelector,
        Some("news.example.org"),
        None,
    ),
    case(
        "bs4_find_subscript.log",
        "jobs_board",
        &["scrapers/jobs_board.py"],
        C::SelectorDrift,
        Rule::NoneFromSelector,
        Some("careers.example.com"),
        None,
    ),
    case(
        "bs4_missing_attr.log",
        "recipes",
        &["scrapers/recipes.py"],
        C::SelectorDrift,
        Rule::MissingHtmlAttribute,
        None,
        None,
    ),
    case(
        "requests_keyerror.log",
        "product_api",
        &["scrapers/product_api.py"],
        C::SchemaDrift,
        Rule::MissingJsonKey,
        Some("api.shopfront.example"),
        None,
    ),
    case(
        "pydantic_validation.log",
        "listings_api",
        &["scrapers/listings_api.py"],
        C::SchemaDrift,
        Rule::ValidationError,
        Some("api.rentals.example"),
        None,
    ),
    case(
        "httpx_type_mismatch.log",
        "weather_obs",
        &["scrapers/weather_obs.py"],
        C::SchemaDrift,
        Rule::JsonTypeMismatch,
        Some("api.weather.example"),
        None,
    ),
    case(
        "requests_http_500.log",
        "tenders",
        &["scrapers/tenders.py"],
        C::HttpError,
        Rule::HttpStatus,
        Some("procurement.example.gov"),
        Some(500),
    ),
    case(
        "scrapy_gave_up_503.log",
        "lamps",
        &["bookshop/spiders/lamps.py"],
        C::HttpError,
        Rule::HttpStatus,
        Some("www.catalogue.example"),
        Some(503),
    ),
    case(
        "scrapy_dns.log",
        "gone",
        &["bookshop/spiders/gone.py"],
        C::HttpError,
        Rule::ConnectionFailure,
        Some("shop.gone-away.example"),
        None,
    ),
    case(
        "httpx_401.log",
        "crm_contacts",
        &["scrapers/crm_contacts.py"],
        C::Auth,
        Rule::HttpStatus,
        Some("api.partnercrm.example"),
        Some(401),
    ),
    case(
        "scrapy_403.log",
        "archive",
        &["bookshop/spiders/archive.py"],
        C::Auth,
        Rule::HttpStatus,
        Some("members.journal.example"),
        Some(403),
    ),
    case(
        "jwt_expired.log",
        "fleet_positions",
        &["scrapers/fleet_positions.py"],
        C::Auth,
        Rule::ExpiredToken,
        None,
        None,
    ),
    case(
        "httpx_429.log",
        "quotes_api",
        &["scrapers/quotes_api.py"],
        C::RateLimited,
        Rule::HttpStatus,
        Some("api.marketdata.example"),
        Some(429),
    ),
    case(
        "scrapy_429.log",
        "headphones",
        &["bookshop/spiders/headphones.py"],
        C::RateLimited,
        Rule::HttpStatus,
        Some("www.marketplace.example"),
        Some(429),
    ),
    case(
        "requests_429_then_none.log",
        "classifieds",
        &["scrapers/classifieds.py"],
        C::RateLimited,
        Rule::HttpStatus,
        Some("www.classifieds.example"),
        Some(429),
    ),
    case(
        "requests_read_timeout.log",
        "courts",
        &["scrapers/courts.py"],
        C::Timeout,
        Rule::RequestTimeout,
        Some("records.courts.example"),
        None,
    ),
    case(
        "scrapy_timeout.log",
        "registry",
        &["bookshop/spiders/registry.py"],
        C::Timeout,
        Rule::RequestTimeout,
        Some("slow.registry.example"),
        None,
    ),
    case(
        "job_deadline.log",
        "books",
        &["bookshop/spiders/books.py"],
        C::Timeout,
        Rule::JobDeadline,
        None,
        None,
    ),
    case(
        "module_not_found.log",
        "books",
        &["bookshop/spiders/books.py"],
        C::Dependency,
        Rule::MissingModule,
        None,
        None,
    ),
    case(
        "import_error_name.log",
        "gazette",
        &["scrapers/gazette.py"],
        C::Dependency,
        Rule::MissingModule,
        None,
        None,
    ),
    case(
        "pip_conflict.log",
        "books",
        &["bookshop/spiders/books.py"],
        C::Dependency,
        Rule::VersionConflict,
        None,
        None,
    ),
    case(
        "zero_division.log",
        "price_index",
        &["scrapers/price_index.py"],
        C::CodeBug,
        Rule::UncaughtException,
        None,
        None,
    ),
    case(
        "name_error.log",
        "events_calendar",
        &["scrapers/events_calendar.py"],
        C::CodeBug,
        Rule::InvalidCode,
        None,
        None,
    ),
    case(
        "oomkilled.log",
        "books",
        &["bookshop/spiders/books.py"],
        C::Infra,
        Rule::OutOfMemory,
        None,
        None,
    ),
    case(
        "image_pull.log",
        "books",
        &["bookshop/spiders/books.py"],
        C::Infra,
        Rule::ImagePull,
        None,
        None,
    ),
    case(
        "node_lost.log",
        "books",
        &["bookshop/spiders/books.py"],
        C::Infra,
        Rule::NodeLost,
        None,
        None,
    ),
];

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/incident")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn evidence(case: &Case, log: String) -> Evidence {
    Evidence {
        log,
        response: None,
        scraper: Some(ScraperName::new(case.scraper)),
        scraper_files: case.files.iter().map(|f| (*f).to_owned()).collect(),
    }
}

#[test]
fn every_fixture_gets_its_class_rule_host_and_status() {
    let mut failures = Vec::new();
    for case in CASES {
        let d = classify(&evidence(case, fixture(case.fixture)));
        let got = (
            d.class,
            d.decisive.rule,
            d.upstream_host.as_ref().map(|h| h.as_str().to_owned()),
            d.http_status,
        );
        let want = (
            case.class,
            case.rule,
            case.host.map(str::to_owned),
            case.status,
        );
        if got != want {
            failures.push(format!(
                "{}: got {got:?}, want {want:?}\n  reasons: {:#?}",
                case.fixture, d.supporting
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_class_is_covered_by_a_fixture() {
    for class in ErrorClass::ALL {
        if class == ErrorClass::Unknown {
            continue;
        }
        assert!(
            CASES.iter().any(|c| c.class == class),
            "no fixture for {class}"
        );
    }
}

#[test]
fn the_decisive_reason_points_at_the_line_that_decided() {
    for case in CASES {
        let log = fixture(case.fixture);
        let d = classify(&evidence(case, log.clone()));
        let decisive = &d.decisive;
        assert!(decisive.decisive, "{}", case.fixture);
        assert_eq!(
            d.reasons().filter(|r| r.decisive).count(),
            1,
            "{}: exactly one decisive reason",
            case.fixture
        );
        let Source::Log { line } = decisive.source else {
            panic!(
                "{}: decided by {:?}, not a log line",
                case.fixture, decisive.source
            );
        };
        let text = log.lines().nth(line - 1).unwrap_or_default();
        assert!(
            text.trim()
                .starts_with(decisive.excerpt.lines().next().unwrap_or_default()),
            "{}: line {line} is `{text}`, excerpt is `{}`",
            case.fixture,
            decisive.excerpt
        );
    }
}

#[test]
fn chained_exceptions_parse_into_one_traceback_and_the_last_is_the_error() {
    let tbs = parse_tracebacks(&fixture("requests_read_timeout.log"));
    assert_eq!(tbs.len(), 1);
    let chain = &tbs[0].chain;
    let links: Vec<ChainLink> = chain.iter().map(|b| b.link).collect();
    assert_eq!(
        links,
        [
            ChainLink::First,
            ChainLink::DirectCause,
            ChainLink::DuringHandling
        ]
    );
    assert_eq!(chain[0].exc_type, "TimeoutError");
    assert_eq!(chain[1].exc_type, "urllib3.exceptions.ReadTimeoutError");
    let error = tbs[0].error().expect("an exception");
    assert_eq!(error.exc_type, "requests.exceptions.ReadTimeout");
    assert_eq!(error.short_type(), "ReadTimeout");
    let first = &error.frames[0];
    assert_eq!(first.file, "/app/scrapers/courts.py");
    assert_eq!(first.line, Some(75));
    assert_eq!(first.function.as_deref(), Some("<module>"));
    assert_eq!(first.source.as_deref(), Some("main()"));
    // Caret lines are markers, not source.
    assert!(
        error
            .frames
            .iter()
            .all(|f| f.source.as_deref().is_none_or(|s| !s.starts_with('^')))
    );
}

#[test]
fn multi_line_messages_stop_at_the_next_log_record() {
    let tbs = parse_tracebacks(&fixture("pydantic_validation.log"));
    let error = tbs[0].error().expect("an exception");
    assert_eq!(
        error.exc_type,
        "pydantic_core._pydantic_core.ValidationError"
    );
    assert!(
        error
            .message
            .starts_with("2 validation errors for Listing\nrent\n")
    );
    assert!(error.message.contains("[type=int_parsing"));

    let log = format!(
        "{}\n2025-03-11 04:00:03 [scrapy.core.engine] INFO: Closing spider (finished)\n",
        fixture("httpx_429.log").trim_end()
    );
    let error = parse_tracebacks(&log)[0]
        .error()
        .expect("an exception")
        .clone();
    assert_eq!(error.message.lines().count(), 2, "{}", error.message);
}

#[test]
fn kubectl_timestamps_do_not_change_the_diagnosis() {
    let case = &CASES[0];
    let plain = fixture(case.fixture);
    let stamped: String = plain
        .lines()
        .enumerate()
        .map(|(i, l)| format!("2025-03-11T04:00:{:02}.{:09}Z {l}\n", i % 60, i * 7919))
        .collect();
    let a = classify(&evidence(case, plain));
    let b = classify(&evidence(case, stamped));
    assert_eq!(a.class, b.class);
    assert_eq!(a.fingerprint, b.fingerprint);
}

/// Rewrites what differs between two runs of one failure: timestamps, line
/// numbers (the code moved), PIDs, run and request ids, ids in URLs, pages.
fn another_run(log: &str, seed: u32) -> String {
    let time = Regex::new(r"\d{2}:\d{2}:\d{2}(?:[,.]\d+)?").expect("regex");
    let date = Regex::new(r"2025-03-11").expect("regex");
    let line = Regex::new(r"line (\d+)").expect("regex");
    let pid = Regex::new(r"(pid[= ]|run )(\d+)").expect("regex");
    let uuid =
        Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").expect("regex");
    let run_id = Regex::new(r"\(run [0-9a-f]{8}\)").expect("regex");
    let query_num = Regex::new(r"(page=|cursor=|_)(\d+)").expect("regex");
    let mem = Regex::new(r"'memusage/(max|startup)': \d+").expect("regex");
    let pod = Regex::new(r"-\d{8}-[a-z0-9]{5}\b").expect("regex");
    let age = Regex::new(r"\b(\d+)(s|m) \(x(\d+) over").expect("regex");
    let s = time.replace_all(
        log,
        format!("0{}:1{}:2{}", seed % 10, seed % 6, seed % 10).as_str(),
    );
    let s = date.replace_all(
        &s,
        format!("2026-0{}-1{}", 1 + seed % 9, seed % 10).as_str(),
    );
    let s = line.replace_all(&s, |c: &Captures| {
        let n: u32 = c[1].parse().unwrap_or(0);
        format!("line {}", n + 3 * seed)
    });
    let s = pid.replace_all(&s, |c: &Captures| format!("{}{}", &c[1], 1000 + seed * 37));
    let s = uuid.replace_all(
        &s,
        format!("9{seed:07x}-1111-4222-8333-4444{seed:08x}").as_str(),
    );
    let s = run_id.replace_all(&s, format!("(run {:08x})", 0xabc0_0000u32 + seed).as_str());
    let s = query_num.replace_all(&s, |c: &Captures| format!("{}{}", &c[1], 17 + seed));
    let s = mem.replace_all(&s, |c: &Captures| {
        format!("'memusage/{}': {}", &c[1], 60_000_000 + seed * 4096)
    });
    let s = pod.replace_all(&s, format!("-{}-z{seed:04}", 29_000_000 + seed).as_str());
    let s = age.replace_all(&s, |c: &Captures| {
        format!("{}{} (x{} over", 5 + seed, &c[2], 2 + seed)
    });
    s.into_owned()
}

#[test]
fn fingerprints_are_stable_across_runs_of_the_same_failure() {
    for case in CASES {
        let log = fixture(case.fixture);
        let first = classify(&evidence(case, log.clone()));
        for seed in 1..4 {
            let rerun = another_run(&log, seed);
            assert_ne!(rerun, log, "{}: the rewrite changed nothing", case.fixture);
            let again = classify(&evidence(case, rerun.clone()));
            assert_eq!(
                first.fingerprint, again.fingerprint,
                "{} (run {seed}) fingerprint moved; class {} vs {}",
                case.fixture, first.class, again.class
            );
        }
    }
}

#[test]
fn fingerprints_are_distinct_across_causes() {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for case in CASES {
        let d = classify(&evidence(case, fixture(case.fixture)));
        assert_eq!(d.fingerprint.as_str().len(), 32);
        if let Some(other) = seen.insert(d.fingerprint.to_string(), case.fixture) {
            panic!("{} and {other} share a fingerprint", case.fixture);
        }
    }
}

#[test]
fn a_different_missing_key_or_status_is_a_different_cause() {
    let case = &CASES[6];
    assert_eq!(case.fixture, "requests_keyerror.log");
    let log = fixture(case.fixture);
    let price = classify(&evidence(case, log.clone()));
    let title = classify(&evidence(
        case,
        log.replace("KeyError: 'price'", "KeyError: 'title'"),
    ));
    assert_ne!(price.fingerprint, title.fingerprint);

    let case = &CASES[9];
    assert_eq!(case.fixture, "requests_http_500.log");
    let log = fixture(case.fixture);
    let e500 = classify(&evidence(case, log.clone()));
    let e502 = classify(&evidence(
        case,
        log.replace(
            "500 Server Error: Internal Server Error",
            "502 Server Error: Bad Gateway",
        ),
    ));
    assert_eq!(e502.http_status, Some(502));
    assert_ne!(e500.fingerprint, e502.fingerprint);
}

#[test]
fn the_same_failure_in_another_scraper_is_another_fingerprint() {
    let case = &CASES[3];
    let log = fixture(case.fixture);
    let a = classify(&evidence(case, log.clone()));
    let mut other = evidence(
        case,
        log.replace("news_headlines.py", "sports_headlines.py"),
    );
    other.scraper = Some(ScraperName::new("sports_headlines"));
    other.scraper_files = vec!["scrapers/sports_headlines.py".to_owned()];
    let b = classify(&other);
    assert_eq!(a.class, b.class);
    assert_ne!(a.fingerprint, b.fingerprint);
}

#[test]
fn the_failing_response_status_overrides_a_parse_failure() {
    let case = &CASES[3];
    let mut ev = evidence(case, fixture(case.fixture));
    ev.response = Some(FailingResponse {
        url: "https://news.example.org/world?page=1".parse().ok(),
        status: Some(401),
        content_type: Some("application/json".to_owned()),
        body: br#"{"error":"invalid_token","error_description":"The access token expired"}"#
            .to_vec(),
    });
    let d = classify(&ev);
    assert_eq!(d.class, ErrorClass::Auth);
    assert_eq!(d.decisive.rule, Rule::ExpiredToken);
    assert_eq!(d.decisive.source, Source::Response);
    assert_eq!(d.http_status, Some(401));
    // The selector failure is still shown as supporting evidence.
    assert!(
        d.supporting
            .iter()
            .any(|r| !r.decisive && r.rule == Rule::NoneFromSelector)
    );
}

#[test]
fn own_frames_are_told_apart_from_library_frames() {
    let case = &CASES[0];
    let d = classify(&evidence(case, fixture(case.fixture)));
    assert_eq!(d.own_frames.len(), 1);
    assert_eq!(d.own_frames[0].function.as_deref(), Some("parse"));
    let exception = d.exception.as_ref().expect("exception");
    assert!(exception.frames.len() > 5);
}

#[test]
fn masking_keeps_the_cause_and_drops_what_varies() {
    assert_eq!(
        mask_message(
            "403 Client Error: Forbidden for url: https://api.example.com/v1/items/8812?sig=ab12cd34ef"
        ),
        "<n> Client Error: Forbidden for url: <url>"
    );
    assert_eq!(
        mask_message("'NoneType' object has no attribute 'text'"),
        "'NoneType' object has no attribute 'text'"
    );
    assert_eq!(mask_message("KeyError: 'price'"), "KeyError: 'price'");
    assert_eq!(
        mask_message("could not convert string to float: '12,99 €'"),
        "could not convert string to float: '<q>'"
    );
    assert_eq!(
        mask_message(
            "request 3f2b9c1e-77d0-4c2a-9a51-2b8e0fd1c6aa failed at <obj at 0x7f3a9c2b1d30> id req_8f3a2b91"
        ),
        "request <uuid> failed at <obj at <addr>> id <id>"
    );
    assert_eq!(
        mask_message("input_value={'id': 4422, 'title': 'Sun'}, input_type=dict]"),
        "input_value=<v>, input_type=dict]"
    );
}

#[test]
fn an_empty_log_is_unknown_not_a_guess() {
    let d = classify(&Evidence::from_log(
        "2025-03-11 04:00:00 INFO nothing to see\n",
    ));
    assert_eq!(d.class, ErrorClass::Unknown);
    assert_eq!(d.decisive.rule, Rule::NoRuleMatched);
}

#[test]
fn scraped_items_are_data_not_evidence() {
    // An item whose text looks like a platform or auth failure must not
    // change the class of a run that produced it.
    let case = &CASES[0];
    let log = fixture(case.fixture).replace(
        "2025-03-11 04:00:03 [scrapy.core.scraper] ERROR: Spider error processing",
        "2025-03-11 04:00:03 [scrapy.core.scraper] DEBUG: Scraped from <200 https://books.toscrape.com/catalogue/page-1.html>\n\
         {'title': 'Session expired: a thriller (OOMKilled edition)',\n \
         'price': '51.77'}\n\
         2025-03-11 04:00:03 [scrapy.core.scraper] ERROR: Spider error processing",
    );
    let d = classify(&evidence(case, log));
    assert_eq!(d.class, ErrorClass::SelectorDrift);
    assert!(
        d.reasons()
            .all(|r| r.class != ErrorClass::Infra && r.class != ErrorClass::Auth),
        "{:#?}",
        d.supporting
    );
}

#[test]
fn exception_groups_parse_with_the_sub_exception_last() {
    let tbs = parse_tracebacks(&fixture("taskgroup_502.log"));
    assert_eq!(tbs.len(), 2, "{tbs:#?}");
    let group = tbs[0].error().expect("group");
    assert_eq!(group.exc_type, "ExceptionGroup");
    assert_eq!(group.frames.len(), 6);
    let sub = tbs[1].error().expect("sub-exception");
    assert_eq!(sub.exc_type, "httpx.HTTPStatusError");
    assert_eq!(sub.frames[0].function.as_deref(), Some("fetch_page"));
    assert_eq!(
        sub.frames[0].source.as_deref(),
        Some("r.raise_for_status()")
    );
    assert_eq!(sub.message.lines().count(), 2);
}

#[test]
fn without_a_file_list_own_frames_are_the_non_library_ones_and_checkouts_do_not_matter() {
    let log = fixture("bs4_none_text.log");
    let runner = classify(&Evidence::from_log(log.clone()));
    let container = classify(&Evidence::from_log(
        log.replace("/home/runner/work/scrapers/scrapers/", "/app/"),
    ));
    assert_eq!(runner.class, ErrorClass::SelectorDrift);
    assert_eq!(runner.own_frames.len(), 3);
    assert_eq!(runner.fingerprint, container.fingerprint);

    let scrapy = classify(&Evidence::from_log(fixture("module_not_found.log")));
    let own: Vec<_> = scrapy.own_frames.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(own, ["/app/bookshop/spiders/books.py"]);
}

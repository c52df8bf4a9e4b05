use std::path::Path;

use super::SplitMix;
use crate::confidence::{Band, Replay};
use crate::policy::file::{Layout, POLICY_FILE};
use crate::policy::glob::{Glob, ScraperName};
use crate::policy::rules::evaluate;
use crate::policy::{CedarError, CedarPolicy, ProposalFacts, Refusal, RepoPolicy};

fn name(n: &str) -> ScraperName {
    ScraperName::new(n).unwrap()
}

fn facts(scraper: &str, paths: &[&str]) -> ProposalFacts {
    ProposalFacts {
        agent: "healer".to_owned(),
        scraper: name(scraper),
        paths: paths.iter().map(|p| p.to_string()).collect(),
        diff_lines: 4,
        attempt: 1,
        agent_calls_last_hour: 1,
        agent_calls_last_day: 1,
        band: Band::High,
        failed_gates: Vec::new(),
        replay: Replay::Passed,
    }
}

const SCRAPERS: &[&str] = &["quotes", "books", "quotes_v2", "api.jobs", "api.jobs-eu"];

fn others_than(scraper: &str) -> Vec<ScraperName> {
    SCRAPERS
        .iter()
        .filter(|n| **n != scraper)
        .map(|n| name(n))
        .collect()
}

/// Paths of every kind: own files, other scrapers' files, protected files,
/// malformed paths, and text that looks like Cedar.
fn path_pool(scraper: &str) -> Vec<String> {
    let mut pool = vec![
        format!("shop/spiders/{scraper}.py"),
        format!("scrapers/{scraper}.py"),
        format!("tests/test_{scraper}.py"),
        format!("tests/files/{scraper}.html"),
        format!("tests/files/{scraper}/page2.json"),
        format!("fixtures/{scraper}/a.html"),
        format!("src/{scraper}/parse.py"),
        format!("scrapers/{scraper}.py.bak"),
        format!("scrapers/../scrapers/{scraper}.py"),
        format!("./scrapers/{scraper}.py"),
        format!("/scrapers/{scraper}.py"),
        format!("scrapers//{scraper}.py"),
        format!("scrapers\\{scraper}.py"),
        format!("tests/files/{scraper}/.env"),
        format!("tests/files/{scraper}/secret_token.txt"),
        format!("tests/files/{scraper}/../../.github/workflows/ci.yml"),
        format!("scrapers/{scraper}.py\" || true || \""),
        format!("scrapers/{scraper}.py\n"),
        format!("tests/files/{scraper}*"),
        format!("tests/files/{scraper}_v2.html"),
        format!("tests/files/{scraper}-eu.json"),
        format!("scrapers/{scraper}_v2.py"),
        "scrapers/other.py".to_owned(),
        "shop/spiders/other.py".to_owned(),
        "tests/test_other.py".to_owned(),
        ".github/workflows/deploy.yml".to_owned(),
        ".github/fixwright.yml".to_owned(),
        "deploy/cronjob.yaml".to_owned(),
        "k8s/quotes.yaml".to_owned(),
        "infra/main.tf".to_owned(),
        "certs/key.pem".to_owned(),
        "legacy/old.py".to_owned(),
        "README.md".to_owned(),
        String::new(),
        ".".to_owned(),
        "scrapers/".to_owned(),
    ];
    pool.push(format!("legacy/{scraper}.py"));
    pool
}

fn random_policy(rng: &mut SplitMix) -> RepoPolicy {
    let mut policy = RepoPolicy::default();
    policy.scrapers.layout = *rng.pick(&[Layout::Auto, Layout::Scrapy, Layout::Flat]);
    let globs =
        |list: &[&str]| -> Vec<Glob> { list.iter().map(|g| Glob::new(*g).unwrap()).collect() };
    if rng.chance(25) {
        policy.scrapers.fixtures = Some(globs(&["fixtures/{name}/**"]));
    }
    if rng.chance(15) {
        policy.scrapers.modules = Some(globs(&["src/{name}/*.py", "legacy/{name}.py"]));
    }
    if rng.chance(10) {
        policy.scrapers.tests = Some(Vec::new());
    }
    if rng.chance(30) {
        policy.protected_paths = globs(&["legacy/**", "tests/files/{name}/*.json"]);
    }
    policy.limits.max_diff_lines = 20 + rng.below(60) as u32;
    policy.limits.max_attempts = 1 + rng.below(5) as u32;
    policy.agent_budget.calls_per_hour = 3 + rng.below(10) as u32;
    policy.agent_budget.calls_per_day = 10 + rng.below(30) as u32;
    policy.merge.auto_merge = rng.chance(70);
    policy
}

fn random_facts(rng: &mut SplitMix, scraper: &str) -> ProposalFacts {
    let pool = path_pool(scraper);
    // Most proposals stay inside the usual files and limits, so that both
    // outcomes of every rule are exercised.
    let tame = rng.chance(60);
    let own = &pool[..5];
    let count = if tame { 1 + rng.below(2) } else { rng.below(4) } as usize;
    let paths = (0..count)
        .map(|_| rng.pick(if tame { own } else { &pool }).clone())
        .collect();
    let small = |rng: &mut SplitMix, n: u64| if tame { rng.below(n / 2 + 1) } else { rng.below(n) } as u32;
    ProposalFacts {
        agent: rng
            .pick(&["healer", "scraper-fixer", "x\") || true"])
            .to_string(),
        scraper: name(scraper),
        paths,
        diff_lines: small(rng, 80),
        attempt: 1 + small(rng, 6),
        agent_calls_last_hour: small(rng, 12),
        agent_calls_last_day: small(rng, 35),
        band: *rng.pick(&[Band::Low, Band::Medium, Band::High]),
        failed_gates: if rng.chance(20) {
            vec!["fixwright/mypy".to_owned()]
        } else {
            Vec::new()
        },
        replay: *rng.pick(&[
            Replay::Passed,
            Replay::Passed,
            Replay::Failed,
            Replay::NotRun,
        ]),
    }
}

/// The generated Cedar set decides exactly as the plain-Rust reading of the
/// YAML does, refusal for refusal, on thousands of generated proposals.
#[test]
fn cedar_agrees_with_the_yaml_semantics() {
    let mut rng = SplitMix(2026);
    let mut allowed = [0usize; 2];
    let mut total = 0;
    for _ in 0..80 {
        let policy = random_policy(&mut rng);
        let scraper = *rng.pick(SCRAPERS);
        let others = others_than(scraper);
        let cedar = CedarPolicy::build(&policy, &name(scraper), &others, None).unwrap();
        for _ in 0..25 {
            let facts = random_facts(&mut rng, scraper);
            let want = evaluate(&policy, &others, &facts);
            let got = cedar.decide(&facts);
            assert_eq!(got, want, "policy {policy:?}\nfacts {facts:?}");
            allowed[0] += usize::from(got.apply.allowed);
            allowed[1] += usize::from(got.merge.allowed);
            total += 1;
        }
    }
    // The generator exercises both outcomes of both decisions.
    assert!(
        allowed[0] > total / 50 && allowed[0] < total,
        "{allowed:?} of {total}"
    );
    assert!(
        allowed[1] > total / 200 && allowed[1] < allowed[0],
        "{allowed:?} of {total}"
    );
}

#[test]
fn a_proposal_that_breaks_a_rule_is_refused_with_the_reasons() {
    let policy = RepoPolicy::default();
    let cedar = CedarPolicy::build(&policy, &name("quotes"), &[], None).unwrap();

    let ok = facts("quotes", &["scrapers/quotes.py", "tests/files/quotes.html"]);
    let decision = cedar.decide(&ok);
    assert!(
        decision.apply.allowed && decision.merge.allowed,
        "{decision:?}"
    );

    let mut bad = facts(
        "quotes",
        &[
            "scrapers/quotes.py",
            ".github/workflows/deploy.yml",
            "scrapers/books.py",
            "tests/files/quotes/../../../etc/passwd",
        ],
    );
    bad.diff_lines = 900;
    bad.attempt = 4;
    bad.band = Band::Medium;
    let decision = cedar.decide(&bad);
    let reasons: Vec<String> = decision
        .apply
        .refusals
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(
        reasons,
        [
            "path `tests/files/quotes/../../../etc/passwd` has an empty, `.` or `..` segment",
            "path `.github/workflows/deploy.yml` is protected",
            "path `.github/workflows/deploy.yml` is not one of the scraper's files",
            "path `scrapers/books.py` is not one of the scraper's files",
            "the diff has 900 changed lines, the limit is 200",
            "this is attempt 4, the limit is 3 per incident: a human takes over",
        ]
    );
    assert!(!decision.merge.allowed);
    assert!(
        decision
            .merge
            .refusals
            .contains(&Refusal::NotHighBand { band: Band::Medium })
    );

    // The agent's own confidence is not a fact policy looks at: a high band
    // does not help a proposal that touches CI.
    let mut sneaky = facts("quotes", &[".github/workflows/ci.yml"]);
    sneaky.band = Band::High;
    assert!(!cedar.decide(&sneaky).apply.allowed);

    let mut off = RepoPolicy::default();
    off.merge.auto_merge = false;
    let cedar = CedarPolicy::build(&off, &name("quotes"), &[], None).unwrap();
    let decision = cedar.decide(&ok);
    assert!(decision.apply.allowed);
    assert_eq!(decision.merge.refusals, [Refusal::AutoMergeOff]);
}

#[test]
fn text_in_a_proposal_is_data_not_policy() {
    let cedar = CedarPolicy::build(&RepoPolicy::default(), &name("quotes"), &[], None).unwrap();
    let mut f = facts(
        "quotes",
        &["scrapers/quotes.py\" || true || \"", "scrapers/quotes.py"],
    );
    f.agent = "healer\"); permit(principal, action, resource); //".to_owned();
    let decision = cedar.decide(&f);
    assert_eq!(
        decision.apply.refusals,
        [Refusal::OutsideScraperFiles {
            path: "scrapers/quotes.py\" || true || \"".to_owned()
        }]
    );
    // A proposal for another scraper cannot borrow this scraper's policy.
    assert!(
        !cedar
            .decide(&facts("books", &["scrapers/books.py"]))
            .apply
            .allowed
    );
}

/// `tests/files/{name}*` covers `quotes_v2`'s fixtures for `quotes` too: they are
/// `quotes_v2`'s (the longer name that contains the other), so a fix of `quotes`
/// may not touch them, while `quotes_v2`'s own fix may.
#[test]
fn another_scrapers_files_are_left_alone_where_patterns_overlap() {
    let policy = RepoPolicy::default();
    let others = [name("quotes_v2"), name("books")];
    let cedar = CedarPolicy::build(&policy, &name("quotes"), &others, None).unwrap();
    let proposal = facts(
        "quotes",
        &[
            "tests/files/quotes.html",
            "tests/files/quotes_v2.html",
            "tests/files/quotes/page2.json",
        ],
    );
    let decision = cedar.decide(&proposal);
    assert_eq!(
        decision.apply.refusals,
        [Refusal::AnotherScrapersFile {
            path: "tests/files/quotes_v2.html".to_owned(),
            owner: "quotes_v2".to_owned(),
        }]
    );
    assert_eq!(
        decision.apply.refusals[0].to_string(),
        "path `tests/files/quotes_v2.html` is one of scraper `quotes_v2`'s files"
    );
    assert_eq!(decision, evaluate(&policy, &others, &proposal));
    assert!(cedar.to_cedar().contains("@id(\"other-scrapers-files\")"));

    // Alone in its repository, `quotes` may.
    let alone = CedarPolicy::build(&policy, &name("quotes"), &[name("books")], None).unwrap();
    assert!(alone.decide(&proposal).apply.allowed);
    assert!(!alone.to_cedar().contains("other-scrapers-files"));

    // The longer name's fix may touch its own fixtures, which `quotes`' patterns
    // also cover.
    let v2 = CedarPolicy::build(&policy, &name("quotes_v2"), &[name("quotes")], None).unwrap();
    let own = facts(
        "quotes_v2",
        &["tests/files/quotes_v2.html", "scrapers/quotes_v2.py"],
    );
    assert!(v2.decide(&own).apply.allowed, "{:?}", v2.decide(&own));
}

const USER_FORBIDS: &str = r#"
// Fixtures are curated by hand here.
@id("hand-curated-fixtures")
@reason("fixtures are reviewed by a person")
forbid (principal, action == Fixwright::Action::"touch", resource is Fixwright::File)
when { resource.path like "tests/files/*" };

forbid (principal, action == Fixwright::Action::"merge", resource is Fixwright::Proposal)
when { resource.diff_lines > 10 };

forbid (principal == Fixwright::Agent::"scraper-fixer", action, resource);
"#;

/// A user `.cedar` file may only narrow: whatever it allows, the generated
/// set alone allows too, and it keeps every refusal of the generated set.
#[test]
fn user_forbids_only_narrow() {
    let mut rng = SplitMix(99);
    let mut narrowed = 0;
    for _ in 0..30 {
        let policy = random_policy(&mut rng);
        let scraper = *rng.pick(SCRAPERS);
        let base = CedarPolicy::build(&policy, &name(scraper), &[], None).unwrap();
        let user = CedarPolicy::build(&policy, &name(scraper), &[], Some(USER_FORBIDS)).unwrap();
        for _ in 0..20 {
            let facts = random_facts(&mut rng, scraper);
            let (b, u) = (base.decide(&facts), user.decide(&facts));
            for (b, u) in [(&b.apply, &u.apply), (&b.merge, &u.merge)] {
                assert!(!u.allowed || b.allowed, "{facts:?}");
                assert!(
                    b.refusals.iter().all(|r| u.refusals.contains(r)),
                    "{facts:?}"
                );
                narrowed += usize::from(b.allowed && !u.allowed);
            }
        }
    }
    assert!(narrowed > 0);

    let cedar = CedarPolicy::build(
        &RepoPolicy::default(),
        &name("quotes"),
        &[],
        Some(USER_FORBIDS),
    )
    .unwrap();
    let decision = cedar.decide(&facts(
        "quotes",
        &["scrapers/quotes.py", "tests/files/quotes.html"],
    ));
    assert_eq!(
        decision.apply.refusals,
        [Refusal::UserRule {
            id: "hand-curated-fixtures".to_owned(),
            reason: Some("fixtures are reviewed by a person".to_owned())
        }]
    );
    let mut f = facts("quotes", &["scrapers/quotes.py"]);
    f.agent = "scraper-fixer".to_owned();
    let decision = cedar.decide(&f);
    assert_eq!(
        decision.apply.refusals,
        [Refusal::UserRule {
            id: "statement 3".to_owned(),
            reason: None
        }]
    );
}

#[test]
fn user_files_that_would_widen_or_do_not_validate_are_rejected() {
    let policy = RepoPolicy::default();
    let quotes = name("quotes");
    let widen = "forbid (principal, action, resource) when { resource is Fixwright::File && resource.path == \"x\" };\n\n// let everything through\npermit (principal, action, resource);\n";
    let err = CedarPolicy::build(&policy, &quotes, &[], Some(widen)).unwrap_err();
    assert!(
        matches!(err, CedarError::UserPermit { index: 2, line: 4 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        ".github/fixwright.cedar:4: statement 2 is a `permit`; only `forbid` is accepted, since the file may narrow the policy but never widen it"
    );

    let err = CedarPolicy::build(
        &policy,
        &quotes,
        &[],
        Some("\nforbid (principal, action, resource) when { resource.path like };\n"),
    )
    .unwrap_err();
    assert!(
        matches!(err, CedarError::UserSyntax { line: 2, .. }),
        "{err:?}"
    );

    let typo = "forbid (principal, action == Fixwright::Action::\"apply\", resource is Fixwright::Proposal) when { resource.diff_line > 3 };";
    let err = CedarPolicy::build(&policy, &quotes, &[], Some(typo)).unwrap_err();
    assert!(matches!(err, CedarError::UserInvalid(_)), "{err:?}");

    let template = "forbid (principal == ?principal, action, resource);";
    assert!(CedarPolicy::build(&policy, &quotes, &[], Some(template)).is_err());
}

#[test]
fn generated_policy_set_text() {
    let mut policy = RepoPolicy::parse(
        "scrapers:\n  layout: flat\nprotected_paths: ['legacy/**']\nmerge:\n  auto_merge: false\n",
        Path::new(POLICY_FILE),
    )
    .unwrap();
    policy.limits.max_diff_lines = 120;
    let cedar = CedarPolicy::build(&policy, &name("quotes"), &[], Some(USER_FORBIDS)).unwrap();
    insta::assert_snapshot!(cedar.to_cedar());
}

#[test]
fn the_repository_cedar_file_is_loaded_when_present() {
    let dir = tempfile::tempdir().unwrap();
    let quotes = name("quotes");
    let policy = RepoPolicy::load(dir.path()).unwrap();
    let plain = CedarPolicy::load(dir.path(), &policy, &quotes, &[]).unwrap();
    let f = facts("quotes", &["tests/files/quotes.html"]);
    assert!(plain.decide(&f).apply.allowed);
    std::fs::create_dir_all(dir.path().join(".github")).unwrap();
    std::fs::write(dir.path().join(".github/fixwright.cedar"), USER_FORBIDS).unwrap();
    let narrowed = CedarPolicy::load(dir.path(), &policy, &quotes, &[]).unwrap();
    assert!(!narrowed.decide(&f).apply.allowed);
}

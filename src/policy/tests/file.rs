use std::path::Path;

use crate::policy::RepoPolicy;
use crate::policy::file::{
    ALWAYS_PROTECTED, Layout, MergeMethod, POLICY_FILE, PolicyError, json_schema,
};
use crate::policy::glob::{Glob, ScraperName};
use crate::policy::mode::{Mode, effective_mode};
use crate::policy::render::effective_policy;

fn parse(text: &str) -> Result<RepoPolicy, PolicyError> {
    RepoPolicy::parse(text, Path::new(POLICY_FILE))
}

fn error(text: &str) -> String {
    match parse(text) {
        Ok(policy) => panic!("expected an error, parsed {policy:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn empty_and_comment_only_files_are_the_defaults() {
    for text in ["", "\n", "# nothing yet\n"] {
        let policy = parse(text).unwrap();
        assert_eq!(policy, RepoPolicy::default());
    }
    let policy = RepoPolicy::default();
    assert_eq!(policy.mode, Mode::On);
    assert_eq!(policy.bands.high, 0.95);
    assert_eq!(policy.bands.medium, 0.70);
    assert_eq!(policy.scrapers.layout, Layout::Auto);
    assert_eq!(policy.limits.max_attempts, 3);
    assert_eq!(policy.limits.max_diff_lines, 200);
    assert_eq!(policy.agent_budget.calls_per_hour, 20);
    assert_eq!(policy.agent_budget.calls_per_day, 100);
    assert!(policy.merge.auto_merge);
    assert_eq!(policy.merge.method, MergeMethod::Squash);
}

#[test]
fn a_full_file_parses_and_partial_sections_keep_their_defaults() {
    let policy = parse(
        "mode: dry-run\n\
         bands:\n  high: 0.9\n\
         scrapers:\n  layout: flat\n  fixtures: ['fixtures/{name}/**']\n\
         protected_paths: ['infra/**']\n\
         limits:\n  max_attempts: 5\n\
         agent_budget:\n  calls_per_day: 40\n\
         merge:\n  auto_merge: off_is_not_a_bool_here\n",
    );
    // YAML 1.2: only true/false are booleans.
    assert!(policy.is_err());

    let policy = parse(
        "mode: on\n\
         bands:\n  high: 0.9\n\
         scrapers:\n  layout: flat\n  fixtures: ['fixtures/{name}/**']\n\
         protected_paths: ['infra/**']\n\
         limits:\n  max_attempts: 5\n\
         agent_budget:\n  calls_per_day: 40\n\
         merge:\n  auto_merge: false\n  method: rebase\n  reviewers: [alice, acme/scrapers]\n",
    )
    .unwrap();
    assert_eq!(policy.mode, Mode::On);
    assert_eq!(policy.bands.high, 0.9);
    assert_eq!(policy.bands.medium, 0.70);
    assert_eq!(policy.limits.max_attempts, 5);
    assert_eq!(policy.limits.max_diff_lines, 200);
    assert_eq!(policy.agent_budget.calls_per_hour, 20);
    assert_eq!(policy.agent_budget.calls_per_day, 40);
    assert!(!policy.merge.auto_merge);
    assert_eq!(policy.merge.method, MergeMethod::Rebase);
    let globs: Vec<String> = policy
        .scraper_globs()
        .iter()
        .map(|g| g.to_string())
        .collect();
    assert_eq!(
        globs,
        [
            "scrapers/{name}.py",
            "tests/test_{name}.py",
            "fixtures/{name}/**"
        ]
    );
    assert_eq!(parse("mode: off\n").unwrap().mode, Mode::Off);
}

#[test]
fn errors_name_the_line_and_the_field() {
    assert_eq!(
        error("mode: on\nlimits:\n  max_attempts: 2\n  max_diff_line: 10\n"),
        ".github/fixwright.yml:4:3: limits: unknown field `max_diff_line`, expected `max_diff_lines` or `max_attempts`"
    );
    let err = error("bands:\n  high: lots\n");
    assert!(
        err.starts_with(".github/fixwright.yml:2:9: bands.high: invalid type: string \"lots\""),
        "{err}"
    );
    let err = error("mode: sometimes\n");
    assert!(
        err.starts_with(".github/fixwright.yml:1:7: mode: unknown variant `sometimes`"),
        "{err}"
    );
    let err = error("colour: blue\n");
    assert!(
        err.starts_with(".github/fixwright.yml:1:1: unknown field `colour`"),
        "{err}"
    );
    let err = error("protected_paths:\n  - ok/**\n  - /etc/passwd\n");
    assert!(
        err.starts_with(
            ".github/fixwright.yml:3:5: protected_paths: pattern `/etc/passwd`: must be relative"
        ),
        "{err}"
    );
    let err = error("scrapers:\n  tests: ['tests/../x']\n");
    assert!(err.contains(":2:"), "{err}");
    assert!(err.contains("`.` or `..` segment"), "{err}");
    let err = error("mode: on\nbands:\n  high: 0.8\n  medium: 0.9\n");
    assert_eq!(
        err,
        ".github/fixwright.yml:4: field `bands.medium`: 0.9 is above bands.high (0.8)"
    );
    assert_eq!(
        error("bands:\n  high: 1.5\n"),
        ".github/fixwright.yml:2: field `bands.high`: 1.5 is not in [0, 1]"
    );
    assert_eq!(
        error("limits:\n  max_attempts: 0\n"),
        ".github/fixwright.yml:2: field `limits.max_attempts`: must be at least 1"
    );
    let err = error("scrapers:\n  modules: ['src/**']\n");
    assert!(err.starts_with(".github/fixwright.yml:2: field `scrapers.modules`: pattern `src/**` does not mention {name}"), "{err}");
    let err = error("merge:\n  reviewers: ['not a login']\n");
    assert!(
        err.starts_with(".github/fixwright.yml:2: field `merge.reviewers`"),
        "{err}"
    );
    let err = error("mode: [on\n");
    assert!(err.starts_with(".github/fixwright.yml:"), "{err}");
}

#[test]
fn always_protected_paths_stay_protected_whatever_the_file_says() {
    // The file can add protected paths but has no way to remove any.
    let policy = parse(
        "protected_paths: []\nscrapers:\n  modules: ['.github/workflows/{name}.yml', 'deploy/{name}.yaml']\n",
    )
    .unwrap();
    let name = ScraperName::new("quotes").unwrap();
    let protected = policy.protected_patterns(&name);
    for path in [
        ".github/workflows/quotes.yml",
        ".github/workflows/deploy.yml",
        "deploy/quotes.yaml",
        "k8s/cronjob.yaml",
        "scrapers/.env",
        ".env.production",
        "certs/server.pem",
        "config/secrets.py",
        "Dockerfile",
        ".github/fixwright.yml",
        ".github/fixwright.cedar",
    ] {
        assert!(
            protected.iter().any(|p| p.matches(path)),
            "{path} is not protected"
        );
    }
    for pattern in ALWAYS_PROTECTED {
        Glob::new(*pattern).unwrap();
    }
    assert!(policy.is_protected(&name, ".github/workflows/quotes.yml"));
    assert!(policy.is_scraper_file(&name, ".github/workflows/quotes.yml"));
    assert!(!policy.is_protected(&name, "tests/test_quotes.py"));
    let extra = parse("protected_paths: ['scrapers/legacy_*']\n").unwrap();
    assert_eq!(extra.protected_globs().len(), ALWAYS_PROTECTED.len() + 1);
}

#[test]
fn patterns_match_like_cedar() {
    let name = ScraperName::new("quotes").unwrap();
    let glob = |g: &str| Glob::new(g).unwrap().expand(&name);
    assert!(glob("tests/files/{name}*").matches("tests/files/quotes.html"));
    assert!(glob("tests/files/{name}*").matches("tests/files/quotes/page2.json"));
    assert!(!glob("tests/files/{name}*").matches("tests/files/other.html"));
    assert!(glob("*/spiders/{name}.py").matches("shop/spiders/quotes.py"));
    assert!(!glob("*/spiders/{name}.py").matches("shop/spiders/quotes.pyc"));
    assert!(glob(".github/workflows/**").matches(".github/workflows/a/b.yml"));
    assert!(!glob(".github/workflows/**").matches(".github/workflowsx"));
    assert!(glob("a*b*c").matches("abc"));
    assert!(glob("a*b*c").matches("a/xb/yb/c"));
    assert!(!glob("a*b*c").matches("a/xb/ycd"));
    assert!(ScraperName::new("../x").is_err());
    assert!(ScraperName::new("quo*tes").is_err());
    assert!(ScraperName::new("books.toscrape-2").is_ok());
    assert!(Glob::new("a\"b").is_err());
    assert!(Glob::new("{package}/x").is_err());
}

#[test]
fn mode_stricter_wins() {
    use Mode::*;
    for (global, repo, want) in [
        (On, On, On),
        (On, DryRun, DryRun),
        (DryRun, On, DryRun),
        (Off, On, Off),
        (On, Off, Off),
        (DryRun, Off, Off),
    ] {
        assert_eq!(effective_mode(global, repo), want, "{global} + {repo}");
    }
    assert_eq!("dry-run".parse::<Mode>(), Ok(DryRun));
    assert!("maybe".parse::<Mode>().is_err());
    assert!(On.writes() && !DryRun.writes() && !Off.writes());
}

#[test]
fn committed_json_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/fixwright.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let current = json_schema();
    if committed != current {
        if std::env::var_os("FIXWRIGHT_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &current).unwrap();
        } else {
            panic!(
                "{} is stale: run `FIXWRIGHT_UPDATE_SCHEMA=1 cargo test --lib policy::tests::file::committed_json_schema_is_current` and commit it",
                path.display()
            );
        }
    }
    assert!(current.contains("\"dry-run\""));
}

#[test]
fn effective_policy_text() {
    insta::assert_snapshot!("defaults", effective_policy(&RepoPolicy::default()));
    let policy = parse(
        "mode: dry-run\nscrapers:\n  layout: scrapy\nprotected_paths: ['infra/**']\nmerge:\n  auto_merge: false\n  reviewers: [alice, acme/scrapers]\n",
    )
    .unwrap();
    insta::assert_snapshot!("customised", effective_policy(&policy));
}

#[test]
fn gates_section_pins_tools_and_sets_limits() {
    let defaults = parse("").unwrap().gates;
    let pins: Vec<(&str, &str)> = defaults
        .tools
        .pins()
        .iter()
        .map(|(name, version)| (*name, version.as_str()))
        .collect();
    assert_eq!(
        pins,
        [
            ("ruff", "0.17.6"),
            ("mypy", "2.4.1"),
            ("pytest", "9.2.0"),
            ("pytest-timeout", "2.4.0")
        ]
    );
    assert_eq!(defaults.time_limit_seconds.ruff, 600);
    assert_eq!(defaults.test_timeout_seconds, 60);

    let gates = parse(
        "gates:\n  tools:\n    ruff: \"0.15.0\"\n    pytest-timeout: 2.3.1\n  time_limit_seconds:\n    pytest: 1200\n  test_timeout_seconds: 5\n",
    )
    .unwrap()
    .gates;
    assert_eq!(gates.tools.ruff.as_str(), "0.15.0");
    assert_eq!(gates.tools.pytest_timeout.as_str(), "2.3.1");
    // Unset tools keep Fixwright's pins; unset limits their defaults.
    assert_eq!(gates.tools.mypy, defaults.tools.mypy);
    assert_eq!(gates.time_limit_seconds.pytest, 1200);
    assert_eq!(gates.time_limit_seconds.ruff, 600);
    assert_eq!(gates.test_timeout_seconds, 5);
    for version in [
        "1.0",
        "2.0.0rc1",
        "1.4.post1",
        "0.1.dev3",
        "1!2.0",
        "2024.10.1b2",
    ] {
        assert!(
            crate::policy::ToolVersion::new(version).is_ok(),
            "{version} is an exact version"
        );
    }
}

#[test]
fn bad_gate_pins_name_the_line_and_the_field() {
    let err = error("mode: on\ngates:\n  tools:\n    ruff: \">=0.6\"\n");
    assert!(
        err.starts_with(
            ".github/fixwright.yml:4:11: gates.tools.ruff: `>=0.6` is a requirement, not a version"
        ),
        "{err}"
    );
    let err = error("gates:\n  tools:\n    mypy: 1.*\n");
    assert!(
        err.starts_with(
            ".github/fixwright.yml:3:11: gates.tools.mypy: `1.*` is not one exact version"
        ),
        "{err}"
    );
    let err = error("gates:\n  tools:\n    pytest: latest\n");
    assert!(
        err.starts_with(
            ".github/fixwright.yml:3:13: gates.tools.pytest: `latest` is not an exact version"
        ),
        "{err}"
    );
    // YAML would read 9.20 as the number 9.2: a version must be a string.
    let err = error("gates:\n  tools:\n    pytest: 9.20\n");
    assert!(
        err.starts_with(".github/fixwright.yml:3:13: gates.tools.pytest: the version 9.2 is a number to YAML; quote it"),
        "{err}"
    );
    let err = error("gates:\n  tools:\n    black: \"24.1.0\"\n");
    assert!(
        err.starts_with(
            ".github/fixwright.yml:3:5: gates.tools: unknown field `black`, expected one of `ruff`, `mypy`, `pytest`, `pytest-timeout`"
        ),
        "{err}"
    );
    assert_eq!(
        error("gates:\n  time_limit_seconds:\n    mypy: 0\n"),
        ".github/fixwright.yml:3: field `gates.time_limit_seconds.mypy`: must be at least 1 second"
    );
    assert_eq!(
        error("gates:\n  test_timeout_seconds: 0\n"),
        ".github/fixwright.yml:2: field `gates.test_timeout_seconds`: must be at least 1 second"
    );
}

//! Replay with the real Python on the example repository: the fixture passes,
//! a broken response fails, and a healed scraper passes.

use std::path::{Path, PathBuf};

use fixwright::python::{EnvInputs, Provisioner, PythonEnv};
use fixwright::repair::replay::{ContentKind, Replayer, SavedResponse};
use fixwright::repair::scraper::{self, Layout};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example() -> PathBuf {
    root().join("examples/scrapers-repo")
}

async fn env() -> PythonEnv {
    Provisioner::new(root().join(".cache/test-venvs"))
        .provision(&EnvInputs::repository(example()))
        .await
        .unwrap_or_else(|e| panic!("provisioning the example repository: {e}"))
}

fn response(path: &Path) -> SavedResponse {
    let body = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let kind = ContentKind::sniff(&body)
        .unwrap_or_else(|| panic!("{} is neither HTML nor JSON", path.display()));
    SavedResponse {
        body,
        kind,
        url: None,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir: {e}"));
    for entry in std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("read dir: {e}"))
        .flatten()
    {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("copy: {e}"));
        }
    }
}

/// A copy of the example repository with one literal of one file replaced.
fn healed_copy(file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    copy_dir(&example(), dir.path());
    let path = dir.path().join(file);
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read: {e}"));
    assert!(source.contains(from), "{file} has no {from}");
    std::fs::write(&path, source.replace(from, to)).unwrap_or_else(|e| panic!("write: {e}"));
    dir
}

struct Case {
    scraper: &'static str,
    fixture: &'static str,
    broken: &'static str,
    file: &'static str,
    old: &'static str,
    new: &'static str,
}

const CASES: [Case; 4] = [
    Case {
        scraper: "books",
        fixture: "tests/files/books.html",
        broken: "books_renamed_class.html",
        file: "bookshop/spiders/books.py",
        old: "article.product_pod",
        new: "article.product-card",
    },
    Case {
        scraper: "quotes",
        fixture: "tests/files/quotes.html",
        broken: "quotes_wrapper.html",
        file: "bookshop/spiders/quotes.py",
        old: "//div[@class=\"quotes\"]/div[@class=\"quote\"]",
        new: "//div[@class=\"quotes\"]//div[@class=\"quote\"]",
    },
    Case {
        scraper: "events",
        fixture: "tests/files/events.html",
        broken: "events_renamed_class.html",
        file: "scrapers/events.py",
        old: "h3.event-name",
        new: "h3.event-title",
    },
    Case {
        scraper: "weather_api",
        fixture: "tests/files/weather_api.json",
        broken: "weather_api_renamed_key.json",
        file: "scrapers/weather_api.py",
        old: "obs[\"temp_c\"]",
        new: "obs[\"temperature_c\"]",
    },
];

#[tokio::test]
async fn replay_fixture_passes_broken_fails_healed_passes() {
    let env = env().await;
    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let replayer = Replayer::new(scratch.path());
    for case in CASES {
        let scraper = scraper::find(&example(), case.scraper, &Layout::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let fixture = response(&example().join(case.fixture));
        let on_fixture = replayer
            .prove(&env, &example(), &example(), &scraper, &fixture)
            .await
            .unwrap_or_else(|e| panic!("{}: replay on the fixture: {e}", case.scraper));
        assert!(
            on_fixture.passed,
            "{}: fixture: {}",
            case.scraper, on_fixture.reason
        );
        assert!(on_fixture.comparison.candidate.count >= 3);

        let broken = response(&root().join("examples/broken").join(case.broken));
        let unhealed = replayer
            .prove(&env, &example(), &example(), &scraper, &broken)
            .await
            .unwrap_or_else(|e| panic!("{}: replay of the broken response: {e}", case.scraper));
        assert!(
            !unhealed.passed,
            "{}: the broken response must fail",
            case.scraper
        );

        let healed_repo = healed_copy(case.file, case.old, case.new);
        let healed = replayer
            .prove(&env, &example(), healed_repo.path(), &scraper, &broken)
            .await
            .unwrap_or_else(|e| panic!("{}: replay of the healed scraper: {e}", case.scraper));
        assert!(healed.passed, "{}: healed: {}", case.scraper, healed.reason);
        assert_eq!(
            healed.comparison.candidate.count, on_fixture.comparison.candidate.count,
            "{}",
            case.scraper
        );
    }
}

#[tokio::test]
async fn replay_reports_the_scrapers_exception_and_gone_data() {
    let env = env().await;
    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let replayer = Replayer::new(scratch.path());
    let events =
        scraper::find(&example(), "events", &Layout::default()).unwrap_or_else(|e| panic!("{e}"));
    let broken = response(&root().join("examples/broken/events_renamed_class.html"));
    let verdict = replayer
        .prove(&env, &example(), &example(), &events, &broken)
        .await
        .unwrap_or_else(|e| panic!("replay: {e}"));
    let error = verdict
        .candidate
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("expected an exception"));
    assert_eq!(error.kind, "AttributeError");
    assert!(
        error.traceback.contains("scrapers/events.py"),
        "{}",
        error.traceback
    );
    assert!(
        verdict.reason.contains("AttributeError"),
        "{}",
        verdict.reason
    );

    let books =
        scraper::find(&example(), "books", &Layout::default()).unwrap_or_else(|e| panic!("{e}"));
    let gone = response(&root().join("examples/broken/books_data_gone.html"));
    let verdict = replayer
        .prove(&env, &example(), &example(), &books, &gone)
        .await
        .unwrap_or_else(|e| panic!("replay: {e}"));
    assert!(!verdict.passed);
    assert_eq!(verdict.reason, "no records extracted");
    // The harness leaves no scratch files beside itself.
    let left: Vec<_> = std::fs::read_dir(scratch.path())
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.iter().all(|n| n.starts_with("replay_harness_")),
        "{left:?}"
    );
}

//! `fixwright demo`: heal a real scraper of the example repository, in a
//! temporary copy that is its own git repository.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use include_dir::{Dir, include_dir};

use super::repair::{DataDirArg, Format, ModeArg, print_report};
use crate::repair::job::{self, RepairRequest, StderrProgress};
use crate::repair::workspace::Workspace;

/// The example scraper repository and the broken responses, built into the
/// binary so the demo works from any directory.
static EXAMPLES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/examples");

/// Which breakage to demonstrate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Case {
    /// `books` (Scrapy, CSS): the product card's class was renamed.
    #[default]
    Books,
    /// `quotes` (Scrapy, XPath): the quotes were wrapped in a new element.
    Quotes,
    /// `events` (BeautifulSoup): the event title's class was renamed.
    Events,
    /// `weather_api` (JSON): a key was renamed.
    WeatherApi,
    /// `books`: the catalogue is gone; the right answer is to refuse.
    BooksGone,
}

impl Case {
    /// (scraper, broken response file in examples/broken, URL).
    pub fn parts(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Case::Books => (
                "books",
                "books_renamed_class.html",
                "https://books.example.com/catalogue/page-1.html",
            ),
            Case::Quotes => (
                "quotes",
                "quotes_wrapper.html",
                "https://quotes.example.com/page/1/",
            ),
            Case::Events => (
                "events",
                "events_renamed_class.html",
                "https://hall.example.com/whats-on",
            ),
            Case::WeatherApi => (
                "weather_api",
                "weather_api_renamed_key.json",
                "https://weather.example.com/v1/observations",
            ),
            Case::BooksGone => (
                "books",
                "books_data_gone.html",
                "https://books.example.com/catalogue/page-1.html",
            ),
        }
    }
}

/// Copy the example scraper repository to a temporary directory, make it a
/// git repository, feed it a broken response and repair it.
#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, value_enum, default_value_t = Case::Books)]
    pub case: Case,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Where to make the demo repository (default: a new temporary directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataDirArg,
    #[command(flatten)]
    pub mode: ModeArg,
}

/// Why the demo could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the examples are missing `{0}` (the binary was built without them)")]
    Missing(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} already exists; choose a new --dir", .0.display())]
    Exists(PathBuf),
    #[error(transparent)]
    Git(#[from] crate::repair::workspace::WorkspaceError),
}

/// Prepares the demo repository and the failing log and response; returns
/// (repository, log, response).
pub fn prepare(case: Case, dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), DemoError> {
    let (scraper, broken, url) = case.parts();
    let repo = dir.join("scrapers-repo");
    if repo.exists() {
        return Err(DemoError::Exists(repo));
    }
    let source = EXAMPLES
        .get_dir("scrapers-repo")
        .ok_or_else(|| DemoError::Missing("scrapers-repo".into()))?;
    extract(source, Path::new("scrapers-repo"), &repo)?;
    Workspace::init_with_files(
        &repo,
        "Scrapers for the bookshop, the quotes site, the hall and the weather service",
    )?;
    let broken_file = EXAMPLES
        .get_file(format!("broken/{broken}"))
        .ok_or_else(|| DemoError::Missing(format!("broken/{broken}")))?;
    let response = dir.join(broken);
    write(&response, broken_file.contents())?;
    let log = dir.join(format!("{scraper}-run.log"));
    write(&log, demo_log(case, url).as_bytes())?;
    Ok((repo, log, response))
}

/// A scraper run's log as the failing run would have printed it.
fn demo_log(case: Case, url: &str) -> String {
    let header = format!(
        "2026-03-01 06:00:01 [scrapy.utils.log] INFO: Scrapy 2.19.0 started (bot: bookshop)\n2026-03-01 06:00:02 [scrapy.core.engine] INFO: Spider opened\n2026-03-01 06:00:03 [scrapy.core.engine] DEBUG: Crawled (200) <GET {url}> (referer: None)\n"
    );
    match case {
        Case::Books | Case::BooksGone | Case::Quotes => format!(
            "{header}2026-03-01 06:00:03 [scrapy.core.engine] INFO: Closing spider (finished)\n2026-03-01 06:00:03 [scrapy.statscollectors] INFO: Dumping Scrapy stats:\n{{'downloader/request_bytes': 254,\n 'downloader/request_count': 1,\n 'downloader/request_method_count/GET': 1,\n 'downloader/response_bytes': 2213,\n 'downloader/response_count': 1,\n 'downloader/response_status_count/200': 1,\n 'elapsed_time_seconds': 0.41,\n 'finish_reason': 'finished',\n 'log_count/DEBUG': 2,\n 'log_count/INFO': 10,\n 'response_received_count': 1,\n 'scheduler/dequeued': 1,\n 'scheduler/enqueued': 1}}\n2026-03-01 06:00:03 [scrapy.core.engine] INFO: Spider closed (finished)\n"
        ),
        Case::Events => format!(
            "INFO fetching {url}\nTraceback (most recent call last):\n  File \"/app/run.py\", line 12, in <module>\n    events = parse(html)\n             ^^^^^^^^^^^\n  File \"/app/scrapers/events.py\", line 15, in parse\n    \"name\": card.select_one(\"h3.event-name\").get_text(strip=True),\n             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\nAttributeError: 'NoneType' object has no attribute 'get_text'\n"
        ),
        Case::WeatherApi => format!(
            "INFO fetching {url}\nTraceback (most recent call last):\n  File \"/app/run.py\", line 12, in <module>\n    rows = parse(text)\n           ^^^^^^^^^^^\n  File \"/app/scrapers/weather_api.py\", line 11, in parse\n    return [\n           ^\n  File \"/app/scrapers/weather_api.py\", line 15, in <listcomp>\n    \"temperature\": obs[\"temp_c\"],\n                   ~~~^^^^^^^^^^\nKeyError: 'temp_c'\n"
        ),
    }
}

fn write(path: &Path, content: &[u8]) -> Result<(), DemoError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| DemoError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, content).map_err(|source| DemoError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `dir` (whose paths start with `prefix`) under `target`, leaving out
/// Python caches.
fn extract(dir: &Dir<'_>, prefix: &Path, target: &Path) -> Result<(), DemoError> {
    for file in dir.files() {
        let relative = file.path().strip_prefix(prefix).unwrap_or(file.path());
        write(&target.join(relative), file.contents())?;
    }
    for sub in dir.dirs() {
        let skip = sub
            .path()
            .file_name()
            .is_some_and(|n| n == "__pycache__" || n == ".pytest_cache");
        if !skip {
            extract(sub, prefix, target)?;
        }
    }
    Ok(())
}

/// Runs the demo and prints the repair report.
pub async fn run(args: DemoArgs) -> ExitCode {
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "fixwright-demo-{}",
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        ))
    });
    let mode = match args.mode.resolve() {
        Ok(mode) => mode,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let (repo, log, response) = match prepare(args.case, &dir) {
        Ok(parts) => parts,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let (scraper, _, url) = args.case.parts();
    eprintln!("==> demo repository: {}", repo.display());
    eprintln!("==> broken response: {}", response.display());
    let request = RepairRequest {
        repo: repo.clone(),
        scraper: scraper.to_owned(),
        log: Some(log),
        response: Some(response),
        response_url: Some(url.to_owned()),
        data_dir: args.data.resolve(),
        env_cache: None,
        mode,
    };
    match job::run(&request, &StderrProgress).await {
        Ok(report) => {
            let code = print_report(&report, args.format);
            if args.format == Format::Text
                && let Some(branch) = &report.branch
            {
                println!(
                    "\nTry it: cd {} && git log --stat -1 {branch} && git checkout {branch} && python -m pytest",
                    repo.display()
                );
            }
            code
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

//! Finding scrapers in the example repository by its layout.

use std::path::{Path, PathBuf};

use fixwright::repair::scraper::{self, Layout, ScraperError, ScraperKind};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scrapers-repo")
}

#[test]
fn scraper_layout_finds_spiders_and_modules_with_their_files() {
    let all = scraper::discover(&example(), &Layout::default()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = all.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["books", "events", "quotes", "weather_api"]);

    let books =
        scraper::find(&example(), "books", &Layout::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        books.kind,
        ScraperKind::ScrapySpider {
            class_name: "BooksSpider".into()
        }
    );
    assert_eq!(books.module, Path::new("bookshop/spiders/books.py"));
    assert_eq!(books.import_path(), "bookshop.spiders.books");
    assert_eq!(books.tests, [Path::new("tests/test_books.py")]);
    assert_eq!(books.fixtures, [Path::new("tests/files/books.html")]);

    let weather = scraper::find(&example(), "weather_api", &Layout::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        weather.kind,
        ScraperKind::Module {
            entry: Some("parse".into())
        }
    );
    assert_eq!(
        weather.fixtures,
        [Path::new("tests/files/weather_api.json")]
    );
}

#[test]
fn scraper_unknown_name_lists_what_exists() {
    match scraper::find(&example(), "bookz", &Layout::default()) {
        Err(error @ ScraperError::Unknown { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("bookz") && message.contains("books, events, quotes, weather_api"),
                "{message}"
            );
        }
        other => panic!("expected an unknown scraper, got {other:?}"),
    }
    assert!(matches!(
        scraper::find(&example(), "../books", &Layout::default()),
        Err(ScraperError::BadName(_))
    ));
}

//! Gates on a one-scraper change versus the whole repository, on a generated
//! repository of `FIXWRIGHT_BENCH_SCRAPERS` scrapers (default 2,000) with a
//! warm environment cache.
//!
//! Run: `cargo bench --bench gates_scope` (set `FIXWRIGHT_BENCH_SCRAPERS`
//! lower for a quick look). The repository is what a real one looks like:
//! half the scrapers parse with parsel, half with BeautifulSoup, each has a
//! saved page of about 27 KB in `tests/files/` and a test that parses it and
//! checks several fields of the listings. Prints provisioning (first and
//! unchanged), scope discovery, and for each run its phases and each tool's
//! time: the one-scraper run (no baseline, and as a working-tree change with
//! the base commit as baseline), the whole repository, and their ratio.
//! `FIXWRIGHT_BENCH_ROUNDS` (default 3) one-scraper runs are timed and the
//! median kept.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fixwright::gates::engine::GateSettings;
use fixwright::gates::{GateRequest, GateRun, Target, run_gates, scope};
use fixwright::python::{EnvInputs, Provisioner};

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

/// A small deterministic generator (splitmix64), so every run builds the
/// same repository.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const WORDS: [&str; 20] = [
    "alpha", "bravo", "river", "stone", "garden", "silver", "north", "harbour", "maple", "cedar",
    "lantern", "orchard", "meadow", "copper", "willow", "falcon", "summit", "quarry", "ember",
    "violet",
];

struct Listing {
    title: String,
    path: String,
    /// In pence.
    price: u64,
    in_stock: bool,
    rating: u64,
}

fn words(rng: &mut Rng, n: usize, capitalise: bool) -> String {
    (0..n)
        .map(|_| {
            let w = rng.pick(&WORDS);
            if capitalise {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn price_text(pence: u64) -> String {
    let pounds = pence / 100;
    let grouped = if pounds >= 1000 {
        format!("{},{:03}", pounds / 1000, pounds % 1000)
    } else {
        pounds.to_string()
    };
    format!("£{grouped}.{:02}", pence % 100)
}

fn price_literal(pence: u64) -> String {
    let text = format!("{}.{:02}", pence / 100, pence % 100);
    // Python prints floats without trailing zeros.
    let text = text.trim_end_matches('0');
    if text.ends_with('.') {
        format!("{text}0")
    } else {
        text.to_owned()
    }
}

fn python_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// One scraper's module, saved page and test.
fn scraper(i: usize) -> (String, String, String, String) {
    let name = format!("site{i:05}");
    let mut rng = Rng(i as u64);
    let card = rng.pick(&["product", "item-card", "listing", "result"]);
    let title = rng.pick(&["title", "name", "heading"]);
    let price = rng.pick(&["price", "cost", "amount"]);
    let listings: Vec<Listing> = (0..40)
        .map(|k| Listing {
            title: words(&mut rng, 3, true),
            path: format!("/p/{i}-{k}"),
            price: 100 + rng.below(9_999_900),
            in_stock: rng.below(10) < 8,
            rating: 1 + rng.below(5),
        })
        .collect();
    let nav: String = (0..40)
        .map(|j| format!("<li><a href=\"/c/{j}\">{} {j}</a></li>", rng.pick(&WORDS)))
        .collect();
    let cards: String = listings
        .iter()
        .map(|l| {
            format!(
                "<li class=\"{card}\"><a class=\"{title}\" href=\"{}\" title=\"{}\">{}</a><span class=\"{price}\">{}</span><span class=\"stock\">{}</span><div class=\"rating\" data-rating=\"{}\"></div><p class=\"desc\">{}</p></li>\n",
                l.path,
                l.title,
                l.title,
                price_text(l.price),
                if l.in_stock { "In stock" } else { "Sold out" },
                l.rating,
                words(&mut rng, 40, false)
            )
        })
        .collect();
    let script: Vec<String> = (0..300)
        .map(|j| format!("\"k{j}\": \"{}\"", rng.pick(&WORDS)))
        .collect();
    let page = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{name}</title><script>var cfg = {{{}}};</script></head><body><header><nav><ul>{nav}</ul></nav></header><main><h1>Catalogue</h1><ul class=\"listings\">{cards}</ul></main><footer><p>footer</p></footer></body></html>",
        script.join(",")
    );
    let common = format!(
        r#"
BASE_URL = "https://{name}.example.com"
PRICE = re.compile(r"[0-9][0-9.,]*")


class Listing(TypedDict):
    title: str
    url: str
    price: float
    in_stock: bool
    rating: int


def _price(text: str | None) -> float:
    match = PRICE.search(text or "")
    if match is None:
        raise ValueError(f"cannot read a price from {{text!r}}")
    return float(match.group().replace(",", ""))
"#
    );
    let module = if i.is_multiple_of(2) {
        format!(
            r#""""Listings of {name}.example.com, by CSS selectors with parsel."""

import re
from typing import TypedDict

from parsel import Selector
{common}

def parse(html: str) -> list[Listing]:
    page = Selector(text=html)
    listings: list[Listing] = []
    for card in page.css("li.{card}"):
        href = card.css("a.{title}::attr(href)").get()
        listings.append(
            {{
                "title": card.css("a.{title}::attr(title)").get(default="").strip(),
                "url": BASE_URL + (href or ""),
                "price": _price(card.css("span.{price}::text").get()),
                "in_stock": card.css("span.stock::text").get() == "In stock",
                "rating": int(card.css("div.rating::attr(data-rating)").get(default="0")),
            }}
        )
    return listings
"#
        )
    } else {
        format!(
            r#""""Listings of {name}.example.com, with BeautifulSoup."""

import re
from typing import TypedDict

from bs4 import BeautifulSoup
{common}

def parse(html: str) -> list[Listing]:
    soup = BeautifulSoup(html, "html.parser")
    listings: list[Listing] = []
    for card in soup.select("li.{card}"):
        link = card.select_one("a.{title}")
        price = card.select_one("span.{price}")
        stock = card.select_one("span.stock")
        rating = card.select_one("div.rating")
        if link is None or price is None:
            raise ValueError("a listing without a title or a price")
        listings.append(
            {{
                "title": link.get_text(strip=True),
                "url": BASE_URL + str(link.get("href", "")),
                "price": _price(price.get_text()),
                "in_stock": stock is not None and stock.get_text(strip=True) == "In stock",
                "rating": int(str(rating.get("data-rating", "0"))) if rating else 0,
            }}
        )
    return listings
"#
        )
    };
    let first = &listings[0];
    let in_stock = listings.iter().filter(|l| l.in_stock).count();
    let test = format!(
        r#"from pathlib import Path

from scrapers.{name} import BASE_URL, parse

FIXTURE = Path(__file__).parent / "files" / "{name}.html"


def test_parse_reads_every_listing() -> None:
    listings = parse(FIXTURE.read_text(encoding="utf-8"))
    assert len(listings) == 40
    assert listings[0] == {{
        "title": "{}",
        "url": "https://{name}.example.com{}",
        "price": {},
        "in_stock": {},
        "rating": {},
    }}
    assert all(item["title"] and item["url"].startswith(BASE_URL) for item in listings)
    assert sum(item["in_stock"] for item in listings) == {in_stock}
"#,
        first.title,
        first.path,
        price_literal(first.price),
        python_bool(first.in_stock),
        first.rating
    );
    (name, module, page, test)
}

fn generate(root: &Path, scrapers: usize) -> std::io::Result<()> {
    write(
        &root.join("pyproject.toml"),
        "[project]\nname = \"bench\"\nversion = \"0\"\nrequires-python = \">=3.10\"\n\n[tool.pytest.ini_options]\npythonpath = [\".\"]\ntestpaths = [\"tests\"]\n",
    )?;
    write(
        &root.join("requirements.txt"),
        "beautifulsoup4==4.15.0\nparsel==1.12.1\n",
    )?;
    write(&root.join("scrapers/__init__.py"), "")?;
    write(&root.join("tests/__init__.py"), "")?;
    for i in 0..scrapers {
        let (name, module, page, test) = scraper(i);
        write(&root.join(format!("scrapers/{name}.py")), &module)?;
        write(&root.join(format!("tests/files/{name}.html")), &page)?;
        write(&root.join(format!("tests/test_{name}.py")), &test)?;
    }
    Ok(())
}

/// Commits the working tree as the repository's one commit.
fn commit_all(root: &Path) -> Result<(), git2::Error> {
    let repo = git2::Repository::init(root)?;
    let mut index = repo.index()?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = git2::Signature::now("Bench", "bench@example.com")?;
    repo.commit(Some("HEAD"), &sig, &sig, "generated scrapers", &tree, &[])?;
    Ok(())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn describe(label: &str, wall: Duration, run: &GateRun) {
    let t = &run.timings;
    println!(
        "{label}: {:.3} s (passed: {}); provision {} ms, scope and git {} ms, tools {} ms, base {} ms (of which writing its files {} ms), the rest {} ms",
        secs(wall),
        run.passed(),
        t.provision_ms,
        t.scope_ms,
        t.head_ms,
        t.base_ms,
        t.export_ms,
        u64::try_from(wall.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_sub(t.provision_ms + t.scope_ms + t.head_ms + t.base_ms)
    );
    for gate in &run.gates {
        let tests = gate
            .tests
            .as_ref()
            .map(|s| format!(" ({} tests, {} failed)", s.tests, s.failures + s.errors))
            .unwrap_or_default();
        println!(
            "    {:<6} {:>6} ms {:?}{tests}",
            gate.tool.to_string(),
            gate.duration_ms,
            gate.status
        );
    }
}

async fn timed(
    repo: &Path,
    target: Target,
    settings: &GateSettings,
    provisioner: &Provisioner,
) -> Result<(Duration, GateRun), fixwright::gates::GatesError> {
    let request = GateRequest {
        repo: repo.to_path_buf(),
        target,
        baseline: None,
        run_id: None,
    };
    let t = Instant::now();
    let run = run_gates(&request, settings, provisioner, &|_| {}).await?;
    Ok((t.elapsed(), run))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let number = |var: &str, default: usize| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let scrapers = number("FIXWRIGHT_BENCH_SCRAPERS", 2000).max(1);
    let rounds = number("FIXWRIGHT_BENCH_ROUNDS", 3).max(1);
    let dir = tempfile::tempdir()?;
    let repo = dir.path().join("repo");
    let t = Instant::now();
    generate(&repo, scrapers)?;
    commit_all(&repo)?;
    println!(
        "generated and committed {scrapers} scrapers in {:.1} s",
        secs(t.elapsed())
    );
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/bench-envs");
    let provisioner = Provisioner::new(&cache);
    let settings = GateSettings::new(dir.path().join("work"));
    let inputs = EnvInputs {
        repo: repo.clone(),
        extra_requirements: settings.pins.requirements(),
    };
    let t = Instant::now();
    let first = provisioner.provision(&inputs).await?;
    let cold = t.elapsed();
    let t = Instant::now();
    let second = provisioner.provision(&inputs).await?;
    let warm = t.elapsed();
    println!(
        "provisioning: first {:.3} s (reused: {}), unchanged {:.3} s (reused: {})",
        secs(cold),
        first.reused,
        secs(warm),
        second.reused
    );
    let t = Instant::now();
    let covered = scope::discover(&repo, &settings.layout)?;
    println!(
        "scope discovery: {} scrapers with their tests in {} ms",
        covered.len(),
        t.elapsed().as_millis()
    );

    let run = |target| timed(&repo, target, &settings, &provisioner);
    // Every cache the tools keep (mypy's, bytecode) is warmed once by a
    // whole-repository run, as on a machine that has run the gates before.
    let (warm, warmup) = run(Target::Whole).await?;
    describe("warm-up, whole repository", warm, &warmup);

    let one_target = || Target::Scraper("site00000".into());
    let mut ones = Vec::new();
    for _ in 0..rounds {
        ones.push(run(one_target()).await?);
    }
    ones.sort_by_key(|(wall, _)| *wall);
    let (one, one_run) = ones.swap_remove(ones.len() / 2);
    describe(&format!("one scraper, median of {rounds}"), one, &one_run);

    // The same scraper as a working-tree change, compared with HEAD: the
    // tools run on the change and again on the base revision.
    let module = repo.join("scrapers/site00000.py");
    let original = std::fs::read_to_string(&module)?;
    std::fs::write(&module, original.replace("Listings of", "Every listing of"))?;
    let (changed, changed_run) = run(Target::ChangedFrom("HEAD".into())).await?;
    std::fs::write(&module, original)?;
    describe("one-scraper change with baseline", changed, &changed_run);

    let (whole, whole_run) = run(Target::Whole).await?;
    describe("whole repository", whole, &whole_run);
    println!(
        "{scrapers} scrapers: one scraper {:.3} s, whole repository {:.3} s, ratio {:.1}x",
        secs(one),
        secs(whole),
        secs(whole) / secs(one).max(1e-9)
    );
    Ok(())
}

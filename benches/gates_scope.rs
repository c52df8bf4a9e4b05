//! Gates on a one-scraper change versus the whole repository, on a generated
//! repository of `FIXWRIGHT_BENCH_SCRAPERS` scrapers (default 2,000), each
//! with a test, with a warm environment cache.
//!
//! Run: `cargo bench --bench gates_scope` (set `FIXWRIGHT_BENCH_SCRAPERS`
//! lower for a quick look). Prints provisioning time (cold and warm), the
//! one-scraper run, the whole-repository run and their ratio.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fixwright::gates::engine::GateSettings;
use fixwright::gates::{GateRequest, Target, run_gates};
use fixwright::python::{EnvInputs, Provisioner};

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

fn generate(root: &Path, scrapers: usize) -> std::io::Result<()> {
    write(
        &root.join("pyproject.toml"),
        "[project]\nname = \"bench\"\nversion = \"0\"\nrequires-python = \">=3.10\"\n\n[tool.pytest.ini_options]\npythonpath = [\".\"]\ntestpaths = [\"tests\"]\n",
    )?;
    write(&root.join("requirements.txt"), "beautifulsoup4==4.15.0\n")?;
    write(&root.join("scrapers/__init__.py"), "")?;
    write(&root.join("tests/__init__.py"), "")?;
    for i in 0..scrapers {
        let name = format!("site{i:05}");
        write(
            &root.join(format!("scrapers/{name}.py")),
            "from bs4 import BeautifulSoup\n\n\ndef parse(text: str) -> list[str]:\n    soup = BeautifulSoup(text, \"html.parser\")\n    return [a.get_text(strip=True) for a in soup.select(\"li.item\")]\n",
        )?;
        write(
            &root.join(format!("tests/test_{name}.py")),
            &format!(
                "from scrapers.{name} import parse\n\n\ndef test_parse() -> None:\n    assert parse(\"<ul><li class='item'>a</li></ul>\") == [\"a\"]\n"
            ),
        )?;
    }
    Ok(())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scrapers: usize = std::env::var("FIXWRIGHT_BENCH_SCRAPERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let repo = tempfile::tempdir()?;
    generate(repo.path(), scrapers)?;
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/bench-envs");
    let provisioner = Provisioner::new(&cache);
    let settings = GateSettings::new(repo.path().join(".work"));
    let inputs = EnvInputs {
        repo: repo.path().to_path_buf(),
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
    let run = |target: Target| {
        let request = GateRequest {
            repo: repo.path().to_path_buf(),
            target,
            baseline: None,
            run_id: None,
        };
        let provisioner = provisioner.clone();
        let settings = settings.clone();
        async move {
            let t = Instant::now();
            let result = run_gates(&request, &settings, &provisioner, &|_| {}).await;
            (t.elapsed(), result)
        }
    };
    // Warm mypy's cache once for each scope, as a repository's CI would be.
    let _ = run(Target::Scraper("site00000".into())).await;
    let (one, one_run) = run(Target::Scraper("site00000".into())).await;
    let one_run = one_run?;
    let _ = run(Target::Whole).await;
    let (whole, whole_run) = run(Target::Whole).await;
    let whole_run = whole_run?;
    println!(
        "{scrapers} scrapers: one scraper {:.3} s (passed: {}), whole repository {:.3} s (passed: {}), ratio {:.1}x",
        secs(one),
        one_run.passed(),
        secs(whole),
        whole_run.passed(),
        secs(whole) / secs(one).max(1e-9)
    );
    for (label, run) in [("one", &one_run), ("whole", &whole_run)] {
        for gate in &run.gates {
            println!(
                "  {label:<5} {:<6} {} ms",
                gate.tool.to_string(),
                gate.duration_ms
            );
        }
    }
    Ok(())
}

//! The inbox writer alone: how many deliveries a second one SQLite writer can
//! commit, with no HTTP, no signature checks and no load generator beside it. This is
//! the ceiling under `fixwright serve`'s intake: every acknowledged delivery waits
//! for one of these commits, one at a time (see docs/benchmarks.md).
//!
//!   cargo bench --locked --bench inbox_writer -- --batches 1,14,28 --commits 3000
//!
//! Each commit stores `batch` copies of the body (compressed as the edge does, before
//! the clock starts) under fresh delivery ids, through the same writer, connection
//! settings and background checkpoint as `serve`, in a fresh database in a temporary
//! folder (`--dir` to put it on another disk). Prints one `RESULT` line per batch size.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use fixwright::store::Store;
use fixwright::store::inbox::{DeliveryId, InstallationId, Millis, NewDelivery};

#[derive(Parser)]
struct Args {
    /// Deliveries per commit; one run per value.
    #[arg(long, value_delimiter = ',', default_value = "1,14,28,64")]
    batches: Vec<usize>,
    /// Commits per run.
    #[arg(long, default_value_t = 3000)]
    commits: usize,
    /// `full` (power-safe, as shipped) or `normal` (crash-safe only).
    #[arg(long, value_enum, default_value_t = Durability::Full)]
    sync: Durability,
    /// How delivery ids sort: `random` as GitHub's GUIDs do, or `sequential` as the
    /// ids of `benches/ingest/wrk.lua` nearly do.
    #[arg(long, value_enum, default_value_t = Ids::Random)]
    ids: Ids,
    /// The delivery body (default: the ingest benchmark's `issue_comment` payload).
    #[arg(long, default_value = ".cache/bench/issue_comment.json")]
    body: PathBuf,
    /// Where the databases go (default: a temporary folder).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Durability {
    Full,
    Normal,
}

#[derive(Clone, Copy, ValueEnum)]
enum Ids {
    Random,
    Sequential,
}

/// The `n`th delivery id: UUID-shaped, in random order (splitmix64) or in order.
fn delivery_id(ids: Ids, n: u64) -> DeliveryId {
    let text = match ids {
        Ids::Sequential => format!("00000000-0000-4000-8000-{n:012x}"),
        Ids::Random => {
            let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            format!(
                "{:08x}-{:04x}-4{:03x}-8000-{n:012x}",
                z >> 32,
                (z >> 16) & 0xffff,
                z & 0xfff
            )
        }
    };
    DeliveryId::parse(&text).expect("a UUID-shaped delivery id is valid")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inbox_writer: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let body = std::fs::read(&args.body).map_err(|e| {
        format!(
            "cannot read {}: {e} (bash benches/ingest/run.sh writes it)",
            args.body.display()
        )
    })?;
    let temp = tempfile::tempdir_in(args.dir.as_deref().unwrap_or(&std::env::temp_dir()))?;
    let mut next_id = 0_u64;
    for (run, &batch) in args.batches.iter().enumerate() {
        let url = format!(
            "sqlite:{}",
            temp.path().join(format!("run{run}.db")).display()
        );
        let store = Store::open(&url).await?;
        let mut writer = store
            .inbox_writer(matches!(args.sync, Durability::Full))
            .await?;
        let mut commits = Vec::with_capacity(args.commits);
        for _ in 0..args.commits {
            let deliveries = (0..batch)
                .map(|_| {
                    next_id += 1;
                    NewDelivery::new(
                        delivery_id(args.ids, next_id),
                        "issue_comment".to_owned(),
                        Some("created".to_owned()),
                        Some(InstallationId(1)),
                        None,
                        Millis::now(),
                        &body,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let started = Instant::now();
            writer.write(&deliveries, None, &[]).await?;
            commits.push(started.elapsed());
        }
        drop(writer);
        store.close().await;
        report(batch, &commits);
    }
    Ok(())
}

fn report(batch: usize, commits: &[Duration]) {
    if commits.is_empty() || batch == 0 {
        return;
    }
    let total: Duration = commits.iter().sum();
    let mut sorted = commits.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    let mean = total.as_secs_f64() * 1e6 / commits.len() as f64;
    println!(
        "RESULT batch={batch} commits={} us_per_commit={mean:.0} p50_us={:.0} p99_us={:.0} \
         us_per_delivery={:.1} deliveries_per_s={:.0}",
        commits.len(),
        at(0.5),
        at(0.99),
        mean / batch as f64,
        (commits.len() * batch) as f64 / total.as_secs_f64()
    );
}

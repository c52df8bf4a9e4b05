//! Open-loop load for the ingest benchmark (`benches/ingest/run.sh`): signed
//! deliveries of one body at a fixed offered rate over keep-alive connections, each
//! with a fresh `X-GitHub-Delivery`. A request's latency runs from the moment it was
//! due to be sent, not from when a connection was free to send it, so a stall
//! counts against every request it held up (wrk2's correction for coordinated
//! omission). wrk's own pacing (a pause per connection) cannot offer that: a slow
//! answer there delays the next request and hides its own cost.
//!
//!   cargo bench --locked --bench ingest_load -- --url URL --rate 4700 \
//!       --seconds 15 --body FILE --secret SECRET --run ID
//!
//! Prints one `RESULT` line in the format of `benches/ingest/wrk.lua`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

#[derive(Parser)]
struct Args {
    /// `http://host:port/path` of the receiver.
    #[arg(long)]
    url: String,
    /// Deliveries offered per second.
    #[arg(long)]
    rate: f64,
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The delivery body (sent as is, signed).
    #[arg(long)]
    body: PathBuf,
    #[arg(long)]
    secret: String,
    /// Prefix of the delivery ids, unique per run.
    #[arg(long)]
    run: String,
    #[arg(long, default_value = "issue_comment")]
    event: String,
}

/// What every connection shares.
struct Load {
    authority: String,
    path: String,
    body: Bytes,
    signature: String,
    event: String,
    run: String,
}

/// One answered request: status and microseconds from when it was due.
type Sample = (u16, u64);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    let rest = args
        .url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("--url must start with http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let body = std::fs::read(&args.body)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.body.display()))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(args.secret.as_bytes())?;
    mac.update(&body);
    let load = Arc::new(Load {
        authority: authority.to_owned(),
        path: path.to_owned(),
        body: Bytes::from(body),
        signature: format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        event: args.event.clone(),
        run: args.run.clone(),
    });
    // One thread, as a load generator beside the server on the same cores should be.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args, load))
}

async fn run(args: Args, load: Arc<Load>) -> anyhow::Result<()> {
    let total = (args.rate * args.seconds as f64) as u64;
    let (due_tx, due_rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let due_rx = Arc::new(Mutex::new(due_rx));
    let (sample_tx, mut sample_rx) = mpsc::unbounded_channel::<Sample>();
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut connections = Vec::new();
    for _ in 0..args.connections {
        connections.push(tokio::spawn(connection(
            load.clone(),
            due_rx.clone(),
            sample_tx.clone(),
            errors.clone(),
        )));
    }
    drop(sample_tx);
    let start = Instant::now() + Duration::from_millis(50);
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    // Requests become due on a fixed schedule. The timer wakes at millisecond
    // granularity, so a request is stamped with when it was released, if that is
    // later than its slot: the generator's own lateness is not the server's.
    let mut released = 0u64;
    while released < total {
        tokio::time::sleep_until(start + interval.mul_f64(released as f64)).await;
        let now = Instant::now();
        while released < total && start + interval.mul_f64(released as f64) <= now {
            due_tx.send((released, now))?;
            released += 1;
        }
    }
    drop(due_tx);
    let mut samples = Vec::with_capacity(total as usize);
    while let Some(sample) = sample_rx.recv().await {
        samples.push(sample);
    }
    let elapsed = start.elapsed().as_secs_f64();
    for c in connections {
        c.await?;
    }
    report(
        args.rate,
        &mut samples,
        elapsed,
        errors.load(std::sync::atomic::Ordering::Relaxed),
    );
    Ok(())
}

/// One keep-alive connection: takes the next due request, sends it, records it.
async fn connection(
    load: Arc<Load>,
    due: Arc<Mutex<mpsc::UnboundedReceiver<(u64, Instant)>>>,
    samples: mpsc::UnboundedSender<Sample>,
    errors: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut sender = None;
    loop {
        let Some((n, due_at)) = due.lock().await.recv().await else {
            return;
        };
        if sender.is_none() {
            sender = connect(&load.authority).await;
        }
        let Some(send) = sender.as_mut() else {
            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            continue;
        };
        let request = http::Request::post(&load.path)
            .header(http::header::HOST, &load.authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-github-event", &load.event)
            .header("x-github-delivery", format!("{}-{n}", load.run))
            .header("x-hub-signature-256", &load.signature)
            .body(Full::new(load.body.clone()));
        let answered = match request {
            Ok(request) => match send.send_request(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    response.into_body().collect().await.ok().map(|_| status)
                }
                Err(_) => None,
            },
            Err(_) => None,
        };
        match answered {
            Some(status) => {
                let micros = u64::try_from(due_at.elapsed().as_micros()).unwrap_or(u64::MAX);
                let _ = samples.send((status, micros));
            }
            None => {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                sender = None;
            }
        }
    }
}

async fn connect(authority: &str) -> Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(authority).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(send)
}

fn report(rate: f64, samples: &mut [Sample], seconds: f64, errors: u64) {
    let non2xx = samples
        .iter()
        .filter(|(s, _)| !(200..300).contains(s))
        .count();
    samples.sort_unstable_by_key(|(_, micros)| *micros);
    let at = |q: f64| {
        if samples.is_empty() {
            return 0.0;
        }
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].1 as f64 / 1000.0
    };
    println!(
        "RESULT requests={} seconds={seconds:.2} rps={:.0} offered={rate:.0} p50_ms={:.2} p99_ms={:.2} p999_ms={:.2} max_ms={:.2} non2xx={non2xx} socket_errors={errors}",
        samples.len(),
        samples.len() as f64 / seconds,
        at(0.50),
        at(0.99),
        at(0.999),
        at(1.0),
    );
}

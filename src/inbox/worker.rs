//! The worker loop: lease, dispatch, complete or fail.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::arrivals::{Arrivals, Handover};
use super::handler::{Delivery, DeliveryHandler, HandlerError, TokenCache};
use super::route::{self, FailureAction, Route};
use crate::config::Config;
use crate::store::Store;
use crate::store::inbox::{Completion, DeliveryId, Envelope, Lease, LeaseToken, Leased, Millis};

/// How the workers run.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub workers: usize,
    pub lease: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub max_tries: u32,
    /// Deliveries leased per round trip to the store.
    pub batch: u32,
    /// How often an idle worker looks for due retries and expired leases.
    pub idle_poll: Duration,
    /// How long a woken worker lets deliveries gather before it leases, so that under
    /// load one lease (two writes) carries many deliveries instead of a few.
    pub linger: Duration,
    /// `<slug>[bot]`; deliveries it sent start no work.
    pub bot_login: Option<String>,
}

impl WorkerSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            workers: config.inbox.workers,
            lease: config.inbox.lease,
            backoff_base: config.inbox.backoff_base,
            backoff_max: config.inbox.backoff_max,
            max_tries: config.inbox.max_tries,
            batch: 64,
            idle_poll: Duration::from_secs(1),
            linger: Duration::from_millis(20),
            bot_login: config.bot_login(),
        }
    }
}

struct Shared {
    store: Store,
    handler: Arc<dyn DeliveryHandler>,
    tokens: Option<Arc<dyn TokenCache>>,
    settings: WorkerSettings,
    arrivals: Arrivals,
}

/// Running workers. Dropping the pool leaves them running; call
/// [`WorkerPool::shutdown`] to stop them after their current delivery.
pub struct WorkerPool {
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    shared: Arc<Shared>,
}

impl WorkerPool {
    /// Starts `settings.workers` workers. `arrivals` brings them what the edge stores;
    /// with at least one worker, the pool opens its handovers (see [`Arrivals`]).
    /// `tokens` is told about deleted installations.
    pub fn spawn(
        store: Store,
        handler: Arc<dyn DeliveryHandler>,
        tokens: Option<Arc<dyn TokenCache>>,
        settings: WorkerSettings,
        arrivals: Arrivals,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            store,
            handler,
            tokens,
            settings,
            arrivals,
        });
        if shared.settings.workers > 0 {
            shared.arrivals.open(shared.settings.lease);
        }
        let tasks = (0..shared.settings.workers)
            .map(|n| {
                let shared = shared.clone();
                let stopped = stopped.clone();
                tokio::spawn(run(shared, stopped).instrument(tracing::info_span!("worker", n = n)))
            })
            .collect();
        Self {
            tasks,
            stop,
            shared,
        }
    }

    /// Lets each worker finish the deliveries it holds (a batch, or a whole handover it
    /// could not pass on), then stops them and gives back the deliveries handed over
    /// but not started, so they run at once after a restart.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        release_handovers(self.shared).await;
    }

    /// Stops the workers at once, mid-delivery, as a crash would: whatever they had
    /// leased, or had been handed, stays leased until the lease expires.
    pub fn abort(self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Closes the handover queue and gives back what waits in it.
async fn release_handovers(shared: Arc<Shared>) {
    for handover in shared.arrivals.close().await {
        release(&shared.store, &handover).await;
    }
}

/// Gives a handover's deliveries back to the store, untried, for any worker to lease.
async fn release(store: &Store, handover: &Handover) {
    let ids: Vec<DeliveryId> = handover.items.iter().map(|i| i.id.clone()).collect();
    match store
        .inbox_release(&handover.lease.token, &ids, Millis::now())
        .await
    {
        Ok(n) => tracing::debug!(deliveries = n, "handed-over deliveries given back"),
        Err(e) => tracing::warn!(
            error = %e,
            "cannot give handed-over deliveries back; they run again when their lease expires"
        ),
    }
}

/// Under sustained load a handover is always waiting; every this many rounds a
/// worker looks in the store first, so that due retries, deliveries stored while the
/// handover queue was full and expired leases are not left behind.
const STORE_FIRST_EVERY: u32 = 8;

async fn run(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut round: u32 = 0;
    loop {
        round = round.wrapping_add(1);
        // Registered before leasing, so a commit landing in between still wakes us.
        let notified = shared.arrivals.stored().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if *stopped.borrow() {
            return;
        }
        if !round.is_multiple_of(STORE_FIRST_EVERY)
            && let Some(handover) = shared.arrivals.try_next()
        {
            take_over(&shared, handover).await;
            continue;
        }
        let s = &shared.settings;
        let now = Millis::now();
        match shared.store.inbox_lease(now, s.lease, s.batch).await {
            Ok(items) if !items.is_empty() => {
                if items.len() == s.batch as usize {
                    // More may be waiting: wake one more worker to share the backlog.
                    shared.arrivals.wake_one();
                }
                let lease = Lease {
                    token: items[0].token.clone(),
                    until: now.after(s.lease),
                };
                work(&shared, &lease, &items).await;
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot lease deliveries"),
        }
        let woken = tokio::select! {
            handover = shared.arrivals.next() => {
                take_over(&shared, handover).await;
                continue;
            }
            _ = notified => true,
            _ = tokio::time::sleep(s.idle_poll) => false,
            _ = stopped.changed() => false,
        };
        if woken && !s.linger.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(s.linger) => {}
                _ = stopped.changed() => {}
            }
        }
    }
}

/// Works a handover, unless it waited so long that its lease is half gone: then its
/// deliveries go back to the store, where a worker leases them afresh. A handover
/// holds a whole group commit; past one batch, the rest is passed on to the next
/// free worker (same lease: every lease operation names its deliveries).
async fn take_over(shared: &Shared, mut handover: Handover) {
    let half = shared.settings.lease / 2;
    if Millis::now() > handover.lease.until.before(half) {
        release(&shared.store, &handover).await;
        return;
    }
    let batch = (shared.settings.batch as usize).max(1);
    if handover.items.len() > batch {
        let rest = Handover {
            lease: handover.lease.clone(),
            items: handover.items.split_off(batch),
        };
        if let Err(back) = shared.arrivals.pass_on(rest) {
            handover.items.extend(back.items);
        }
    }
    work(shared, &handover.lease, &handover.items).await;
}

/// Processes the deliveries of one lease in order, keeping the lease alive meanwhile,
/// and records their completions together, a batch at a time.
async fn work(shared: &Shared, lease: &Lease, items: &[Leased]) {
    let token = &lease.token;
    let batch = (shared.settings.batch as usize).max(1);
    let run = async {
        for chunk in items.chunks(batch) {
            let mut done = Vec::with_capacity(chunk.len());
            let mut envelopes = Vec::with_capacity(chunk.len());
            for item in chunk {
                if let Processed::Done(envelope) = process(shared, item).await {
                    done.push(item.id.clone());
                    envelopes.extend(envelope);
                }
            }
            complete(shared, token, done, envelopes).await;
        }
    };
    let ids: Vec<DeliveryId> = items.iter().map(|i| i.id.clone()).collect();
    keep_leased(shared, lease, &ids, run).await;
}

/// Runs `work` while renewing `held` every third of the lease time, the first time
/// when a third of it has gone (at once for a handover that waited that long), so a
/// handler that runs longer than one lease (a gate run on a cold environment, say)
/// keeps its deliveries; another worker takes them over only if this one stops
/// renewing, which is what a crash looks like.
async fn keep_leased<T>(
    shared: &Shared,
    held: &Lease,
    ids: &[DeliveryId],
    work: impl Future<Output = T>,
) -> T {
    let token = &held.token;
    let lease = shared.settings.lease;
    // tokio's interval refuses a zero period; configuration keeps leases at 1 s or more.
    let every = (lease / 3).max(Duration::from_millis(10));
    let first = held.until.before(lease.saturating_sub(every));
    let wait = u64::try_from(first.0.saturating_sub(Millis::now().0)).unwrap_or(0);
    let start = tokio::time::Instant::now() + Duration::from_millis(wait).min(every);
    let mut renew = tokio::time::interval_at(start, every);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Renewals run beside the work, never instead of it: a renewal waits for the
    // inbox's write turn, which the work may hold across an await of its own (a
    // handler's write), so a renewal that stopped the work being polled would wait
    // for it forever.
    let renewing = async {
        loop {
            renew.tick().await;
            let until = Millis::now().after(lease);
            match shared.store.inbox_renew_lease(token, ids, until).await {
                Ok(n) => tracing::debug!(deliveries = n, "lease renewed"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew the lease; another worker may take its deliveries over")
                }
            }
        }
    };
    tokio::select! {
        out = work => out,
        never = renewing => never,
    }
}

/// Successes of one lease are completed, and their envelopes recorded, together: one
/// write for the whole lease instead of one or two per delivery (and, through the
/// edge's writer, none of their own).
async fn complete(
    shared: &Shared,
    token: &LeaseToken,
    done: Vec<DeliveryId>,
    envelopes: Vec<Envelope>,
) {
    if done.is_empty() {
        return;
    }
    let count = done.len();
    let completion = Completion {
        token: token.clone(),
        ids: done,
        envelopes,
        at: Millis::now(),
    };
    match shared.arrivals.complete(&shared.store, completion).await {
        Ok(n) if n as usize == count => {}
        Ok(n) => tracing::warn!(
            lost = count - n as usize,
            "leases lost before completion was recorded; their next holders decide"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            "cannot record completions; the leases will expire and the deliveries run again"
        ),
    }
}

/// How one leased delivery went.
enum Processed {
    /// Handled; its completion (and its envelope, if the body was still stored) is
    /// recorded with the rest of the lease.
    Done(Option<Envelope>),
    /// Failed; rescheduled or dead-lettered already.
    Failed,
}

/// Handles one leased delivery and records a failure at once.
async fn process(shared: &Shared, item: &Leased) -> Processed {
    let span = tracing::info_span!("delivery", delivery = %item.id, event = %item.event, tries = item.tries);
    async {
        let started = Instant::now();
        let outcome = dispatch(shared, item).await;
        let store = &shared.store;
        let s = &shared.settings;
        let now = Millis::now();
        let (label, recorded, processed) = match outcome {
            Ok(envelope) => ("done", Ok(true), Processed::Done(envelope)),
            Err(e) => match route::failure_action(
                item.tries,
                s.max_tries,
                e.permanent,
                s.backoff_base,
                s.backoff_max,
            ) {
                FailureAction::RetryAfter(wait) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "delivery failed; will retry");
                    let at = now.after(wait);
                    let recorded = store.inbox_reschedule(&item.id, &item.token, &e.message, at).await;
                    ("retry", recorded, Processed::Failed)
                }
                FailureAction::DeadLetter => {
                    tracing::error!(error = %e, "delivery dead-lettered");
                    let recorded = store.inbox_dead_letter(&item.id, &item.token, &e.message, now).await;
                    ("dead", recorded, Processed::Failed)
                }
            },
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => tracing::warn!("lease lost before the outcome was recorded; the next holder decides"),
            Err(e) => tracing::warn!(error = %e, "cannot record the outcome; the lease will expire and the delivery run again"),
        }
        metrics::counter!("fixwright_inbox_processed_total", "outcome" => label).increment(1);
        metrics::histogram!("fixwright_inbox_processing_seconds").record(started.elapsed());
        processed
    }
    .instrument(span)
    .await
}

/// Hands a delivery to its handler; on success, the envelope to record with its
/// completion (none when the body is gone).
async fn dispatch(shared: &Shared, item: &Leased) -> Result<Option<Envelope>, HandlerError> {
    let body = item
        .body()
        .map_err(|e| HandlerError::permanent(format!("the stored body cannot be read: {e}")))?;
    let Some(body) = body else {
        // Purged (uninstalled) or pruned: nothing left to act on.
        tracing::info!("payload no longer stored; nothing to do");
        return Ok(None);
    };
    let envelope = route::envelope(
        item.id.as_str(),
        &item.event,
        &body,
        shared.settings.bot_login.as_deref(),
    )
    .map_err(HandlerError::permanent)?;
    let route = route::route(&envelope);
    let delivery = Delivery {
        id: item.id.clone(),
        event: item.event.clone(),
        tries: item.tries,
        body,
        envelope,
        route,
    };
    let handler = &shared.handler;
    let run = async {
        match route {
            Route::FromApp => {
                tracing::info!("sent by the App itself; recorded, no work started");
                handler.observe(&delivery).await
            }
            Route::InstallationDeleted(installation) => {
                if let Some(tokens) = &shared.tokens {
                    tokens.forget_installation(installation);
                }
                let purged = shared
                    .store
                    .inbox_purge_installation(installation)
                    .await
                    .map_err(|e| HandlerError::transient(e.to_string()))?;
                tracing::info!(%installation, purged, "installation deleted; tokens dropped, payloads purged");
                handler.handle(&delivery).await
            }
            Route::Work => handler.handle(&delivery).await,
        }
    };
    // A panicking handler fails this try instead of taking the worker down.
    AssertUnwindSafe(run)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(HandlerError::transient("the handler panicked")))?;
    Ok(Some(delivery.envelope))
}

//! The single inbox writer: request handlers hand it verified deliveries over a
//! channel; it commits whatever has queued up as one transaction (a group commit)
//! and answers each request only after that commit. One fsync then covers many
//! deliveries, which is what lets durable intake keep up with a busy App.

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::inbox::{Arrivals, Completing};
use crate::store::inbox::{Completion, InboxWriter, Inserted, Leased, NewDelivery};

/// Most deliveries committed in one transaction; bounds a batch's latency.
const MAX_BATCH: usize = 512;

/// Why a delivery was not stored. The edge answers 503 for all of them.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the inbox transaction failed: {0}")]
    Store(String),
    #[error("the inbox writer has stopped")]
    Stopped,
}

struct Request {
    delivery: NewDelivery,
    reply: oneshot::Sender<Result<Inserted, WriteError>>,
}

/// A cheap, cloneable way to submit deliveries to the writer.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Request>,
}

impl WriterHandle {
    /// Resolves once the delivery's transaction has committed (or failed).
    pub async fn write(&self, delivery: NewDelivery) -> Result<Inserted, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request { delivery, reply })
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }
}

/// Most completions (each one lease's) recorded in one commit.
const MAX_COMPLETIONS: usize = 64;

/// Starts the writer task. Each commit stores the deliveries that queued up and
/// records the completions this process's workers sent meanwhile
/// ([`Arrivals::complete`]). After a commit that stored new deliveries it hands them
/// to the workers when they can take them (stored already leased to them), or wakes
/// one worker to lease them. The task ends when every handle is dropped, after
/// committing the completions already sent.
pub fn spawn(mut writer: InboxWriter, arrivals: Arrivals) -> (WriterHandle, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Request>(MAX_BATCH * 4);
    let mut done_rx = arrivals.take_completions();
    let task = tokio::spawn(async move {
        let mut requests = Vec::with_capacity(MAX_BATCH);
        let mut completing = Vec::new();
        loop {
            tokio::select! {
                n = rx.recv_many(&mut requests, MAX_BATCH) => if n == 0 { break },
                n = next_completions(&mut done_rx, &mut completing) => if n == 0 { done_rx = None },
            }
            // Whatever else is waiting joins this commit.
            while requests.len() < MAX_BATCH
                && let Ok(request) = rx.try_recv()
            {
                requests.push(request);
            }
            if let Some(done) = &mut done_rx {
                while completing.len() < MAX_COMPLETIONS
                    && let Ok(c) = done.try_recv()
                {
                    completing.push(c);
                }
            }
            commit(&mut writer, &arrivals, &mut requests, &mut completing).await;
        }
        // No more deliveries: refuse further completions (workers then write their
        // own) and commit the ones already sent.
        if let Some(mut done) = done_rx {
            done.close();
            // Includes completions whose send had begun before the close.
            while let Some(c) = done.recv().await {
                completing.push(c);
            }
            if !completing.is_empty() {
                commit(&mut writer, &arrivals, &mut requests, &mut completing).await;
            }
        }
    });
    (WriterHandle { tx }, task)
}

/// Waits for completions; never resolves without a receiver.
async fn next_completions(
    done: &mut Option<mpsc::Receiver<Completing>>,
    into: &mut Vec<Completing>,
) -> usize {
    match done {
        Some(done) => done.recv_many(into, MAX_COMPLETIONS).await,
        None => std::future::pending().await,
    }
}

/// One transaction for what has queued up, then every waiter gets its answer.
async fn commit(
    writer: &mut InboxWriter,
    arrivals: &Arrivals,
    requests: &mut Vec<Request>,
    completing: &mut Vec<Completing>,
) {
    let (mut batch, replies): (Vec<NewDelivery>, Vec<_>) =
        requests.drain(..).map(|r| (r.delivery, r.reply)).unzip();
    let (completions, answers): (Vec<Completion>, Vec<_>) = completing
        .drain(..)
        .map(|c| (c.completion, c.reply))
        .unzip();
    let grant = if batch.is_empty() {
        None
    } else {
        arrivals.grant()
    };
    let result = writer
        .write(&batch, grant.as_ref().map(|g| &g.lease), &completions)
        .await;
    if !batch.is_empty() {
        metrics::histogram!("fixwright_inbox_batch_size").record(batch.len() as f64);
    }
    let written = match result {
        Ok(written) => written,
        Err(e) => {
            let message = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(WriteError::Store(message.clone())));
            }
            for answer in answers {
                let _ = answer.send(Err(message.clone()));
            }
            return;
        }
    };
    for (answer, held) in answers.into_iter().zip(written.completed) {
        // A worker that gave up waiting needs no answer.
        let _ = answer.send(Ok(held));
    }
    let outcomes = written.inserted;
    match grant {
        Some(grant) => {
            let lease = grant.lease.clone();
            let items: Vec<Leased> = batch
                .drain(..)
                .zip(&outcomes)
                .filter(|(d, o)| **o == Inserted::New && d.rejected.is_none())
                .map(|(d, _)| d.into_leased(&lease))
                .collect();
            grant.hand_over(items);
        }
        // One worker wakes; it wakes the next if it finds a full batch.
        None if outcomes.contains(&Inserted::New) => arrivals.wake_one(),
        None => {}
    }
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        // A requester that gave up (client gone) needs no answer.
        let _ = reply.send(Ok(outcome));
    }
}

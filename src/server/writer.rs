//! The single inbox writer: request handlers hand it verified deliveries over a
//! channel; it commits whatever has queued up as one transaction (a group commit)
//! and answers each request only after that commit. One fsync then covers many
//! deliveries, which is what lets durable intake keep up with a busy App.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::inbox::{InboxWriter, Inserted, NewDelivery};

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

/// Starts the writer task. `stored` is notified (`notify_one`) after every commit that
/// stored a new delivery, so an idle worker wakes without polling. The task ends when every handle
/// is dropped.
pub fn spawn(mut writer: InboxWriter, stored: Arc<Notify>) -> (WriterHandle, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Request>(MAX_BATCH * 4);
    let task = tokio::spawn(async move {
        let mut requests = Vec::with_capacity(MAX_BATCH);
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while rx.recv_many(&mut requests, MAX_BATCH).await > 0 {
            let replies: Vec<_> = requests
                .drain(..)
                .map(|r: Request| {
                    batch.push(r.delivery);
                    r.reply
                })
                .collect();
            let result = writer.insert(&batch).await;
            metrics::histogram!("fixwright_inbox_batch_size").record(batch.len() as f64);
            batch.clear();
            match result {
                Ok(outcomes) => {
                    if outcomes.contains(&Inserted::New) {
                        // One worker wakes; it wakes the next if it finds a full batch.
                        stored.notify_one();
                    }
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        // A requester that gave up (client gone) needs no answer.
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(WriteError::Store(message.clone())));
                    }
                }
            }
        }
    });
    (WriterHandle { tx }, task)
}

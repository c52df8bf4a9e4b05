//! How new deliveries reach this process's workers. The edge's writer either wakes
//! a worker, which then leases what was stored (one more write per lease), or, when
//! the workers can take more, stores the new deliveries already leased to them and
//! hands them over in memory: the row is written once on arrival and once on
//! completion. A handover that never runs (the process dies) is a lease like any
//! other: it expires and any worker, here or on another replica, takes it again.
//!
//! Workers record what they finished through the same writer when there is one, so
//! that under load a single commit stores new deliveries and completes earlier ones.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Mutex, Notify, mpsc, oneshot};

use crate::store::Store;
use crate::store::inbox::{Completion, InboxError, Lease, LeaseToken, Leased, Millis};

/// Handovers waiting for a worker. Each holds one group commit's new deliveries,
/// compressed, so the bound keeps their memory small; past it the writer stores
/// new deliveries unleased and the workers lease them as usual.
const WAITING_HANDOVERS: usize = 8;

/// Completions waiting for the writer; past it, workers wait their turn.
const WAITING_COMPLETIONS: usize = 64;

/// One group commit's new deliveries, stored leased under `lease`.
#[derive(Debug)]
pub struct Handover {
    pub lease: Lease,
    pub items: Vec<Leased>,
}

/// What the writer and the workers of one process share. Cloning shares it.
#[derive(Clone, Default)]
pub struct Arrivals {
    stored: Arc<Notify>,
    handover: Arc<OnceLock<Channel>>,
    completions: Arc<OnceLock<mpsc::Sender<Completing>>>,
}

/// A completion on its way to the writer, and where its outcome goes: how many of
/// its deliveries the lease still held, or why the commit failed.
pub struct Completing {
    pub completion: Completion,
    pub reply: oneshot::Sender<Result<u64, String>>,
}

struct Channel {
    tx: mpsc::Sender<Handover>,
    rx: Mutex<mpsc::Receiver<Handover>>,
    lease: Duration,
}

/// The writer's right to hand one commit's deliveries over: a place in the queue
/// and the lease to store them under.
pub struct Grant {
    permit: mpsc::OwnedPermit<Handover>,
    pub lease: Lease,
}

impl Grant {
    /// Hands the committed deliveries over; none is a no-op that frees the place.
    pub fn hand_over(self, items: Vec<Leased>) {
        if !items.is_empty() {
            self.permit.send(Handover {
                lease: self.lease,
                items,
            });
        }
    }
}

impl Arrivals {
    /// Until workers open handovers, they are only woken and lease what was stored.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on, new deliveries are stored leased for `lease` and handed to the
    /// workers while they keep up. A pool of workers opens this when it starts; after
    /// [`Arrivals::close`] it stays closed.
    pub fn open(&self, lease: Duration) {
        self.handover.get_or_init(|| {
            let (tx, rx) = mpsc::channel(WAITING_HANDOVERS);
            Channel {
                tx,
                rx: Mutex::new(rx),
                lease,
            }
        });
    }

    /// Wakes one idle worker to lease what was stored.
    pub fn wake_one(&self) {
        self.stored.notify_one();
    }

    /// What [`Arrivals::wake_one`] notifies.
    pub fn stored(&self) -> &Notify {
        &self.stored
    }

    /// A place in the handover queue, if handovers are open and the queue has room.
    pub fn grant(&self) -> Option<Grant> {
        let channel = self.handover.get()?;
        let permit = channel.tx.clone().try_reserve_owned().ok()?;
        Some(Grant {
            permit,
            lease: Lease {
                token: LeaseToken::fresh(),
                until: Millis::now().after(channel.lease),
            },
        })
    }

    /// The next handover, waiting for one. Never resolves while handovers are not open.
    pub async fn next(&self) -> Handover {
        if let Some(channel) = self.handover.get()
            && let Some(handover) = channel.rx.lock().await.recv().await
        {
            return handover;
        }
        std::future::pending().await
    }

    /// A handover already waiting, if any (and if no other worker is taking one).
    pub fn try_next(&self) -> Option<Handover> {
        let channel = self.handover.get()?;
        channel.rx.try_lock().ok()?.try_recv().ok()
    }

    /// The writer's end of the completions: from now on workers record what they
    /// finished by sending it here. Only the first caller gets it. A writer that
    /// stops closes it and commits what it holds; workers then write directly.
    pub fn take_completions(&self) -> Option<mpsc::Receiver<Completing>> {
        let (tx, rx) = mpsc::channel(WAITING_COMPLETIONS);
        self.completions.set(tx).ok().map(|()| rx)
    }

    /// Records `completion`: through the writer's next commit if there is a writer,
    /// else in a transaction of its own. Returns how many deliveries the lease still held.
    pub async fn complete(
        &self,
        store: &Store,
        completion: Completion,
    ) -> Result<u64, CompleteError> {
        let completion = match self.completions.get() {
            Some(writer) => {
                let (reply, answer) = oneshot::channel();
                match writer.send(Completing { completion, reply }).await {
                    Ok(()) => {
                        return match answer.await {
                            Ok(outcome) => outcome.map_err(CompleteError::Writer),
                            Err(_) => Err(CompleteError::Writer(
                                "the inbox writer stopped before answering".to_owned(),
                            )),
                        };
                    }
                    Err(mpsc::error::SendError(back)) => back.completion,
                }
            }
            None => completion,
        };
        Ok(store
            .inbox_complete_many(
                &completion.ids,
                &completion.envelopes,
                &completion.token,
                completion.at,
            )
            .await?)
    }

    /// Puts part of a handover back in the queue for another worker, if there is
    /// room; otherwise gives it back to the caller.
    pub fn pass_on(&self, handover: Handover) -> Result<(), Handover> {
        match self.handover.get() {
            Some(channel) => channel.tx.try_send(handover).map_err(|e| e.into_inner()),
            None => Err(handover),
        }
    }

    /// Stops handovers for good; what waits is returned, for the caller to release,
    /// including what a writer granted a place before the close hands over after it.
    pub async fn close(&self) -> Vec<Handover> {
        let Some(channel) = self.handover.get() else {
            return Vec::new();
        };
        let mut rx = channel.rx.lock().await;
        rx.close();
        let mut left = Vec::new();
        // Ends once the queue is empty and no place granted earlier is outstanding.
        while let Some(handover) = rx.recv().await {
            left.push(handover);
        }
        left
    }
}

/// Why completions could not be recorded; the leases expire and the deliveries run again.
#[derive(Debug, thiserror::Error)]
pub enum CompleteError {
    #[error(transparent)]
    Store(#[from] InboxError),
    #[error("{0}")]
    Writer(String),
}

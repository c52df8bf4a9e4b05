//! Missed-delivery recovery. GitHub keeps the App's webhook deliveries for
//! about three days; a delivery our endpoint never stored (we were down, the
//! database was, a network hiccup) is found there by its guid and redelivered.
//!
//! [`plan`] decides what to redeliver from GitHub's list and the inbox's
//! answer (pure); [`DeliveryRecovery`] pages, asks, and redelivers.
//! Replicas sharing a database take turns ([`RecoveryTurns`]): one pass runs
//! at a time, and a replica that finds the turn taken skips its round.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::auth::Clock;
use super::contact::LastContact;
use super::ops::app::HookDelivery;
use super::ops::{GitHubClient, OpsError};
use super::{DeliveryGuid, HookDeliveryId};

/// The inbox's side of recovery: which of these guids it already holds.
/// Implemented by the webhook inbox.
pub trait DeliveryLedger: Send + Sync {
    /// The subset of `guids` the inbox has stored (in any state).
    fn known(
        &self,
        guids: &[DeliveryGuid],
    ) -> impl Future<Output = Result<HashSet<DeliveryGuid>, LedgerError>> + Send;
}

/// The ledger could not answer.
#[derive(Debug, thiserror::Error)]
#[error("the delivery ledger could not answer: {0}")]
pub struct LedgerError(#[from] pub Box<dyn std::error::Error + Send + Sync>);

/// The webhook inbox is the ledger: a guid is known once the edge stored it,
/// whatever became of it since.
impl DeliveryLedger for crate::store::Store {
    async fn known(&self, guids: &[DeliveryGuid]) -> Result<HashSet<DeliveryGuid>, LedgerError> {
        let asked: Vec<String> = guids.iter().map(|g| g.as_str().to_owned()).collect();
        let held = self
            .contains_deliveries(&asked)
            .await
            .map_err(|e| LedgerError(Box::new(e)))?;
        Ok(held.into_iter().map(DeliveryGuid::from).collect())
    }
}

/// Who may run a pass now. Replicas sharing a ledger take turns so that one
/// pass at a time asks GitHub for redeliveries.
pub trait RecoveryTurns: Send + Sync {
    /// Held for the length of a pass.
    type Turn: Send;

    /// The turn, or `None` when another replica holds it (this round is skipped).
    fn try_take(&self) -> impl Future<Output = Result<Option<Self::Turn>, LedgerError>> + Send;

    /// Gives the turn back.
    fn end(&self, turn: Self::Turn) -> impl Future<Output = ()> + Send;
}

/// A single process: every turn is granted.
#[derive(Debug, Default, Clone, Copy)]
pub struct Alone;

impl RecoveryTurns for Alone {
    type Turn = ();

    async fn try_take(&self) -> Result<Option<()>, LedgerError> {
        Ok(Some(()))
    }

    async fn end(&self, (): ()) {}
}

/// Replicas sharing the store take turns through it: a PostgreSQL advisory
/// lock, released when the pass ends or its holder's session does.
impl RecoveryTurns for crate::store::Store {
    type Turn = crate::store::turns::Turn;

    async fn try_take(&self) -> Result<Option<Self::Turn>, LedgerError> {
        self.try_take_turn(crate::store::turns::TurnKind::DeliveryRecovery)
            .await
            .map_err(|e| LedgerError(Box::new(e)))
    }

    async fn end(&self, turn: Self::Turn) {
        turn.end().await;
    }
}

/// How far back and how hard recovery looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverySettings {
    /// Deliveries older than this are not looked at (GitHub keeps about 3 days).
    pub window: TimeDelta,
    /// Pages of 100 deliveries read per pass at most.
    pub max_pages: u32,
    /// A guid GitHub has already redelivered this many times without success is given up on.
    pub max_redeliveries: usize,
    /// A failure younger than this is left for the next pass (GitHub may still be retrying it).
    pub settle: TimeDelta,
    /// Time between passes; also the longest a pass may take before it is
    /// abandoned and its turn given back.
    pub interval: Duration,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        Self {
            window: TimeDelta::hours(71),
            max_pages: 100,
            max_redeliveries: 3,
            settle: TimeDelta::seconds(60),
            interval: Duration::from_secs(600),
        }
    }
}

/// What one pass decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Attempts to ask GitHub to deliver again (one per missing guid).
    pub redeliver: Vec<HookDeliveryId>,
    /// Guids still missing after `max_redeliveries` redeliveries.
    pub given_up: Vec<DeliveryGuid>,
}

/// Decides what to redeliver. A guid is redelivered when the inbox does not
/// hold it, no attempt of it succeeded (a 2xx means we stored it, so an
/// unknown 2xx was purged on purpose), its newest attempt is older than
/// `settle`, and GitHub has redelivered it fewer than `max_redeliveries` times.
/// The newest attempt's id is used.
pub fn plan(
    deliveries: &[HookDelivery],
    known: &HashSet<DeliveryGuid>,
    now: DateTime<Utc>,
    settings: &RecoverySettings,
) -> Plan {
    let mut by_guid: BTreeMap<&DeliveryGuid, Vec<&HookDelivery>> = BTreeMap::new();
    for delivery in deliveries {
        by_guid.entry(&delivery.guid).or_default().push(delivery);
    }
    let mut plan = Plan::default();
    for (guid, attempts) in by_guid {
        if known.contains(guid) || attempts.iter().any(|a| a.succeeded()) {
            continue;
        }
        let Some(newest) = attempts.iter().max_by_key(|a| (a.delivered_at, a.id)) else {
            continue;
        };
        if now - newest.delivered_at < settings.settle {
            continue;
        }
        if attempts.iter().filter(|a| a.redelivery).count() >= settings.max_redeliveries {
            plan.given_up.push(guid.clone());
        } else {
            plan.redeliver.push(newest.id);
        }
    }
    plan
}

/// Why a recovery pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    GitHub(#[from] OpsError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the recovery pass took longer than {0:?} and was abandoned")]
    TimedOut(Duration),
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Failed attempts inside the window that GitHub listed.
    pub scanned: usize,
    pub redelivered: Vec<HookDeliveryId>,
    pub given_up: Vec<DeliveryGuid>,
    /// Redelivery requests GitHub refused, with its reason (retried next pass).
    pub refused: Vec<(HookDeliveryId, String)>,
}

/// Finds and redelivers missed deliveries, on start and on an interval.
pub struct DeliveryRecovery<L, T = Alone> {
    client: GitHubClient,
    ledger: Arc<L>,
    turns: Arc<T>,
    clock: Arc<dyn Clock>,
    settings: RecoverySettings,
    contact: Option<Arc<LastContact>>,
}

impl<L: DeliveryLedger> DeliveryRecovery<L> {
    /// `client` must act as the App (see [`super::AppAuth::app_client`]).
    /// Every pass runs; see [`Self::taking_turns`] for replicas.
    pub fn new(
        client: GitHubClient,
        ledger: Arc<L>,
        clock: Arc<dyn Clock>,
        settings: RecoverySettings,
    ) -> Self {
        Self {
            client,
            ledger,
            turns: Arc::new(Alone),
            clock,
            settings,
            contact: None,
        }
    }

    /// Runs a pass only when this replica gets the turn from `turns`.
    pub fn taking_turns<T: RecoveryTurns>(self, turns: Arc<T>) -> DeliveryRecovery<L, T> {
        DeliveryRecovery {
            client: self.client,
            ledger: self.ledger,
            turns,
            clock: self.clock,
            settings: self.settings,
            contact: self.contact,
        }
    }
}

impl<L: DeliveryLedger, T: RecoveryTurns> DeliveryRecovery<L, T> {
    /// Records how each pass [`Self::run`] makes went in `contact` (`/readyz`).
    pub fn reporting_to(mut self, contact: Arc<LastContact>) -> Self {
        self.contact = Some(contact);
        self
    }

    /// One round: takes the turn and runs a pass, or returns `None` at once
    /// when another replica holds the turn. A pass longer than `interval` is
    /// abandoned (its turn given back) and reported as an error.
    pub async fn run_turn(&self) -> Result<Option<RecoveryReport>, RecoveryError> {
        let Some(turn) = self.turns.try_take().await? else {
            tracing::debug!("another replica is recovering missed deliveries; skipping this round");
            return Ok(None);
        };
        let pass = tokio::time::timeout(self.settings.interval, self.run_once()).await;
        self.turns.end(turn).await;
        match pass {
            Ok(report) => report.map(Some),
            Err(_) => Err(RecoveryError::TimedOut(self.settings.interval)),
        }
    }

    /// One pass: page through failed deliveries (newest first) back to the
    /// window's start, ask the ledger which it holds, redeliver the rest.
    pub async fn run_once(&self) -> Result<RecoveryReport, RecoveryError> {
        let now = self.clock.now();
        let oldest = now - self.settings.window;
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..self.settings.max_pages {
            let page = self
                .client
                .list_hook_deliveries(cursor.as_deref(), 100, Some("failure"))
                .await?;
            let reached_oldest = page.deliveries.iter().any(|d| d.delivered_at < oldest);
            seen.extend(
                page.deliveries
                    .into_iter()
                    .filter(|d| d.delivered_at >= oldest),
            );
            match page.next_cursor {
                Some(next) if !reached_oldest => cursor = Some(next),
                _ => break,
            }
        }
        let guids: Vec<DeliveryGuid> = seen
            .iter()
            .map(|d| d.guid.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut known = HashSet::new();
        for chunk in guids.chunks(500) {
            known.extend(self.ledger.known(chunk).await?);
        }
        let plan = plan(&seen, &known, now, &self.settings);
        let mut report = RecoveryReport {
            scanned: seen.len(),
            given_up: plan.given_up,
            ..Default::default()
        };
        for id in plan.redeliver {
            match self.client.redeliver(id).await {
                Ok(()) => report.redelivered.push(id),
                Err(e @ OpsError::Api { .. }) => report.refused.push((id, e.to_string())),
                Err(e) => return Err(e.into()),
            }
        }
        for guid in &report.given_up {
            tracing::warn!(%guid, "delivery still missing after repeated redeliveries; giving up");
        }
        tracing::info!(
            scanned = report.scanned,
            redelivered = report.redelivered.len(),
            refused = report.refused.len(),
            "missed-delivery recovery pass"
        );
        Ok(report)
    }

    /// Runs a round ([`Self::run_turn`]) now and then every `interval` until
    /// `shutdown` resolves. A failed pass is logged and the next one tried on schedule.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut ticker = tokio::time::interval(self.settings.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticker.tick() => {
                    let outcome = match self.run_turn().await {
                        // Another replica's turn: no call was made.
                        Ok(None) => continue,
                        Ok(Some(_)) => Ok(()),
                        Err(error) => {
                            tracing::warn!(%error, "missed-delivery recovery pass failed");
                            Err(error.to_string())
                        }
                    };
                    if let Some(contact) = &self.contact {
                        contact.record(outcome);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn attempt(
        id: u64,
        guid: &str,
        minutes_ago: i64,
        status_code: u16,
        redelivery: bool,
    ) -> HookDelivery {
        HookDelivery {
            id: HookDeliveryId(id),
            guid: DeliveryGuid::from(guid),
            delivered_at: now() - TimeDelta::minutes(minutes_ago),
            redelivery,
            status: if status_code == 0 {
                "failed to connect".into()
            } else {
                "Invalid HTTP Response: 503".into()
            },
            status_code,
            event: "issue_comment".into(),
            action: Some("created".into()),
            installation_id: None,
            repository_id: None,
        }
    }

    #[test]
    fn missing_failed_deliveries_are_redelivered_once_by_their_newest_attempt() {
        let deliveries = [
            attempt(1, "a", 30, 503, false),
            attempt(2, "a", 20, 0, true),
            attempt(3, "b", 30, 0, false),
        ];
        let plan = plan(
            &deliveries,
            &HashSet::new(),
            now(),
            &RecoverySettings::default(),
        );
        assert_eq!(plan.redeliver, vec![HookDeliveryId(2), HookDeliveryId(3)]);
        assert!(plan.given_up.is_empty());
    }

    #[test]
    fn known_succeeded_and_fresh_deliveries_are_left_alone() {
        let deliveries = [
            attempt(1, "known", 30, 503, false),
            attempt(2, "later-ok", 30, 503, false),
            attempt(3, "later-ok", 25, 202, true),
            attempt(4, "fresh", 0, 503, false),
        ];
        let known = HashSet::from([DeliveryGuid::from("known")]);
        let plan = plan(&deliveries, &known, now(), &RecoverySettings::default());
        assert_eq!(plan, Plan::default());
    }

    #[test]
    fn repeated_redeliveries_are_given_up() {
        let deliveries = [
            attempt(1, "stuck", 90, 503, false),
            attempt(2, "stuck", 60, 503, true),
            attempt(3, "stuck", 40, 503, true),
            attempt(4, "stuck", 20, 503, true),
        ];
        let plan = plan(
            &deliveries,
            &HashSet::new(),
            now(),
            &RecoverySettings::default(),
        );
        assert!(plan.redeliver.is_empty());
        assert_eq!(plan.given_up, vec![DeliveryGuid::from("stuck")]);
    }
}

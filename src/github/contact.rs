//! What `/readyz` says about GitHub: how Fixwright's latest call as the App
//! (the start-up credential check, each missed-delivery recovery pass) went.
//! Information only: deliveries are received and stored whether or not GitHub
//! answers, so an unreachable GitHub never makes the server unready.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The outcome of one call to GitHub.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Contact {
    pub at: DateTime<Utc>,
    pub reachable: bool,
    /// Why not, when it was not.
    pub error: Option<String>,
}

/// The latest [`Contact`], shared between whoever calls GitHub and `/readyz`.
#[derive(Debug, Default)]
pub struct LastContact(Mutex<Option<Contact>>);

impl LastContact {
    pub fn record(&self, outcome: Result<(), String>) {
        let contact = Contact {
            at: Utc::now(),
            reachable: outcome.is_ok(),
            error: outcome.err(),
        };
        if let Ok(mut last) = self.0.lock() {
            *last = Some(contact);
        }
    }

    /// `None` until the first call.
    pub fn latest(&self) -> Option<Contact> {
        self.0.lock().ok().and_then(|last| last.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_contact_wins() {
        let last = LastContact::default();
        assert_eq!(last.latest(), None);
        last.record(Err("connection refused".into()));
        let first = last.latest();
        assert_eq!(first.as_ref().map(|c| c.reachable), Some(false));
        assert_eq!(
            first.and_then(|c| c.error).as_deref(),
            Some("connection refused")
        );
        last.record(Ok(()));
        let second = last.latest();
        assert_eq!(second.as_ref().map(|c| c.reachable), Some(true));
        assert_eq!(second.and_then(|c| c.error), None);
    }
}

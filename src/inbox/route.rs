//! Pure decisions: what a delivery is, whether it may start work, and what a
//! failure leads to.

use std::time::Duration;

use serde::Deserialize;

use crate::store::inbox::{Envelope, InstallationId};

/// Reads the envelope every event shares. `bot_login` is the App's own login
/// (`<slug>[bot]`); a delivery sent by it is marked `from_app`.
pub fn envelope(
    delivery_id: &str,
    event: &str,
    body: &[u8],
    bot_login: Option<&str>,
) -> Result<Envelope, String> {
    #[derive(Deserialize)]
    struct Id {
        id: i64,
    }
    #[derive(Deserialize)]
    struct Sender {
        login: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    #[derive(Deserialize)]
    struct Repository {
        full_name: Option<String>,
    }
    #[derive(Deserialize)]
    struct Raw {
        action: Option<String>,
        installation: Option<Id>,
        sender: Option<Sender>,
        repository: Option<Repository>,
    }
    let raw: Raw = serde_json::from_slice(body)
        .map_err(|e| format!("stored payload of a {event} event is not an envelope: {e}"))?;
    let sender_login = raw.sender.as_ref().and_then(|s| s.login.clone());
    let from_app = match (bot_login, &sender_login) {
        (Some(bot), Some(login)) => bot.eq_ignore_ascii_case(login),
        _ => false,
    };
    Ok(Envelope {
        delivery_id: delivery_id.to_owned(),
        event: event.to_owned(),
        action: raw.action,
        installation_id: raw.installation.map(|i| i.id),
        sender_login,
        sender_type: raw.sender.and_then(|s| s.kind),
        repository: raw.repository.and_then(|r| r.full_name),
        from_app,
    })
}

/// What a delivery leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Caused by Fixwright itself: recorded, never starts work (no feedback loops).
    FromApp,
    /// The App was uninstalled: drop its tokens and purge its stored payloads.
    InstallationDeleted(InstallationId),
    /// Everything else goes to the handler.
    Work,
}

/// Decides the route of a delivery from its envelope.
pub fn route(envelope: &Envelope) -> Route {
    if envelope.from_app {
        return Route::FromApp;
    }
    match (
        envelope.event.as_str(),
        envelope.action.as_deref(),
        envelope.installation_id,
    ) {
        ("installation", Some("deleted"), Some(id)) => {
            Route::InstallationDeleted(InstallationId(id))
        }
        _ => Route::Work,
    }
}

/// Backoff before try `tries + 1`: `base * 2^(tries-1)`, capped at `max`.
pub fn backoff(tries: u32, base: Duration, max: Duration) -> Duration {
    let exponent = tries.saturating_sub(1).min(30);
    base.saturating_mul(1u32 << exponent).min(max)
}

/// What happens after a failed try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureAction {
    RetryAfter(Duration),
    DeadLetter,
}

/// A permanent failure, or the last allowed try, dead-letters; anything else retries.
pub fn failure_action(
    tries: u32,
    max_tries: u32,
    permanent: bool,
    base: Duration,
    max: Duration,
) -> FailureAction {
    if permanent || tries >= max_tries {
        FailureAction::DeadLetter
    } else {
        FailureAction::RetryAfter(backoff(tries, base, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_route_bot_and_uninstall() {
        let body = br#"{"action":"created","installation":{"id":7},
            "sender":{"login":"Fixwright[bot]","type":"Bot"},
            "repository":{"full_name":"acme/scrapers"}}"#;
        let own = envelope("d1", "issue_comment", body, Some("fixwright[bot]"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(own.from_app);
        assert_eq!(own.repository.as_deref(), Some("acme/scrapers"));
        assert_eq!(route(&own), Route::FromApp);
        let other = envelope("d1", "issue_comment", body, Some("other[bot]"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(route(&other), Route::Work);
        let gone = envelope(
            "d2",
            "installation",
            br#"{"action":"deleted","installation":{"id":9},"sender":{"login":"alice","type":"User"}}"#,
            Some("fixwright[bot]"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(route(&gone), Route::InstallationDeleted(InstallationId(9)));
        assert!(envelope("d3", "push", b"[]", None).is_err());
    }

    #[test]
    fn inbox_backoff_doubles_and_caps() {
        let s = Duration::from_secs;
        assert_eq!(backoff(1, s(5), s(60)), s(5));
        assert_eq!(backoff(2, s(5), s(60)), s(10));
        assert_eq!(backoff(4, s(5), s(60)), s(40));
        assert_eq!(backoff(5, s(5), s(60)), s(60));
        assert_eq!(backoff(500, s(5), s(60)), s(60));
        assert_eq!(
            failure_action(2, 3, false, s(5), s(60)),
            FailureAction::RetryAfter(s(10))
        );
        assert_eq!(
            failure_action(3, 3, false, s(5), s(60)),
            FailureAction::DeadLetter
        );
        assert_eq!(
            failure_action(1, 3, true, s(5), s(60)),
            FailureAction::DeadLetter
        );
    }
}

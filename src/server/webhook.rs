//! `POST /webhooks/github`: verify over the raw bytes, store durably, then answer.
//!
//! Order of checks, each answering before any later work: size (413), signature
//! (401, nothing stored), GitHub's headers (400), then the delivery is written and
//! only after the commit answered 202 (new), 200 (delivery id already stored) or
//! 400 (signed but not a JSON object: stored as rejected with the reason). A write
//! that fails answers 503 so GitHub records a failed delivery that can be redelivered.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;
use tracing::Instrument;

use super::EdgeContext;
use crate::config::MAX_WEBHOOK_BODY;
use crate::store::inbox::{DeliveryId, Inserted, InstallationId, Millis, NewDelivery};

/// Whether `header` (the `X-Hub-Signature-256` value, `sha256=<hex>`) is the
/// HMAC-SHA256 of `body` under any of `secrets`. Compared in constant time.
pub fn signature_matches(secrets: &[SecretString], header: &[u8], body: &[u8]) -> bool {
    let Some(hex_digest) = header.strip_prefix(b"sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    secrets.iter().any(|secret| {
        match Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) {
            Ok(mut mac) => {
                mac.update(body);
                mac.verify_slice(&expected).is_ok()
            }
            Err(_) => false,
        }
    })
}

/// What a delivery's headers must name.
#[derive(Debug, PartialEq, Eq)]
pub struct DeliveryHeaders {
    pub event: String,
    pub delivery: DeliveryId,
}

/// Reads `X-GitHub-Event` and `X-GitHub-Delivery`; the error names the header at fault.
pub fn delivery_headers(headers: &HeaderMap) -> Result<DeliveryHeaders, &'static str> {
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .filter(|e| {
            !e.is_empty() && e.len() <= 64 && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
        .ok_or("missing or malformed X-GitHub-Event header")?;
    let delivery = headers
        .get("x-github-delivery")
        .and_then(|v| v.to_str().ok())
        .and_then(DeliveryId::parse)
        .ok_or("missing or malformed X-GitHub-Delivery header")?;
    Ok(DeliveryHeaders {
        event: event.to_owned(),
        delivery,
    })
}

/// The few fields the inbox indexes; everything else stays in the stored body.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PayloadHead {
    pub action: Option<String>,
    pub installation: Option<InstallationId>,
}

/// Parses the body as a JSON object (validating all of it) and picks out the head,
/// or says why it is unusable.
pub fn payload_head(body: &[u8]) -> Result<PayloadHead, String> {
    #[derive(Deserialize)]
    struct Installation {
        id: i64,
    }
    #[derive(Deserialize)]
    struct Head {
        action: Option<String>,
        installation: Option<Installation>,
    }
    let value_kind = body.iter().find(|b| !b.is_ascii_whitespace());
    if value_kind != Some(&b'{') {
        return Err("payload is not a JSON object".to_owned());
    }
    let head: Head =
        serde_json::from_slice(body).map_err(|e| format!("payload is not valid JSON: {e}"))?;
    Ok(PayloadHead {
        action: head.action,
        installation: head.installation.map(|i| InstallationId(i.id)),
    })
}

/// Permits of the in-flight budget are KiB, so a u32 count covers any sane budget.
pub(super) fn permits_for(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX)
}

fn answer(status: StatusCode, message: &'static str) -> Response {
    (status, message).into_response()
}

fn count(event: &str, outcome: &'static str) {
    metrics::counter!("fixwright_webhook_deliveries_total", "event" => event.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// The handler behind `POST /webhooks/github`.
pub async fn receive(
    State(ctx): State<Arc<EdgeContext>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_WEBHOOK_BODY) {
        count("unverified", "too_large");
        return answer(StatusCode::PAYLOAD_TOO_LARGE, "payload exceeds 25 MiB");
    }
    // Reserve the body's size (the maximum when undeclared) before reading it, so the
    // bytes held in memory across all requests stay under the configured budget.
    let want = permits_for(declared.unwrap_or(MAX_WEBHOOK_BODY)).min(ctx.in_flight_permits);
    let Ok(_permit) = ctx.in_flight.clone().acquire_many_owned(want).await else {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let bytes = match Limited::new(body, MAX_WEBHOOK_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            count("unverified", "too_large");
            return answer(StatusCode::PAYLOAD_TOO_LARGE, "payload exceeds 25 MiB");
        }
        Err(_) => return answer(StatusCode::BAD_REQUEST, "cannot read the request body"),
    };
    let signature = headers
        .get("x-hub-signature-256")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !signature_matches(&ctx.secrets, signature, &bytes) {
        count("unverified", "bad_signature");
        return answer(
            StatusCode::UNAUTHORIZED,
            "missing or invalid X-Hub-Signature-256",
        );
    }
    let DeliveryHeaders { event, delivery } = match delivery_headers(&headers) {
        Ok(h) => h,
        Err(why) => {
            count("unknown", "bad_headers");
            return answer(StatusCode::BAD_REQUEST, why);
        }
    };
    let span = tracing::info_span!("webhook", delivery = %delivery, event = %event);
    store_delivery(&ctx, event, delivery, &bytes)
        .instrument(span)
        .await
}

async fn store_delivery(
    ctx: &EdgeContext,
    event: String,
    delivery: DeliveryId,
    body: &[u8],
) -> Response {
    let (head, rejected) = match payload_head(body) {
        Ok(head) => (head, None),
        Err(reason) => (PayloadHead::default(), Some(reason)),
    };
    let is_rejected = rejected.is_some();
    let new = match NewDelivery::new(
        delivery,
        event.clone(),
        head.action,
        head.installation,
        rejected,
        Millis::now(),
        body,
    ) {
        Ok(new) => new,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the delivery");
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot encode the delivery",
            );
        }
    };
    let started = std::time::Instant::now();
    let stored = ctx.writer.write(new).await;
    metrics::histogram!("fixwright_webhook_store_seconds").record(started.elapsed());
    match stored {
        Ok(Inserted::New) if is_rejected => {
            tracing::warn!("signed delivery kept as rejected: not a JSON object");
            count(&event, "rejected");
            answer(
                StatusCode::BAD_REQUEST,
                "payload is not a JSON object; kept as rejected",
            )
        }
        Ok(Inserted::New) => {
            tracing::debug!("delivery stored");
            count(&event, "accepted");
            answer(StatusCode::ACCEPTED, "stored")
        }
        Ok(Inserted::Duplicate) => {
            tracing::info!("delivery id already stored; no new work");
            count(&event, "duplicate");
            answer(StatusCode::OK, "already stored")
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store the delivery; answering 503");
            count(&event, "store_failed");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot store the delivery; retry later",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_signature_github_vector() {
        let secrets = [SecretString::from("It's a Secret to Everybody")];
        let sig = b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signature_matches(&secrets, sig, b"Hello, World!"));
        assert!(!signature_matches(&secrets, sig, b"Hello, World?"));
        assert!(!signature_matches(&secrets, b"sha1=abc", b"Hello, World!"));
        assert!(!signature_matches(&secrets, b"sha256=zz", b"Hello, World!"));
        assert!(!signature_matches(&[], sig, b"Hello, World!"));
    }

    #[test]
    fn webhook_payload_head() {
        let head = payload_head(br#"{"action":"created","installation":{"id":42},"x":[1]}"#);
        assert_eq!(
            head,
            Ok(PayloadHead {
                action: Some("created".into()),
                installation: Some(InstallationId(42)),
            })
        );
        assert!(payload_head(b"[1,2]").is_err());
        assert!(payload_head(b"{\"a\":").is_err());
        assert!(payload_head(b"payload=%7B%7D").is_err());
        assert_eq!(permits_for(0), 1);
        assert_eq!(permits_for(1025), 2);
    }
}

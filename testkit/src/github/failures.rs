//! Failure injection: make the next N requests to an operation fail the way GitHub does.

use std::time::Duration;

use serde_json::json;

/// How a request is made to fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A server error with this status (500, 502, 503, ...).
    ServerError(u16),
    /// GitHub's secondary rate limit: 403 with `retry-after: secs`.
    SecondaryRateLimit {
        retry_after_secs: u64,
    },
    /// 429 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` this many seconds from now.
    RateLimited {
        reset_in_secs: u64,
    },
    NotFound,
    Conflict,
    Unprocessable,
    /// Answer normally, but only after this delay.
    Delay(Duration),
}

/// A pending failure for one operation (`"*"` matches every operation).
#[derive(Debug, Clone)]
pub struct FailureRule {
    pub operation_id: String,
    pub failure: Failure,
    pub remaining: u32,
}

/// A ready-made failing answer.
#[derive(Debug, Clone)]
pub struct FailureReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

/// The answer for `failure`, or `None` for a delay (which answers normally).
pub fn reply_for(failure: &Failure, now_epoch: i64) -> Option<FailureReply> {
    let docs = "https://docs.github.com/rest";
    let plain = |status: u16, message: &str| FailureReply {
        status,
        headers: Vec::new(),
        body: json!({ "message": message, "documentation_url": docs }),
    };
    match failure {
        Failure::ServerError(status) => Some(plain(*status, "Server Error")),
        Failure::SecondaryRateLimit { retry_after_secs } => Some(FailureReply {
            status: 403,
            headers: vec![("retry-after".into(), retry_after_secs.to_string())],
            body: json!({
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "documentation_url": docs
            }),
        }),
        Failure::RateLimited { reset_in_secs } => {
            let reset = now_epoch + i64::try_from(*reset_in_secs).unwrap_or(i64::MAX / 2);
            Some(FailureReply {
                status: 429,
                headers: vec![
                    ("x-ratelimit-limit".into(), "5000".into()),
                    ("x-ratelimit-remaining".into(), "0".into()),
                    ("x-ratelimit-used".into(), "5000".into()),
                    ("x-ratelimit-reset".into(), reset.to_string()),
                ],
                body: json!({ "message": "API rate limit exceeded", "documentation_url": docs }),
            })
        }
        Failure::NotFound => Some(plain(404, "Not Found")),
        Failure::Conflict => Some(plain(409, "Conflict")),
        Failure::Unprocessable => Some(plain(422, "Validation Failed")),
        Failure::Delay(_) => None,
    }
}

/// Takes one use of the first rule that matches `operation_id`.
pub fn take(rules: &mut Vec<FailureRule>, operation_id: &str) -> Option<Failure> {
    let index = rules.iter().position(|r| {
        r.remaining > 0 && (r.operation_id == operation_id || r.operation_id == "*")
    })?;
    let rule = &mut rules[index];
    rule.remaining -= 1;
    let failure = rule.failure.clone();
    if rule.remaining == 0 {
        rules.remove(index);
    }
    Some(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_used_up_in_order_and_wildcards_match_everything() {
        let mut rules = vec![
            FailureRule {
                operation_id: "pulls/merge".into(),
                failure: Failure::Conflict,
                remaining: 1,
            },
            FailureRule {
                operation_id: "*".into(),
                failure: Failure::ServerError(502),
                remaining: 2,
            },
        ];
        assert_eq!(take(&mut rules, "pulls/merge"), Some(Failure::Conflict));
        assert_eq!(
            take(&mut rules, "pulls/merge"),
            Some(Failure::ServerError(502))
        );
        assert_eq!(
            take(&mut rules, "issues/create"),
            Some(Failure::ServerError(502))
        );
        assert_eq!(take(&mut rules, "issues/create"), None);
        let reply = reply_for(&Failure::RateLimited { reset_in_secs: 3 }, 100);
        let reply = reply.map(|r| (r.status, r.headers));
        assert!(reply.is_some_and(
            |(s, h)| s == 429 && h.contains(&("x-ratelimit-reset".into(), "103".into()))
        ));
    }
}

//! The one retry policy for every GitHub call.
//!
//! The decision ([`RetryPolicy::decide`]) is a pure function of the attempt
//! number, whether the call may be replayed, and what GitHub answered (status
//! and headers). [`RetryPolicy::run`] and [`RetryPolicy::run_checked`] apply it.
//! A call with side effects that failed with a 5xx or a dropped connection may
//! already have happened on GitHub's side, so it is only repeated after a
//! check of GitHub's state says it did not.
//!
//! A 409 Conflict is never retried here: it means GitHub's state is not what
//! the call assumed (a merge's head SHA moved, a ref update lost a race), and
//! sending the same request again cannot change that. The policy hands it to
//! the operation, which reads the state and decides (see
//! `docs/architecture.md`, "Conflicts").

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode};

/// Whether a call may be sent again without looking at GitHub's state first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Reads, `PUT`/`PATCH`/`DELETE` that set a state, and `POST`s whose effect
    /// is the same however often they run (git blobs, trees and commits are
    /// content-addressed; adding labels or a reaction is a set operation).
    Safe,
    /// A `POST` that creates something new each time (a pull request, a
    /// comment, a check run): after an ambiguous failure, look before repeating.
    CheckFirst,
}

/// What one attempt produced, as far as the policy cares.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// GitHub answered with this status and headers.
    Status(StatusCode, &'a HeaderMap),
    /// No answer: connection refused, reset or timed out. The request may or
    /// may not have reached GitHub.
    Transport,
    /// A failure that no retry can fix (bad request building, undecodable body).
    Fatal,
}

/// The policy's verdict for one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Hand the result to the caller (success, or an error not worth repeating).
    Return,
    /// Send the same request again after waiting.
    Retry {
        after: Duration,
        reason: RetryReason,
    },
    /// The call may have taken effect: check GitHub's state, and only if the
    /// effect is absent send it again after waiting.
    CheckThenRetry { after: Duration },
}

/// Why a retry was chosen (logged, and asserted on in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    ServerError,
    Transport,
    RateLimited,
}

/// Waits between attempts; injectable so tests neither sleep nor guess.
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// Resolves after `duration` (or sooner, in tests).
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// Sleeps on the tokio timer.
#[derive(Debug, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Records every requested wait and returns at once.
#[derive(Debug, Default)]
pub struct RecordingSleeper {
    waits: Mutex<Vec<Duration>>,
}

impl RecordingSleeper {
    /// The waits requested so far, in order.
    pub fn waits(&self) -> Vec<Duration> {
        self.waits.lock().map(|w| w.clone()).unwrap_or_default()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        if let Ok(mut waits) = self.waits.lock() {
            waits.push(duration);
        }
        Box::pin(std::future::ready(()))
    }
}

/// Bounded attempts with exponential backoff, honouring GitHub's rate-limit
/// headers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt after a 5xx or transport error; doubles each time.
    pub base_backoff: Duration,
    /// Upper bound of the exponential backoff.
    pub max_backoff: Duration,
    /// Longest rate-limit wait the policy accepts; a longer one is returned to
    /// the caller as a rate-limit error rather than stalling a worker.
    pub max_wait: Duration,
    /// How waits happen.
    pub sleeper: Arc<dyn Sleeper>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(120),
            sleeper: Arc::new(TokioSleeper),
        }
    }
}

/// GitHub's documented fallback wait for a secondary rate limit without headers.
const SECONDARY_LIMIT_FALLBACK: Duration = Duration::from_secs(60);

impl RetryPolicy {
    /// A policy for tests: same decisions, waits recorded instead of slept.
    pub fn recorded(sleeper: Arc<RecordingSleeper>) -> Self {
        Self {
            base_backoff: Duration::from_millis(10),
            sleeper,
            ..Self::default()
        }
    }

    /// Decides what to do after attempt number `attempt` (1-based) ended in `outcome`.
    pub fn decide(
        &self,
        attempt: u32,
        replay: Replay,
        outcome: Outcome<'_>,
        now: SystemTime,
    ) -> Verdict {
        if attempt >= self.max_attempts.max(1) {
            return Verdict::Return;
        }
        match outcome {
            Outcome::Fatal => Verdict::Return,
            Outcome::Transport => self.ambiguous(attempt, replay, RetryReason::Transport),
            Outcome::Status(status, headers) => {
                if let Some(wait) = rate_limit_wait(status, headers, now) {
                    // A rate-limited request was refused before it did anything,
                    // so even a creating POST may be repeated.
                    return if wait <= self.max_wait {
                        Verdict::Retry {
                            after: wait,
                            reason: RetryReason::RateLimited,
                        }
                    } else {
                        Verdict::Return
                    };
                }
                if status.is_server_error() {
                    self.ambiguous(attempt, replay, RetryReason::ServerError)
                } else {
                    // 2xx, 3xx, and 4xx that say something definite (404 absent,
                    // 409 conflict, 422 invalid): repeating changes nothing.
                    Verdict::Return
                }
            }
        }
    }

    fn ambiguous(&self, attempt: u32, replay: Replay, reason: RetryReason) -> Verdict {
        let after = self.backoff(attempt);
        match replay {
            Replay::Safe => Verdict::Retry { after, reason },
            Replay::CheckFirst => Verdict::CheckThenRetry { after },
        }
    }

    /// The backoff after attempt number `attempt` (1-based): base, 2·base, 4·base …, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// Runs `call` until the policy says stop. `Replay::CheckFirst` calls are
    /// not repeated after an ambiguous failure (use [`Self::run_checked`]).
    pub async fn run<T, E, F, Fut>(&self, replay: Replay, call: F) -> Result<T, E>
    where
        E: Classify,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_checked(replay, call, || std::future::ready(Ok(None)))
            .await
    }

    /// Runs `call`; after an ambiguous failure of a `CheckFirst` call, runs
    /// `check` and returns what it found (the effect did happen) or repeats
    /// `call` (it did not). A failing check ends the loop with its error.
    pub async fn run_checked<T, E, F, Fut, C, CFut>(
        &self,
        replay: Replay,
        mut call: F,
        mut check: C,
    ) -> Result<T, E>
    where
        E: Classify,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: FnMut() -> CFut,
        CFut: Future<Output = Result<Option<T>, E>>,
    {
        let mut attempt = 1;
        loop {
            let error = match call().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let verdict = error
                .with_outcome(|outcome| self.decide(attempt, replay, outcome, SystemTime::now()));
            match verdict {
                Verdict::Return => return Err(error),
                Verdict::Retry { after, reason } => {
                    tracing::debug!(
                        attempt,
                        ?reason,
                        wait_ms = after.as_millis() as u64,
                        "retrying GitHub call"
                    );
                    self.sleeper.sleep(after).await;
                }
                Verdict::CheckThenRetry { after } => {
                    self.sleeper.sleep(after).await;
                    if let Some(found) = check().await? {
                        tracing::debug!(
                            attempt,
                            "ambiguous failure had taken effect; not repeating"
                        );
                        return Ok(found);
                    }
                }
            }
            attempt += 1;
        }
    }
}

/// An error the policy can read: what GitHub answered, if anything.
pub trait Classify {
    /// Calls `f` with this error's [`Outcome`].
    fn with_outcome<R>(&self, f: impl FnOnce(Outcome<'_>) -> R) -> R;
}

/// How long GitHub asks us to wait, if this response is a rate limit.
///
/// Primary and secondary limits come as 403 or 429. `retry-after` wins; else
/// an exhausted quota (`x-ratelimit-remaining: 0`) waits until
/// `x-ratelimit-reset`; else a 429 waits GitHub's documented minute. A 403
/// without any of these is a permission answer, not a limit.
pub fn rate_limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if header("x-ratelimit-remaining") == Some("0")
        && let Some(reset) = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok())
    {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // One second past the reset: the reset time is rounded down.
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    (status == StatusCode::TOO_MANY_REQUESTS).then_some(SECONDARY_LIMIT_FALLBACK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn policy() -> RetryPolicy {
        RetryPolicy::recorded(Arc::new(RecordingSleeper::default()))
    }

    const NOW: Duration = Duration::from_secs(1_700_000_000);

    fn decide(status: u16, h: &HeaderMap, replay: Replay) -> Verdict {
        policy().decide(
            1,
            replay,
            Outcome::Status(StatusCode::from_u16(status).unwrap(), h),
            UNIX_EPOCH + NOW,
        )
    }

    #[test]
    fn server_errors_retry_safe_calls_with_backoff() {
        for status in [500, 502, 503, 504] {
            assert_eq!(
                decide(status, &HeaderMap::new(), Replay::Safe),
                Verdict::Retry {
                    after: Duration::from_millis(10),
                    reason: RetryReason::ServerError
                }
            );
        }
    }

    #[test]
    fn server_errors_on_creating_calls_check_first() {
        assert_eq!(
            decide(502, &HeaderMap::new(), Replay::CheckFirst),
            Verdict::CheckThenRetry {
                after: Duration::from_millis(10)
            }
        );
        assert_eq!(
            policy().decide(2, Replay::CheckFirst, Outcome::Transport, UNIX_EPOCH + NOW),
            Verdict::CheckThenRetry {
                after: Duration::from_millis(20)
            }
        );
    }

    #[test]
    fn retry_after_is_honoured_even_for_creating_calls() {
        let h = headers(&[("retry-after", "7")]);
        for status in [403, 429] {
            assert_eq!(
                decide(status, &h, Replay::CheckFirst),
                Verdict::Retry {
                    after: Duration::from_secs(7),
                    reason: RetryReason::RateLimited
                }
            );
        }
    }

    #[test]
    fn exhausted_quota_waits_until_reset() {
        let reset = (NOW.as_secs() + 42).to_string();
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]);
        assert_eq!(
            decide(403, &h, Replay::Safe),
            Verdict::Retry {
                after: Duration::from_secs(43),
                reason: RetryReason::RateLimited
            }
        );
    }

    #[test]
    fn secondary_limit_without_headers_waits_a_minute_on_429_only() {
        assert_eq!(
            decide(429, &HeaderMap::new(), Replay::Safe),
            Verdict::Retry {
                after: Duration::from_secs(60),
                reason: RetryReason::RateLimited
            }
        );
        // A plain 403 is "you may not", and so is a 403 with quota left.
        assert_eq!(
            decide(403, &HeaderMap::new(), Replay::Safe),
            Verdict::Return
        );
        let h = headers(&[
            ("x-ratelimit-remaining", "12"),
            ("x-ratelimit-reset", "1700000042"),
        ]);
        assert_eq!(decide(403, &h, Replay::Safe), Verdict::Return);
    }

    #[test]
    fn waits_longer_than_the_cap_are_returned_to_the_caller() {
        let h = headers(&[("retry-after", "3600")]);
        assert_eq!(decide(429, &h, Replay::Safe), Verdict::Return);
    }

    #[test]
    fn definite_answers_are_never_retried() {
        for status in [200, 201, 204, 304, 400, 401, 404, 405, 409, 410, 422] {
            assert_eq!(
                decide(status, &HeaderMap::new(), Replay::Safe),
                Verdict::Return,
                "{status}"
            );
        }
    }

    #[test]
    fn attempts_are_bounded_and_backoff_is_capped() {
        let p = RetryPolicy {
            max_backoff: Duration::from_millis(50),
            ..policy()
        };
        let h = HeaderMap::new();
        let at = |n| {
            p.decide(
                n,
                Replay::Safe,
                Outcome::Status(StatusCode::BAD_GATEWAY, &h),
                UNIX_EPOCH + NOW,
            )
        };
        assert_eq!(
            at(4),
            Verdict::Retry {
                after: Duration::from_millis(50),
                reason: RetryReason::ServerError
            }
        );
        assert_eq!(at(5), Verdict::Return);
        assert_eq!(p.backoff(1), Duration::from_millis(10));
        assert_eq!(p.backoff(3), Duration::from_millis(40));
        assert_eq!(p.backoff(40), Duration::from_millis(50));
    }

    #[derive(Debug)]
    struct Status(u16);

    impl Classify for Status {
        fn with_outcome<R>(&self, f: impl FnOnce(Outcome<'_>) -> R) -> R {
            f(Outcome::Status(
                StatusCode::from_u16(self.0).unwrap_or(StatusCode::IM_A_TEAPOT),
                &HeaderMap::new(),
            ))
        }
    }

    #[tokio::test]
    async fn run_checked_returns_the_effect_found_instead_of_repeating() {
        let sleeper = Arc::new(RecordingSleeper::default());
        let p = RetryPolicy::recorded(sleeper.clone());
        let mut calls = 0;
        let result: Result<&str, Status> = p
            .run_checked(
                Replay::CheckFirst,
                || {
                    calls += 1;
                    std::future::ready(Err(Status(502)))
                },
                || std::future::ready(Ok(Some("existing"))),
            )
            .await;
        assert_eq!(result.unwrap(), "existing");
        assert_eq!(calls, 1);
        assert_eq!(sleeper.waits(), vec![Duration::from_millis(10)]);
    }

    #[tokio::test]
    async fn a_conflict_is_surfaced_after_one_attempt_without_a_check() {
        for replay in [Replay::Safe, Replay::CheckFirst] {
            let sleeper = Arc::new(RecordingSleeper::default());
            let p = RetryPolicy::recorded(sleeper.clone());
            let (mut calls, mut checks) = (0, 0);
            let result: Result<(), Status> = p
                .run_checked(
                    replay,
                    || {
                        calls += 1;
                        std::future::ready(Err(Status(409)))
                    },
                    || {
                        checks += 1;
                        std::future::ready(Ok(Some(())))
                    },
                )
                .await;
            assert_eq!(result.unwrap_err().0, 409, "{replay:?}");
            assert_eq!((calls, checks), (1, 0), "{replay:?}: one call, no check");
            assert!(sleeper.waits().is_empty(), "{replay:?}");
        }
    }

    #[tokio::test]
    async fn run_stops_after_max_attempts() {
        let sleeper = Arc::new(RecordingSleeper::default());
        let p = RetryPolicy::recorded(sleeper.clone());
        let mut calls = 0;
        let result: Result<(), Status> = p
            .run(Replay::Safe, || {
                calls += 1;
                std::future::ready(Err(Status(503)))
            })
            .await;
        assert_eq!(result.unwrap_err().0, 503);
        assert_eq!(calls, 5);
        assert_eq!(sleeper.waits().len(), 4);
    }
}

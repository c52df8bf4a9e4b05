//! The diagnosis: which error class a failure belongs to, and why.
//!
//! Classification is a pure function of the evidence. Every rule that fires
//! becomes a [`Reason`] naming the log line (or the response) and the rule, so
//! the decision can be shown to a human and replayed in tests.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::evidence::{Evidence, ScraperName, UpstreamHost};
use super::fingerprint::Fingerprint;
use super::signals::{
    LineFacts, Signal, Weight, exception_signal, is_own_frame, line_signals, most_frequent_host,
    no_rule, response_signal, spider_error_host,
};
use super::traceback::{ExceptionBlock, Frame, Traceback, log_lines, parse_lines};

/// What kind of breakage a failure is. The repair path depends on it: drift
/// goes to the healer, upstream trouble waits or groups, the rest to an agent
/// or a human.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// A selector matches nothing or the wrong thing; empty items.
    SelectorDrift,
    /// JSON keys or types moved; validation errors on the response.
    SchemaDrift,
    /// The upstream answered with an error status or could not be reached.
    HttpError,
    /// 401/403, an expired or revoked token.
    Auth,
    /// 429 or an explicit rate-limit answer.
    RateLimited,
    /// A request or the whole job took too long.
    Timeout,
    /// A missing module or a version conflict in the scraper's environment.
    Dependency,
    /// An exception in the scraper's own code that no other rule explains.
    CodeBug,
    /// The platform killed or never started the run (OOMKilled, image pull,
    /// node loss, eviction).
    Infra,
    /// No rule matched: a human has to look.
    Unknown,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 10] = [
        ErrorClass::SelectorDrift,
        ErrorClass::SchemaDrift,
        ErrorClass::HttpError,
        ErrorClass::Auth,
        ErrorClass::RateLimited,
        ErrorClass::Timeout,
        ErrorClass::Dependency,
        ErrorClass::CodeBug,
        ErrorClass::Infra,
        ErrorClass::Unknown,
    ];

    /// The stable snake_case name used in the store, labels and fingerprints.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::SelectorDrift => "selector_drift",
            ErrorClass::SchemaDrift => "schema_drift",
            ErrorClass::HttpError => "http_error",
            ErrorClass::Auth => "auth",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Dependency => "dependency",
            ErrorClass::CodeBug => "code_bug",
            ErrorClass::Infra => "infra",
            ErrorClass::Unknown => "unknown",
        }
    }

    /// The class an HTTP status stands for; `None` for success and redirects.
    pub fn from_http_status(status: u16) -> Option<ErrorClass> {
        match status {
            401 | 403 | 407 => Some(ErrorClass::Auth),
            429 => Some(ErrorClass::RateLimited),
            408 | 504 | 524 => Some(ErrorClass::Timeout),
            400..=599 => Some(ErrorClass::HttpError),
            _ => None,
        }
    }

    /// Whether the cause sits at the upstream site, so that scrapers failing
    /// on one host with this class share the cause.
    pub fn is_upstream(self) -> bool {
        matches!(
            self,
            ErrorClass::SelectorDrift
                | ErrorClass::SchemaDrift
                | ErrorClass::HttpError
                | ErrorClass::Auth
                | ErrorClass::RateLimited
                | ErrorClass::Timeout
        )
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error-class name that is not one of [`ErrorClass::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown error class `{0}`")]
pub struct UnknownErrorClass(pub String);

impl FromStr for ErrorClass {
    type Err = UnknownErrorClass;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownErrorClass(s.to_owned()))
    }
}

/// The rule that produced a [`Reason`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// `'NoneType' object has no attribute ...` / `... is not subscriptable`
    /// on a line that selects from HTML.
    NoneFromSelector,
    /// `IndexError` on the result of a selector.
    EmptySelection,
    /// A value extracted by a selector has the wrong shape (`float('...')`).
    WrongValueFromSelector,
    /// `KeyError` raised by BeautifulSoup's `Tag.__getitem__`.
    MissingHtmlAttribute,
    /// The run crawled pages but produced no items.
    ZeroItems,
    /// `KeyError` on decoded JSON.
    MissingJsonKey,
    /// A JSON value has another type than the code expects.
    JsonTypeMismatch,
    /// pydantic's `ValidationError`.
    ValidationError,
    /// The response could not be decoded as JSON.
    NotJson,
    /// An HTTP status from the failing response, an exception or a log line.
    HttpStatus,
    /// The connection failed (DNS, refused, reset, TLS).
    ConnectionFailure,
    /// A request timed out.
    RequestTimeout,
    /// The Job ran past its deadline.
    JobDeadline,
    /// An expired, revoked or invalid token.
    ExpiredToken,
    /// `ModuleNotFoundError` / `ImportError`.
    MissingModule,
    /// A resolver or runtime version conflict.
    VersionConflict,
    /// `module 'x' has no attribute 'y'`: a library's API changed.
    ModuleApiChanged,
    /// The container ran out of memory.
    OutOfMemory,
    /// The image could not be pulled.
    ImagePull,
    /// The node went away or evicted the pod.
    NodeLost,
    /// An exception in the scraper's own code that no other rule explains.
    UncaughtException,
    /// A syntax or name error: the code cannot run as written.
    InvalidCode,
    /// Nothing matched.
    NoRuleMatched,
}

impl Rule {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::NoneFromSelector => "none_from_selector",
            Rule::EmptySelection => "empty_selection",
            Rule::WrongValueFromSelector => "wrong_value_from_selector",
            Rule::MissingHtmlAttribute => "missing_html_attribute",
            Rule::ZeroItems => "zero_items",
            Rule::MissingJsonKey => "missing_json_key",
            Rule::JsonTypeMismatch => "json_type_mismatch",
            Rule::ValidationError => "validation_error",
            Rule::NotJson => "not_json",
            Rule::HttpStatus => "http_status",
            Rule::ConnectionFailure => "connection_failure",
            Rule::RequestTimeout => "request_timeout",
            Rule::JobDeadline => "job_deadline",
            Rule::ExpiredToken => "expired_token",
            Rule::MissingModule => "missing_module",
            Rule::VersionConflict => "version_conflict",
            Rule::ModuleApiChanged => "module_api_changed",
            Rule::OutOfMemory => "out_of_memory",
            Rule::ImagePull => "image_pull",
            Rule::NodeLost => "node_lost",
            Rule::UncaughtException => "uncaught_exception",
            Rule::InvalidCode => "invalid_code",
            Rule::NoRuleMatched => "no_rule_matched",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a reason was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Source {
    /// A log line, 1-based.
    Log { line: usize },
    /// The captured failing response.
    Response,
    /// Nothing in particular (no rule matched).
    None,
}

/// One piece of evidence for (or beside) the diagnosis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub class: ErrorClass,
    pub rule: Rule,
    pub source: Source,
    /// The line (or a summary of the response), at most 300 characters.
    pub excerpt: String,
    /// True for the reason that decided the class; exactly one per diagnosis.
    pub decisive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<UpstreamHost>,
}

/// The outcome of [`classify`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub class: ErrorClass,
    /// The reason that decided the class.
    pub decisive: Reason,
    /// The other signals, in log order (at most 20, repeats folded).
    pub supporting: Vec<Reason>,
    /// The host the failure points at, when the evidence names one.
    pub upstream_host: Option<UpstreamHost>,
    pub http_status: Option<u16>,
    /// The exception the run died of (the last of the last chain), if any.
    pub exception: Option<ExceptionBlock>,
    /// Frames of that exception inside the scraper's own files, outermost first.
    pub own_frames: Vec<Frame>,
    pub scraper: Option<ScraperName>,
    pub fingerprint: Fingerprint,
}

impl Diagnosis {
    /// The decisive reason, then the supporting ones.
    pub fn reasons(&self) -> impl Iterator<Item = &Reason> {
        std::iter::once(&self.decisive).chain(&self.supporting)
    }
}

/// Diagnoses one failure. Pure: the same evidence always gives the same
/// diagnosis, fingerprint included.
pub fn classify(evidence: &Evidence) -> Diagnosis {
    let lines = log_lines(&evidence.log);
    let tracebacks = parse_lines(&lines);
    let (mut signals, facts) = line_signals(&lines);
    let response_signal = response_signal(evidence);

    let error_tb = tracebacks.last();
    let own = |f: &Frame| is_own_frame(f, &evidence.scraper_files);
    let exception_signal = error_tb.and_then(|tb| exception_signal(tb, &own));

    let decisive = decide(
        &signals,
        &facts,
        response_signal.as_ref(),
        exception_signal.as_ref(),
        error_tb,
    );

    let mut decisive_reason = match decisive {
        Decided::Line(i) => signals.remove(i).reason,
        Decided::Response => response_signal.clone().map_or_else(no_rule, |s| s.reason),
        Decided::Exception => exception_signal.clone().map_or_else(no_rule, |s| s.reason),
        Decided::Nothing => no_rule(),
    };
    decisive_reason.decisive = true;

    let exception = error_tb.and_then(|tb| tb.error()).cloned();
    let own_frames: Vec<Frame> = exception
        .as_ref()
        .map(|e| e.frames.iter().filter(|f| own(f)).cloned().collect())
        .unwrap_or_default();

    let upstream_host = evidence
        .response
        .as_ref()
        .and_then(|r| r.url.as_ref())
        .and_then(UpstreamHost::from_url)
        .or_else(|| decisive_reason.host.clone())
        .or_else(|| error_tb.and_then(|tb| spider_error_host(&lines, tb)))
        // Other URLs in the log only point at the cause when the cause is
        // upstream; a pip error's help link is not the scraped site.
        .or_else(|| {
            decisive_reason
                .class
                .is_upstream()
                .then(|| most_frequent_host(&lines))
                .flatten()
        });
    let http_status = decisive_reason.http_status.or_else(|| {
        evidence
            .response
            .as_ref()
            .and_then(|r| r.status)
            .filter(|s| *s >= 400)
    });

    let mut rest: Vec<Reason> = signals.into_iter().map(|s| s.reason).collect();
    if !matches!(decisive, Decided::Response)
        && let Some(s) = response_signal
    {
        rest.push(s.reason);
    }
    if !matches!(decisive, Decided::Exception)
        && let Some(s) = exception_signal
    {
        rest.push(s.reason);
    }
    rest.sort_by_key(|r| match r.source {
        Source::Log { line } => line,
        Source::Response => 0,
        Source::None => usize::MAX,
    });
    rest.dedup_by(|a, b| a.rule == b.rule && a.class == b.class && a.http_status == b.http_status);
    rest.truncate(20);

    let class = decisive_reason.class;
    let fingerprint = Fingerprint::compute(
        class,
        &decisive_reason,
        exception.as_ref(),
        &own_frames,
        evidence.scraper.as_ref(),
        &evidence.scraper_files,
    );
    Diagnosis {
        class,
        decisive: decisive_reason,
        supporting: rest,
        upstream_host,
        http_status,
        exception,
        own_frames,
        scraper: evidence.scraper.clone(),
        fingerprint,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decided {
    Line(usize),
    Response,
    Exception,
    Nothing,
}

/// The order of precedence, most telling first: a dead pod or a broken
/// environment explains everything after it; an error status on the very
/// response the scraper parsed explains a parse failure; then the exception
/// the run died of; then what the log says about requests and items.
fn decide(
    signals: &[Signal],
    facts: &LineFacts,
    response: Option<&Signal>,
    exception: Option<&Signal>,
    error_tb: Option<&Traceback>,
) -> Decided {
    let fatal = |class: ErrorClass| {
        signals
            .iter()
            .position(|s| s.weight == Weight::Fatal && s.reason.class == class)
    };
    let exception_class = exception.map(|e| e.reason.class);
    for class in [ErrorClass::Infra, ErrorClass::Dependency] {
        if let Some(i) = fatal(class) {
            return Decided::Line(i);
        }
        if exception_class == Some(class) {
            return Decided::Exception;
        }
    }
    if let Some(i) = fatal(ErrorClass::Timeout) {
        return Decided::Line(i);
    }
    if response.is_some() {
        return Decided::Response;
    }
    if let Some(i) = signals
        .iter()
        .position(|s| s.reason.rule == Rule::ExpiredToken)
    {
        if exception_class != Some(ErrorClass::Auth) {
            return Decided::Line(i);
        }
        return Decided::Exception;
    }
    if let (Some(exc), Some(tb)) = (exception, error_tb) {
        let parse_failure = matches!(
            exc.reason.class,
            ErrorClass::SelectorDrift | ErrorClass::SchemaDrift | ErrorClass::CodeBug
        );
        if parse_failure {
            // The last request made by requests/httpx before the traceback:
            // an error page handed to the parser explains the parse failure.
            let last_request = facts
                .client_requests
                .iter()
                .rev()
                .find(|&&line| line < tb.start_line);
            let causal = last_request.and_then(|&line| {
                signals
                    .iter()
                    .position(|s| s.client_level && s.reason.source == Source::Log { line })
            });
            if let Some(i) = causal {
                return Decided::Line(i);
            }
        }
        return Decided::Exception;
    }
    // No exception: the run ended without crashing. Pages that loaded but
    // yielded no items are drift; if no page loaded, the failed requests
    // (for good, else retried) explain the empty output.
    let failures: Vec<usize> = signals
        .iter()
        .enumerate()
        .filter(|(_, s)| s.weight >= Weight::Final && s.reason.rule != Rule::ZeroItems)
        .map(|(i, _)| i)
        .collect();
    let attempts: Vec<usize> = signals
        .iter()
        .enumerate()
        .filter(|(_, s)| s.weight == Weight::Attempt)
        .map(|(i, _)| i)
        .collect();
    if let Some(z) = signals
        .iter()
        .position(|s| s.reason.rule == Rule::ZeroItems)
    {
        if facts.ok_pages > 0 {
            return Decided::Line(z);
        }
        return match most_common_class(signals, &failures)
            .or_else(|| most_common_class(signals, &attempts))
        {
            Some(i) => Decided::Line(i),
            None => Decided::Line(z),
        };
    }
    match most_common_class(signals, &failures) {
        Some(i) => Decided::Line(i),
        None => Decided::Nothing,
    }
}

/// The first signal of the class that occurs most often among `candidates`
/// (ties go to the more specific class: auth, rate limit, timeout, http).
fn most_common_class(signals: &[Signal], candidates: &[usize]) -> Option<usize> {
    let mut counts: HashMap<ErrorClass, (usize, usize)> = HashMap::new();
    for &i in candidates {
        let entry = counts.entry(signals[i].reason.class).or_insert((0, i));
        entry.0 += 1;
    }
    let rank = |c: ErrorClass| match c {
        ErrorClass::Auth => 0,
        ErrorClass::RateLimited => 1,
        ErrorClass::Timeout => 2,
        ErrorClass::HttpError => 3,
        _ => 4,
    };
    counts
        .into_iter()
        .max_by(|(ca, (na, _)), (cb, (nb, _))| na.cmp(nb).then(rank(*cb).cmp(&rank(*ca))))
        .map(|(_, (_, first))| first)
}

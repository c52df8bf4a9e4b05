//! The diagnosis: which error class a failure belongs to, and why.
//!
//! Classification is a pure function of the evidence. Every rule that fires
//! becomes a [`Reason`] naming the log line (or the response) and the rule, so
//! the decision can be shown to a human and replayed in tests.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use url::Url;

use super::evidence::{Evidence, ScraperName, UpstreamHost};
use super::fingerprint::Fingerprint;
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
    /// The decisive reason first, then the other signals in log order.
    pub reasons: Vec<Reason>,
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
    /// The reason that decided the class.
    pub fn decisive(&self) -> &Reason {
        // classify always puts exactly one decisive reason first.
        &self.reasons[0]
    }
}

/// How much a signal says about the run as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Weight {
    /// One attempt failed but may have been retried successfully.
    Attempt,
    /// A request failed for good, or the run produced nothing.
    Final,
    /// The run could not have succeeded whatever else the log says.
    Fatal,
}

#[derive(Clone, Debug)]
struct Signal {
    reason: Reason,
    weight: Weight,
    /// The request was made by a client that hands error pages to the
    /// scraper's code (requests, httpx), so it can explain a parse failure.
    client_level: bool,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| unreachable!("static regex `{pattern}`: {e}"))
}

static OOM: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\bOOMKilled\b|exit code:? 137\b|Out of memory: Killed process|memory limit (?:exceeded|reached)",
    )
});
static IMAGE_PULL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:ErrImagePull|ImagePullBackOff|InvalidImageName)\b|Failed to pull image|Back-off pulling image",
    )
});
static NODE_LOST: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\bNodeLost\b|\bNodeNotReady\b|node \S+ (?:is |was )?(?:not ready|lost|unreachable)|The node was low on resource|\bEvicted\b|\bDisruptionTarget\b",
    )
});
static JOB_DEADLINE: LazyLock<Regex> =
    LazyLock::new(|| re(r"\bDeadlineExceeded\b|Job was active longer than specified deadline"));
static PIP_CONFLICT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)ResolutionImpossible|conflicting dependencies|pip's dependency resolver|\bVersionConflict\b|\bDistributionNotFound\b|requires [\w.\-]+[<>=!~]=?[\w.*]+, but you have",
    )
});
static TOKEN_EXPIRED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:access[_ ]token|refresh[_ ]token|token|jwt|signature|credentials|session|api[_ ]key)\b[^\n]{0,40}?\b(?:has |is )?(?:expired|revoked)\b|\binvalid_token\b|\binvalid_grant\b|ExpiredSignatureError|\btoken_expired\b",
    )
});
static SCRAPY_IGNORING: LazyLock<Regex> =
    LazyLock::new(|| re(r"Ignoring response <(\d{3}) (\S+?)>"));
static SCRAPY_GAVE_UP: LazyLock<Regex> =
    LazyLock::new(|| re(r"Gave up retrying <\w+ (\S+?)> \(failed \d+ times\): (.*)"));
static SCRAPY_RETRYING: LazyLock<Regex> =
    LazyLock::new(|| re(r"Retrying <\w+ (\S+?)> \(failed \d+ times\): (.*)"));
static SCRAPY_CRAWLED: LazyLock<Regex> = LazyLock::new(|| re(r"Crawled \((\d{3})\) <\w+ (\S+?)>"));
static SCRAPY_ERROR_DOWNLOADING: LazyLock<Regex> =
    LazyLock::new(|| re(r"Error downloading <\w+ (\S+?)>(?::\s*(.+))?"));
static SCRAPY_SPIDER_ERROR: LazyLock<Regex> =
    LazyLock::new(|| re(r"Spider error processing <\w+ (\S+?)>"));
static SCRAPY_STATS_HEAD: LazyLock<Regex> = LazyLock::new(|| re(r"Dumping Scrapy stats:"));
static SCRAPY_STAT: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*\{?'([^']+)':\s*([^,}]+)"));
static SCRAPY_LOGSTATS: LazyLock<Regex> =
    LazyLock::new(|| re(r"Crawled (\d+) pages? \(at \d+ pages/min\), scraped (\d+) items?"));
static HTTPX_REQUEST: LazyLock<Regex> =
    LazyLock::new(|| re(r#"HTTP Request: \w+ (\S+) "HTTP/[\d.]+ (\d{3})"#));
static URLLIB3_REQUEST: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(https?://[^\s:/"]+)(?::\d+)? "\w+ (\S+) HTTP/[\d.]+" (\d{3})"#));
static STATUS_IN_MESSAGE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(\d{3}) (?:client|server) error|(?:client|server) error '(\d{3})|too many (\d{3}) error responses|status(?: code)?[ =:]+(\d{3})\b|<(\d{3}) https?://",
    )
});
static URL: LazyLock<Regex> = LazyLock::new(|| re(r#"https?://[^\s'"<>()\]]+"#));
static POOL_HOST: LazyLock<Regex> = LazyLock::new(|| re(r"ConnectionPool\(host='([^']+)'"));
static TIMEOUT_TEXT: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)timed? ?out|took longer than|timeout"));
static MODULE_ATTRIBUTE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^module '[\w.]+' has no attribute"));
static NONE_ATTRIBUTE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^'NoneType' object has no attribute '(\w+)'"));
static SELECTOR_CALL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\.(?:css|xpath|select_one|select|find_all|findAll|find|findChild|find_next|find_parent|re_first|getall|extract_first|get_text|getText)\(|\bsoup\b|BeautifulSoup\(|Selector\(|\bresponse\.(?:css|xpath)",
    )
});
static JSON_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"\.json\(\)|json\.loads|\bjson\b|\bdata\b|\bpayload\b|\brecord\b|\bitem\b|\[\s*["'][\w\-]+["']\s*\]|\.get\(\s*["']"#,
    )
});
/// Attributes read off a selector's result: a `None` there means the
/// selector found nothing.
const SELECTED_ATTRIBUTES: &[&str] = &[
    "text",
    "get_text",
    "getText",
    "string",
    "strip",
    "lstrip",
    "rstrip",
    "split",
    "replace",
    "attrs",
    "find",
    "find_all",
    "select",
    "select_one",
    "getall",
    "extract",
    "extract_first",
    "css",
    "xpath",
    "re_first",
];
const TIMEOUT_TYPES: &[&str] = &[
    "ReadTimeout",
    "ConnectTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "Timeout",
    "TimeoutError",
    "TimeoutException",
    "ReadTimeoutError",
    "ConnectTimeoutError",
    "TCPTimedOutError",
    "timeout",
];
const HTTP_TYPES: &[&str] = &[
    "HTTPError",
    "HTTPStatusError",
    "HttpError",
    "ClientResponseError",
    "IgnoreRequest",
];
const CONNECTION_TYPES: &[&str] = &[
    "ConnectionError",
    "ConnectError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "ConnectionLost",
    "ConnectionDone",
    "DNSLookupError",
    "ResponseNeverReceived",
    "RemoteProtocolError",
    "ProxyError",
    "SSLError",
    "NewConnectionError",
    "MaxRetryError",
    "NameResolutionError",
    "gaierror",
    "TooManyRedirects",
    "ChunkedEncodingError",
];

/// Diagnoses one failure. Pure: the same evidence always gives the same
/// diagnosis, fingerprint included.
pub fn classify(evidence: &Evidence) -> Diagnosis {
    let lines = log_lines(&evidence.log);
    let tracebacks = parse_lines(&lines);
    let mut signals = line_signals(&lines);
    let response_signal = response_signal(evidence);

    let error_tb = tracebacks.last();
    let own = |f: &Frame| is_own_frame(f, &evidence.scraper_files);
    let exception_signal = error_tb.map(|tb| exception_signal(tb, &own));

    let decisive = decide(
        &signals,
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

    let exception = error_tb.map(|tb| tb.error().clone());
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
        .or_else(|| most_frequent_host(&lines));
    let http_status = decisive_reason.http_status.or_else(|| {
        evidence
            .response
            .as_ref()
            .and_then(|r| r.status)
            .filter(|s| *s >= 400)
    });

    let mut reasons = vec![decisive_reason];
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
    reasons.extend(rest);

    let class = reasons[0].class;
    let fingerprint = Fingerprint::compute(
        class,
        &reasons[0],
        exception.as_ref(),
        &own_frames,
        evidence.scraper.as_ref(),
        &evidence.scraper_files,
    );
    Diagnosis {
        class,
        reasons,
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
            // The last request made by requests/httpx before the traceback: an
            // error page handed to the parser explains the parse failure.
            let causal = signals.iter().rposition(|s| {
                s.client_level
                    && matches!(s.reason.source, Source::Log { line } if line < tb.start_line)
            });
            if let Some(i) = causal
                && signals[i].reason.class != ErrorClass::Unknown
            {
                return Decided::Line(i);
            }
        }
        return Decided::Exception;
    }
    // No exception: the run ended without crashing. Failed requests explain
    // empty output; otherwise empty output is drift.
    let failures: Vec<usize> = signals
        .iter()
        .enumerate()
        .filter(|(_, s)| s.weight >= Weight::Final && s.reason.rule != Rule::ZeroItems)
        .map(|(i, _)| i)
        .collect();
    let zero_items = signals
        .iter()
        .position(|s| s.reason.rule == Rule::ZeroItems);
    let attempts: Vec<usize> = signals
        .iter()
        .enumerate()
        .filter(|(_, s)| s.weight == Weight::Attempt)
        .map(|(i, _)| i)
        .collect();
    if let Some(i) = most_common_class(signals, &failures) {
        return Decided::Line(i);
    }
    if let Some(z) = zero_items {
        // Every request failing (retried, then dropped) also yields no items.
        return match most_common_class(signals, &attempts) {
            Some(i) => Decided::Line(i),
            None => Decided::Line(z),
        };
    }
    Decided::Nothing
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

fn no_rule() -> Reason {
    Reason {
        class: ErrorClass::Unknown,
        rule: Rule::NoRuleMatched,
        source: Source::None,
        excerpt: String::new(),
        decisive: true,
        http_status: None,
        host: None,
    }
}

fn excerpt(line: &str) -> String {
    let t = line.trim();
    match t.char_indices().nth(300) {
        Some((cut, _)) => t[..cut].to_owned(),
        None => t.to_owned(),
    }
}

fn host_of(url: &str) -> Option<UpstreamHost> {
    Url::parse(url.trim_end_matches(['.', ',', ')', '>', '\'', '"']))
        .ok()
        .as_ref()
        .and_then(UpstreamHost::from_url)
}

fn reason(class: ErrorClass, rule: Rule, line_idx: usize, line: &str) -> Reason {
    Reason {
        class,
        rule,
        source: Source::Log { line: line_idx + 1 },
        excerpt: excerpt(line),
        decisive: false,
        http_status: None,
        host: None,
    }
}

fn signal(reason: Reason, weight: Weight) -> Signal {
    Signal {
        reason,
        weight,
        client_level: false,
    }
}

fn status_signal(
    status: u16,
    url: Option<&str>,
    idx: usize,
    line: &str,
    weight: Weight,
) -> Option<Signal> {
    let class = ErrorClass::from_http_status(status)?;
    let mut r = reason(class, Rule::HttpStatus, idx, line);
    r.http_status = Some(status);
    r.host = url.and_then(host_of);
    Some(signal(r, weight))
}

/// Classifies a failure described in words ("took longer than", "DNS lookup
/// failed", "503 Service Unavailable").
fn text_failure(text: &str, url: &str, idx: usize, line: &str, weight: Weight) -> Signal {
    let status = text
        .split_whitespace()
        .next()
        .and_then(|w| w.parse::<u16>().ok())
        .filter(|s| (100..600).contains(s));
    if let Some(s) = status.and_then(|s| status_signal(s, Some(url), idx, line, weight)) {
        return s;
    }
    let (class, rule) = if TIMEOUT_TEXT.is_match(text) {
        (ErrorClass::Timeout, Rule::RequestTimeout)
    } else {
        (ErrorClass::HttpError, Rule::ConnectionFailure)
    };
    let mut r = reason(class, rule, idx, line);
    r.host = host_of(url);
    signal(r, weight)
}

/// Signals from individual log lines (not from the traceback's exception).
fn line_signals(lines: &[&str]) -> Vec<Signal> {
    let mut out = Vec::new();
    let mut in_stats = false;
    let mut stats_line = 0;
    let mut items: Option<u64> = None;
    let mut responses: Option<u64> = None;
    let mut last_logstats: Option<(usize, u64, u64)> = None;
    for (idx, &line) in lines.iter().enumerate() {
        let fatal = |class, rule| signal(reason(class, rule, idx, line), Weight::Fatal);
        if OOM.is_match(line) {
            out.push(fatal(ErrorClass::Infra, Rule::OutOfMemory));
        } else if IMAGE_PULL.is_match(line) {
            out.push(fatal(ErrorClass::Infra, Rule::ImagePull));
        } else if NODE_LOST.is_match(line) {
            out.push(fatal(ErrorClass::Infra, Rule::NodeLost));
        } else if JOB_DEADLINE.is_match(line) {
            out.push(fatal(ErrorClass::Timeout, Rule::JobDeadline));
        } else if PIP_CONFLICT.is_match(line) {
            out.push(fatal(ErrorClass::Dependency, Rule::VersionConflict));
        }
        if TOKEN_EXPIRED.is_match(line) {
            out.push(signal(
                reason(ErrorClass::Auth, Rule::ExpiredToken, idx, line),
                Weight::Final,
            ));
        }
        if let Some(c) = SCRAPY_IGNORING.captures(line) {
            if let Some(s) = c[1]
                .parse()
                .ok()
                .and_then(|st| status_signal(st, Some(&c[2]), idx, line, Weight::Final))
            {
                out.push(s);
            }
        } else if let Some(c) = SCRAPY_GAVE_UP.captures(line) {
            out.push(text_failure(&c[2], &c[1], idx, line, Weight::Final));
        } else if let Some(c) = SCRAPY_RETRYING.captures(line) {
            out.push(text_failure(&c[2], &c[1], idx, line, Weight::Attempt));
        } else if let Some(c) = SCRAPY_CRAWLED.captures(line) {
            if let Some(s) = c[1]
                .parse()
                .ok()
                .and_then(|st| status_signal(st, Some(&c[2]), idx, line, Weight::Attempt))
            {
                out.push(s);
            }
        } else if let Some(c) = SCRAPY_ERROR_DOWNLOADING.captures(line) {
            if let Some(text) = c.get(2) {
                out.push(text_failure(text.as_str(), &c[1], idx, line, Weight::Final));
            }
        } else if let Some(c) = HTTPX_REQUEST.captures(line) {
            if let Some(mut s) = c[2]
                .parse()
                .ok()
                .and_then(|st| status_signal(st, Some(&c[1]), idx, line, Weight::Final))
            {
                s.client_level = true;
                out.push(s);
            }
        } else if let Some(c) = URLLIB3_REQUEST.captures(line)
            && let Some(mut s) = c[3]
                .parse()
                .ok()
                .and_then(|st| status_signal(st, Some(&c[1]), idx, line, Weight::Final))
        {
            s.client_level = true;
            out.push(s);
        }
        if let Some(c) = SCRAPY_LOGSTATS.captures(line)
            && let (Ok(pages), Ok(scraped)) = (c[1].parse(), c[2].parse())
        {
            last_logstats = Some((idx, pages, scraped));
        }
        if SCRAPY_STATS_HEAD.is_match(line) {
            in_stats = true;
            stats_line = idx;
            continue;
        }
        if in_stats {
            match SCRAPY_STAT.captures(line) {
                Some(c) => {
                    let value = c[2].trim();
                    match &c[1] {
                        "item_scraped_count" => items = value.parse().ok(),
                        "response_received_count" => responses = value.parse().ok(),
                        key => {
                            if let Some(status) = key
                                .strip_prefix("downloader/response_status_count/")
                                .and_then(|s| s.parse().ok())
                                && let Some(s) =
                                    status_signal(status, None, idx, line, Weight::Attempt)
                            {
                                out.push(s);
                            }
                        }
                    }
                    if line.trim_end().ends_with('}') {
                        in_stats = false;
                    }
                }
                None => in_stats = false,
            }
        }
    }
    // Scrapy leaves `item_scraped_count` out of the stats when nothing was
    // scraped, so a stats dump with responses and no count means zero items.
    let zero = if responses.unwrap_or(0) > 0 && items.unwrap_or(0) == 0 {
        Some(stats_line)
    } else {
        last_logstats.and_then(|(idx, pages, scraped)| (pages > 0 && scraped == 0).then_some(idx))
    };
    if let Some(idx) = zero {
        out.push(signal(
            reason(ErrorClass::SelectorDrift, Rule::ZeroItems, idx, lines[idx]),
            Weight::Final,
        ));
    }
    out.sort_by_key(|s| match s.reason.source {
        Source::Log { line } => line,
        _ => 0,
    });
    out
}

/// A non-success status on the captured failing response, or a body that says
/// the token expired.
fn response_signal(evidence: &Evidence) -> Option<Signal> {
    let response = evidence.response.as_ref()?;
    let host = response.url.as_ref().and_then(UpstreamHost::from_url);
    let url = response.url.as_ref().map_or("", |u| u.as_str());
    let status = response.status?;
    let head = String::from_utf8_lossy(&response.body[..response.body.len().min(4096)]);
    let class = ErrorClass::from_http_status(status)?;
    let rule = if class == ErrorClass::Auth && TOKEN_EXPIRED.is_match(&head) {
        Rule::ExpiredToken
    } else {
        Rule::HttpStatus
    };
    Some(Signal {
        reason: Reason {
            class,
            rule,
            source: Source::Response,
            excerpt: excerpt(&format!("HTTP {status} from {url}")),
            decisive: false,
            http_status: Some(status),
            host,
        },
        weight: Weight::Final,
        client_level: false,
    })
}

/// Whether `frame` is in one of the scraper's own files. Tracebacks carry
/// absolute paths (`/app/shop/spiders/books.py`), the scraper's files are
/// repository-relative, so the frame's path must end with one of them at a
/// path-component boundary. Without a file list, frames outside installed
/// packages and the standard library count as the scraper's.
pub(crate) fn is_own_frame(frame: &Frame, scraper_files: &[String]) -> bool {
    let file = frame.file.replace('\\', "/");
    if scraper_files.is_empty() {
        return !(file.contains("/site-packages/")
            || file.contains("/dist-packages/")
            || file.starts_with('<')
            || file.contains("/lib/python"));
    }
    scraper_files.iter().any(|own| {
        let own = own.replace('\\', "/");
        let own = own.trim_start_matches("./");
        file == own || file.ends_with(&format!("/{own}"))
    })
}

/// The source line of the innermost own frame (else the innermost frame).
fn telling_source<'a>(block: &'a ExceptionBlock, own: &dyn Fn(&Frame) -> bool) -> &'a str {
    block
        .frames
        .iter()
        .rev()
        .find(|f| own(f))
        .or_else(|| block.frames.last())
        .and_then(|f| f.source.as_deref())
        .unwrap_or("")
}

fn status_in_message(message: &str) -> Option<u16> {
    let c = STATUS_IN_MESSAGE.captures(message)?;
    (1..=5)
        .filter_map(|i| c.get(i))
        .find_map(|m| m.as_str().parse().ok())
}

fn exception_host(block: &ExceptionBlock) -> Option<UpstreamHost> {
    URL.find_iter(&block.message)
        .filter_map(|m| host_of(m.as_str()))
        .find(|h| !is_documentation_host(h))
        .or_else(|| {
            POOL_HOST
                .captures(&block.message)
                .map(|c| UpstreamHost::new(&c[1]))
        })
}

/// Hosts that exception messages link to for help, never the scraped site.
fn is_documentation_host(host: &UpstreamHost) -> bool {
    matches!(
        host.as_str(),
        "errors.pydantic.dev" | "developer.mozilla.org" | "docs.python.org" | "docs.scrapy.org"
    )
}

/// The class of the exception a traceback ended with. A generic last
/// exception raised while handling a specific one takes the specific class:
/// `raise ScrapeFailed(...) from KeyError(...)` is still schema drift.
fn exception_signal(tb: &Traceback, own: &dyn Fn(&Frame) -> bool) -> Signal {
    let error = tb.error();
    let (mut class, mut rule, mut status) = exception_class(error, own);
    let mut decided_by = error;
    if class == ErrorClass::CodeBug {
        for earlier in tb.chain.iter().rev().skip(1) {
            let (c, r, s) = exception_class(earlier, own);
            if c != ErrorClass::CodeBug {
                (class, rule, status, decided_by) = (c, r, s, earlier);
                break;
            }
        }
    }
    Signal {
        reason: Reason {
            class,
            rule,
            source: Source::Log {
                line: decided_by.line_no,
            },
            excerpt: excerpt(&decided_by.headline()),
            decisive: false,
            http_status: status,
            host: exception_host(decided_by),
        },
        weight: Weight::Final,
        client_level: false,
    }
}

fn exception_class(
    block: &ExceptionBlock,
    own: &dyn Fn(&Frame) -> bool,
) -> (ErrorClass, Rule, Option<u16>) {
    let t = block.short_type();
    let full = block.exc_type.as_str();
    let msg = block.message.as_str();
    let src = telling_source(block, own);
    let selector = SELECTOR_CALL.is_match(src);
    let json = JSON_CONTEXT.is_match(src);
    let status = status_in_message(msg);
    use ErrorClass as C;
    let (class, rule) = match t {
        "MemoryError" => (C::Infra, Rule::OutOfMemory),
        "ModuleNotFoundError" | "ImportError" => (C::Dependency, Rule::MissingModule),
        "VersionConflict"
        | "ContextualVersionConflict"
        | "DistributionNotFound"
        | "PackageNotFoundError" => (C::Dependency, Rule::VersionConflict),
        "AttributeError" if MODULE_ATTRIBUTE.is_match(msg) => {
            (C::Dependency, Rule::ModuleApiChanged)
        }
        "ExpiredSignatureError" | "InvalidGrantError" | "TokenExpiredError" => {
            (C::Auth, Rule::ExpiredToken)
        }
        _ if TOKEN_EXPIRED.is_match(msg) => (C::Auth, Rule::ExpiredToken),
        _ if TIMEOUT_TYPES.contains(&t) => (C::Timeout, Rule::RequestTimeout),
        _ if HTTP_TYPES.contains(&t) || CONNECTION_TYPES.contains(&t) => {
            match status.and_then(ErrorClass::from_http_status) {
                Some(c) => (c, Rule::HttpStatus),
                None if TIMEOUT_TEXT.is_match(msg) => (C::Timeout, Rule::RequestTimeout),
                None if HTTP_TYPES.contains(&t) => (C::HttpError, Rule::HttpStatus),
                None => (C::HttpError, Rule::ConnectionFailure),
            }
        }
        "ValidationError" if full.contains("pydantic") || msg.contains("validation error") => {
            (C::SchemaDrift, Rule::ValidationError)
        }
        "JSONDecodeError" => (C::SchemaDrift, Rule::NotJson),
        "KeyError" => {
            let in_bs4 = block
                .frames
                .last()
                .is_some_and(|f| f.file.replace('\\', "/").contains("/bs4/"));
            if in_bs4 {
                (C::SelectorDrift, Rule::MissingHtmlAttribute)
            } else {
                (C::SchemaDrift, Rule::MissingJsonKey)
            }
        }
        "AttributeError" => match NONE_ATTRIBUTE.captures(msg) {
            Some(_) if selector => (C::SelectorDrift, Rule::NoneFromSelector),
            Some(_) if json => (C::SchemaDrift, Rule::JsonTypeMismatch),
            Some(c) if SELECTED_ATTRIBUTES.contains(&&c[1]) => {
                (C::SelectorDrift, Rule::NoneFromSelector)
            }
            _ if msg.starts_with("'str' object has no attribute 'get'")
                || msg.starts_with("'list' object has no attribute 'get'") =>
            {
                (C::SchemaDrift, Rule::JsonTypeMismatch)
            }
            _ => (C::CodeBug, Rule::UncaughtException),
        },
        "TypeError" => {
            let none = msg.starts_with("'NoneType' object is not");
            if none && selector {
                (C::SelectorDrift, Rule::NoneFromSelector)
            } else if (none && json)
                || msg.starts_with("string indices must be integers")
                || msg.starts_with("list indices must be integers")
                || msg.starts_with("'int' object is not subscriptable")
                || msg.starts_with("'float' object is not subscriptable")
            {
                (C::SchemaDrift, Rule::JsonTypeMismatch)
            } else {
                (C::CodeBug, Rule::UncaughtException)
            }
        }
        "IndexError" if selector => (C::SelectorDrift, Rule::EmptySelection),
        "IndexError" if json => (C::SchemaDrift, Rule::JsonTypeMismatch),
        "ValueError" if selector => (C::SelectorDrift, Rule::WrongValueFromSelector),
        "SyntaxError" | "IndentationError" | "TabError" | "NameError" | "UnboundLocalError" => {
            (C::CodeBug, Rule::InvalidCode)
        }
        _ => (C::CodeBug, Rule::UncaughtException),
    };
    let status = if rule == Rule::HttpStatus {
        status
    } else {
        None
    };
    (class, rule, status)
}

/// The URL of scrapy's "Spider error processing <GET url>" just before the
/// traceback: the page whose callback raised.
fn spider_error_host(lines: &[&str], tb: &Traceback) -> Option<UpstreamHost> {
    let head = tb.start_line.saturating_sub(1);
    lines[..head.min(lines.len())]
        .iter()
        .rev()
        .take(3)
        .find_map(|l| SCRAPY_SPIDER_ERROR.captures(l))
        .and_then(|c| host_of(&c[1]))
}

fn most_frequent_host(lines: &[&str]) -> Option<UpstreamHost> {
    let mut counts: HashMap<UpstreamHost, usize> = HashMap::new();
    for line in lines {
        for m in URL.find_iter(line) {
            if let Some(h) = host_of(m.as_str())
                && !is_documentation_host(&h)
            {
                *counts.entry(h).or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .max_by(|(ha, a), (hb, b)| a.cmp(b).then(hb.cmp(ha)))
        .map(|(h, _)| h)
}

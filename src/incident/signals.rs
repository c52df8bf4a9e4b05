//! The rules: what each log line, the failing response and the final
//! exception say about the error class. Each rule yields a [`Signal`];
//! `classify` weighs them.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use url::Url;

use super::classify::{ErrorClass, Reason, Rule, Source};
use super::evidence::{Evidence, UpstreamHost};
use super::traceback::{ExceptionBlock, Frame, LOG_RECORD, Traceback};

/// How much a signal says about the run as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Weight {
    /// One attempt failed but may have been retried successfully.
    Attempt,
    /// A request failed for good, or the run produced nothing.
    Final,
    /// The run could not have succeeded whatever else the log says.
    Fatal,
}

#[derive(Clone, Debug)]
pub(super) struct Signal {
    pub(super) reason: Reason,
    pub(super) weight: Weight,
    /// The request was made by a client that hands error pages to the
    /// scraper's code (requests, httpx), so it can explain a parse failure.
    pub(super) client_level: bool,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| unreachable!("static regex `{pattern}`: {e}"))
}

static OOM: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\bOOMKilled\b|exit code:?\s+137\b|Out of memory: Killed process|memory limit (?:exceeded|reached)",
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
static SCRAPED_FROM: LazyLock<Regex> = LazyLock::new(|| re(r"\] DEBUG: Scraped from <"));
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

pub(super) fn no_rule() -> Reason {
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

/// What the log says beyond individual signals.
#[derive(Clone, Debug, Default)]
pub(super) struct LineFacts {
    /// Pages that loaded (2xx), robots.txt aside.
    pub(super) ok_pages: u64,
    /// 1-based lines of requests made by requests/httpx, whatever their status.
    pub(super) client_requests: Vec<usize>,
}

/// Signals from individual log lines (not from the traceback's exception).
pub(super) fn line_signals(lines: &[&str]) -> (Vec<Signal>, LineFacts) {
    let mut client_requests = Vec::new();
    let mut out = Vec::new();
    let mut ok_pages: u64 = 0;
    let mut crawled_lines = false;
    let mut ok_in_stats: u64 = 0;
    let mut in_stats = false;
    let mut stats_line = 0;
    let mut items: Option<u64> = None;
    let mut responses: Option<u64> = None;
    let mut last_logstats: Option<(usize, u64, u64)> = None;
    let mut in_item = false;
    for (idx, &line) in lines.iter().enumerate() {
        // Scraped items are page data: a product called "Session expired"
        // says nothing about the run. Scrapy logs each item after a
        // "Scraped from" record, up to the next record.
        if in_item && !LOG_RECORD.is_match(line) && !line.starts_with("Traceback") {
            continue;
        }
        in_item = SCRAPED_FROM.is_match(line);
        if in_item {
            continue;
        }
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
            if is_robots(&c[2]) {
                continue;
            }
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
            crawled_lines = true;
            let status: u16 = c[1].parse().unwrap_or(0);
            if is_robots(&c[2]) {
                continue;
            }
            if (200..300).contains(&status) {
                ok_pages += 1;
            }
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
            client_requests.push(idx + 1);
            if let Some(mut s) = c[2]
                .parse()
                .ok()
                .and_then(|st| status_signal(st, Some(&c[1]), idx, line, Weight::Final))
            {
                s.client_level = true;
                out.push(s);
            }
        } else if let Some(c) = URLLIB3_REQUEST.captures(line) {
            client_requests.push(idx + 1);
            if let Some(mut s) = c[3]
                .parse()
                .ok()
                .and_then(|st| status_signal(st, Some(&c[1]), idx, line, Weight::Final))
            {
                s.client_level = true;
                out.push(s);
            }
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
                            if let Some(n) = key
                                .strip_prefix("downloader/response_status_count/2")
                                .and_then(|_| value.parse::<u64>().ok())
                            {
                                ok_in_stats += n;
                            }
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
    // Without DEBUG lines, the stats' 2xx counts are all there is (robots.txt
    // included, which errs towards drift).
    if !crawled_lines {
        ok_pages = ok_in_stats;
    }
    (
        out,
        LineFacts {
            ok_pages,
            client_requests,
        },
    )
}

/// robots.txt is fetched by Scrapy itself; its status says nothing about the
/// scraper's pages.
fn is_robots(url: &str) -> bool {
    url.ends_with("/robots.txt")
}

/// A non-success status on the captured failing response, or a body that says
/// the token expired.
pub(super) fn response_signal(evidence: &Evidence) -> Option<Signal> {
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
            || file.contains("/lib/python")
            || file.starts_with("/usr/local/bin/")
            || file.starts_with("/usr/bin/"));
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
        "errors.pydantic.dev"
            | "developer.mozilla.org"
            | "docs.python.org"
            | "docs.scrapy.org"
            | "pip.pypa.io"
    )
}

/// The class of the exception a traceback ended with. A generic last
/// exception raised while handling a specific one takes the specific class:
/// `raise ScrapeFailed(...) from KeyError(...)` is still schema drift.
pub(super) fn exception_signal(tb: &Traceback, own: &dyn Fn(&Frame) -> bool) -> Option<Signal> {
    let error = tb.error()?;
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
    Some(Signal {
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
    })
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
pub(super) fn spider_error_host(lines: &[&str], tb: &Traceback) -> Option<UpstreamHost> {
    let head = tb.start_line.saturating_sub(1);
    lines[..head.min(lines.len())]
        .iter()
        .rev()
        .take(3)
        .find_map(|l| SCRAPY_SPIDER_ERROR.captures(l))
        .and_then(|c| host_of(&c[1]))
}

pub(super) fn most_frequent_host(lines: &[&str]) -> Option<UpstreamHost> {
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

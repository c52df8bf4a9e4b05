//! Python traceback parsing: frames, exception lines, and chains
//! ("During handling of the above exception..." / "The above exception was the
//! direct cause..."). The last exception of a chain is the error.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// One stack frame as Python prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub file: String,
    pub line: Option<u32>,
    /// `None` for frames printed without `in <function>` (syntax errors).
    pub function: Option<String>,
    /// The first source line Python showed under the frame, trimmed.
    pub source: Option<String>,
}

/// How an exception block relates to the one printed before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainLink {
    /// The first exception of a chain.
    First,
    /// "During handling of the above exception, another exception occurred:"
    DuringHandling,
    /// "The above exception was the direct cause of the following exception:"
    DirectCause,
}

/// One exception with the frames that led to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionBlock {
    pub link: ChainLink,
    pub frames: Vec<Frame>,
    /// The exception's type as printed (`requests.exceptions.HTTPError`,
    /// `KeyError`), with Twisted's `builtins.` prefix removed.
    pub exc_type: String,
    /// The message, continuation lines included (pydantic prints several).
    pub message: String,
    /// 1-based line of the exception line in the log.
    pub line_no: usize,
}

impl ExceptionBlock {
    /// The type without its module path: `HTTPError` for
    /// `requests.exceptions.HTTPError`.
    pub fn short_type(&self) -> &str {
        self.exc_type.rsplit('.').next().unwrap_or(&self.exc_type)
    }

    /// The exception line as Python printed it (first message line only).
    pub fn headline(&self) -> String {
        match self.message.lines().next() {
            Some(first) if !first.is_empty() => format!("{}: {}", self.exc_type, first),
            _ => self.exc_type.clone(),
        }
    }
}

/// One printed traceback, possibly a chain of several exceptions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traceback {
    /// In print order; never empty.
    pub chain: Vec<ExceptionBlock>,
    /// 1-based line of the first `Traceback (most recent call last):`.
    pub start_line: usize,
}

impl Traceback {
    /// The exception that ended the chain: the error the run died of.
    /// `None` only for a hand-built traceback with an empty chain.
    pub fn error(&self) -> Option<&ExceptionBlock> {
        self.chain.last()
    }
}

static FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?\s*$"#)
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});
static EXCEPTION_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<type>[A-Za-z_][\w.]*)(?::(?: (?P<msg>.*))?)?\s*$")
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});
/// A line that starts a new log record, which ends a multi-line message.
pub(crate) static LOG_RECORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}|(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)[:\s])",
    )
    .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});
/// The timestamp `kubectl logs --timestamps` (and the CRI log format) put
/// before every line.
static K8S_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}) (?:(?:stdout|stderr) [FP] )?")
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});

const TRACEBACK_HEAD: &str = "Traceback (most recent call last):";
const GROUP_HEAD: &str = "+ Exception Group Traceback (most recent call last):";
const DURING_HANDLING: &str = "During handling of the above exception, another exception occurred:";
const DIRECT_CAUSE: &str = "The above exception was the direct cause of the following exception:";
const MAX_MESSAGE_LINES: usize = 40;

/// The log's lines with container-runtime timestamps removed, so a log read
/// with `kubectl logs --timestamps` parses like the plain one. Exception
/// groups (Python 3.11+, asyncio's `TaskGroup`) lose their `|` and `+-`
/// decoration, line for line, so the group and each sub-exception parse as
/// tracebacks of their own, the sub-exceptions last.
pub(crate) fn log_lines(log: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_group = false;
    for raw in log.lines() {
        let line = match K8S_PREFIX.find(raw) {
            Some(m) => &raw[m.end()..],
            None => raw,
        };
        let line = line.trim_end_matches('\r');
        let trimmed = line.trim_start();
        if trimmed.starts_with(GROUP_HEAD) {
            in_group = true;
            out.push(TRACEBACK_HEAD);
            continue;
        }
        if in_group {
            if trimmed.starts_with("+-") {
                out.push("");
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix('|') {
                let rest = rest.strip_prefix(' ').unwrap_or(rest);
                out.push(if rest.trim_start().starts_with(GROUP_HEAD) {
                    TRACEBACK_HEAD
                } else {
                    rest
                });
                continue;
            }
            in_group = false;
        }
        out.push(line);
    }
    out
}

/// Every traceback printed in `log`, in order. Chained exceptions belong to
/// one [`Traceback`]; a traceback cut off before its exception line is dropped.
pub fn parse_tracebacks(log: &str) -> Vec<Traceback> {
    parse_lines(&log_lines(log))
}

pub(crate) fn parse_lines(lines: &[&str]) -> Vec<Traceback> {
    let mut out = Vec::new();
    let mut current: Option<Traceback> = None;
    let mut pending: Option<ChainLink> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line == TRACEBACK_HEAD {
            let head = i;
            let (block, next) = parse_block(lines, i + 1);
            i = next;
            let Some(mut block) = block else {
                pending = None;
                continue;
            };
            match (pending.take(), current.as_mut()) {
                (Some(link), Some(tb)) => {
                    block.link = link;
                    tb.chain.push(block);
                }
                _ => {
                    out.extend(current.take());
                    current = Some(Traceback {
                        chain: vec![block],
                        start_line: head + 1,
                    });
                }
            }
            continue;
        }
        if line == DURING_HANDLING && current.is_some() {
            pending = Some(ChainLink::DuringHandling);
        } else if line == DIRECT_CAUSE && current.is_some() {
            pending = Some(ChainLink::DirectCause);
        } else if !line.is_empty() && pending.is_none() {
            out.extend(current.take());
        }
        i += 1;
    }
    out.extend(current);
    out
}

/// Parses frames and the exception line starting at `start`; returns the block
/// (if the exception line was found) and the index of the first unread line.
fn parse_block(lines: &[&str], start: usize) -> (Option<ExceptionBlock>, usize) {
    let mut frames = Vec::new();
    let mut i = start;
    while i < lines.len() {
        let raw = lines[i];
        if let Some(c) = FRAME.captures(raw) {
            frames.push(Frame {
                file: c["file"].to_owned(),
                line: c["line"].parse().ok(),
                function: c.name("func").map(|m| m.as_str().trim().to_owned()),
                source: None,
            });
            i += 1;
            continue;
        }
        let indented = raw.starts_with(' ') || raw.starts_with('\t');
        if indented && !raw.trim().is_empty() {
            let text = raw.trim();
            let is_marker = text.chars().all(|c| matches!(c, '^' | '~' | ' '))
                || text.starts_with("[Previous line repeated")
                || text.starts_with("...<")
                || text == "--- <exception caught here> ---";
            if let Some(frame) = frames.last_mut()
                && frame.source.is_none()
                && !is_marker
            {
                frame.source = Some(text.to_owned());
            }
            i += 1;
            continue;
        }
        if raw.trim() == "--- <exception caught here> ---" {
            i += 1;
            continue;
        }
        break;
    }
    let Some(head) = lines.get(i) else {
        return (None, i);
    };
    let Some(c) = EXCEPTION_LINE.captures(head) else {
        return (None, i);
    };
    let exc_type = c["type"]
        .strip_prefix("builtins.")
        .unwrap_or(&c["type"])
        .to_owned();
    let line_no = i + 1;
    let mut message = c
        .name("msg")
        .map_or(String::new(), |m| m.as_str().to_owned());
    i += 1;
    let mut taken = 0;
    while i < lines.len() && taken < MAX_MESSAGE_LINES {
        let next = lines[i];
        let t = next.trim();
        if t.is_empty()
            || t == TRACEBACK_HEAD
            || t == DURING_HANDLING
            || t == DIRECT_CAUSE
            || LOG_RECORD.is_match(next)
        {
            break;
        }
        message.push('\n');
        message.push_str(next.trim_end());
        taken += 1;
        i += 1;
    }
    let block = ExceptionBlock {
        link: ChainLink::First,
        frames,
        exc_type,
        message,
        line_no,
    };
    (Some(block), i)
}

//! Operation handlers: each reads and changes the fake's world for one GitHub operation.

pub mod actions;
pub mod app;
pub mod checks;
pub mod downloads;
pub mod issues;
pub mod json;
pub mod manifest;
pub mod pulls;
pub mod repos;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::auth::Caller;
use super::openapi::MatchedOperation;
use super::state::{Repository, World};

/// What a handler sees of the request.
pub struct Ctx<'a> {
    pub world: &'a mut World,
    pub base: &'a str,
    /// The request path (without query), for pagination links.
    pub path: &'a str,
    /// The `Accept` header, for media types that change the answer (`vnd.github.raw`).
    pub accept: &'a str,
    pub op: &'a MatchedOperation,
    pub query: &'a [(String, String)],
    pub body: Option<&'a Value>,
    pub caller: &'a Caller,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    pub fn param(&self, name: &str) -> String {
        self.op.params.get(name).cloned().unwrap_or_default()
    }

    pub fn param_u64(&self, name: &str) -> Option<u64> {
        self.op.params.get(name).and_then(|v| v.parse().ok())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn field(&self, name: &str) -> Option<&Value> {
        self.body.and_then(|b| b.get(name)).filter(|v| !v.is_null())
    }

    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(Value::as_str)
    }

    /// The login acting: the App's bot for installation tokens.
    pub fn actor(&self) -> String {
        self.world.app.bot_login()
    }

    /// `{owner}/{repo}` of the request as a key into the world.
    pub fn repo_key(&self) -> (String, String) {
        (self.param("owner"), self.param("repo"))
    }

    pub fn repo(&self) -> Result<&Repository, Reply> {
        let (o, r) = self.repo_key();
        self.world.repo(&o, &r).ok_or_else(not_found)
    }

    pub fn repo_mut(&mut self) -> Result<&mut Repository, Reply> {
        let (o, r) = self.repo_key();
        self.world.repo_mut(&o, &r).ok_or_else(not_found)
    }

    pub fn git(&self) -> Result<git2::Repository, Reply> {
        let repo = self.repo()?;
        super::git::open(&repo.bare_path).map_err(|e| Reply::error(500, &e))
    }
}

/// A handler's answer.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
    /// A non-JSON body: content type and bytes.
    pub raw: Option<Box<(String, Vec<u8>)>>,
    /// A hook delivery to send to the App under test after answering.
    pub redeliver: Option<Box<app::Redelivery>>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            ..Reply::default()
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::default()
        }
    }

    /// GitHub's error shape: `{"message", "documentation_url"}`.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::json(
            status,
            json!({ "message": message, "documentation_url": "https://docs.github.com/rest" }),
        )
    }

    pub fn header(mut self, name: &str, value: String) -> Reply {
        self.headers.push((name.to_string(), value));
        self
    }
}

/// One page of `items` by `page`/`per_page` (default 30, at most 100), with
/// GitHub's `Link` header (`next`, `last`) when there is more.
pub fn paginate(ctx: &Ctx<'_>, items: Vec<Value>) -> Reply {
    paginate_as(ctx, items, |page| page)
}

/// Like [`paginate`] for lists GitHub wraps in an object:
/// `{"total_count": <all items>, key: [<this page>]}`.
pub fn paginate_wrapped(ctx: &Ctx<'_>, key: &str, items: Vec<Value>) -> Reply {
    let total = items.len();
    paginate_as(
        ctx,
        items,
        |page| json!({ "total_count": total, key: page }),
    )
}

/// Percent-escapes a query key or value: everything but RFC 3986's unreserved
/// characters, so `&`, `=`, `+` and `#` in a value survive a round trip.
pub fn escape_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn paginate_as(ctx: &Ctx<'_>, items: Vec<Value>, wrap: impl FnOnce(Value) -> Value) -> Reply {
    let per_page: usize = ctx
        .query("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = ctx
        .query("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let reply = Reply::json(200, wrap(Value::Array(slice)));
    if page >= last {
        return reply;
    }
    let others: String = ctx
        .query
        .iter()
        .filter(|(k, _)| k != "page" && k != "per_page")
        .map(|(k, v)| format!("&{}={}", escape_query(k), escape_query(v)))
        .collect();
    let link = |p: usize, rel: &str| {
        format!(
            "<{}{}?per_page={per_page}&page={p}{others}>; rel=\"{rel}\"",
            ctx.base, ctx.path
        )
    };
    reply.header(
        "link",
        format!("{}, {}", link(page + 1, "next"), link(last, "last")),
    )
}

pub fn not_found() -> Reply {
    Reply::error(404, "Not Found")
}

/// Runs the handler for the matched operation; `None` when the fake does not serve it.
pub fn dispatch(ctx: &mut Ctx<'_>) -> Option<Reply> {
    if let Err(reply) = check_scope(ctx) {
        return Some(reply);
    }
    let op = ctx.op.operation_id.clone();
    let result = app::dispatch(&op, ctx)
        .or_else(|| repos::dispatch(&op, ctx))
        .or_else(|| pulls::dispatch(&op, ctx))
        .or_else(|| issues::dispatch(&op, ctx))
        .or_else(|| checks::dispatch(&op, ctx))
        .or_else(|| actions::dispatch(&op, ctx))?;
    Some(result.unwrap_or_else(|reply| reply))
}

/// An installation token reaches only its installation's repositories; GitHub answers 404 otherwise.
fn check_scope(ctx: &Ctx<'_>) -> Result<(), Reply> {
    let (owner, repo) = ctx.repo_key();
    if owner.is_empty() || repo.is_empty() {
        return Ok(());
    }
    if ctx.world.repo(&owner, &repo).is_none() {
        return Err(not_found());
    }
    match ctx.caller {
        Caller::Installation(id) if ctx.world.installation_of(&owner, &repo) != Some(*id) => {
            Err(not_found())
        }
        _ => Ok(()),
    }
}

/// The handler result type: an answer either way.
pub type Handled = Result<Reply, Reply>;

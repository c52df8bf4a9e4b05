//! Sending one request: credentials per attempt, the retry policy around it,
//! GitHub's error bodies turned into [`OpsError`]s.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::de::DeserializeOwned;

use super::{GitHubClient, OpsError, Principal};
use crate::github::auth::InstallationTokens;
use crate::github::retry::Replay;

/// Characters escaped inside one path segment (RFC 3986 `pchar` complement).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'^')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'|');

/// Escapes one path segment (a label name, an owner).
pub(crate) fn segment(raw: &str) -> String {
    utf8_percent_encode(raw, SEGMENT).to_string()
}

/// Escapes one query value (a check name, a branch, a cursor) as form data, which is
/// how GitHub reads a query: `&`, `=`, `+` and `#` would otherwise end the value
/// or change it (`+` reads as a space).
pub(crate) fn query_value(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// Escapes a slash-separated path (a file path, a branch name) keeping its slashes.
pub(crate) fn path(raw: &str) -> String {
    raw.split('/').map(segment).collect::<Vec<_>>().join("/")
}

/// One request as the operations build it.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub operation: &'static str,
    pub method: Method,
    /// Path and query, relative to the API base (`/repos/...`), or an absolute URL.
    pub route: String,
    pub body: Option<serde_json::Value>,
    pub replay: Replay,
}

impl Call {
    pub fn new(operation: &'static str, method: Method, route: impl Into<String>) -> Self {
        let replay = if method == Method::POST {
            Replay::CheckFirst
        } else {
            Replay::Safe
        };
        Self {
            operation,
            method,
            route: route.into(),
            body: None,
            replay,
        }
    }

    pub fn get(operation: &'static str, route: impl Into<String>) -> Self {
        Self::new(operation, Method::GET, route)
    }

    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Marks a POST whose repetition has no further effect.
    pub fn replay_safe(mut self) -> Self {
        self.replay = Replay::Safe;
        self
    }
}

/// What GitHub answered to one successful request.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn decode<T: DeserializeOwned>(&self, operation: &'static str) -> Result<T, OpsError> {
        serde_json::from_slice(&self.body).map_err(|source| OpsError::Decode { operation, source })
    }
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    message: Option<String>,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// GitHub's error message, with the validation details a 422 carries.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { message, errors }) => {
            let mut message =
                message.unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
            for error in errors {
                let detail = error
                    .get("message")
                    .or_else(|| error.get("code"))
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .unwrap_or_else(|| error.to_string());
                message.push_str(" (");
                message.push_str(&detail);
                message.push(')');
            }
            message
        }
        Err(_) => String::from_utf8_lossy(body).chars().take(300).collect(),
    }
}

impl GitHubClient {
    /// The octocrab handle carrying this principal's current credential.
    pub(crate) async fn authed(&self, operation: &'static str) -> Result<Octocrab, OpsError> {
        let token = match (&self.principal, &self.auth) {
            (Principal::Anonymous, _) => return Ok(self.base.clone()),
            (Principal::App, Some(auth)) => auth.jwt()?,
            (Principal::Installation(id), Some(auth)) => auth.installation_token(*id).await?.token,
            (_, None) => return Err(OpsError::NoCredentials { operation }),
        };
        self.base
            .user_access_token(token)
            .map_err(|e| OpsError::Request {
                operation,
                detail: e.to_string(),
            })
    }

    /// One attempt, no retries. A 401 on an installation token drops the
    /// cached token so the next attempt mints a new one.
    async fn attempt(&self, call: &Call) -> Result<Reply, OpsError> {
        let operation = call.operation;
        let octo = self.authed(operation).await?;
        let builder = http::Request::builder()
            .method(call.method.clone())
            .uri(call.route.as_str());
        let request = octo
            .build_request(builder, call.body.as_ref())
            .map_err(|e| OpsError::Request {
                operation,
                detail: e.to_string(),
            })?;
        let response = octo
            .execute(request)
            .await
            .map_err(|e| OpsError::Transport {
                operation,
                source: Box::new(e),
            })?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| OpsError::Transport {
                operation,
                source: Box::new(e),
            })?
            .to_bytes();
        let status = parts.status;
        if status.is_success() || status.is_redirection() {
            return Ok(Reply {
                status,
                headers: parts.headers,
                body,
            });
        }
        if status == StatusCode::UNAUTHORIZED
            && let (Principal::Installation(id), Some(auth)) = (&self.principal, &self.auth)
        {
            auth.forget(*id);
        }
        Err(OpsError::Api {
            operation,
            status,
            message: error_message(status, &body),
            headers: Box::new(parts.headers),
        })
    }

    /// Sends `call` under the retry policy.
    pub(crate) async fn send(&self, call: Call) -> Result<Reply, OpsError> {
        self.policy.run(call.replay, || self.attempt(&call)).await
    }

    /// Sends a creating `call`; after an ambiguous failure `check` looks for
    /// its effect and the call is repeated only if none is found.
    pub(crate) async fn send_checked<T, C, CFut>(
        &self,
        call: Call,
        decode: impl Fn(&Reply) -> Result<T, OpsError>,
        check: C,
    ) -> Result<T, OpsError>
    where
        C: FnMut() -> CFut,
        CFut: Future<Output = Result<Option<T>, OpsError>>,
    {
        self.policy
            .run_checked(
                call.replay,
                || async { self.attempt(&call).await.and_then(|reply| decode(&reply)) },
                check,
            )
            .await
    }

    /// Sends `call` and decodes its JSON body.
    pub(crate) async fn fetch<T: DeserializeOwned>(&self, call: Call) -> Result<T, OpsError> {
        let operation = call.operation;
        self.send(call).await?.decode(operation)
    }

    /// Every item of a list endpoint whose body is a JSON array, over all its
    /// pages. The route should ask for `per_page=100`.
    pub(crate) async fn fetch_all<T: DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<Vec<T>, OpsError> {
        let operation = call.operation;
        self.fetch_pages(call, |reply| reply.decode(operation))
            .await
    }

    /// Every item of a list endpoint over all its pages: sends `call`, takes
    /// the page's items with `items`, and follows `Link: rel="next"` (page
    /// numbers or cursors alike) until GitHub names no next page. A next page
    /// on another host than the API's is refused (it would get our
    /// credentials), and so is a list longer than [`MAX_PAGES`] pages.
    pub(crate) async fn fetch_pages<T>(
        &self,
        call: Call,
        items: impl Fn(&Reply) -> Result<Vec<T>, OpsError>,
    ) -> Result<Vec<T>, OpsError> {
        let operation = call.operation;
        let mut all = Vec::new();
        let mut call = call;
        for _ in 0..MAX_PAGES {
            let reply = self.send(call.clone()).await?;
            all.extend(items(&reply)?);
            let Some(next) = next_link(&reply.headers) else {
                return Ok(all);
            };
            call.route = self.same_origin_route(operation, &next)?;
        }
        Err(OpsError::Unexpected {
            operation,
            detail: format!("the list has more than {MAX_PAGES} pages; narrow the request"),
        })
    }

    /// The path and query of `url` if it is on this client's API host.
    fn same_origin_route(&self, operation: &'static str, url: &str) -> Result<String, OpsError> {
        let unexpected = |detail: String| OpsError::Unexpected { operation, detail };
        let target = url::Url::parse(url)
            .or_else(|_| self.api_base.join(url))
            .map_err(|e| unexpected(format!("next page {url:?}: {e}")))?;
        if target.origin() != self.api_base.origin() {
            return Err(unexpected(format!(
                "next page {url:?} is not on the API host {}",
                self.api_base
            )));
        }
        Ok(match target.query() {
            Some(query) => format!("{}?{query}", target.path()),
            None => target.path().to_owned(),
        })
    }
}

/// Pages followed by one list call at most (10,000 items at 100 a page).
pub const MAX_PAGES: usize = 100;

impl GitHubClient {
    /// Runs a typed octocrab call (e.g. `octo.repos(owner, name).get()`) with
    /// this principal's credentials under the same retry policy as every
    /// other call. `call` runs once per attempt.
    pub async fn typed<T, F, Fut>(
        &self,
        operation: &'static str,
        replay: Replay,
        call: F,
    ) -> Result<T, OpsError>
    where
        F: Fn(Octocrab) -> Fut,
        Fut: Future<Output = Result<T, octocrab::Error>>,
    {
        self.policy
            .run(replay, || async {
                let octo = self.authed(operation).await?;
                call(octo)
                    .await
                    .map_err(|e| self.classify_octocrab_error(operation, e))
            })
            .await
    }

    fn classify_octocrab_error(&self, operation: &'static str, error: octocrab::Error) -> OpsError {
        match error {
            octocrab::Error::GitHub { source, .. } => {
                if source.status_code == StatusCode::UNAUTHORIZED
                    && let (Principal::Installation(id), Some(auth)) = (&self.principal, &self.auth)
                {
                    auth.forget(*id);
                }
                OpsError::Api {
                    operation,
                    status: source.status_code,
                    message: source.message,
                    headers: Box::new(source.headers.unwrap_or_default()),
                }
            }
            octocrab::Error::Json { source, .. } => OpsError::Decode {
                operation,
                source: source.into_inner(),
            },
            octocrab::Error::Serde { source, .. } => OpsError::Decode { operation, source },
            e @ (octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. }) => {
                OpsError::Transport {
                    operation,
                    source: Box::new(e),
                }
            }
            other => OpsError::Request {
                operation,
                detail: other.to_string(),
            },
        }
    }
}

/// The `rel="next"` URL of a `Link` header, if there is a next page.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let url = pieces.next()?.trim().strip_prefix('<')?.strip_suffix('>')?;
        pieces
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| url.to_owned())
    })
}

/// The value of query parameter `name` in `url` (a cursor, a page number).
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url)
        .or_else(|_| url::Url::parse(&format!("http://x{url}")))
        .ok()?;
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_finds_the_next_page_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::LINK,
            "<https://api.github.com/app/hook/deliveries?per_page=2&cursor=v1_12077215967>; rel=\"next\", \
             <https://api.github.com/app/hook/deliveries?per_page=2>; rel=\"first\""
                .parse()
                .unwrap(),
        );
        let next = next_link(&h).unwrap();
        assert_eq!(
            query_param(&next, "cursor").as_deref(),
            Some("v1_12077215967")
        );
        assert_eq!(query_param(&next, "per_page").as_deref(), Some("2"));
    }

    #[test]
    fn no_next_link_on_the_last_page() {
        let mut h = HeaderMap::new();
        assert_eq!(next_link(&h), None);
        h.insert(
            http::header::LINK,
            "<https://api.github.com/x?page=1>; rel=\"prev\""
                .parse()
                .unwrap(),
        );
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn query_values_are_escaped_as_form_data() {
        assert_eq!(
            query_value("lint & test+x=1#2"),
            "lint+%26+test%2Bx%3D1%232"
        );
        assert_eq!(query_value("fixwright/shop"), "fixwright%2Fshop");
        assert_eq!(query_value("v1_12077215967"), "v1_12077215967");
        let url = format!("/x?cursor={}&per_page=2", query_value("a+b=c&d"));
        assert_eq!(query_param(&url, "cursor").as_deref(), Some("a+b=c&d"));
    }

    #[test]
    fn paths_are_escaped_per_segment() {
        assert_eq!(segment("fixwright: high"), "fixwright:%20high");
        assert_eq!(segment("a/b"), "a%2Fb");
        assert_eq!(
            path("fixwright/shop scraper/01J"),
            "fixwright/shop%20scraper/01J"
        );
    }

    #[test]
    fn error_messages_include_validation_details() {
        let body = br#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for o:b."}]}"#;
        assert_eq!(
            error_message(StatusCode::UNPROCESSABLE_ENTITY, body),
            "Validation Failed (A pull request already exists for o:b.)"
        );
    }
}

//! The GitHub operations layer: one [`GitHubClient`] per principal (the App,
//! or one installation), every call through the single [`RetryPolicy`].
//!
//! Areas: [`git`] (refs, git data, contents), [`pulls`] (pull requests,
//! merges, labels, reviewers, comments, reactions, permissions), [`checks`]
//! (check runs and annotations), [`actions`] (workflow runs and logs),
//! [`app`] (installation tokens, hook deliveries, manifests),
//! [`codeowners`] (finding and reading CODEOWNERS) and [`remote`] (where and
//! how to fetch a repository with git).

pub mod actions;
pub mod app;
pub mod checks;
pub mod codeowners;
pub mod git;
mod http_call;
pub mod pulls;
pub mod remote;

use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use octocrab::Octocrab;

use super::auth::{AppAuth, AuthError};
use super::retry::{Classify, Outcome, RetryPolicy};
use super::{InstallationId, RepoName};

pub use http_call::next_link;

/// Who a client acts as.
#[derive(Debug, Clone)]
pub(crate) enum Principal {
    /// No credentials (the manifest conversion is authenticated by its code).
    Anonymous,
    /// The App itself, with a JWT.
    App,
    /// One installation, with its access token.
    Installation(InstallationId),
}

/// A GitHub API client for one principal. Cheap to clone; every method
/// retries per the App's [`RetryPolicy`] and never repeats a creating call
/// without first checking whether it already took effect.
#[derive(Clone)]
pub struct GitHubClient {
    api_base: url::Url,
    base: Octocrab,
    auth: Option<Arc<AppAuth>>,
    principal: Principal,
    policy: RetryPolicy,
}

impl std::fmt::Debug for GitHubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubClient")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// Why a GitHub operation failed. Every variant names the operation.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("GitHub answered {status} to {operation}: {message}")]
    Api {
        operation: &'static str,
        status: StatusCode,
        message: String,
        headers: Box<HeaderMap>,
    },
    #[error("could not reach GitHub for {operation}: {source}")]
    Transport {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("unexpected response body for {operation}: {source}")]
    Decode {
        operation: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot build the request for {operation}: {detail}")]
    Request {
        operation: &'static str,
        detail: String,
    },
    #[error("{operation}: {detail}")]
    Unexpected {
        operation: &'static str,
        detail: String,
    },
    #[error("{operation} needs App credentials, but this client has none")]
    NoCredentials { operation: &'static str },
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl OpsError {
    /// The HTTP status GitHub answered, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether GitHub answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }
}

impl Classify for OpsError {
    fn with_outcome<R>(&self, f: impl FnOnce(Outcome<'_>) -> R) -> R {
        match self {
            Self::Api {
                status, headers, ..
            } => f(Outcome::Status(*status, headers)),
            Self::Transport { .. } => f(Outcome::Transport),
            _ => f(Outcome::Fatal),
        }
    }
}

impl GitHubClient {
    pub(crate) fn new(auth: Arc<AppAuth>, principal: Principal) -> Self {
        Self {
            api_base: auth.api_base().clone(),
            base: auth.base().clone(),
            policy: auth.retry_policy().clone(),
            auth: Some(auth),
            principal,
        }
    }

    /// A client without credentials, for the few endpoints that need none.
    pub fn anonymous(api_base: &url::Url, policy: RetryPolicy) -> Result<Self, AuthError> {
        let base = super::auth::base_octocrab(api_base)?;
        Ok(Self {
            api_base: api_base.clone(),
            base,
            auth: None,
            principal: Principal::Anonymous,
            policy,
        })
    }

    /// The installation this client acts for, if it acts for one.
    pub fn installation(&self) -> Option<InstallationId> {
        match self.principal {
            Principal::Installation(id) => Some(id),
            _ => None,
        }
    }

    /// The API root this client talks to.
    pub fn api_base(&self) -> &url::Url {
        &self.api_base
    }

    /// The retry policy this client applies.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }
}

/// `/repos/{owner}/{repo}` with both parts escaped.
fn repo_path(repo: &RepoName) -> String {
    format!(
        "/repos/{}/{}",
        http_call::segment(repo.owner()),
        http_call::segment(repo.name())
    )
}

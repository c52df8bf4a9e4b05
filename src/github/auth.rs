//! GitHub App authentication: the App's RS256 JWT, and installation access
//! tokens cached per installation and refreshed before they expire.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use octocrab::Octocrab;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use super::ops::{GitHubClient, OpsError, Principal};
use super::retry::RetryPolicy;
use super::{AppId, InstallationId};

/// Why the App cannot authenticate.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read the GitHub App private key {path}: {source}")]
    KeyUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the GitHub App private key {path} is not a usable RSA PEM key: {source}")]
    KeyInvalid {
        path: PathBuf,
        source: jsonwebtoken::errors::Error,
    },
    #[error("GitHub API base URL {url:?} is not usable: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("the GitHub client must be created inside a Tokio runtime")]
    NoRuntime,
    #[error("cannot sign the App JWT: {0}")]
    Jwt(#[source] jsonwebtoken::errors::Error),
    #[error("cannot mint an access token for installation {installation}: {source}")]
    InstallationToken {
        installation: InstallationId,
        #[source]
        source: Box<OpsError>,
    },
}

/// The current time; injectable so token expiry can be tested without waiting.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What the webhook inbox needs from token management: drop what is cached
/// for an installation that was deleted or suspended.
pub trait InstallationTokens: Send + Sync {
    /// Forgets the cached token of `installation`; the next call mints a new one.
    fn forget(&self, installation: InstallationId);
}

/// The claims of an App JWT, as GitHub documents them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppClaims {
    /// Issued at, 60 s in the past to absorb clock drift.
    pub iat: i64,
    /// Expiry, at most 10 minutes after `iat` + 60 s (GitHub's limit).
    pub exp: i64,
    /// The App id.
    pub iss: String,
}

impl AppClaims {
    /// The claims for a JWT used at `now`: valid from a minute ago for nine minutes ahead.
    pub fn at(app_id: AppId, now: DateTime<Utc>) -> Self {
        let now = now.timestamp();
        Self {
            iat: now - 60,
            exp: now + 9 * 60,
            iss: app_id.to_string(),
        }
    }
}

/// An installation access token and when it stops working.
#[derive(Clone)]
pub struct InstallationToken {
    pub token: SecretString,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for InstallationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallationToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How the App reaches GitHub.
#[derive(Debug, Clone)]
pub struct AppSettings {
    pub app_id: AppId,
    /// `https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise Server.
    pub api_base: Url,
    /// Tokens with less than this left are refreshed before use.
    pub refresh_margin: TimeDelta,
    pub retry: RetryPolicy,
}

impl AppSettings {
    /// Settings for api.github.com with the default retry policy.
    pub fn new(app_id: AppId, api_base: Url) -> Self {
        Self {
            app_id,
            api_base,
            refresh_margin: TimeDelta::minutes(5),
            retry: RetryPolicy::default(),
        }
    }
}

/// How long a signed App JWT is reused (it is valid for 10 minutes).
const JWT_REUSE: TimeDelta = TimeDelta::minutes(5);

type Slot = Arc<tokio::sync::Mutex<Option<InstallationToken>>>;

/// The App's identity: signs JWTs, mints and caches installation tokens, and
/// hands out [`GitHubClient`]s. Share it behind an `Arc`.
pub struct AppAuth {
    settings: AppSettings,
    key: EncodingKey,
    base: Octocrab,
    clock: Arc<dyn Clock>,
    tokens: Mutex<HashMap<InstallationId, Slot>>,
    jwt: Mutex<Option<(SecretString, DateTime<Utc>)>>,
}

impl std::fmt::Debug for AppAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppAuth")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppAuth {
    /// Loads the private key from `key_path` and checks it can sign, so a bad
    /// key fails at start-up with the path in the message. Call inside a Tokio runtime.
    pub fn from_key_file(
        settings: AppSettings,
        key_path: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AuthError> {
        let pem = std::fs::read(key_path).map_err(|source| AuthError::KeyUnreadable {
            path: key_path.to_owned(),
            source,
        })?;
        Self::from_pem(settings, &pem, key_path, clock)
    }

    /// Like [`Self::from_key_file`] with the PEM already in memory; `origin`
    /// names where it came from in errors.
    pub fn from_pem(
        settings: AppSettings,
        pem: &[u8],
        origin: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AuthError> {
        let invalid = |source| AuthError::KeyInvalid {
            path: origin.to_owned(),
            source,
        };
        let key = EncodingKey::from_rsa_pem(pem).map_err(invalid)?;
        // Parsing is lazy for some key shapes; signing once proves the key works.
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &AppClaims::at(settings.app_id, clock.now()),
            &key,
        )
        .map_err(invalid)?;
        let base = base_octocrab(&settings.api_base)?;
        Ok(Self {
            settings,
            key,
            base,
            clock,
            tokens: Mutex::new(HashMap::new()),
            jwt: Mutex::new(None),
        })
    }

    /// The App's id.
    pub fn app_id(&self) -> AppId {
        self.settings.app_id
    }

    /// The API root (`https://api.github.com`, or GHES's `/api/v3`).
    pub fn api_base(&self) -> &Url {
        &self.settings.api_base
    }

    /// The retry policy every client from this App uses.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.settings.retry
    }

    /// An App JWT (RS256, `iat` 60 s before signing, `exp` 9 minutes after)
    /// with at least 4 minutes of validity left. Signed JWTs are reused for
    /// up to 5 minutes: RSA signing is the costly part of an App call.
    pub fn jwt(&self) -> Result<SecretString, AuthError> {
        let now = self.clock.now();
        let mut cached = self
            .jwt
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((token, signed_at)) = cached.as_ref()
            && *signed_at <= now
            && now - *signed_at < JWT_REUSE
        {
            return Ok(token.clone());
        }
        let claims = AppClaims::at(self.settings.app_id, now);
        let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map(SecretString::from)
            .map_err(AuthError::Jwt)?;
        *cached = Some((token.clone(), now));
        Ok(token)
    }

    /// A client acting as the App itself (JWT): hook deliveries, installations.
    pub fn app_client(self: &Arc<Self>) -> GitHubClient {
        GitHubClient::new(self.clone(), Principal::App)
    }

    /// A client acting as `installation` (installation token): repository work.
    pub fn installation_client(self: &Arc<Self>, installation: InstallationId) -> GitHubClient {
        GitHubClient::new(self.clone(), Principal::Installation(installation))
    }

    /// An unauthenticated octocrab for this base URL (the client adds credentials per request).
    pub(crate) fn base(&self) -> &Octocrab {
        &self.base
    }

    /// A valid token for `installation`, from the cache unless it expires within the refresh margin.
    // A boxed future rather than `async fn`: minting a token goes through the
    // same client machinery that asks here for tokens, and the box breaks the cycle.
    pub fn installation_token(
        self: &Arc<Self>,
        installation: InstallationId,
    ) -> Pin<Box<dyn Future<Output = Result<InstallationToken, AuthError>> + Send + '_>> {
        Box::pin(async move {
            let slot = {
                let mut tokens = self
                    .tokens
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                tokens.entry(installation).or_default().clone()
            };
            // One refresh per installation at a time; others wait and reuse it.
            let mut cached = slot.lock().await;
            if let Some(token) = cached.as_ref()
                && token.expires_at - self.settings.refresh_margin > self.clock.now()
            {
                return Ok(token.clone());
            }
            let fresh = self
                .app_client()
                .create_installation_token(installation)
                .await
                .map_err(|source| AuthError::InstallationToken {
                    installation,
                    source: Box::new(source),
                })?;
            tracing::debug!(%installation, expires_at = %fresh.expires_at, "minted installation token");
            *cached = Some(fresh.clone());
            Ok(fresh)
        })
    }
}

impl InstallationTokens for AppAuth {
    fn forget(&self, installation: InstallationId) {
        let mut tokens = self
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tokens.remove(&installation);
    }
}

/// The inbox drops an uninstalled installation's tokens through this. The
/// inbox stores GitHub's id as a signed integer; ids are never negative, and one
/// that were could not be cached here either, so it is ignored.
impl crate::inbox::TokenCache for AppAuth {
    fn forget_installation(&self, installation: crate::store::inbox::InstallationId) {
        if let Ok(id) = u64::try_from(installation.0) {
            self.forget(InstallationId(id));
        }
    }
}

/// An unauthenticated octocrab for `api_base`. Octocrab spawns its buffer
/// task on the current runtime, so this refuses to run outside one.
pub(crate) fn base_octocrab(api_base: &Url) -> Result<Octocrab, AuthError> {
    tokio::runtime::Handle::try_current().map_err(|_| AuthError::NoRuntime)?;
    let bad = |reason: String| AuthError::BaseUrl {
        url: api_base.to_string(),
        reason,
    };
    if !matches!(api_base.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https".into()));
    }
    Octocrab::builder()
        .base_uri(api_base.as_str())
        .map_err(|e| bad(e.to_string()))?
        .build()
        .map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn claims_follow_githubs_rules() {
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let claims = AppClaims::at(AppId(42), now);
        assert_eq!(claims.iat, now.timestamp() - 60);
        assert!(claims.exp - claims.iat <= 600);
        assert!(claims.exp > now.timestamp());
        assert_eq!(claims.iss, "42");
    }
}

//! App-level endpoints: installation tokens, webhook deliveries, and the
//! manifest conversion that creates an App.

use chrono::{DateTime, Utc};
use http::Method;
use secrecy::SecretString;
use serde::Deserialize;

use super::http_call::{Call, next_link, query_param};
use super::{GitHubClient, OpsError};
use crate::github::auth::InstallationToken;
use crate::github::{AppId, DeliveryGuid, HookDeliveryId, InstallationId, RepositoryId};

/// One attempt to deliver a webhook, as `GET /app/hook/deliveries` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookDelivery {
    /// This attempt's id (used to ask for a redelivery).
    pub id: HookDeliveryId,
    /// The event's id, shared by every attempt to deliver it.
    pub guid: DeliveryGuid,
    pub delivered_at: DateTime<Utc>,
    /// Whether this attempt was itself a redelivery.
    pub redelivery: bool,
    /// "OK" when our endpoint answered 2xx; otherwise GitHub's description.
    pub status: String,
    /// Our endpoint's HTTP status, 0 when it could not be reached.
    pub status_code: u16,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<InstallationId>,
    pub repository_id: Option<RepositoryId>,
}

impl HookDelivery {
    /// Whether our endpoint accepted this attempt.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

/// One page of deliveries (newest first) and the cursor of the next, if any.
#[derive(Debug, Clone)]
pub struct DeliveryPage {
    pub deliveries: Vec<HookDelivery>,
    pub next_cursor: Option<String>,
}

/// What GitHub returns when a manifest code is converted into an App.
#[derive(Deserialize)]
pub struct ManifestConversion {
    pub id: AppId,
    pub slug: Option<String>,
    pub name: String,
    pub html_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub webhook_secret: Option<SecretString>,
    pub pem: SecretString,
}

impl std::fmt::Debug for ManifestConversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestConversion")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The App as GitHub knows it (`GET /app`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AppIdentity {
    pub id: AppId,
    /// The App's URL name; its bot account is `<slug>[bot]`.
    pub slug: Option<String>,
    pub name: String,
}

#[derive(Deserialize)]
struct AccessToken {
    token: SecretString,
    expires_at: DateTime<Utc>,
}

impl GitHubClient {
    /// The App these credentials belong to (App credentials): proves that
    /// GitHub accepts the App's JWT.
    pub async fn get_app(&self) -> Result<AppIdentity, OpsError> {
        self.fetch(Call::get("read the App", "/app")).await
    }

    /// Mints an access token for `installation` (App credentials).
    pub async fn create_installation_token(
        &self,
        installation: InstallationId,
    ) -> Result<InstallationToken, OpsError> {
        // Minting twice only leaves an unused token behind.
        let call = Call::new(
            "create an installation access token",
            Method::POST,
            format!("/app/installations/{installation}/access_tokens"),
        )
        .replay_safe();
        let token: AccessToken = self.fetch(call).await?;
        Ok(InstallationToken {
            token: token.token,
            expires_at: token.expires_at,
        })
    }

    /// One page of the App's webhook deliveries, newest first (App
    /// credentials); `status` filters by `success` or `failure`.
    pub async fn list_hook_deliveries(
        &self,
        cursor: Option<&str>,
        per_page: u8,
        status: Option<&str>,
    ) -> Result<DeliveryPage, OpsError> {
        let operation = "list the App's webhook deliveries";
        let mut route = format!("/app/hook/deliveries?per_page={}", per_page.clamp(1, 100));
        if let Some(status) = status {
            route.push_str("&status=");
            route.push_str(&super::http_call::query_value(status));
        }
        if let Some(cursor) = cursor {
            route.push_str("&cursor=");
            route.push_str(&super::http_call::query_value(cursor));
        }
        let reply = self.send(Call::get(operation, route)).await?;
        let deliveries = reply.decode(operation)?;
        let next_cursor = next_link(&reply.headers).and_then(|url| query_param(&url, "cursor"));
        Ok(DeliveryPage {
            deliveries,
            next_cursor,
        })
    }

    /// Asks GitHub to deliver attempt `delivery` again (App credentials).
    /// Not repeated after an ambiguous failure: the next recovery pass sees
    /// whether the redelivery happened and asks again only if not.
    pub async fn redeliver(&self, delivery: HookDeliveryId) -> Result<(), OpsError> {
        let call = Call::new(
            "redeliver a webhook delivery",
            Method::POST,
            format!("/app/hook/deliveries/{delivery}/attempts"),
        );
        self.send(call).await.map(drop)
    }

    /// Converts the code GitHub's manifest flow redirected with into the new
    /// App's credentials. Needs no credentials; the code works once.
    pub async fn convert_manifest(&self, code: &str) -> Result<ManifestConversion, OpsError> {
        let call = Call::new(
            "convert an App manifest code",
            Method::POST,
            format!(
                "/app-manifests/{}/conversions",
                super::http_call::segment(code)
            ),
        );
        self.fetch(call).await
    }
}

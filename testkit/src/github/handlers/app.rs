//! App-level operations: the App itself, installations and their tokens, the
//! hook delivery log, and the manifest conversion.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::json::{repository, time, user};
use super::{Ctx, Handled, Reply, not_found};
use crate::github::state::{HookDelivery, Installation, IssuedToken};

/// A delivery to POST again to the App under test, signed with the App's secret.
#[derive(Debug, Clone)]
pub struct Redelivery {
    pub delivery: HookDelivery,
    pub secret: String,
}

pub fn dispatch(op: &str, ctx: &mut Ctx<'_>) -> Option<Handled> {
    Some(match op {
        "apps/get-authenticated" => Ok(Reply::json(200, integration(ctx))),
        "apps/list-installations" => {
            let list: Vec<Value> = ctx
                .world
                .installations
                .values()
                .map(|i| installation(ctx, i))
                .collect();
            Ok(Reply::json(200, Value::Array(list)))
        }
        "apps/get-installation" => get_installation(ctx),
        "apps/get-repo-installation" => {
            let (o, r) = ctx.repo_key();
            match ctx.world.installation_of(&o, &r) {
                Some(id) => {
                    let inst = ctx.world.installations.get(&id).cloned();
                    inst.map(|i| Reply::json(200, installation(ctx, &i)))
                        .ok_or_else(not_found)
                }
                None => Err(not_found()),
            }
        }
        "apps/create-installation-access-token" => create_token(ctx),
        "apps/list-webhook-deliveries" => list_deliveries(ctx),
        "apps/get-webhook-delivery" => {
            let id = ctx.param_u64("delivery_id");
            let found = ctx
                .world
                .deliveries
                .iter()
                .find(|d| Some(d.id) == id)
                .cloned();
            match found {
                Some(d) => {
                    let mut item = delivery_item(&d);
                    item["request"] = json!({ "headers": {}, "payload": d.payload });
                    item["response"] = json!({ "headers": {}, "payload": null });
                    item["url"] = json!(ctx.world.webhook_target);
                    Ok(Reply::json(200, item))
                }
                None => Err(not_found()),
            }
        }
        "apps/redeliver-webhook-delivery" => redeliver_delivery(ctx),
        "apps/create-from-manifest" => convert_manifest(ctx),
        "apps/list-repos-accessible-to-installation" => installation_repos(ctx),
        _ => return None,
    })
}

fn integration(ctx: &Ctx<'_>) -> Value {
    let app = &ctx.world.app;
    json!({
        "id": app.id,
        "slug": app.slug,
        "node_id": format!("A_{}", app.id),
        "client_id": app.client_id,
        "name": app.name,
        "owner": user(ctx.base, "fixwright-test-org"),
        "description": "Fake App",
        "external_url": "https://fixwright.invalid",
        "html_url": format!("{}/apps/{}", ctx.base, app.slug),
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "permissions": {
            "contents": "write", "pull_requests": "write", "issues": "write",
            "checks": "write", "actions": "read", "metadata": "read"
        },
        "events": ["issue_comment", "pull_request", "check_run", "workflow_run", "push"],
        "installations_count": ctx.world.installations.len(),
    })
}

fn installation(ctx: &Ctx<'_>, i: &Installation) -> Value {
    let base = ctx.base;
    json!({
        "id": i.id,
        "account": user(base, &i.account),
        "repository_selection": "selected",
        "access_tokens_url": format!("{base}/app/installations/{}/access_tokens", i.id),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("{base}/settings/installations/{}", i.id),
        "app_id": ctx.world.app.id,
        "app_slug": ctx.world.app.slug,
        "target_id": super::json::user_id(&i.account),
        "target_type": "Organization",
        "permissions": { "contents": "write", "pull_requests": "write", "issues": "write", "checks": "write" },
        "events": ["issue_comment", "pull_request"],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "single_file_name": null,
        "suspended_by": null,
        "suspended_at": null,
    })
}

fn get_installation(ctx: &mut Ctx<'_>) -> Handled {
    let id = ctx.param_u64("installation_id").ok_or_else(not_found)?;
    let inst = ctx
        .world
        .installations
        .get(&id)
        .cloned()
        .ok_or_else(not_found)?;
    Ok(Reply::json(200, installation(ctx, &inst)))
}

fn installation_repos(ctx: &mut Ctx<'_>) -> Handled {
    let crate::github::auth::Caller::Installation(id) = ctx.caller else {
        return Err(Reply::error(403, "requires an installation token"));
    };
    let inst = ctx
        .world
        .installations
        .get(id)
        .cloned()
        .ok_or_else(not_found)?;
    let repos: Vec<Value> = inst
        .repositories
        .iter()
        .filter_map(|(o, r)| ctx.world.repo(o, r))
        .map(|r| repository(ctx.base, r))
        .collect();
    Ok(Reply::json(
        200,
        json!({ "total_count": repos.len(), "repository_selection": "selected", "repositories": repos }),
    ))
}

fn create_token(ctx: &mut Ctx<'_>) -> Handled {
    let id = ctx.param_u64("installation_id").ok_or_else(not_found)?;
    let inst = ctx
        .world
        .installations
        .get(&id)
        .cloned()
        .ok_or_else(not_found)?;
    *ctx.world.token_requests.entry(id).or_insert(0) += 1;
    let serial = ctx.world.next_id();
    let token = format!("ghs_fake{id}x{serial:028}");
    let expires_at = ctx.now + ctx.world.token_ttl;
    ctx.world.tokens.insert(
        token.clone(),
        IssuedToken {
            installation: id,
            expires_at,
        },
    );
    let repos: Vec<Value> = inst
        .repositories
        .iter()
        .filter_map(|(o, r)| ctx.world.repo(o, r))
        .map(|r| repository(ctx.base, r))
        .collect();
    Ok(Reply::json(
        201,
        json!({
            "token": token,
            "expires_at": time(expires_at),
            "permissions": { "contents": "write", "pull_requests": "write", "issues": "write", "checks": "write" },
            "repository_selection": "selected",
            "repositories": repos,
        }),
    ))
}

fn delivery_item(d: &HookDelivery) -> Value {
    json!({
        "id": d.id,
        "guid": d.guid,
        "delivered_at": time(d.delivered_at),
        "redelivery": d.redelivery,
        "duration": 0.1,
        "status": if (200..300).contains(&d.status_code) { "OK".to_string() } else { format!("Invalid HTTP Response: {}", d.status_code) },
        "status_code": d.status_code,
        "event": d.event,
        "action": d.action,
        "installation_id": d.installation_id,
        "repository_id": d.repository_id,
        "throttled_at": null,
    })
}

/// Newest first; `cursor` is opaque to clients and names the last id already seen.
fn list_deliveries(ctx: &mut Ctx<'_>) -> Handled {
    let per_page: usize = ctx
        .query("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let after: Option<u64> = match ctx.query("cursor") {
        Some(c) => Some(
            c.strip_prefix("v1_")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| Reply::error(400, "Bad Request: invalid cursor"))?,
        ),
        None => None,
    };
    let status = ctx.query("status").map(String::from);
    let mut all: Vec<&HookDelivery> = ctx
        .world
        .deliveries
        .iter()
        .filter(|d| after.is_none_or(|a| d.id < a))
        .filter(|d| match status.as_deref() {
            Some("success") => (200..300).contains(&d.status_code),
            Some("failure") => !(200..300).contains(&d.status_code),
            _ => true,
        })
        .collect();
    all.sort_by_key(|d| std::cmp::Reverse(d.id));
    let page: Vec<Value> = all
        .iter()
        .take(per_page)
        .map(|d| delivery_item(d))
        .collect();
    let mut reply = Reply::json(200, Value::Array(page));
    if all.len() > per_page
        && let Some(last) = all.get(per_page - 1)
    {
        let filter = status
            .map(|s| format!("&status={}", super::escape_query(&s)))
            .unwrap_or_default();
        let next = format!(
            "<{}/app/hook/deliveries?per_page={per_page}{filter}&cursor=v1_{}>; rel=\"next\"",
            ctx.base, last.id
        );
        reply = reply.header("link", next);
    }
    Ok(reply)
}

fn redeliver_delivery(ctx: &mut Ctx<'_>) -> Handled {
    let id = ctx.param_u64("delivery_id").ok_or_else(not_found)?;
    let original = ctx
        .world
        .deliveries
        .iter()
        .find(|d| d.id == id)
        .cloned()
        .ok_or_else(not_found)?;
    ctx.world.redelivery_attempts.push(id);
    let new_id = ctx.world.next_id();
    let again = HookDelivery {
        id: new_id,
        redelivery: true,
        delivered_at: ctx.now,
        status_code: 200,
        ..original
    };
    ctx.world.deliveries.push(again.clone());
    let mut reply = Reply::json(202, json!({}));
    reply.redeliver = Some(Box::new(Redelivery {
        delivery: again,
        secret: ctx.world.app.webhook_secret.clone(),
    }));
    Ok(reply)
}

fn convert_manifest(ctx: &mut Ctx<'_>) -> Handled {
    let code = ctx.param("code");
    if !ctx.world.manifest_codes.remove(&code) {
        return Err(not_found());
    }
    ctx.world.manifest_conversions.push(code);
    let mut app = integration(ctx);
    app["client_secret"] = json!("fake-client-secret");
    app["webhook_secret"] = json!(ctx.world.app.webhook_secret);
    app["pem"] = json!(crate::github::APP_PRIVATE_KEY_PEM);
    Ok(Reply::json(201, app))
}

/// POSTs a delivery to the App under test the way GitHub does, signed with HMAC-SHA256.
pub async fn redeliver(target: String, r: Redelivery) {
    let body = serde_json::to_vec(&r.delivery.payload).unwrap_or_default();
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(r.secret.as_bytes()) else {
        return;
    };
    mac.update(&body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let result = reqwest::Client::new()
        .post(&target)
        .header("content-type", "application/json")
        .header("x-github-event", &r.delivery.event)
        .header("x-github-delivery", &r.delivery.guid)
        .header("x-github-hook-id", "1")
        .header("x-hub-signature-256", signature)
        .header("user-agent", "GitHub-Hookshot/fake")
        .body(body)
        .send()
        .await;
    if let Err(e) = result {
        eprintln!(
            "fake GitHub: redelivery of {} to {target} failed: {e}",
            r.delivery.guid
        );
    }
}

//! Who is calling: the App (RS256 JWT) or an installation (a token this fake issued).

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::state::{AppJwt, World};

/// The caller as established from the `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    App,
    Installation(u64),
}

/// What an operation demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    None,
    AppJwt,
    InstallationToken,
}

/// GitHub's split: `/app...` endpoints (and the repo/org/user installation
/// lookups) take the App's JWT; the manifest conversion takes nothing;
/// everything else takes an installation token.
pub fn requirement(operation_id: &str, template: &str) -> Requirement {
    if operation_id == "apps/create-from-manifest" {
        return Requirement::None;
    }
    let app_ops = [
        "apps/get-repo-installation",
        "apps/get-org-installation",
        "apps/get-user-installation",
    ];
    if template == "/app" || template.starts_with("/app/") || app_ops.contains(&operation_id) {
        Requirement::AppJwt
    } else {
        Requirement::InstallationToken
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: serde_json::Value,
}

/// Checks an App JWT the way GitHub documents it: RS256 signed by the App's
/// key, `iss` the App id, `iat` not in the future, `exp` in the future and at
/// most 10 minutes ahead (a few seconds of clock drift allowed). Returns the
/// accepted token's claims.
pub fn verify_app_jwt(
    token: &str,
    public_key_pem: &[u8],
    app_id: u64,
    now: DateTime<Utc>,
) -> Result<AppJwt, String> {
    const DRIFT: i64 = 5;
    let key = DecodingKey::from_rsa_pem(public_key_pem).map_err(|e| format!("fake key: {e}"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| format!("A JSON web token could not be decoded ({e})"))?;
    let claims = data.claims;
    let now = now.timestamp();
    let iss_ok = match &claims.iss {
        serde_json::Value::String(s) => s == &app_id.to_string(),
        serde_json::Value::Number(n) => n.as_u64() == Some(app_id),
        _ => false,
    };
    if !iss_ok {
        return Err(format!(
            "'Issuer' claim ('iss') {} is not the App id {app_id}",
            claims.iss
        ));
    }
    if claims.iat > now + DRIFT {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing a time in the past".into(),
        );
    }
    if claims.exp <= now - DRIFT {
        return Err("'Expiration time' claim ('exp') is in the past".into());
    }
    if claims.exp > now + 600 + DRIFT {
        return Err("'Expiration time' claim ('exp') is too far in the future".into());
    }
    if claims.exp <= claims.iat {
        return Err("'Expiration time' claim ('exp') must be after 'iat'".into());
    }
    Ok(AppJwt {
        iat: claims.iat,
        exp: claims.exp,
        seen_at: now,
    })
}

/// The bearer value of an `Authorization` header (`Bearer x` or `token x`).
pub fn credential(header: Option<&str>) -> Option<&str> {
    let header = header?.trim();
    let (scheme, value) = header.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then_some(value.trim())
}

/// The installation a token belongs to, if the fake issued it and it has not expired.
pub fn installation_for_token(
    world: &World,
    token: &str,
    now: DateTime<Utc>,
) -> Result<u64, String> {
    match world.tokens.get(token) {
        Some(t) if t.expires_at > now => Ok(t.installation),
        Some(_) => Err("Bad credentials (installation token expired)".into()),
        None => Err("Bad credentials".into()),
    }
}

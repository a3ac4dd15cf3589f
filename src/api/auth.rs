//! Bearer tokens: HS256 JWTs for users, a shared token for the object
//! store's webhook. Only HS256 is accepted: a token naming another
//! algorithm (`none`, RS256) is refused, not reinterpreted.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{ApiError, ApiState};
use crate::domain::UserId;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    /// Expiry, seconds since the epoch. Required.
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Signs `claims` (used by the `token` and `demo` commands and by tests).
pub fn mint_token(secret: &str, claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let signature = sign(secret, signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn sign(secret: &str, input: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(input);
    mac.finalize().into_bytes().to_vec()
}

/// Verifies signature, algorithm and time claims; returns the user.
pub fn verify_token(secret: &str, token: &str, now: i64, leeway: i64) -> Result<UserId, &'static str> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("token is not a JWS compact serialisation");
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or("token header is malformed")?;
    if header.alg != "HS256" {
        return Err("token algorithm is not HS256");
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| "token signature is malformed")?;
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).map_err(|_| "bad key")?;
    mac.update(format!("{}.{payload}", token.split('.').next().unwrap_or_default()).as_bytes());
    mac.verify_slice(&signature).map_err(|_| "token signature does not match")?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or("token claims are malformed")?;
    if claims.exp + leeway < now {
        return Err("token has expired");
    }
    if claims.nbf.is_some_and(|nbf| nbf - leeway > now) {
        return Err("token is not valid yet");
    }
    UserId::parse(&claims.sub).map_err(|_| "token subject is invalid")
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// The authenticated user of a request.
pub struct AuthUser(pub UserId);

impl FromRequestParts<ApiState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let auth = &state.settings.auth;
        let leeway = i64::try_from(auth.leeway.as_secs()).unwrap_or(0);
        match verify_token(auth.jwt_secret.expose(), token, chrono::Utc::now().timestamp(), leeway) {
            Ok(user) => Ok(AuthUser(user)),
            Err(reason) => {
                tracing::info!(reason, "Bearer token refused.");
                Err(ApiError::Unauthorized)
            }
        }
    }
}

/// The object store's webhook, authenticated by its shared token.
pub struct EventSource;

impl FromRequestParts<ApiState> for EventSource {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let expected = state.settings.auth.event_token.expose().as_bytes();
        // Compare MACs of both, so timing does not reveal a prefix match.
        let digest = |b: &[u8]| sign("orakgarak-event-token", b);
        if digest(token.as_bytes()) == digest(expected) {
            Ok(EventSource)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn token(exp: i64) -> String {
        mint_token("s3cret", &Claims { sub: "alice".into(), exp, nbf: None, iat: None })
    }

    #[test]
    fn a_valid_token_names_its_user() {
        assert_eq!(verify_token("s3cret", &token(NOW + 60), NOW, 0).map(|u| u.to_string()), Ok("alice".into()));
    }

    #[test]
    fn forged_expired_and_alg_none_tokens_are_refused() {
        assert_eq!(verify_token("other", &token(NOW + 60), NOW, 0), Err("token signature does not match"));
        assert_eq!(verify_token("s3cret", &token(NOW - 60), NOW, 30), Err("token has expired"));
        let good = token(NOW + 60);
        let mut parts: Vec<&str> = good.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        parts[0] = &none_header;
        assert_eq!(verify_token("s3cret", &parts.join("."), NOW, 0), Err("token algorithm is not HS256"));
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory","exp":1900000000}"#);
        let tampered = format!(
            "{}.{}.{}",
            good.split('.').next().unwrap_or_default(),
            forged_claims,
            good.rsplit('.').next().unwrap_or_default()
        );
        assert_eq!(verify_token("s3cret", &tampered, NOW, 0), Err("token signature does not match"));
        assert!(verify_token("s3cret", "abc", NOW, 0).is_err());
    }
}

//! Bearer tokens: JWTs for users, verified with `jsonwebtoken` — HS256
//! with a shared secret for development, RS256 and ES256 with an identity
//! provider's keys from a JWKS URL — and a shared token for the object
//! store's webhook. The algorithm a token may use is decided by its key,
//! never by the token: an HS256 token is checked only against the shared
//! secret (so a public key can never be used as an HMAC secret), `none` is
//! refused, and a JWKS key is used only with its own algorithm.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use hmac::{Hmac, Mac};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::{Mutex, RwLock};

use super::{ApiError, ApiState};
use crate::config::AuthSettings;
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

/// Signs `claims` with HS256 (the `token` and `demo` commands, tests).
pub fn mint_token(secret: &str, claims: &Claims) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes()))
        .unwrap_or_default()
}

/// Checks user tokens against the configured keys and claims.
pub struct TokenVerifier {
    /// Present when HS256 tokens are accepted.
    secret: Option<DecodingKey>,
    jwks: Option<Jwks>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: u64,
}

impl TokenVerifier {
    /// `client` fetches the JWKS (see `http_client::client`).
    pub fn new(settings: &AuthSettings, client: reqwest::Client) -> anyhow::Result<Self> {
        let secret = settings.jwt_secret.expose();
        let jwks = settings.jwks_url.as_ref().map(|url| Jwks {
            url: url.clone(),
            client,
            refetch_interval: settings.jwks_refetch_interval,
            max_age: settings.jwks_max_age,
            keys: RwLock::new(HashMap::new()),
            fetched: Mutex::new(None),
        });
        anyhow::ensure!(
            !secret.is_empty() || jwks.is_some(),
            "auth: neither auth.jwt_secret (HS256) nor auth.jwks_url (RS256/ES256) is set: no token could be verified"
        );
        Ok(Self {
            secret: (!secret.is_empty()).then(|| DecodingKey::from_secret(secret.as_bytes())),
            jwks,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway: settings.leeway.as_secs(),
        })
    }

    /// The user a token names, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<UserId, String> {
        // An unknown `alg` (including "none") fails to parse here.
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("token header refused: {e}"))?;
        let key = match header.alg {
            Algorithm::HS256 => self.secret.clone().ok_or("HS256 tokens are not accepted (no auth.jwt_secret)")?,
            Algorithm::RS256 | Algorithm::ES256 => {
                let jwks = self.jwks.as_ref().ok_or("RS256/ES256 tokens are not accepted (no auth.jwks_url)")?;
                let kid = header.kid.as_deref().ok_or("token names no key (kid)")?;
                let (algorithm, key) = jwks.key(kid).await?;
                if algorithm != header.alg {
                    return Err(format!("token algorithm {:?} is not its key's ({algorithm:?})", header.alg));
                }
                key
            }
            other => return Err(format!("token algorithm {other:?} is not accepted")),
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &self.issuer {
            Some(issuer) => validation.set_issuer(&[issuer]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => "token has expired".to_owned(),
            ErrorKind::ImmatureSignature => "token is not valid yet".to_owned(),
            ErrorKind::InvalidSignature => "token signature does not match".to_owned(),
            ErrorKind::InvalidIssuer => "token issuer is not accepted".to_owned(),
            ErrorKind::InvalidAudience => "token audience is not accepted".to_owned(),
            ErrorKind::MissingRequiredClaim(claim) => format!("token has no {claim} claim"),
            _ => format!("token refused: {e}"),
        })?;
        UserId::parse(&data.claims.sub).map_err(|_| "token subject is invalid".to_owned())
    }
}

/// An identity provider's signing keys, fetched from its JWKS URL, cached,
/// and fetched again when a token names a key not in the cache (key
/// rotation) or the cache is older than `max_age` — at most once per
/// `refetch_interval`, so tokens with made-up key ids cannot make us flood
/// the provider.
pub struct Jwks {
    url: String,
    client: reqwest::Client,
    refetch_interval: Duration,
    max_age: Duration,
    keys: RwLock<HashMap<String, (Algorithm, DecodingKey)>>,
    fetched: Mutex<Option<Instant>>,
}

/// One JWKS fetch may take this long.
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);

impl Jwks {
    async fn key(&self, kid: &str) -> Result<(Algorithm, DecodingKey), String> {
        let stale = { self.fetched.lock().await.is_none_or(|at| at.elapsed() >= self.max_age) };
        if !stale {
            if let Some(found) = self.keys.read().await.get(kid) {
                return Ok(found.clone());
            }
        }
        {
            let mut fetched = self.fetched.lock().await;
            // Checked again under the lock: concurrent requests fetch once.
            let known = self.keys.read().await.contains_key(kid);
            let due = fetched.is_none_or(|at| at.elapsed() >= self.refetch_interval);
            if due && (stale || !known) {
                *fetched = Some(Instant::now());
                match self.fetch().await {
                    Ok(keys) => *self.keys.write().await = keys,
                    Err(e) => {
                        tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed; keeping the cached keys.")
                    }
                }
            }
        }
        self.keys.read().await.get(kid).cloned().ok_or_else(|| format!("token key {kid:?} is not in the key set"))
    }

    async fn fetch(&self) -> Result<HashMap<String, (Algorithm, DecodingKey)>, String> {
        let response = self.client.get(&self.url).timeout(JWKS_TIMEOUT).send().await.map_err(|e| format!("{e:#}"))?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let set: JwkSet = response.json().await.map_err(|e| format!("not a JWKS: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            // Only asymmetric signing keys, each with its one algorithm.
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, (algorithm, key));
            }
        }
        tracing::info!(url = %self.url, keys = keys.len(), "JWKS fetched.");
        Ok(keys)
    }
}

fn sign(secret: &str, input: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(input);
    mac.finalize().into_bytes().to_vec()
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
        match state.tokens.verify(token).await {
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

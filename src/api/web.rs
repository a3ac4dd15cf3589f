//! The singer's web app, served by the API itself from files built into
//! the binary (`web/`; no CDN, so it works offline), the settings it
//! reads at start, the development sign-in, and CORS for pages of other
//! allowed origins.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::auth::{mint_token, Claims};
use super::{ApiError, ApiState};
use crate::config::Settings;

const INDEX: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const APP_CSS: &str = include_str!("../../web/app.css");

/// How long a development token lasts.
const DEV_TOKEN_HOURS: i64 = 12;

/// Whether `POST /v1/dev/token` exists: only on a development deployment
/// (`env: dev`) that has the development secret configured.
pub fn dev_sign_in(settings: &Settings) -> bool {
    settings.env == "dev" && !settings.auth.jwt_secret.expose().is_empty()
}

fn origin_of(url: &str) -> Option<String> {
    reqwest::Url::parse(url).ok().map(|url| url.origin().ascii_serialization()).filter(|o| o != "null")
}

/// The page, with a content security policy that lets it talk only to the
/// API, the object store it uploads to and the identity provider.
pub async fn index(State(state): State<ApiState>) -> Response {
    let settings = &state.settings;
    let storage = settings.storage.public_endpoint.as_deref().unwrap_or(&settings.storage.endpoint);
    let mut connect = vec!["'self'".to_owned()];
    connect.extend(origin_of(storage));
    connect.extend(settings.auth.issuer.as_deref().and_then(origin_of));
    let policy = format!(
        "default-src 'self'; connect-src {}; media-src 'self' blob:; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        connect.join(" ")
    );
    let mut response = asset("text/html; charset=utf-8", INDEX);
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

pub async fn assets(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "app.js" => asset("text/javascript; charset=utf-8", APP_JS),
        "app.css" => asset("text/css; charset=utf-8", APP_CSS),
        _ => ApiError::NotFound.into_response(),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Built into the binary: a new release is a new page, checked each load.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[derive(Debug, Serialize)]
pub struct ClientConfig {
    /// `dev` (a token from `POST /v1/dev/token`), `oidc` (authorization
    /// code with PKCE) or `none` (this deployment has no way to sign in
    /// from a browser).
    sign_in: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    oidc: Option<OidcClient>,
    max_upload_bytes: u64,
    min_seconds: f64,
    max_seconds: f64,
}

#[derive(Debug, Serialize)]
struct OidcClient {
    issuer: String,
    client_id: String,
    scope: &'static str,
}

/// `GET /v1/client-config`: what the web app needs before it can sign in.
pub async fn client_config(State(state): State<ApiState>) -> Json<ClientConfig> {
    let settings = &state.settings;
    let oidc = match (&settings.auth.issuer, &settings.auth.client_id) {
        (Some(issuer), Some(client_id)) => {
            Some(OidcClient { issuer: issuer.clone(), client_id: client_id.clone(), scope: "openid" })
        }
        _ => None,
    };
    let sign_in = if oidc.is_some() {
        "oidc"
    } else if dev_sign_in(settings) {
        "dev"
    } else {
        "none"
    };
    Json(ClientConfig {
        sign_in,
        oidc,
        max_upload_bytes: settings.storage.max_upload_bytes,
        min_seconds: settings.analysis.min_duration.as_secs_f64(),
        max_seconds: settings.analysis.max_duration.as_secs_f64(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevTokenRequest {
    /// Keep signing in as this user (a name an earlier token carried).
    #[serde(default)]
    user: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DevToken {
    token: String,
    user: String,
    expires_at: chrono::DateTime<Utc>,
}

/// `POST /v1/dev/token`: a bearer token for a development user, so the
/// web app works on the local stack without an identity provider. The
/// route exists only where `dev_sign_in` holds.
pub async fn dev_token(
    State(state): State<ApiState>,
    body: Option<Json<DevTokenRequest>>,
) -> Result<Json<DevToken>, ApiError> {
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let user = match request.user {
        Some(user) => {
            let valid = user.starts_with("dev-")
                && user.len() <= 64
                && user.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                return Err(ApiError::BadRequest(
                    "user must be a development user name: dev- then up to 60 lowercase letters, digits or dashes"
                        .into(),
                ));
            }
            user
        }
        None => format!("dev-{}", uuid::Uuid::new_v4().simple()),
    };
    let expires_at = Utc::now() + chrono::Duration::hours(DEV_TOKEN_HOURS);
    let claims =
        Claims { sub: user.clone(), exp: expires_at.timestamp(), nbf: None, iat: Some(Utc::now().timestamp()) };
    let token = mint_token(state.settings.auth.jwt_secret.expose(), &claims);
    Ok(Json(DevToken { token, user, expires_at }))
}

/// CORS for the API: pages of an allowed origin (`http.cors_origins`)
/// may call it; preflights are answered here, before routing.
/// `origins` is `http.allowed_origins()`, worked out once.
pub async fn cors(State(origins): State<Arc<[String]>>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let allowed = origin.filter(|o| origins.iter().any(|a| a == o));
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight { StatusCode::NO_CONTENT.into_response() } else { next.run(request).await };
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = allowed.and_then(|o| HeaderValue::from_str(&o).ok()) {
        cors_headers(headers, origin, preflight);
    }
    response
}

fn cors_headers(headers: &mut HeaderMap, origin: HeaderValue, preflight: bool) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("x-trace-id, traceparent"));
    if preflight {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, idempotency-key, traceparent"),
        );
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
}

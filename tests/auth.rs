//! User tokens from an identity provider: RS256 and ES256 keys published as
//! a JWKS (served here by a stand-in over real HTTP), issuer and audience,
//! clock leeway, key rotation with a bounded refetch rate, and the attacks
//! a verifier must refuse (`alg: none`, an HS256 token made with the RSA
//! public key as its secret, a key used with another algorithm).

#[path = "common/fixtures.rs"]
mod fixtures;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fixtures::fixture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use orakgarak::api::TokenVerifier;
use orakgarak::config::{AuthSettings, Secret};
use serde_json::json;

const ISSUER: &str = "https://id.example.test/realms/karaoke";
const AUDIENCE: &str = "orakgarak-api";

/// The identity provider's JWKS endpoint: `GET /jwks.json` only, JSON, and
/// a count of how often it was fetched.
struct IdentityProvider {
    addr: SocketAddr,
    fetches: Arc<AtomicUsize>,
}

async fn identity_provider() -> IdentityProvider {
    let fetches = Arc::new(AtomicUsize::new(0));
    let jwks: serde_json::Value = serde_json::from_slice(&fixture("jwt/jwks.json")).expect("jwks.json");
    let counter = fetches.clone();
    let app = Router::new().route(
        "/jwks.json",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = jwks.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    IdentityProvider { addr, fetches }
}

fn settings(idp: &IdentityProvider, secret: &str) -> AuthSettings {
    AuthSettings {
        jwt_secret: Secret::new(secret),
        jwks_url: Some(format!("http://{}/jwks.json", idp.addr)),
        issuer: Some(ISSUER.into()),
        audience: Some(AUDIENCE.into()),
        leeway: Duration::from_secs(30),
        jwks_refetch_interval: Duration::from_secs(30),
        ..AuthSettings::default()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(exp_in: i64) -> serde_json::Value {
    json!({ "sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + exp_in, "iat": now() })
}

fn signed(alg: Algorithm, kid: &str, claims: &serde_json::Value) -> String {
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_der(&fixture("jwt/rsa-private.der")),
        Algorithm::ES256 => EncodingKey::from_ec_der(&fixture("jwt/ec-private.der")),
        other => panic!("no test key for {other:?}"),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

#[tokio::test]
async fn rs256_and_es256_tokens_from_the_identity_provider_name_their_user() {
    let idp = identity_provider().await;
    let verifier = TokenVerifier::new(&settings(&idp, ""), reqwest::Client::new()).expect("verifier");
    for (alg, kid) in [(Algorithm::RS256, "rsa-2026"), (Algorithm::ES256, "ec-2026")] {
        let user = verifier.verify(&signed(alg, kid, &claims(300))).await;
        assert_eq!(user.map(|u| u.to_string()), Ok("alice".to_owned()), "{alg:?}");
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "the key set is fetched once and cached");
}

#[tokio::test]
async fn expired_tokens_are_refused_beyond_the_leeway_only() {
    let idp = identity_provider().await;
    let verifier = TokenVerifier::new(&settings(&idp, ""), reqwest::Client::new()).expect("verifier");
    let just_expired = signed(Algorithm::RS256, "rsa-2026", &claims(-10));
    assert!(verifier.verify(&just_expired).await.is_ok(), "10 s late is within the 30 s leeway");
    let expired = signed(Algorithm::RS256, "rsa-2026", &claims(-120));
    assert_eq!(verifier.verify(&expired).await, Err("token has expired".to_owned()));
}

#[tokio::test]
async fn wrong_issuer_or_audience_is_refused() {
    let idp = identity_provider().await;
    let verifier = TokenVerifier::new(&settings(&idp, ""), reqwest::Client::new()).expect("verifier");
    let mut other_issuer = claims(300);
    other_issuer["iss"] = "https://evil.example.test".into();
    assert_eq!(
        verifier.verify(&signed(Algorithm::ES256, "ec-2026", &other_issuer)).await,
        Err("token issuer is not accepted".to_owned())
    );
    let mut other_audience = claims(300);
    other_audience["aud"] = "another-api".into();
    assert_eq!(
        verifier.verify(&signed(Algorithm::RS256, "rsa-2026", &other_audience)).await,
        Err("token audience is not accepted".to_owned())
    );
}

#[tokio::test]
async fn an_unknown_key_refetches_the_key_set_at_most_once_per_interval() {
    let idp = identity_provider().await;
    let verifier = TokenVerifier::new(&settings(&idp, ""), reqwest::Client::new()).expect("verifier");
    assert!(verifier.verify(&signed(Algorithm::RS256, "rsa-2026", &claims(300))).await.is_ok());
    // A burst of tokens naming keys the provider never published.
    for i in 0..20 {
        let refused = verifier.verify(&signed(Algorithm::RS256, &format!("made-up-{i}"), &claims(300))).await;
        assert_eq!(refused, Err(format!("token key \"made-up-{i}\" is not in the key set")));
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "within the refetch interval the provider is not asked again");

    // With no interval, an unknown key (a rotation) fetches the set again.
    let eager = TokenVerifier::new(
        &AuthSettings { jwks_refetch_interval: Duration::ZERO, ..settings(&idp, "") },
        reqwest::Client::new(),
    )
    .expect("verifier");
    assert!(eager.verify(&signed(Algorithm::RS256, "rotated-in", &claims(300))).await.is_err());
    assert!(eager.verify(&signed(Algorithm::RS256, "rotated-in-too", &claims(300))).await.is_err());
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 3, "first use, then once per unknown key");
}

#[tokio::test]
async fn alg_none_is_refused() {
    let idp = identity_provider().await;
    let verifier = TokenVerifier::new(&settings(&idp, "dev-secret"), reqwest::Client::new()).expect("verifier");
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(300)).expect("json"));
    for token in [format!("{header}.{payload}."), format!("{header}.{payload}")] {
        let refused = verifier.verify(&token).await.expect_err("alg none");
        assert!(refused.starts_with("token header refused"), "{refused}");
    }
}

#[tokio::test]
async fn an_hs256_token_made_with_the_rsa_public_key_is_refused() {
    // Algorithm confusion: the attacker signs HS256 with the provider's
    // public key as the HMAC secret, hoping the verifier uses "the key".
    let idp = identity_provider().await;
    let public_key = fixture("jwt/rsa-public.der");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-2026".into());
    let forged = jsonwebtoken::encode(&header, &claims(300), &EncodingKey::from_secret(&public_key)).expect("sign");

    let production = TokenVerifier::new(&settings(&idp, ""), reqwest::Client::new()).expect("verifier");
    assert_eq!(production.verify(&forged).await, Err("HS256 tokens are not accepted (no auth.jwt_secret)".to_owned()));
    let with_dev_secret = TokenVerifier::new(&settings(&idp, "dev-secret"), reqwest::Client::new()).expect("verifier");
    assert_eq!(with_dev_secret.verify(&forged).await, Err("token signature does not match".to_owned()));
}

#[tokio::test]
async fn a_key_is_used_only_with_its_own_algorithm() {
    let idp = identity_provider().await;
    let verifier = TokenVerifier::new(&settings(&idp, ""), reqwest::Client::new()).expect("verifier");
    // An ES256 token naming the RSA key.
    let refused = verifier.verify(&signed(Algorithm::ES256, "rsa-2026", &claims(300))).await.expect_err("mismatch");
    assert!(refused.contains("is not its key's"), "{refused}");
}

#[tokio::test]
async fn development_hs256_tokens_still_work_with_the_shared_secret() {
    let dev = AuthSettings { jwt_secret: Secret::new("s3cret"), ..AuthSettings::default() };
    let verifier = TokenVerifier::new(&dev, reqwest::Client::new()).expect("verifier");
    let claims = orakgarak::api::Claims { sub: "bob".into(), exp: now() + 60, nbf: None, iat: None };
    let token = orakgarak::api::mint_token("s3cret", &claims);
    assert_eq!(verifier.verify(&token).await.map(|u| u.to_string()), Ok("bob".to_owned()));
    let forged = orakgarak::api::mint_token("guess", &claims);
    assert_eq!(verifier.verify(&forged).await, Err("token signature does not match".to_owned()));
    // Nothing configured at all is a configuration error, not an open door.
    let nothing = AuthSettings { jwt_secret: Secret::new(""), ..AuthSettings::default() };
    let none = TokenVerifier::new(&nothing, reqwest::Client::new());
    assert!(none.is_err());
}

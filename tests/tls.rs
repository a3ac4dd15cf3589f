//! Outgoing HTTPS: Loki, the model server, an identity provider's JWKS
//! and an OpenTelemetry collector behind a private CA are reached when `http.ca_bundle` names that CA, and
//! refused as untrusted when it does not. The stand-ins are the same ones
//! the other tests use, served over TLS with a test CA's certificate.

mod common;

use std::time::{Duration, Instant};

use common::loki::StandInLoki;
use common::model_server::ModelServer;
use common::otlp::StandInOtlp;
use common::tls::{ca_bundle, serve_https};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use orakgarak::api::TokenVerifier;
use orakgarak::config::{AuthSettings, LogSettings, Secret};
use orakgarak::http_client;
use orakgarak::telemetry::loki::LokiShipper;

fn trusting_the_test_ca() -> reqwest::Client {
    http_client::client(Some(&ca_bundle())).expect("client with the test CA")
}

#[tokio::test]
async fn log_lines_reach_an_https_loki_signed_by_the_configured_ca() {
    let loki = StandInLoki::default();
    let addr = serve_https(loki.router()).await;
    let settings = LogSettings { loki_flush_interval: Duration::from_millis(100), ..LogSettings::default() };
    let shipper = LokiShipper::start(
        &format!("https://localhost:{}", addr.port()),
        trusting_the_test_ca(),
        &settings,
        "test",
        "tls",
        orakgarak::telemetry::Metrics::new(),
    )
    .expect("shipper");
    shipper.send(tracing::Level::INFO, &serde_json::Map::new(), "shipped over TLS".into());
    let deadline = Instant::now() + Duration::from_secs(20);
    while loki.lines_with("shipped over TLS").is_empty() {
        assert!(Instant::now() < deadline, "the line never reached the HTTPS Loki; refused: {:?}", loki.rejected);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_model_server_is_reached_over_https_through_the_ca_bundle() {
    let model = ModelServer::default();
    let addr = serve_https(model.router()).await;
    let take = std::fs::read(format!("{}/tests/fixtures/sung-a3-e4.flac", env!("CARGO_MANIFEST_DIR"))).expect("take");
    let convert = orakgarak::stages::ConvertSettings::from(&orakgarak::config::AnalysisSettings::default());
    let wav = orakgarak::stages::convert_recording(take, Some("flac"), &convert).expect("the take converts");
    let response = trusting_the_test_ca()
        .post(format!("https://127.0.0.1:{}/v1/analyze", addr.port()))
        .header("content-type", "audio/wav")
        .body(wav)
        .send()
        .await
        .expect("HTTPS call");
    assert_eq!(response.status(), 200);
    let profile: serde_json::Value = response.json().await.expect("profile");
    assert_eq!(profile["range_names"], "A3–E4");
    assert_eq!(model.calls(), 1);
}

#[tokio::test]
async fn without_the_ca_bundle_a_private_ca_is_refused_as_untrusted() {
    let model = ModelServer::default();
    let addr = serve_https(model.router()).await;
    let system_only = http_client::client(None).expect("client");
    let error = system_only
        .post(format!("https://127.0.0.1:{}/v1/analyze", addr.port()))
        .body(vec![0u8; 8])
        .send()
        .await
        .expect_err("untrusted certificate");
    let chain = format!("{error:?}");
    assert!(chain.contains("UnknownIssuer"), "{chain}");
    assert_eq!(model.calls(), 0, "nothing reached the server");
}

#[tokio::test]
async fn a_jwks_behind_a_private_ca_is_fetched_over_https() {
    let jwks: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{}/tests/fixtures/jwt/jwks.json", env!("CARGO_MANIFEST_DIR"))).expect("jwks"),
    )
    .expect("json");
    let router = axum::Router::new().route("/jwks.json", axum::routing::get(move || async move { axum::Json(jwks) }));
    let addr = serve_https(router).await;
    let settings = AuthSettings {
        jwt_secret: Secret::new(""),
        jwks_url: Some(format!("https://localhost:{}/jwks.json", addr.port())),
        ..AuthSettings::default()
    };
    let verifier = TokenVerifier::new(&settings, trusting_the_test_ca()).expect("verifier");
    let key = EncodingKey::from_rsa_der(
        &std::fs::read(format!("{}/tests/fixtures/jwt/rsa-private.der", env!("CARGO_MANIFEST_DIR"))).expect("key"),
    );
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-2026".into());
    let claims = serde_json::json!({ "sub": "carol", "exp": chrono::Utc::now().timestamp() + 60 });
    let token = jsonwebtoken::encode(&header, &claims, &key).expect("sign");
    assert_eq!(verifier.verify(&token).await.map(|u| u.to_string()), Ok("carol".to_owned()));
}

#[tokio::test]
async fn spans_reach_an_https_collector_through_the_ca_bundle_and_never_without_it() {
    use opentelemetry::trace::{Tracer, TracerProvider as _};
    let otlp = StandInOtlp::start_https();
    let settings = orakgarak::config::TraceSettings { otlp_endpoint: Some(otlp.https_url()), ..Default::default() };
    for (bundle, name) in [(None, "sent-without-the-bundle"), (Some(ca_bundle()), "sent-with-the-bundle")] {
        let provider =
            orakgarak::telemetry::traces::provider(&settings, "tls", "test", bundle.as_deref()).expect("provider");
        provider.tracer("tls-test").in_span(name, |_| {});
        // The flush returns once the export was answered (or failed).
        tokio::task::spawn_blocking(move || {
            let _ = provider.force_flush();
            let _ = provider.shutdown();
        })
        .await
        .expect("flushed");
    }
    let names: Vec<String> = otlp.all().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["sent-with-the-bundle"], "only the client trusting the test CA got through");
}

#[test]
fn a_ca_bundle_that_is_not_pem_is_a_clear_configuration_error() {
    let path = std::env::temp_dir().join(format!("orakgarak-not-a-bundle-{}.pem", std::process::id()));
    std::fs::write(&path, "not a certificate\n").expect("write");
    let error = http_client::client(Some(&path)).expect_err("refused");
    assert!(format!("{error:#}").contains("http.ca_bundle"), "{error:#}");
    std::fs::remove_file(&path).ok();
    let missing = http_client::client(Some(std::path::Path::new("/nonexistent/ca.pem"))).expect_err("missing");
    assert!(format!("{missing:#}").contains("cannot read /nonexistent/ca.pem"), "{missing:#}");
}

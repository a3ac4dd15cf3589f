//! The singer's web app in Debian's Chromium (headless, driven by
//! playwright-core from tests/web/e2e.mjs) against the real stack: the
//! page is served by the API, uploads go straight to the object store
//! through the stack's CORS front, and the pipeline runs for real.
//! Screenshots of each final screen land in
//! `$CARGO_TARGET_TMPDIR/web/<test>/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Mutex;

use common::{spawn_app, spawn_app_with, TestApp};
use orakgarak::domain::UploadId;

/// One browser at a time: two cores run Chromium, the app and the stack.
static ONE_BROWSER: Mutex<()> = Mutex::const_new(());

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_path(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

fn artefacts(test: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("web").join(test)
}

/// A 48 kHz WAV the test writes for the browser to sing or choose.
fn input_wav(dir: &str, name: &str, samples: &[f32]) -> PathBuf {
    let dir = artefacts(dir);
    std::fs::create_dir_all(&dir).expect("artefacts");
    let path = dir.join(name);
    std::fs::write(&path, orakgarak::audio::write_wav_mono(samples, 48_000)).expect("write");
    path
}

/// The upload the page made, from its findings.
fn page_upload(found: &Value) -> UploadId {
    found["uploadId"].as_str().and_then(|id| id.parse().ok()).expect("the page's upload id")
}

/// Runs one scenario of e2e.mjs and returns what the page showed. Fails
/// loudly when Node.js, playwright-core or Chromium is missing.
async fn scenario(app: &TestApp, name: &str, extra: Value) -> Value {
    assert!(
        root().join("tests/web/node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in tests/web: run scripts/stack.sh up"
    );
    assert!(Path::new("/usr/bin/chromium").exists(), "Debian's chromium is missing: run scripts/stack.sh up");
    let mut spec = json!({ "scenario": name, "app": app.base_url, "out": artefacts(name) });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    let script = root().join("tests/web/e2e.mjs");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(script).env("E2E", spec.to_string()).output().expect("node runs (Node.js is needed)")
    })
    .await
    .expect("the browser run finished");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line =
        stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("{name}: no findings\n{stderr}"));
    let found: Value = serde_json::from_str(line).expect("findings are JSON");
    if let Some(failure) = found.get("failure") {
        panic!("{name}: the browser run failed: {}\n{stderr}", failure.as_str().unwrap_or_default());
    }
    assert_eq!(
        found["errors"].as_array().map(Vec::len),
        Some(0),
        "{name}: the page logged errors: {}",
        found["errors"]
    );
    found
}

/// The range `orakgarak analyze` gives for a file.
fn analyzed_range(app: &TestApp, path: &Path) -> (String, String) {
    let bytes = std::fs::read(path).expect("fixture");
    let extension = path.extension().and_then(|e| e.to_str());
    let limits = orakgarak::stages::ConvertSettings::from(&app.settings.analysis);
    let wav = orakgarak::stages::convert_recording(bytes, extension, &limits).expect("the fixture converts");
    let profile = orakgarak::stages::analyze_wav(&wav).expect("the fixture is singing");
    (profile.range.lowest.name(), profile.range.highest.name())
}

fn songs(found: &Value) -> usize {
    found["songs"].as_array().map(Vec::len).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn singing_from_the_keyboard_into_the_browser_shows_the_range_analyze_gives_for_the_same_wav_and_songs() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app().await;
    let wav = fixture_path("sung-a3-e4.wav");
    let found = scenario(&app, "sing", json!({ "wav": wav, "seconds": 7.4 })).await;

    assert_eq!(found["problem"], Value::Null, "{found:#}");
    assert_eq!(found["result"], true, "{found:#}");
    let (lowest, highest) = analyzed_range(&app, &wav);
    assert_eq!((found["lowest"].as_str(), found["highest"].as_str()), (Some(lowest.as_str()), Some(highest.as_str())));
    assert!(songs(&found) >= 1, "songs to sing: {found:#}");
    assert!(found["liveNotes"].as_array().is_some_and(|n| !n.is_empty()), "the live readout named notes: {found:#}");
    assert!(found["tabs"].as_u64().is_some_and(|t| t <= 4), "recorded from the keyboard alone: {found:#}");
    assert!(found["states"].as_array().is_some_and(|s| s.iter().any(|s| s == "COMPLETED")), "{found:#}");
    assert!(found["keyboardLabel"].as_str().is_some_and(|l| l.contains(&lowest) && l.contains(&highest)));
    // Beside the page's figure, the same run's pipeline alone (UPLOADED →
    // COMPLETED in the upload's history).
    let id = page_upload(&found);
    let history = app.app.store.history(id).await.expect("history");
    let at = |state: &str| history.iter().find(|t| t.to_state == state).map(|t| t.at).expect("reached");
    let pipeline_ms = (at("COMPLETED") - at("UPLOADED")).num_milliseconds();
    println!(
        "web app: stop to result {:.0} ms (pipeline alone {pipeline_ms} ms); page transfer {} bytes; live readout CPU (script seconds per second) {:.3} recording vs {:.3} idle",
        found["stopToResultMs"].as_f64().unwrap_or(f64::NAN),
        found["transferBytes"],
        found["cpu"]["recording"].as_f64().unwrap_or(f64::NAN),
        found["cpu"]["idle"].as_f64().unwrap_or(f64::NAN),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chosen_file_goes_straight_to_the_store_and_shows_its_range_on_a_phone_sized_page() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app().await;
    let file = fixture_path("sung-a3-e4.ogg");
    let found = scenario(&app, "file", json!({ "file": file })).await;

    assert_eq!(found["problem"], Value::Null, "{found:#}");
    assert_eq!((found["lowest"].as_str(), found["highest"].as_str()), (Some("A3"), Some("E4")), "{found:#}");
    assert!(songs(&found) >= 1, "songs to sing: {found:#}");
    let id = page_upload(&found);
    let upload = app.app.store.upload(id).await.expect("the upload is stored");
    assert_eq!(upload.state.to_string(), "COMPLETED");
    assert!(upload.user_id.to_string().starts_with("dev-"), "a development user's upload: {}", upload.user_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_take_is_flagged_before_it_is_sent_and_explained_in_plain_words_after() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app().await;
    let silent = input_wav("silent-input", "silence.wav", &vec![0.0; 48_000 * 5]);
    let found = scenario(&app, "silent", json!({ "wav": silent, "seconds": 3.5 })).await;

    let before = &found["before"];
    assert_eq!((before["problem"].as_str(), before["sendAnyway"].as_bool()), (Some("quiet"), Some(true)), "{found:#}");
    let after = &found["after"];
    assert_eq!(after["problem"], "silent", "the server's verdict, in the page's words: {found:#}");
    assert!(after["problemText"].as_str().is_some_and(|t| t.starts_with("We couldn't hear anything")), "{found:#}");
    assert_eq!(after["result"], false);
    let id = page_upload(after);
    let upload = app.app.store.upload(id).await.expect("the upload is stored");
    assert_eq!(upload.state.to_string(), "FAILED", "{:?}", upload.last_error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_korean_browser_gets_the_page_its_range_and_songs_in_korean() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app().await;
    let found = scenario(&app, "korean", json!({ "file": fixture_path("sung-a3-e4.m4a") })).await;

    assert_eq!(found["lang"], "ko");
    assert_eq!(found["heading"], "노래하기");
    assert_eq!(found["problem"], Value::Null, "{found:#}");
    assert!(found["rangeText"].as_str().is_some_and(|t| t.starts_with("A3부터 E4까지")), "{found:#}");
    assert!(found["voiceType"].as_str().is_some_and(|t| t.starts_with("가장 가까운 성부")), "{found:#}");
    assert!(found["who"].as_str().is_some_and(|t| t.contains("개발용")), "{found:#}");
    assert!(songs(&found) >= 1, "songs to sing: {found:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_link_that_expires_before_the_put_is_explained_and_nothing_is_stored() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app_with(|s| s.storage.presign_ttl = Duration::from_secs(2)).await;
    let store_port = app.settings.storage.public_endpoint.as_deref().and_then(|e| e.rsplit(':').next()).expect("port");
    let found = scenario(
        &app,
        "expired",
        json!({ "file": fixture_path("sung-a3-e4.ogg"), "storePort": store_port, "holdMs": 4000 }),
    )
    .await;

    assert_eq!(found["held"], 1, "the PUT was held past the link's expiry: {found:#}");
    assert_eq!(found["problem"], "expired", "{found:#}");
    assert!(found["problemText"].as_str().is_some_and(|t| t.starts_with("The upload link expired")));
    let id = page_upload(&found);
    let upload = app.app.store.upload(id).await.expect("the upload is stored");
    assert_eq!(upload.state.to_string(), "CREATED", "nothing arrived");
    assert_eq!(app.app.objects.head(&upload.object_key).await.expect("HEAD"), None, "the store holds no object");
}

/// The stand-in identity provider (tests/web/idp.mjs), killed on drop.
struct Provider {
    child: std::process::Child,
    issuer: String,
}

impl Provider {
    fn start() -> Self {
        use std::io::BufRead;
        let mut child = Command::new("node")
            .arg(root().join("tests/web/idp.mjs"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("node runs the stand-in provider");
        let stdout = child.stdout.take().expect("stdout");
        let mut issuer = String::new();
        std::io::BufReader::new(stdout).read_line(&mut issuer).expect("the provider prints its issuer");
        Self { child, issuer: issuer.trim().to_owned() }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signing_in_through_the_identity_provider_with_pkce_lets_a_singer_upload_as_themselves() {
    let _one = ONE_BROWSER.lock().await;
    let provider = Provider::start();
    let issuer = provider.issuer.clone();
    let app = spawn_app_with(|s| {
        s.auth.issuer = Some(issuer.clone());
        s.auth.jwks_url = Some(format!("{issuer}/jwks"));
        s.auth.audience = Some("orakgarak".into());
        s.auth.client_id = Some("orakgarak-web".into());
    })
    .await;
    let http = reqwest::Client::new();
    let registered = http
        .post(format!("{issuer}/clients"))
        .json(&json!({ "client_id": "orakgarak-web", "redirect_uris": [format!("{}/", app.base_url)], "audience": "orakgarak" }))
        .send()
        .await
        .expect("register the web app with the provider");
    assert_eq!(registered.status(), 201);

    let found = scenario(&app, "oidc", json!({ "file": fixture_path("sung-a3-e4.ogg") })).await;

    let before = &found["before"];
    assert_eq!(before["problem"], "signIn", "signed out, the page asks to sign in: {found:#}");
    let after = &found["after"];
    assert_eq!(after["who"], "Signed in as kim", "{found:#}");
    assert_eq!(after["problem"], Value::Null, "{found:#}");
    assert_eq!((after["lowest"].as_str(), after["highest"].as_str()), (Some("A3"), Some("E4")), "{found:#}");
    let id = page_upload(after);
    let upload = app.app.store.upload(id).await.expect("the upload is stored");
    assert_eq!(upload.user_id.to_string(), "idp-kim", "the provider's subject owns the upload");
    let stats: Value = http.get(format!("{issuer}/stats")).send().await.expect("stats").json().await.expect("JSON");
    assert_eq!((stats["codes"].as_u64(), stats["tokens"].as_u64()), (Some(1), Some(1)), "{stats:#}");
    assert_eq!(stats["refused"].as_array().map(Vec::len), Some(0), "the provider refused nothing: {stats:#}");
    let (status, _) = app.client.get_upload(&id.to_string()).await.expect("GET");
    assert_eq!(status, 404, "another user's token does not reach the provider's user's upload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_take_too_short_and_a_lost_connection_are_each_explained_in_plain_words() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app().await;
    let dir = artefacts("problems-input");
    std::fs::create_dir_all(&dir).expect("artefacts");
    let short = dir.join("half-a-second.wav");
    let tone: Vec<f32> =
        (0..24_000).map(|i| 0.3 * (i as f32 * 220.0 * std::f32::consts::TAU / 48_000.0).sin()).collect();
    std::fs::write(&short, orakgarak::audio::write_wav_mono(&tone, 48_000)).expect("write");
    let found = scenario(&app, "problems", json!({ "shortFile": short, "file": fixture_path("sung-a3-e4.ogg") })).await;

    let short = &found["short"];
    assert_eq!(short["problem"], "too_short", "{found:#}");
    let min = app.settings.analysis.min_duration.as_secs_f64();
    assert_eq!(short["problemText"], format!("That take was too short. Sing for at least {min} seconds."));
    let offline = &found["offline"];
    assert_eq!(offline["problem"], "offline", "{found:#}");
    assert!(offline["problemText"].as_str().is_some_and(|t| t.starts_with("You're offline")), "{found:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_development_sign_in_exists_only_on_a_development_deployment() {
    let http = reqwest::Client::new();
    let dev = spawn_app().await;
    let config: Value =
        http.get(format!("{}/v1/client-config", dev.base_url)).send().await.expect("GET").json().await.expect("JSON");
    assert_eq!(config["sign_in"], "dev");
    let token: Value = http
        .post(format!("{}/v1/dev/token", dev.base_url))
        .json(&json!({}))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("JSON");
    let user = token["user"].as_str().expect("a development user");
    let again =
        http.post(format!("{}/v1/dev/token", dev.base_url)).json(&json!({ "user": user })).send().await.expect("POST");
    assert_eq!(again.json::<Value>().await.expect("JSON")["user"], user, "the same user signs in again");
    let forged = http
        .post(format!("{}/v1/dev/token", dev.base_url))
        .json(&json!({ "user": "alice" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(forged.status(), 400, "only development user names");
    dev.stop().await;

    let production = spawn_app_with(|s| s.env = "production".into()).await;
    let config: Value = http
        .get(format!("{}/v1/client-config", production.base_url))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(config["sign_in"], "none", "{config}");
    let refused =
        http.post(format!("{}/v1/dev/token", production.base_url)).json(&json!({})).send().await.expect("POST");
    assert_eq!(refused.status(), 404, "no such route in production");
    production.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_of_a_configured_origin_may_call_the_api_and_others_may_not() {
    let app = spawn_app_with(|s| s.http.cors_origins = vec!["https://sing.example".into()]).await;
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, format!("{}/v1/uploads", app.base_url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = preflight("https://sing.example").await.expect("OPTIONS");
    assert_eq!(allowed.status(), 204);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://sing.example");
    assert!(allowed.headers()["access-control-allow-headers"].to_str().is_ok_and(|h| h.contains("authorization")));
    let other = preflight("https://evil.example").await.expect("OPTIONS");
    assert!(other.headers().get("access-control-allow-origin").is_none(), "no CORS grant for an unknown origin");
    let simple =
        http.get(format!("{}/v1/client-config", app.base_url)).header("origin", "https://sing.example").send().await;
    assert_eq!(simple.expect("GET").headers()["access-control-allow-origin"], "https://sing.example");
    app.stop().await;
}

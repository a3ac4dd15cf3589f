//! Test harness: a whole orakgarak process per test, on the real local
//! stack, with its own database, topics, consumer groups and bucket.
#![allow(dead_code)]

mod fixtures;
pub mod heartbeat;
pub mod loki;
pub mod mattermost;
pub mod model_server;
pub mod monitoring;
pub mod otlp;
pub mod ports;
pub mod postgres;
pub mod prometheus;
pub mod promql;
pub mod server;
pub mod tls;
pub mod worker;

use std::path::Path;
use std::time::Duration;

#[allow(unused_imports)]
pub use fixtures::fixture;
use orakgarak::app::{App, Roles, Running};
use orakgarak::commands::demo::ApiClient;
use orakgarak::config::Settings;
use serde_json::Value;

pub struct TestApp {
    pub app: App,
    pub running: Option<Running>,
    pub settings: Settings,
    pub client: ApiClient,
    pub base_url: String,
    pub metrics_url: String,
    pub db_name: String,
}

/// Panics (never skips) when a service of the stack is missing.
pub fn require_stack() {
    if let Err(e) = orakgarak::devstack::require_stack() {
        panic!("{e:#}");
    }
}

pub fn init_test_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = orakgarak::telemetry::init_telemetry(
            &orakgarak::config::LogSettings::default(),
            &orakgarak::config::TraceSettings::default(),
            "test",
            "test",
            None,
            &orakgarak::telemetry::Metrics::new(),
        );
    }
}

/// Runs `make` on a runtime of its own, on its own thread, and returns what
/// it made; the runtime keeps serving (stand-ins that must outlive any one
/// test's runtime).
pub fn on_own_runtime<T, F, Fut>(make: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            tx.send(make().await).expect("caller waiting");
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("started on its own runtime")
}

pub fn base_settings() -> Settings {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/orakgarak.yaml");
    let mut settings = Settings::load(Some(&path), std::iter::empty()).expect("config/orakgarak.yaml loads");
    settings.catalog.path = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/songs.yaml");
    settings
}

/// Isolated settings: random database, topic prefix, groups and bucket; port 0.
pub async fn isolated_settings() -> (Settings, String) {
    require_stack();
    init_test_logs();
    let mut settings = base_settings();
    let db_name = orakgarak::devstack::isolate(&mut settings).await.expect("isolated environment");
    (settings, db_name)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    let (mut settings, db_name) = isolated_settings().await;
    customize(&mut settings);
    start(settings, db_name, Roles::all()).await
}

pub async fn start(settings: Settings, db_name: String, roles: Roles) -> TestApp {
    start_with_metrics(settings, db_name, roles, orakgarak::telemetry::Metrics::new()).await
}

/// `start`, counting into `metrics` (the registry a test's log pipeline
/// counts into, so its `/metrics` shows both).
pub async fn start_with_metrics(
    settings: Settings,
    db_name: String,
    roles: Roles,
    metrics: orakgarak::telemetry::Metrics,
) -> TestApp {
    let app = App::build_with_metrics(settings.clone(), metrics).await.expect("app builds");
    app.prepare().await.expect("migrations, topics and bucket");
    let running = app.start(&roles).await.expect("roles start");
    let base_url = format!("http://{}", running.api_addr.map(|a| a.to_string()).unwrap_or_default());
    let metrics_url = format!("http://{}/metrics", running.metrics_addr);
    let client = ApiClient::new(&settings, &base_url, "alice").expect("API client");
    TestApp { app, running: Some(running), settings, client, base_url, metrics_url, db_name }
}

impl TestApp {
    pub fn client_for(&self, user: &str) -> ApiClient {
        ApiClient::new(&self.settings, &self.base_url, user).expect("API client")
    }

    /// Creates an upload, PUTs `bytes`, sends the object-created event; returns the upload id.
    pub async fn upload(&self, filename: &str, content_type: &str, bytes: Vec<u8>) -> String {
        let created = self.client.upload(filename, content_type, bytes).await.expect("create, PUT and event accepted");
        created["upload_id"].as_str().expect("upload_id").to_owned()
    }

    pub async fn wait_for(&self, id: &str, state: Option<&str>) -> Value {
        self.client.wait_for(id, state, Duration::from_secs(90), false).await.expect("upload reaches the state")
    }

    /// Waits (up to 30 s) until the dead-letter topics hold `n` messages.
    pub async fn dead_letters(&self, n: usize) -> Vec<orakgarak::pipeline::dlq::DeadLetter> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let letters =
                orakgarak::pipeline::dlq::read_dead_letters(&self.app.kafka, &self.app.topics).await.expect("read DLQ");
            if letters.len() >= n {
                return letters;
            }
            assert!(std::time::Instant::now() < deadline, "expected {n} dead letters, found {}", letters.len());
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Waits (up to 30 s) until the watchdog would act on `n` uploads: the
    /// stuck ones past their state's threshold and the expired ones.
    pub async fn wait_until_watchdog_sees(&self, n: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let seen = self.app.watchdog().candidates().await.expect("watchdog candidates").len();
            if seen >= n {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "the watchdog sees {seen} uploads to act on, not {n}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn metrics_text(&self) -> String {
        reqwest::get(&self.metrics_url).await.expect("metrics").text().await.expect("text")
    }

    /// Sum of every sample of `name` whose labels contain all of `labels`.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        parse_metric(&self.metrics_text().await, name, labels)
    }

    /// Stops every role and drops the test database.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean stop");
        }
        self.app.store.pool().close().await;
        let _ = orakgarak::devstack::drop_database(&self.db_name).await;
    }
}

/// Every state of an upload that went through without a retry.
pub const HAPPY_PATH: [&str; 8] =
    ["CREATED", "UPLOADED", "CONVERTING", "CONVERTED", "ANALYZING", "ANALYZED", "RECOMMENDING", "COMPLETED"];

/// Uploads `n` takes at once (the API answers while the pipeline works).
pub async fn upload_many(app: &TestApp, n: usize) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("take{i}.ogg")).collect();
    let calls = names.iter().map(|name| app.upload(name, "audio/ogg", fixture("sung-a3-e4.ogg")));
    futures::future::join_all(calls).await
}

/// Waits for each upload to complete (within `timeout` each), having run
/// every stage exactly once.
pub async fn wait_completed(app: &TestApp, ids: &[String], timeout: Duration) -> Vec<Value> {
    let mut uploads = Vec::new();
    for id in ids {
        let upload = app.client.wait_for(id, Some("COMPLETED"), timeout, false).await.unwrap_or_else(|e| {
            panic!("{id} did not complete: {e:#}");
        });
        assert_eq!(states(&upload), HAPPY_PATH, "{id}: every stage ran exactly once");
        uploads.push(upload);
    }
    uploads
}

pub fn parse_metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// When the upload's history stepped into `state` for the `nth` time
/// (0 = first), by the database's clock.
pub fn at(upload: &Value, state: &str, nth: usize) -> chrono::DateTime<chrono::Utc> {
    let mut steps = upload["history"].as_array().into_iter().flatten().filter(|h| h["to_state"] == state);
    let step = steps.nth(nth);
    step.and_then(|h| h["at"].as_str()).and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("no {state} #{nth}"))
}

/// The `to_state` column of an upload's history.
pub fn states(upload: &Value) -> Vec<String> {
    upload["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| h["to_state"].as_str().unwrap_or_default().to_owned())
        .collect()
}

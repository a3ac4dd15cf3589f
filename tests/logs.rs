//! Log shipping to Loki: every line of an upload reaches Loki with its
//! traceId, under a small fixed label set; while Loki is down the service
//! keeps serving, losses are counted and the queue stays within its cap
//! (its memory is measured by `cargo bench --bench telemetry`).
//! (One test per binary: the log subscriber is process-global.)

mod common;

use std::time::{Duration, Instant};

use common::loki::StandInLoki;
use common::{fixture, parse_metric};
use orakgarak::app::Roles;
use orakgarak::config::LogSettings;
use orakgarak::telemetry::Metrics;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upload_logs_reach_loki_and_an_outage_is_counted_not_hoarded() {
    let loki = StandInLoki::start().await;
    let queue_cap = 2_000;
    let settings = LogSettings {
        loki_url: Some(loki.url()),
        loki_queue_lines: queue_cap,
        loki_batch_lines: 500,
        loki_flush_interval: Duration::from_millis(200),
        loki_timeout: Duration::from_secs(1),
        level: "info".into(),
        ..LogSettings::default()
    };
    let metrics = Metrics::new();
    orakgarak::telemetry::init_telemetry(&settings, &Default::default(), "test", "all", None, &metrics)
        .expect("first subscriber in this binary");
    let (app_settings, db) = common::isolated_settings().await;
    let app = common::start_with_metrics(app_settings, db, Roles::all(), metrics).await;

    // 1. One upload: every role's lines arrive, findable by traceId.
    let id = app.upload("take.ogg", "audio/ogg", fixture("sung-a3-e4.ogg")).await;
    let upload = app.wait_for(&id, Some("COMPLETED")).await;
    let trace = upload["trace_id"].as_str().expect("trace").to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    let roles = loop {
        let mut roles: Vec<String> = loki
            .lines_with(&trace)
            .iter()
            .filter_map(|e| {
                serde_json::from_str::<serde_json::Value>(&e.line).ok()?["role"].as_str().map(str::to_owned)
            })
            .collect();
        roles.sort();
        roles.dedup();
        if ["analyze", "api", "convert", "recommend"].iter().all(|r| roles.iter().any(|x| x == r))
            || Instant::now() > deadline
        {
            break roles;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(roles, ["analyze", "api", "convert", "recommend"], "roles whose lines carry the traceId");
    for entry in loki.lines_with(&trace) {
        let labels: Vec<&str> = entry.labels.keys().map(String::as_str).collect();
        assert_eq!(labels, ["env", "level", "service"], "only the fixed label set");
        assert_eq!(entry.metadata.get("traceId"), Some(&trace), "traceId is structured metadata");
    }
    assert!(loki.rejected.lock().expect("lock").is_empty(), "Loki refused a push: {:?}", loki.rejected.lock());

    // 2. Loki goes down under sustained load.
    loki.stop();
    let mut max_queue = 0.0f64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        let mut calls = Vec::new();
        for _ in 0..8 {
            calls.push(app.client.create_upload("load.wav", "audio/wav", 1000, None));
        }
        for result in futures::future::join_all(calls).await {
            assert_eq!(result.expect("API answers").0, 201, "the API keeps serving while Loki is down");
        }
        for i in 0..200 {
            tracing::info!(i, "Synthetic load line.");
        }
        max_queue = max_queue.max(app.metric("orakgarak_log_queue_lines", &[]).await);
    }
    let text = app.metrics_text().await;
    let dropped = parse_metric(&text, "orakgarak_log_events_dropped_total", &[]);
    let failed_pushes = parse_metric(&text, "orakgarak_loki_pushes_total", &["outcome=\"failure\""]);
    assert!(dropped > 0.0, "losses are counted");
    assert!(failed_pushes > 0.0, "failed pushes are counted");
    assert!(max_queue <= queue_cap as f64, "queue stays within its cap");

    // 3. Loki comes back: new lines flow again.
    loki.restart().await;
    let marker = format!("marker-{}", uuid::Uuid::new_v4());
    let deadline = Instant::now() + Duration::from_secs(30);
    while loki.lines_with(&marker).is_empty() {
        tracing::warn!(marker = %marker, "Loki recovery marker.");
        assert!(Instant::now() < deadline, "no lines reached Loki after it came back");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    app.stop().await;
}

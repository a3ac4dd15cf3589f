//! Metrics as an SRE sees them: a real Prometheus scraping a running
//! pipeline, promtool's lint of the exposition, and the metrics catalogue.

mod common;

use std::time::Duration;

use common::prometheus::Prometheus;
use common::{fixture, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prometheus_scrapes_stage_durations_transitions_and_lag() {
    let app = spawn_app().await;
    let target = app.metrics_url.trim_start_matches("http://").trim_end_matches("/metrics").to_owned();
    let prometheus = Prometheus::start(&[("orakgarak", target)], "").await;
    let id = app.upload("take.m4a", "audio/mp4", fixture("sung-a3-e4.m4a")).await;
    app.wait_for(&id, Some("COMPLETED")).await;

    let timeout = Duration::from_secs(30);
    for stage in ["convert", "analyze", "recommend"] {
        let series = prometheus
            .wait_for(
                &format!("orakgarak_stage_duration_seconds_count{{stage=\"{stage}\",outcome=\"success\"}} >= 1"),
                timeout,
            )
            .await;
        assert_eq!(series[0]["metric"]["job"], "orakgarak");
    }
    let buckets = prometheus.wait_for("orakgarak_stage_duration_seconds_bucket{stage=\"analyze\"}", timeout).await;
    assert!(buckets.len() > 5, "a histogram with buckets");
    for (from, to) in [("CREATED", "UPLOADED"), ("ANALYZING", "ANALYZED"), ("RECOMMENDING", "COMPLETED")] {
        prometheus
            .wait_for(&format!("orakgarak_upload_transitions_total{{from=\"{from}\",to=\"{to}\"}} == 1"), timeout)
            .await;
    }
    let lag = prometheus.wait_for("orakgarak_consumer_lag{stage=\"convert\",lane=\"realtime\"}", timeout).await;
    // One series per partition the consumer holds, each a partition of the
    // topic: the label set stays bounded by the partition count.
    let partitions = app.settings.kafka.partitions;
    for series in &lag {
        let partition: i32 = series["metric"]["partition"].as_str().and_then(|p| p.parse().ok()).expect("partition");
        assert!((0..partitions).contains(&partition), "lag of partition {partition}, of {partitions}: {lag:?}");
    }
    prometheus.wait_for("orakgarak_uploads_in_state{state=\"COMPLETED\"} == 1", timeout).await;
    prometheus
        .wait_for("orakgarak_http_requests_total{route=\"/v1/uploads\",method=\"POST\",status_class=\"2xx\"}", timeout)
        .await;
    prometheus.wait_for("orakgarak_build_info", timeout).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_exposition_passes_promtool_and_matches_the_catalogue() {
    let app = spawn_app().await;
    let id = app.upload("take.mp3", "audio/mpeg", fixture("sung-a3-e4.mp3")).await;
    app.wait_for(&id, Some("COMPLETED")).await;
    let text = app.metrics_text().await;

    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed by scripts/stack.sh (Debian package prometheus)");
    use std::io::Write;
    promtool.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write");
    let out = promtool.wait_with_output().expect("promtool runs");
    let complaints = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && complaints.trim().is_empty(), "promtool check metrics:\n{complaints}");

    // Every exposed family is in the catalogue with the same type, and every
    // label on a sample is one the catalogue lists for it.
    let catalogue: Vec<_> = orakgarak::telemetry::catalog::all().collect();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = line.split_whitespace().skip(2);
        let (name, kind) = (parts.next().expect("name"), parts.next().expect("type"));
        let entry =
            catalogue.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("{name} is not in the catalogue"));
        assert_eq!(entry.kind, kind, "{name}");
    }
    for line in text.lines().filter(|l| !l.starts_with('#') && l.contains('{')) {
        let name = line.split('{').next().expect("name");
        let entry = catalogue
            .iter()
            .filter(|m| name.starts_with(m.name))
            .max_by_key(|m| m.name.len())
            .unwrap_or_else(|| panic!("sample {name} has no catalogue entry"));
        let labels = line.split('{').nth(1).and_then(|l| l.split('}').next()).unwrap_or_default();
        for label in labels.split(',').filter_map(|kv| kv.split('=').next()).filter(|l| !l.is_empty() && *l != "le") {
            assert!(entry.labels.contains(&label), "{name} has label {label} not listed in the catalogue");
        }
    }
    for entry in catalogue {
        assert!(text.contains(&format!("# TYPE {} ", entry.name)), "{} is catalogued but not exposed", entry.name);
    }
    app.stop().await;
}

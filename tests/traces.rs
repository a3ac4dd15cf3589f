//! OpenTelemetry on the real stack: spans exported over OTLP/HTTP to a
//! strict stand-in collector; one upload is one trace from the API through
//! every stage; a client's `traceparent` is continued with its sampling
//! decision; log lines carry the exported ids.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::loki::StandInLoki;
use common::otlp::{ReceivedSpan, StandInOtlp};
use common::{fixture, spawn_app};
use orakgarak::config::{LogSettings, TraceSettings};

struct Collectors {
    otlp: StandInOtlp,
    loki: StandInLoki,
}

/// The process-wide subscriber, exporting to one stand-in collector (and
/// shipping logs to a stand-in Loki), both on runtimes of their own.
fn collectors() -> &'static Collectors {
    static COLLECTORS: OnceLock<Collectors> = OnceLock::new();
    COLLECTORS.get_or_init(|| {
        let otlp = StandInOtlp::start();
        let loki = common::on_own_runtime(StandInLoki::start);
        let log = LogSettings {
            level: "info".into(),
            loki_url: Some(loki.url()),
            loki_flush_interval: Duration::from_millis(200),
            ..LogSettings::default()
        };
        let traces = TraceSettings {
            otlp_endpoint: Some(otlp.url()),
            export_interval: Duration::from_millis(100),
            ..TraceSettings::default()
        };
        // The telemetry handle lives as long as the process: spans export
        // on schedule.
        std::mem::forget(
            orakgarak::telemetry::init_telemetry(
                &log,
                &traces,
                "test",
                "all",
                None,
                &orakgarak::telemetry::Metrics::new(),
            )
            .expect("first subscriber in this binary"),
        );
        Collectors { otlp, loki }
    })
}

/// Waits until the collector holds a span of `trace_id` named `name`.
async fn wait_for_span(otlp: &StandInOtlp, trace_id: &str, name: &str) -> Vec<ReceivedSpan> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spans = otlp.spans_of(trace_id);
        if spans.iter().any(|s| s.name == name) {
            return spans;
        }
        let refused = otlp.refused.lock().expect("lock").clone();
        assert!(
            Instant::now() < deadline,
            "no {name:?} span of trace {trace_id} exported; have {:?}; refused: {refused:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>(),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Names from `span` up to the root, following parent ids; `Err` names
/// the first parent not (yet) exported.
fn ancestry(spans: &[ReceivedSpan], span: &ReceivedSpan) -> Result<Vec<String>, String> {
    let by_id: BTreeMap<&str, &ReceivedSpan> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut names = vec![span.name.clone()];
    let mut current = span;
    while let Some(parent) = current.parent_span_id.as_deref() {
        current = by_id.get(parent).ok_or_else(|| format!("{}'s parent {parent} was not exported", current.name))?;
        names.push(current.name.clone());
    }
    Ok(names)
}

/// Waits until the spans of `trace_id` include `name` and every ancestor
/// of it (a producer span ends, and is exported, after the broker's
/// acknowledgement — possibly after its consumer's span).
async fn wait_for_tree(otlp: &StandInOtlp, trace_id: &str, name: &str) -> (Vec<ReceivedSpan>, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spans = wait_for_span(otlp, trace_id, name).await;
        let leaf = spans.iter().find(|s| s.name == name).cloned().expect("waited for it");
        match ancestry(&spans, &leaf) {
            Ok(names) => return (spans, names),
            Err(missing) => assert!(
                Instant::now() < deadline,
                "{missing}; exported: {:?}; all: {:?}",
                spans.iter().map(|s| (&s.name, &s.span_id, &s.parent_span_id)).collect::<Vec<_>>(),
                otlp.all().iter().map(|s| (&s.name, &s.trace_id[..8], &s.span_id)).collect::<Vec<_>>()
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that `span` (of `trace`) has one link, to the root span named
/// `run` of another trace.
async fn assert_linked_to_run(otlp: &StandInOtlp, span: &ReceivedSpan, trace: &str, run: &str) {
    assert_eq!(span.links.len(), 1, "{} links to its run", span.name);
    let (run_trace, run_span) = &span.links[0];
    assert_ne!(run_trace, trace, "a {run} is a trace of its own");
    let spans = wait_for_span(otlp, run_trace, run).await;
    assert!(spans.iter().any(|s| &s.span_id == run_span && s.parent_span_id.is_none()), "{run} is the link's root");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_upload_is_one_trace_from_the_api_through_every_stage() {
    let collectors = collectors();
    let app = spawn_app().await;
    let id = app.upload("take.ogg", "audio/ogg", fixture("sung-a3-e4.ogg")).await;
    let upload = app.wait_for(&id, Some("COMPLETED")).await;
    let trace = upload["trace_id"].as_str().expect("trace id").to_owned();
    let (spans, chain) = wait_for_tree(&collectors.otlp, &trace, "recommend").await;

    // One root: the request that created the upload.
    let roots: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.parent_span_id.is_none()).collect();
    assert_eq!(roots.len(), 1, "one root span: {roots:?}");
    assert_eq!(roots[0].name, "POST /v1/uploads");
    assert_eq!(roots[0].kind, 2, "the request span is a server span");
    assert_eq!(roots[0].attributes.get("http.response.status_code").map(String::as_str), Some("201"));
    assert_eq!(roots[0].resource.get("service.name").map(String::as_str), Some("orakgarak"));

    // Each stage ran once, under the message its predecessor produced.
    let stages = |name: &str| spans.iter().filter(|s| s.name == name).collect::<Vec<_>>();
    for stage in ["convert", "analyze", "recommend"] {
        assert_eq!(stages(stage).len(), 1, "one {stage} span");
        assert_eq!(stages(stage)[0].kind, 5, "{stage} is a consumer span");
        assert_eq!(stages(stage)[0].attributes.get("orakgarak.attempt").map(String::as_str), Some("1"));
    }
    let topic = |stage: &str| app.app.topics.stage(stage.parse().expect("stage"), orakgarak::telemetry::Lane::Realtime);
    let publish = |stage: &str| format!("publish {}", topic(stage));
    assert_eq!(
        chain,
        [
            "recommend".to_owned(),
            publish("recommend"),
            "analyze".to_owned(),
            publish("analyze"),
            "convert".to_owned(),
            publish("convert"),
            "object_created".to_owned(),
            "POST /v1/uploads".to_owned(),
        ]
    );

    // The notification is a trace of its own, linked from the arrival.
    let arrival = stages("object_created")[0];
    assert_eq!(arrival.links.len(), 1, "object_created links to the notification request");
    let (notification_trace, notification_span) = &arrival.links[0];
    let notification = wait_for_span(&collectors.otlp, notification_trace, "POST /v1/events/s3").await;
    assert!(notification.iter().any(|s| &s.span_id == notification_span && s.name == "POST /v1/events/s3"));

    // Every log line of the upload carries the exported trace and a span
    // of it; lines of every role are there.
    let exported: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    let lines = loop {
        let lines = collectors.loki.lines_with(&trace);
        let roles: BTreeSet<String> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l.line).ok())
            .filter_map(|l| l["role"].as_str().map(str::to_owned))
            .collect();
        if ["api", "convert", "analyze", "recommend"].iter().all(|r| roles.contains(*r)) {
            break lines;
        }
        assert!(Instant::now() < deadline, "log lines of every role with traceId {trace}: have {roles:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for entry in &lines {
        let line: serde_json::Value = serde_json::from_str(&entry.line).expect("JSON line");
        if line["traceId"] != trace.as_str() {
            continue; // the id appears in another field (another trace's line)
        }
        let span_id = line["spanId"].as_str().unwrap_or_else(|| panic!("line without spanId: {line}"));
        assert!(exported.contains(span_id), "line's spanId {span_id} is not an exported span of the trace: {line}");
    }

    // Grafana's Loki datasource turns that field into a link to the trace
    // in the provisioned Tempo datasource.
    let provisioning =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/provisioning/datasources.yaml");
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(provisioning).expect("read")).expect("YAML");
    let sources = doc["datasources"].as_sequence().expect("datasources");
    let by_type =
        |kind: &str| sources.iter().find(|d| d["type"] == kind).unwrap_or_else(|| panic!("a {kind} datasource"));
    let derived = &by_type("loki")["jsonData"]["derivedFields"][0];
    assert_eq!(derived["datasourceUid"], by_type("tempo")["uid"], "the link opens the provisioned Tempo");
    assert_eq!(
        derived["url"], "$${__value.raw}",
        "the link is the captured id (`$$` escapes provisioning's env expansion)"
    );
    let matcher = regex::Regex::new(derived["matcherRegex"].as_str().expect("regex")).expect("valid regex");
    let own: Vec<_> = lines.iter().filter(|e| e.line.contains(&format!("\"traceId\":\"{trace}\""))).collect();
    assert!(!own.is_empty(), "lines whose traceId field is the trace");
    for entry in own {
        let captured = matcher.captures(&entry.line).and_then(|c| c.get(1)).map(|m| m.as_str());
        assert_eq!(captured, Some(trace.as_str()), "derived field on {}", entry.line);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_traceparent_is_continued_with_its_sampling_decision() {
    let collectors = collectors();
    let app = spawn_app().await;
    let request = |traceparent: &'static str| {
        app.client
            .http
            .post(format!("{}/v1/uploads", app.base_url))
            .bearer_auth(&app.client.token)
            .header("traceparent", traceparent)
            .json(&serde_json::json!({ "filename": "a.wav", "content_type": "audio/wav", "size_bytes": 1000 }))
            .send()
    };
    let unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    let response = request(unsampled).await.expect("POST");
    assert_eq!(response.status(), 201);
    let answered = response.headers()["traceparent"].to_str().expect("ascii").to_owned();
    assert!(answered.starts_with("00-0af7651916cd43dd8448eb211c80319c-"), "same trace: {answered}");
    assert!(answered.ends_with("-00"), "the parent's decision not to sample is kept: {answered}");
    assert!(!answered.contains("b7ad6b7169203331"), "the answer names the server's own span: {answered}");

    // A sampled request afterwards; once its span is exported, the
    // unsampled one (finished earlier) would have been too.
    let sampled = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-a-future-field";
    let response = request(sampled).await.expect("POST");
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "a future traceparent version is continued");
    let spans = wait_for_span(&collectors.otlp, "4bf92f3577b34da6a3ce929d0e0e4736", "POST /v1/uploads").await;
    let server = spans.iter().find(|s| s.name == "POST /v1/uploads").expect("waited for it");
    assert_eq!(server.parent_span_id.as_deref(), Some("00f067aa0ba902b7"), "the client's span is the parent");
    assert!(
        collectors.otlp.spans_of("0af7651916cd43dd8448eb211c80319c").is_empty(),
        "an unsampled trace is not exported"
    );
    let refused = collectors.otlp.refused.lock().expect("lock").clone();
    assert!(refused.is_empty(), "every export was well-formed: {refused:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watchdog_reconciliation_continues_the_uploads_trace_and_links_to_its_run() {
    let collectors = collectors();
    let app = common::spawn_app_with(|s| {
        s.storage.presign_ttl = Duration::from_secs(2);
        s.watchdog.expiry_grace = Duration::ZERO;
    })
    .await;
    // The object arrives but its notification is lost.
    let bytes = fixture("sung-a3-e4.ogg");
    let (status, created) =
        app.client.create_upload("take.ogg", "audio/ogg", bytes.len() as u64, None).await.expect("POST");
    assert_eq!(status, 201, "{created}");
    assert_eq!(app.client.put_object(&created, bytes).await.expect("PUT"), 200);
    let id = created["upload_id"].as_str().expect("id").to_owned();
    let trace = created["trace_id"].as_str().expect("trace").to_owned();
    app.wait_until_watchdog_sees(1).await; // the upload URL expired
    let report = app.app.watchdog().run_once().await.expect("watchdog run");
    assert_eq!(report.reconciled, 1, "{report:?}");
    app.wait_for(&id, Some("COMPLETED")).await;

    let (spans, chain) = wait_for_tree(&collectors.otlp, &trace, "recommend").await;
    assert_eq!(chain[chain.len() - 2..], ["watchdog_reconcile".to_owned(), "POST /v1/uploads".to_owned()]);
    let reconcile = spans.iter().find(|s| s.name == "watchdog_reconcile").expect("in the chain");
    assert_linked_to_run(&collectors.otlp, reconcile, &trace, "watchdog_run").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dlq_replay_continues_the_failed_attempts_trace_and_links_to_the_replay() {
    use orakgarak::pipeline::dlq::replay;
    let collectors = collectors();
    let app = spawn_app().await;
    let id = app.upload("broken.mp3", "audio/mpeg", fixture("corrupt.mp3")).await;
    let upload = app.wait_for(&id, Some("FAILED")).await;
    let trace = upload["trace_id"].as_str().expect("trace").to_owned();
    let letters = app.dead_letters(1).await;
    let report = replay(&app.app.store, &app.app.topics, &app.app.metrics, &letters, None).await.expect("replay");
    assert_eq!(report.replayed.len(), 1, "{report:?}");

    // The replay sits under the failed attempt (through the dead letter's
    // publish span) in the upload's trace.
    let (spans, chain) = wait_for_tree(&collectors.otlp, &trace, "dlq_replay").await;
    assert_eq!(
        chain[1..3],
        ["publish ".to_owned() + &app.app.topics.dead_letter(orakgarak::domain::Stage::Convert), "convert".to_owned()]
    );
    assert_eq!(chain.last().map(String::as_str), Some("POST /v1/uploads"));
    let replayed = spans.iter().find(|s| s.name == "dlq_replay").expect("in the chain");
    assert_linked_to_run(&collectors.otlp, replayed, &trace, "dlq_replay_run").await;
    app.stop().await;
}

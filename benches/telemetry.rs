//! Telemetry's cost: API and pipeline throughput with telemetry fully on
//! (JSON logs at info + Loki shipping), the same plus OTLP trace export
//! (to a sink that decodes every export), and logging at warn with Loki
//! and export off, in one run; and how many log lines per second the
//! shipping layer sustains. Each phase runs in its own process (the
//! subscriber is process-global), started by this binary.
//!
//!   scripts/stack.sh up && cargo bench --bench telemetry

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use common::{api_load, percentile, pipeline_rate};
use orakgarak::app::{App, Roles};
use orakgarak::config::{LogSettings, Settings};
use serde_json::{json, Value};

/// A push sink on `path` for the benchmark: adds what `count` finds in a
/// push to the returned counter and answers `status`, or 400 when `count`
/// cannot read the push.
async fn counting_sink(
    path: &str,
    status: axum::http::StatusCode,
    count: fn(&[u8]) -> Option<u64>,
) -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let total = Arc::new(AtomicU64::new(0));
    let counter = total.clone();
    let app = axum::Router::new().route(
        path,
        axum::routing::post(move |body: axum::body::Bytes| {
            let answer = match count(&body) {
                Some(n) => {
                    counter.fetch_add(n, Ordering::Relaxed);
                    status
                }
                None => axum::http::StatusCode::BAD_REQUEST,
            };
            async move { answer }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}{path}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, total))
}

/// Lines in a Loki JSON push (an unreadable push counts none).
fn loki_lines(body: &[u8]) -> Option<u64> {
    let push: Value = serde_json::from_slice(body).unwrap_or_default();
    let streams = push["streams"].as_array().into_iter().flatten();
    Some(streams.map(|s| s["values"].as_array().map_or(0, Vec::len) as u64).sum())
}

/// Spans in an OTLP protobuf export.
fn otlp_spans(body: &[u8]) -> Option<u64> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    let request = ExportTraceServiceRequest::decode(body).ok()?;
    Some(request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len() as u64).sum())
}

/// The sum of every sample of counter `name` in an OpenMetrics exposition.
fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn phase(name: &str) -> anyhow::Result<Value> {
    let full = name != "quiet";
    let (loki_push, received) =
        counting_sink("/loki/api/v1/push", axum::http::StatusCode::NO_CONTENT, loki_lines).await?;
    let loki_url = loki_push.trim_end_matches("/loki/api/v1/push").to_owned();
    let (otlp_url, spans) = counting_sink("/v1/traces", axum::http::StatusCode::OK, otlp_spans).await?;
    let log = LogSettings {
        level: if full { "info".into() } else { "warn".into() },
        loki_url: full.then_some(loki_url),
        ..LogSettings::default()
    };
    let traces =
        orakgarak::config::TraceSettings { otlp_endpoint: (name == "otlp").then_some(otlp_url), ..Default::default() };
    let metrics = orakgarak::telemetry::Metrics::new();
    let telemetry = orakgarak::telemetry::init_telemetry(&log, &traces, "bench", "all", None, &metrics)?;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/orakgarak.yaml");
    let mut settings = Settings::load(Some(&path), std::iter::empty())?;
    settings.catalog.path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/songs.yaml");
    let db = orakgarak::devstack::isolate(&mut settings).await?;
    let app = App::build_with_metrics(settings.clone(), metrics.clone()).await?;
    app.prepare().await?;
    let running = app.start(&Roles::all()).await?;
    let base = format!("http://{}", running.api_addr.context("api")?);

    let (latencies, rps, errors) = api_load(&base, &settings, 8, 8).await?;
    let pipeline = pipeline_rate(&app, &base, &settings, 30).await?;
    let mut result = json!({
        "rps": rps, "p50_ms": percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        "p99_ms": percentile(&latencies, 0.99).as_secs_f64() * 1e3, "errors": errors, "pipeline": pipeline,
    });
    if name == "full" {
        // Shipping throughput: a burst of lines from two threads, then wait
        // until every line is either shipped or counted as dropped.
        let shipping = || {
            let text = metrics.encode();
            (sample(&text, "orakgarak_log_events_shipped_total"), sample(&text, "orakgarak_log_events_dropped_total"))
        };
        let (before_shipped, before_dropped) = shipping();
        let lines = 200_000u64;
        let started = Instant::now();
        let emitters: Vec<_> = (0..2)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..lines / 2 {
                        tracing::info!(thread = t, i, "Benchmark log line.");
                    }
                })
            })
            .collect();
        for e in emitters {
            let _ = e.join();
        }
        let emitted_in = started.elapsed();
        loop {
            let (shipped, dropped) = shipping();
            let (shipped, dropped) = (shipped - before_shipped, dropped - before_dropped);
            if shipped + dropped >= lines || started.elapsed() > Duration::from_secs(120) {
                let elapsed = started.elapsed().as_secs_f64();
                result["ship_lines_per_s"] = json!(shipped as f64 / elapsed);
                result["ship_dropped"] = json!(dropped);
                result["emit_lines_per_s"] = json!(lines as f64 / emitted_in.as_secs_f64());
                result["loki_received"] = json!(received.load(Ordering::Relaxed));
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    running.stop().await?;
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    result["spans_exported"] = json!(spans.load(Ordering::Relaxed));
    app.store.pool().close().await;
    orakgarak::devstack::drop_database(&db).await?;
    Ok(result)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--phase") {
        let name = args.get(i + 1).context("--phase <full|otlp|quiet> --out <file>")?;
        let out = args.get(i + 3).context("--phase <full|otlp|quiet> --out <file>")?;
        let result = phase(name).await?;
        std::fs::write(out, result.to_string())?;
        return Ok(());
    }
    let mut results = Vec::new();
    for phase in ["full", "otlp", "quiet"] {
        let out = std::env::temp_dir().join(format!("orakgarak-bench-{phase}.json"));
        let status = std::process::Command::new(std::env::current_exe()?)
            .args(["--phase", phase, "--out"])
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "phase {phase} failed");
        results.push((phase, serde_json::from_str::<Value>(&std::fs::read_to_string(&out)?)?));
    }
    println!("telemetry cost (8 clients x 8 s on POST /v1/uploads; 30 phone takes through the pipeline)");
    for (phase, r) in &results {
        let label = match *phase {
            "full" => "info logs + Loki, OTLP off   ",
            "otlp" => "info logs + Loki + OTLP export",
            _ => "warn logs, Loki off, OTLP off ",
        };
        println!(
            "  {label}: POST {:>6.0} req/s  p50 {:>5.2} ms  p99 {:>6.2} ms  | pipeline {:>5.1} uploads/s | {} spans exported",
            r["rps"].as_f64().unwrap_or(0.0),
            r["p50_ms"].as_f64().unwrap_or(0.0),
            r["p99_ms"].as_f64().unwrap_or(0.0),
            r["pipeline"].as_f64().unwrap_or(0.0),
            r["spans_exported"]
        );
    }
    let full = &results[0].1;
    println!(
        "  shipping layer: {:.0} lines/s shipped to Loki ({} of 200000 dropped; emitters produced {:.0} lines/s)",
        full["ship_lines_per_s"].as_f64().unwrap_or(0.0),
        full["ship_dropped"],
        full["emit_lines_per_s"].as_f64().unwrap_or(0.0)
    );
    Ok(())
}

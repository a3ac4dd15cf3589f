//! Load helpers shared by the benchmarks.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use orakgarak::app::App;
use orakgarak::commands::demo::ApiClient;
use orakgarak::config::Settings;

pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// A 5 s Opus take from a phone (32 kbit/s), shipped with the repository:
/// what a singer uploads, and sung, so the analyser accepts it.
pub fn phone_take() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/fixtures/phone-take-5s.opus"))
        .expect("benches/fixtures/phone-take-5s.opus")
}

pub async fn api_load(
    base: &str,
    settings: &Settings,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<(Vec<Duration>, f64, usize)> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = ApiClient::new(settings, base, &format!("bench-{c}"))?;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                match client.create_upload("take.wav", "audio/wav", 1_000_000, None).await {
                    Ok((201, _)) => latencies.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await?;
        all.extend(latencies);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let rps = all.len() as f64 / elapsed;
    Ok((all, rps, errors))
}

pub async fn pipeline_rate(app: &App, base: &str, settings: &Settings, uploads: usize) -> anyhow::Result<f64> {
    let bytes = phone_take();
    let client = ApiClient::new(settings, base, "bench-pipeline")?;
    let started = Instant::now();
    for _ in 0..uploads {
        client.upload("take.opus", "audio/ogg", bytes.clone()).await?;
    }
    loop {
        let (done, failed): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE state = 'COMPLETED'), count(*) FILTER (WHERE state IN ('FAILED', 'REJECTED')) \
             FROM uploads WHERE user_id = 'bench-pipeline'",
        )
        .fetch_one(app.store.pool())
        .await?;
        anyhow::ensure!(failed == 0, "{failed} benchmark uploads failed: the figures would mean nothing");
        if done as usize == uploads {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "pipeline did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(uploads as f64 / started.elapsed().as_secs_f64())
}

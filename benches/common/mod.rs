//! Load helpers shared by the benchmarks.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use orakgarak::app::App;
use orakgarak::commands::demo::ApiClient;
use orakgarak::config::Settings;

pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// 1.5 s of a voice-like tone over three notes.
pub fn short_recording() -> Vec<u8> {
    let rate = 16_000u32;
    let mut samples = Vec::new();
    for hz in [196.0f64, 220.0, 246.9] {
        for i in 0..(rate / 2) {
            let t = f64::from(i) / f64::from(rate);
            let s: f64 =
                (1..=6).map(|h| (2.0 * std::f64::consts::PI * hz * f64::from(h) * t).sin() / f64::from(h)).sum();
            samples.push((s * 0.25) as f32);
        }
    }
    orakgarak::audio::write_wav_mono(&samples, rate)
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
        let client = ApiClient::new(settings, base, &format!("bench-{c}"));
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
    let bytes = short_recording();
    let client = ApiClient::new(settings, base, "bench-pipeline");
    let started = Instant::now();
    for _ in 0..uploads {
        client.upload("short.wav", "audio/wav", bytes.clone()).await?;
    }
    loop {
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM uploads WHERE user_id = 'bench-pipeline' AND state = 'COMPLETED'")
                .fetch_one(app.store.pool())
                .await?;
        if done as usize == uploads {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "pipeline did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(uploads as f64 / started.elapsed().as_secs_f64())
}

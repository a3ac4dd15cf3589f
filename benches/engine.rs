//! The consumer engine under load, on the local stack (`scripts/stack.sh up`):
//!
//!   cargo bench --bench engine -- [uploads] [clients]
//!
//! 300 uploads (default) of a 5-second phone take (Opus, 32 kbit/s,
//! `benches/fixtures/phone-take-5s.opus`) sent by 16 clients through one
//! `orakgarak all` process. Printed per run: completed uploads/s, the
//! process's CPU use over the run (both cores = 200 %) next to the whole
//! machine's (the stack runs on the same two cores), and p50/p99 from the
//! object-created event (UPLOADED) to COMPLETED. Runs:
//!
//! 1. one message in flight per stage consumer (the old engine's pace);
//! 2. the default per-stage concurrency;
//! 3. the default, with 10 % of uploads failing once transiently at
//!    analysis (a model server answering 503), retried after 1 s;
//! 4. PostgreSQL (a server of the benchmark's own) restarted mid-run:
//!    seconds from its return to the first completed stage.
//!
//! `ORAKGARAK__*` environment overrides apply to every run (e.g.
//! `ORAKGARAK__PIPELINE__CONCURRENCY__ANALYZE=8`).
//!
//! Anchor beside them: ffmpeg decoding the same take to 16 kHz mono WAV,
//! the floor of what convert costs per upload on this machine.

#[path = "../tests/common/postgres.rs"]
mod postgres;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use orakgarak::app::{App, Roles};
use orakgarak::commands::demo::ApiClient;
use orakgarak::config::{PerStage, Secret, Settings};

fn take() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/fixtures/phone-take-5s.opus")).expect("fixture")
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// (busy, total) jiffies of the whole machine, all cores (/proc/stat).
fn machine_jiffies() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: f64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0.0) + fields.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

fn settings() -> anyhow::Result<Settings> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // ORAKGARAK__* overrides apply, e.g. ORAKGARAK__PIPELINE__CONCURRENCY__CONVERT=8.
    let mut settings = Settings::load(Some(&root.join("config/orakgarak.yaml")), std::env::vars())?;
    settings.catalog.path = root.join("catalog/songs.yaml");
    settings.database.max_connections = 40;
    settings.log.level = "warn".into();
    Ok(settings)
}

/// A model server answering 503 to every `nth` first-time call, else the
/// built-in analysis: a dependency that fails transiently now and then.
async fn flaky_model(nth: usize) -> anyhow::Result<String> {
    use axum::body::Bytes;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::<u64>::new()));
    let app = axum::Router::new().route(
        "/v1/analyze",
        axum::routing::post(move |body: Bytes| {
            let (calls, seen) = (calls.clone(), seen.clone());
            async move {
                use axum::response::IntoResponse;
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let key = body.iter().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)));
                let first = seen.lock().map(|mut s| s.insert(key ^ n as u64)).unwrap_or(false);
                if first && n % nth == 0 {
                    return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
                }
                match tokio::task::spawn_blocking(move || orakgarak::stages::analyze_wav(&body)).await {
                    Ok(Ok(profile)) => axum::Json(profile).into_response(),
                    _ => axum::http::StatusCode::UNPROCESSABLE_ENTITY.into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1/analyze", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

struct RunFigures {
    rate: f64,
    cpu_percent: f64,
    /// Every process on the machine (PostgreSQL, tansu, s3s-fs too), both cores = 200 %.
    machine_percent: f64,
    p50: f64,
    p99: f64,
    /// Same, for uploads that never retried.
    healthy_p50: f64,
}

async fn run(name: &str, mut settings: Settings, uploads: usize, clients: usize) -> anyhow::Result<RunFigures> {
    let db = orakgarak::devstack::isolate(&mut settings).await?;
    let app = App::build(settings.clone()).await?;
    app.prepare().await?;
    let running = app.start(&Roles::all()).await?;
    let base = format!("http://{}", running.api_addr.context("api")?);
    let bytes = take();
    let (cpu0, machine0, started) = (cpu_seconds(), machine_jiffies(), Instant::now());
    let next = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for c in 0..clients {
        let (client, next, bytes) =
            (ApiClient::new(&settings, &base, &format!("bench-{c}"))?, next.clone(), bytes.clone());
        senders.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::SeqCst) < uploads {
                client.upload("take.opus", "audio/ogg", bytes.clone()).await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for sender in senders {
        sender.await??;
    }
    loop {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM uploads WHERE state IN ('COMPLETED','FAILED')")
            .fetch_one(app.store.pool())
            .await?;
        if done as usize >= uploads {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(1200), "{name}: the run did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_percent = 100.0 * (cpu_seconds() - cpu0) / elapsed;
    let machine1 = machine_jiffies();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let machine_percent = 100.0 * cores * (machine1.0 - machine0.0) / (machine1.1 - machine0.1).max(1.0);
    let rows: Vec<(f64, bool)> = sqlx::query_as(
        "SELECT extract(epoch FROM max(at) FILTER (WHERE to_state = 'COMPLETED') \
                - min(at) FILTER (WHERE to_state = 'UPLOADED'))::float8, \
                bool_or(to_state = 'RETRYING') \
         FROM upload_transitions GROUP BY upload_id",
    )
    .fetch_all(app.store.pool())
    .await?;
    let quantile = |mut v: Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        v.get(((v.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or(f64::NAN)
    };
    let all: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let healthy: Vec<f64> = rows.iter().filter(|r| !r.1).map(|r| r.0).collect();
    let figures = RunFigures {
        rate: uploads as f64 / elapsed,
        cpu_percent,
        machine_percent,
        p50: quantile(all.clone(), 0.5),
        p99: quantile(all, 0.99),
        healthy_p50: quantile(healthy, 0.5),
    };
    println!(
        "{name:<34} {:>6.1} uploads/s  CPU {:>4.0} % (machine {:>4.0} %)  event→COMPLETED p50 {:>6.2} s  p99 {:>6.2} s  (healthy p50 {:.2} s)",
        figures.rate, figures.cpu_percent, figures.machine_percent, figures.p50, figures.p99, figures.healthy_p50
    );
    running.stop().await?;
    app.store.pool().close().await;
    orakgarak::devstack::drop_database(&db).await?;
    Ok(figures)
}

/// Seconds from PostgreSQL's return to the first completed stage.
async fn postgres_recovery(settings: Settings, uploads: usize) -> anyhow::Result<f64> {
    let pg = tokio::task::spawn_blocking(postgres::OwnPostgres::start).await?;
    let mut settings = settings;
    let db = orakgarak::devstack::isolate(&mut settings).await?;
    settings.database.url = Secret::new(pg.url());
    let app = App::build(settings.clone()).await?;
    app.prepare().await?;
    let running = app.start(&Roles::all()).await?;
    let base = format!("http://{}", running.api_addr.context("api")?);
    let client = ApiClient::new(&settings, &base, "bench-pg")?;
    for _ in 0..uploads {
        client.upload("take.opus", "audio/ogg", take()).await?;
    }
    let pg = tokio::task::spawn_blocking(move || {
        pg.ctl("stop");
        std::thread::sleep(Duration::from_secs(3));
        pg.ctl("start");
        pg
    })
    .await?;
    let back = Instant::now();
    let before = stage_successes(&app);
    while stage_successes(&app) == before {
        anyhow::ensure!(back.elapsed() < Duration::from_secs(120), "no stage completed after the restart");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seconds = back.elapsed().as_secs_f64();
    running.stop().await?;
    app.store.pool().close().await;
    drop(pg);
    orakgarak::devstack::drop_database(&db).await?;
    Ok(seconds)
}

fn stage_successes(app: &App) -> f64 {
    app.metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("orakgarak_stage_duration_seconds_count") && l.contains("outcome=\"success\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn ffmpeg_seconds_per_take(runs: usize) -> anyhow::Result<f64> {
    let input = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/fixtures/phone-take-5s.opus");
    let started = Instant::now();
    for _ in 0..runs {
        let status = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-threads", "1", "-i", input, "-ac", "1", "-ar", "16000", "-f", "wav"])
            .arg("/dev/null")
            .status()
            .context("ffmpeg (installed by scripts/stack.sh)")?;
        anyhow::ensure!(status.success(), "ffmpeg failed");
    }
    Ok(started.elapsed().as_secs_f64() / runs as f64)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let uploads: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(300);
    let clients: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    println!("orakgarak engine benchmark: {uploads} uploads of a 5 s Opus take, {clients} clients, one `all` process");

    let converted = {
        let settings = settings()?;
        let limits = orakgarak::stages::ConvertSettings {
            sample_rate: settings.analysis.sample_rate,
            min_duration: settings.analysis.min_duration,
            max_duration: settings.analysis.max_duration,
        };
        let started = Instant::now();
        for _ in 0..20 {
            orakgarak::stages::convert_recording(take(), Some("opus"), &limits)?;
        }
        started.elapsed().as_secs_f64() / 20.0
    };
    println!(
        "convert (ours, one core)           {:>6.3} s per take;  ffmpeg {:.3} s per take",
        converted,
        ffmpeg_seconds_per_take(20)?
    );

    let mut serial = settings()?;
    serial.pipeline.concurrency = PerStage { convert: 1, analyze: 1, recommend: 1 };
    let one = run("one in flight per consumer", serial, uploads, clients).await?;
    let concurrent = run("default concurrency", settings()?, uploads, clients).await?;
    println!("  concurrency alone: ×{:.1} uploads/s", concurrent.rate / one.rate);

    let mut flaky = settings()?;
    flaky.analysis.model_url = Some(flaky_model(10).await?);
    let failing = run("default, 10 % fail once at analysis", flaky, uploads, clients).await?;
    println!(
        "  healthy uploads' p50 {:.2} s with failures vs {:.2} s without (built-in analysis there, model server here)",
        failing.healthy_p50, concurrent.healthy_p50
    );

    let recovery = postgres_recovery(settings()?, 30).await?;
    println!("PostgreSQL restart (3 s down)      first completed stage {recovery:.2} s after it came back");
    Ok(())
}

//! Throughput and latency figures on the local stack (run
//! `scripts/stack.sh up` first):
//!
//!   cargo bench --bench pipeline -- [clients] [seconds] [uploads]
//!
//! 1. `POST /v1/uploads` under load: p50/p99 latency and requests/s, next
//!    to pgbench's single-row INSERT with the same number of clients on the
//!    same PostgreSQL — the floor of what a durable create costs.
//! 2. Uploads per second through the whole pipeline with a short recording,
//!    next to the broker's raw produce+consume rate measured the same way.

use std::time::{Duration, Instant};

use anyhow::Context;
use orakgarak::app::{App, Roles};
use orakgarak::commands::demo::ApiClient;
use orakgarak::config::Settings;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureRecord;
use rdkafka::Message;

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// 1.5 s of a voice-like tone over three notes.
fn short_recording() -> Vec<u8> {
    let rate = 16_000u32;
    let mut samples = Vec::new();
    for hz in [196.0f64, 220.0, 246.9] {
        for i in 0..(rate / 2) {
            let t = f64::from(i) / f64::from(rate);
            let s: f64 = (1..=6).map(|h| (2.0 * std::f64::consts::PI * hz * f64::from(h) * t).sin() / f64::from(h)).sum();
            samples.push((s * 0.25) as f32);
        }
    }
    orakgarak::audio::write_wav_mono(&samples, rate)
}

async fn api_load(base: &str, settings: &Settings, clients: usize, seconds: u64) -> anyhow::Result<(Vec<Duration>, f64, usize)> {
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

fn pgbench(db: &str, clients: usize, seconds: u64) -> anyhow::Result<(f64, f64)> {
    let script = std::env::temp_dir().join("orakgarak-bench-insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO bench_insert (id, user_id, payload) VALUES (gen_random_uuid(), 'bench', repeat('x', 200));\n",
    )?;
    let out = std::process::Command::new("pgbench")
        .args(["-n", "-h", "127.0.0.1", "-U", "postgres", "-c", &clients.to_string(), "-j", "2", "-T", &seconds.to_string(), "-f"])
        .arg(&script)
        .arg(db)
        .output()
        .context("pgbench (Debian postgresql-contrib/postgresql-client) is needed")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let grab = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split('=').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let tps = grab("tps").context(format!("unexpected pgbench output: {text}"))?;
    let latency = grab("latency average").unwrap_or(f64::NAN);
    Ok((tps, latency))
}

async fn pipeline_rate(app: &App, base: &str, settings: &Settings, uploads: usize) -> anyhow::Result<f64> {
    let bytes = short_recording();
    let client = ApiClient::new(settings, base, "bench-pipeline");
    let mut ids = Vec::new();
    let started = Instant::now();
    for _ in 0..uploads {
        let (_, created) = client.create_upload("short.wav", "audio/wav", bytes.len() as u64, None).await?;
        let id = created["upload_id"].as_str().context("id")?.to_owned();
        anyhow::ensure!(client.put_object(&created, bytes.clone()).await? == 200, "PUT refused");
        client.notify_created(&format!("raw/{id}/short.wav"), bytes.len() as u64).await?;
        ids.push(id);
    }
    loop {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM uploads WHERE user_id = 'bench-pipeline' AND state = 'COMPLETED'")
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

async fn broker_rate(app: &App, messages: usize) -> anyhow::Result<f64> {
    let topic = format!("{}.bench-raw", app.settings.kafka.topic_prefix);
    orakgarak::pipeline::ensure_topics(&app.settings.kafka, &[topic.clone()]).await?;
    let consumer: StreamConsumer = app.kafka.consumer_config(&format!("{topic}.reader")).create()?;
    consumer.subscribe(&[&topic])?;
    let producer = app.kafka.producer()?;
    let payload = vec![b'x'; 160];
    let started = Instant::now();
    let produce = async {
        for i in 0..messages {
            let key = i.to_string();
            producer
                .send(FutureRecord::to(&topic).key(&key).payload(&payload), Duration::from_secs(10))
                .await
                .map_err(|(e, _)| e)?;
        }
        Ok::<_, anyhow::Error>(())
    };
    let consume = async {
        let mut seen = 0;
        while seen < messages {
            let m = consumer.recv().await?;
            if m.payload().is_some() {
                seen += 1;
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    let (p, c) = tokio::join!(produce, consume);
    p?;
    c?;
    Ok(messages as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let clients: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(16);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let uploads: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(60);

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/orakgarak.yaml");
    let mut settings = Settings::load(Some(&path), std::iter::empty())?;
    settings.catalog.path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/songs.yaml");
    settings.database.max_connections = (clients as u32 + 8).max(16);
    let db = orakgarak::devstack::isolate(&mut settings).await?;
    let app = App::build(settings.clone()).await?;
    app.prepare().await?;
    let running = app.start(&Roles::all()).await?;
    let base = format!("http://{}", running.api_addr.context("api")?);
    sqlx::query("CREATE TABLE bench_insert (id uuid PRIMARY KEY, user_id text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), payload text)")
        .execute(app.store.pool())
        .await?;

    println!("orakgarak benchmark: {clients} clients, {seconds} s per load phase, {uploads} pipeline uploads");
    let (latencies, rps, errors) = api_load(&base, &settings, clients, seconds).await?;
    let (tps, pg_latency) = pgbench(&db, clients, seconds)?;
    println!("POST /v1/uploads      {rps:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} ok, {errors} errors)",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.len());
    println!("pgbench INSERT        {tps:>9.0} tx/s    avg {pg_latency:>6.2} ms   (same clients, same PostgreSQL)");
    println!("  ratio: the API creates uploads at {:.0} % of the bare INSERT rate", 100.0 * rps / tps);

    let pipeline = pipeline_rate(&app, &base, &settings, uploads).await?;
    let broker = broker_rate(&app, 2000).await?;
    println!("pipeline (1.5 s WAV)  {pipeline:>9.1} uploads/s end to end (create, PUT, event → COMPLETED)");
    println!("broker produce+consume{broker:>9.0} msg/s    (one record per batch, as the dev stack sends)");

    running.stop().await?;
    app.store.pool().close().await;
    orakgarak::devstack::drop_database(&db).await?;
    Ok(())
}

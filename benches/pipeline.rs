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

mod common;

use std::time::{Duration, Instant};

use common::{api_load, percentile, pipeline_rate};

use anyhow::Context;
use orakgarak::app::{App, Roles};
use orakgarak::config::Settings;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureRecord;
use rdkafka::Message;

fn pgbench(db: &str, clients: usize, seconds: u64) -> anyhow::Result<(f64, f64)> {
    let script = std::env::temp_dir().join("orakgarak-bench-insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO bench_insert (id, user_id, payload) VALUES (gen_random_uuid(), 'bench', repeat('x', 200));\n",
    )?;
    let out = std::process::Command::new("pgbench")
        .args([
            "-n",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-f",
        ])
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

async fn broker_rate(app: &App, messages: usize) -> anyhow::Result<f64> {
    let topic = format!("{}.bench-raw", app.settings.kafka.topic_prefix);
    orakgarak::pipeline::ensure_topics(&app.settings.kafka, std::slice::from_ref(&topic)).await?;
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
    println!(
        "POST /v1/uploads      {rps:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} ok, {errors} errors)",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.len()
    );
    println!("pgbench INSERT        {tps:>9.0} tx/s    avg {pg_latency:>6.2} ms   (same clients, same PostgreSQL)");
    println!("  ratio: the API creates uploads at {:.0} % of the bare INSERT rate", 100.0 * rps / tps);

    let pipeline = pipeline_rate(&app, &base, &settings, uploads).await?;
    let broker = broker_rate(&app, 2000).await?;
    println!("pipeline (5 s phone Opus) {pipeline:>6.1} uploads/s end to end (create, PUT, event → COMPLETED)");
    println!("broker produce+consume{broker:>9.0} msg/s    (one record per batch, as the dev stack sends)");

    running.stop().await?;
    app.store.pool().close().await;
    orakgarak::devstack::drop_database(&db).await?;
    Ok(())
}

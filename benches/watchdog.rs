//! Watchdog scan cost over 1 million upload rows with 0, 100 and 10 000
//! stuck, and the measured size of one consumer-dedup entry.
//!
//!   scripts/stack.sh up && cargo bench --bench watchdog

use std::time::{Duration, Instant};

use orakgarak::app::App;
use orakgarak::config::Settings;

const ROWS: i64 = 1_000_000;

async fn median_scan(app: &App, runs: usize) -> anyhow::Result<(Duration, usize)> {
    let watchdog = app.watchdog();
    let mut times = Vec::new();
    let mut found = 0;
    for _ in 0..runs {
        let started = Instant::now();
        found = watchdog.candidates().await?.len();
        times.push(started.elapsed());
    }
    times.sort();
    Ok((times[times.len() / 2], found))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/orakgarak.yaml");
    let mut settings = Settings::load(Some(&path), std::iter::empty())?;
    settings.watchdog.batch_limit = 20_000;
    // Loading a million rows takes longer than a service statement may.
    settings.database.statement_timeout = Duration::from_secs(600);
    let db = orakgarak::devstack::isolate(&mut settings).await?;
    let app = App::build(settings).await?;
    app.store.migrate().await?;
    let pool = app.store.pool();

    let started = Instant::now();
    sqlx::query(
        "INSERT INTO uploads (id, user_id, filename, content_type, declared_bytes, object_key, state, trace_id, \
         url_expires_at, created_at, updated_at) \
         SELECT gen_random_uuid(), 'user' || (i % 5000), 'take.wav', 'audio/wav', 1000000, 'raw/' || i || '/take.wav', \
                'COMPLETED', md5(i::text), now() - interval '1 day', now() - interval '1 day', now() - interval '1 day' \
         FROM generate_series(1, $1) AS i",
    )
    .bind(ROWS)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE uploads").execute(pool).await?;
    println!("inserted {ROWS} COMPLETED uploads in {:.1} s", started.elapsed().as_secs_f64());

    for stuck in [0i64, 100, 10_000] {
        sqlx::query("UPDATE uploads SET state = 'COMPLETED' WHERE state <> 'COMPLETED'").execute(pool).await?;
        // Spread the stuck ones over the watched states, all past threshold.
        sqlx::query(
            "UPDATE uploads SET state = (ARRAY['UPLOADED','CONVERTING','CONVERTED','ANALYZING','ANALYZED','RECOMMENDING'])[1 + (hashtext(id::text) & 5)], \
             updated_at = now() - interval '2 hours' WHERE id IN (SELECT id FROM uploads LIMIT $1)",
        )
        .bind(stuck)
        .execute(pool)
        .await?;
        sqlx::query("ANALYZE uploads").execute(pool).await?;
        let (median, found) = median_scan(&app, 7).await?;
        println!(
            "scan over {ROWS} rows, {stuck:>6} stuck: {:>8.2} ms (median of 7), {found} found",
            median.as_secs_f64() * 1e3
        );
    }
    let plan: Vec<(String,)> = sqlx::query_as(
        "EXPLAIN SELECT id FROM uploads WHERE state = 'ANALYZING' AND state NOT IN ('COMPLETED','FAILED','REJECTED','EXPIRED') \
         AND updated_at < now() - interval '30 minutes' ORDER BY updated_at LIMIT 1000",
    )
    .fetch_all(pool)
    .await?;
    println!("plan: {}", plan.iter().map(|p| p.0.trim().to_owned()).collect::<Vec<_>>().join(" / "));

    // What one dedup entry costs, measured (table + primary key + age index).
    let entries = 200_000i64;
    sqlx::query(
        "INSERT INTO processed_messages (consumer, message_id) SELECT 'orakgarak.analyze', gen_random_uuid() FROM generate_series(1, $1)",
    )
    .bind(entries)
    .execute(pool)
    .await?;
    sqlx::query("VACUUM ANALYZE processed_messages").execute(pool).await?;
    let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('processed_messages')").fetch_one(pool).await?;
    let per_entry = bytes as f64 / entries as f64;
    println!(
        "dedup store: {per_entry:.0} bytes per entry (table + indexes, {entries} entries); \
         at 100 msg/s over a 7-day retention that is {:.1} GB",
        per_entry * 100.0 * 7.0 * 86_400.0 / 1e9
    );

    app.store.pool().close().await;
    orakgarak::devstack::drop_database(&db).await?;
    Ok(())
}

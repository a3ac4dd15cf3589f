//! Isolation on the local stack for tests and benchmarks: a fresh database,
//! topic prefix, consumer groups and bucket per run, listeners on port 0.

use anyhow::Context;

use crate::config::{Secret, Settings};

pub const STACK_HINT: &str = "the local stack is not running: start it with `scripts/stack.sh up`";
const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Fails with a clear message when a service of the local stack is down.
pub fn require_stack() -> anyhow::Result<()> {
    for (name, port) in [("PostgreSQL", 5432), ("s3s-fs", 9000), ("tansu", 9092)] {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1))
            .with_context(|| format!("{name} is not listening on {addr}: {STACK_HINT}"))?;
    }
    Ok(())
}

/// Rewrites `settings` to use a new database (created here), a random
/// topic/group prefix and bucket, and port-0 listeners. Returns the
/// database name for `drop_database`.
pub async fn isolate(settings: &mut Settings) -> anyhow::Result<String> {
    require_stack()?;
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let db_name = format!("orakgarak_test_{suffix}");
    let admin = sqlx::PgPool::connect(ADMIN_URL).await.context(STACK_HINT)?;
    sqlx::query(&format!("CREATE DATABASE {db_name}")).execute(&admin).await?;
    admin.close().await;
    settings.database.url = Secret::new(format!("postgres://postgres@127.0.0.1:5432/{db_name}"));
    settings.kafka.topic_prefix = format!("t{suffix}");
    settings.kafka.group_prefix = format!("t{suffix}");
    settings.storage.bucket = format!("t{suffix}");
    settings.http.listen = "127.0.0.1:0".into();
    settings.http.metrics_listen = "127.0.0.1:0".into();
    Ok(db_name)
}

pub async fn drop_database(db_name: &str) -> anyhow::Result<()> {
    let admin = sqlx::PgPool::connect(ADMIN_URL).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")).execute(&admin).await?;
    Ok(())
}

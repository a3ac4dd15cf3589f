//! Consumer-side deduplication by message id, kept for the topics'
//! retention. Kafka transactions are deliberately not used.

use std::time::Duration;

use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreError;

pub async fn was_processed(conn: &mut PgConnection, consumer: &str, message_id: Uuid) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM processed_messages WHERE consumer = $1 AND message_id = $2)")
        .bind(consumer)
        .bind(message_id)
        .fetch_one(conn)
        .await?)
}

/// Records `message_id` in the caller's transaction, so it is marked exactly
/// when the stage's output commits.
pub async fn mark_processed(conn: &mut PgConnection, consumer: &str, message_id: Uuid) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO processed_messages (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(consumer)
        .bind(message_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes keys older than `retention`; returns how many.
pub async fn purge_processed(conn: &mut PgConnection, retention: Duration) -> Result<u64, StoreError> {
    let secs = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    let done = sqlx::query("DELETE FROM processed_messages WHERE processed_at < now() - make_interval(secs => $1)")
        .bind(secs as f64)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

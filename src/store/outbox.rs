//! The transactional outbox: messages written with the state change that
//! causes them, produced to Kafka by `pipeline::relay`.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::{FromRow, PgConnection};

use super::{Store, StoreError};

/// A message to produce once the surrounding transaction commits.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: BTreeMap<String, String>,
    /// Produce no earlier than this long after the commit (a scheduled retry).
    pub delay: Duration,
}

#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: sqlx::types::Json<BTreeMap<String, String>>,
}

/// The NOTIFY channel that wakes the outbox relay.
pub const OUTBOX_CHANNEL: &str = "orakgarak_outbox";

/// Writes `message` in the caller's transaction and wakes the relay.
pub async fn enqueue(conn: &mut PgConnection, message: &OutboxMessage) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (topic, key, payload, headers, available_at) \
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
    )
    .bind(&message.topic)
    .bind(&message.key)
    .bind(&message.payload)
    .bind(sqlx::types::Json(&message.headers))
    .bind(message.delay.as_secs_f64())
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify($1, '')").bind(OUTBOX_CHANNEL).execute(conn).await?;
    Ok(())
}

impl Store {
    /// Oldest pending messages that are due, locked so that concurrent relays take
    /// disjoint batches. The caller deletes them in the same transaction
    /// once they are acknowledged by the broker.
    pub async fn claim_outbox(conn: &mut PgConnection, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, topic, key, payload, headers FROM outbox WHERE available_at <= now() \
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(limit)
        .fetch_all(conn)
        .await?)
    }

    pub async fn delete_outbox(conn: &mut PgConnection, ids: &[i64]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM outbox WHERE id = ANY($1)").bind(ids).execute(conn).await?;
        Ok(())
    }

    pub async fn outbox_len(&self) -> Result<i64, StoreError> {
        Ok(self.outbox_status().await?.0)
    }

    /// Pending messages, and how long until the next scheduled one is due.
    pub async fn outbox_status(&self) -> Result<(i64, Option<Duration>), StoreError> {
        let (pending, next_due): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), extract(epoch FROM min(available_at) FILTER (WHERE available_at > now()) - now())::float8 \
             FROM outbox",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((pending, next_due.map(|s| Duration::from_secs_f64(s.max(0.0)))))
    }
}

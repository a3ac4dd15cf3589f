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

/// Writes `message` in the caller's transaction and wakes the relay. A
/// delay counts from this statement (`clock_timestamp()`), not from the
/// transaction's start (`now()`), so a retry never runs sooner than its
/// backoff after the failure recorded just before it.
pub async fn enqueue(conn: &mut PgConnection, message: &OutboxMessage) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (topic, key, payload, headers, available_at) \
         VALUES ($1, $2, $3, $4, clock_timestamp() + make_interval(secs => $5))",
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
        Ok(sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(&self.pool).await?)
    }

    /// How long until the next scheduled (not yet due) message is due; an
    /// index lookup (`outbox_by_availability`), cheap after every batch.
    pub async fn next_outbox_due(&self) -> Result<Option<Duration>, StoreError> {
        let seconds: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM min(available_at) - now())::float8 FROM outbox WHERE available_at > now()",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(seconds.map(|s| Duration::from_secs_f64(s.max(0.0))))
    }
}

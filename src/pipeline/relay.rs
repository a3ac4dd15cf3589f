//! The outbox relay: produces what the API, the stages and the operators
//! wrote to the outbox, then deletes it. A message leaves PostgreSQL only
//! after Kafka acknowledged it, so a crash repeats a message (removed by
//! consumer dedup) but never loses one.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::message::HEADER_TRACEPARENT;
use super::Topics;
use crate::domain::TraceContext;
use crate::store::{Store, OUTBOX_CHANNEL};
use crate::telemetry::events::{MessageProduced, OutboxMeasured};
use crate::telemetry::{traces, Emit, Metrics};

/// Rows claimed per transaction.
const BATCH: i64 = 200;

pub struct Relay {
    pub store: Store,
    pub producer: FutureProducer,
    pub topics: Topics,
    pub metrics: Metrics,
    pub poll: Duration,
    pub delivery_timeout: Duration,
}

/// Relays until `shutdown`. Fails (and is restarted by its supervisor)
/// only when it cannot listen for notifications; a failed batch is retried.
/// Scheduled messages (retries) are produced once due: the relay wakes
/// for the next one even when no notification comes.
pub async fn run_relay(relay: Arc<Relay>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut listener = PgListener::connect_with(relay.store.pool()).await?;
    listener.listen(OUTBOX_CHANNEL).await?;
    tracing::info!("Outbox relay started.");
    loop {
        match relay_batch(&relay).await {
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "Outbox relay batch failed; will retry.");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
        let next_due = relay.store.next_outbox_due().await.ok().flatten();
        let wait = next_due.map_or(relay.poll, |due| due.min(relay.poll));
        tokio::select! {
            _ = shutdown.cancelled() => break,
            notified = listener.recv() => {
                // Lost connection: PgListener reconnects on the next recv;
                // until then the poll below keeps the relay going.
                if let Err(error) = notified {
                    tracing::warn!(error = %error, "Outbox notifications interrupted; polling.");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(relay.poll) => {}
                    }
                }
            }
            _ = tokio::time::sleep(wait) => {
                if let Ok(pending) = relay.store.outbox_len().await {
                    OutboxMeasured { pending }.emit(&relay.metrics);
                }
            }
        }
    }
    tracing::info!("Outbox relay stopped.");
    Ok(())
}

async fn relay_batch(relay: &Relay) -> anyhow::Result<usize> {
    let mut tx = relay.store.pool().begin().await?;
    let rows = Store::claim_outbox(&mut tx, BATCH).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let sends = rows.iter().map(|row| {
        // The send is a producer span, child of the span that wrote the
        // row; the consumer's span becomes its child.
        let parent = row.headers.0.get(HEADER_TRACEPARENT).map(String::as_str).and_then(TraceContext::parse);
        let span = tracing::info_span!(
            "publish",
            otel.name = format!("publish {}", row.topic),
            otel.kind = "producer",
            traceId = tracing::field::Empty,
            spanId = tracing::field::Empty,
        );
        let traceparent = parent.map(|parent| traces::start(&span, Some(&parent), &[]).header());
        span.set_attribute("messaging.system", "kafka");
        span.set_attribute("messaging.destination.name", row.topic.clone());
        let headers = row.headers.0.iter().fold(OwnedHeaders::new(), |h, (key, value)| {
            let value = match &traceparent {
                Some(own) if key == HEADER_TRACEPARENT => own.as_str(),
                _ => value.as_str(),
            };
            h.insert(Header { key, value: Some(value) })
        });
        let record = FutureRecord::to(&row.topic).key(&row.key).payload(&row.payload).headers(headers);
        relay.producer.send(record, Timeout::After(relay.delivery_timeout)).instrument(span)
    });
    let results = join_all(sends).await;
    let mut done = Vec::with_capacity(rows.len());
    for (row, result) in rows.iter().zip(results) {
        match result {
            Ok(_) => {
                done.push(row.id);
                if let Some((stage, lane)) = relay.topics.parse(&row.topic) {
                    MessageProduced { stage, lane }.emit(&relay.metrics);
                }
            }
            Err((error, _)) => {
                tracing::warn!(topic = %row.topic, error = %error, "Kafka refused an outbox message; it stays queued.")
            }
        }
    }
    Store::delete_outbox(&mut tx, &done).await?;
    tx.commit().await?;
    if done.len() < rows.len() {
        anyhow::bail!("{} of {} messages not acknowledged", rows.len() - done.len(), rows.len());
    }
    Ok(rows.len())
}

//! The consumer engine shared by every stage: poll, decode, continue the
//! trace, deduplicate, claim the upload, run the stage with retries and
//! backoff, persist its output and the next message in one transaction,
//! dead-letter what cannot succeed, and only then store the offset.
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{ClientContext, Message, Statistics};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::message::*;
use super::{KafkaClients, Topics};
use crate::config::PipelineSettings;
use crate::domain::{Stage, TraceContext, UploadState};
use crate::store::{self, OutboxMessage, Store, StoreError, TransitionMeta, Upload};
use crate::telemetry::events::{
    error_chain, DuplicateSkipped, MessageConsumed, MessageDeadLettered, StageCompleted, StageFailed,
    UploadStateChanged,
};
use crate::telemetry::{Emit, Lane, Metrics};

/// What a stage produced, stored on the upload in the same transaction as
/// its state change.
#[derive(Debug, Default)]
pub struct StageOutput {
    pub wav_key: Option<String>,
    pub analysis: Option<serde_json::Value>,
    pub result: Option<serde_json::Value>,
}

/// A stage failure, saying whether trying again could help.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct StageError {
    pub retryable: bool,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl StageError {
    /// Same input, same failure: a corrupt file, a silent recording.
    pub fn permanent(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { retryable: false, source: source.into() }
    }
    /// A dependency was slow or down: worth another attempt.
    pub fn transient(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { retryable: true, source: source.into() }
    }
}

/// One stage's work on one upload. No Kafka, no offsets, no state changes.
pub trait StageHandler: Send + Sync + 'static {
    fn stage(&self) -> Stage;
    fn handle(&self, upload: &Upload, lane: Lane) -> impl Future<Output = Result<StageOutput, StageError>> + Send;
}

pub struct Engine<H> {
    pub handler: Arc<H>,
    pub store: Store,
    pub kafka: KafkaClients,
    pub topics: Topics,
    pub metrics: Metrics,
    pub pipeline: PipelineSettings,
}

/// Feeds librdkafka's statistics (consumer lag per partition) to metrics.
struct LagContext {
    metrics: Metrics,
    stage: Stage,
    lane: Lane,
}

impl ClientContext for LagContext {
    fn stats(&self, stats: Statistics) {
        let up = stats.brokers.values().filter(|b| b.nodeid >= 0 && b.state == "UP").count();
        self.metrics.kafka_brokers_up.set(up as i64);
        for topic in stats.topics.values() {
            for (partition, p) in &topic.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.metrics.set_consumer_lag(self.stage, self.lane, *partition, p.consumer_lag);
                }
            }
        }
    }
}
impl ConsumerContext for LagContext {}

/// Consumes `stage`'s topic on `lane` until `shutdown`.
pub async fn run_consumer<H: StageHandler>(
    engine: Arc<Engine<H>>,
    lane: Lane,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let stage = engine.handler.stage();
    let group = format!("{}.{}.{}", engine.kafka.settings().group_prefix, stage, lane.as_str());
    let topic = engine.topics.stage(stage, lane);
    let context = LagContext { metrics: engine.metrics.clone(), stage, lane };
    let consumer: StreamConsumer<LagContext> = engine.kafka.consumer_config(&group).create_with_context(context)?;
    consumer.subscribe(&[&topic])?;
    tracing::info!(stage = stage.as_str(), lane = lane.as_str(), topic = %topic, group = %group, "Consumer started.");
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            received = consumer.recv() => received,
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(error = %error, "Kafka consumer error.");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        // Infrastructure failures (database down) are retried here without
        // storing the offset: the message is never skipped.
        let mut pause = Duration::from_millis(500);
        loop {
            match engine.process(&message, lane, &shutdown).await {
                Ok(()) => {
                    consumer.store_offset_from_message(&message)?;
                    break;
                }
                Err(error) if shutdown.is_cancelled() => {
                    tracing::info!(error = %format!("{error:#}"), "Stopping mid-message; it will be redelivered.");
                    break;
                }
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "Processing failed for an infrastructure reason; retrying the message.");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
    // Commit what was stored before leaving the group.
    if let Err(error) = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync) {
        tracing::debug!(error = %error, "Final offset commit had nothing to do or failed.");
    }
    tracing::info!(stage = stage.as_str(), lane = lane.as_str(), "Consumer stopped.");
    Ok(())
}

fn header<'a>(message: &'a BorrowedMessage<'_>, name: &str) -> Option<&'a str> {
    let headers = message.headers()?;
    headers.iter().find(|h| h.key == name).and_then(|h| h.value).and_then(|v| std::str::from_utf8(v).ok())
}

impl<H: StageHandler> Engine<H> {
    fn consumer_name(&self) -> String {
        format!("{}.{}", self.kafka.settings().group_prefix, self.handler.stage())
    }

    async fn process(&self, raw: &BorrowedMessage<'_>, lane: Lane, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let stage = self.handler.stage();
        MessageConsumed { stage, lane }.emit(&self.metrics);
        let trace = header(raw, HEADER_TRACEPARENT).and_then(TraceContext::parse);
        let parsed = serde_json::from_slice::<StageMessage>(raw.payload().unwrap_or_default())
            .map_err(|e| format!("undecodable message: {e}"))
            .and_then(|m| {
                if m.stage == stage {
                    Ok(m)
                } else {
                    Err(format!("a {} message on the {stage} topic", m.stage))
                }
            });
        let message = match parsed {
            Ok(message) => message,
            Err(error) => {
                let trace = trace.unwrap_or_else(TraceContext::root);
                let span = tracing::warn_span!("consume", role = stage.as_str(), traceId = %trace.trace_id);
                return self.dead_letter_poison(raw, &trace, &error).instrument(span).await;
            }
        };
        let upload = match self.store.upload(message.upload_id).await {
            Ok(upload) => upload,
            Err(StoreError::NotFound(_)) => {
                let trace = trace.unwrap_or_else(TraceContext::root);
                return self.dead_letter_poison(raw, &trace, "message names an unknown upload").await;
            }
            Err(e) => return Err(e.into()),
        };
        let trace = trace.or_else(|| upload.trace_id().map(TraceContext::child_of)).unwrap_or_else(TraceContext::root);
        let span = crate::upload_span!("consume", stage.as_str(), trace, upload.id);
        self.process_upload(raw, &message, upload, &trace, lane, shutdown).instrument(span).await
    }

    async fn process_upload(
        &self,
        raw: &BorrowedMessage<'_>,
        message: &StageMessage,
        upload: Upload,
        trace: &TraceContext,
        lane: Lane,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let stage = self.handler.stage();
        let consumer = self.consumer_name();
        {
            let mut conn = self.store.pool().acquire().await?;
            if store::was_processed(&mut conn, &consumer, message.message_id).await? {
                DuplicateSkipped { stage, lane, why: "message id already processed" }.emit(&self.metrics);
                return Ok(());
            }
        }
        let meta = |attempt: i32, error: Option<String>| TransitionMeta {
            attempt,
            error,
            trace_id: trace.trace_id.to_string(),
        };
        let working = stage.working_state();
        let mut attempt = match upload.state {
            s if s == stage.input_state() => match self.transition(&upload, s, working, meta(1, None)).await {
                Ok(()) => 1,
                Err(StoreError::Conflict { .. }) => {
                    DuplicateSkipped { stage, lane, why: "another consumer claimed the upload" }.emit(&self.metrics);
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            },
            s if s == working => {
                tracing::warn!(attempt = upload.attempt, "Resuming a stage interrupted before its output was stored.");
                upload.attempt.max(1)
            }
            UploadState::Retrying => {
                let next = upload.attempt + 1;
                self.transition(&upload, UploadState::Retrying, working, meta(next, None)).await?;
                next
            }
            _ => {
                DuplicateSkipped { stage, lane, why: "upload already past this stage" }.emit(&self.metrics);
                return Ok(());
            }
        };

        loop {
            let started = Instant::now();
            let outcome = self.handler.handle(&upload, lane).await;
            let elapsed = started.elapsed();
            let error = match outcome {
                Ok(output) => {
                    self.commit_success(&upload, message, trace, attempt, output).await?;
                    StageCompleted { stage, elapsed }.emit(&self.metrics);
                    return Ok(());
                }
                Err(error) => error,
            };
            StageFailed { stage, lane, elapsed, retryable: error.retryable, attempt, error: &error }
                .emit(&self.metrics);
            let text = error_chain(&error);
            let retries_done = usize::try_from(attempt - 1).unwrap_or(usize::MAX);
            let age = (Utc::now() - message.enqueued_at).to_std().unwrap_or_default();
            let within_window = age < self.pipeline.retry_window;
            match self.pipeline.retry_backoff.get(retries_done) {
                Some(delay) if error.retryable && within_window => {
                    self.transition(&upload, working, UploadState::Retrying, meta(attempt, Some(text))).await?;
                    tracing::info!(attempt, delay_ms = delay.as_millis() as u64, "Retrying after backoff.");
                    tokio::select! {
                        _ = shutdown.cancelled() => anyhow::bail!("shutdown during backoff"),
                        _ = tokio::time::sleep(*delay) => {}
                    }
                    attempt += 1;
                    self.transition(&upload, UploadState::Retrying, working, meta(attempt, None)).await?;
                }
                _ => {
                    let reason = if !error.retryable {
                        "not_retryable"
                    } else if !within_window {
                        "expired_window"
                    } else {
                        "exhausted"
                    };
                    return self.dead_letter(raw, message, &upload, trace, attempt, &text, reason).await;
                }
            }
        }
    }

    async fn transition(
        &self,
        upload: &Upload,
        from: UploadState,
        to: UploadState,
        meta: TransitionMeta,
    ) -> Result<(), StoreError> {
        self.store.transition_now(upload.id, from, to, &meta).await?;
        UploadStateChanged { upload_id: &upload.id.to_string(), from, to, attempt: meta.attempt }.emit(&self.metrics);
        Ok(())
    }

    async fn commit_success(
        &self,
        upload: &Upload,
        message: &StageMessage,
        trace: &TraceContext,
        attempt: i32,
        output: StageOutput,
    ) -> anyhow::Result<()> {
        let stage = self.handler.stage();
        let mut tx = self.store.pool().begin().await?;
        let current = Store::lock_upload(&mut tx, upload.id).await?;
        if current.state != stage.working_state() {
            tx.rollback().await?;
            DuplicateSkipped { stage, lane: message.lane(), why: "another consumer finished first" }
                .emit(&self.metrics);
            return Ok(());
        }
        Store::save_output(
            &mut tx,
            upload.id,
            output.wav_key.as_deref(),
            output.analysis.as_ref(),
            output.result.as_ref(),
        )
        .await?;
        let meta = TransitionMeta { attempt, error: None, trace_id: trace.trace_id.to_string() };
        Store::transition(&mut tx, upload.id, stage.working_state(), stage.done_state(), &meta).await?;
        if let Some(next) = stage.next() {
            // Re-driven and replayed uploads stay on the bulk lane (M3).
            let trigger = if message.lane() == Lane::Bulk { message.trigger } else { Trigger::Stage };
            let next_message = StageMessage::new(upload.id, next, trigger);
            store::enqueue(&mut tx, &next_message.to_outbox(&self.topics, trace)).await?;
        }
        store::mark_processed(&mut tx, &self.consumer_name(), message.message_id).await?;
        tx.commit().await?;
        UploadStateChanged {
            upload_id: &upload.id.to_string(),
            from: stage.working_state(),
            to: stage.done_state(),
            attempt,
        }
        .emit(&self.metrics);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn dead_letter(
        &self,
        raw: &BorrowedMessage<'_>,
        message: &StageMessage,
        upload: &Upload,
        trace: &TraceContext,
        attempt: i32,
        error: &str,
        reason: &'static str,
    ) -> anyhow::Result<()> {
        let stage = self.handler.stage();
        let mut tx = self.store.pool().begin().await?;
        let meta = TransitionMeta { attempt, error: Some(error.to_owned()), trace_id: trace.trace_id.to_string() };
        Store::transition(&mut tx, upload.id, stage.working_state(), UploadState::Failed, &meta).await?;
        store::enqueue(&mut tx, &self.dlq_message(raw, trace, attempt, error, reason)).await?;
        store::mark_processed(&mut tx, &self.consumer_name(), message.message_id).await?;
        tx.commit().await?;
        UploadStateChanged {
            upload_id: &upload.id.to_string(),
            from: stage.working_state(),
            to: UploadState::Failed,
            attempt,
        }
        .emit(&self.metrics);
        MessageDeadLettered { stage, reason, error }.emit(&self.metrics);
        Ok(())
    }

    /// A message that cannot be tied to an upload goes to the DLQ as is.
    async fn dead_letter_poison(
        &self,
        raw: &BorrowedMessage<'_>,
        trace: &TraceContext,
        error: &str,
    ) -> anyhow::Result<()> {
        let mut tx = self.store.pool().begin().await?;
        store::enqueue(&mut tx, &self.dlq_message(raw, trace, 0, error, "poison")).await?;
        tx.commit().await?;
        MessageDeadLettered { stage: self.handler.stage(), reason: "poison", error }.emit(&self.metrics);
        Ok(())
    }

    fn dlq_message(
        &self,
        raw: &BorrowedMessage<'_>,
        trace: &TraceContext,
        attempt: i32,
        error: &str,
        reason: &str,
    ) -> OutboxMessage {
        dead_letter(
            &self.topics,
            self.handler.stage(),
            raw.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default(),
            raw.payload().unwrap_or_default().to_vec(),
            trace,
            Some(Origin { topic: raw.topic(), partition: raw.partition(), offset: raw.offset() }),
            error,
            attempt,
            reason,
        )
    }
}

//! What the engine does with one message: decode it, continue its trace,
//! drop duplicates, claim the upload (with a lease on the run, so a copy
//! of the message delivered elsewhere meanwhile waits for this run instead
//! of starting another), run the stage under its time limit (a panic is a
//! permanent failure), then persist the outcome in one transaction — the
//! output and the next stage's message, or a scheduled retry, or the dead
//! letter — together with the message's dedup key. Polling, concurrency
//! and offsets are `consumer.rs`'s.
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::FutureExt;
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::Message;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::message::*;
use super::stage::{StageContext, StageError, StageHandler, StageInput, StageOutput};
use super::transition::{advance, fail_to_dlq, Changed, DeadLetterUpload, DeadLettered};
use super::Topics;
use crate::config::PipelineSettings;
use crate::domain::{DeadLetterReason, Stage, TraceContext, UploadId, UploadState};
use crate::store::{self, Lease, Store, StoreError, TransitionMeta, Upload};
use crate::telemetry::events::{
    error_chain, DuplicateSkipped, MessageConsumed, MessageDeadLettered, StageCompleted, StageFailed, StageRunAwaited,
    StageTimedOut, UploadFinished,
};
use crate::telemetry::labels::UploadOutcome;
use crate::telemetry::{traces, Emit, Lane, Metrics};

pub struct Engine<H> {
    pub handler: Arc<H>,
    pub store: Store,
    pub topics: Topics,
    pub metrics: Metrics,
    pub pipeline: PipelineSettings,
    /// The most one run of this stage may take.
    pub time_limit: Duration,
    /// The dedup namespace: `<group prefix>.<stage>`.
    pub consumer_name: String,
}

/// The consumer stopped (shutdown) before the message was done; it will be
/// delivered again.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by shutdown")]
pub struct Interrupted;

/// What the first, repeatable phase decided.
enum Claim {
    /// Nothing to do (duplicate, stale, poison already dead-lettered).
    Done,
    /// The upload's stage is running elsewhere under a lease that lapses
    /// then, unless renewed: ask again.
    Held { until: chrono::DateTime<Utc> },
    Run {
        message: StageMessage,
        upload: Box<Upload>,
        attempt: i32,
        /// This run's lease owner token.
        lease: String,
    },
}

/// A dependency the stage needs was unreachable (the error text).
struct Unavailable(String);

/// What a persisted outcome announces once committed.
enum Announce {
    Changed(Changed),
    DeadLettered(DeadLettered),
}

/// How a stage run ended, to be persisted.
enum Outcome<T> {
    Success(T),
    Retry { delay: Duration, error: String },
    DeadLetter { reason: DeadLetterReason, error: String },
}

/// The first infrastructure retry waits this long, doubling up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// A database that is down is asked again every 5 s at most, so work
/// resumes within seconds of it coming back.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// A run's lease lasts this long from its last renewal: a run whose
/// process died is resumed elsewhere at most this long after.
const LEASE_TTL: Duration = Duration::from_secs(15);
/// A running stage renews its lease this often (a third of its life, so
/// one failed renewal does not lose it).
const LEASE_RENEWAL: Duration = Duration::from_secs(5);
/// A message waiting for another run's lease asks again at least this
/// often, to move on soon after that run ends.
const LEASE_POLL: Duration = Duration::from_secs(1);

/// Sleeps `pause` (unless the consumer stops first), then doubles it up
/// to `MAX_PAUSE`.
async fn back_off(pause: &mut Duration, shutdown: &CancellationToken) -> Result<(), Interrupted> {
    tokio::select! {
        _ = shutdown.cancelled() => return Err(Interrupted),
        _ = tokio::time::sleep(*pause) => {}
    }
    *pause = (*pause * 2).min(MAX_PAUSE);
    Ok(())
}

fn header<'a>(message: &'a OwnedMessage, name: &str) -> Option<&'a str> {
    let headers = message.headers()?;
    headers.iter().find(|h| h.key == name).and_then(|h| h.value).and_then(|v| std::str::from_utf8(v).ok())
}

impl<H: StageHandler> Engine<H> {
    /// Handles one message to completion. Infrastructure failures (the
    /// database is down) are retried here, phase by phase, so a stage that
    /// ran is not run again because its result could not be stored yet.
    /// Only a shutdown interrupts it, and then the message is redelivered.
    pub async fn process(
        &self,
        raw: &OwnedMessage,
        lane: Lane,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        MessageConsumed { stage: H::STAGE, lane }.emit(&self.metrics);
        // One consumer span per message, child of the producer's span.
        let parent = header(raw, HEADER_TRACEPARENT).and_then(TraceContext::parse);
        let span = tracing::info_span!(
            "stage",
            otel.name = H::STAGE.as_str(),
            otel.kind = "consumer",
            otel.status_code = tracing::field::Empty,
            role = H::STAGE.as_str(),
            uploadId = tracing::field::Empty,
            traceId = tracing::field::Empty,
            spanId = tracing::field::Empty,
        );
        let trace = traces::start(&span, parent.as_ref(), &[]);
        span.set_attribute("messaging.system", "kafka");
        span.set_attribute("messaging.destination.name", raw.topic().to_owned());
        span.set_attribute("messaging.kafka.offset", raw.offset());
        span.set_attribute("orakgarak.lane", lane.as_str());
        async {
            let Claim::Run { message, upload, attempt, lease } =
                self.claim_when_free(raw, lane, &trace, shutdown).await?
            else {
                return Ok(());
            };
            tracing::Span::current().set_attribute("orakgarak.attempt", i64::from(attempt));
            let done = self
                .leased(upload.id, &lease, async {
                    let outcome = self.run(&message, &upload, lane, attempt, shutdown).await?;
                    if !matches!(outcome, Outcome::Success(_)) {
                        tracing::Span::current().record("otel.status_code", "ERROR");
                    }
                    self.persistently(shutdown, "storing the stage outcome", || {
                        self.persist(raw, &message, &upload, &trace, attempt, &outcome)
                    })
                    .await
                })
                .await;
            if done.is_err() {
                // Interrupted: whoever gets the message next need not wait
                // for the lease to lapse.
                if let Err(error) = store::release_lease(self.store.pool(), upload.id, &lease).await {
                    tracing::debug!(error = %error, "Could not give the lease back; it lapses by itself.");
                }
            }
            done
        }
        .instrument(span)
        .await
    }

    /// Claims the upload, waiting while another run of its stage holds the
    /// lease on it (a rebalance handed this message over while that run
    /// goes on, or the watchdog re-drove a slow run): once that run ends,
    /// its upload is past the stage and the message is a duplicate; if its
    /// process died, the lease lapses and the stage is resumed here.
    async fn claim_when_free(
        &self,
        raw: &OwnedMessage,
        lane: Lane,
        trace: &TraceContext,
        shutdown: &CancellationToken,
    ) -> Result<Claim, Interrupted> {
        let mut waited = false;
        loop {
            let claim = self.persistently(shutdown, "claiming the upload", || self.claim(raw, lane, trace)).await?;
            let Claim::Held { until } = claim else { return Ok(claim) };
            if !waited {
                StageRunAwaited { stage: H::STAGE, lane, until }.emit(&self.metrics);
                waited = true;
            }
            let left = (until - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                _ = shutdown.cancelled() => return Err(Interrupted),
                _ = tokio::time::sleep(left.clamp(Duration::from_millis(50), LEASE_POLL)) => {}
            }
        }
    }

    /// Runs `work` while renewing the run's lease on `id`.
    async fn leased<T>(&self, id: UploadId, lease: &str, work: impl std::future::Future<Output = T>) -> T {
        let renew = async {
            loop {
                tokio::time::sleep(LEASE_RENEWAL).await;
                match store::renew_lease(self.store.pool(), id, lease, LEASE_TTL).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        stage = H::STAGE.as_str(),
                        "This run's lease on the upload was taken over; another consumer may be running the stage too."
                    ),
                    Err(error) => tracing::warn!(
                        stage = H::STAGE.as_str(),
                        error = %error,
                        "Could not renew this run's lease on the upload; another consumer may resume the stage once it lapses."
                    ),
                }
            }
        };
        tokio::select! {
            done = work => done,
            () = renew => unreachable!("the lease renewal never ends"),
        }
    }

    /// Repeats `phase` until it succeeds or the consumer stops.
    async fn persistently<T, F, Fut>(
        &self,
        shutdown: &CancellationToken,
        what: &str,
        mut phase: F,
    ) -> Result<T, Interrupted>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<T>>,
    {
        let mut pause = FIRST_PAUSE;
        loop {
            match phase().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    if shutdown.is_cancelled() {
                        return Err(Interrupted);
                    }
                    tracing::error!(
                        stage = H::STAGE.as_str(),
                        error = %format!("{error:#}"),
                        retry_in_ms = pause.as_millis() as u64,
                        "Infrastructure failure while {what}; retrying this message only."
                    );
                    back_off(&mut pause, shutdown).await?;
                }
            }
        }
    }

    /// Decodes the message and claims its upload for this stage.
    /// `trace` is the message's span.
    async fn claim(&self, raw: &OwnedMessage, lane: Lane, trace: &TraceContext) -> anyhow::Result<Claim> {
        let stage = H::STAGE;
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
                self.dead_letter_poison(raw, trace, &error).await?;
                return Ok(Claim::Done);
            }
        };
        let upload = match self.store.upload(message.upload_id).await {
            Ok(upload) => upload,
            Err(StoreError::NotFound(_)) => {
                self.dead_letter_poison(raw, trace, "message names an unknown upload").await?;
                return Ok(Claim::Done);
            }
            Err(e) => return Err(e.into()),
        };
        tracing::Span::current().record("uploadId", tracing::field::display(upload.id));
        let skip = |why| {
            DuplicateSkipped { stage, lane, why }.emit(&self.metrics);
            Ok(Claim::Done)
        };
        let mut conn = self.store.pool().acquire().await?;
        if store::was_processed(&mut conn, &self.consumer_name, message.message_id).await? {
            return skip("message id already processed");
        }
        drop(conn);
        let working = stage.working_state();
        let from = upload.state;
        let lease = uuid::Uuid::new_v4().to_string();
        let attempt = match from {
            s if s == stage.input_state() => 1,
            s if s == working => {
                return match store::take_lease(self.store.pool(), upload.id, &lease, LEASE_TTL).await? {
                    Lease::HeldUntil(until) => Ok(Claim::Held { until }),
                    Lease::Taken => {
                        tracing::warn!(
                            attempt = upload.attempt,
                            "Resuming a stage interrupted before its output was stored."
                        );
                        Ok(Claim::Run { attempt: upload.attempt.max(1), message, upload: Box::new(upload), lease })
                    }
                };
            }
            UploadState::Retrying if upload.retry_stage == Some(stage) => upload.attempt + 1,
            UploadState::Retrying => return skip("upload is retrying another stage"),
            _ => return skip("upload already past this stage"),
        };
        let meta = TransitionMeta { attempt, error: None, trace_id: trace.trace_id.to_string() };
        let mut tx = self.store.pool().begin().await?;
        match advance(&mut tx, upload.id, from, working, &meta, None).await {
            Ok(changed) => {
                store::set_lease(&mut tx, upload.id, &lease, LEASE_TTL).await?;
                tx.commit().await?;
                changed.emit(&self.metrics);
                Ok(Claim::Run { message, upload: Box::new(upload), attempt, lease })
            }
            Err(StoreError::Conflict { .. }) => skip("another consumer claimed the upload"),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs the stage under its time limit, with panics contained. While a
    /// dependency is unavailable the same attempt is tried again (backoff
    /// up to 5 s, within the retry window); every other outcome is final.
    async fn run(
        &self,
        message: &StageMessage,
        upload: &Upload,
        lane: Lane,
        attempt: i32,
        shutdown: &CancellationToken,
    ) -> Result<Outcome<H::Output>, Interrupted> {
        let mut pause = FIRST_PAUSE;
        loop {
            match self.run_once(message, upload, lane, attempt).await {
                Err(Unavailable(error)) => {
                    tracing::warn!(
                        stage = H::STAGE.as_str(),
                        error = %error,
                        retry_in_ms = pause.as_millis() as u64,
                        "A dependency is unavailable; trying this upload again when it is back."
                    );
                    back_off(&mut pause, shutdown).await?;
                }
                Ok(outcome) => return Ok(outcome),
            }
        }
    }

    /// One run; `Err` when a dependency was unavailable (try it again).
    async fn run_once(
        &self,
        message: &StageMessage,
        upload: &Upload,
        lane: Lane,
        attempt: i32,
    ) -> Result<Outcome<H::Output>, Unavailable> {
        let stage = H::STAGE;
        let started = Instant::now();
        let result = match H::Input::from_upload(upload) {
            Err(error) => Err(error),
            Ok(input) => {
                let context = StageContext { upload, lane };
                let run = AssertUnwindSafe(self.handler.handle(input, &context)).catch_unwind();
                match tokio::time::timeout(self.time_limit, run).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(panic)) => Err(StageError::permanent(format!(
                        "the {stage} stage panicked: {}",
                        crate::supervisor::panic_message(panic)
                    ))),
                    Err(_) => {
                        StageTimedOut { stage, limit: self.time_limit }.emit(&self.metrics);
                        Err(StageError::transient(format!(
                            "the {stage} stage did not finish within its time limit of {:?}",
                            self.time_limit
                        )))
                    }
                }
            }
        };
        let elapsed = started.elapsed();
        let error = match result {
            Ok(output) => {
                StageCompleted { stage, elapsed }.emit(&self.metrics);
                return Ok(Outcome::Success(output));
            }
            Err(error) => error,
        };
        StageFailed { stage, lane, elapsed, retryable: error.retryable, attempt, error: &error }.emit(&self.metrics);
        let text = error_chain(&error);
        let retries_done = usize::try_from(attempt - 1).unwrap_or(usize::MAX);
        let age = (Utc::now() - message.enqueued_at).to_std().unwrap_or_default();
        let within_window = age < self.pipeline.retry_window;
        if error.unavailable && within_window {
            return Err(Unavailable(text));
        }
        Ok(match self.pipeline.retry_backoff.get(retries_done) {
            Some(delay) if error.retryable && within_window => Outcome::Retry { delay: *delay, error: text },
            _ => {
                let reason = if !error.retryable {
                    DeadLetterReason::NotRetryable
                } else if !within_window {
                    DeadLetterReason::ExpiredWindow
                } else {
                    DeadLetterReason::Exhausted
                };
                Outcome::DeadLetter { reason, error: text }
            }
        })
    }

    /// Writes the outcome with the message's dedup key in one transaction.
    async fn persist(
        &self,
        raw: &OwnedMessage,
        message: &StageMessage,
        upload: &Upload,
        trace: &TraceContext,
        attempt: i32,
        outcome: &Outcome<H::Output>,
    ) -> anyhow::Result<()> {
        let stage = H::STAGE;
        let working = stage.working_state();
        let mut tx = self.store.pool().begin().await?;
        let current = Store::lock_upload(&mut tx, upload.id).await?;
        if current.state != working {
            tx.rollback().await?;
            DuplicateSkipped { stage, lane: message.lane(), why: "another consumer finished first" }
                .emit(&self.metrics);
            return Ok(());
        }
        let meta = |error: Option<&str>| TransitionMeta {
            attempt,
            error: error.map(str::to_owned),
            trace_id: trace.trace_id.to_string(),
        };
        let announce = match outcome {
            Outcome::Success(output) => {
                output.save(&mut tx, upload.id).await?;
                // Re-driven and replayed uploads stay on the bulk lane.
                let next = stage.next().map(|next| {
                    let trigger = if message.lane() == Lane::Bulk { message.trigger } else { Trigger::Stage };
                    StageMessage::new(upload.id, next, trigger).to_outbox(&self.topics, trace)
                });
                let changed =
                    advance(&mut tx, upload.id, working, stage.done_state(), &meta(None), next.as_ref()).await?;
                Announce::Changed(changed)
            }
            Outcome::Retry { delay, error } => {
                let mut retry = message.retry().to_outbox(&self.topics, trace);
                retry.delay = *delay;
                let changed =
                    advance(&mut tx, upload.id, working, UploadState::Retrying, &meta(Some(error)), Some(&retry))
                        .await?;
                tracing::info!(attempt, delay_ms = delay.as_millis() as u64, "Retry scheduled after backoff.");
                Announce::Changed(changed)
            }
            Outcome::DeadLetter { reason, error } => {
                let letter = DeadLetterUpload {
                    id: upload.id,
                    from: working,
                    letter: DeadLetter {
                        stage,
                        key: upload.id.to_string(),
                        payload: raw.payload().unwrap_or_default().to_vec(),
                        origin: Some(Origin { topic: raw.topic(), partition: raw.partition(), offset: raw.offset() }),
                        trace,
                        attempt,
                        error,
                        reason: *reason,
                    },
                };
                Announce::DeadLettered(fail_to_dlq(&mut tx, &self.topics, letter).await?)
            }
        };
        store::mark_processed(&mut tx, &self.consumer_name, message.message_id).await?;
        let finished = match &announce {
            Announce::Changed(changed) if changed.to == UploadState::Completed => Some(UploadOutcome::Completed),
            Announce::DeadLettered(_) => Some(UploadOutcome::Failed),
            Announce::Changed(_) => None,
        };
        let arrived = match finished {
            Some(_) => Store::arrived_at(&mut tx, upload.id).await?,
            None => None,
        };
        tx.commit().await?;
        if let (Some(outcome), Some(arrived)) = (finished, arrived) {
            let took = (Utc::now() - arrived).to_std().unwrap_or_default();
            UploadFinished { lane: message.lane(), outcome, took }.emit(&self.metrics);
        }
        match announce {
            Announce::Changed(changed) => changed.emit(&self.metrics),
            Announce::DeadLettered(dead) => dead.emit(&self.metrics),
        }
        Ok(())
    }

    /// A message that cannot be tied to an upload goes to the DLQ as is.
    async fn dead_letter_poison(&self, raw: &OwnedMessage, trace: &TraceContext, error: &str) -> anyhow::Result<()> {
        let letter = DeadLetter {
            stage: H::STAGE,
            key: raw.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default(),
            payload: raw.payload().unwrap_or_default().to_vec(),
            trace,
            origin: Some(Origin { topic: raw.topic(), partition: raw.partition(), offset: raw.offset() }),
            error,
            attempt: 0,
            reason: DeadLetterReason::Poison,
        }
        .to_outbox(&self.topics);
        let mut tx = self.store.pool().begin().await?;
        store::enqueue(&mut tx, &letter).await?;
        tx.commit().await?;
        MessageDeadLettered { stage: H::STAGE, reason: DeadLetterReason::Poison, error }.emit(&self.metrics);
        Ok(())
    }
}

/// The dedup namespace of a stage's consumers.
pub fn consumer_name(group_prefix: &str, stage: Stage) -> String {
    format!("{group_prefix}.{stage}")
}

//! The stage consumer: polls one stage/lane topic and keeps up to
//! `concurrency` messages in flight, one at a time per upload id (the
//! message key) so each upload's messages stay in order while independent
//! uploads run side by side. An offset is stored only when every message
//! before it in its partition is done (`offsets.rs`), and stored offsets
//! are committed in batches by librdkafka every `commit_interval`.
//! Revoked partitions are forgotten, never fatal: a rebalance does not end
//! a consumer. The consumer runs under `supervisor::supervise`.
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientContext, Message, Statistics};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use super::offsets::{Epoch, OffsetTracker};
use super::stage::StageHandler;
use super::KafkaClients;
use crate::domain::Stage;
use crate::telemetry::events::{
    ConsumerProgress, ConsumerStarted, ConsumerStopped, KafkaStatistics, MessageFinished, PartitionsRevoked,
};
use crate::telemetry::{Emit, Lane, Metrics};

/// librdkafka callbacks: lag statistics for metrics, and revoked
/// partitions for the offset tracker. Both run inside `recv()`, on the
/// consumer's own task, before any message of a new assignment.
struct Context {
    metrics: Metrics,
    stage: Stage,
    lane: Lane,
    revoked: Mutex<Vec<i32>>,
}

impl ClientContext for Context {
    fn stats(&self, stats: Statistics) {
        let brokers_up = stats.brokers.values().filter(|b| b.nodeid >= 0 && b.state == "UP").count();
        let lag: Vec<(i32, i64)> = stats
            .topics
            .values()
            .flat_map(|topic| &topic.partitions)
            .filter(|(partition, p)| **partition >= 0 && p.consumer_lag >= 0)
            .map(|(partition, p)| (*partition, p.consumer_lag))
            .collect();
        KafkaStatistics { stage: self.stage, lane: self.lane, brokers_up, lag: &lag }.emit(&self.metrics);
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
            revoked.extend(partitions.elements().iter().map(|e| e.partition()));
            // Lag of partitions we no longer own is someone else's to report.
            let partitions: Vec<i32> = partitions.elements().iter().map(|e| e.partition()).collect();
            PartitionsRevoked { stage: self.stage, lane: self.lane, partitions: &partitions }.emit(&self.metrics);
        }
    }
}

/// Removes this consumer's lag series however the consumer ends (error,
/// panic, shutdown): a consumer that is not running reports no lag.
struct LagCleanup {
    metrics: Metrics,
    stage: Stage,
    lane: Lane,
    partitions: i32,
}

impl Drop for LagCleanup {
    fn drop(&mut self) {
        ConsumerStopped { stage: self.stage, lane: self.lane, partitions: self.partitions }.emit(&self.metrics);
    }
}

/// A message waiting for, or in, processing, with its ordering key.
struct Pending {
    key: Vec<u8>,
    message: OwnedMessage,
    epoch: Epoch,
}

/// A finished message: its key, partition, offset and assignment.
struct Finished {
    key: Vec<u8>,
    partition: i32,
    offset: i64,
    epoch: Epoch,
    interrupted: bool,
}

/// Consumes `H::STAGE`'s topic on `lane` until `shutdown`, with up to
/// `concurrency` messages in flight. Returns an error only when the
/// consumer itself cannot go on (the supervisor then restarts it).
pub async fn run_consumer<H: StageHandler>(
    engine: Arc<Engine<H>>,
    kafka: KafkaClients,
    lane: Lane,
    concurrency: usize,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let stage = H::STAGE;
    let settings = kafka.settings();
    let group = format!("{}.{}.{}", settings.group_prefix, stage, lane.as_str());
    let topic = engine.topics.stage(stage, lane);
    let metrics = engine.metrics.clone();
    let _cleanup = LagCleanup { metrics: metrics.clone(), stage, lane, partitions: settings.partitions };
    let context = Context { metrics: metrics.clone(), stage, lane, revoked: Mutex::new(Vec::new()) };
    let consumer: StreamConsumer<Context> = kafka.consumer_config(&group).create_with_context(context)?;
    consumer.subscribe(&[&topic])?;
    ConsumerStarted { stage, lane }.emit(&metrics);
    tracing::info!(stage = stage.as_str(), lane = lane.as_str(), topic = %topic, group = %group, concurrency, "Consumer started.");

    let concurrency = concurrency.max(1);
    // Received but not started (their upload already has one running) are
    // buffered too; polling pauses when the buffer is full.
    let max_buffered = concurrency * 4;
    let mut tracker = OffsetTracker::default();
    let mut waiting: HashMap<Vec<u8>, VecDeque<Pending>> = HashMap::new();
    let mut ready: VecDeque<Pending> = VecDeque::new();
    let mut running: JoinSet<Finished> = JoinSet::new();
    let stop_work = shutdown.child_token();

    loop {
        // Start what can start: one message per key, up to `concurrency`.
        while running.len() < concurrency {
            let Some(next) = ready.pop_front() else { break };
            spawn(&mut running, engine.clone(), next, lane, stop_work.clone());
        }
        let in_flight = tracker.in_flight();
        ConsumerProgress { stage, lane, in_flight }.emit(&metrics);
        let can_poll = in_flight < max_buffered;
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(joined) = running.join_next(), if !running.is_empty() => {
                // A panic outside the stage (the stage's own are contained)
                // leaves a message unfinished: end, be restarted, redeliver.
                let done = joined.map_err(|e| anyhow::anyhow!("message task failed: {e}"))?;
                if finish(&mut tracker, &consumer, &topic, &done) {
                    MessageFinished { stage, lane }.emit(&metrics);
                }
                if let Some(queue) = waiting.get_mut(&done.key) {
                    match queue.pop_front() {
                        Some(next) => ready.push_back(next),
                        None => { waiting.remove(&done.key); }
                    }
                }
            }
            received = consumer.recv(), if can_poll => {
                for partition in std::mem::take(&mut *consumer.context().revoked.lock().unwrap_or_else(|p| p.into_inner())) {
                    tracing::info!(partition, "Partition revoked; its unfinished messages will be redelivered to its new owner.");
                    tracker.revoke(partition);
                }
                let message = match received {
                    Ok(message) => message.detach(),
                    Err(error) => {
                        tracing::warn!(error = %error, "Kafka consumer error.");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let epoch = tracker.begin(message.partition(), message.offset());
                let pending = Pending { key: message_key(&message), message, epoch };
                match waiting.get_mut(&pending.key) {
                    // An earlier message of this upload is in flight: keep order.
                    Some(queue) => queue.push_back(pending),
                    None => {
                        waiting.insert(pending.key.clone(), VecDeque::new());
                        ready.push_back(pending);
                    }
                }
            }
        }
    }

    // Let in-flight messages finish their current step; what is not done is
    // redelivered after the restart.
    stop_work.cancel();
    while let Some(joined) = running.join_next().await {
        if let Ok(done) = joined {
            finish(&mut tracker, &consumer, &topic, &done);
        }
    }
    if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %error, "Final offset commit had nothing to do or failed.");
    }
    tracing::info!(stage = stage.as_str(), lane = lane.as_str(), "Consumer stopped.");
    Ok(())
}

/// Records a finished message and stores the partition's new commit
/// position when it advanced. `false` when the message was interrupted
/// (it will be redelivered).
fn finish<C: ConsumerContext>(
    tracker: &mut OffsetTracker,
    consumer: &StreamConsumer<C>,
    topic: &str,
    done: &Finished,
) -> bool {
    if done.interrupted {
        return false;
    }
    if let Some(position) = tracker.complete(done.partition, done.offset, done.epoch) {
        // librdkafka stores `offset + 1`: the last done offset goes in.
        if let Err(error) = consumer.store_offset(topic, done.partition, position - 1) {
            tracing::debug!(partition = done.partition, error = %error, "Offset not stored (partition no longer assigned).");
        }
    }
    true
}

/// The ordering key: the upload id the message is keyed by; a message
/// without a key is independent of every other.
fn message_key(message: &OwnedMessage) -> Vec<u8> {
    match message.key() {
        Some(key) if !key.is_empty() => key.to_vec(),
        _ => format!("\0{}:{}", message.partition(), message.offset()).into_bytes(),
    }
}

fn spawn<H: StageHandler>(
    running: &mut JoinSet<Finished>,
    engine: Arc<Engine<H>>,
    pending: Pending,
    lane: Lane,
    stop: CancellationToken,
) {
    running.spawn(async move {
        let Pending { key, message, epoch } = pending;
        let interrupted = engine.process(&message, lane, &stop).await.is_err();
        Finished { key, partition: message.partition(), offset: message.offset(), epoch, interrupted }
    });
}

//! The stage consumer: polls one stage/lane topic and keeps up to
//! `concurrency` messages in flight, one at a time per upload id (the
//! message key) so each upload's messages stay in order while independent
//! uploads run side by side. An offset is stored only when every message
//! before it in its partition is done (`offsets.rs`), and stored offsets
//! are committed in batches by librdkafka every `commit_interval`.
//! Revoked partitions are forgotten, never fatal: a rebalance does not end
//! a consumer. Every few seconds it looks at its group's offsets to tell
//! whether it is starved (`starvation.rs`): then it says so, and leaves
//! and rejoins if that lasts. The consumer runs under `supervisor::supervise`.
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientContext, Message, Statistics};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use super::offsets::{Epoch, OffsetTracker};
use super::stage::StageHandler;
use super::starvation::{self, PartitionView, StarvationWatch, Verdict};
use super::KafkaClients;
use crate::domain::Stage;
use crate::supervisor::{Health, RestartAtOnce};
use crate::telemetry::events::{
    ConsumerFed, ConsumerProgress, ConsumerRejoining, ConsumerStarted, ConsumerStarved, ConsumerStopped,
    KafkaStatistics, MessageFinished, PartitionsRevoked,
};
use crate::telemetry::labels::Task;
use crate::telemetry::{Emit, Lane, Metrics};

/// How often a consumer looks at its group's offsets.
const LOOK_EVERY: Duration = Duration::from_secs(3);
/// The most one look waits for the broker.
const LOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// What a stage consumer is given, kept across its restarts.
#[derive(Clone)]
pub struct ConsumerSpec {
    pub kafka: KafkaClients,
    pub lane: Lane,
    /// Messages in flight at most (one per upload at a time).
    pub concurrency: usize,
    /// Where the consumer says it is starved.
    pub health: Health,
    pub membership: Membership,
}

impl ConsumerSpec {
    pub fn new(kafka: KafkaClients, lane: Lane, concurrency: usize, health: Health, membership: Membership) -> Self {
        Self { kafka, lane, concurrency, health, membership }
    }
}

/// How the consumers of one process join their groups: with the
/// configured `group.instance.id` (static membership) until one of them
/// left its group starved; from then on every consumer of the process
/// joins without it (README, "Known defects": a broker that mishandles a
/// static identity does so in every group the process is in).
#[derive(Clone, Default)]
pub struct Membership {
    dynamic: Arc<AtomicBool>,
}

impl Membership {
    fn is_dynamic(&self) -> bool {
        self.dynamic.load(Ordering::SeqCst)
    }

    fn go_dynamic(&self) {
        self.dynamic.store(true, Ordering::SeqCst);
    }
}

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

/// Consumes `H::STAGE`'s topic on the spec's lane until `shutdown`, with
/// up to `concurrency` messages in flight. Returns an error when the
/// consumer itself cannot go on, or `RestartAtOnce` when it left its group
/// starved (the supervisor then starts it again, with a fresh client).
pub async fn run_consumer<H: StageHandler>(
    engine: Arc<Engine<H>>,
    spec: ConsumerSpec,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let stage = H::STAGE;
    let ConsumerSpec { kafka, lane, concurrency, health, membership } = spec;
    let task = Task::Consumer(stage, lane);
    let settings = kafka.settings();
    let group = format!("{}.{}.{}", settings.group_prefix, stage, lane.as_str());
    let topic = engine.topics.stage(stage, lane);
    let metrics = engine.metrics.clone();
    let _cleanup = LagCleanup { metrics: metrics.clone(), stage, lane, partitions: settings.partitions };
    let context = Context { metrics: metrics.clone(), stage, lane, revoked: Mutex::new(Vec::new()) };
    let mut config = kafka.consumer_config(&group);
    let is_static = config.get("group.instance.id").is_some() && !membership.is_dynamic();
    if !is_static {
        config.remove("group.instance.id");
    }
    let consumer: Arc<StreamConsumer<Context>> = Arc::new(config.create_with_context(context)?);
    consumer.subscribe(&[&topic])?;
    ConsumerStarted { stage, lane }.emit(&metrics);
    tracing::info!(stage = stage.as_str(), lane = lane.as_str(), topic = %topic, group = %group, concurrency, static_membership = is_static, "Consumer started.");

    let mut watch = StarvationWatch::new(settings.starved_after, settings.rejoin_after);
    let mut starved = false;
    let mut rejoin = None;
    let mut look_every = tokio::time::interval(LOOK_EVERY);
    look_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut look: Option<JoinHandle<anyhow::Result<Vec<PartitionView>>>> = None;

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
            _ = look_every.tick(), if look.is_none() => {
                if is_static && membership.is_dynamic() {
                    let why = "another consumer of this process left its group starved".to_owned();
                    ConsumerRejoining { stage, lane, why: &why }.emit(&metrics);
                    rejoin = Some(why);
                    break;
                }
                let (consumer, topic, partitions) = (consumer.clone(), topic.clone(), settings.partitions);
                look = Some(tokio::task::spawn_blocking(move || {
                    starvation::look(&*consumer, &topic, partitions, LOOK_TIMEOUT)
                }));
            }
            looked = finished_look(&mut look), if look.is_some() => {
                look = None;
                let views = match looked {
                    Ok(Ok(views)) => views,
                    Ok(Err(error)) => {
                        tracing::debug!(error = %format!("{error:#}"), "Could not look at the group's offsets; next time.");
                        continue;
                    }
                    Err(error) => anyhow::bail!("looking at the group's offsets failed: {error}"),
                };
                match watch.observe(Instant::now(), &views, tracker.in_flight() == 0) {
                    Verdict::Consuming => {
                        if std::mem::take(&mut starved) {
                            health.set_problem(task, None);
                            ConsumerFed { stage, lane }.emit(&metrics);
                        }
                    }
                    Verdict::Starved { why, .. } => {
                        if !std::mem::replace(&mut starved, true) {
                            ConsumerStarved { stage, lane, why: &why }.emit(&metrics);
                        }
                        health.set_problem(task, Some(format!("starved: {why}")));
                    }
                    Verdict::Rejoin { why } => {
                        ConsumerRejoining { stage, lane, why: &why }.emit(&metrics);
                        rejoin = Some(why);
                        break;
                    }
                }
            }
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
    if let Some(handle) = look.take() {
        let _ = handle.await;
    }
    close(consumer, stage, lane).await;
    tracing::info!(stage = stage.as_str(), lane = lane.as_str(), "Consumer stopped.");
    let Some(why) = rejoin else { return Ok(()) };
    membership.go_dynamic();
    // Rejoin once the broker has let this member's session lapse: a static
    // member does not leave its group when closed, and the new member's
    // join must find the group without it. (A dynamic one has left; the
    // pause still keeps starved consumers from rebalancing a group over
    // and over.)
    tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        _ = tokio::time::sleep(kafka.session_timeout() + Duration::from_secs(1)) => {}
    }
    Err(RestartAtOnce(format!("left its group starved ({why}); joining again with a fresh client")).into())
}

/// How long closing a consumer may take before it is left behind.
const CLOSE_LIMIT: Duration = Duration::from_secs(30);

/// Closes a consumer on a thread of its own, waiting at most
/// `CLOSE_LIMIT`. librdkafka's close can block for good inside a
/// rebalance callback (`rd_kafka_assign` with no time limit, seen on
/// tansu while a group was rebalancing); on an async worker that would
/// stall the runtime, and the consumer would never rejoin or stop.
async fn close<C: ConsumerContext + 'static>(consumer: std::sync::Arc<StreamConsumer<C>>, stage: Stage, lane: Lane) {
    let (closed, done) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("kafka-close".into()).spawn(move || {
        drop(consumer);
        let _ = closed.send(());
    });
    if spawned.is_err() {
        tracing::error!(stage = stage.as_str(), lane = lane.as_str(), "No thread to close a Kafka consumer on.");
        return;
    }
    if tokio::time::timeout(CLOSE_LIMIT, done).await.is_err() {
        tracing::error!(
            stage = stage.as_str(),
            lane = lane.as_str(),
            limit_s = CLOSE_LIMIT.as_secs(),
            "A Kafka consumer did not close in time; it is left behind on its own thread."
        );
    }
}

/// The running look's result; never ready while none runs.
async fn finished_look(
    look: &mut Option<JoinHandle<anyhow::Result<Vec<PartitionView>>>>,
) -> Result<anyhow::Result<Vec<PartitionView>>, tokio::task::JoinError> {
    match look {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
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

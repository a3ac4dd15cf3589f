//! The Kafka side of the pipeline: state changes, messages consumed,
//! produced, skipped, awaited and dead-lettered, and each consumer's
//! progress and lag.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::Emit;
use super::Metrics;
use crate::domain::{DeadLetterReason, Lane, Stage, UploadState};
use crate::telemetry::labels::{
    ConsumerLabels, DeadLetterLabels, LagLabels, TopicLabels, TransitionLabels, UploadOutcome, UploadOutcomeLabels,
};
use crate::telemetry::metrics::{metric_group, HistogramFamily};

metric_group! {
    pub struct PipelineMetrics {
        upload_transitions: Family<TransitionLabels, Counter> =
            ("orakgarak_upload_transitions_total", "Upload state transitions, by from/to state."),
        upload_result: HistogramFamily<UploadOutcomeLabels> = (
            "orakgarak_upload_result_seconds",
            "Time from an upload's arrival (UPLOADED) to its result (COMPLETED, or FAILED into the DLQ), once per upload, by the lane that finished it: what a singer waits. The pipeline freshness objective reads it.",
            // 1 s .. 30 min, with a bound at the freshness objective's 60 s.
            Family::new_with_constructor(|| {
                Histogram::new([1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0, 600.0, 1800.0].into_iter())
            })
        ),
        messages_consumed: Family<TopicLabels, Counter> =
            ("orakgarak_messages_consumed_total", "Kafka messages consumed, by stage and lane (realtime, bulk)."),
        messages_produced: Family<TopicLabels, Counter> = (
            "orakgarak_messages_produced_total",
            "Stage messages the outbox relay produced to Kafka, by stage and lane."
        ),
        messages_duplicate: Family<TopicLabels, Counter> = (
            "orakgarak_messages_duplicate_total",
            "Redelivered or stale messages skipped without running the stage again."
        ),
        stage_runs_awaited: Family<TopicLabels, Counter> = (
            "orakgarak_stage_runs_awaited_total",
            "Messages that found their upload's stage still running elsewhere (under a live lease: a rebalance handed the message over, or the watchdog re-drove a slow run) and waited for that run instead of starting another."
        ),
        messages_retried: Family<TopicLabels, Counter> = (
            "orakgarak_messages_retried_total",
            "Stage runs that failed transiently and will be retried after a backoff."
        ),
        messages_dead_lettered: Family<DeadLetterLabels, Counter> = (
            "orakgarak_messages_dead_lettered_total",
            "Messages sent to a dead-letter topic, by stage and reason (not_retryable, exhausted, expired_window, poison, stuck)."
        ),
        outbox_pending: Gauge =
            ("orakgarak_outbox_pending", "Messages written to the outbox and not yet acknowledged by Kafka."),
        consumer_lag: Family<LagLabels, Gauge> = (
            "orakgarak_consumer_lag",
            "Messages not yet consumed per stage topic partition (librdkafka statistics, every 5 s); removed while the consumer is not running, so it never reports a frozen value."
        ),
        consumer_in_flight: Family<ConsumerLabels, Gauge> = (
            "orakgarak_consumer_in_flight",
            "Messages a stage consumer has received and not finished (running, waiting for their upload's earlier message, or waiting for the database)."
        ),
        consumer_starved: Family<ConsumerLabels, Gauge> = (
            "orakgarak_consumer_starved",
            "1 while a stage consumer is starved: it has nothing in flight while partitions of its topic hold messages whose group offset has not moved for kafka.starved_after (nobody consumes them). /readyz is 503 meanwhile and says which partitions."
        ),
        consumer_rejoins: Family<ConsumerLabels, Counter> = (
            "orakgarak_consumer_rejoins_total",
            "Times a starved stage consumer left its group and joined again with a fresh client (kafka.rejoin_after after it said it was starved)."
        ),
        consumer_last_message: Family<ConsumerLabels, Gauge> = (
            "orakgarak_consumer_last_message_timestamp_seconds",
            "Unix time a stage consumer last finished a message (0 = none since start)."
        ),
        kafka_brokers_up: Gauge = (
            "orakgarak_kafka_brokers_up",
            "Kafka brokers this process's consumers see in state UP (librdkafka statistics, every 5 s); -1 until the first statistics (or in a process without consumers).",
            {
                // No statistics yet: -1, not 0 ("no broker up"), so processes
                // without consumers never look like a broker outage.
                let gauge = Gauge::default();
                gauge.set(-1);
                gauge
            }
        ),
    }
}

pub struct UploadStateChanged<'a> {
    pub upload_id: &'a str,
    pub from: UploadState,
    pub to: UploadState,
    pub attempt: i32,
}

impl Emit for UploadStateChanged<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(
            uploadId = self.upload_id,
            from = self.from.as_str(),
            to = self.to.as_str(),
            attempt = self.attempt,
            "Upload state changed."
        );
        metrics.pipeline.upload_transitions.get_or_create(&TransitionLabels { from: self.from, to: self.to }).inc();
    }
}

/// An upload reached its result, `took` after its object arrived.
pub struct UploadFinished {
    pub lane: Lane,
    pub outcome: UploadOutcome,
    pub took: std::time::Duration,
}

impl Emit for UploadFinished {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(
            outcome = self.outcome.as_str(),
            lane = self.lane.as_str(),
            seconds_since_arrival = self.took.as_secs_f64(),
            "Upload finished."
        );
        let labels = UploadOutcomeLabels { lane: self.lane, outcome: self.outcome };
        metrics.pipeline.upload_result.get_or_create(&labels).observe(self.took.as_secs_f64());
    }
}

pub struct MessageConsumed {
    pub stage: Stage,
    pub lane: Lane,
}

impl Emit for MessageConsumed {
    fn emit(self, metrics: &Metrics) {
        metrics.pipeline.messages_consumed.get_or_create(&TopicLabels { stage: self.stage, lane: self.lane }).inc();
    }
}

pub struct DuplicateSkipped<'a> {
    pub stage: Stage,
    pub lane: Lane,
    pub why: &'a str,
}

impl Emit for DuplicateSkipped<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(stage = self.stage.as_str(), why = self.why, "Duplicate message skipped.");
        metrics.pipeline.messages_duplicate.get_or_create(&TopicLabels { stage: self.stage, lane: self.lane }).inc();
    }
}

/// A message found its upload's stage still running elsewhere, under a
/// lease until `until`, and waits for that run instead of starting another.
pub struct StageRunAwaited {
    pub stage: Stage,
    pub lane: Lane,
    pub until: chrono::DateTime<chrono::Utc>,
}

impl Emit for StageRunAwaited {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(
            stage = self.stage.as_str(),
            lease_until = %self.until.to_rfc3339(),
            "The stage is still running for this upload elsewhere; waiting for that run instead of starting another."
        );
        metrics.pipeline.stage_runs_awaited.get_or_create(&TopicLabels { stage: self.stage, lane: self.lane }).inc();
    }
}

pub struct MessageDeadLettered<'a> {
    pub stage: Stage,
    pub reason: DeadLetterReason,
    pub error: &'a str,
}

impl Emit for MessageDeadLettered<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::error!(
            stage = self.stage.as_str(),
            reason = self.reason.as_str(),
            error = self.error,
            "Message dead-lettered; an operator must replay it after fixing the cause."
        );
        let labels = DeadLetterLabels { stage: self.stage, reason: self.reason };
        metrics.pipeline.messages_dead_lettered.get_or_create(&labels).inc();
    }
}

pub struct MessageProduced {
    pub stage: Stage,
    pub lane: Lane,
}

impl Emit for MessageProduced {
    fn emit(self, metrics: &Metrics) {
        metrics.pipeline.messages_produced.get_or_create(&TopicLabels { stage: self.stage, lane: self.lane }).inc();
    }
}

/// The outbox's length, read by the relay between batches.
pub struct OutboxMeasured {
    pub pending: i64,
}

impl Emit for OutboxMeasured {
    fn emit(self, metrics: &Metrics) {
        metrics.pipeline.outbox_pending.set(self.pending);
    }
}

/// A stage consumer subscribed: its progress series exist from now on (its
/// last-message time at 0 = none since start).
pub struct ConsumerStarted {
    pub stage: Stage,
    pub lane: Lane,
}

impl Emit for ConsumerStarted {
    fn emit(self, metrics: &Metrics) {
        let labels = ConsumerLabels { stage: self.stage, lane: self.lane };
        let _ = metrics.pipeline.consumer_last_message.get_or_create(&labels);
        let _ = metrics.pipeline.consumer_rejoins.get_or_create(&labels);
        metrics.pipeline.consumer_in_flight.get_or_create(&labels).set(0);
        metrics.pipeline.consumer_starved.get_or_create(&labels).set(0);
    }
}

/// A stage consumer found partitions nobody consumes while it is idle.
pub struct ConsumerStarved<'a> {
    pub stage: Stage,
    pub lane: Lane,
    pub why: &'a str,
}

impl Emit for ConsumerStarved<'_> {
    fn emit(self, metrics: &Metrics) {
        let labels = ConsumerLabels { stage: self.stage, lane: self.lane };
        metrics.pipeline.consumer_starved.get_or_create(&labels).set(1);
        tracing::warn!(
            stage = self.stage.as_str(),
            lane = self.lane.as_str(),
            why = self.why,
            "Consumer starved: messages wait that nobody consumes; not ready until they move."
        );
    }
}

/// A starved consumer's waiting messages moved again.
pub struct ConsumerFed {
    pub stage: Stage,
    pub lane: Lane,
}

impl Emit for ConsumerFed {
    fn emit(self, metrics: &Metrics) {
        let labels = ConsumerLabels { stage: self.stage, lane: self.lane };
        metrics.pipeline.consumer_starved.get_or_create(&labels).set(0);
        tracing::info!(stage = self.stage.as_str(), lane = self.lane.as_str(), "Consumer no longer starved.");
    }
}

/// A consumer starved for too long leaves its group to join it again.
pub struct ConsumerRejoining<'a> {
    pub stage: Stage,
    pub lane: Lane,
    pub why: &'a str,
}

impl Emit for ConsumerRejoining<'_> {
    fn emit(self, metrics: &Metrics) {
        let labels = ConsumerLabels { stage: self.stage, lane: self.lane };
        metrics.pipeline.consumer_rejoins.get_or_create(&labels).inc();
        tracing::error!(
            stage = self.stage.as_str(),
            lane = self.lane.as_str(),
            why = self.why,
            "Consumer leaving its group and joining again with a fresh client, without group.instance.id."
        );
    }
}

/// How many messages a consumer holds unfinished.
pub struct ConsumerProgress {
    pub stage: Stage,
    pub lane: Lane,
    pub in_flight: usize,
}

impl Emit for ConsumerProgress {
    fn emit(self, metrics: &Metrics) {
        let labels = ConsumerLabels { stage: self.stage, lane: self.lane };
        metrics.pipeline.consumer_in_flight.get_or_create(&labels).set(self.in_flight as i64);
    }
}

/// A consumer finished a message and stored its offset.
pub struct MessageFinished {
    pub stage: Stage,
    pub lane: Lane,
}

impl Emit for MessageFinished {
    fn emit(self, metrics: &Metrics) {
        let labels = ConsumerLabels { stage: self.stage, lane: self.lane };
        metrics.pipeline.consumer_last_message.get_or_create(&labels).set(chrono::Utc::now().timestamp());
    }
}

/// librdkafka's periodic statistics for one consumer: brokers it sees UP
/// and the lag of each partition it holds.
pub struct KafkaStatistics<'a> {
    pub stage: Stage,
    pub lane: Lane,
    pub brokers_up: usize,
    pub lag: &'a [(i32, i64)],
}

impl Emit for KafkaStatistics<'_> {
    fn emit(self, metrics: &Metrics) {
        metrics.pipeline.kafka_brokers_up.set(self.brokers_up as i64);
        for &(partition, lag) in self.lag {
            metrics
                .pipeline
                .consumer_lag
                .get_or_create(&LagLabels { stage: self.stage, lane: self.lane, partition })
                .set(lag);
        }
    }
}

/// Partitions taken from a consumer: their lag is someone else's to report.
pub struct PartitionsRevoked<'a> {
    pub stage: Stage,
    pub lane: Lane,
    pub partitions: &'a [i32],
}

impl Emit for PartitionsRevoked<'_> {
    fn emit(self, metrics: &Metrics) {
        for &partition in self.partitions {
            metrics.pipeline.consumer_lag.remove(&LagLabels { stage: self.stage, lane: self.lane, partition });
        }
    }
}

/// A consumer ended (error, panic or shutdown): it reports no lag rather
/// than a frozen one, and nothing in flight.
pub struct ConsumerStopped {
    pub stage: Stage,
    pub lane: Lane,
    /// The topic's partition count: every lag series it may have made.
    pub partitions: i32,
}

impl Emit for ConsumerStopped {
    fn emit(self, metrics: &Metrics) {
        for partition in 0..self.partitions {
            metrics.pipeline.consumer_lag.remove(&LagLabels { stage: self.stage, lane: self.lane, partition });
        }
        metrics
            .pipeline
            .consumer_in_flight
            .get_or_create(&ConsumerLabels { stage: self.stage, lane: self.lane })
            .set(0);
        metrics.pipeline.consumer_starved.get_or_create(&ConsumerLabels { stage: self.stage, lane: self.lane }).set(0);
    }
}

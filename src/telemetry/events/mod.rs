//! Internal events: each observable thing is one struct whose `emit` writes
//! its log line and updates its metric together. The metrics they write are
//! declared beside them, once each (`metric_group!`): the catalogue and
//! `docs/metrics.md` are read from those declarations. Nothing outside
//! `telemetry` writes a metric except by emitting one of these. `Metrics`
//! is the registry of every group.

mod api;
mod logs;
mod pipeline;
mod process;
mod stages;
mod watchdog;

pub use api::{ApiMetrics, RequestServed, UploadCreated, UploadRejected};
pub use logs::{LogLinesDropped, LogLinesShipped, LogQueueMeasured, LogShipMetrics, LokiPushAttempted};
pub use pipeline::{
    ConsumerFed, ConsumerProgress, ConsumerRejoining, ConsumerStarted, ConsumerStarved, ConsumerStopped,
    DuplicateSkipped, KafkaStatistics, MessageConsumed, MessageDeadLettered, MessageFinished, MessageProduced,
    OutboxMeasured, PartitionsRevoked, PipelineMetrics, StageRunAwaited, UploadFinished, UploadStateChanged,
};
pub use process::{ProcessMetrics, TaskFailed, TaskStarted, TaskStopped};
pub use stages::{
    AnalysisPermitAcquired, AnalysisPermitReleased, AnalysisPermitsConfigured, ExternalCallTimedOut, StageCompleted,
    StageFailed, StageMetrics, StageTimedOut,
};
pub use watchdog::{
    StuckUploadFound, UploadExpired, UploadGivenUp, UploadReconciled, UploadRedriven, UploadsCounted, WatchdogMetrics,
    WatchdogRunFailed, WatchdogRunSkipped, WatchdogRunStarted, WatchdogRunSucceeded, WatchdogScheduled,
};

use std::sync::Arc;

use prometheus_client::registry::Registry;

use super::metrics::MetricDoc;

pub trait Emit {
    fn emit(self, metrics: &Metrics);
}

/// An error and all its causes on one line: `outer: middle: root`.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Every catalogued metric, group by group.
pub fn catalog() -> impl Iterator<Item = &'static MetricDoc> {
    [
        ApiMetrics::DOCS,
        PipelineMetrics::DOCS,
        StageMetrics::DOCS,
        WatchdogMetrics::DOCS,
        ProcessMetrics::DOCS,
        LogShipMetrics::DOCS,
    ]
    .into_iter()
    .flatten()
}

/// All metric handles, by group. Cheap to clone (everything inside is
/// shared). Only events write them (`telemetry::events`).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub(in crate::telemetry) api: ApiMetrics,
    pub(in crate::telemetry) pipeline: PipelineMetrics,
    pub(in crate::telemetry) stages: StageMetrics,
    pub(in crate::telemetry) watchdog: WatchdogMetrics,
    pub(in crate::telemetry) process: ProcessMetrics,
    pub(in crate::telemetry) logs: LogShipMetrics,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("orakgarak");
        let api = ApiMetrics::register(&mut registry);
        let pipeline = PipelineMetrics::register(&mut registry);
        let stages = StageMetrics::register(&mut registry);
        let watchdog = WatchdogMetrics::register(&mut registry);
        let process = ProcessMetrics::register(&mut registry);
        let logs = LogShipMetrics::register(&mut registry);
        process.started();
        Self { registry: Arc::new(registry), api, pipeline, stages, watchdog, process, logs }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

//! Internal events: each observable thing is one struct whose `emit` writes
//! its log line and updates its metric together. The metrics they write are
//! declared beside them, once each (`metric_group!`): the catalogue and
//! `docs/metrics.md` are read from those declarations. Nothing outside
//! `telemetry` writes a metric except by emitting one of these.

mod api;
mod logs;
mod pipeline;
mod process;
mod stages;
mod watchdog;

pub use api::{ApiMetrics, RequestServed, UploadCreated, UploadRejected};
pub use logs::{LogLinesDropped, LogLinesShipped, LogQueueMeasured, LogShipMetrics, LokiPushAttempted};
pub use pipeline::{
    ConsumerProgress, ConsumerStarted, ConsumerStopped, DuplicateSkipped, KafkaStatistics, MessageConsumed,
    MessageDeadLettered, MessageFinished, MessageProduced, OutboxMeasured, PartitionsRevoked, PipelineMetrics,
    StageRunAwaited, UploadStateChanged,
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

use super::Metrics;

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

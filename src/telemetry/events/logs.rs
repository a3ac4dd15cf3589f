//! Shipping log lines to Loki. These events write metrics only: they run
//! inside the log pipeline, where a log line of their own would loop.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::Emit;
use super::Metrics;
use crate::telemetry::labels::{DropLabels, DropReason, PushLabels, PushOutcome};
use crate::telemetry::metrics::metric_group;

metric_group! {
    pub struct LogShipMetrics {
        dropped: Family<DropLabels, Counter> = (
            "orakgarak_log_events_dropped_total",
            "Log lines that never reached Loki, by reason (queue_full, push_failed)."
        ),
        shipped: Counter = ("orakgarak_log_events_shipped_total", "Log lines Loki accepted."),
        pushes: Family<PushLabels, Counter> =
            ("orakgarak_loki_pushes_total", "Pushes to Loki, by outcome (success, failure)."),
        queued: Gauge = (
            "orakgarak_log_queue_lines",
            "Log lines waiting to be shipped to Loki (bounded by log.loki_queue_lines)."
        ),
    }
}

/// The shipper's queue depth.
pub struct LogQueueMeasured {
    pub lines: i64,
}

impl Emit for LogQueueMeasured {
    fn emit(self, metrics: &Metrics) {
        metrics.logs.queued.set(self.lines.max(0));
    }
}

pub struct LogLinesDropped {
    pub reason: DropReason,
    pub lines: u64,
}

impl Emit for LogLinesDropped {
    fn emit(self, metrics: &Metrics) {
        metrics.logs.dropped.get_or_create(&DropLabels { reason: self.reason }).inc_by(self.lines);
    }
}

/// One attempt to push a batch to Loki.
pub struct LokiPushAttempted {
    pub accepted: bool,
}

impl Emit for LokiPushAttempted {
    fn emit(self, metrics: &Metrics) {
        let outcome = if self.accepted { PushOutcome::Success } else { PushOutcome::Failure };
        metrics.logs.pushes.get_or_create(&PushLabels { outcome }).inc();
    }
}

/// A batch Loki accepted.
pub struct LogLinesShipped {
    pub lines: u64,
}

impl Emit for LogLinesShipped {
    fn emit(self, metrics: &Metrics) {
        metrics.logs.shipped.inc_by(self.lines);
    }
}

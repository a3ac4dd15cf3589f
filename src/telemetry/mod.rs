//! Telemetry: JSON logs with the upload's traceId on every line, traces,
//! the Prometheus registry, and the internal events that feed both.
//!
//! - `events/` — one struct per observable thing; `emit` writes its log
//!   line and its metric, declared beside it; `Metrics`, the registry.
//! - `labels` — the closed sets every label value comes from.
//! - `metrics` — how a metric is declared (`metric_group!`).
//! - `catalog` — the metrics catalogue read from those declarations.
//! - `logs`, `loki`, `traces` — the log pipeline, Loki shipping, OTLP spans.

pub mod catalog;
pub mod events;
pub mod labels;
mod logs;
pub mod loki;
mod metrics;
pub mod traces;

pub use crate::domain::Lane;
pub use events::{Emit, Metrics};
pub use logs::{init_telemetry, Telemetry};
pub use metrics::to_text_format;

/// The span every log line of one upload's work runs inside. Its fields are
/// what Loki queries filter on (`traceId`, `uploadId`, `role`) — fields,
/// never labels. Place it in its trace with [`traces::start`], which
/// records `traceId` and `spanId`.
#[macro_export]
macro_rules! upload_span {
    ($name:expr, $role:expr, $upload_id:expr) => {
        tracing::info_span!(
            $name,
            role = $role,
            uploadId = %$upload_id,
            traceId = tracing::field::Empty,
            spanId = tracing::field::Empty
        )
    };
}

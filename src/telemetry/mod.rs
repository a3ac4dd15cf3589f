//! Telemetry: JSON logs with the upload's traceId on every line, the
//! Prometheus registry, and the internal events that feed both.

pub mod catalog;
pub mod events;
mod logs;
pub mod loki;
mod metrics;
pub mod metrics_labels {
    //! Label sets, for code that records metrics directly.
    pub use super::metrics::{HttpLabels, HttpRouteLabels, OutcomeLabels, StateLabels, TopicLabels};
}

pub use crate::domain::Lane;
pub use events::Emit;
pub use logs::init_logs;
pub use metrics::{serve_metrics, Metrics, StatusClass};

/// The span every log line of one upload's work runs inside. Its fields are
/// what Loki queries filter on (`traceId`, `uploadId`, `role`) — fields,
/// never labels. `$trace` is a `TraceContext`.
#[macro_export]
macro_rules! upload_span {
    ($name:expr, $role:expr, $trace:expr, $upload_id:expr) => {
        tracing::info_span!(
            $name,
            role = $role,
            traceId = %$trace.trace_id,
            spanId = %$trace.span_id_hex(),
            uploadId = %$upload_id
        )
    };
}

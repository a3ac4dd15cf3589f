//! Telemetry: JSON logs with the upload's traceId on every line, the
//! Prometheus registry, and the internal events that feed both.

pub mod catalog;
pub mod events;
mod logs;
pub mod loki;
mod metrics;
pub mod traces;
pub mod metrics_labels {
    //! Label sets, for code that records metrics directly.
    pub use super::metrics::{HttpLabels, HttpRouteLabels, OutcomeLabels, StateLabels, TopicLabels};
}

pub use crate::domain::Lane;
pub use events::Emit;
pub use logs::{init_telemetry, Telemetry};
pub use metrics::{serve_metrics, Metrics, StatusClass};

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

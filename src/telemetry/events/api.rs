//! The upload API: requests served, uploads created and refused.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use super::Emit;
use super::Metrics;
use crate::domain::RejectReason;
use crate::telemetry::labels::{HttpLabels, Method, RejectLabels, Route, StatusClass};
use crate::telemetry::metrics::{metric_group, HistogramFamily};

metric_group! {
    pub struct ApiMetrics {
        http_requests: Family<HttpLabels, Counter> = (
            "orakgarak_http_requests_total",
            "HTTP requests answered, by method, route template and status class (2xx..5xx)."
        ),
        http_request_duration: HistogramFamily<HttpLabels> = (
            "orakgarak_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status class (the latency objective counts only requests not answered 5xx).",
            // 1 ms .. ~4 s, with a bound at the latency objective's 200 ms.
            Family::new_with_constructor(|| {
                Histogram::new(
                    [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 4.0].into_iter(),
                )
            })
        ),
        uploads_created: Counter = ("orakgarak_uploads_created_total", "Uploads created (a presigned URL was handed out)."),
        uploads_rejected: Family<RejectLabels, Counter> = (
            "orakgarak_uploads_rejected_total",
            "Uploads refused: too_large, empty, invalid_request, unsupported_type at the API; size_mismatch, oversize_object on the object-created event."
        ),
    }
}

/// One HTTP request answered; `error` is the detail of a 5xx the client
/// never sees.
pub struct RequestServed<'a> {
    pub method: Method,
    pub route: Route,
    pub status: u16,
    pub elapsed: Duration,
    pub error: Option<&'a str>,
}

impl Emit for RequestServed<'_> {
    fn emit(self, metrics: &Metrics) {
        let (status, elapsed_ms) = (self.status, self.elapsed.as_secs_f64() * 1000.0);
        match self.error {
            Some(error) => tracing::error!(status, elapsed_ms, error, "Request failed."),
            None if status >= 400 => tracing::info!(status, elapsed_ms, "Request refused."),
            None => tracing::info!(status, elapsed_ms, "Request served."),
        }
        let (method, route) = (self.method, self.route);
        let labels = HttpLabels { method, route, status_class: StatusClass::of(status) };
        metrics.api.http_requests.get_or_create(&labels).inc();
        metrics.api.http_request_duration.get_or_create(&labels).observe(self.elapsed.as_secs_f64());
    }
}

pub struct UploadCreated<'a> {
    pub upload_id: &'a str,
    pub bytes: u64,
}

impl Emit for UploadCreated<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(uploadId = self.upload_id, bytes = self.bytes, "Upload created.");
        metrics.api.uploads_created.inc();
    }
}

pub struct UploadRejected<'a> {
    pub reason: RejectReason,
    pub detail: &'a str,
}

impl Emit for UploadRejected<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::warn!(reason = self.reason.as_str(), detail = self.detail, "Upload rejected.");
        metrics.api.uploads_rejected.get_or_create(&RejectLabels { reason: self.reason }).inc();
    }
}

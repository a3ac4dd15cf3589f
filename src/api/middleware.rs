//! Per-request trace context, the request log line and HTTP metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::error::InternalErrorDetail;
use crate::domain::TraceContext;
use crate::telemetry::metrics_labels::{HttpLabels, HttpRouteLabels};
use crate::telemetry::traces;
use crate::telemetry::{Metrics, StatusClass};

tokio::task_local! {
    static TRACE: TraceContext;
}

/// The traceId of the request being served (for error bodies).
pub fn current_trace_id() -> Option<String> {
    TRACE.try_with(|t| t.trace_id.to_string()).ok()
}

/// The trace context of the request being served.
pub fn current_trace() -> TraceContext {
    TRACE.try_with(|t| *t).unwrap_or_else(|_| TraceContext::root())
}

/// Continues an incoming `traceparent` (or starts a trace), answers with
/// it, logs one line per request and records the HTTP metrics.
pub async fn observe(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let incoming = request.headers().get("traceparent").and_then(|v| v.to_str().ok()).and_then(TraceContext::parse);
    // Extension methods would make the label set unbounded.
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "OPTIONS" | "PATCH") => m.to_owned(),
        _ => "other".to_owned(),
    };
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "http",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        role = "api",
        traceId = tracing::field::Empty,
        spanId = tracing::field::Empty,
        method = %method,
        route = %route,
    );
    let trace = traces::start(&span, incoming.as_ref(), &[]);
    span.set_attribute("http.request.method", method.clone());
    span.set_attribute("http.route", route.clone());
    let mut response = TRACE.scope(trace, next.run(request).instrument(span.clone())).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&trace.header()) {
        headers.insert("traceparent", value);
    }
    if let Ok(value) = HeaderValue::from_str(&trace.trace_id.to_string()) {
        headers.insert("x-trace-id", value);
    }
    span.set_attribute("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let _entered = span.enter();
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    match response.extensions().get::<InternalErrorDetail>() {
        Some(detail) => tracing::error!(status, elapsed_ms, error = %detail.0, "Request failed."),
        None if status >= 400 => tracing::info!(status, elapsed_ms, "Request refused."),
        None => tracing::info!(status, elapsed_ms, "Request served."),
    }
    metrics
        .http_requests
        .get_or_create(&HttpLabels {
            method: method.clone(),
            route: route.clone(),
            status_class: StatusClass::of(status),
        })
        .inc();
    metrics.http_duration.get_or_create(&HttpRouteLabels { method, route }).observe(elapsed.as_secs_f64());
    response
}

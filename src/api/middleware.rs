//! Per-request trace context, the request log line and HTTP metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::error::InternalErrorDetail;
use super::request_trace;
use crate::domain::TraceContext;
use crate::telemetry::events::RequestServed;
use crate::telemetry::labels::{Method, Route};
use crate::telemetry::traces;
use crate::telemetry::{Emit, Metrics};

/// Continues an incoming `traceparent` (or starts a trace), answers with
/// it, logs one line per request and records the HTTP metrics.
pub async fn observe(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let incoming = request.headers().get("traceparent").and_then(|v| v.to_str().ok()).and_then(TraceContext::parse);
    // Closed sets: extension methods and unknown paths cannot grow the labels.
    let method = Method::of(request.method());
    let route = Route::of(request.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
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
    span.set_attribute("http.request.method", method.as_str());
    span.set_attribute("http.route", route.as_str());
    let mut response = request_trace::scope(trace, next.run(request).instrument(span.clone())).await;
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
    let error = response.extensions().get::<InternalErrorDetail>().map(|detail| detail.0.clone());
    RequestServed { method, route, status, elapsed, error: error.as_deref() }.emit(&metrics);
    response
}

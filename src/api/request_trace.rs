//! The trace context of the request being served, for the handlers (which
//! continue it into the upload's trace) and the error bodies (which show its
//! traceId). The middleware sets it around each request.

use std::future::Future;

use crate::domain::TraceContext;

tokio::task_local! {
    static TRACE: TraceContext;
}

/// Runs `request` with `trace` as the current request's trace context.
pub async fn scope<F: Future>(trace: TraceContext, request: F) -> F::Output {
    TRACE.scope(trace, request).await
}

/// The traceId of the request being served (for error bodies).
pub fn current_trace_id() -> Option<String> {
    TRACE.try_with(|t| t.trace_id.to_string()).ok()
}

/// The trace context of the request being served.
pub fn current_trace() -> TraceContext {
    TRACE.try_with(|t| *t).unwrap_or_else(|_| TraceContext::root())
}

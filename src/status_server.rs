//! The listener every process (API or worker) runs on `http.metrics_listen`:
//! `/metrics` for Prometheus, `/healthz` and `/readyz` for the orchestrator.
//! It reads the metrics registry and the supervisor's health; neither knows
//! about it.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{routing::get, Router};
use tokio::net::TcpListener;

use crate::supervisor::Health;
use crate::telemetry::{to_text_format, Metrics};

/// Serves until the task is dropped. `/metrics` answers OpenMetrics when
/// the scraper accepts it (Prometheus does), else the 0.0.4 text format;
/// `/readyz` answers 503 with the list of supervised tasks while any is not
/// running.
pub async fn serve(listener: TcpListener, metrics: Metrics, health: Health) -> anyhow::Result<()> {
    let ready = move || {
        let (ok, tasks) = health.report();
        let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        (status, axum::Json(serde_json::json!({ "ready": ok, "tasks": tasks })))
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(move || std::future::ready(ready())))
        .route("/metrics", get(move |headers: HeaderMap| std::future::ready(exposition(&metrics, &headers))));
    axum::serve(listener, app).await?;
    Ok(())
}

fn exposition(metrics: &Metrics, headers: &HeaderMap) -> axum::response::Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if accept.contains("application/openmetrics-text") {
        ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], metrics.encode())
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], to_text_format(&metrics.encode()))
            .into_response()
    }
}

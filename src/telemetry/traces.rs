//! Traces: every span of ours is an OpenTelemetry span (through
//! `tracing-opentelemetry`), exported over OTLP/HTTP in protobuf when
//! `traces.otlp_endpoint` is set. A unit of work (a request, an event, a
//! stage run, a produce, a watchdog run, a replay) starts its span with
//! [`start`]: the parent comes from a `traceparent` (HTTP or Kafka header)
//! or the upload's stored context, and the span's own ids become the
//! `traceId`/`spanId` of every log line inside it, so a log line's traceId
//! is the exported trace's.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::TraceSettings;
use crate::domain::TraceContext;

/// Places `span` in a trace: a child of `parent` (a new trace when `None`),
/// linked to `links` (a link into the parent's own trace says nothing the
/// parent does not, and is left out), and records its ids as the span's `traceId` and
/// `spanId` fields (declare both `Empty`). Returns the span's own context,
/// the parent of whatever it causes. Without the OpenTelemetry layer (a
/// library user, a test) the ids are made here, so propagation still works.
pub fn start(span: &Span, parent: Option<&TraceContext>, links: &[TraceContext]) -> TraceContext {
    // An explicit empty parent makes a root instead of inheriting the
    // enclosing tracing span.
    let _ = span.set_parent(parent.map(TraceContext::to_otel).unwrap_or_default());
    for link in links.iter().filter(|l| Some(l.trace_id) != parent.map(|p| p.trace_id)) {
        span.add_link(link.span_context());
    }
    let own = {
        use opentelemetry::trace::TraceContextExt;
        TraceContext::of(span.context().span().span_context())
    };
    let own = own.unwrap_or_else(|| parent.map_or_else(TraceContext::root, TraceContext::child));
    span.record("traceId", tracing::field::display(own.trace_id));
    span.record("spanId", tracing::field::display(own.span_id_hex()));
    own
}

/// The tracer provider: batches spans to the OTLP endpoint when one is
/// set; otherwise spans get ids (for logs and propagation) and are dropped.
pub fn provider(
    settings: &TraceSettings,
    service: &'static str,
    env: &str,
    ca_bundle: Option<&Path>,
) -> anyhow::Result<SdkTracerProvider> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&settings.sampling_ratio),
        "traces.sampling_ratio must be between 0 and 1, not {}",
        settings.sampling_ratio
    );
    let resource = Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "orakgarak"),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.role", service),
            KeyValue::new("deployment.environment.name", env.to_owned()),
        ])
        .build();
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sampling_ratio)));
    let mut builder = SdkTracerProvider::builder().with_resource(resource).with_sampler(sampler);
    if let Some(endpoint) = &settings.otlp_endpoint {
        let url: reqwest::Url =
            endpoint.parse().with_context(|| format!("traces.otlp_endpoint {endpoint:?} is not a URL"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https"),
            "traces.otlp_endpoint must be http(s)://…/v1/traces, not {endpoint:?}"
        );
        let headers: HashMap<String, String> =
            settings.otlp_headers.iter().map(|(k, v)| (k.clone(), v.expose().to_owned())).collect();
        let client = ExportClient::new(crate::http_client::client(ca_bundle)?, settings.export_timeout)?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint.clone())
            .with_timeout(settings.export_timeout)
            .with_headers(headers)
            .with_http_client(client)
            .build()
            .context("building the OTLP span exporter")?;
        let batch = BatchConfigBuilder::default()
            .with_scheduled_delay(settings.export_interval)
            .with_max_queue_size(settings.queue_spans)
            .build();
        builder = builder.with_span_processor(BatchSpanProcessor::builder(exporter).with_batch_config(batch).build());
    }
    Ok(builder.build())
}

/// The tracer the `tracing` layer turns spans into OpenTelemetry spans with.
pub fn tracer(provider: &SdkTracerProvider) -> opentelemetry_sdk::trace::SdkTracer {
    provider.tracer("orakgarak")
}

/// Sends OTLP exports with reqwest on a runtime of its own: the batch
/// processor exports from its own thread, outside any Tokio runtime, and
/// must keep working whatever happens to the application's runtimes.
#[derive(Debug, Clone)]
struct ExportClient {
    client: reqwest::Client,
    runtime: Arc<ExportRuntime>,
    timeout: std::time::Duration,
}

#[derive(Debug)]
struct ExportRuntime(Option<tokio::runtime::Runtime>);

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        // Dropping a runtime inside another one would panic; this never blocks.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl ExportClient {
    fn new(client: reqwest::Client, timeout: std::time::Duration) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .context("starting the OTLP export runtime")?;
        Ok(Self { client, runtime: Arc::new(ExportRuntime(Some(runtime))), timeout })
    }
}

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .timeout(self.timeout)
            .body(body);
        let runtime = self.runtime.0.as_ref().ok_or("the OTLP export runtime has stopped")?;
        // Sent (and its timeout armed) on the export runtime.
        let exchange = runtime.spawn(async move {
            let response = request.send().await?;
            let mut answer = Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let body = response.bytes().await?;
            Ok::<_, HttpError>(answer.body(body)?)
        });
        exchange.await?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;

    use super::*;

    /// Keeps what is exported.
    #[derive(Debug, Clone, Default)]
    struct Kept(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Kept {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0
                .lock()
                .map_err(|e| opentelemetry_sdk::error::OTelSdkError::InternalFailure(e.to_string()))?
                .extend(batch);
            Ok(())
        }
    }

    fn exported(kept: &Kept) -> Vec<SpanData> {
        kept.0.lock().map(|spans| spans.clone()).unwrap_or_default()
    }

    #[test]
    fn started_spans_are_exported_with_the_ids_they_log_and_their_parents() {
        let kept = Kept::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(kept.clone()).build();
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer(&provider))
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| meta.is_span()));
        let subscriber = tracing_subscriber::registry().with(layer);
        let parent = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").expect("valid");
        let link = TraceContext::root();
        let (child, root) = tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("outer", traceId = tracing::field::Empty, spanId = tracing::field::Empty);
            let _entered = outer.enter();
            // A parent given explicitly wins over the enclosing span.
            let span = tracing::info_span!("child", traceId = tracing::field::Empty, spanId = tracing::field::Empty);
            let child = start(&span, Some(&parent), &[link]);
            drop(span);
            // No parent: a new trace, even inside another span.
            let span = tracing::info_span!("root", traceId = tracing::field::Empty, spanId = tracing::field::Empty);
            let root = start(&span, None, &[]);
            drop(span);
            (child, root)
        });
        let spans = exported(&kept);
        let find = |name: &str| spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("{name} exported"));
        let child_span = find("child");
        assert_eq!(TraceContext::of(&child_span.span_context), Some(child), "the logged ids are the exported ones");
        assert_eq!(child.trace_id, parent.trace_id);
        assert_eq!(child_span.parent_span_id.to_bytes(), parent.span_id);
        assert_eq!(child_span.links.links.len(), 1);
        assert_eq!(TraceContext::of(&child_span.links.links[0].span_context), Some(link));
        let root_span = find("root");
        assert_eq!(TraceContext::of(&root_span.span_context), Some(root));
        assert_ne!(root.trace_id, parent.trace_id);
        assert_eq!(root_span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    }

    #[test]
    fn without_the_layer_ids_still_propagate() {
        let parent = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").expect("valid");
        let span = tracing::info_span!("alone", traceId = tracing::field::Empty, spanId = tracing::field::Empty);
        let own = start(&span, Some(&parent), &[]);
        assert_eq!((own.trace_id, own.sampled), (parent.trace_id, false));
        assert_ne!(own.span_id, parent.span_id);
    }
}

//! Log output: one JSON object per line, with the fields of every enclosing
//! span (traceId, spanId, uploadId, role) lifted to the top level, so a
//! line stands on its own in Loki. Errors are one field (`error`), never
//! split over lines; panics are logged the same way.

use std::any::TypeId;
use std::io::Write;
use std::path::Path;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use super::loki::LokiShipper;
use crate::config::{LogFormat, LogSettings, TraceSettings};
use crate::http_client;

/// What `init_telemetry` installs; `shutdown` exports the spans still
/// queued (call it before the process exits).
pub struct Telemetry {
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
}

impl Telemetry {
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(error = %error, "Spans still queued could not be exported.");
        }
    }
}

/// Installs the global subscriber: log lines to stdout (plus Loki when
/// configured) and spans to OpenTelemetry. `RUST_LOG` wins over the
/// configured level; the level filters log lines only, so spans (and the
/// trace ids they carry) exist at any level. Errors if one is installed.
/// `ca_bundle` is trusted by the Loki and OTLP clients (see
/// `http_client::client`).
pub fn init_telemetry(
    settings: &LogSettings,
    traces: &TraceSettings,
    env: &str,
    service: &'static str,
    ca_bundle: Option<&Path>,
    metrics: &super::Metrics,
) -> anyhow::Result<Telemetry> {
    let level = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&settings.level))?;
    let shipper = match &settings.loki_url {
        Some(url) => {
            Some(LokiShipper::start(url, http_client::client(ca_bundle)?, settings, env, service, metrics.clone())?)
        }
        None => None,
    };
    let provider = super::traces::provider(traces, service, env, ca_bundle)?;
    let spans = tracing_opentelemetry::layer()
        .with_tracer(super::traces::tracer(&provider))
        .with_location(false)
        .with_threads(false);
    // One global filter, no per-layer filters (their thread-local state
    // misattributes spans whose callsite interest is cached).
    let registry = tracing_subscriber::registry().with(LevelOrOurSpans(level)).with(SpansAndErrors(spans));
    match settings.format {
        LogFormat::Json => {
            registry.with(JsonLines { service, env: env.to_owned(), stdout: true, shipper }).try_init()?
        }
        LogFormat::Pretty => registry
            .with(fmt::layer().with_writer(std::io::stdout))
            .with(JsonLines { service, env: env.to_owned(), stdout: false, shipper })
            .try_init()?,
    }
    install_panic_hook();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "Telemetry initialised.");
    Ok(Telemetry { provider })
}

/// Our spans (INFO and above) at any log level, so every unit of work has
/// its trace ids; everything else as the level filter says.
struct LevelOrOurSpans(EnvFilter);

fn our_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.target().starts_with("orakgarak") && *meta.level() <= Level::INFO
}

impl<S> Layer<S> for LevelOrOurSpans
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if our_span(meta) {
            Interest::always()
        } else {
            Layer::<S>::register_callsite(&self.0, meta)
        }
    }
    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        our_span(meta) || Layer::<S>::enabled(&self.0, meta, ctx)
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Layer::<S>::max_level_hint(&self.0).map(|hint| hint.max(LevelFilter::INFO))
    }
    // The level filter tracks spans for its span-scoped directives.
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.0.on_new_span(attrs, id, ctx)
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        self.0.on_record(id, values, ctx)
    }
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.0.on_enter(id, ctx)
    }
    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.0.on_exit(id, ctx)
    }
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.0.on_close(id, ctx)
    }
}

/// The OpenTelemetry layer with every span but only ERROR events (they
/// mark their span as failed): log lines go to Loki, not into spans.
struct SpansAndErrors<L>(L);

impl<S, L> Layer<S> for SpansAndErrors<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, dispatch: &tracing::Dispatch) {
        self.0.on_register_dispatch(dispatch)
    }
    fn on_layer(&mut self, subscriber: &mut S) {
        self.0.on_layer(subscriber)
    }
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        self.0.register_callsite(meta)
    }
    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.0.enabled(meta, ctx)
    }
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.0.on_new_span(attrs, id, ctx)
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        self.0.on_record(id, values, ctx)
    }
    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        self.0.on_follows_from(id, follows, ctx)
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() == Level::ERROR {
            self.0.on_event(event, ctx)
        }
    }
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.0.on_enter(id, ctx)
    }
    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.0.on_exit(id, ctx)
    }
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.0.on_close(id, ctx)
    }
    fn on_id_change(&self, old: &Id, new: &Id, ctx: Context<'_, S>) {
        self.0.on_id_change(old, new, ctx)
    }
    /// `OpenTelemetrySpanExt` finds the layer through this.
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(self as *const Self as *const ())
        } else {
            // SAFETY: the inner layer answers for its own types.
            unsafe { self.0.downcast_raw(id) }
        }
    }
}

/// A panic becomes one ERROR line with message, location and backtrace.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let backtrace = std::backtrace::Backtrace::force_capture().to_string();
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(panic = %message, location = %location, backtrace = %backtrace, "Panic.");
    }));
}

/// Span fields, captured when the span is created or recorded.
struct SpanFields(Map<String, Value>);

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl JsonVisitor<'_> {
    /// `otel.*` fields name and shape the exported span; they are not log fields.
    fn insert(&mut self, field: &Field, value: Value) {
        if !field.name().starts_with("otel.") {
            self.0.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.insert(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let chain = super::events::error_chain(value);
        self.insert(field, Value::String(chain));
    }
}

struct JsonLines {
    service: &'static str,
    env: String,
    stdout: bool,
    shipper: Option<LokiShipper>,
}

impl<S> Layer<S> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        attrs.record(&mut JsonVisitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<SpanFields>() {
                values.record(&mut JsonVisitor(&mut fields.0));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert("level".into(), Value::String(metadata.level().as_str().to_owned()));
        line.insert("service".into(), Value::String(self.service.to_owned()));
        line.insert("env".into(), Value::String(self.env.clone()));
        line.insert("target".into(), Value::String(metadata.target().to_owned()));
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    for (key, value) in &fields.0 {
                        line.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        let Ok(text) = serde_json::to_string(&line) else { return };
        if self.stdout {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.write_all(b"\n");
        }
        if let Some(shipper) = &self.shipper {
            shipper.send(*metadata.level(), &line, text);
        }
    }
}

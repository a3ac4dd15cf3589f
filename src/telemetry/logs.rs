//! Log output: one JSON object per line, with the fields of every enclosing
//! span (traceId, spanId, uploadId, role) lifted to the top level, so a
//! line stands on its own in Loki. Errors are one field (`error`), never
//! split over lines; panics are logged the same way.

use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use super::loki::LokiShipper;
use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber (stdout, plus Loki when configured).
/// `RUST_LOG` wins over the configured level. Errors if one is installed.
/// `client` ships to Loki (see `http_client::client`).
pub fn init_logs(
    settings: &LogSettings,
    env: &str,
    service: &'static str,
    client: reqwest::Client,
) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&settings.level))?;
    let shipper = match &settings.loki_url {
        Some(url) => Some(LokiShipper::start(url, client, settings, env, service)?),
        None => None,
    };
    let registry = tracing_subscriber::registry().with(filter);
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
    Ok(())
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

impl Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let chain = super::events::error_chain(value);
        self.0.insert(field.name().to_owned(), Value::String(chain));
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

//! Log output: JSON lines (one per event, error chains in one field) or a
//! human format. Initialised once per process.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. `RUST_LOG` wins over the configured level.
/// Returns an error if one is already installed (tests share a process).
pub fn init_logs(settings: &LogSettings, service: &'static str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&settings.level))?;
    let registry = tracing_subscriber::registry().with(filter);
    match settings.format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true)
                    .with_target(true)
                    .with_writer(std::io::stdout),
            )
            .try_init()?,
        LogFormat::Pretty => registry.with(fmt::layer().with_writer(std::io::stdout)).try_init()?,
    }
    tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "Telemetry initialised.");
    Ok(())
}

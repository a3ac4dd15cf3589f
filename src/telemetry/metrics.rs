//! How a metric is declared: once, beside the events that write it, with
//! its name, help and label set ([`metric_group!`]); its type comes from the
//! handle. The registry of all groups is `events::Metrics`, and the
//! catalogue (`docs/metrics.md`) is read from the same declarations.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry, Unit};

use super::labels::LabelSet;

/// One catalogued metric.
#[derive(Debug)]
pub struct MetricDoc {
    /// The name as queried in PromQL (counters end in `_total`).
    pub name: &'static str,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

impl MetricDoc {
    /// The family name of `# TYPE` lines (no `_total`).
    pub fn family(&self) -> String {
        self.name.strip_suffix("_total").unwrap_or(self.name).to_owned()
    }
}

/// A metric handle: its type and label names, and the series it starts with.
pub trait Instrument: Metric + Clone {
    const KIND: &'static str;
    const LABELS: &'static [&'static str] = &[];
    fn precreate(&self) {}
}

impl Instrument for Counter {
    const KIND: &'static str = "counter";
}

impl Instrument for Gauge {
    const KIND: &'static str = "gauge";
}

impl Instrument for Histogram {
    const KIND: &'static str = "histogram";
}

impl<L, M, C> Instrument for Family<L, M, C>
where
    L: LabelSet,
    M: Instrument,
    C: MetricConstructor<M> + Clone + Send + Sync + std::fmt::Debug + 'static,
    Family<L, M, C>: Metric,
{
    const KIND: &'static str = M::KIND;
    const LABELS: &'static [&'static str] = L::NAMES;
    fn precreate(&self) {
        for labels in L::precreated() {
            let _ = self.get_or_create(&labels);
        }
    }
}

/// A histogram family whose buckets are set by its declaration.
pub type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Registers `metric` under `doc` (prefix, `_total` and unit are the
/// registry's to add) and creates its initial series.
pub(super) fn register<M: Instrument>(registry: &mut Registry, doc: &MetricDoc, metric: &M) {
    let short = doc.name.strip_prefix("orakgarak_").unwrap_or(doc.name);
    let short = short.strip_suffix("_total").unwrap_or(short);
    // The registry ends every help text with a period of its own.
    let help = doc.help.strip_suffix('.').unwrap_or(doc.help);
    match short.strip_suffix("_seconds").filter(|_| M::KIND == "histogram") {
        Some(stem) => registry.register_with_unit(stem, help, Unit::Seconds, metric.clone()),
        None => registry.register(short, help, metric.clone()),
    }
    metric.precreate();
}

/// Declares a group of metrics, each once: field, handle type (its metric
/// type and labels), PromQL name, help, and a constructor where the default
/// will not do (histogram buckets). The group gets `DOCS` (its catalogue)
/// and a `register` that builds and registers every handle.
macro_rules! metric_group {
    ($(#[$meta:meta])* pub struct $group:ident {
        $($field:ident: $ty:ty = ($name:literal, $help:literal $(, $make:expr)?)),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $group { $(pub(in crate::telemetry) $field: $ty),* }

        impl $group {
            pub const DOCS: &'static [$crate::telemetry::metrics::MetricDoc] = &[$(
                $crate::telemetry::metrics::MetricDoc {
                    name: $name,
                    kind: <$ty as $crate::telemetry::metrics::Instrument>::KIND,
                    labels: <$ty as $crate::telemetry::metrics::Instrument>::LABELS,
                    help: $help,
                }
            ),*];

            pub(in crate::telemetry) fn register(registry: &mut prometheus_client::registry::Registry) -> Self {
                let group = Self { $($field: metric_group!(@make $ty $(, $make)?)),* };
                let mut docs = Self::DOCS.iter();
                $(
                    if let Some(doc) = docs.next() {
                        $crate::telemetry::metrics::register(registry, doc, &group.$field);
                    }
                )*
                group
            }
        }
    };
    (@make $ty:ty) => { <$ty>::default() };
    (@make $ty:ty, $make:expr) => { $make };
}
pub(super) use metric_group;

/// The classic text format (0.0.4) from an OpenMetrics exposition, for
/// scrapers and tools (promtool, curl) that do not ask for OpenMetrics:
/// counters' HELP/TYPE carry `_total`, and there are no UNIT/EOF lines.
pub fn to_text_format(openmetrics: &str) -> String {
    let counters: Vec<&str> =
        openmetrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let rewritten = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(&name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(rewritten.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::events::{catalog, Metrics};

    #[test]
    fn every_catalogued_metric_is_exposed_under_its_name_and_type() {
        let text = to_text_format(&Metrics::new().encode());
        for doc in catalog() {
            assert!(
                text.contains(&format!("# TYPE {} {}\n", doc.name, doc.kind)),
                "{} ({}) missing:\n{text}",
                doc.name,
                doc.kind
            );
            assert!(
                text.contains(&format!("# HELP {} {}\n", doc.name, doc.help)),
                "{} help differs:\n{text}",
                doc.name
            );
        }
    }
}

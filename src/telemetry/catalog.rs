//! The metrics catalogue: every metric orakgarak exposes, read from the
//! declarations beside the events that write them (`telemetry::events`).
//! `docs/metrics.md` is rendered from it; a test checks the live exposition
//! against it, and alert rules and dashboards may use only what it lists.

pub use super::events::catalog as all;
pub use super::metrics::MetricDoc;

/// `docs/metrics.md`.
pub fn render_markdown() -> String {
    let mut out = String::from(
        "# Metrics catalogue\n\nGenerated from the metric declarations in `src/telemetry/events/` (a test fails when this\n\
         file is stale; regenerate with `ORAKGARAK_BLESS=1 cargo test --lib catalog`). Every service role exposes\n\
         these on `http.metrics_listen` at `/metrics` (OpenMetrics text). Label values come from closed sets\n\
         (`src/telemetry/labels.rs`); no metric carries an upload, user or trace id.\n\n\
         | Metric | Type | Labels | Meaning |\n|---|---|---|---|\n",
    );
    for m in all() {
        let labels = if m.labels.is_empty() { "—".to_owned() } else { m.labels.join(", ") };
        out.push_str(&format!("| `{}` | {} | {} | {} |\n", m.name, m.kind, labels, m.help));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_metrics_md_is_generated_from_the_catalog() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md");
        let rendered = render_markdown();
        if std::env::var_os("ORAKGARAK_BLESS").is_some() {
            std::fs::write(path, &rendered).expect("write docs/metrics.md");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(committed == rendered, "docs/metrics.md is stale: run `ORAKGARAK_BLESS=1 cargo test --lib catalog`");
    }

    #[test]
    fn no_metric_is_declared_twice() {
        let mut names: Vec<&str> = all().map(|m| m.name).collect();
        let declared = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), declared, "a metric name is declared in two groups");
    }
}

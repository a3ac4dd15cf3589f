//! Grafana dashboards as code: a small typed model of Grafana's dashboard
//! JSON (`model.rs`), one builder per dashboard, and thresholds read from
//! the alert rules (the `threshold` annotation), so a threshold line on a
//! graph and the alert that pages on it cannot disagree.
//! `orakgarak dashboards` writes `dashboards/*.json`; a test fails when the
//! committed files differ from what this code generates.

mod boards;
mod model;
mod thresholds;

pub use boards::all_dashboards;
pub use model::{Dashboard, Panel, Target};
pub use thresholds::AlertThresholds;

/// Pinned datasource uids of the provisioned datasources; dashboards refer
/// to them only through the `datasource` / `loki` template variables.
pub const PROMETHEUS_UID: &str = "orakgarak-prometheus";
pub const LOKI_UID: &str = "orakgarak-loki";

/// Metrics that exist only in production (GPU nodes with the DCGM
/// exporter): panels using them must parse and name catalogued metrics, but
/// cannot have data on a machine without a GPU.
pub const PRODUCTION_ONLY_METRICS: &[&str] = &["DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_GPU_UTIL"];

/// Renders every dashboard as pretty JSON with a trailing newline, by file name.
pub fn render(thresholds: &AlertThresholds) -> Vec<(String, String)> {
    all_dashboards(thresholds)
        .into_iter()
        .map(|d| {
            let json = serde_json::to_string_pretty(&d).unwrap_or_default();
            (format!("{}.json", d.uid.trim_start_matches("orakgarak-")), json + "\n")
        })
        .collect()
}

//! The metrics catalogue: every metric orakgarak exposes, with type, labels
//! and meaning. `Metrics::new` takes its help texts from here, a test checks
//! the live exposition against it, and `docs/metrics.md` is generated from
//! it. Alert rules and dashboards may use only what is listed here.

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

macro_rules! metric {
    ($name:literal, $kind:literal, [$($label:literal),*], $help:literal) => {
        MetricDoc { name: $name, kind: $kind, labels: &[$($label),*], help: $help }
    };
}

pub const CATALOG: &[MetricDoc] = &[
    metric!("orakgarak_http_requests_total", "counter", ["method", "route", "status_class"], "HTTP requests answered, by method, route template and status class (2xx..5xx)."),
    metric!("orakgarak_http_request_duration_seconds", "histogram", ["method", "route"], "Time to answer an HTTP request, by method and route template."),
    metric!("orakgarak_uploads_created_total", "counter", [], "Uploads created (a presigned URL was handed out)."),
    metric!("orakgarak_uploads_rejected_total", "counter", ["reason"], "Uploads refused: too_large, empty, invalid_request, unsupported_type at the API; size_mismatch, oversize_object on the object-created event."),
    metric!("orakgarak_upload_transitions_total", "counter", ["from", "to"], "Upload state transitions, by from/to state."),
    metric!("orakgarak_uploads_in_state", "gauge", ["state"], "Uploads currently in each of the 12 states (read from the database every 10 s by the process running the watchdog)."),
    metric!("orakgarak_stage_duration_seconds", "histogram", ["stage", "outcome"], "Time one stage run took, by stage and outcome (success, transient_error, permanent_error)."),
    metric!("orakgarak_messages_consumed_total", "counter", ["stage", "lane"], "Kafka messages consumed, by stage and lane (realtime, bulk)."),
    metric!("orakgarak_messages_produced_total", "counter", ["stage", "lane"], "Stage messages the outbox relay produced to Kafka, by stage and lane."),
    metric!("orakgarak_messages_duplicate_total", "counter", ["stage", "lane"], "Redelivered or stale messages skipped without running the stage again."),
    metric!("orakgarak_stage_runs_awaited_total", "counter", ["stage", "lane"], "Messages that found their upload's stage still running elsewhere (under a live lease: a rebalance handed the message over, or the watchdog re-drove a slow run) and waited for that run instead of starting another."),
    metric!("orakgarak_messages_retried_total", "counter", ["stage", "lane"], "Stage runs that failed transiently and will be retried after a backoff."),
    metric!("orakgarak_messages_dead_lettered_total", "counter", ["stage", "reason"], "Messages sent to a dead-letter topic, by stage and reason (not_retryable, exhausted, expired_window, poison, stuck)."),
    metric!("orakgarak_outbox_pending", "gauge", [], "Messages written to the outbox and not yet acknowledged by Kafka."),
    metric!("orakgarak_consumer_lag", "gauge", ["stage", "lane", "partition"], "Messages not yet consumed per stage topic partition (librdkafka statistics, every 5 s); removed while the consumer is not running, so it never reports a frozen value."),
    metric!("orakgarak_consumer_in_flight", "gauge", ["stage", "lane"], "Messages a stage consumer has received and not finished (running, waiting for their upload's earlier message, or waiting for the database)."),
    metric!("orakgarak_consumer_last_message_timestamp_seconds", "gauge", ["stage", "lane"], "Unix time a stage consumer last finished a message (0 = none since start)."),
    metric!("orakgarak_stage_timeouts_total", "counter", ["stage"], "Stage runs cut off by their time limit (counted as transient failures and retried)."),
    metric!("orakgarak_task_running", "gauge", ["task"], "1 while a supervised task runs, 0 while it is down and waiting to restart (task: relay, watchdog, state_gauge, consumer.<stage>.<lane>)."),
    metric!("orakgarak_task_restarts_total", "counter", ["task"], "Supervised tasks that failed, returned or panicked and were restarted with backoff."),
    metric!("orakgarak_kafka_brokers_up", "gauge", [], "Kafka brokers this process's consumers see in state UP (librdkafka statistics, every 5 s); -1 until the first statistics (or in a process without consumers)."),
    metric!("orakgarak_start_time_seconds", "gauge", [], "Unix time this process started (alerts use it to stay quiet after a restart)."),
    metric!("orakgarak_analysis_permits_in_use", "gauge", [], "Analyses running now (the GPU guard)."),
    metric!("orakgarak_analysis_permits", "gauge", [], "Analysis permits configured."),
    metric!("orakgarak_analysis_permit_wait_seconds", "histogram", [], "Time an analysis waited for a permit."),
    metric!("orakgarak_external_call_timeouts_total", "counter", ["dependency"], "External calls that hit their time limit, by dependency (s3, model_server)."),
    metric!("orakgarak_watchdog_runs_started_total", "counter", [], "Watchdog runs started (cron ticks and --once)."),
    metric!("orakgarak_watchdog_runs_total", "counter", ["outcome"], "Watchdog runs finished, by outcome (success, failure, skipped: another watchdog held the lock)."),
    metric!("orakgarak_watchdog_run_duration_seconds", "histogram", [], "Time one watchdog run took."),
    metric!("orakgarak_watchdog_last_success_timestamp_seconds", "gauge", [], "Unix time of the last successful watchdog run (0 = none since start): the dead man's switch."),
    metric!("orakgarak_watchdog_stuck_found_total", "counter", ["state"], "Stuck uploads found, by the state they were stuck in (CREATED = URL expired without an event)."),
    metric!("orakgarak_watchdog_redrives_total", "counter", ["state"], "Stuck uploads re-driven on the bulk lane, by state."),
    metric!("orakgarak_watchdog_given_up_total", "counter", ["state"], "Uploads failed into the DLQ (reason stuck) after the maximum re-drives, by state."),
    metric!("orakgarak_watchdog_reconciled_total", "counter", [], "Uploads whose object-created event was lost but whose object was found (HEAD)."),
    metric!("orakgarak_watchdog_expired_total", "counter", [], "Uploads expired: no object arrived before the URL expired."),
    metric!("orakgarak_log_events_dropped_total", "counter", ["reason"], "Log lines that never reached Loki, by reason (queue_full, push_failed)."),
    metric!("orakgarak_log_events_shipped_total", "counter", [], "Log lines Loki accepted."),
    metric!("orakgarak_loki_pushes_total", "counter", ["outcome"], "Pushes to Loki, by outcome (success, failure)."),
    metric!("orakgarak_log_queue_lines", "gauge", [], "Log lines waiting to be shipped to Loki (bounded by log.loki_queue_lines)."),
    metric!("orakgarak_build_info", "gauge", ["version", "git_sha"], "Build information; always 1."),
];

/// Help text for a metric registered as `short` (no prefix, unit or `_total`).
pub fn help(short: &str) -> &'static str {
    let full = format!("orakgarak_{short}");
    CATALOG
        .iter()
        .find(|m| m.family() == full || m.family() == format!("{full}_seconds"))
        .map_or("(not catalogued)", |m| m.help)
}

/// `docs/metrics.md`.
pub fn render_markdown() -> String {
    let mut out = String::from(
        "# Metrics catalogue\n\nGenerated from `src/telemetry/catalog.rs` (a test fails when this file is stale;\n\
         regenerate with `ORAKGARAK_BLESS=1 cargo test --lib catalog`). Every service role exposes these on\n\
         `http.metrics_listen` at `/metrics` (OpenMetrics text). Label values come from closed sets;\n\
         no metric carries an upload, user or trace id.\n\n| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n",
    );
    for m in CATALOG {
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
    fn every_registered_family_has_catalogued_help() {
        let text = crate::telemetry::Metrics::new().encode();
        assert!(!text.contains("(not catalogued)"), "{text}");
    }
}

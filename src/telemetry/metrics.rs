//! The metrics registry. Every label value comes from a closed set (enums
//! here, or the state/stage names), never from ids.

use std::sync::Arc;

use axum::{http::header, http::StatusCode, response::IntoResponse, routing::get, Router};
use std::fmt::Write;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry, Unit};

use super::catalog::help;
use crate::domain::Lane;
use tokio::net::TcpListener;

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    Redirect,
    ClientError,
    ServerError,
}

impl StatusClass {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Success => "2xx",
            Self::Redirect => "3xx",
            Self::ClientError => "4xx",
            Self::ServerError => "5xx",
        }
    }

    pub fn of(status: u16) -> Self {
        match status {
            500.. => Self::ServerError,
            400.. => Self::ClientError,
            300.. => Self::Redirect,
            _ => Self::Success,
        }
    }
}

impl EncodeLabelValue for StatusClass {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for Lane {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The route template (`/v1/uploads/{id}`), never the raw path.
    pub route: String,
    pub status_class: StatusClass,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpRouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    pub from: &'static str,
    pub to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub stage: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    pub stage: &'static str,
    pub lane: Lane,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LagLabels {
    pub stage: &'static str,
    pub lane: Lane,
    /// Bounded by the configured partition count.
    pub partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeadLetterLabels {
    pub stage: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DependencyLabels {
    pub dependency: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    /// A supervised task: `relay`, `watchdog`, `state_gauge` or
    /// `consumer.<stage>.<lane>` (a closed set of nine).
    pub task: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageOnlyLabels {
    pub stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: &'static str,
    pub git_sha: &'static str,
}

/// All metric handles. Cheap to clone (everything inside is shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<HttpRouteLabels, Histogram>,
    pub uploads_created: Counter,
    pub uploads_rejected: Family<ReasonLabels, Counter>,
    pub transitions: Family<TransitionLabels, Counter>,
    pub uploads_in_state: Family<StateLabels, Gauge>,
    pub stage_duration: Family<StageLabels, Histogram>,
    pub messages_consumed: Family<TopicLabels, Counter>,
    pub messages_produced: Family<TopicLabels, Counter>,
    pub messages_duplicate: Family<TopicLabels, Counter>,
    pub stage_runs_awaited: Family<TopicLabels, Counter>,
    pub messages_retried: Family<TopicLabels, Counter>,
    pub messages_dead_lettered: Family<DeadLetterLabels, Counter>,
    pub outbox_pending: Gauge,
    pub consumer_lag: Family<LagLabels, Gauge>,
    pub consumer_in_flight: Family<TopicLabels, Gauge>,
    pub consumer_last_message: Family<TopicLabels, Gauge>,
    pub stage_timeouts: Family<StageOnlyLabels, Counter>,
    pub task_running: Family<TaskLabels, Gauge>,
    pub task_restarts: Family<TaskLabels, Counter>,
    pub kafka_brokers_up: Gauge,
    pub start_time: Gauge,
    pub analysis_permits_in_use: Gauge,
    pub analysis_permits_total: Gauge,
    pub analysis_permit_wait: Histogram,
    pub external_call_timeouts: Family<DependencyLabels, Counter>,
    pub watchdog_runs_started: Counter,
    pub watchdog_runs: Family<OutcomeLabels, Counter>,
    pub watchdog_duration: Histogram,
    pub watchdog_last_success: Gauge,
    pub watchdog_stuck_found: Family<StateLabels, Counter>,
    pub watchdog_redrives: Family<StateLabels, Counter>,
    pub watchdog_given_up: Family<StateLabels, Counter>,
    pub watchdog_reconciled: Counter,
    pub watchdog_expired: Counter,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("orakgarak");
        let m = Self {
            registry: Arc::new(Registry::default()),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(|| {
                // 1 ms .. ~4 s: the API must answer well under 200 ms.
                Histogram::new(exponential_buckets(0.001, 2.0, 13))
            }),
            uploads_created: Counter::default(),
            uploads_rejected: Family::default(),
            transitions: Family::default(),
            uploads_in_state: Family::default(),
            stage_duration: Family::new_with_constructor(|| {
                // 10 ms .. ~5 min: convert/recommend take milliseconds,
                // analysis of a long take on a busy GPU takes minutes.
                Histogram::new(exponential_buckets(0.01, 2.5, 12))
            }),
            messages_consumed: Family::default(),
            messages_produced: Family::default(),
            messages_duplicate: Family::default(),
            stage_runs_awaited: Family::default(),
            messages_retried: Family::default(),
            messages_dead_lettered: Family::default(),
            outbox_pending: Gauge::default(),
            consumer_lag: Family::default(),
            consumer_in_flight: Family::default(),
            consumer_last_message: Family::default(),
            stage_timeouts: Family::default(),
            task_running: Family::default(),
            task_restarts: Family::default(),
            kafka_brokers_up: Gauge::default(),
            start_time: Gauge::default(),
            analysis_permits_in_use: Gauge::default(),
            analysis_permits_total: Gauge::default(),
            analysis_permit_wait: Histogram::new(exponential_buckets(0.001, 3.0, 12)),
            external_call_timeouts: Family::default(),
            watchdog_runs_started: Counter::default(),
            watchdog_runs: Family::default(),
            // 10 ms .. ~80 s: a scan is a handful of indexed queries plus
            // one transaction per stuck upload.
            watchdog_duration: Histogram::new(exponential_buckets(0.01, 2.5, 11)),
            watchdog_last_success: Gauge::default(),
            watchdog_stuck_found: Family::default(),
            watchdog_redrives: Family::default(),
            watchdog_given_up: Family::default(),
            watchdog_reconciled: Counter::default(),
            watchdog_expired: Counter::default(),
        };
        let r = &mut registry;
        add(r, "http_requests", m.http_requests.clone());
        seconds(r, "http_request_duration", m.http_duration.clone());
        add(r, "uploads_created", m.uploads_created.clone());
        add(r, "uploads_rejected", m.uploads_rejected.clone());
        add(r, "upload_transitions", m.transitions.clone());
        add(r, "uploads_in_state", m.uploads_in_state.clone());
        seconds(r, "stage_duration", m.stage_duration.clone());
        add(r, "messages_consumed", m.messages_consumed.clone());
        add(r, "messages_produced", m.messages_produced.clone());
        add(r, "messages_duplicate", m.messages_duplicate.clone());
        add(r, "stage_runs_awaited", m.stage_runs_awaited.clone());
        add(r, "messages_retried", m.messages_retried.clone());
        add(r, "messages_dead_lettered", m.messages_dead_lettered.clone());
        add(r, "outbox_pending", m.outbox_pending.clone());
        add(r, "consumer_lag", m.consumer_lag.clone());
        add(r, "consumer_in_flight", m.consumer_in_flight.clone());
        add(r, "consumer_last_message_timestamp_seconds", m.consumer_last_message.clone());
        add(r, "stage_timeouts", m.stage_timeouts.clone());
        add(r, "task_running", m.task_running.clone());
        add(r, "task_restarts", m.task_restarts.clone());
        add(r, "kafka_brokers_up", m.kafka_brokers_up.clone());
        add(r, "start_time_seconds", m.start_time.clone());
        m.start_time.set(chrono::Utc::now().timestamp());
        add(r, "analysis_permits_in_use", m.analysis_permits_in_use.clone());
        add(r, "analysis_permits", m.analysis_permits_total.clone());
        seconds(r, "analysis_permit_wait", m.analysis_permit_wait.clone());
        add(r, "external_call_timeouts", m.external_call_timeouts.clone());
        add(r, "watchdog_runs_started", m.watchdog_runs_started.clone());
        add(r, "watchdog_runs", m.watchdog_runs.clone());
        seconds(r, "watchdog_run_duration", m.watchdog_duration.clone());
        add(r, "watchdog_last_success_timestamp_seconds", m.watchdog_last_success.clone());
        add(r, "watchdog_stuck_found", m.watchdog_stuck_found.clone());
        add(r, "watchdog_redrives", m.watchdog_redrives.clone());
        add(r, "watchdog_given_up", m.watchdog_given_up.clone());
        add(r, "watchdog_reconciled", m.watchdog_reconciled.clone());
        add(r, "watchdog_expired", m.watchdog_expired.clone());
        let ship = super::loki::ship_counters();
        add(r, "log_events_dropped", ship.dropped.clone());
        add(r, "log_events_shipped", ship.shipped.clone());
        add(r, "loki_pushes", ship.pushes.clone());
        add(r, "log_queue_lines", ship.queued.clone());
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                git_sha: option_env!("ORAKGARAK_GIT_SHA").unwrap_or("unknown"),
            })
            .set(1);
        add(r, "build_info", build);
        m.precreate();
        Self { registry: Arc::new(registry), ..m }
    }

    /// Creates every series of the closed label sets at 0, so the first
    /// event after a (re)start is an increase `increase()`/`rate()` can see
    /// (a series born at 1 looks like no change at all).
    fn precreate(&self) {
        use crate::domain::{Stage, UploadState};
        for stage in Stage::ALL.map(Stage::as_str) {
            for reason in ["not_retryable", "exhausted", "expired_window", "poison", "stuck"] {
                let _ = self.messages_dead_lettered.get_or_create(&DeadLetterLabels { stage, reason });
            }
            for lane in [Lane::Realtime, Lane::Bulk] {
                let labels = TopicLabels { stage, lane };
                let _ = self.messages_consumed.get_or_create(&labels);
                let _ = self.messages_produced.get_or_create(&labels);
                let _ = self.messages_duplicate.get_or_create(&labels);
                let _ = self.stage_runs_awaited.get_or_create(&labels);
                let _ = self.messages_retried.get_or_create(&labels);
            }
            let _ = self.stage_timeouts.get_or_create(&StageOnlyLabels { stage });
            for outcome in ["success", "transient_error", "permanent_error"] {
                let _ = self.stage_duration.get_or_create(&StageLabels { stage, outcome });
            }
        }
        for reason in ["too_large", "empty", "invalid_request", "unsupported_type", "size_mismatch", "oversize_object"]
        {
            let _ = self.uploads_rejected.get_or_create(&ReasonLabels { reason });
        }
        for dependency in ["s3", "model_server"] {
            let _ = self.external_call_timeouts.get_or_create(&DependencyLabels { dependency });
        }
        for state in UploadState::ALL {
            let _ = self.uploads_in_state.get_or_create(&StateLabels { state: state.as_str() });
        }
        for state in UploadState::ALL.into_iter().filter(|s| !s.is_terminal()) {
            let labels = StateLabels { state: state.as_str() };
            let _ = self.watchdog_stuck_found.get_or_create(&labels);
            let _ = self.watchdog_redrives.get_or_create(&labels);
            let _ = self.watchdog_given_up.get_or_create(&labels);
        }
        for (method, route) in [("POST", "/v1/uploads"), ("GET", "/v1/uploads/{id}"), ("POST", "/v1/events/s3")] {
            for status_class in [StatusClass::Success, StatusClass::ClientError, StatusClass::ServerError] {
                let _ = self.http_requests.get_or_create(&HttpLabels {
                    method: method.into(),
                    route: route.into(),
                    status_class,
                });
            }
        }
        let ship = super::loki::ship_counters();
        for reason in ["queue_full", "push_failed"] {
            let _ = ship.dropped.get_or_create(&super::loki::DropLabels { reason });
        }
        for outcome in ["success", "failure"] {
            let _ = ship.pushes.get_or_create(&super::loki::OutcomeLabels { outcome });
        }
        // No statistics yet: -1, not 0 ("no broker up"), so processes
        // without consumers never look like a broker outage.
        self.kafka_brokers_up.set(-1);
    }

    pub fn watchdog_run(&self, outcome: &'static str) {
        self.watchdog_runs.get_or_create(&OutcomeLabels { outcome }).inc();
    }
    pub fn watchdog_found(&self, state: crate::domain::UploadState) {
        self.watchdog_stuck_found.get_or_create(&StateLabels { state: state.as_str() }).inc();
    }
    pub fn watchdog_redriven(&self, state: crate::domain::UploadState) {
        self.watchdog_redrives.get_or_create(&StateLabels { state: state.as_str() }).inc();
    }
    pub fn watchdog_given_up(&self, state: crate::domain::UploadState) {
        self.watchdog_given_up.get_or_create(&StateLabels { state: state.as_str() }).inc();
    }

    pub fn set_task_running(&self, task: &'static str, running: bool) {
        self.task_running.get_or_create(&TaskLabels { task }).set(i64::from(running));
        // Created at 0 with the task, so the first restart is an increase.
        let _ = self.task_restarts.get_or_create(&TaskLabels { task });
    }

    /// Drops a stopped consumer's lag series: a consumer that is not
    /// running reports no lag rather than a frozen one.
    pub fn clear_consumer_lag(&self, stage: crate::domain::Stage, lane: Lane, partitions: i32) {
        for partition in 0..partitions {
            self.remove_consumer_lag(stage, lane, partition);
        }
    }

    /// Drops one partition's lag series (revoked, or its consumer stopped).
    pub fn remove_consumer_lag(&self, stage: crate::domain::Stage, lane: Lane, partition: i32) {
        self.consumer_lag.remove(&LagLabels { stage: stage.as_str(), lane, partition });
    }

    pub fn set_consumer_lag(&self, stage: crate::domain::Stage, lane: Lane, partition: i32, lag: i64) {
        self.consumer_lag.get_or_create(&LagLabels { stage: stage.as_str(), lane, partition }).set(lag);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers `metric` under `name` with its help text from the catalogue.
fn add(registry: &mut Registry, name: &str, metric: impl Metric) {
    registry.register(name, help(name), metric);
}

/// `add` for a metric measured in seconds (the unit suffix is appended).
fn seconds(registry: &mut Registry, name: &str, metric: impl Metric) {
    registry.register_with_unit(name, help(name), Unit::Seconds, metric);
}

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

/// Serves `/metrics` on its own listener until the task is dropped:
/// OpenMetrics when the scraper accepts it (Prometheus does), else 0.0.4.
/// Every process (API or worker) also answers `/healthz` and `/readyz`
/// here: 503 with the list of supervised tasks while any is not running.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Metrics,
    health: crate::supervisor::Health,
) -> anyhow::Result<()> {
    let ready = move || {
        let (ok, tasks) = health.report();
        let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        (status, axum::Json(serde_json::json!({ "ready": ok, "tasks": tasks })))
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(move || std::future::ready(ready())))
        .route(
            "/metrics",
            get(move |headers: axum::http::HeaderMap| {
                let metrics = metrics.clone();
                async move {
                    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
                    if accept.contains("application/openmetrics-text") {
                        (
                            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
                            metrics.encode(),
                        )
                            .into_response()
                    } else {
                        (
                            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                            to_text_format(&metrics.encode()),
                        )
                            .into_response()
                    }
                }
            }),
        );
    axum::serve(listener, app).await?;
    Ok(())
}

//! The six dashboards. PromQL uses `$__rate_interval` in every rate and
//! increase, counters only through them, and label matchers only on
//! bounded labels; LogQL selects streams only by service, env and level.

use super::model::*;
use super::AlertThresholds;

const TAG: &str = "orakgarak";
const J: &str = r#"job=~"$job""#;

struct Board {
    dashboard: Dashboard,
    x: u32,
    y: u32,
    row_h: u32,
}

impl Board {
    fn new(uid: &str, title: &str, description: &str, loki: bool) -> Self {
        let mut variables = vec![Variable::datasource("datasource", "Prometheus", "prometheus")];
        if loki {
            variables.push(Variable::datasource("loki", "Loki", "loki"));
        }
        variables.push(Variable::label_values("job", "Job", "label_values(orakgarak_build_info, job)"));
        Self {
            dashboard: Dashboard {
                uid: uid.into(),
                title: format!("orakgarak / {title}"),
                description: description.into(),
                tags: vec![TAG.into()],
                schema_version: SCHEMA_VERSION,
                version: 1,
                editable: true,
                graph_tooltip: 1,
                time: TimeRange { from: "now-6h".into(), to: "now".into() },
                refresh: "30s".into(),
                timezone: "browser".into(),
                links: vec![Link {
                    kind: "dashboards".into(),
                    title: "orakgarak".into(),
                    tags: vec![TAG.into()],
                    as_dropdown: true,
                    include_vars: true,
                    keep_time: true,
                    icon: "external link".into(),
                    target_blank: false,
                    tooltip: String::new(),
                }],
                templating: Templating { list: variables },
                annotations: Annotations { list: vec![] },
                panels: vec![],
            },
            x: 0,
            y: 0,
            row_h: 0,
        }
    }

    fn var(mut self, variable: Variable) -> Self {
        self.dashboard.templating.list.push(variable);
        self
    }

    fn add(mut self, mut panel: Panel) -> Self {
        if self.x + panel.grid_pos.w > 24 {
            self.x = 0;
            self.y += self.row_h;
            self.row_h = 0;
        }
        panel.id = self.dashboard.panels.len() as u32 + 1;
        panel.grid_pos.x = self.x;
        panel.grid_pos.y = self.y;
        self.x += panel.grid_pos.w;
        self.row_h = self.row_h.max(panel.grid_pos.h);
        self.dashboard.panels.push(panel);
        self
    }

    fn build(self) -> Dashboard {
        self.dashboard
    }
}

fn table(title: &str, description: &str) -> Panel {
    Panel::new("table", title, description, Some("none"), DatasourceRef::prometheus())
}

fn ts(title: &str, description: &str, unit: &str) -> Panel {
    Panel::new("timeseries", title, description, Some(unit), DatasourceRef::prometheus())
}

pub fn all_dashboards(t: &AlertThresholds) -> Vec<Dashboard> {
    vec![overview(t), pipeline(t), watchdog(t), infrastructure(t), logs(), alerts()]
}

fn overview(t: &AlertThresholds) -> Dashboard {
    Board::new("orakgarak-overview", "Overview", "Rate, errors, duration and saturation of every orakgarak service. Start here.", false)
        .add(ts("Request rate", "HTTP requests answered per second, by route template.", "reqps")
            .query(&format!("sum by (route) (rate(orakgarak_http_requests_total{{{J}}}[$__rate_interval]))"), "{{route}}"))
        .add(ts("Error ratio (5xx)", "Share of API requests answered 5xx. Lines: the api-availability objective's ticket (3x its budget) and page (14.4x) burn thresholds.", "percentunit")
            .query(&format!("sum(rate(orakgarak_http_requests_total{{{J},status_class=\"5xx\"}}[$__rate_interval])) / sum(rate(orakgarak_http_requests_total{{{J}}}[$__rate_interval]))"), "5xx ratio")
            .thresholds(t.get("ApiAvailabilityBudgetBurn", "warning"), Some(t.get("ApiAvailabilityBudgetBurn", "critical"))).min_zero())
        .add(ts("POST /v1/uploads latency", "p50 and p99 time to create an upload. Line: the api-latency objective's bound (99 % within 200 ms).", "s")
            .query(&format!("histogram_quantile(0.99, sum by (le) (rate(orakgarak_http_request_duration_seconds_bucket{{{J},method=\"POST\",route=\"/v1/uploads\"}}[$__rate_interval])))"), "p99")
            .query(&format!("histogram_quantile(0.5, sum by (le) (rate(orakgarak_http_request_duration_seconds_bucket{{{J},method=\"POST\",route=\"/v1/uploads\"}}[$__rate_interval])))"), "p50")
            .thresholds(crate::slo::API_LATENCY_BOUND_SECONDS, None).min_zero())
        .add(ts("Stage duration p95", "95th percentile of one stage run, by stage.", "s")
            .query(&format!("histogram_quantile(0.95, sum by (le, stage) (rate(orakgarak_stage_duration_seconds_bucket{{{J}}}[$__rate_interval])))"), "{{stage}}"))
        .add(ts("Uploads finished", "Uploads reaching COMPLETED, FAILED, REJECTED or EXPIRED per second.", "ops")
            .query(&format!("sum by (to) (rate(orakgarak_upload_transitions_total{{{J},to=~\"COMPLETED|FAILED|REJECTED|EXPIRED\"}}[$__rate_interval]))"), "{{to}}"))
        .add(ts("Analysis saturation", "Analysis permits in use over permits configured: 100 % means the GPU guard is full and requests wait in Kafka.", "percentunit")
            .query(&format!("sum(orakgarak_analysis_permits_in_use{{{J}}}) / sum(orakgarak_analysis_permits{{{J}}})"), "in use").min_zero())
        .add(ts("Uploads rejected", "Uploads refused at the API or on the object-created event, per second, by reason.", "ops")
            .query(&format!("sum by (reason) (rate(orakgarak_uploads_rejected_total{{{J}}}[$__rate_interval]))"), "{{reason}}").min_zero())
        .add(ts("Log shipping", "Log lines dropped on the way to Loki (by reason) and failed pushes, per second.", "ops")
            .query(&format!("sum by (reason) (rate(orakgarak_log_events_dropped_total{{{J}}}[$__rate_interval]))"), "dropped {{reason}}")
            .query(&format!("sum(rate(orakgarak_loki_pushes_total{{{J},outcome=\"failure\"}}[$__rate_interval]))"), "failed pushes").min_zero())
        .add(table("Builds running", "Version and git sha of every running instance.")
            .query(&format!("orakgarak_build_info{{{J}}}"), "").size(24, 6))
        .add(ts("Objectives: error ratio over 1 h", "Each service level objective's error ratio over the last hour (src/slo.rs). A page needs 14.4x the error budget over 1 h and 5 min; a ticket 3x over 1 d and 2 h.", "percentunit")
            .query(&format!("max by (slo) (slo:sli_error:ratio_rate1h{{{J}}})"), "{{slo}}").min_zero())
        .add(ts("Time to a result", "p50 and p99 from an upload's arrival to its result, realtime lane. Line: the pipeline-freshness objective's bound (99 % within 60 s).", "s")
            .query(&format!("histogram_quantile(0.99, sum by (le) (rate(orakgarak_upload_result_seconds_bucket{{{J},lane=\"realtime\"}}[$__rate_interval])))"), "p99")
            .query(&format!("histogram_quantile(0.5, sum by (le) (rate(orakgarak_upload_result_seconds_bucket{{{J},lane=\"realtime\"}}[$__rate_interval])))"), "p50")
            .thresholds(crate::slo::FRESHNESS_BOUND_SECONDS, None).min_zero())
        .build()
}

fn pipeline(t: &AlertThresholds) -> Dashboard {
    Board::new("orakgarak-pipeline", "Pipeline", "Uploads through convert, analyze and recommend: states, throughput, latency, retries, dead letters, consumer lag.", false)
        .add(Panel::new("bargauge", "Uploads by state", "Uploads currently in each state, in pipeline order: a funnel from CREATED to COMPLETED.", Some("short"), DatasourceRef::prometheus())
            .query(&format!("max by (state) (orakgarak_uploads_in_state{{{J}}})"), "{{state}}").size(24, 9))
        .add(ts("Stage throughput", "Successful stage runs per second, by stage.", "ops")
            .query(&format!("sum by (stage) (rate(orakgarak_stage_duration_seconds_count{{{J},outcome=\"success\"}}[$__rate_interval]))"), "{{stage}}"))
        .add(ts("Stage latency", "p50 and p95 of successful stage runs, by stage.", "s")
            .query(&format!("histogram_quantile(0.95, sum by (le, stage) (rate(orakgarak_stage_duration_seconds_bucket{{{J},outcome=\"success\"}}[$__rate_interval])))"), "p95 {{stage}}")
            .query(&format!("histogram_quantile(0.5, sum by (le, stage) (rate(orakgarak_stage_duration_seconds_bucket{{{J},outcome=\"success\"}}[$__rate_interval])))"), "p50 {{stage}}"))
        .add(ts("Stage failure ratio", "Failed (transient or permanent) over all stage runs. Failures page through the pipeline-freshness objective, when singers feel them.", "percentunit")
            .query(&format!("sum by (stage) (rate(orakgarak_stage_duration_seconds_count{{{J},outcome!=\"success\"}}[$__rate_interval])) / sum by (stage) (rate(orakgarak_stage_duration_seconds_count{{{J}}}[$__rate_interval]))"), "{{stage}}")
            .min_zero())
        .add(ts("Retries", "Stage runs retried after a transient failure, per second, by stage and lane.", "ops")
            .query(&format!("sum by (stage, lane) (rate(orakgarak_messages_retried_total{{{J}}}[$__rate_interval]))"), "{{stage}} {{lane}}"))
        .add(ts("Dead letters", "Messages sent to a dead-letter topic, by stage and reason. Any is an operator's job: dlq list, fix, dlq replay.", "short")
            .query(&format!("sum by (stage, reason) (increase(orakgarak_messages_dead_lettered_total{{{J}}}[$__rate_interval]))"), "{{stage}} {{reason}}").min_zero())
        .add(ts("Consumer lag per partition", "Messages waiting per stage topic partition and lane.", "short")
            .query(&format!("max by (stage, lane, partition) (orakgarak_consumer_lag{{{J}}})"), "{{stage}} {{lane}} p{{partition}}")
            .min_zero())
        .add(ts("Partition balance", "Share of a topic's lag held by its most loaded partition.", "percentunit")
            .query(&format!("max by (stage, lane) (orakgarak_consumer_lag{{{J}}}) / sum by (stage, lane) (orakgarak_consumer_lag{{{J}}})"), "{{stage}} {{lane}}")
            .min_zero())
        .add(ts("Outbox pending", "Messages written to the outbox and not yet acknowledged by Kafka. Line: the OutboxBacklog threshold.", "short")
            .query(&format!("max(orakgarak_outbox_pending{{{J}}})"), "pending")
            .thresholds(t.get("OutboxBacklog", "warning"), None).min_zero())
        .add(ts("Messages consumed and produced", "Kafka messages per second, by stage and lane; duplicates were skipped without running the stage; awaited ones found the stage still running elsewhere and waited for that run.", "ops")
            .query(&format!("sum by (stage, lane) (rate(orakgarak_messages_consumed_total{{{J}}}[$__rate_interval]))"), "consumed {{stage}} {{lane}}")
            .query(&format!("sum by (stage, lane) (rate(orakgarak_messages_produced_total{{{J}}}[$__rate_interval]))"), "produced {{stage}} {{lane}}")
            .query(&format!("sum by (stage) (rate(orakgarak_messages_duplicate_total{{{J}}}[$__rate_interval]))"), "duplicate {{stage}}")
            .query(&format!("sum by (stage) (rate(orakgarak_stage_runs_awaited_total{{{J}}}[$__rate_interval]))"), "awaited {{stage}}"))
        .add(ts("Analysis permit wait", "p95 time an analysis waited for one of the GPU permits.", "s")
            .query(&format!("histogram_quantile(0.95, sum by (le) (rate(orakgarak_analysis_permit_wait_seconds_bucket{{{J}}}[$__rate_interval])))"), "p95 wait"))
        .add(ts("Supervised tasks running", "Instances where each consumer, the relay and the watchdog run. A dip is a task that failed and is restarting with backoff; /readyz of that instance says why.", "short")
            .query(&format!("sum by (task) (orakgarak_task_running{{{J}}})"), "{{task}}").min_zero())
        .add(ts("Task restarts", "Supervised tasks that failed, returned or panicked and were restarted, by task.", "short")
            .query(&format!("sum by (task) (increase(orakgarak_task_restarts_total{{{J}}}[$__rate_interval]))"), "{{task}}").min_zero())
        .add(ts("Since a consumer last finished a message", "Seconds since each stage consumer last finished a message (newest over instances). Growing while uploads wait is a stalled pipeline (PipelineStalled).", "s")
            .query(&format!("time() - max by (stage, lane) (orakgarak_consumer_last_message_timestamp_seconds{{{J}}} > 0)"), "{{stage}} {{lane}}").min_zero())
        .add(ts("Messages in flight", "Messages each stage consumer has received and not finished (running, queued behind the same upload, or waiting for the database); stage runs cut off by their time limit.", "short")
            .query(&format!("sum by (stage, lane) (orakgarak_consumer_in_flight{{{J}}})"), "{{stage}} {{lane}}")
            .query(&format!("sum by (stage) (increase(orakgarak_stage_timeouts_total{{{J}}}[$__rate_interval]))"), "timed out {{stage}}").min_zero())
        .add(ts("Starved consumers and rejoins", "Stage consumers that hold, or see, messages nobody consumes (1 while /readyz is 503 for it), and how often one left its group to rejoin with a fresh client.", "short")
            .query(&format!("sum by (stage, lane) (orakgarak_consumer_starved{{{J}}})"), "starved {{stage}} {{lane}}")
            .query(&format!("sum by (stage, lane) (increase(orakgarak_consumer_rejoins_total{{{J}}}[$__rate_interval]))"), "rejoined {{stage}} {{lane}}").min_zero())
        .build()
}

fn watchdog(t: &AlertThresholds) -> Dashboard {
    Board::new("orakgarak-watchdog", "Watchdog", "The 30-minute scan for stuck uploads: runs, what it found, re-drives, give-ups, reconciliation.", false)
        .add(Panel::new("stat", "Last successful run", "Seconds since the watchdog last finished a run. Orange at the WatchdogNotRunning window (65 min).", Some("s"), DatasourceRef::prometheus())
            .query(&format!("time() - max(orakgarak_watchdog_last_success_timestamp_seconds{{{J}}} > 0)"), "age")
            .thresholds(3900.0, None).size(8, 6))
        .add(ts("Runs", "Watchdog runs by outcome (skipped: another watchdog held the lock).", "short")
            .query(&format!("sum by (outcome) (increase(orakgarak_watchdog_runs_total{{{J}}}[$__rate_interval]))"), "{{outcome}}").size(16, 6).min_zero())
        .add(ts("Stuck uploads found", "Uploads found past their state's threshold, by state (CREATED: URL expired without an event).", "short")
            .query(&format!("sum by (state) (increase(orakgarak_watchdog_stuck_found_total{{{J}}}[$__rate_interval]))"), "{{state}}").min_zero())
        .add(ts("Re-drives and give-ups", "Uploads re-driven on the bulk lane, and failed into the DLQ after the maximum re-drives.", "short")
            .query(&format!("sum by (state) (increase(orakgarak_watchdog_redrives_total{{{J}}}[$__rate_interval]))"), "re-driven {{state}}")
            .query(&format!("sum by (state) (increase(orakgarak_watchdog_given_up_total{{{J}}}[$__rate_interval]))"), "given up {{state}}").min_zero())
        .add(ts("Reconciled and expired", "Lost object-created events recovered by HEAD, and uploads whose object never came.", "short")
            .query(&format!("sum(increase(orakgarak_watchdog_reconciled_total{{{J}}}[$__rate_interval]))"), "reconciled")
            .query(&format!("sum(increase(orakgarak_watchdog_expired_total{{{J}}}[$__rate_interval]))"), "expired").min_zero())
        .add(ts("Run duration", "Mean duration of a watchdog run. Line: the WatchdogRunSlow threshold.", "s")
            .query(&format!("sum(rate(orakgarak_watchdog_run_duration_seconds_sum{{{J}}}[$__rate_interval])) / sum(rate(orakgarak_watchdog_run_duration_seconds_count{{{J}}}[$__rate_interval]))"), "mean")
            .thresholds(t.get("WatchdogRunSlow", "warning"), None))
        .build()
}

fn infrastructure(t: &AlertThresholds) -> Dashboard {
    let node = Variable::label_values("node", "Host", "label_values(node_cpu_seconds_total, instance)");
    let fs = r#"instance=~"$node",fstype!~"tmpfs|overlay|squashfs|ramfs",mountpoint!~"/run.*|/boot.*""#;
    Board::new("orakgarak-infrastructure", "Infrastructure", "Hosts, PostgreSQL and GPUs under orakgarak, with the alert thresholds drawn in.", false)
        .var(node)
        .add(ts("CPU busy", "Share of CPU time not idle, per host. Line: HostHighCpu (80 %).", "percent")
            .query(r#"100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{instance=~"$node",mode="idle"}[$__rate_interval])))"#, "{{instance}}")
            .thresholds(t.get("HostHighCpu", "warning"), None).min_zero())
        .add(ts("Memory used", "Share of memory not available, per host. Line: HostHighMemory (80 %).", "percent")
            .query(r#"100 * (1 - node_memory_MemAvailable_bytes{instance=~"$node"} / node_memory_MemTotal_bytes{instance=~"$node"})"#, "{{instance}}")
            .thresholds(t.get("HostHighMemory", "warning"), None).min_zero())
        .add(ts("Disk used", "Share of each filesystem in use. Line: HostDiskFull (85 %).", "percent")
            .query(&format!("100 * (1 - node_filesystem_avail_bytes{{{fs}}} / node_filesystem_size_bytes{{{fs}}})"), "{{instance}} {{mountpoint}}")
            .thresholds(t.get("HostDiskFull", "warning"), None).min_zero())
        .add(ts("PostgreSQL connections", "Backends connected to each database, next to max_connections.", "short")
            .query("sum by (datname) (pg_stat_database_numbackends)", "{{datname}}")
            .query("max(pg_settings_max_connections)", "max_connections").min_zero())
        .add(ts("PostgreSQL transactions", "Commits and rollbacks per second.", "ops")
            .query("sum(rate(pg_stat_database_xact_commit[$__rate_interval]))", "commits")
            .query("sum(rate(pg_stat_database_xact_rollback[$__rate_interval]))", "rollbacks"))
        .add(ts("PostgreSQL cache hit ratio", "Blocks found in shared buffers over all blocks read.", "percentunit")
            .query("sum(rate(pg_stat_database_blks_hit[$__rate_interval])) / (sum(rate(pg_stat_database_blks_hit[$__rate_interval])) + sum(rate(pg_stat_database_blks_read[$__rate_interval])))", "hit ratio"))
        .add(ts("GPU VRAM used", "Framebuffer in use per GPU (DCGM exporter, production only). Line: GpuVramHigh (95 %).", "percent")
            .query("100 * DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)", "{{Hostname}} gpu{{gpu}}")
            .thresholds(t.get("GpuVramHigh", "warning"), None).min_zero())
        .add(ts("GPU utilisation", "GPU busy per device (DCGM exporter, production only).", "percent")
            .query("DCGM_FI_DEV_GPU_UTIL", "{{Hostname}} gpu{{gpu}}").min_zero())
        .build()
}

fn logs() -> Dashboard {
    let loki = |title: &str, description: &str, expr: &str| {
        Panel::new("logs", title, description, None, DatasourceRef::loki()).query(expr, "").size(24, 10)
    };
    let env = Variable::custom("env", "Environment", &["prod", "staging", "dev"]);
    let trace = Variable::textbox("traceId", "traceId");
    Board::new("orakgarak-logs", "Logs", "Loki: errors by role, every line of one upload by traceId, dead letters and watchdog runs. Streams are selected by service, env and level only; everything else is a JSON field.", true)
        .var(env)
        .var(trace)
        .add(Panel::new("timeseries", "Error lines by role", "ERROR lines per interval, by the role field (api, convert, analyze, recommend, watchdog).", Some("short"), DatasourceRef::loki())
            .query(r#"sum by (role) (count_over_time({env="$env", level="error"} | json [$__auto]))"#, "{{role}}").size(24, 8))
        .add(loki("Every line of one upload", "Paste a traceId (from x-trace-id, an error body, GET /v1/uploads/{id} or a DLQ message) into the traceId box.",
            r#"{env="$env"} |= "$traceId" | json | traceId = "$traceId""#))
        .add(loki("Dead-lettered messages", "Each message that reached a dead-letter topic, with stage, reason, upload and trace.",
            r#"{env="$env", level="error"} |= "dead-lettered" | json | line_format "{{.stage}} {{.reason}} upload={{.uploadId}} trace={{.traceId}}: {{.error}}""#))
        .add(loki("Watchdog runs and actions", "One line per run with its counts, one per re-drive or give-up.",
            r#"{env="$env"} |= `"role":"watchdog"` | json | role = "watchdog""#))
        .build()
}

fn alerts() -> Dashboard {
    Board::new("orakgarak-alerts", "Alerts", "What is firing and pending now, from Prometheus's ALERTS series.", false)
        .add(
            table("Firing now", "Alerts firing now, by name, severity and service.")
                .query(r#"sum by (alertname, severity, service) (ALERTS{alertstate="firing"})"#, "")
                .size(12, 10),
        )
        .add(
            table("Pending now", "Alerts whose condition holds but whose `for` has not elapsed yet.")
                .query(r#"sum by (alertname, severity, service) (ALERTS{alertstate="pending"})"#, "")
                .size(12, 10),
        )
        .add(
            ts("Firing over time", "Number of firing alerts by severity.", "short")
                .query(r#"sum by (severity) (ALERTS{alertstate="firing"})"#, "{{severity}}")
                .size(24, 8)
                .min_zero(),
        )
        .build()
}

//! The watchdog: its runs (the dead man's switch), the stuck uploads it
//! finds and what it does with them, and the uploads in each state.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use super::Emit;
use super::Metrics;
use crate::domain::{Stage, UploadState};
use crate::telemetry::labels::{RunOutcome, RunOutcomeLabels, StateLabels, WatchedStateLabels};
use crate::telemetry::metrics::metric_group;

metric_group! {
    pub struct WatchdogMetrics {
        uploads_in_state: Family<StateLabels, Gauge> = (
            "orakgarak_uploads_in_state",
            "Uploads currently in each of the 12 states (read from the database every 10 s by the process running the watchdog)."
        ),
        runs_started: Counter =
            ("orakgarak_watchdog_runs_started_total", "Watchdog runs started (cron ticks and --once)."),
        runs: Family<RunOutcomeLabels, Counter> = (
            "orakgarak_watchdog_runs_total",
            "Watchdog runs finished, by outcome (success, failure, skipped: another watchdog held the lock)."
        ),
        run_duration: Histogram = (
            "orakgarak_watchdog_run_duration_seconds",
            "Time one watchdog run took.",
            // 10 ms .. ~80 s: a scan is a handful of indexed queries plus one
            // transaction per stuck upload.
            Histogram::new(exponential_buckets(0.01, 2.5, 11))
        ),
        last_success: Gauge = (
            "orakgarak_watchdog_last_success_timestamp_seconds",
            "Unix time of the last successful watchdog run (0 = none since start): the dead man's switch."
        ),
        stuck_found: Family<WatchedStateLabels, Counter> = (
            "orakgarak_watchdog_stuck_found_total",
            "Stuck uploads found, by the state they were stuck in (CREATED = URL expired without an event)."
        ),
        redrives: Family<WatchedStateLabels, Counter> =
            ("orakgarak_watchdog_redrives_total", "Stuck uploads re-driven on the bulk lane, by state."),
        given_up: Family<WatchedStateLabels, Counter> = (
            "orakgarak_watchdog_given_up_total",
            "Uploads failed into the DLQ (reason stuck) after the maximum re-drives, by state."
        ),
        reconciled: Counter = (
            "orakgarak_watchdog_reconciled_total",
            "Uploads whose object-created event was lost but whose object was found (HEAD)."
        ),
        expired: Counter =
            ("orakgarak_watchdog_expired_total", "Uploads expired: no object arrived before the URL expired."),
    }
}

/// The uploads in each state, counted in the database.
pub struct UploadsCounted<'a> {
    pub counts: &'a [(UploadState, i64)],
}

impl Emit for UploadsCounted<'_> {
    fn emit(self, metrics: &Metrics) {
        for state in UploadState::ALL {
            let n = self.counts.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
            metrics.watchdog.uploads_in_state.get_or_create(&StateLabels { state }).set(n);
        }
    }
}

/// The watchdog is on its schedule in this process: its run counters exist
/// (at 0) from now, so a watchdog that never runs is noticed.
pub struct WatchdogScheduled<'a> {
    pub schedule: &'a str,
}

impl Emit for WatchdogScheduled<'_> {
    fn emit(self, metrics: &Metrics) {
        for &outcome in RunOutcome::ALL {
            let _ = metrics.watchdog.runs.get_or_create(&RunOutcomeLabels { outcome });
        }
        tracing::info!(schedule = %self.schedule, "Watchdog scheduled.");
    }
}

pub struct WatchdogRunStarted;

impl Emit for WatchdogRunStarted {
    fn emit(self, metrics: &Metrics) {
        metrics.watchdog.runs_started.inc();
    }
}

/// Another watchdog held the lock.
pub struct WatchdogRunSkipped;

impl Emit for WatchdogRunSkipped {
    fn emit(self, metrics: &Metrics) {
        tracing::info!("Watchdog run skipped: another watchdog is scanning.");
        metrics.watchdog.runs.get_or_create(&RunOutcomeLabels { outcome: RunOutcome::Skipped }).inc();
    }
}

pub struct WatchdogRunSucceeded {
    pub found: usize,
    pub redriven: usize,
    pub given_up: usize,
    pub reconciled: usize,
    pub expired: usize,
    pub dedup_keys_purged: u64,
    pub elapsed: Duration,
}

impl Emit for WatchdogRunSucceeded {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(
            found = self.found,
            redriven = self.redriven,
            given_up = self.given_up,
            reconciled = self.reconciled,
            expired = self.expired,
            dedup_keys_purged = self.dedup_keys_purged,
            elapsed_ms = self.elapsed.as_millis() as u64,
            "Watchdog run finished."
        );
        metrics.watchdog.run_duration.observe(self.elapsed.as_secs_f64());
        metrics.watchdog.runs.get_or_create(&RunOutcomeLabels { outcome: RunOutcome::Success }).inc();
        metrics.watchdog.last_success.set(chrono::Utc::now().timestamp());
    }
}

pub struct WatchdogRunFailed<'a> {
    pub error: &'a anyhow::Error,
    pub elapsed: Duration,
}

impl Emit for WatchdogRunFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::error!(error = %format!("{:#}", self.error), "Watchdog run failed.");
        metrics.watchdog.run_duration.observe(self.elapsed.as_secs_f64());
        metrics.watchdog.runs.get_or_create(&RunOutcomeLabels { outcome: RunOutcome::Failure }).inc();
    }
}

pub struct StuckUploadFound {
    pub state: UploadState,
}

impl Emit for StuckUploadFound {
    fn emit(self, metrics: &Metrics) {
        metrics.watchdog.stuck_found.get_or_create(&WatchedStateLabels { state: self.state }).inc();
    }
}

/// A stuck upload sent back to its stage on the bulk lane.
pub struct UploadRedriven {
    pub state: UploadState,
    pub stage: Stage,
    pub stuck_for: Duration,
    pub redrive: i32,
    pub max_redrives: i32,
}

impl Emit for UploadRedriven {
    fn emit(self, metrics: &Metrics) {
        tracing::warn!(
            state = self.state.as_str(),
            stage = self.stage.as_str(),
            stuck_seconds = self.stuck_for.as_secs(),
            redrive = self.redrive,
            max_redrives = self.max_redrives,
            "Stuck upload re-driven on the bulk lane."
        );
        metrics.watchdog.redrives.get_or_create(&WatchedStateLabels { state: self.state }).inc();
    }
}

/// A stuck upload failed into the DLQ after the maximum re-drives (its
/// `MessageDeadLettered` says so at ERROR).
pub struct UploadGivenUp {
    pub state: UploadState,
}

impl Emit for UploadGivenUp {
    fn emit(self, metrics: &Metrics) {
        metrics.watchdog.given_up.get_or_create(&WatchedStateLabels { state: self.state }).inc();
    }
}

/// A lost object-created event, found by the object's presence.
pub struct UploadReconciled {
    pub to: UploadState,
}

impl Emit for UploadReconciled {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(to = self.to.as_str(), "Lost object-created event reconciled: the object is in the store.");
        metrics.watchdog.reconciled.inc();
    }
}

pub struct UploadExpired;

impl Emit for UploadExpired {
    fn emit(self, metrics: &Metrics) {
        tracing::info!("Upload expired: no object arrived before its URL expired.");
        metrics.watchdog.expired.inc();
    }
}

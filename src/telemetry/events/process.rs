//! The process itself: when it started, what build it is, and its
//! supervised tasks.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::Emit;
use super::Metrics;
use crate::telemetry::labels::{BuildLabels, LabelSet, Task, TaskLabels};
use crate::telemetry::metrics::metric_group;

metric_group! {
    pub struct ProcessMetrics {
        task_running: Family<TaskLabels, Gauge> = (
            "orakgarak_task_running",
            "1 while a supervised task runs, 0 while it is down and waiting to restart (task: relay, watchdog, state_gauge, consumer.<stage>.<lane>)."
        ),
        task_restarts: Family<TaskLabels, Counter> = (
            "orakgarak_task_restarts_total",
            "Supervised tasks that failed, returned or panicked and were restarted with backoff."
        ),
        start_time: Gauge = (
            "orakgarak_start_time_seconds",
            "Unix time this process started (alerts use it to stay quiet after a restart)."
        ),
        build_info: Family<BuildLabels, Gauge> = ("orakgarak_build_info", "Build information; always 1."),
    }
}

impl ProcessMetrics {
    /// Marks the process started, with its build.
    pub(in crate::telemetry) fn started(&self) {
        self.start_time.set(chrono::Utc::now().timestamp());
        for build in BuildLabels::precreated() {
            self.build_info.get_or_create(&build).set(1);
        }
    }
}

/// A supervised task (re)started.
pub struct TaskStarted {
    pub task: Task,
}

impl Emit for TaskStarted {
    fn emit(self, metrics: &Metrics) {
        let labels = TaskLabels { task: self.task };
        metrics.process.task_running.get_or_create(&labels).set(1);
        // Created at 0 with the task, so the first restart is an increase.
        let _ = metrics.process.task_restarts.get_or_create(&labels);
    }
}

/// A supervised task's incarnation ended (failed, or stopped on shutdown).
pub struct TaskStopped {
    pub task: Task,
}

impl Emit for TaskStopped {
    fn emit(self, metrics: &Metrics) {
        metrics.process.task_running.get_or_create(&TaskLabels { task: self.task }).set(0);
    }
}

/// A supervised task ended unexpectedly and will be restarted.
pub struct TaskFailed<'a> {
    pub task: Task,
    pub error: &'a str,
    pub restart_in: Duration,
}

impl Emit for TaskFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::error!(
            task = self.task.as_str(),
            error = self.error,
            restart_in_ms = self.restart_in.as_millis() as u64,
            "Task failed; restarting it after a backoff."
        );
        metrics.process.task_restarts.get_or_create(&TaskLabels { task: self.task }).inc();
    }
}

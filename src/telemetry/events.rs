//! Internal events: each observable thing is one struct whose `emit` writes
//! the log line and updates the metric together. This list is the metrics
//! catalog's source (see docs/metrics.md).

use std::time::Duration;

use super::metrics::{
    DeadLetterLabels, Metrics, ReasonLabels, StageLabels, StageOnlyLabels, TaskLabels, TopicLabels, TransitionLabels,
};
use crate::domain::Lane;
use crate::domain::{Stage, UploadState};

pub trait Emit {
    fn emit(self, metrics: &Metrics);
}

pub struct UploadCreated<'a> {
    pub upload_id: &'a str,
    pub bytes: u64,
}

impl Emit for UploadCreated<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(uploadId = self.upload_id, bytes = self.bytes, "Upload created.");
        metrics.uploads_created.inc();
    }
}

/// `reason` is one of a closed set: too_large, empty, invalid_request,
/// size_mismatch, oversize_object.
pub struct UploadRejected<'a> {
    pub reason: &'static str,
    pub detail: &'a str,
}

impl Emit for UploadRejected<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::warn!(reason = self.reason, detail = self.detail, "Upload rejected.");
        metrics.uploads_rejected.get_or_create(&ReasonLabels { reason: self.reason }).inc();
    }
}

pub struct UploadStateChanged<'a> {
    pub upload_id: &'a str,
    pub from: UploadState,
    pub to: UploadState,
    pub attempt: i32,
}

impl Emit for UploadStateChanged<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(
            uploadId = self.upload_id,
            from = self.from.as_str(),
            to = self.to.as_str(),
            attempt = self.attempt,
            "Upload state changed."
        );
        metrics.transitions.get_or_create(&TransitionLabels { from: self.from.as_str(), to: self.to.as_str() }).inc();
    }
}

pub struct StageCompleted {
    pub stage: Stage,
    pub elapsed: Duration,
}

impl Emit for StageCompleted {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(stage = self.stage.as_str(), elapsed_ms = self.elapsed.as_millis() as u64, "Stage completed.");
        metrics
            .stage_duration
            .get_or_create(&StageLabels { stage: self.stage.as_str(), outcome: "success" })
            .observe(self.elapsed.as_secs_f64());
    }
}

pub struct StageFailed<'a> {
    pub stage: Stage,
    pub lane: Lane,
    pub elapsed: Duration,
    pub retryable: bool,
    pub attempt: i32,
    pub error: &'a (dyn std::error::Error + 'static),
}

impl Emit for StageFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        let chain = error_chain(self.error);
        tracing::warn!(
            stage = self.stage.as_str(),
            retryable = self.retryable,
            attempt = self.attempt,
            error = %chain,
            "Stage failed."
        );
        let outcome = if self.retryable { "transient_error" } else { "permanent_error" };
        metrics
            .stage_duration
            .get_or_create(&StageLabels { stage: self.stage.as_str(), outcome })
            .observe(self.elapsed.as_secs_f64());
        if self.retryable {
            metrics.messages_retried.get_or_create(&TopicLabels { stage: self.stage.as_str(), lane: self.lane }).inc();
        }
    }
}

pub struct MessageConsumed {
    pub stage: Stage,
    pub lane: Lane,
}

impl Emit for MessageConsumed {
    fn emit(self, metrics: &Metrics) {
        metrics.messages_consumed.get_or_create(&TopicLabels { stage: self.stage.as_str(), lane: self.lane }).inc();
    }
}

pub struct DuplicateSkipped<'a> {
    pub stage: Stage,
    pub lane: Lane,
    pub why: &'a str,
}

impl Emit for DuplicateSkipped<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(stage = self.stage.as_str(), why = self.why, "Duplicate message skipped.");
        metrics.messages_duplicate.get_or_create(&TopicLabels { stage: self.stage.as_str(), lane: self.lane }).inc();
    }
}

/// A message found its upload's stage still running elsewhere, under a
/// lease until `until`, and waits for that run instead of starting another.
pub struct StageRunAwaited {
    pub stage: Stage,
    pub lane: Lane,
    pub until: chrono::DateTime<chrono::Utc>,
}

impl Emit for StageRunAwaited {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(
            stage = self.stage.as_str(),
            lease_until = %self.until.to_rfc3339(),
            "The stage is still running for this upload elsewhere; waiting for that run instead of starting another."
        );
        metrics.stage_runs_awaited.get_or_create(&TopicLabels { stage: self.stage.as_str(), lane: self.lane }).inc();
    }
}

/// `reason`: exhausted, not_retryable, expired_window, poison, stuck.
pub struct MessageDeadLettered<'a> {
    pub stage: Stage,
    pub reason: &'static str,
    pub error: &'a str,
}

impl Emit for MessageDeadLettered<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::error!(
            stage = self.stage.as_str(),
            reason = self.reason,
            error = self.error,
            "Message dead-lettered; an operator must replay it after fixing the cause."
        );
        metrics
            .messages_dead_lettered
            .get_or_create(&DeadLetterLabels { stage: self.stage.as_str(), reason: self.reason })
            .inc();
    }
}

pub struct MessageProduced {
    pub stage: Stage,
    pub lane: Lane,
}

impl Emit for MessageProduced {
    fn emit(self, metrics: &Metrics) {
        metrics.messages_produced.get_or_create(&TopicLabels { stage: self.stage.as_str(), lane: self.lane }).inc();
    }
}

pub struct ExternalCallTimedOut {
    pub dependency: &'static str,
    pub limit: Duration,
}

impl Emit for ExternalCallTimedOut {
    fn emit(self, metrics: &Metrics) {
        tracing::warn!(
            dependency = self.dependency,
            limit_ms = self.limit.as_millis() as u64,
            "External call timed out."
        );
        metrics
            .external_call_timeouts
            .get_or_create(&super::metrics::DependencyLabels { dependency: self.dependency })
            .inc();
    }
}

/// A stage run hit its time limit: a transient failure, retried.
pub struct StageTimedOut {
    pub stage: Stage,
    pub limit: Duration,
}

impl Emit for StageTimedOut {
    fn emit(self, metrics: &Metrics) {
        tracing::warn!(stage = self.stage.as_str(), limit_ms = self.limit.as_millis() as u64, "Stage run timed out.");
        metrics.stage_timeouts.get_or_create(&StageOnlyLabels { stage: self.stage.as_str() }).inc();
    }
}

/// A supervised task ended unexpectedly and will be restarted.
pub struct TaskFailed<'a> {
    pub task: &'static str,
    pub error: &'a str,
    pub restart_in: Duration,
}

impl Emit for TaskFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::error!(
            task = self.task,
            error = self.error,
            restart_in_ms = self.restart_in.as_millis() as u64,
            "Task failed; restarting it after a backoff."
        );
        metrics.task_restarts.get_or_create(&TaskLabels { task: self.task }).inc();
    }
}

/// An error and all its causes on one line: `outer: middle: root`.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

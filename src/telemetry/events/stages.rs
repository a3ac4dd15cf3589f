//! Stage runs: how long they took and how they ended, time limits, and the
//! analysis permits that guard the GPU.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use super::Metrics;
use super::{error_chain, Emit};
use crate::domain::{Lane, Stage};
use crate::telemetry::labels::{
    Dependency, DependencyLabels, StageLabels, StageOutcome, StageOutcomeLabels, TopicLabels,
};
use crate::telemetry::metrics::{metric_group, HistogramFamily};

metric_group! {
    pub struct StageMetrics {
        stage_duration: HistogramFamily<StageOutcomeLabels> = (
            "orakgarak_stage_duration_seconds",
            "Time one stage run took, by stage and outcome (success, transient_error, permanent_error).",
            // 10 ms .. ~5 min: convert/recommend take milliseconds, analysis
            // of a long take on a busy GPU takes minutes.
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.01, 2.5, 12)))
        ),
        stage_timeouts: Family<StageLabels, Counter> = (
            "orakgarak_stage_timeouts_total",
            "Stage runs cut off by their time limit (counted as transient failures and retried)."
        ),
        analysis_permits_in_use: Gauge = ("orakgarak_analysis_permits_in_use", "Analyses running now (the GPU guard)."),
        analysis_permits: Gauge = ("orakgarak_analysis_permits", "Analysis permits configured."),
        analysis_permit_wait: Histogram = (
            "orakgarak_analysis_permit_wait_seconds",
            "Time an analysis waited for a permit.",
            Histogram::new(exponential_buckets(0.001, 3.0, 12))
        ),
        external_call_timeouts: Family<DependencyLabels, Counter> = (
            "orakgarak_external_call_timeouts_total",
            "External calls that hit their time limit, by dependency (s3, model_server)."
        ),
    }
}

pub struct StageCompleted {
    pub stage: Stage,
    pub elapsed: Duration,
}

impl Emit for StageCompleted {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(stage = self.stage.as_str(), elapsed_ms = self.elapsed.as_millis() as u64, "Stage completed.");
        let labels = StageOutcomeLabels { stage: self.stage, outcome: StageOutcome::Success };
        metrics.stages.stage_duration.get_or_create(&labels).observe(self.elapsed.as_secs_f64());
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
        let outcome = if self.retryable { StageOutcome::TransientError } else { StageOutcome::PermanentError };
        let labels = StageOutcomeLabels { stage: self.stage, outcome };
        metrics.stages.stage_duration.get_or_create(&labels).observe(self.elapsed.as_secs_f64());
        if self.retryable {
            metrics.pipeline.messages_retried.get_or_create(&TopicLabels { stage: self.stage, lane: self.lane }).inc();
        }
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
        metrics.stages.stage_timeouts.get_or_create(&StageLabels { stage: self.stage }).inc();
    }
}

pub struct ExternalCallTimedOut {
    pub dependency: Dependency,
    pub limit: Duration,
}

impl Emit for ExternalCallTimedOut {
    fn emit(self, metrics: &Metrics) {
        tracing::warn!(
            dependency = self.dependency.as_str(),
            limit_ms = self.limit.as_millis() as u64,
            "External call timed out."
        );
        metrics.stages.external_call_timeouts.get_or_create(&DependencyLabels { dependency: self.dependency }).inc();
    }
}

/// How many analyses may run at once in this process.
pub struct AnalysisPermitsConfigured {
    pub permits: usize,
}

impl Emit for AnalysisPermitsConfigured {
    fn emit(self, metrics: &Metrics) {
        metrics.stages.analysis_permits.set(self.permits as i64);
    }
}

/// An analysis got its permit after waiting `waited`.
pub struct AnalysisPermitAcquired {
    pub waited: Duration,
}

impl Emit for AnalysisPermitAcquired {
    fn emit(self, metrics: &Metrics) {
        metrics.stages.analysis_permit_wait.observe(self.waited.as_secs_f64());
        metrics.stages.analysis_permits_in_use.inc();
    }
}

/// An analysis gave its permit back.
pub struct AnalysisPermitReleased;

impl Emit for AnalysisPermitReleased {
    fn emit(self, metrics: &Metrics) {
        metrics.stages.analysis_permits_in_use.dec();
    }
}

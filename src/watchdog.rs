//! The watchdog: on a cron schedule (every 30 minutes by default), finds
//! uploads stuck in a non-terminal state past that state's threshold and
//! re-drives them on the bulk lane (at most `max_redrives` times, then
//! FAILED + DLQ with reason "stuck"); reconciles uploads whose
//! object-created event was lost (HEAD the object after the URL expired).
//!
//! Only one watchdog scans at a time (a PostgreSQL advisory lock), and every
//! action re-checks the upload under a row lock, so a worker finishing the
//! same upload at the same moment wins cleanly: no double processing, no
//! state going backwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::WatchdogSettings;
use crate::domain::{DeadLetterReason, Stage, TraceContext, UploadState};
use crate::pipeline::{
    advance, fail_to_dlq, object_arrived, Arrival, DeadLetter, DeadLetterUpload, StageMessage, Topics, Trigger,
};
use crate::storage::ObjectStore;
use crate::store::{self, Store, StoreError, TransitionMeta, Upload};
use crate::telemetry::events::{
    StuckUploadFound, UploadExpired, UploadGivenUp, UploadReconciled, UploadRedriven, WatchdogRunFailed,
    WatchdogRunSkipped, WatchdogRunStarted, WatchdogRunSucceeded, WatchdogScheduled,
};
use crate::telemetry::{traces, Emit, Metrics};

/// `pg_try_advisory_lock` key: "orakgarak watchdog".
const LOCK_KEY: i64 = 0x6f72_616b_7764_6f67;

/// What one run did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct RunReport {
    /// Another watchdog held the lock; this run did nothing.
    pub skipped: bool,
    pub found: usize,
    pub redriven: usize,
    pub given_up: usize,
    pub reconciled: usize,
    pub expired: usize,
    /// Consumer dedup keys older than the topics' retention, deleted.
    pub dedup_keys_purged: u64,
}

pub struct Watchdog {
    pub store: Store,
    pub objects: ObjectStore,
    pub topics: Topics,
    pub metrics: Metrics,
    pub settings: WatchdogSettings,
    pub max_upload_bytes: u64,
    /// Dedup keys are kept this long (`pipeline.dedup_retention`).
    pub dedup_retention: Duration,
}

/// What a reconciliation found for an upload whose URL expired.
enum Found {
    /// The object: its event was lost.
    Object,
    /// Nothing: the singer never uploaded.
    Nothing,
}

/// Non-terminal states the watchdog watches once the object has arrived
/// (CREATED is reconciled by expiry instead).
fn watched() -> impl Iterator<Item = UploadState> {
    UploadState::ALL.into_iter().filter(|s| !s.is_terminal() && *s != UploadState::Created)
}

impl Watchdog {
    /// One scan. Safe to call from several processes at once.
    pub async fn run_once(&self) -> anyhow::Result<RunReport> {
        let span = tracing::info_span!(
            "watchdog_run",
            role = "watchdog",
            traceId = tracing::field::Empty,
            spanId = tracing::field::Empty
        );
        let run = traces::start(&span, None, &[]);
        async {
            WatchdogRunStarted.emit(&self.metrics);
            let started = Instant::now();
            let mut lock = self.store.pool().acquire().await?;
            let locked: bool =
                sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LOCK_KEY).fetch_one(&mut *lock).await?;
            if !locked {
                WatchdogRunSkipped.emit(&self.metrics);
                return Ok(RunReport { skipped: true, ..RunReport::default() });
            }
            let result = self.scan(&run).await;
            // Release on the same connection, whatever happened.
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK_KEY).execute(&mut *lock).await;
            let elapsed = started.elapsed();
            match result {
                Ok(report) => {
                    WatchdogRunSucceeded {
                        found: report.found,
                        redriven: report.redriven,
                        given_up: report.given_up,
                        reconciled: report.reconciled,
                        expired: report.expired,
                        dedup_keys_purged: report.dedup_keys_purged,
                        elapsed,
                    }
                    .emit(&self.metrics);
                    Ok(report)
                }
                Err(error) => {
                    WatchdogRunFailed { error: &error, elapsed }.emit(&self.metrics);
                    Err(error)
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Uploads a run would act on, without acting: CREATED past expiry,
    /// then each watched state past its threshold (at most `batch_limit`
    /// per state). Every query is served by a partial index.
    pub async fn candidates(&self) -> anyhow::Result<Vec<Upload>> {
        let limit = self.settings.batch_limit;
        let mut found = self.store.find_expired_created(self.settings.expiry_grace, limit).await?;
        for state in watched() {
            found.extend(self.store.find_stuck(state, self.settings.thresholds.for_state(state), limit).await?);
        }
        Ok(found)
    }

    /// `run` is the run's span: every re-drive and reconciliation links to it.
    async fn scan(&self, run: &TraceContext) -> anyhow::Result<RunReport> {
        let mut report = RunReport::default();
        for upload in self.candidates().await? {
            report.found += 1;
            StuckUploadFound { state: upload.state }.emit(&self.metrics);
            if upload.state == UploadState::Created {
                self.reconcile(&upload, run, &mut report).await?;
            } else {
                let threshold = self.settings.thresholds.for_state(upload.state);
                self.redrive_or_give_up(&upload, threshold, run, &mut report).await?;
            }
        }
        let mut conn = self.store.pool().acquire().await?;
        report.dedup_keys_purged = store::purge_processed(&mut conn, self.dedup_retention).await?;
        Ok(report)
    }

    /// The object-created event never came: look for the object itself.
    async fn reconcile(&self, upload: &Upload, run: &TraceContext, report: &mut RunReport) -> anyhow::Result<()> {
        let span = crate::upload_span!("watchdog_reconcile", "watchdog", upload.id);
        let trace = traces::start(&span, Some(&upload.trace()), &[*run]);
        async {
            let size = self.objects.head(&upload.object_key).await.context("HEAD of an expired upload's object")?;
            let limit = self.max_upload_bytes;
            let mut tx = self.store.pool().begin().await?;
            let (changed, outcome) = match size {
                Some(size) => {
                    match object_arrived(&mut tx, &self.topics, upload, size, limit, Trigger::Redrive, &trace).await? {
                        Arrival::Accepted(changed) | Arrival::Rejected { changed, .. } => (changed, Found::Object),
                        Arrival::Duplicate => return Ok(()),
                    }
                }
                None => {
                    let current = Store::lock_upload(&mut tx, upload.id).await?;
                    if current.state != UploadState::Created {
                        return Ok(());
                    }
                    let meta = TransitionMeta {
                        attempt: 0,
                        error: Some("no object arrived before the upload URL expired".into()),
                        trace_id: trace.trace_id.to_string(),
                    };
                    let to = UploadState::Expired;
                    (advance(&mut tx, upload.id, UploadState::Created, to, &meta, None).await?, Found::Nothing)
                }
            };
            tx.commit().await?;
            let to = changed.to;
            changed.emit(&self.metrics);
            match outcome {
                Found::Object => {
                    report.reconciled += 1;
                    UploadReconciled { to }.emit(&self.metrics);
                }
                Found::Nothing => {
                    report.expired += 1;
                    UploadExpired.emit(&self.metrics);
                }
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn redrive_or_give_up(
        &self,
        upload: &Upload,
        threshold: Duration,
        run: &TraceContext,
        report: &mut RunReport,
    ) -> anyhow::Result<()> {
        let span = crate::upload_span!("watchdog_redrive", "watchdog", upload.id);
        let trace = traces::start(&span, Some(&upload.trace()), &[*run]);
        async {
            let mut tx = self.store.pool().begin().await?;
            let current = Store::lock_upload(&mut tx, upload.id).await?;
            // A worker moved it since the scan: it is not stuck.
            if current.state != upload.state || current.updated_at != upload.updated_at {
                tracing::debug!("Upload moved on since the scan; left alone.");
                return Ok(());
            }
            let stage = match current.state {
                UploadState::Retrying => current.retry_stage,
                state => Stage::ALL.into_iter().find(|s| s.input_state() == state || s.working_state() == state),
            }
            .ok_or_else(|| StoreError::Corrupt(format!("{} is not a stage state", current.state)))?;
            let stuck_for = (chrono::Utc::now() - current.updated_at).to_std().unwrap_or(threshold);
            if current.redrives >= self.settings.max_redrives {
                let error = format!(
                    "stuck in {} for {}s after {} automatic re-drives",
                    current.state,
                    stuck_for.as_secs(),
                    current.redrives
                );
                let payload = serde_json::to_vec(&StageMessage::new(upload.id, stage, Trigger::Redrive))?;
                let letter = DeadLetterUpload {
                    id: upload.id,
                    from: current.state,
                    letter: DeadLetter {
                        stage,
                        key: upload.id.to_string(),
                        payload,
                        origin: None,
                        trace: &trace,
                        attempt: current.attempt,
                        error: &error,
                        reason: DeadLetterReason::Stuck,
                    },
                };
                let dead = fail_to_dlq(&mut tx, &self.topics, letter).await?;
                tx.commit().await?;
                report.given_up += 1;
                UploadGivenUp { state: current.state }.emit(&self.metrics);
                dead.emit(&self.metrics);
            } else {
                let count = Store::record_redrive(&mut tx, upload.id).await?;
                let message = StageMessage::new(upload.id, stage, Trigger::Redrive);
                store::enqueue(&mut tx, &message.to_outbox(&self.topics, &trace)).await?;
                tx.commit().await?;
                report.redriven += 1;
                UploadRedriven {
                    state: current.state,
                    stage,
                    stuck_for,
                    redrive: count,
                    max_redrives: self.settings.max_redrives,
                }
                .emit(&self.metrics);
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}

/// Runs the watchdog on its cron schedule until `shutdown`.
pub async fn run_scheduled(watchdog: Arc<Watchdog>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let schedule = watchdog.settings.schedule.clone();
    let metrics = watchdog.metrics.clone();
    let mut scheduler = JobScheduler::new().await?;
    let job = Job::new_async(schedule.as_str(), move |_id, _lock| {
        let watchdog = watchdog.clone();
        Box::pin(async move {
            // Failures are logged and counted inside; the next tick retries.
            let _ = watchdog.run_once().await;
        })
    })
    .with_context(|| format!("invalid watchdog.schedule {schedule:?} (6 fields, seconds first)"))?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    // The dead man's switch needs the run series to exist (at 0) from here
    // on, or a watchdog that never runs would never be noticed.
    WatchdogScheduled { schedule: &schedule }.emit(&metrics);
    shutdown.cancelled().await;
    scheduler.shutdown().await?;
    Ok(())
}

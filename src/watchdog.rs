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
use crate::domain::{Stage, TraceContext, UploadState};
use crate::pipeline::{advance, fail_to_dlq, object_arrived, Arrival, DeadLetterUpload, StageMessage, Topics, Trigger};
use crate::storage::ObjectStore;
use crate::store::{self, Store, StoreError, TransitionMeta, Upload};
use crate::telemetry::{traces, Metrics};

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
            self.metrics.watchdog_runs_started.inc();
            let started = Instant::now();
            let mut lock = self.store.pool().acquire().await?;
            let locked: bool =
                sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LOCK_KEY).fetch_one(&mut *lock).await?;
            if !locked {
                tracing::info!("Watchdog run skipped: another watchdog is scanning.");
                self.metrics.watchdog_run("skipped");
                return Ok(RunReport { skipped: true, ..RunReport::default() });
            }
            let result = self.scan(&run).await;
            // Release on the same connection, whatever happened.
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK_KEY).execute(&mut *lock).await;
            let elapsed = started.elapsed();
            self.metrics.watchdog_duration.observe(elapsed.as_secs_f64());
            match result {
                Ok(report) => {
                    self.metrics.watchdog_run("success");
                    self.metrics.watchdog_last_success.set(chrono::Utc::now().timestamp());
                    tracing::info!(
                        found = report.found,
                        redriven = report.redriven,
                        given_up = report.given_up,
                        reconciled = report.reconciled,
                        expired = report.expired,
                        dedup_keys_purged = report.dedup_keys_purged,
                        elapsed_ms = elapsed.as_millis() as u64,
                        "Watchdog run finished."
                    );
                    Ok(report)
                }
                Err(error) => {
                    self.metrics.watchdog_run("failure");
                    tracing::error!(error = %format!("{error:#}"), "Watchdog run failed.");
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
            self.metrics.watchdog_found(upload.state);
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
        let trace = traces::start(&span, upload.trace().as_ref(), &[*run]);
        async {
            let size = self.objects.head(&upload.object_key).await.context("HEAD of an expired upload's object")?;
            let limit = self.max_upload_bytes;
            let mut tx = self.store.pool().begin().await?;
            let (changed, outcome) = match size {
                Some(size) => {
                    match object_arrived(&mut tx, &self.topics, upload, size, limit, Trigger::Redrive, &trace).await? {
                        Arrival::Accepted(changed) | Arrival::Rejected { changed, .. } => (changed, "reconciled"),
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
                    (advance(&mut tx, upload.id, UploadState::Created, to, &meta, None).await?, "expired")
                }
            };
            tx.commit().await?;
            let to = changed.to;
            changed.emit(&self.metrics);
            if outcome == "reconciled" {
                report.reconciled += 1;
                self.metrics.watchdog_reconciled.inc();
                tracing::info!(to = to.as_str(), "Lost object-created event reconciled: the object is in the store.");
            } else {
                report.expired += 1;
                self.metrics.watchdog_expired.inc();
                tracing::info!("Upload expired: no object arrived before its URL expired.");
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
        let trace = traces::start(&span, upload.trace().as_ref(), &[*run]);
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
                    stage,
                    payload,
                    origin: None,
                    trace: &trace,
                    attempt: current.attempt,
                    error: &error,
                    reason: "stuck",
                };
                let dead = fail_to_dlq(&mut tx, &self.topics, letter).await?;
                tx.commit().await?;
                report.given_up += 1;
                self.metrics.watchdog_given_up(current.state);
                dead.emit(&self.metrics);
            } else {
                let count = Store::record_redrive(&mut tx, upload.id).await?;
                let message = StageMessage::new(upload.id, stage, Trigger::Redrive);
                store::enqueue(&mut tx, &message.to_outbox(&self.topics, &trace)).await?;
                tx.commit().await?;
                report.redriven += 1;
                self.metrics.watchdog_redriven(current.state);
                tracing::warn!(
                    state = current.state.as_str(),
                    stage = stage.as_str(),
                    stuck_seconds = stuck_for.as_secs(),
                    redrive = count,
                    max_redrives = self.settings.max_redrives,
                    "Stuck upload re-driven on the bulk lane."
                );
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}

/// Runs the watchdog on its cron schedule until `shutdown`.
pub async fn run_scheduled(watchdog: Arc<Watchdog>, shutdown: CancellationToken) -> anyhow::Result<()> {
    // The dead man's switch needs the series to exist (at 0) before the
    // first run, or a watchdog that never runs would never be noticed.
    for outcome in ["success", "failure", "skipped"] {
        let _ =
            watchdog.metrics.watchdog_runs.get_or_create(&crate::telemetry::metrics_labels::OutcomeLabels { outcome });
    }
    let schedule = watchdog.settings.schedule.clone();
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
    tracing::info!(schedule = %schedule, "Watchdog scheduled.");
    shutdown.cancelled().await;
    scheduler.shutdown().await?;
    Ok(())
}

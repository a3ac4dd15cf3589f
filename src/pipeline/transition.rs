//! The one way an upload changes state: compare-and-set in the caller's
//! transaction, the history row, and the message the change causes written
//! to the outbox in the same transaction. "Fail into the dead-letter topic"
//! is built on it. The engine, the event intake, the watchdog and
//! `dlq replay` all go through here; the returned value is emitted (log
//! line + metric) once the caller has committed.
#![deny(clippy::unwrap_used, clippy::expect_used)]

use sqlx::PgConnection;

use super::message::{dead_letter, Origin};
use super::Topics;
use crate::domain::{Stage, TraceContext, UploadId, UploadState};
use crate::store::{self, OutboxMessage, Store, StoreError, TransitionMeta};
use crate::telemetry::events::{MessageDeadLettered, UploadStateChanged};
use crate::telemetry::{Emit, Metrics};

/// A state change written in a transaction that has not been announced yet.
#[must_use = "emit it after the transaction commits"]
#[derive(Debug)]
pub struct Changed {
    pub upload_id: UploadId,
    pub from: UploadState,
    pub to: UploadState,
    pub attempt: i32,
}

impl Changed {
    pub fn emit(self, metrics: &Metrics) {
        UploadStateChanged {
            upload_id: &self.upload_id.to_string(),
            from: self.from,
            to: self.to,
            attempt: self.attempt,
        }
        .emit(metrics);
    }
}

/// Moves `id` from `from` to `to` (refused unless the table allows it and
/// the upload is still in `from`) and queues `then`, all in `conn`'s
/// transaction.
pub async fn advance(
    conn: &mut PgConnection,
    id: UploadId,
    from: UploadState,
    to: UploadState,
    meta: &TransitionMeta,
    then: Option<&OutboxMessage>,
) -> Result<Changed, StoreError> {
    Store::transition(conn, id, from, to, meta).await?;
    if let Some(message) = then {
        store::enqueue(conn, message).await?;
    }
    Ok(Changed { upload_id: id, from, to, attempt: meta.attempt })
}

/// An upload that will not succeed by itself: what goes with it to the
/// dead-letter topic.
pub struct DeadLetterUpload<'a> {
    pub id: UploadId,
    pub from: UploadState,
    pub stage: Stage,
    /// The message that failed as consumed (or as it would have been).
    pub payload: Vec<u8>,
    pub origin: Option<Origin<'a>>,
    pub trace: &'a TraceContext,
    pub attempt: i32,
    pub error: &'a str,
    /// not_retryable, exhausted, expired_window, stuck.
    pub reason: &'static str,
}

#[must_use = "emit it after the transaction commits"]
pub struct DeadLettered {
    changed: Changed,
    stage: Stage,
    reason: &'static str,
    error: String,
}

impl DeadLettered {
    pub fn emit(self, metrics: &Metrics) {
        self.changed.emit(metrics);
        MessageDeadLettered { stage: self.stage, reason: self.reason, error: &self.error }.emit(metrics);
    }
}

/// Moves the upload to FAILED and writes its dead letter, in `conn`'s
/// transaction. Only an operator's `dlq replay` moves it on.
pub async fn fail_to_dlq(
    conn: &mut PgConnection,
    topics: &Topics,
    letter: DeadLetterUpload<'_>,
) -> Result<DeadLettered, StoreError> {
    let meta = TransitionMeta {
        attempt: letter.attempt,
        error: Some(letter.error.to_owned()),
        trace_id: letter.trace.trace_id.to_string(),
    };
    let message = dead_letter(
        topics,
        letter.stage,
        letter.id.to_string(),
        letter.payload,
        letter.trace,
        letter.origin,
        letter.error,
        letter.attempt,
        letter.reason,
    );
    let changed = advance(conn, letter.id, letter.from, UploadState::Failed, &meta, Some(&message)).await?;
    Ok(DeadLettered { changed, stage: letter.stage, reason: letter.reason, error: letter.error.to_owned() })
}

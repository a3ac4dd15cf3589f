//! The one way an upload changes state: compare-and-set in the caller's
//! transaction, the history row, and the message the change causes written
//! to the outbox in the same transaction. "Fail into the dead-letter topic"
//! is built on it. The engine, the event intake, the watchdog and
//! `dlq replay` all go through here; the returned value is emitted (log
//! line + metric) once the caller has committed.
#![deny(clippy::unwrap_used, clippy::expect_used)]

use sqlx::PgConnection;

use super::message::DeadLetter;
use super::Topics;
use crate::domain::{DeadLetterReason, Stage, UploadId, UploadState};
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
    /// The state it fails from.
    pub from: UploadState,
    pub letter: DeadLetter<'a>,
}

#[must_use = "emit it after the transaction commits"]
pub struct DeadLettered {
    changed: Changed,
    stage: Stage,
    reason: DeadLetterReason,
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
    let DeadLetterUpload { id, from, letter } = letter;
    let meta = TransitionMeta {
        attempt: letter.attempt,
        error: Some(letter.error.to_owned()),
        trace_id: letter.trace.trace_id.to_string(),
    };
    let (stage, reason, error) = (letter.stage, letter.reason, letter.error.to_owned());
    let message = letter.to_outbox(topics);
    let changed = advance(conn, id, from, UploadState::Failed, &meta, Some(&message)).await?;
    Ok(DeadLettered { changed, stage, reason, error })
}

//! What happens when an upload's object is known to exist — from the
//! object-created event (API) or from the watchdog's HEAD (reconciliation).

use sqlx::PgConnection;

use super::transition::{advance, Changed};
use super::{StageMessage, Topics, Trigger};
use crate::domain::{RejectReason, Stage, TraceContext, UploadState};
use crate::store::{Store, StoreError, TransitionMeta, Upload};

/// What the arrival did; the `Changed` is emitted after the commit.
#[derive(Debug)]
pub enum Arrival {
    /// Size verified; convert is queued.
    Accepted(Changed),
    /// The object breaks the size rules; the upload is REJECTED.
    Rejected { reason: RejectReason, detail: String, changed: Changed },
    /// The upload had already moved on: nothing changed.
    Duplicate,
}

/// In the caller's transaction: locks the upload, checks the stored size
/// against the limit and the declaration (checked again whatever the
/// signature promised), and moves CREATED → UPLOADED (queuing convert on
/// the lane `trigger` implies) or CREATED → REJECTED. `trace` is the
/// caller's span: the parent of the convert message.
pub async fn object_arrived(
    conn: &mut PgConnection,
    topics: &Topics,
    upload: &Upload,
    size: u64,
    limit: u64,
    trigger: Trigger,
    trace: &TraceContext,
) -> Result<Arrival, StoreError> {
    let current = Store::lock_upload(conn, upload.id).await?;
    if current.state != UploadState::Created {
        return Ok(Arrival::Duplicate);
    }
    let declared = current.declared_bytes as u64;
    let rejection = if size > limit {
        Some((RejectReason::OversizeObject, format!("stored object is {size} bytes, over the {limit} byte limit")))
    } else if size != declared {
        Some((RejectReason::SizeMismatch, format!("stored object is {size} bytes, {declared} were declared")))
    } else {
        None
    };
    let meta = |error: Option<String>| TransitionMeta { attempt: 0, error, trace_id: trace.trace_id.to_string() };
    Store::set_stored_bytes(conn, upload.id, i64::try_from(size).unwrap_or(i64::MAX)).await?;
    Ok(match rejection {
        Some((reason, detail)) => {
            let meta = meta(Some(detail.clone()));
            let changed = advance(conn, upload.id, UploadState::Created, UploadState::Rejected, &meta, None).await?;
            Arrival::Rejected { reason, detail, changed }
        }
        None => {
            let convert = StageMessage::new(upload.id, Stage::Convert, trigger).to_outbox(topics, trace);
            let to = UploadState::Uploaded;
            Arrival::Accepted(advance(conn, upload.id, UploadState::Created, to, &meta(None), Some(&convert)).await?)
        }
    })
}

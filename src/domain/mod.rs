//! Domain types: parsed, never re-validated (`UploadId`, `ByteSize`, `Note`,
//! `TraceId`) and the upload state machine.

pub mod ids;
mod state;

pub use ids::{hz_to_midi, ByteSize, Note, TraceContext, TraceId, UploadId, UserId};
pub use state::{IllegalTransition, Stage, UploadState};

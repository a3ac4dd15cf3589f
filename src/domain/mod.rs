//! Domain types: parsed, never re-validated (`UploadId`, `ByteSize`, `Note`,
//! `TraceId`), the upload state machine, traffic lanes and the accepted
//! recording formats.

pub mod ids;
mod lane;
pub mod media;
pub mod reasons;
mod state;

pub use ids::{hz_to_midi, midi_to_hz, ByteSize, Note, TraceContext, TraceId, UploadId, UserId};
pub use lane::Lane;
pub use reasons::{DeadLetterReason, RejectReason};
pub use state::{IllegalTransition, Stage, UploadState};

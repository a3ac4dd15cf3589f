//! The three stages: handlers the pipeline engine calls. Each turns an
//! upload into a `StageOutput` or a `StageError` saying whether to retry.

mod analyze;
mod convert;
mod recommend;

pub use analyze::{analyze_wav, AnalysisPermits, Analyzer, ModelServer, VoiceProfile};
pub use convert::{convert_recording, Converter};
pub use recommend::Recommender;

use crate::pipeline::StageError;
use crate::storage::StorageError;

/// A missing object will not appear by retrying; anything else might.
fn storage_error(error: StorageError) -> StageError {
    match error {
        StorageError::NotFound(_) => StageError::permanent(error),
        other => StageError::transient(other),
    }
}

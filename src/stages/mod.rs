//! The three stages: handlers the pipeline engine calls. Each turns an
//! typed input into a typed output, or a `StageError` saying whether to retry.

mod analyze;
mod convert;
mod recommend;

pub use analyze::{analyze_samples, analyze_wav, AnalysisPermits, Analyzer, ModelServer, VoiceProfile};
pub use convert::{convert_recording, ConvertSettings, Converter};
pub use recommend::{CatalogSnapshots, Recommendations, Recommender};

use crate::pipeline::StageError;
use crate::storage::StorageError;

/// A missing object will not appear by retrying; anything else means the
/// store is unreachable or failing, and the engine waits for it.
fn storage_error(error: StorageError) -> StageError {
    match error {
        StorageError::NotFound(_) => StageError::permanent(error),
        other => StageError::unavailable(other),
    }
}

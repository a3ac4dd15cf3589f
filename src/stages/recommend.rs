//! Stage 3: songs from the catalogue that fit the analysed range.

use std::sync::Arc;

use serde_json::json;

use super::VoiceProfile;
use crate::catalog::{recommend, Catalog};
use crate::domain::Stage;
use crate::pipeline::{StageError, StageHandler, StageOutput};
use crate::store::Upload;
use crate::telemetry::Lane;

pub struct Recommender {
    pub catalog: Arc<Catalog>,
    pub max_key_shift: i32,
    pub max_results: usize,
}

impl StageHandler for Recommender {
    fn stage(&self) -> Stage {
        Stage::Recommend
    }

    async fn handle(&self, upload: &Upload, _lane: Lane) -> Result<StageOutput, StageError> {
        let analysis = upload.analysis.clone().ok_or_else(|| StageError::permanent("upload has no analysis"))?;
        let profile: VoiceProfile = serde_json::from_value(analysis)
            .map_err(|e| StageError::permanent(format!("stored analysis is unreadable: {e}")))?;
        let songs = recommend(&self.catalog, &profile.range, self.max_key_shift, self.max_results);
        Ok(StageOutput {
            result: Some(json!({ "recommendations": songs, "catalog_size": self.catalog.songs.len() })),
            ..StageOutput::default()
        })
    }
}

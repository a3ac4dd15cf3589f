//! Stage 3: songs from the catalogue that fit the analysed range.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::VoiceProfile;
use crate::catalog::{recommend, Catalog, Recommendation};
use crate::config::CatalogSettings;
use crate::domain::Stage;
use crate::pipeline::{JsonOutput, StageContext, StageError, StageHandler};

/// Recommend's output: what `GET /v1/uploads/{id}` shows as `result`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recommendations {
    pub recommendations: Vec<Recommendation>,
    pub catalog_size: usize,
}

impl JsonOutput for Recommendations {
    const COLUMN: crate::store::JsonColumn = crate::store::JsonColumn::Result;
}

pub struct Recommender {
    pub catalog: Arc<Catalog>,
    pub max_key_shift: i32,
    pub max_results: usize,
}

impl Recommender {
    pub fn load(settings: &CatalogSettings) -> anyhow::Result<Self> {
        Ok(Self {
            catalog: Arc::new(Catalog::load(&settings.path)?),
            max_key_shift: settings.max_key_shift,
            max_results: settings.max_results,
        })
    }

    /// The songs for a voice profile (what the stage stores).
    pub fn recommend(&self, profile: &VoiceProfile) -> Recommendations {
        let recommendations = recommend(&self.catalog, &profile.range, self.max_key_shift, self.max_results);
        Recommendations { recommendations, catalog_size: self.catalog.songs.len() }
    }
}

impl StageHandler for Recommender {
    const STAGE: Stage = Stage::Recommend;
    type Input = VoiceProfile;
    type Output = Recommendations;

    async fn handle(&self, profile: VoiceProfile, _context: &StageContext<'_>) -> Result<Recommendations, StageError> {
        Ok(self.recommend(&profile))
    }
}

//! Stage 3: songs from the catalogue that suit the analysed range.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::VoiceProfile;
use crate::catalog::{rank, Filters, Recommendation, Snapshot};
use crate::config::CatalogSettings;
use crate::domain::Stage;
use crate::pipeline::{JsonOutput, StageContext, StageError, StageHandler};
use crate::store::catalog::{all_songs, catalog_revision};
use crate::store::StoreError;

/// Recommend's output: what `GET /v1/uploads/{id}` shows as `result`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recommendations {
    pub recommendations: Vec<Recommendation>,
    pub catalog_size: usize,
}

impl JsonOutput for Recommendations {
    const COLUMN: crate::store::JsonColumn = crate::store::JsonColumn::Result;
}

/// The catalogue as ranking reads it. Read from PostgreSQL, it is read
/// again whenever the catalogue's revision has moved since (one indexed
/// lookup per use), so songs imported while workers run are recommended
/// without a restart.
#[derive(Clone)]
pub struct CatalogSnapshots {
    pool: Option<PgPool>,
    current: Arc<Mutex<Arc<Snapshot>>>,
    reading: Arc<tokio::sync::Mutex<()>>,
}

impl CatalogSnapshots {
    pub fn from_database(pool: PgPool) -> Self {
        Self::with(Some(pool), Snapshot::never_read())
    }

    /// A catalogue that never changes (`orakgarak analyze`, without a database).
    pub fn fixed(snapshot: Snapshot) -> Self {
        Self::with(None, snapshot)
    }

    fn with(pool: Option<PgPool>, snapshot: Snapshot) -> Self {
        Self { pool, current: Arc::new(Mutex::new(Arc::new(snapshot))), reading: Arc::default() }
    }

    fn held(&self) -> Arc<Snapshot> {
        self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The catalogue as it stands now.
    pub async fn current(&self) -> Result<Arc<Snapshot>, StoreError> {
        let Some(pool) = &self.pool else { return Ok(self.held()) };
        let revision = catalog_revision(pool).await?;
        let held = self.held();
        if held.revision == revision {
            return Ok(held);
        }
        let _one_reader = self.reading.lock().await;
        let held = self.held();
        if held.revision >= revision {
            return Ok(held);
        }
        let (revision, songs) = all_songs(pool).await?;
        let snapshot = Arc::new(Snapshot::new(revision, songs));
        tracing::info!(songs = snapshot.len(), revision, "Catalogue read.");
        *self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = snapshot.clone();
        Ok(snapshot)
    }
}

pub struct Recommender {
    pub catalog: CatalogSnapshots,
    pub max_key_shift: i32,
    pub max_results: usize,
}

impl Recommender {
    pub fn new(catalog: CatalogSnapshots, settings: &CatalogSettings) -> Self {
        Self { catalog, max_key_shift: settings.max_key_shift, max_results: settings.max_results }
    }

    /// The songs for a voice profile, narrowed by `filters`.
    pub async fn recommend(
        &self,
        profile: &VoiceProfile,
        filters: &Filters,
        limit: usize,
    ) -> Result<Recommendations, StoreError> {
        let snapshot = self.catalog.current().await?;
        let recommendations = rank(&snapshot, &profile.range, filters, self.max_key_shift, limit);
        Ok(Recommendations { recommendations, catalog_size: snapshot.len() })
    }
}

impl StageHandler for Recommender {
    const STAGE: Stage = Stage::Recommend;
    type Input = VoiceProfile;
    type Output = Recommendations;

    async fn handle(&self, profile: VoiceProfile, _context: &StageContext<'_>) -> Result<Recommendations, StageError> {
        self.recommend(&profile, &Filters::default(), self.max_results).await.map_err(StageError::transient)
    }
}

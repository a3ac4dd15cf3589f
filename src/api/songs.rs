//! The catalogue for singers: a searchable, paged song list, and an
//! upload's recommendations narrowed by filters.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::AuthUser;
use super::{ApiError, ApiState};
use crate::catalog::{Filters, SongFacts};
use crate::domain::UploadId;
use crate::stages::{Recommendations, VoiceProfile};
use crate::store::catalog::{list_songs, SongQuery};

/// The most songs one page or one recommendation list holds.
const MAX_PAGE: i64 = 100;
const DEFAULT_PAGE: i64 = 20;

#[derive(Debug, Serialize)]
pub struct SongPage {
    pub songs: Vec<SongFacts>,
    /// Songs matching the query, in all pages.
    pub total: i64,
    pub offset: i64,
    /// Where the next page starts; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<i64>,
}

pub async fn list(
    State(state): State<ApiState>,
    _user: AuthUser,
    query: Result<Query<SongQuery>, QueryRejection>,
) -> Result<Json<SongPage>, ApiError> {
    let Query(mut query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if query.offset < 0 || query.limit.is_some_and(|l| !(1..=MAX_PAGE).contains(&l)) {
        return Err(ApiError::BadRequest(format!("offset must be 0 or more and limit 1 to {MAX_PAGE}")));
    }
    query.limit = Some(query.limit.unwrap_or(DEFAULT_PAGE));
    let (songs, total) = list_songs(state.store.pool(), &query, MAX_PAGE).await?;
    let offset = query.offset;
    let next = offset + songs.len() as i64;
    Ok(Json(SongPage {
        songs: songs.iter().map(|s| s.facts()).collect(),
        total,
        offset,
        next_offset: (next < total).then_some(next),
    }))
}

/// (Not `#[serde(flatten)]` of `Filters`: flattened query values all
/// arrive as strings, and `duet=true` would not parse.)
#[derive(Debug, Deserialize)]
pub struct RecommendationQuery {
    pub limit: Option<usize>,
    pub language: Option<String>,
    pub genre: Option<String>,
    pub duet: Option<bool>,
    pub max_key_shift: Option<i32>,
}

pub async fn recommendations(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
    query: Result<Query<RecommendationQuery>, QueryRejection>,
) -> Result<Json<Recommendations>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = query.limit.unwrap_or(state.settings.catalog.max_results);
    let filters =
        Filters { language: query.language, genre: query.genre, duet: query.duet, max_key_shift: query.max_key_shift };
    if !(1..=MAX_PAGE as usize).contains(&limit) || filters.max_key_shift.is_some_and(|s| !(0..=12).contains(&s)) {
        return Err(ApiError::BadRequest(format!("limit must be 1 to {MAX_PAGE} and max_key_shift 0 to 12")));
    }
    let id: UploadId = id.parse().map_err(|_| ApiError::NotFound)?;
    let upload = state.store.upload_of(id, &user).await?;
    let analysis = upload
        .analysis
        .ok_or_else(|| ApiError::Conflict(format!("the recording is {}: it has no voice profile yet", upload.state)))?;
    let profile: VoiceProfile =
        serde_json::from_value(analysis).map_err(|e| ApiError::Internal(anyhow::anyhow!("stored profile: {e}")))?;
    Ok(Json(state.recommender.recommend(&profile, &filters, limit).await?))
}

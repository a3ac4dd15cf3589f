//! `POST /v1/uploads` (presigned PUT) and `GET /v1/uploads/{id}`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::AuthUser;
use super::request_trace::current_trace;
use super::{ApiError, ApiState};
use crate::audio::AudioError;
use crate::domain::ids::ByteSizeError;
use crate::domain::{ByteSize, RejectReason, UploadId, UploadState};
use crate::pipeline::{object_arrived, Arrival, Trigger};
use crate::store::{NewUpload, Transition, Upload};
use crate::telemetry::events::{UploadCreated, UploadRejected};
use crate::telemetry::{traces, Emit};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUpload {
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct CreatedUpload {
    pub upload_id: UploadId,
    pub put_url: String,
    pub expires_at: DateTime<Utc>,
    /// Send exactly these headers with the PUT: they are signed.
    pub required_headers: BTreeMap<String, String>,
    pub trace_id: String,
}

pub async fn create(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    headers: HeaderMap,
    body: Result<Json<CreateUpload>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CreatedUpload>), ApiError> {
    let metrics = &state.metrics;
    let refuse = |reason: RejectReason, error: ApiError| {
        UploadRejected { reason, detail: &error.to_string() }.emit(metrics);
        error
    };
    let Json(request) = body.map_err(|e| refuse(RejectReason::InvalidRequest, ApiError::BadRequest(e.body_text())))?;
    let limit = state.settings.storage.max_upload_bytes;
    let size = ByteSize::parse(request.size_bytes, limit).map_err(|e| match e {
        ByteSizeError::TooLarge { size, limit } => refuse(RejectReason::TooLarge, ApiError::TooLarge { size, limit }),
        ByteSizeError::Empty => refuse(RejectReason::Empty, ApiError::BadRequest(e.to_string())),
    })?;
    let filename = request.filename.trim();
    if filename.is_empty()
        || filename.len() > 255
        || filename.contains(['/', '\\'])
        || filename.chars().any(char::is_control)
    {
        return Err(refuse(
            RejectReason::InvalidRequest,
            ApiError::BadRequest("filename must be 1-255 characters without slashes".into()),
        ));
    }
    let content_type = request.content_type.trim().to_ascii_lowercase();
    if !crate::domain::media::is_accepted_type(&content_type) {
        return Err(refuse(
            RejectReason::UnsupportedType,
            ApiError::Unprocessable(format!("content_type {content_type:?} is not a supported recording format")),
        ));
    }
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => match value.to_str() {
            Ok(v) if !v.is_empty() && v.len() <= 255 => Some(v.to_owned()),
            _ => {
                return Err(refuse(
                    RejectReason::InvalidRequest,
                    ApiError::BadRequest("Idempotency-Key must be 1-255 visible ASCII characters".into()),
                ))
            }
        },
    };

    let id = UploadId::new();
    let ttl = state.settings.storage.presign_ttl;
    let trace = current_trace();
    let new = NewUpload {
        id,
        user_id: user,
        idempotency_key,
        filename: filename.to_owned(),
        content_type: content_type.clone(),
        declared_bytes: size.get(),
        object_key: crate::storage::recording_key(id, filename),
        trace,
        url_expires_at: Utc::now() + chrono::Duration::from_std(ttl).map_err(|e| ApiError::Internal(e.into()))?,
    };
    let (upload, created) = state.store.create_upload(new).await?;
    if !created && (upload.declared_bytes as u64 != size.get() || upload.content_type != content_type) {
        return Err(ApiError::Conflict("this Idempotency-Key was used for a different upload".into()));
    }
    let remaining = (upload.url_expires_at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    if remaining < Duration::from_secs(1) {
        return Err(ApiError::Conflict("the upload URL for this Idempotency-Key has expired; use a new key".into()));
    }
    let presigned = state
        .objects
        .presign_put(&upload.object_key, upload.declared_bytes as u64, &upload.content_type, remaining)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    if created {
        UploadCreated { upload_id: &upload.id.to_string(), bytes: size.get() }.emit(metrics);
    }
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        status,
        Json(CreatedUpload {
            upload_id: upload.id,
            put_url: presigned.url,
            expires_at: upload.url_expires_at,
            required_headers: presigned.headers.into_iter().filter(|(k, _)| k != "host").collect(),
            trace_id: upload.trace_id.to_string(),
        }),
    ))
}

#[derive(Debug, Serialize)]
pub struct UploadView {
    pub upload_id: UploadId,
    pub state: String,
    pub terminal: bool,
    pub filename: String,
    pub declared_bytes: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub trace_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the upload ended without a result, as a stable name a client
    /// can explain in its own words (see `problem_code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    pub history: Vec<Transition>,
}

impl UploadView {
    fn new(upload: Upload, history: Vec<Transition>) -> Self {
        let error_code = problem_code(upload.state, upload.last_error.as_deref());
        Self {
            upload_id: upload.id,
            state: upload.state.to_string(),
            terminal: upload.state.is_terminal(),
            filename: upload.filename,
            declared_bytes: upload.declared_bytes,
            created_at: upload.created_at,
            updated_at: upload.updated_at,
            trace_id: upload.trace_id.to_string(),
            error: upload.last_error,
            error_code,
            analysis: upload.analysis,
            result: upload.result,
            history,
        }
    }
}

/// An ended upload's problem: `expired` (never uploaded in time), an
/// audio code (`silent`, `too_short`, `too_long`, `no_voice`,
/// `unsupported`, `corrupt`), `refused` (the stored object broke the
/// upload's terms) or `failed` (retries ran out); `None` otherwise.
fn problem_code(state: UploadState, error: Option<&str>) -> Option<&'static str> {
    let audio = error.and_then(AudioError::code_of_message);
    match state {
        UploadState::Expired => Some("expired"),
        UploadState::Rejected => Some(audio.unwrap_or("refused")),
        UploadState::Failed => Some(audio.unwrap_or("failed")),
        _ => None,
    }
}

pub async fn show(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<UploadView>, ApiError> {
    // A malformed id and someone else's id look the same: not found.
    let id: UploadId = id.parse().map_err(|_| ApiError::NotFound)?;
    let upload = state.store.upload_of(id, &user).await?;
    let history = state.store.history(id).await?;
    Ok(Json(UploadView::new(upload, history)))
}

/// `POST /v1/uploads/{id}/complete`: the singer's client says its PUT has
/// finished. For object stores that cannot announce new objects (the
/// local stack's), and harmless beside those that can: the API looks for
/// the object itself and applies the checks an object-created event gets
/// (size against the declaration and the limit). 409 while no object is
/// there; a repeat, or one after the store's event, changes nothing.
pub async fn complete(
    State(state): State<ApiState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<UploadView>), ApiError> {
    let id: UploadId = id.parse().map_err(|_| ApiError::NotFound)?;
    let upload = state.store.upload_of(id, &user).await?;
    if upload.state == UploadState::Created {
        let size = state
            .objects
            .head(&upload.object_key)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?
            .ok_or_else(|| {
                ApiError::Conflict("the recording has not arrived in the store: finish its PUT first".into())
            })?;
        let span = crate::upload_span!("object_created", "api", upload.id);
        let trace = traces::start(&span, Some(&upload.trace()), &[current_trace()]);
        let limit = state.settings.storage.max_upload_bytes;
        let mut tx = state.store.pool().begin().await.map_err(|e| ApiError::Internal(e.into()))?;
        let arrival = object_arrived(&mut tx, &state.topics, &upload, size, limit, Trigger::Event, &trace).await?;
        tx.commit().await.map_err(|e| ApiError::Internal(e.into()))?;
        let _entered = span.enter();
        match arrival {
            Arrival::Duplicate => {}
            Arrival::Accepted(changed) => changed.emit(&state.metrics),
            Arrival::Rejected { reason, detail, changed } => {
                changed.emit(&state.metrics);
                UploadRejected { reason, detail: &detail }.emit(&state.metrics);
            }
        }
    }
    let upload = state.store.upload_of(id, &user).await?;
    let history = state.store.history(id).await?;
    Ok((StatusCode::ACCEPTED, Json(UploadView::new(upload, history))))
}

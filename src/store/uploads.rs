//! The `uploads` table and its append-only `upload_transitions` history.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::{Store, StoreError};
use crate::domain::{Stage, TraceContext, TraceId, UploadId, UploadState, UserId};

/// One upload as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Upload {
    pub id: UploadId,
    pub user_id: UserId,
    pub filename: String,
    pub content_type: String,
    pub declared_bytes: i64,
    pub stored_bytes: Option<i64>,
    pub object_key: String,
    pub wav_key: Option<String>,
    pub state: UploadState,
    /// The stage being retried, while the upload is RETRYING.
    pub retry_stage: Option<Stage>,
    pub attempt: i32,
    pub redrives: i32,
    pub trace_id: TraceId,
    /// The `traceparent` of the span that created the upload.
    #[serde(skip)]
    pub trace_parent: Option<String>,
    pub url_expires_at: DateTime<Utc>,
    pub analysis: Option<serde_json::Value>,
    pub result: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Upload {
    /// The span that created the upload: the parent of later work on it
    /// that arrives without a `traceparent` (the object-created event, a
    /// re-drive). Uploads stored before it was kept get a span of their
    /// trace whose parent is unknown.
    pub fn trace(&self) -> TraceContext {
        self.trace_parent
            .as_deref()
            .and_then(TraceContext::parse)
            .unwrap_or_else(|| TraceContext::in_trace(self.trace_id))
    }
}

#[derive(FromRow)]
pub(super) struct UploadRow {
    id: Uuid,
    user_id: String,
    filename: String,
    content_type: String,
    declared_bytes: i64,
    stored_bytes: Option<i64>,
    object_key: String,
    wav_key: Option<String>,
    state: String,
    retry_stage: Option<String>,
    attempt: i32,
    redrives: i32,
    trace_id: String,
    trace_parent: Option<String>,
    url_expires_at: DateTime<Utc>,
    analysis: Option<serde_json::Value>,
    result: Option<serde_json::Value>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<UploadRow> for Upload {
    type Error = StoreError;
    fn try_from(row: UploadRow) -> Result<Self, Self::Error> {
        Ok(Upload {
            id: row.id.into(),
            user_id: UserId::parse(&row.user_id).map_err(StoreError::Corrupt)?,
            filename: row.filename,
            content_type: row.content_type,
            declared_bytes: row.declared_bytes,
            stored_bytes: row.stored_bytes,
            object_key: row.object_key,
            wav_key: row.wav_key,
            state: row.state.parse().map_err(StoreError::Corrupt)?,
            retry_stage: row.retry_stage.map(|s| s.parse()).transpose().map_err(StoreError::Corrupt)?,
            attempt: row.attempt,
            redrives: row.redrives,
            trace_id: TraceId::parse(&row.trace_id)
                .ok_or_else(|| StoreError::Corrupt(format!("trace id {:?} is not a W3C trace id", row.trace_id)))?,
            trace_parent: row.trace_parent,
            url_expires_at: row.url_expires_at,
            analysis: row.analysis,
            result: row.result,
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The upload columns that hold a stage's JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonColumn {
    Analysis,
    Result,
}

impl JsonColumn {
    pub fn name(self) -> &'static str {
        match self {
            JsonColumn::Analysis => "analysis",
            JsonColumn::Result => "result",
        }
    }
}

/// One row of an upload's history.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Transition {
    pub from_state: Option<String>,
    pub to_state: String,
    pub at: DateTime<Utc>,
    pub attempt: i32,
    pub error: Option<String>,
    pub trace_id: String,
}

/// What is recorded with a transition besides the two states.
#[derive(Debug, Clone, Default)]
pub struct TransitionMeta {
    pub attempt: i32,
    pub error: Option<String>,
    pub trace_id: String,
}

pub struct NewUpload {
    pub id: UploadId,
    pub user_id: UserId,
    pub idempotency_key: Option<String>,
    pub filename: String,
    pub content_type: String,
    pub declared_bytes: u64,
    pub object_key: String,
    /// The span creating it (the API request's).
    pub trace: TraceContext,
    pub url_expires_at: DateTime<Utc>,
}

pub(super) const COLUMNS: &str =
    "id, user_id, filename, content_type, declared_bytes, stored_bytes, object_key, wav_key, \
     state, retry_stage, attempt, redrives, trace_id, trace_parent, url_expires_at, analysis, result, last_error, created_at, updated_at";

impl Store {
    /// Inserts a CREATED upload, or returns the one this user already made
    /// with the same idempotency key (`false` = not newly created).
    #[tracing::instrument(skip_all, fields(upload_id = %new.id), err)]
    pub async fn create_upload(&self, new: NewUpload) -> Result<(Upload, bool), StoreError> {
        // One statement (one round trip, atomic on its own): insert the row
        // and its first history entry, or do nothing on an idempotent repeat.
        let trace_id = new.trace.trace_id.to_string();
        let inserted: Option<UploadRow> = sqlx::query_as(&format!(
            "WITH created AS ( \
               INSERT INTO uploads (id, user_id, idempotency_key, filename, content_type, declared_bytes, \
                                    object_key, state, trace_id, trace_parent, url_expires_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'CREATED', $8, $9, $10) \
               ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING {COLUMNS}), \
             history AS ( \
               INSERT INTO upload_transitions (upload_id, from_state, to_state, attempt, trace_id) \
               SELECT id, NULL, 'CREATED', 0, trace_id FROM created) \
             SELECT {COLUMNS} FROM created"
        ))
        .bind(new.id.as_uuid())
        .bind(new.user_id.as_str())
        .bind(new.idempotency_key.as_deref())
        .bind(&new.filename)
        .bind(&new.content_type)
        .bind(i64::try_from(new.declared_bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(&new.object_key)
        .bind(&trace_id)
        .bind(new.trace.header())
        .bind(new.url_expires_at)
        .fetch_optional(&self.pool)
        .await?;
        match inserted {
            Some(row) => Ok((row.try_into()?, true)),
            None => {
                let row: UploadRow = sqlx::query_as(&format!(
                    "SELECT {COLUMNS} FROM uploads WHERE user_id = $1 AND idempotency_key = $2"
                ))
                .bind(new.user_id.as_str())
                .bind(new.idempotency_key.as_deref())
                .fetch_one(&self.pool)
                .await?;
                Ok((row.try_into()?, false))
            }
        }
    }

    pub async fn upload(&self, id: UploadId) -> Result<Upload, StoreError> {
        let row: Option<UploadRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE id = $1"))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        row.ok_or(StoreError::NotFound(id))?.try_into()
    }

    /// Another user's upload is indistinguishable from a missing one.
    pub async fn upload_of(&self, id: UploadId, user: &UserId) -> Result<Upload, StoreError> {
        let row: Option<UploadRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE id = $1 AND user_id = $2"))
                .bind(id.as_uuid())
                .bind(user.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.ok_or(StoreError::NotFound(id))?.try_into()
    }

    pub async fn history(&self, id: UploadId) -> Result<Vec<Transition>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT from_state, to_state, at, attempt, error, trace_id FROM upload_transitions \
             WHERE upload_id = $1 ORDER BY id",
        )
        .bind(id.as_uuid())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Loads an upload with a row lock, for a read-check-write in `tx`.
    pub async fn lock_upload(conn: &mut PgConnection, id: UploadId) -> Result<Upload, StoreError> {
        let row: Option<UploadRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM uploads WHERE id = $1 FOR UPDATE"))
            .bind(id.as_uuid())
            .fetch_optional(conn)
            .await?;
        row.ok_or(StoreError::NotFound(id))?.try_into()
    }

    /// Moves an upload `from` → `to` if the table allows it and the upload is
    /// still in `from` (compare-and-set), appending the history row.
    /// Entering RETRYING records the stage that failed; leaving it for a
    /// stage's working state requires that same stage.
    pub async fn transition(
        conn: &mut PgConnection,
        id: UploadId,
        from: UploadState,
        to: UploadState,
        meta: &TransitionMeta,
    ) -> Result<(), StoreError> {
        from.check_transition(to)?;
        let retrying = (to == UploadState::Retrying).then(|| Stage::working_in(from)).flatten();
        let resuming = (from == UploadState::Retrying).then(|| Stage::working_in(to)).flatten();
        let done = sqlx::query(
            "UPDATE uploads SET state = $3, attempt = $4, last_error = COALESCE($5, last_error), \
             retry_stage = $6, updated_at = now() \
             WHERE id = $1 AND state = $2 AND ($7::text IS NULL OR retry_stage = $7)",
        )
        .bind(id.as_uuid())
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(meta.attempt)
        .bind(meta.error.as_deref())
        .bind(retrying.map(Stage::as_str))
        .bind(resuming.map(Stage::as_str))
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            let actual: Option<(String, Option<String>)> =
                sqlx::query_as("SELECT state, retry_stage FROM uploads WHERE id = $1")
                    .bind(id.as_uuid())
                    .fetch_optional(&mut *conn)
                    .await?;
            let (actual, retry_stage) = actual.ok_or(StoreError::NotFound(id))?;
            return Err(StoreError::Conflict {
                id,
                expected: from,
                actual: actual.parse().map_err(StoreError::Corrupt)?,
                retry_stage,
            });
        }
        record(conn, id, Some(from), to, meta).await
    }

    /// `transition` in its own transaction.
    pub async fn transition_now(
        &self,
        id: UploadId,
        from: UploadState,
        to: UploadState,
        meta: &TransitionMeta,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::transition(&mut tx, id, from, to, meta).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_stored_bytes(conn: &mut PgConnection, id: UploadId, bytes: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE uploads SET stored_bytes = $2 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(bytes)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Stores convert's output on the upload row.
    pub async fn save_wav_key(conn: &mut PgConnection, id: UploadId, wav_key: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE uploads SET wav_key = $2 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(wav_key)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Stores a stage's JSON output on the upload row.
    pub async fn save_json(
        conn: &mut PgConnection,
        id: UploadId,
        column: JsonColumn,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        // The column name comes from a closed enum, never from input.
        sqlx::query(&format!("UPDATE uploads SET {} = $2 WHERE id = $1", column.name()))
            .bind(id.as_uuid())
            .bind(value)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Number of uploads in each state (for the `uploads in state` gauge).
    /// When the upload's object arrived (its first step into UPLOADED).
    pub async fn arrived_at(conn: &mut PgConnection, id: UploadId) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT min(at) FROM upload_transitions WHERE upload_id = $1 AND to_state = 'UPLOADED'")
                .bind(id.as_uuid())
                .fetch_one(&mut *conn)
                .await?;
        Ok(at)
    }

    pub async fn count_by_state(&self) -> Result<Vec<(UploadState, i64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, count(*) FROM uploads GROUP BY state").fetch_all(&self.pool).await?;
        rows.into_iter().map(|(state, n)| Ok((state.parse().map_err(StoreError::Corrupt)?, n))).collect()
    }
}

async fn record(
    conn: &mut PgConnection,
    id: UploadId,
    from: Option<UploadState>,
    to: UploadState,
    meta: &TransitionMeta,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO upload_transitions (upload_id, from_state, to_state, attempt, error, trace_id) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.as_uuid())
    .bind(from.map(UploadState::as_str))
    .bind(to.as_str())
    .bind(meta.attempt)
    .bind(meta.error.as_deref())
    .bind(&meta.trace_id)
    .execute(conn)
    .await?;
    Ok(())
}

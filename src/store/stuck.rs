//! Queries the watchdog runs: indexed scans whose cost grows with the
//! number of candidates, not with the table.

use std::time::Duration;

use sqlx::PgConnection;

use super::uploads::{UploadRow, COLUMNS};
use super::{Store, StoreError, Upload};
use crate::domain::{UploadId, UploadState};

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Store {
    /// Uploads in `state` whose last change is older than `threshold`,
    /// oldest first (index `uploads_active_by_state`).
    pub async fn find_stuck(
        &self,
        state: UploadState,
        threshold: Duration,
        limit: i64,
    ) -> Result<Vec<Upload>, StoreError> {
        let rows: Vec<UploadRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM uploads WHERE state = $1 \
             AND state NOT IN ('COMPLETED','FAILED','REJECTED','EXPIRED') \
             AND updated_at < now() - make_interval(secs => $2) ORDER BY updated_at LIMIT $3"
        ))
        .bind(state.as_str())
        .bind(secs(threshold))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Upload::try_from).collect()
    }

    /// CREATED uploads whose URL expired more than `grace` ago (index
    /// `uploads_created_by_expiry`).
    pub async fn find_expired_created(&self, grace: Duration, limit: i64) -> Result<Vec<Upload>, StoreError> {
        let rows: Vec<UploadRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM uploads WHERE state = 'CREATED' \
             AND url_expires_at < now() - make_interval(secs => $1) ORDER BY url_expires_at LIMIT $2"
        ))
        .bind(secs(grace))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Upload::try_from).collect()
    }

    /// Counts a re-drive and restarts the upload's stuck clock.
    pub async fn record_redrive(conn: &mut PgConnection, id: UploadId) -> Result<i32, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE uploads SET redrives = redrives + 1, updated_at = now() WHERE id = $1 RETURNING redrives",
        )
        .bind(id.as_uuid())
        .fetch_one(conn)
        .await?)
    }
}

//! Leases on stage runs. The state machine makes claiming an upload
//! exclusive (one consumer moves it into the stage's working state), but a
//! working state alone cannot tell a run that is still going on in another
//! process from one whose process died: both look like an upload left in
//! CONVERTING. The lease can. The run that claims the upload takes it,
//! renews it while it runs and gives it back if it is interrupted; a
//! message redelivered meanwhile resumes the stage only once the lease has
//! lapsed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::StoreError;
use crate::domain::UploadId;

/// What asking for an upload's lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// The lease is the caller's now.
    Taken,
    /// Another run holds it until then.
    HeldUntil(DateTime<Utc>),
}

/// The lease on upload $1 to owner $2 for $3 seconds.
const SET_LEASE: &str =
    "UPDATE uploads SET lease_owner = $2, lease_until = now() + make_interval(secs => $3) WHERE id = $1";

/// Gives the lease on `id` to `owner` for `ttl`, whoever held it: the
/// caller has just moved the upload into a working state itself.
pub async fn set_lease(conn: &mut PgConnection, id: UploadId, owner: &str, ttl: Duration) -> Result<(), StoreError> {
    sqlx::query(SET_LEASE).bind(id.as_uuid()).bind(owner).bind(ttl.as_secs_f64()).execute(conn).await?;
    Ok(())
}

/// Takes the lease on `id` for `owner` for `ttl` unless another run holds
/// one that has not lapsed. Two callers at once: the row lock orders them,
/// and the second sees the first's lease.
pub async fn take_lease(pool: &PgPool, id: UploadId, owner: &str, ttl: Duration) -> Result<Lease, StoreError> {
    let taken = sqlx::query(&format!("{SET_LEASE} AND (lease_until IS NULL OR lease_until <= now())"))
        .bind(id.as_uuid())
        .bind(owner)
        .bind(ttl.as_secs_f64())
        .execute(pool)
        .await?
        .rows_affected();
    if taken > 0 {
        return Ok(Lease::Taken);
    }
    let until: Option<Option<DateTime<Utc>>> = sqlx::query_scalar("SELECT lease_until FROM uploads WHERE id = $1")
        .bind(id.as_uuid())
        .fetch_optional(pool)
        .await?;
    match until {
        None => Err(StoreError::NotFound(id)),
        Some(until) => Ok(Lease::HeldUntil(until.unwrap_or_else(Utc::now))),
    }
}

/// Extends `owner`'s lease on `id` to `ttl` from now; false when it is no
/// longer `owner`'s.
pub async fn renew_lease(pool: &PgPool, id: UploadId, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
    let renewed = sqlx::query(
        "UPDATE uploads SET lease_until = now() + make_interval(secs => $3) WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id.as_uuid())
    .bind(owner)
    .bind(ttl.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(renewed > 0)
}

/// Gives `owner`'s lease on `id` back (a run interrupted by shutdown), so
/// whoever gets the message next resumes the stage at once.
pub async fn release_lease(pool: &PgPool, id: UploadId, owner: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE uploads SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2")
        .bind(id.as_uuid())
        .bind(owner)
        .execute(pool)
        .await?;
    Ok(())
}

//! PostgreSQL repository: uploads and their transition history, the outbox,
//! the consumer dedup table and the song catalogue. Migrations live in `migrations/`.

pub mod catalog;
mod dedup;
mod lease;
mod outbox;
mod stuck;
mod uploads;

pub use dedup::{mark_processed, purge_processed, was_processed};
pub use lease::{release_lease, renew_lease, set_lease, take_lease, Lease};
pub use outbox::{enqueue, OutboxMessage, OutboxRow, OUTBOX_CHANNEL};
pub use uploads::{JsonColumn, NewUpload, Transition, TransitionMeta, Upload};

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use crate::config::DatabaseSettings;
use crate::domain::{IllegalTransition, UploadId, UploadState};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("upload {0} not found")]
    NotFound(UploadId),
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    /// Someone else moved the upload first, or it is retrying another
    /// stage; nothing was written.
    #[error("upload {id} is {actual}{}, not {expected}", retry_stage.as_ref().map(|s| format!(" ({s})")).unwrap_or_default())]
    Conflict { id: UploadId, expected: UploadState, actual: UploadState, retry_stage: Option<String> },
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// The repository handle; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let options: PgConnectOptions = settings.url.expose().parse()?;
        Self::connect_with(options, settings).await
    }

    pub async fn connect_with(options: PgConnectOptions, settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let timeout_ms = settings.statement_timeout.as_millis().to_string();
        let options = options
            .options([("statement_timeout", timeout_ms.as_str())])
            .log_slow_statements(log::LevelFilter::Warn, Duration::from_millis(500));
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
}

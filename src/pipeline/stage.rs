//! What a stage is to the engine: a handler from a typed input to a typed
//! output, or a `StageError` saying whether trying again could help. What
//! one stage's output is and what the next stage's input is are the same
//! Rust type (checked where the stages are wired, `app.rs`), stored on the
//! upload row in between.

use std::future::Future;

use crate::domain::{Stage, UploadId};
use crate::store::{Store, StoreError, Upload};
use crate::telemetry::Lane;

/// A stage failure, saying whether trying again could help.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct StageError {
    pub retryable: bool,
    /// A dependency (the object store) is unreachable: the engine tries the
    /// same message again until it is back (within the retry window),
    /// without spending one of the upload's attempts.
    pub unavailable: bool,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl StageError {
    /// Same input, same failure: a corrupt file, a silent recording.
    pub fn permanent(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { retryable: false, unavailable: false, source: source.into() }
    }
    /// A dependency was slow or down: worth another attempt.
    pub fn transient(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { retryable: true, unavailable: false, source: source.into() }
    }
    /// The object store (or another dependency every upload needs) is
    /// down: waiting for it beats spending attempts and dead-lettering.
    pub fn unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { retryable: true, unavailable: true, source: source.into() }
    }
    /// A blocking task that panicked fails the same way on the same input
    /// (permanent); one cancelled by a shutdown may succeed later.
    pub fn from_join(what: &str, error: tokio::task::JoinError) -> Self {
        if error.is_panic() {
            let message = crate::supervisor::panic_message(error.into_panic());
            Self::permanent(format!("{what} panicked: {message}"))
        } else {
            Self::transient(format!("{what} was cancelled"))
        }
    }
}

/// Where the engine runs a stage: for logs and traffic-class decisions.
pub struct StageContext<'a> {
    pub upload: &'a Upload,
    pub lane: Lane,
}

/// A stage's input, read from the upload row.
pub trait StageInput: Sized + Send {
    fn from_upload(upload: &Upload) -> Result<Self, StageError>;
}

/// A stage's output, written to the upload row in the transaction that
/// moves it to the stage's done state.
pub trait StageOutput: Send + Sync {
    fn save(&self, conn: &mut sqlx::PgConnection, id: UploadId) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// One stage's work on one upload. No Kafka, no offsets, no state changes.
pub trait StageHandler: Send + Sync + 'static {
    const STAGE: Stage;
    type Input: StageInput;
    type Output: StageOutput;
    fn handle(
        &self,
        input: Self::Input,
        context: &StageContext<'_>,
    ) -> impl Future<Output = Result<Self::Output, StageError>> + Send;
}

/// Convert's input: the uploaded object and a container hint.
#[derive(Debug, Clone)]
pub struct Recording {
    pub object_key: String,
    /// The file's extension, else one from its content type.
    pub extension: Option<String>,
}

impl StageInput for Recording {
    fn from_upload(upload: &Upload) -> Result<Self, StageError> {
        let from_name = upload.filename.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase());
        let extension =
            from_name.or_else(|| crate::domain::media::extension_for_type(&upload.content_type).map(str::to_owned));
        Ok(Self { object_key: upload.object_key.clone(), extension })
    }
}

/// Convert's output and analyze's input: the mono WAV in the object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertedAudio {
    pub wav_key: String,
}

impl StageInput for ConvertedAudio {
    fn from_upload(upload: &Upload) -> Result<Self, StageError> {
        let wav_key = upload.wav_key.clone().ok_or_else(|| StageError::permanent("upload has no converted WAV"))?;
        Ok(Self { wav_key })
    }
}

impl StageOutput for ConvertedAudio {
    async fn save(&self, conn: &mut sqlx::PgConnection, id: UploadId) -> Result<(), StoreError> {
        Store::save_wav_key(conn, id, &self.wav_key).await
    }
}

/// Outputs kept as a JSON document on the upload (`analysis`, `result`),
/// typed on both sides by the same struct.
pub trait JsonOutput: serde::Serialize + serde::de::DeserializeOwned + Send + Sync {
    const COLUMN: crate::store::JsonColumn;
}

impl<T: JsonOutput> StageInput for T {
    fn from_upload(upload: &Upload) -> Result<Self, StageError> {
        let value = match T::COLUMN {
            crate::store::JsonColumn::Analysis => upload.analysis.as_ref(),
            crate::store::JsonColumn::Result => upload.result.as_ref(),
        };
        let value = value.ok_or_else(|| StageError::permanent(format!("upload has no {}", T::COLUMN.name())))?;
        serde::Deserialize::deserialize(value)
            .map_err(|e| StageError::permanent(format!("stored {} is unreadable: {e}", T::COLUMN.name())))
    }
}

impl<T: JsonOutput> StageOutput for T {
    async fn save(&self, conn: &mut sqlx::PgConnection, id: UploadId) -> Result<(), StoreError> {
        let value = serde_json::to_value(self).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Store::save_json(conn, id, T::COLUMN, &value).await
    }
}

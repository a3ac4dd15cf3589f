//! The object store (S3 API): presigned PUTs for clients, and bounded
//! get/put/head for the stages and the watchdog.

use std::future::Future;
use std::time::Duration;

use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::config::StorageSettings;
use crate::domain::UploadId;
use crate::telemetry::events::ExternalCallTimedOut;
use crate::telemetry::labels::Dependency;
use crate::telemetry::{Emit, Metrics};

/// Where the singer's recording goes: `raw/<upload id>/<filename>`.
pub fn recording_key(id: UploadId, filename: &str) -> String {
    format!("raw/{id}/{filename}")
}

/// The upload a recording's key belongs to (`None` for any other key).
pub fn upload_of_recording_key(key: &str) -> Option<UploadId> {
    let (id, name) = key.strip_prefix("raw/")?.split_once('/')?;
    (!name.is_empty()).then_some(())?;
    id.parse().ok()
}

/// Where the converted WAV goes: `wav/<upload id>.wav`.
pub fn wav_key(id: UploadId) -> String {
    format!("wav/{id}.wav")
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object {0} does not exist")]
    NotFound(String),
    #[error("object store call {op} exceeded its {limit:?} limit")]
    Timeout { op: &'static str, limit: Duration },
    #[error("object store call {op} failed: {message}")]
    Failed { op: &'static str, message: String },
}

/// A presigned PUT and the headers the client must send with it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PresignedPut {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct ObjectStore {
    client: Client,
    /// Signs the URLs clients PUT to (`public_endpoint`).
    presigner: Client,
    bucket: String,
    timeout: Duration,
    metrics: Metrics,
}

impl ObjectStore {
    pub fn new(settings: &StorageSettings, metrics: Metrics) -> Self {
        let client = |endpoint: &str| {
            let http = aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .build_https();
            let config = aws_sdk_s3::Config::builder()
                .behavior_version_latest()
                .http_client(http)
                .region(Region::new(settings.region.clone()))
                .endpoint_url(endpoint)
                .force_path_style(true)
                .credentials_provider(Credentials::new(
                    &settings.access_key_id,
                    settings.secret_access_key.expose(),
                    None,
                    None,
                    "orakgarak-config",
                ))
                .build();
            Client::from_conf(config)
        };
        Self {
            client: client(&settings.endpoint),
            presigner: client(settings.public_endpoint.as_deref().unwrap_or(&settings.endpoint)),
            bucket: settings.bucket.clone(),
            timeout: settings.timeout,
            metrics,
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// A PUT URL that only accepts a body of exactly `content_length` bytes:
    /// Content-Length is one of the signed headers.
    pub async fn presign_put(
        &self,
        key: &str,
        content_length: u64,
        content_type: &str,
        ttl: Duration,
    ) -> Result<PresignedPut, StorageError> {
        let failed = |e: &dyn std::fmt::Display| StorageError::Failed { op: "presign", message: e.to_string() };
        let config = PresigningConfig::expires_in(ttl).map_err(|e| failed(&e))?;
        let request = self
            .presigner
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(i64::try_from(content_length).map_err(|e| failed(&e))?)
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(|e| failed(&aws_sdk_s3::error::DisplayErrorContext(e)))?;
        let headers = request.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let expires_at = Utc::now() + chrono::Duration::from_std(ttl).map_err(|e| failed(&e))?;
        Ok(PresignedPut { url: request.uri().to_owned(), headers, expires_at })
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        self.bounded("get", async {
            let output = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    StorageError::NotFound(key.to_owned())
                } else {
                    StorageError::Failed { op: "get", message: aws_sdk_s3::error::DisplayErrorContext(e).to_string() }
                }
            })?;
            let body =
                output.body.collect().await.map_err(|e| StorageError::Failed { op: "get", message: e.to_string() })?;
            Ok(body.into_bytes())
        })
        .await
    }

    pub async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StorageError> {
        self.bounded("put", async {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| StorageError::Failed {
                    op: "put",
                    message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
                })?;
            Ok(())
        })
        .await
    }

    /// The object's size, or `None` when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, StorageError> {
        self.bounded("head", async {
            match self.client.head_object().bucket(&self.bucket).key(key).send().await {
                Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
                Err(e) => Err(StorageError::Failed {
                    op: "head",
                    message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
                }),
            }
        })
        .await
    }

    /// Creates the bucket unless it exists (local stack and tests).
    pub async fn ensure_bucket(&self) -> Result<(), StorageError> {
        self.bounded("create_bucket", async {
            if self.client.head_bucket().bucket(&self.bucket).send().await.is_ok() {
                return Ok(());
            }
            self.client.create_bucket().bucket(&self.bucket).send().await.map_err(|e| StorageError::Failed {
                op: "create_bucket",
                message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            })?;
            Ok(())
        })
        .await
    }

    /// Lets pages from `origins` PUT recordings straight into the bucket
    /// (the bucket's CORS rule, which S3 answers preflights from).
    /// `Ok(false)` when the store keeps no CORS rules (s3s-fs: the local
    /// stack puts a CORS front before it instead).
    pub async fn allow_origins(&self, origins: &[String]) -> Result<bool, StorageError> {
        let failed = |e: &dyn std::fmt::Display| StorageError::Failed { op: "put_bucket_cors", message: e.to_string() };
        let rule = CorsRule::builder()
            .set_allowed_origins(Some(origins.to_vec()))
            .allowed_methods("PUT")
            .allowed_methods("GET")
            .allowed_methods("HEAD")
            .allowed_headers("*")
            .expose_headers("ETag")
            .max_age_seconds(600)
            .build()
            .map_err(|e| failed(&e))?;
        let cors = CorsConfiguration::builder().cors_rules(rule).build().map_err(|e| failed(&e))?;
        self.bounded("put_bucket_cors", async {
            match self.client.put_bucket_cors().bucket(&self.bucket).cors_configuration(cors).send().await {
                Ok(_) => Ok(true),
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 501) => Ok(false),
                Err(e) => Err(failed(&aws_sdk_s3::error::DisplayErrorContext(e))),
            }
        })
        .await
    }

    async fn bounded<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => {
                ExternalCallTimedOut { dependency: Dependency::S3, limit: self.timeout }.emit(&self.metrics);
                Err(StorageError::Timeout { op, limit: self.timeout })
            }
        }
    }
}

//! `POST /v1/events/s3`: object-created notifications, in the S3/MinIO
//! `Records[]` format or as EventBridge "Object Created" envelopes. The
//! whole body is validated before anything changes; a repeat is harmless.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

use super::auth::EventSource;
use super::request_trace::current_trace;
use super::{ApiError, ApiState};
use crate::domain::TraceContext;
use crate::pipeline::{object_arrived, Arrival, Trigger};
use crate::storage::upload_of_recording_key;
use crate::telemetry::events::UploadRejected;
use crate::telemetry::{traces, Emit};

#[derive(Debug, Deserialize)]
struct S3Notification {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Debug, Deserialize)]
struct S3Record {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: S3Entity,
}

#[derive(Debug, Deserialize)]
struct S3Entity {
    bucket: Bucket,
    object: Object,
}

#[derive(Debug, Deserialize)]
struct Bucket {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Object {
    key: String,
    size: u64,
}

#[derive(Debug, Deserialize)]
struct EventBridgeEnvelope {
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    detail: EventBridgeDetail,
}

#[derive(Debug, Deserialize)]
struct EventBridgeDetail {
    bucket: Bucket,
    object: Object,
}

/// One object-created fact, whatever format it came in.
#[derive(Debug)]
struct Created {
    bucket: String,
    key: String,
    size: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct EventOutcome {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    /// Records that are not object-created events (deletes, tests).
    pub ignored: usize,
}

/// Keys arrive form-URL-encoded (`+` is a space).
fn decode_key(raw: &str) -> Result<String, ApiError> {
    percent_decode_str(&raw.replace('+', " "))
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| ApiError::BadRequest(format!("object key {raw:?} is not valid URL-encoded UTF-8")))
}

fn parse(body: &[u8]) -> Result<(Vec<Created>, usize), ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("body is not JSON: {e}")))?;
    if value.get("Records").is_some() {
        let notification: S3Notification = serde_json::from_value(value)
            .map_err(|e| ApiError::BadRequest(format!("not an S3 event notification: {e}")))?;
        let mut created = Vec::new();
        let mut ignored = 0;
        for record in notification.records {
            // AWS says "ObjectCreated:Put", MinIO "s3:ObjectCreated:Put".
            if record.event_name.trim_start_matches("s3:").starts_with("ObjectCreated:") {
                created.push(Created {
                    bucket: record.s3.bucket.name,
                    key: decode_key(&record.s3.object.key)?,
                    size: record.s3.object.size,
                });
            } else {
                ignored += 1;
            }
        }
        return Ok((created, ignored));
    }
    if value.get("detail-type").is_some() {
        let envelope: EventBridgeEnvelope = serde_json::from_value(value)
            .map_err(|e| ApiError::BadRequest(format!("not an EventBridge S3 event: {e}")))?;
        if envelope.source != "aws.s3" || envelope.detail_type != "Object Created" {
            return Ok((Vec::new(), 1));
        }
        let detail = envelope.detail;
        return Ok((
            vec![Created {
                bucket: detail.bucket.name,
                key: decode_key(&detail.object.key)?,
                size: detail.object.size,
            }],
            0,
        ));
    }
    Err(ApiError::BadRequest("expected an S3 `Records` notification or an EventBridge envelope".into()))
}

pub async fn object_created(
    State(state): State<ApiState>,
    _source: EventSource,
    body: Bytes,
) -> Result<(StatusCode, Json<EventOutcome>), ApiError> {
    let (records, ignored) = parse(&body)?;
    let mut outcome = EventOutcome { ignored, ..EventOutcome::default() };

    // Validate everything first: an unknown key anywhere changes nothing.
    let mut targets = Vec::with_capacity(records.len());
    for record in &records {
        if record.bucket != state.objects.bucket() {
            return Err(ApiError::Unprocessable(format!("unknown bucket {:?}", record.bucket)));
        }
        let unknown = || ApiError::Unprocessable(format!("unknown object key {:?}", record.key));
        let id = upload_of_recording_key(&record.key).ok_or_else(unknown)?;
        let upload = state.store.upload(id).await.map_err(|e| match e {
            crate::store::StoreError::NotFound(_) => unknown(),
            other => other.into(),
        })?;
        if upload.object_key != record.key {
            return Err(unknown());
        }
        targets.push((upload, record.size));
    }

    // Each upload's arrival continues the upload's trace (the request that
    // created it), linked to this notification's request.
    let request = current_trace();
    let spans: Vec<(tracing::Span, TraceContext)> = targets
        .iter()
        .map(|(upload, _)| {
            let span = crate::upload_span!("object_created", "api", upload.id);
            let trace = traces::start(&span, Some(&upload.trace()), &[request]);
            (span, trace)
        })
        .collect();
    let limit = state.settings.storage.max_upload_bytes;
    let mut tx = state.store.pool().begin().await.map_err(|e| ApiError::Internal(e.into()))?;
    let mut changes = Vec::new();
    for ((upload, size), (span, trace)) in targets.iter().zip(&spans) {
        match object_arrived(&mut tx, &state.topics, upload, *size, limit, Trigger::Event, trace).await? {
            Arrival::Duplicate => outcome.duplicates += 1,
            Arrival::Accepted(changed) => {
                outcome.accepted += 1;
                changes.push((span, changed, None));
            }
            Arrival::Rejected { reason, detail, changed } => {
                outcome.rejected += 1;
                changes.push((span, changed, Some((reason, detail))));
            }
        }
    }
    tx.commit().await.map_err(|e| ApiError::Internal(e.into()))?;

    for (span, changed, rejection) in changes {
        let _entered = span.enter();
        changed.emit(&state.metrics);
        if let Some((reason, detail)) = rejection {
            UploadRejected { reason, detail: &detail }.emit(&state.metrics);
        }
    }
    Ok((StatusCode::ACCEPTED, Json(outcome)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UploadId;

    #[test]
    fn keys_are_form_url_decoded() -> Result<(), ApiError> {
        assert_eq!(decode_key("raw/x/my+song%20%282%29.m4a")?, "raw/x/my song (2).m4a");
        assert_eq!(decode_key("raw/x/%EB%85%B8%EB%9E%98.wav")?, "raw/x/노래.wav");
        assert!(decode_key("raw/x/%FF.wav").is_err());
        Ok(())
    }

    #[test]
    fn both_formats_parse_and_other_events_are_ignored() -> Result<(), ApiError> {
        let minio = br#"{"EventName":"s3:ObjectCreated:Put","Key":"b/raw/x/a.wav","Records":[
            {"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"raw%2Fx%2Fa.wav","size":10}}},
            {"eventName":"s3:ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"raw/x/b.wav","size":0}}}]}"#;
        let (created, ignored) = parse(minio)?;
        assert_eq!((created.len(), ignored, created[0].key.as_str()), (1, 1, "raw/x/a.wav"));
        let bridge = br#"{"version":"0","detail-type":"Object Created","source":"aws.s3",
            "detail":{"bucket":{"name":"b"},"object":{"key":"raw/x/a+b.wav","size":7}}}"#;
        let (created, _) = parse(bridge)?;
        assert_eq!((created[0].key.as_str(), created[0].size), ("raw/x/a b.wav", 7));
        assert!(parse(b"not json").is_err());
        assert!(parse(br#"{"Records":[{"eventName":"ObjectCreated:Put"}]}"#).is_err());
        assert!(parse(br#"{"hello":1}"#).is_err());
        Ok(())
    }

    #[test]
    fn only_raw_keys_name_uploads() {
        let id = UploadId::new();
        assert_eq!(upload_of_recording_key(&format!("raw/{id}/a.wav")), Some(id));
        assert_eq!(upload_of_recording_key(&format!("wav/{id}.wav")), None);
        assert_eq!(upload_of_recording_key(&format!("raw/{id}/")), None);
        assert_eq!(upload_of_recording_key("raw/not-a-uuid/a.wav"), None);
    }
}

//! The message envelope every stage topic carries, and its headers.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Topics;
use crate::domain::{DeadLetterReason, Stage, TraceContext, UploadId};
use crate::store::OutboxMessage;
use crate::telemetry::Lane;

pub const HEADER_TRACEPARENT: &str = "traceparent";
pub const HEADER_ORIGINAL_TOPIC: &str = "x-original-topic";
pub const HEADER_ORIGINAL_PARTITION: &str = "x-original-partition";
pub const HEADER_ORIGINAL_OFFSET: &str = "x-original-offset";
pub const HEADER_ERROR: &str = "x-error";
pub const HEADER_ATTEMPT: &str = "x-attempt";
pub const HEADER_REASON: &str = "x-dlq-reason";
pub const HEADER_STAGE: &str = "x-stage";

/// What caused a message: fresh work or an operator/watchdog action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Event,
    Stage,
    Redrive,
    Replay,
}

/// "Run `stage` for `upload_id`." Inputs are read from the store, so the
/// message stays small whatever the recording's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageMessage {
    /// Unique per produced message; the consumer's dedup key.
    pub message_id: Uuid,
    pub upload_id: UploadId,
    pub stage: Stage,
    pub trigger: Trigger,
    /// When the first attempt was queued; retries keep it, so the retry
    /// window counts from the original message.
    pub enqueued_at: DateTime<Utc>,
    /// 1 for the first try, n + 1 for the retry after attempt n.
    #[serde(default = "first_attempt")]
    pub attempt: i32,
}

fn first_attempt() -> i32 {
    1
}

/// Where a dead-lettered message was consumed from (`None` when it never
/// was: the watchdog gives up on an upload whose message is lost).
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// A message bound for `stage`'s dead-letter topic, with everything an
/// operator needs to replay it.
pub struct DeadLetter<'a> {
    pub stage: Stage,
    /// The upload id, as the message key (or the poison message's own key).
    pub key: String,
    /// The message that failed as consumed (or as it would have been).
    pub payload: Vec<u8>,
    pub trace: &'a TraceContext,
    pub origin: Option<Origin<'a>>,
    pub error: &'a str,
    pub attempt: i32,
    pub reason: DeadLetterReason,
}

impl DeadLetter<'_> {
    /// The outbox row that writes it, with its story in the headers.
    pub fn to_outbox(self, topics: &Topics) -> OutboxMessage {
        let (topic, partition, offset) = match self.origin {
            Some(o) => (o.topic.to_owned(), o.partition.to_string(), o.offset.to_string()),
            None => (topics.stage(self.stage, Lane::Realtime), "-1".to_owned(), "-1".to_owned()),
        };
        let headers = [
            (HEADER_TRACEPARENT, self.trace.header()),
            (HEADER_ORIGINAL_TOPIC, topic),
            (HEADER_ORIGINAL_PARTITION, partition),
            (HEADER_ORIGINAL_OFFSET, offset),
            (HEADER_ERROR, self.error.to_owned()),
            (HEADER_ATTEMPT, self.attempt.to_string()),
            (HEADER_REASON, self.reason.as_str().to_owned()),
            (HEADER_STAGE, self.stage.as_str().to_owned()),
        ];
        OutboxMessage {
            topic: topics.dead_letter(self.stage),
            key: self.key,
            payload: self.payload,
            headers: headers.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            delay: Duration::ZERO,
        }
    }
}

impl StageMessage {
    pub fn new(upload_id: UploadId, stage: Stage, trigger: Trigger) -> Self {
        Self { message_id: Uuid::new_v4(), upload_id, stage, trigger, enqueued_at: Utc::now(), attempt: 1 }
    }

    /// The next attempt of this message: a new message id (it is a new
    /// message, not a redelivery), the same lane and original queue time.
    pub fn retry(&self) -> Self {
        Self { message_id: Uuid::new_v4(), attempt: self.attempt + 1, ..self.clone() }
    }

    pub fn lane(&self) -> Lane {
        match self.trigger {
            Trigger::Event | Trigger::Stage => Lane::Realtime,
            Trigger::Redrive | Trigger::Replay => Lane::Bulk,
        }
    }

    /// The outbox row that produces this message, keyed by upload id,
    /// with `trace` (the span that caused it) as its `traceparent`.
    pub fn to_outbox(&self, topics: &Topics, trace: &TraceContext) -> OutboxMessage {
        let mut headers = BTreeMap::new();
        headers.insert(HEADER_TRACEPARENT.to_owned(), trace.header());
        OutboxMessage {
            topic: topics.stage(self.stage, self.lane()),
            key: self.upload_id.to_string(),
            // Serialising a plain struct to JSON cannot fail.
            payload: serde_json::to_vec(self).unwrap_or_default(),
            headers,
            delay: Duration::ZERO,
        }
    }
}

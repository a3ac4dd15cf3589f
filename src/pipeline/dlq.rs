//! Dead-letter topics: list what is in them, and replay uploads to their
//! failed stage once an operator has fixed the cause. Never automatic.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;
use tracing::field::Empty;
use tracing::Instrument;

use super::message::*;
use super::transition::advance;
use super::{KafkaClients, Topics};
use crate::domain::{Stage, TraceContext, UploadId, UploadState};
use crate::store::{Store, StoreError, TransitionMeta};
use crate::telemetry::{traces, Metrics};

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub stage: Stage,
    pub partition: i32,
    pub offset: i64,
    pub upload_id: Option<UploadId>,
    pub headers: BTreeMap<String, String>,
}

impl DeadLetter {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// Everything currently in the dead-letter topics, oldest first per partition.
pub async fn read_dead_letters(kafka: &KafkaClients, topics: &Topics) -> anyhow::Result<Vec<DeadLetter>> {
    let kafka = kafka.clone();
    let topics = topics.clone();
    tokio::task::spawn_blocking(move || read_blocking(&kafka, &topics)).await?
}

fn read_blocking(kafka: &KafkaClients, topics: &Topics) -> anyhow::Result<Vec<DeadLetter>> {
    let group = format!("orakgarak-dlq-reader-{}", uuid::Uuid::new_v4());
    let mut config = kafka.consumer_config(&group);
    config.set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create()?;
    let timeout = Duration::from_secs(10);
    let mut assignment = TopicPartitionList::new();
    let mut remaining = BTreeMap::new();
    for stage in Stage::ALL {
        let topic = topics.dead_letter(stage);
        let metadata = consumer.fetch_metadata(Some(&topic), timeout).context("cannot read DLQ metadata")?;
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            let (low, high) = consumer.fetch_watermarks(&topic, partition.id(), timeout)?;
            if high > low {
                assignment.add_partition_offset(&topic, partition.id(), Offset::Offset(low))?;
                remaining.insert((topic.clone(), partition.id()), high);
            }
        }
    }
    let mut letters = Vec::new();
    if remaining.is_empty() {
        return Ok(letters);
    }
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !remaining.is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "timed out reading the dead-letter topics");
        let Some(result) = consumer.poll(Duration::from_millis(500)) else { continue };
        let message = result?;
        let key = (message.topic().to_owned(), message.partition());
        if let Some(high) = remaining.get(&key) {
            if message.offset() + 1 >= *high {
                remaining.remove(&key);
            }
        }
        let Some((stage, _)) = Stage::ALL.iter().find(|s| topics.dead_letter(**s) == message.topic()).map(|s| (*s, ()))
        else {
            continue;
        };
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .filter_map(|h| Some((h.key.to_owned(), String::from_utf8_lossy(h.value?).into_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let upload_id = message.key().and_then(|k| std::str::from_utf8(k).ok()).and_then(|k| k.parse().ok());
        letters.push(DeadLetter {
            stage,
            partition: message.partition(),
            offset: message.offset(),
            upload_id,
            headers,
        });
    }
    Ok(letters)
}

#[derive(Debug, Default, Serialize)]
pub struct ReplayReport {
    pub replayed: Vec<UploadId>,
    pub skipped: Vec<(String, String)>,
}

/// Moves each FAILED upload named by `letters` back to its stage's input
/// state and queues the stage again on the bulk lane, continuing the
/// original trace. Uploads no longer FAILED are left alone, so replaying
/// twice is harmless.
pub async fn replay(
    store: &Store,
    topics: &Topics,
    metrics: &Metrics,
    letters: &[DeadLetter],
    only: Option<UploadId>,
) -> anyhow::Result<ReplayReport> {
    let mut report = ReplayReport::default();
    let mut latest: BTreeMap<String, &DeadLetter> = BTreeMap::new();
    for letter in letters {
        match letter.upload_id {
            Some(id) if only.is_none_or(|o| o == id) => {
                latest.insert(id.to_string(), letter);
            }
            Some(_) => {}
            None if only.is_none() => report
                .skipped
                .push((format!("{}@{}:{}", letter.stage, letter.partition, letter.offset), "no upload id".into())),
            None => {}
        }
    }
    if let Some(id) = only {
        anyhow::ensure!(latest.contains_key(&id.to_string()), "upload {id} is not in any dead-letter topic");
    }
    // The replay is a trace of its own; each upload's replay continues the
    // upload's trace (from the failed attempt) and links to it.
    let span = tracing::info_span!("dlq_replay_run", role = "dlq", traceId = Empty, spanId = Empty);
    let run = traces::start(&span, None, &[]);
    for letter in latest.values() {
        let Some(id) = letter.upload_id else { continue };
        replay_one(store, topics, metrics, letter, id, &run, &mut report).instrument(span.clone()).await?;
    }
    Ok(report)
}

async fn replay_one(
    store: &Store,
    topics: &Topics,
    metrics: &Metrics,
    letter: &DeadLetter,
    id: UploadId,
    run: &TraceContext,
    report: &mut ReplayReport,
) -> anyhow::Result<()> {
    let upload = match store.upload(id).await {
        Ok(upload) => upload,
        Err(StoreError::NotFound(_)) => {
            report.skipped.push((id.to_string(), "upload no longer exists".into()));
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    if upload.state != UploadState::Failed {
        report.skipped.push((id.to_string(), format!("upload is {}, not FAILED", upload.state)));
        return Ok(());
    }
    let parent = letter.header(HEADER_TRACEPARENT).and_then(TraceContext::parse).unwrap_or_else(|| upload.trace());
    let span = crate::upload_span!("dlq_replay", "dlq", id);
    let trace = traces::start(&span, Some(&parent), &[*run]);
    async {
        let to = letter.stage.input_state();
        let mut tx = store.pool().begin().await?;
        let meta = TransitionMeta { attempt: 0, error: None, trace_id: trace.trace_id.to_string() };
        let message = StageMessage::new(id, letter.stage, Trigger::Replay).to_outbox(topics, &trace);
        let changed = match advance(&mut tx, id, UploadState::Failed, to, &meta, Some(&message)).await {
            Ok(changed) => changed,
            Err(StoreError::Conflict { actual, .. }) => {
                report.skipped.push((id.to_string(), format!("upload is {actual}, not FAILED")));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        tx.commit().await?;
        changed.emit(metrics);
        tracing::info!(stage = letter.stage.as_str(), "Dead-lettered upload replayed.");
        report.replayed.push(id);
        Ok(())
    }
    .instrument(span)
    .await
}

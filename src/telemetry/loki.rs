//! Ships log lines to Loki's push API (JSON) with bounded memory.
//!
//! Why not tracing-loki: it drops events silently when its channel is full
//! and, while Loki is down, its backlog grows without bound (its issue
//! #32). Here the queue holds at most `loki_queue_lines` lines; a full
//! queue drops the new line and counts it; a batch that Loki keeps refusing
//! is dropped after a few attempts and counted; every push is counted by
//! outcome. Streams carry only the labels service, env and level; traceId
//! and uploadId travel as structured metadata and inside the JSON line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::events::{LogLinesDropped, LogLinesShipped, LogQueueMeasured, LokiPushAttempted};
use super::labels::DropReason;
use super::{Emit, Metrics};
use crate::config::LogSettings;

/// Attempts for one batch before it is dropped (and counted).
const PUSH_ATTEMPTS: u32 = 3;

struct Entry {
    level: &'static str,
    ts_ns: String,
    line: String,
    metadata: Map<String, Value>,
}

pub struct LokiShipper {
    tx: SyncSender<Entry>,
    /// Lines queued and not yet taken by the shipping thread.
    depth: Arc<AtomicI64>,
    metrics: Metrics,
}

impl LokiShipper {
    /// Ships through `client` (see `http_client::client`) from its own
    /// thread, counting into `metrics`.
    pub fn start(
        url: &str,
        client: reqwest::Client,
        settings: &LogSettings,
        env: &str,
        service: &'static str,
        metrics: Metrics,
    ) -> anyhow::Result<Self> {
        let depth = Arc::new(AtomicI64::new(0));
        let (tx, rx) = sync_channel(settings.loki_queue_lines.max(1));
        let push_url = format!("{}/loki/api/v1/push", url.trim_end_matches('/'));
        let worker = Worker {
            rx,
            client,
            url: push_url,
            labels: [("service", service.to_owned()), ("env", env.to_owned())],
            batch_lines: settings.loki_batch_lines.max(1),
            flush_interval: settings.loki_flush_interval,
            timeout: settings.loki_timeout,
            depth: depth.clone(),
            metrics: metrics.clone(),
        };
        std::thread::Builder::new().name("loki-shipper".into()).spawn(move || worker.run())?;
        Ok(Self { tx, depth, metrics })
    }

    /// Never blocks: a full queue drops the line and counts it.
    pub fn send(&self, level: tracing::Level, line: &Map<String, Value>, text: String) {
        let mut metadata = Map::new();
        for key in ["traceId", "uploadId"] {
            if let Some(Value::String(v)) = line.get(key) {
                metadata.insert(key.to_owned(), Value::String(v.clone()));
            }
        }
        let ts_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos().to_string())
            .unwrap_or_default();
        let entry = Entry { level: level_label(level), ts_ns, line: text, metadata };
        match self.tx.try_send(entry) {
            Ok(()) => {
                let lines = self.depth.fetch_add(1, Ordering::Relaxed) + 1;
                LogQueueMeasured { lines }.emit(&self.metrics);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                LogLinesDropped { reason: DropReason::QueueFull, lines: 1 }.emit(&self.metrics);
            }
        }
    }
}

fn level_label(level: tracing::Level) -> &'static str {
    match level {
        tracing::Level::ERROR => "error",
        tracing::Level::WARN => "warn",
        tracing::Level::INFO => "info",
        tracing::Level::DEBUG => "debug",
        tracing::Level::TRACE => "trace",
    }
}

struct Worker {
    rx: Receiver<Entry>,
    client: reqwest::Client,
    url: String,
    labels: [(&'static str, String); 2],
    batch_lines: usize,
    flush_interval: Duration,
    timeout: Duration,
    depth: Arc<AtomicI64>,
    metrics: Metrics,
}

impl Worker {
    fn run(self) {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        let client = self.client.clone();
        loop {
            let mut batch = Vec::with_capacity(self.batch_lines);
            let deadline = Instant::now() + self.flush_interval;
            while batch.len() < self.batch_lines {
                let wait = deadline.saturating_duration_since(Instant::now());
                match self.rx.recv_timeout(wait) {
                    Ok(entry) => batch.push(entry),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            if batch.is_empty() {
                continue;
            }
            let lines = self.depth.fetch_sub(batch.len() as i64, Ordering::Relaxed) - batch.len() as i64;
            LogQueueMeasured { lines }.emit(&self.metrics);
            let body = self.body(&batch);
            let mut delivered = false;
            for attempt in 0..PUSH_ATTEMPTS {
                let push = client.post(&self.url).header("content-type", "application/json").body(body.clone()).send();
                let ok = runtime.block_on(async {
                    matches!(tokio::time::timeout(self.timeout, push).await, Ok(Ok(r)) if r.status().is_success())
                });
                LokiPushAttempted { accepted: ok }.emit(&self.metrics);
                if ok {
                    delivered = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(250 << attempt));
            }
            let lines = batch.len() as u64;
            if delivered {
                LogLinesShipped { lines }.emit(&self.metrics);
            } else {
                LogLinesDropped { reason: DropReason::PushFailed, lines }.emit(&self.metrics);
            }
        }
    }

    fn body(&self, batch: &[Entry]) -> String {
        let mut streams: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for entry in batch {
            let value = if entry.metadata.is_empty() {
                json!([entry.ts_ns, entry.line])
            } else {
                json!([entry.ts_ns, entry.line, entry.metadata])
            };
            streams.entry(entry.level).or_default().push(value);
        }
        let streams: Vec<Value> = streams
            .into_iter()
            .map(|(level, values)| {
                let mut stream = Map::new();
                for (k, v) in &self.labels {
                    stream.insert((*k).to_owned(), Value::String(v.clone()));
                }
                stream.insert("level".into(), Value::String(level.to_owned()));
                json!({ "stream": stream, "values": values })
            })
            .collect();
        json!({ "streams": streams }).to_string()
    }
}

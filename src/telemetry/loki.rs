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
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::{json, Map, Value};

use crate::config::LogSettings;

/// Attempts for one batch before it is dropped (and counted).
const PUSH_ATTEMPTS: u32 = 3;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// `queue_full` or `push_failed`.
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `success` or `failure`.
    pub outcome: &'static str,
}

/// Process-wide: there is one log pipeline per process.
pub struct ShipCounters {
    pub dropped: Family<DropLabels, Counter>,
    pub pushes: Family<OutcomeLabels, Counter>,
    pub shipped: Counter,
    pub queued: Gauge,
}

pub fn ship_counters() -> &'static ShipCounters {
    static COUNTERS: OnceLock<ShipCounters> = OnceLock::new();
    COUNTERS.get_or_init(|| ShipCounters {
        dropped: Family::default(),
        pushes: Family::default(),
        shipped: Counter::default(),
        queued: Gauge::default(),
    })
}

struct Entry {
    level: &'static str,
    ts_ns: String,
    line: String,
    metadata: Map<String, Value>,
}

pub struct LokiShipper {
    tx: SyncSender<Entry>,
    depth: &'static AtomicI64,
}

static DEPTH: AtomicI64 = AtomicI64::new(0);

impl LokiShipper {
    /// Ships through `client` (see `http_client::client`) from its own thread.
    pub fn start(
        url: &str,
        client: reqwest::Client,
        settings: &LogSettings,
        env: &str,
        service: &'static str,
    ) -> anyhow::Result<Self> {
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
        };
        std::thread::Builder::new().name("loki-shipper".into()).spawn(move || worker.run())?;
        Ok(Self { tx, depth: &DEPTH })
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
                let depth = self.depth.fetch_add(1, Ordering::Relaxed) + 1;
                ship_counters().queued.set(depth);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                ship_counters().dropped.get_or_create(&DropLabels { reason: "queue_full" }).inc();
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
            let depth = DEPTH.fetch_sub(batch.len() as i64, Ordering::Relaxed) - batch.len() as i64;
            ship_counters().queued.set(depth.max(0));
            let body = self.body(&batch);
            let mut delivered = false;
            for attempt in 0..PUSH_ATTEMPTS {
                let push = client.post(&self.url).header("content-type", "application/json").body(body.clone()).send();
                let ok = runtime.block_on(async {
                    matches!(tokio::time::timeout(self.timeout, push).await, Ok(Ok(r)) if r.status().is_success())
                });
                let outcome = if ok { "success" } else { "failure" };
                ship_counters().pushes.get_or_create(&OutcomeLabels { outcome }).inc();
                if ok {
                    delivered = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(250 << attempt));
            }
            if delivered {
                ship_counters().shipped.inc_by(batch.len() as u64);
            } else {
                ship_counters().dropped.get_or_create(&DropLabels { reason: "push_failed" }).inc_by(batch.len() as u64);
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

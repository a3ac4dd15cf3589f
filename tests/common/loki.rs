//! A stand-in Loki for tests: `POST /loki/api/v1/push` with the JSON body
//! Loki documents, validated the way Loki's distributor validates it
//! (stream labels present and well-formed, nanosecond string timestamps,
//! line and label limits, structured metadata as string pairs). Malformed
//! pushes get 400 like Loki's. It can be stopped and restarted on the same
//! port to simulate an outage. Protobuf pushes are answered 415: orakgarak's
//! shipper only sends JSON.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

/// Loki's defaults: 256 KiB lines, 15 labels, 1 week back, 10 min ahead.
const MAX_LINE_BYTES: usize = 256 * 1024;
const MAX_LABELS: usize = 15;
const REJECT_OLDER_THAN_NS: i128 = 7 * 24 * 3600 * 1_000_000_000;
const GRACE_AHEAD_NS: i128 = 10 * 60 * 1_000_000_000;

#[derive(Debug, Clone)]
pub struct LokiEntry {
    pub labels: BTreeMap<String, String>,
    pub ts_ns: i128,
    pub line: String,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
pub struct StandInLoki {
    pub entries: Arc<Mutex<Vec<LokiEntry>>>,
    pub rejected: Arc<Mutex<Vec<String>>>,
    shutdown: Arc<Mutex<Option<tokio::sync::oneshot::Sender<()>>>>,
    pub addr: Arc<Mutex<Option<SocketAddr>>>,
}

impl StandInLoki {
    pub async fn start() -> Self {
        let loki = Self::default();
        loki.listen("127.0.0.1:0".parse().expect("addr")).await;
        loki
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr.lock().expect("lock").expect("started"))
    }

    async fn listen(&self, addr: SocketAddr) {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind stand-in Loki");
        *self.addr.lock().expect("lock") = Some(listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        *self.shutdown.lock().expect("lock") = Some(tx);
        let app = Router::new().route("/loki/api/v1/push", post(push)).with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(async { let _ = rx.await; }).await;
        });
    }

    /// Loki goes away: connections are refused until `restart`.
    pub fn stop(&self) {
        if let Some(tx) = self.shutdown.lock().expect("lock").take() {
            let _ = tx.send(());
        }
    }

    pub async fn restart(&self) {
        let addr = self.addr.lock().expect("lock").expect("started once");
        for _ in 0..50 {
            if tokio::net::TcpListener::bind(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.listen(addr).await;
    }

    pub fn lines_with(&self, needle: &str) -> Vec<LokiEntry> {
        self.entries.lock().expect("lock").iter().filter(|e| e.line.contains(needle)).cloned().collect()
    }
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

fn string_map(value: &Value, what: &str) -> Result<BTreeMap<String, String>, String> {
    let object = value.as_object().ok_or(format!("{what} must be an object"))?;
    object
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.as_str().ok_or(format!("{what} value of {k} must be a string"))?.to_owned())))
        .collect()
}

fn parse_push(body: &[u8]) -> Result<Vec<LokiEntry>, String> {
    let push: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let streams = push.get("streams").and_then(Value::as_array).ok_or("missing streams array")?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_nanos() as i128;
    let mut entries = Vec::new();
    for stream in streams {
        let labels = string_map(stream.get("stream").ok_or("stream without labels")?, "stream")?;
        if labels.is_empty() {
            return Err("error at least one label pair is required per stream".into());
        }
        if labels.len() > MAX_LABELS {
            return Err(format!("stream has {} labels, limit is {MAX_LABELS}", labels.len()));
        }
        if let Some(bad) = labels.keys().find(|k| !valid_label_name(k)) {
            return Err(format!("invalid label name {bad:?}"));
        }
        let values = stream.get("values").and_then(Value::as_array).ok_or("stream without values")?;
        for value in values {
            let parts = value.as_array().ok_or("a value must be an array")?;
            if !(2..=3).contains(&parts.len()) {
                return Err("a value must be [timestamp, line] or [timestamp, line, metadata]".into());
            }
            let ts: i128 = parts[0].as_str().ok_or("timestamp must be a string")?.parse().map_err(|_| "timestamp must be integer nanoseconds")?;
            if ts < now - REJECT_OLDER_THAN_NS || ts > now + GRACE_AHEAD_NS {
                return Err(format!("entry timestamp {ts} is out of the accepted range"));
            }
            let line = parts[1].as_str().ok_or("line must be a string")?.to_owned();
            if line.len() > MAX_LINE_BYTES {
                return Err("line too long".into());
            }
            let metadata = match parts.get(2) {
                Some(m) => string_map(m, "structured metadata")?,
                None => BTreeMap::new(),
            };
            entries.push(LokiEntry { labels: labels.clone(), ts_ns: ts, line, metadata });
        }
    }
    Ok(entries)
}

async fn push(State(loki): State<StandInLoki>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("unsupported Content-Type {content_type:?}"));
    }
    match parse_push(&body) {
        Ok(entries) => {
            loki.entries.lock().expect("lock").extend(entries);
            (StatusCode::NO_CONTENT, String::new())
        }
        Err(reason) => {
            loki.rejected.lock().expect("lock").push(reason.clone());
            (StatusCode::BAD_REQUEST, reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_push;

    #[test]
    fn malformed_pushes_are_refused_like_loki_does() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
        let ok = format!(r#"{{"streams":[{{"stream":{{"service":"a"}},"values":[["{now}","x",{{"traceId":"t"}}]]}}]}}"#);
        assert_eq!(parse_push(ok.as_bytes()).map(|e| e.len()), Ok(1));
        for bad in [
            "not json".to_owned(),
            r#"{"streams":[{"stream":{},"values":[]}]}"#.to_owned(),
            format!(r#"{{"streams":[{{"stream":{{"bad-name":"a"}},"values":[["{now}","x"]]}}]}}"#),
            format!(r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[[{now},"x"]]}}]}}"#),
            r#"{"streams":[{"stream":{"a":"b"},"values":[["1","ancient"]]}]}"#.to_owned(),
            format!(r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[["{now}","x",{{"n":1}}]]}}]}}"#),
        ] {
            assert!(parse_push(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}

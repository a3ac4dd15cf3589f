//! A stand-in Loki for tests: `POST /loki/api/v1/push` with the JSON body
//! Loki documents, validated the way Loki's distributor validates it
//! (stream labels present and well-formed, nanosecond string timestamps,
//! line and label limits, structured metadata as string pairs). Malformed
//! pushes get 400 like Loki's. It can be stopped and restarted on the same
//! port to simulate an outage. Both encodings Loki documents are decoded:
//! JSON, and snappy-compressed protobuf (`logproto.PushRequest`, what
//! tracing-loki and Promtail send). orakgarak's own shipper sends JSON.

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
        let app = self.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
    }

    /// Loki's push endpoint, for serving over another transport (HTTPS).
    pub fn router(&self) -> Router {
        Router::new().route("/loki/api/v1/push", post(push)).with_state(self.clone())
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

/// Minimal protobuf wire-format reader for `logproto.PushRequest`.
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or("truncated varint")?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long".into())
    }

    /// Next (field number, payload) pair; varints come back as their bytes' value in `Field::Int`.
    fn field(&mut self) -> Result<Option<(u64, Field<'a>)>, String> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Int(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length overflow")?;
                if len > self.0.len() {
                    return Err("truncated field".into());
                }
                let (bytes, rest) = self.0.split_at(len);
                self.0 = rest;
                Field::Bytes(bytes)
            }
            1 => {
                self.0 = self.0.get(8..).ok_or("truncated fixed64")?;
                Field::Int(0)
            }
            5 => {
                self.0 = self.0.get(4..).ok_or("truncated fixed32")?;
                Field::Int(0)
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        Ok(Some((key >> 3, field)))
    }
}

enum Field<'a> {
    Int(u64),
    Bytes(&'a [u8]),
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "invalid UTF-8".to_owned())
}

/// `{service="api", env="dev"}` as Loki's label parser reads it.
fn parse_label_string(text: &str) -> Result<BTreeMap<String, String>, String> {
    let inner =
        text.trim().strip_prefix('{').and_then(|t| t.strip_suffix('}')).ok_or(format!("invalid labels {text:?}"))?;
    let mut labels = BTreeMap::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=').ok_or(format!("invalid labels {text:?}"))?;
        let after = after.trim_start().strip_prefix('"').ok_or(format!("unquoted label value in {text:?}"))?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("dangling escape".into()),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err(format!("unterminated label value in {text:?}")),
            }
        };
        labels.insert(name.trim().to_owned(), value);
        rest = after[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(labels)
}

/// A snappy-compressed protobuf push, turned into the JSON shape so both
/// encodings go through the same validation.
fn protobuf_to_json(body: &[u8]) -> Result<Value, String> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("invalid snappy block: {e}"))?;
    let mut streams = Vec::new();
    let mut request = Wire(&raw);
    while let Some((number, field)) = request.field()? {
        let (1, Field::Bytes(stream)) = (number, field) else { continue };
        let (mut labels, mut values) = (None, Vec::new());
        let mut stream = Wire(stream);
        while let Some((number, field)) = stream.field()? {
            match (number, field) {
                (1, Field::Bytes(text)) => labels = Some(parse_label_string(&utf8(text)?)?),
                (2, Field::Bytes(entry)) => {
                    let (mut ts, mut line, mut metadata) = (None, String::new(), serde_json::Map::new());
                    let mut entry = Wire(entry);
                    while let Some((number, field)) = entry.field()? {
                        match (number, field) {
                            (1, Field::Bytes(stamp)) => {
                                let (mut secs, mut nanos) = (0u64, 0u64);
                                let mut stamp = Wire(stamp);
                                while let Some((n, f)) = stamp.field()? {
                                    match (n, f) {
                                        (1, Field::Int(v)) => secs = v,
                                        (2, Field::Int(v)) => nanos = v,
                                        _ => {}
                                    }
                                }
                                ts = Some(i128::from(secs) * 1_000_000_000 + i128::from(nanos));
                            }
                            (2, Field::Bytes(text)) => line = utf8(text)?,
                            (3, Field::Bytes(pair)) => {
                                let (mut name, mut value) = (String::new(), String::new());
                                let mut pair = Wire(pair);
                                while let Some((n, f)) = pair.field()? {
                                    match (n, f) {
                                        (1, Field::Bytes(b)) => name = utf8(b)?,
                                        (2, Field::Bytes(b)) => value = utf8(b)?,
                                        _ => {}
                                    }
                                }
                                metadata.insert(name, Value::String(value));
                            }
                            _ => {}
                        }
                    }
                    let ts = ts.ok_or("entry without timestamp")?;
                    values.push(serde_json::json!([ts.to_string(), line, metadata]));
                }
                _ => {}
            }
        }
        let labels = labels.ok_or("stream without labels")?;
        streams.push(serde_json::json!({ "stream": labels, "values": values }));
    }
    Ok(serde_json::json!({ "streams": streams }))
}

fn parse_push(body: &[u8]) -> Result<Vec<LokiEntry>, String> {
    let push: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    parse_push_value(push)
}

fn parse_push_value(push: Value) -> Result<Vec<LokiEntry>, String> {
    let streams = push.get("streams").and_then(Value::as_array).ok_or("missing streams array")?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_nanos()
        as i128;
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
            let ts: i128 = parts[0]
                .as_str()
                .ok_or("timestamp must be a string")?
                .parse()
                .map_err(|_| "timestamp must be integer nanoseconds")?;
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
    let parsed = if content_type.starts_with("application/json") {
        parse_push(&body)
    } else if content_type.starts_with("application/x-protobuf") {
        protobuf_to_json(&body).and_then(parse_push_value)
    } else {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("unsupported Content-Type {content_type:?}"));
    };
    match parsed {
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
    use super::{parse_push, parse_push_value, protobuf_to_json};

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn field(number: u64, bytes: &[u8], out: &mut Vec<u8>) {
        varint(number << 3 | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    /// A PushRequest as tracing-loki encodes it, snappy-compressed.
    fn protobuf_push(labels: &str, secs: u64, line: &str) -> Vec<u8> {
        let mut stamp = Vec::new();
        varint(1 << 3, &mut stamp);
        varint(secs, &mut stamp);
        let mut pair = Vec::new();
        field(1, b"traceId", &mut pair);
        field(2, b"abc", &mut pair);
        let mut entry = Vec::new();
        field(1, &stamp, &mut entry);
        field(2, line.as_bytes(), &mut entry);
        field(3, &pair, &mut entry);
        let mut stream = Vec::new();
        field(1, labels.as_bytes(), &mut stream);
        field(2, &entry, &mut stream);
        let mut request = Vec::new();
        field(1, &stream, &mut request);
        snap::raw::Encoder::new().compress_vec(&request).expect("snappy")
    }

    #[test]
    fn snappy_protobuf_pushes_decode_and_bad_ones_are_refused() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
        let body = protobuf_push(r#"{service="api", level="info"}"#, now, "hello");
        let entries = protobuf_to_json(&body).and_then(parse_push_value).expect("valid push");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].line, "hello");
        assert_eq!(entries[0].labels.get("service").map(String::as_str), Some("api"));
        assert_eq!(entries[0].metadata.get("traceId").map(String::as_str), Some("abc"));
        assert!(protobuf_to_json(b"not snappy at all").is_err());
        let bad_labels = protobuf_push(r#"{service=api}"#, now, "x");
        assert!(protobuf_to_json(&bad_labels).and_then(parse_push_value).is_err());
        let ancient = protobuf_push(r#"{service="api"}"#, 1, "x");
        assert!(protobuf_to_json(&ancient).and_then(parse_push_value).is_err());
    }

    #[test]
    fn malformed_pushes_are_refused_like_loki_does() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
        let ok =
            format!(r#"{{"streams":[{{"stream":{{"service":"a"}},"values":[["{now}","x",{{"traceId":"t"}}]]}}]}}"#);
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

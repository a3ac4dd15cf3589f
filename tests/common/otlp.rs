//! A stand-in OpenTelemetry collector: the OTLP/HTTP traces receiver
//! (`POST /v1/traces`), strict the way the collector's receiver is. The
//! body must be `application/x-protobuf` (anything else: 415), without a
//! content encoding we do not decode (415), and decode as an
//! `ExportTraceServiceRequest` with the collector's own schema
//! (opentelemetry-proto); ids must have the lengths OTLP requires (16-byte
//! trace id, 8-byte span id, empty or 8-byte parent) — otherwise 400 with
//! a `google.rpc.Status`-like message, as the collector answers. Accepted
//! exports answer 200 with an encoded `ExportTraceServiceResponse`.
//!
//! It runs on a runtime of its own, so it outlives any one test's runtime.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;

/// One received span, ids in lowercase hex.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    /// OTLP `SpanKind` (2 = server, 3 = client, 4 = producer, 5 = consumer).
    pub kind: i32,
    pub attributes: BTreeMap<String, String>,
    pub resource: BTreeMap<String, String>,
    /// (trace id, span id) of each link.
    pub links: Vec<(String, String)>,
    /// OTLP status code (0 unset, 1 ok, 2 error).
    pub status: i32,
}

#[derive(Clone)]
pub struct StandInOtlp {
    pub spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    /// Why each refused export was refused.
    pub refused: Arc<Mutex<Vec<String>>>,
    pub addr: SocketAddr,
}

impl StandInOtlp {
    /// Starts the receiver on 127.0.0.1 (port chosen by the OS, kept bound).
    pub fn start() -> Self {
        super::on_own_runtime(|| async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind stand-in OTLP");
            let receiver = Self::at(listener.local_addr().expect("addr"));
            let app = receiver.router();
            tokio::spawn(async move { axum::serve(listener, app).await });
            receiver
        })
    }

    /// The same receiver over HTTPS, with the test CA's certificate for
    /// localhost (see `tls::serve_https`); its URL is `https_url`.
    pub fn start_https() -> Self {
        super::on_own_runtime(|| async {
            let mut receiver = Self::at(([127, 0, 0, 1], 0).into());
            receiver.addr = super::tls::serve_https(receiver.router()).await;
            receiver
        })
    }

    fn at(addr: SocketAddr) -> Self {
        Self { spans: Arc::default(), refused: Arc::default(), addr }
    }

    fn router(&self) -> Router {
        Router::new().route("/v1/traces", post(export)).with_state(self.clone())
    }

    pub fn https_url(&self) -> String {
        format!("https://localhost:{}/v1/traces", self.addr.port())
    }

    /// The URL to configure as `traces.otlp_endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    pub fn spans_of(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("lock").iter().filter(|s| s.trace_id == trace_id).cloned().collect()
    }

    pub fn all(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("lock").clone()
    }
}

fn refuse(receiver: &StandInOtlp, status: StatusCode, why: String) -> Response {
    receiver.refused.lock().expect("lock").push(why.clone());
    (status, [(header::CONTENT_TYPE, "application/json")], serde_json::json!({ "code": 3, "message": why }).to_string())
        .into_response()
}

async fn export(State(receiver): State<StandInOtlp>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type != "application/x-protobuf" {
        return refuse(
            &receiver,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content type {content_type:?}"),
        );
    }
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING) {
        return refuse(
            &receiver,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content encoding {encoding:?}"),
        );
    }
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => request,
        Err(error) => return refuse(&receiver, StatusCode::BAD_REQUEST, format!("proto: {error}")),
    };
    let mut received = Vec::new();
    for resource_spans in &request.resource_spans {
        let resource = resource_spans.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_default();
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                if span.trace_id.len() != 16 || span.trace_id.iter().all(|b| *b == 0) {
                    return refuse(&receiver, StatusCode::BAD_REQUEST, format!("invalid trace id {:?}", span.trace_id));
                }
                if span.span_id.len() != 8 || span.span_id.iter().all(|b| *b == 0) {
                    return refuse(&receiver, StatusCode::BAD_REQUEST, format!("invalid span id {:?}", span.span_id));
                }
                if !(span.parent_span_id.is_empty() || span.parent_span_id.len() == 8) {
                    return refuse(&receiver, StatusCode::BAD_REQUEST, "invalid parent span id".into());
                }
                if span.end_time_unix_nano < span.start_time_unix_nano {
                    return refuse(
                        &receiver,
                        StatusCode::BAD_REQUEST,
                        format!("span {} ends before it starts", span.name),
                    );
                }
                received.push(ReceivedSpan {
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty()).then(|| hex::encode(&span.parent_span_id)),
                    name: span.name.clone(),
                    kind: span.kind,
                    attributes: attributes(&span.attributes),
                    resource: resource.clone(),
                    links: span.links.iter().map(|l| (hex::encode(&l.trace_id), hex::encode(&l.span_id))).collect(),
                    status: span.status.as_ref().map_or(0, |s| s.code),
                });
            }
        }
    }
    receiver.spans.lock().expect("lock").extend(received);
    let answer = ExportTraceServiceResponse { partial_success: None }.encode_to_vec();
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-protobuf")], answer).into_response()
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

//! A stand-in for the external model server: speaks the same HTTP
//! contract (WAV body in, VoiceProfile JSON out), running the real built-in
//! analyzer behind it. It can be switched to answer 503 (down) or to hang,
//! or to refuse one particular recording.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

pub const HEALTHY: u8 = 0;
pub const DOWN: u8 = 1;
pub const HANGING: u8 = 2;

#[derive(Clone, Default)]
pub struct ModelServer {
    pub mode: Arc<AtomicU8>,
    pub calls: Arc<AtomicUsize>,
    /// A recording (WAV body) that gets 503 whatever the mode, while set.
    pub refused: Arc<Mutex<Option<Vec<u8>>>>,
}

impl ModelServer {
    pub async fn spawn(mode: u8) -> (Self, String) {
        let server = Self::default();
        server.mode.store(mode, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/v1/analyze", listener.local_addr().expect("addr"));
        let app = server.router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (server, url)
    }

    /// The model server's endpoint, for serving over another transport (HTTPS).
    pub fn router(&self) -> Router {
        Router::new().route("/v1/analyze", post(analyze)).with_state(self.clone())
    }

    pub fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    /// Answers 503 to exactly this WAV until `refuse(None)`.
    pub fn refuse(&self, body: Option<Vec<u8>>) {
        *self.refused.lock().expect("lock") = body;
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn analyze(State(server): State<ModelServer>, body: Bytes) -> Response {
    server.calls.fetch_add(1, Ordering::SeqCst);
    if server.refused.lock().expect("lock").as_deref() == Some(&body[..]) {
        return (StatusCode::SERVICE_UNAVAILABLE, "this recording's shard is down").into_response();
    }
    match server.mode.load(Ordering::SeqCst) {
        DOWN => (StatusCode::SERVICE_UNAVAILABLE, "model server is warming up").into_response(),
        HANGING => {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        _ => match orakgarak::stages::analyze_wav(&body) {
            Ok(mut profile) => {
                profile.analyzer = "stand-in-model".into();
                axum::Json(profile).into_response()
            }
            Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).into_response(),
        },
    }
}

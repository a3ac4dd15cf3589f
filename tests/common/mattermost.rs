//! A stand-in Mattermost incoming webhook (`POST /hooks/{id}`), strict
//! about what Mattermost refuses: an unknown hook id, a body that is not a
//! JSON object (or `payload=` form), no `text` and no `attachments`,
//! attachments that are not objects, a message over 16383 characters.
//! Answers `200 ok` like Mattermost; while `set_down(true)`, answers 503
//! as a Mattermost behind a load balancer does when it is down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

const MAX_MESSAGE_CHARS: usize = 16_383;

#[derive(Clone, Debug)]
pub struct Post {
    pub at: Instant,
    pub body: Value,
}

impl Post {
    /// Everything a person would read: text, titles, attachment texts.
    pub fn readable(&self) -> String {
        let mut out = self.body["text"].as_str().unwrap_or_default().to_owned();
        for a in self.body["attachments"].as_array().into_iter().flatten() {
            for key in ["title", "title_link", "text", "fallback"] {
                out.push('\n');
                out.push_str(a[key].as_str().unwrap_or_default());
            }
        }
        out
    }
}

#[derive(Clone)]
pub struct StandInMattermost {
    pub hook_id: String,
    pub posts: Arc<Mutex<Vec<Post>>>,
    pub refused: Arc<Mutex<Vec<String>>>,
    pub url: String,
    down: Arc<AtomicBool>,
}

impl StandInMattermost {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let hook_id = uuid::Uuid::new_v4().simple().to_string();
        let url = format!("http://{}/hooks/{hook_id}", listener.local_addr().expect("addr"));
        let server =
            Self { hook_id, posts: Default::default(), refused: Default::default(), url, down: Default::default() };
        let app = Router::new().route("/hooks/{id}", post(hook)).with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        server
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn posts_mentioning(&self, needle: &str) -> Vec<Post> {
        self.posts.lock().expect("lock").iter().filter(|p| p.readable().contains(needle)).cloned().collect()
    }
}

fn validate(headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let json: Value = if content_type.starts_with("application/x-www-form-urlencoded") {
        let form = String::from_utf8_lossy(body);
        let payload = form.strip_prefix("payload=").ok_or("Unable to parse incoming data")?;
        let decoded = percent_encoding::percent_decode_str(&payload.replace('+', " ")).decode_utf8_lossy().into_owned();
        serde_json::from_str(&decoded).map_err(|_| "Unable to parse incoming data")?
    } else {
        serde_json::from_slice(body).map_err(|_| "Unable to parse incoming data")?
    };
    let object = json.as_object().ok_or("Unable to parse incoming data")?;
    let text = object.get("text").map(|t| t.as_str().ok_or("text must be a string")).transpose()?.unwrap_or_default();
    let attachments = match object.get("attachments") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err("attachments must be an array".into()),
    };
    if text.trim().is_empty() && attachments.is_empty() {
        return Err("No text specified".into());
    }
    if attachments.iter().any(|a| !a.is_object()) {
        return Err("attachments must be objects".into());
    }
    let size = text.chars().count()
        + attachments.iter().map(|a| a["text"].as_str().map_or(0, |t| t.chars().count())).sum::<usize>();
    if size > MAX_MESSAGE_CHARS {
        return Err("message too long".into());
    }
    Ok(json)
}

async fn hook(
    State(server): State<StandInMattermost>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    if server.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable".into());
    }
    if id != server.hook_id {
        server.refused.lock().expect("lock").push(format!("unknown hook {id}"));
        return (StatusCode::BAD_REQUEST, "Invalid webhook".into());
    }
    match validate(&headers, &body) {
        Ok(json) => {
            server.posts.lock().expect("lock").push(Post { at: Instant::now(), body: json });
            (StatusCode::OK, "ok".into())
        }
        Err(reason) => {
            server.refused.lock().expect("lock").push(reason.clone());
            (StatusCode::BAD_REQUEST, reason)
        }
    }
}

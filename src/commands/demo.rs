//! `demo`: plays the client and the object store's webhook against a
//! running API, then follows the upload to the end.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::config::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Recording to upload.
    #[arg(long, default_value = "demo/demo-singer.ogg")]
    pub file: PathBuf,
    /// User the upload belongs to.
    #[arg(long, default_value = "demo-singer")]
    pub user: String,
    /// Give up waiting after this long.
    #[arg(long, default_value = "120s", value_parser = crate::config::parse_duration)]
    pub timeout: Duration,
}

/// A client of the public API, as a singer's app and the bucket
/// notification would use it. Tests drive the service through it too.
#[derive(Clone)]
pub struct ApiClient {
    pub http: reqwest::Client,
    pub base_url: String,
    pub token: String,
    pub event_token: String,
    pub bucket: String,
}

impl ApiClient {
    /// Fails only on an unreadable `http.ca_bundle`.
    pub fn new(settings: &Settings, base_url: &str, user: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: crate::http_client::client_with_timeout(settings.http.ca_bundle.as_deref(), Duration::from_secs(30))?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: super::token::token_for(settings, user, Duration::from_secs(3600)),
            event_token: settings.auth.event_token.expose().to_owned(),
            bucket: settings.storage.bucket.clone(),
        })
    }

    /// `POST /v1/uploads`; returns the status and the JSON body.
    pub async fn create_upload(
        &self,
        filename: &str,
        content_type: &str,
        size: u64,
        key: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .post(format!("{}/v1/uploads", self.base_url))
            .bearer_auth(&self.token)
            .json(&json!({ "filename": filename, "content_type": content_type, "size_bytes": size }));
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await?;
        Ok((response.status().as_u16(), response.json().await?))
    }

    /// PUTs `body` to a presigned URL with its required headers.
    pub async fn put_object(&self, created: &Value, body: Vec<u8>) -> anyhow::Result<u16> {
        let url = created["put_url"].as_str().context("no put_url")?;
        let mut request = self.http.put(url).body(body);
        for (name, value) in created["required_headers"].as_object().context("no required_headers")? {
            if name != "content-length" {
                request = request.header(name, value.as_str().unwrap_or_default());
            }
        }
        Ok(request.send().await?.status().as_u16())
    }

    /// `POST /v1/uploads/{id}/complete`: the client says its PUT finished.
    pub async fn complete(&self, id: &str) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}/v1/uploads/{id}/complete", self.base_url))
            .bearer_auth(&self.token)
            .send()
            .await?;
        Ok((response.status().as_u16(), response.json().await.unwrap_or(Value::Null)))
    }

    /// What the object store's webhook would send after a PUT (the local
    /// S3 server has no notifications, so the client stands in for it).
    pub async fn notify_created(&self, object_key: &str, size: u64) -> anyhow::Result<(u16, Value)> {
        let encoded: String = percent_encoding::utf8_percent_encode(object_key, percent_encoding::NON_ALPHANUMERIC)
            .to_string()
            .replace("%2F", "/");
        let event = json!({ "Records": [{
            "eventVersion": "2.0", "eventSource": "minio:s3", "eventName": "s3:ObjectCreated:Put",
            "s3": { "bucket": { "name": self.bucket }, "object": { "key": encoded, "size": size } }
        }]});
        self.post_event(&event).await
    }

    pub async fn post_event(&self, event: &Value) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}/v1/events/s3", self.base_url))
            .bearer_auth(&self.event_token)
            .json(event)
            .send()
            .await?;
        Ok((response.status().as_u16(), response.json().await.unwrap_or(Value::Null)))
    }

    /// The whole client side of one upload: create it, PUT the bytes to
    /// the presigned URL, and send the object-created event the bucket
    /// would send. Returns the creation answer (`upload_id`, `trace_id`, …).
    pub async fn upload(&self, filename: &str, content_type: &str, bytes: Vec<u8>) -> anyhow::Result<Value> {
        let size = bytes.len() as u64;
        let (status, created) = self.create_upload(filename, content_type, size, None).await?;
        if status != 201 {
            bail!("POST /v1/uploads answered {status}: {created}");
        }
        let id = created["upload_id"].as_str().context("no upload_id")?.to_owned();
        let put = self.put_object(&created, bytes).await?;
        if put != 200 {
            bail!("the object store refused the PUT with {put}");
        }
        let id: crate::domain::UploadId = id.parse().map_err(|e| anyhow::anyhow!("upload_id {id}: {e}"))?;
        let (status, body) = self.notify_created(&crate::storage::recording_key(id, filename), size).await?;
        if status != 202 {
            bail!("POST /v1/events/s3 answered {status}: {body}");
        }
        Ok(created)
    }

    pub async fn get_upload(&self, id: &str) -> anyhow::Result<(u16, Value)> {
        let response =
            self.http.get(format!("{}/v1/uploads/{id}", self.base_url)).bearer_auth(&self.token).send().await?;
        Ok((response.status().as_u16(), response.json().await?))
    }

    /// Polls until the upload reaches `state` (or any terminal state when
    /// `None`), printing each new state when `verbose`.
    pub async fn wait_for(
        &self,
        id: &str,
        state: Option<&str>,
        timeout: Duration,
        verbose: bool,
    ) -> anyhow::Result<Value> {
        let started = Instant::now();
        let mut seen = 0;
        loop {
            let (status, upload) = self.get_upload(id).await?;
            if status != 200 {
                bail!("GET /v1/uploads/{id} answered {status}: {upload}");
            }
            let history = upload["history"].as_array().cloned().unwrap_or_default();
            if verbose {
                for step in history.iter().skip(seen) {
                    println!(
                        "  {:>7.3}s  {:<12} attempt {}{}",
                        started.elapsed().as_secs_f64(),
                        step["to_state"].as_str().unwrap_or("?"),
                        step["attempt"],
                        step["error"].as_str().map(|e| format!("  error: {e}")).unwrap_or_default()
                    );
                }
            }
            seen = history.len();
            let current = upload["state"].as_str().unwrap_or_default();
            let done = match state {
                Some(wanted) => current == wanted,
                None => upload["terminal"].as_bool().unwrap_or(false),
            };
            if done {
                return Ok(upload);
            }
            if started.elapsed() > timeout {
                bail!("upload {id} still {current} after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn content_type_of(path: &std::path::Path) -> &'static str {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
    crate::domain::media::type_for_extension(extension).unwrap_or("audio/wav")
}

pub async fn run(settings: Settings, args: &Args) -> anyhow::Result<()> {
    let client = ApiClient::new(&settings, &settings.http.base_url, &args.user)?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let filename = args.file.file_name().and_then(|n| n.to_str()).unwrap_or("recording.wav");
    let size = bytes.len() as u64;
    println!("Uploading {} ({size} bytes) as {}", args.file.display(), args.user);
    let created = client.upload(filename, content_type_of(&args.file), bytes).await?;
    let id = created["upload_id"].as_str().context("no upload_id")?.to_owned();
    println!("upload {id}  traceId {}", created["trace_id"].as_str().unwrap_or("?"));
    let upload = client.wait_for(&id, None, args.timeout, true).await?;
    println!("\nFinal state: {}", upload["state"].as_str().unwrap_or("?"));
    if let Some(error) = upload["error"].as_str() {
        println!("Error: {error}");
    }
    if let Some(range) = upload["analysis"]["range_names"].as_str() {
        let tessitura = upload["analysis"]["range"]["tessitura"]
            .as_i64()
            .and_then(|m| crate::domain::Note::from_midi(m as i32).ok());
        println!("Comfortable range: {range} (sits around {})", tessitura.map(|n| n.name()).unwrap_or_default());
    }
    for (i, song) in upload["result"]["recommendations"].as_array().into_iter().flatten().enumerate() {
        println!(
            "{:>2}. {} — {}  key {:+}  ({} → {}){}",
            i + 1,
            song["title"].as_str().unwrap_or("?"),
            song["artist"].as_str().unwrap_or("?"),
            song["key_shift"].as_i64().unwrap_or(0),
            song["original_range"].as_str().unwrap_or("?"),
            song["sung_range"].as_str().unwrap_or("?"),
            if song["fits"].as_bool() == Some(false) { "  (stretch)" } else { "" },
        );
        if let Some(reason) = song["reason"].as_str() {
            println!("    {reason}");
        }
    }
    if upload["state"] != "COMPLETED" {
        bail!("the demo upload did not complete");
    }
    Ok(())
}

//! The upload pipeline end to end on the real stack (PostgreSQL, tansu,
//! s3s-fs): presigned upload → event → convert → analyze → recommend.

mod common;

use std::time::Duration;

use common::model_server::{ModelServer, DOWN, HANGING, HEALTHY};
use common::{at, fixture, spawn_app, spawn_app_with, states, TestApp, HAPPY_PATH};
use orakgarak::pipeline::dlq::replay;
use orakgarak::pipeline::{StageMessage, Trigger};
use rdkafka::producer::FutureRecord;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recording_in_every_format_reaches_recommendations() {
    let app = spawn_app().await;
    let formats = [
        ("take.wav", "audio/wav", "sung-a3-e4.wav"),
        ("take.mp3", "audio/mpeg", "sung-a3-e4.mp3"),
        ("take.m4a", "audio/mp4", "sung-a3-e4.m4a"),
        ("take.ogg", "audio/ogg", "sung-a3-e4.ogg"),
        ("take.flac", "audio/flac", "sung-a3-e4.flac"),
        ("take.opus", "audio/ogg", "sung-a3-e4.opus"),
        // A space and Hangul in the name: the event carries it URL-encoded.
        ("my take 노래.webm", "audio/webm", "streamed-truncated.webm"),
    ];
    let mut ids = Vec::new();
    for (name, content_type, file) in formats {
        ids.push((name, app.upload(name, content_type, fixture(file)).await));
    }
    for (name, id) in ids {
        let upload = app.wait_for(&id, None).await;
        assert_eq!(upload["state"], "COMPLETED", "{name}: {upload:#}");
        assert_eq!(states(&upload), HAPPY_PATH, "{name}");
        assert_eq!(upload["analysis"]["range_names"], "A3–E4", "{name}");
        let songs = upload["result"]["recommendations"].as_array().expect("recommendations");
        assert!(!songs.is_empty(), "{name}: no songs");
        assert!(songs.iter().all(|s| s["fits"] == true), "{name}: {songs:?}");
        // One trace across every hop: every transition carries the upload's traceId.
        let trace = upload["trace_id"].as_str().expect("trace id");
        assert!(upload["history"].as_array().into_iter().flatten().all(|h| h["trace_id"] == trace), "{name}");
    }
    assert!(
        app.metric("orakgarak_stage_duration_seconds_count", &["stage=\"analyze\"", "outcome=\"success\""]).await
            >= 7.0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupt_file_fails_at_once_into_the_dead_letter_topic() {
    let app = spawn_app().await;
    let id = app.upload("broken.mp3", "audio/mpeg", fixture("corrupt.mp3")).await;
    let upload = app.wait_for(&id, Some("FAILED")).await;
    assert_eq!(states(&upload), ["CREATED", "UPLOADED", "CONVERTING", "FAILED"], "not retryable: no retries");
    let error = upload["error"].as_str().expect("a reason");
    assert!(error.contains("not a recording") || error.contains("corrupt"), "{error}");

    let letters = app.dead_letters(1).await;
    let letter = &letters[0];
    assert_eq!(letter.upload_id.map(|u| u.to_string()), Some(id.clone()));
    assert_eq!(letter.header("x-dlq-reason"), Some("not_retryable"));
    assert_eq!(letter.header("x-attempt"), Some("1"));
    assert_eq!(
        letter.header("x-original-topic"),
        Some(app.app.topics.stage(orakgarak::domain::Stage::Convert, orakgarak::telemetry::Lane::Realtime).as_str())
    );
    assert!(letter.header("x-original-offset").is_some_and(|o| o.parse::<i64>().is_ok()));
    let traceparent = letter.header("traceparent").expect("trace kept");
    assert!(traceparent.contains(upload["trace_id"].as_str().expect("trace")), "{traceparent}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_failures_retry_three_times_then_replay_completes_once_fixed() {
    let (model, url) = ModelServer::spawn(DOWN).await;
    let app = spawn_app_with(|s| s.analysis.model_url = Some(url)).await;
    let id = app.upload("take.ogg", "audio/ogg", fixture("sung-a3-e4.ogg")).await;
    let upload = app.wait_for(&id, Some("FAILED")).await;
    let history = states(&upload);
    assert_eq!(
        history[4..],
        ["ANALYZING", "RETRYING", "ANALYZING", "RETRYING", "ANALYZING", "RETRYING", "ANALYZING", "FAILED"],
        "first try, 3 retries, then the DLQ"
    );
    assert_eq!(model.calls(), 4);
    // Each retry waited out its backoff, by the history's own clock.
    for (i, backoff) in [1, 2, 4].into_iter().enumerate() {
        let waited = at(&upload, "ANALYZING", i + 1) - at(&upload, "RETRYING", i);
        assert!(waited >= chrono::Duration::seconds(backoff), "retry {} ran {waited} after failing", i + 1);
    }
    let letters = app.dead_letters(1).await;
    assert_eq!(letters[0].header("x-dlq-reason"), Some("exhausted"));
    assert_eq!(letters[0].header("x-attempt"), Some("4"));

    // Nothing reprocesses it on its own: no message for it is waiting to be
    // sent, and the watchdog (the only automatic re-driver) leaves it alone.
    assert_eq!(app.app.store.outbox_len().await.expect("outbox"), 0);
    let report = app.app.watchdog().run_once().await.expect("watchdog run");
    assert_eq!((report.found, report.redriven), (0, 0), "{report:?}");
    assert_eq!(app.client.get_upload(&id).await.expect("GET").1["state"], "FAILED");

    // The operator fixes the cause and replays.
    model.set(HEALTHY);
    let report = replay(&app.app.store, &app.app.topics, &app.app.metrics, &letters, None).await.expect("replay");
    assert_eq!(report.replayed.len(), 1);
    let upload = app.wait_for(&id, Some("COMPLETED")).await;
    assert_eq!(upload["analysis"]["analyzer"], "stand-in-model");
    assert_eq!(upload["analysis"]["range_names"], "A3–E4");
    // A second replay is harmless: the upload is no longer FAILED.
    let again = replay(&app.app.store, &app.app.topics, &app.app.metrics, &letters, None).await.expect("replay");
    assert_eq!((again.replayed.len(), again.skipped.len()), (0, 1));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_message_has_one_effect() {
    let app = spawn_app().await;
    let id = app.upload("take.flac", "audio/flac", fixture("sung-a3-e4.flac")).await;
    let done = app.wait_for(&id, Some("COMPLETED")).await;
    let producer = app.app.kafka.producer().expect("producer");
    let topic = app.app.topics.stage(orakgarak::domain::Stage::Convert, orakgarak::telemetry::Lane::Realtime);
    // A fresh message for a stage the upload is past, sent twice, plus garbage.
    let message = StageMessage::new(id.parse().expect("uuid"), orakgarak::domain::Stage::Convert, Trigger::Event);
    let payload = serde_json::to_vec(&message).expect("json");
    for body in [payload.as_slice(), payload.as_slice(), b"{not json".as_slice()] {
        producer
            .send(FutureRecord::to(&topic).key(&id).payload(body), Duration::from_secs(10))
            .await
            .expect("produced");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.metric("orakgarak_messages_duplicate_total", &["stage=\"convert\""]).await < 2.0 {
        assert!(std::time::Instant::now() < deadline, "duplicates were not consumed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = app.client.get_upload(&id).await.expect("GET").1;
    assert_eq!(after["history"], done["history"], "no state moved, no stage ran again");
    let letters = app.dead_letters(1).await;
    assert_eq!(letters[0].header("x-dlq-reason"), Some("poison"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_are_checked_at_the_api_and_at_the_store() {
    // The PUTs go to the store itself: the stack's CORS front (for browsers)
    // reports the store hanging up on a refused body as its own 502.
    let app = spawn_app_with(|settings| settings.storage.public_endpoint = None).await;
    let client = &app.client;

    // More than 100 MB is refused before anything is created.
    let (status, body) = client.create_upload("big.wav", "audio/wav", 100 * 1024 * 1024 + 1, None).await.expect("POST");
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "too_large");
    assert!(body["traceId"].as_str().is_some_and(|t| t.len() == 32), "{body}");
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM uploads").fetch_one(app.app.store.pool()).await.expect("count");
    assert_eq!(count, 0);
    let (status, _) = client.create_upload("x.exe", "application/x-msdownload", 10, None).await.expect("POST");
    assert_eq!(status, 422);

    // The signed Content-Length binds the body size: s3s-fs refuses another.
    let bytes = fixture("sung-a3-e4.ogg");
    let (status, created) =
        client.create_upload("take.ogg", "audio/ogg", bytes.len() as u64, Some("key-1")).await.expect("POST");
    assert_eq!(status, 201);
    assert_eq!(created["required_headers"]["content-length"], bytes.len().to_string());
    let key = format!("raw/{}/take.ogg", created["upload_id"].as_str().expect("id"));
    let short = client.put_object(&created, bytes[..bytes.len() - 100].to_vec()).await;
    assert_store_refused(&app, &key, short, "a short body").await;
    let mut tampered = created.clone();
    tampered["put_url"] =
        json!(created["put_url"].as_str().expect("url").replace("X-Amz-Signature=", "X-Amz-Signature=0"));
    let forged = client.put_object(&tampered, bytes.clone()).await;
    assert_store_refused(&app, &key, forged, "a forged signature").await;

    // Idempotency-Key: the same upload again, not a new one.
    let (status, again) =
        client.create_upload("take.ogg", "audio/ogg", bytes.len() as u64, Some("key-1")).await.expect("POST");
    assert_eq!(status, 200);
    assert_eq!(again["upload_id"], created["upload_id"]);
    let id = created["upload_id"].as_str().expect("id").to_owned();

    // Another user cannot see it; a malformed id is simply not found.
    assert_eq!(app.client_for("mallory").get_upload(&id).await.expect("GET").0, 404);
    assert_eq!(client.get_upload("not-a-uuid").await.expect("GET").0, 404);
    let unauthenticated = reqwest::get(format!("{}/v1/uploads/{id}", app.base_url)).await.expect("GET");
    assert_eq!(unauthenticated.status().as_u16(), 401);

    // Forged and malformed events are refused and change nothing.
    let mut forger = app.client_for("alice");
    forger.event_token = "guess".into();
    assert_eq!(forger.notify_created(&key, bytes.len() as u64).await.expect("POST").0, 401);
    let (status, body) =
        client.post_event(&json!({"Records": [{"eventName": "s3:ObjectCreated:Put"}]})).await.expect("POST");
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")));
    let (status, _) = client.notify_created(&format!("raw/{}/take.ogg", uuid::Uuid::new_v4()), 10).await.expect("POST");
    assert_eq!(status, 422);
    let upload = client.get_upload(&id).await.expect("GET").1;
    assert_eq!(states(&upload), ["CREATED"]);

    // An event whose size disagrees with the declaration rejects the upload.
    let (status, body) = client.notify_created(&key, bytes.len() as u64 + 1).await.expect("POST");
    assert_eq!((status, body["rejected"].as_u64()), (202, Some(1)));
    let upload = client.get_upload(&id).await.expect("GET").1;
    assert_eq!(states(&upload), ["CREATED", "REJECTED"]);
    assert!(upload["error"].as_str().is_some_and(|e| e.contains("declared")));
    app.stop().await;
}

/// The store refused the PUT: it answered 4xx, or it answered and hung up
/// before the body was through (S3 does not read the body of a request it
/// refuses, so the client may see its write cut off instead of the 403) —
/// either way it holds no object under `key`.
async fn assert_store_refused(app: &TestApp, key: &str, put: anyhow::Result<u16>, what: &str) {
    match put {
        Ok(status) => assert!((400..500).contains(&status), "{what}: the store answered {status}"),
        Err(e) => {
            let cut = e.chain().any(|cause| {
                cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
                    matches!(io.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset)
                })
            });
            assert!(cut, "{what}: the PUT failed otherwise than by the store hanging up: {e:#}");
        }
    }
    assert_eq!(app.app.objects.head(key).await.expect("HEAD"), None, "{what}: the store kept the object");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_object_created_event_is_harmless() {
    let app = spawn_app().await;
    let bytes = fixture("sung-a3-e4.mp3");
    let id = app.upload("take.mp3", "audio/mpeg", bytes.clone()).await;
    let key = format!("raw/{id}/take.mp3");
    // EventBridge format this time, for the same object.
    let bridge = json!({"version": "0", "detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": app.settings.storage.bucket}, "object": {"key": key, "size": bytes.len()}}});
    let (status, body) = app.client.post_event(&bridge).await.expect("POST");
    assert_eq!((status, body["duplicates"].as_u64()), (202, Some(1)));
    let upload = app.wait_for(&id, Some("COMPLETED")).await;
    assert_eq!(states(&upload), HAPPY_PATH, "converted once");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oversize_object_is_rejected_on_its_event() {
    let app = spawn_app().await;
    let (status, created) = app.client.create_upload("take.wav", "audio/wav", 1000, None).await.expect("POST");
    assert_eq!(status, 201);
    let id = created["upload_id"].as_str().expect("id").to_owned();
    // The store says the object is 200 MB, whatever was declared or signed.
    let (status, body) =
        app.client.notify_created(&format!("raw/{id}/take.wav"), 200 * 1024 * 1024).await.expect("event");
    assert_eq!((status, body["rejected"].as_u64()), (202, Some(1)));
    let upload = app.client.get_upload(&id).await.expect("GET").1;
    assert_eq!(states(&upload), ["CREATED", "REJECTED"]);
    assert!(upload["error"].as_str().is_some_and(|e| e.contains("over the 104857600 byte limit")), "{upload}");
    assert_eq!(app.metric("orakgarak_uploads_rejected_total", &["reason=\"oversize_object\""]).await, 1.0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_model_server_is_cut_off_by_its_time_limit() {
    let (model, url) = ModelServer::spawn(HANGING).await;
    let app = spawn_app_with(|s| {
        s.analysis.model_url = Some(url);
        s.analysis.model_timeout = Duration::from_millis(500);
    })
    .await;
    let id = app.upload("take.ogg", "audio/ogg", fixture("sung-a3-e4.ogg")).await;
    let upload = app.wait_for(&id, Some("FAILED")).await;
    assert_eq!(model.calls(), 4, "first try and three retries, each cut off");
    assert!(upload["error"].as_str().is_some_and(|e| e.contains("did not answer within")), "{upload}");
    assert_eq!(app.metric("orakgarak_external_call_timeouts_total", &["dependency=\"model_server\""]).await, 4.0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_consumer_group_reads_the_same_topic_independently() {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::Message;

    let app = spawn_app().await;
    let id = app.upload("take.ogg", "audio/ogg", fixture("sung-a3-e4.ogg")).await;
    app.wait_for(&id, Some("COMPLETED")).await;
    // An auditing reader with its own group sees the upload's convert
    // message from the start, keyed by the upload id...
    let group = format!("{}.audit", app.settings.kafka.group_prefix);
    let reader: StreamConsumer = app.app.kafka.consumer_config(&group).create().expect("consumer");
    let topic = app.app.topics.stage(orakgarak::domain::Stage::Convert, orakgarak::telemetry::Lane::Realtime);
    reader.subscribe(&[&topic]).expect("subscribe");
    let message = tokio::time::timeout(Duration::from_secs(30), reader.recv()).await.expect("a message").expect("ok");
    assert_eq!(message.key(), Some(id.as_bytes()));
    let body: StageMessage = serde_json::from_slice(message.payload().expect("payload")).expect("envelope");
    assert_eq!(body.upload_id.to_string(), id);
    // ...and the pipeline's own group consumed it once.
    assert_eq!(app.metric("orakgarak_messages_consumed_total", &["stage=\"convert\"", "lane=\"realtime\""]).await, 1.0);
    assert_eq!(states(&app.client.get_upload(&id).await.expect("GET").1), HAPPY_PATH);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_saying_its_put_finished_starts_the_upload_once_and_never_before_the_object_is_there() {
    let app = spawn_app().await;
    let bytes = fixture("sung-a3-e4.ogg");
    let size = bytes.len() as u64;
    let (status, created) = app.client.create_upload("take.ogg", "audio/ogg", size, None).await.expect("create");
    assert_eq!(status, 201, "{created}");
    let id = created["upload_id"].as_str().expect("upload_id").to_owned();

    let (status, body) = app.client.complete(&id).await.expect("complete");
    assert_eq!(status, 409, "no object yet: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("finish its PUT")), "{body}");
    let (status, _) = app.client_for("mallory").complete(&id).await.expect("complete");
    assert_eq!(status, 404, "someone else's upload");
    assert_eq!(app.client.get_upload(&id).await.expect("GET").1["state"], "CREATED");

    assert_eq!(app.client.put_object(&created, bytes).await.expect("PUT"), 200);
    let (status, body) = app.client.complete(&id).await.expect("complete");
    assert_eq!(status, 202, "{body}");
    assert!(HAPPY_PATH[1..].contains(&body["state"].as_str().unwrap_or_default()), "it has arrived: {body}");
    // A repeat, and the store's own event after it, change nothing.
    let (status, _) = app.client.complete(&id).await.expect("complete again");
    assert_eq!(status, 202);
    let upload_id: orakgarak::domain::UploadId = id.parse().expect("id");
    let (status, outcome) = app
        .client
        .notify_created(&orakgarak::storage::recording_key(upload_id, "take.ogg"), size)
        .await
        .expect("event");
    assert_eq!((status, outcome["duplicates"].as_u64()), (202, Some(1)), "{outcome}");

    let upload = app.wait_for(&id, Some("COMPLETED")).await;
    assert_eq!(states(&upload), HAPPY_PATH, "started once");
    assert_eq!(upload["analysis"]["range_names"], "A3–E4");
    app.stop().await;
}

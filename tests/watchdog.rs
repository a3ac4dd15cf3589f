//! The watchdog on the real stack: lost events, missing objects, killed
//! workers, uploads that keep sticking, concurrent watchdogs, and bulk
//! re-drives next to fresh uploads.

mod common;

use std::time::{Duration, Instant};

use common::model_server::{ModelServer, HANGING};
use common::{fixture, isolated_settings, spawn_app_with, start, states};
use orakgarak::app::Roles;
use orakgarak::config::{Settings, StuckThresholds};
use orakgarak::domain::Stage;
use orakgarak::pipeline::dlq::read_dead_letters;
use orakgarak::telemetry::Lane;

fn fast_watchdog(s: &mut Settings) {
    s.watchdog.thresholds = StuckThresholds::all(Duration::from_secs(1));
    s.watchdog.expiry_grace = Duration::ZERO;
}

fn api_only() -> Roles {
    Roles { api: true, stages: vec![], lanes: vec![], watchdog: false }
}

async fn redrives(app: &common::TestApp, id: &str) -> i32 {
    sqlx::query_scalar("SELECT redrives FROM uploads WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(app.app.store.pool())
        .await
        .expect("row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_event_is_reconciled_and_a_missing_object_expires() {
    let app = spawn_app_with(|s| {
        fast_watchdog(s);
        s.storage.presign_ttl = Duration::from_secs(2);
    })
    .await;
    let bytes = fixture("sung-a3-e4.ogg");
    // The object arrives but its event is lost.
    let (_, created) = app.client.create_upload("take.ogg", "audio/ogg", bytes.len() as u64, None).await.expect("POST");
    assert_eq!(app.client.put_object(&created, bytes).await.expect("PUT"), 200);
    let reconciled = created["upload_id"].as_str().expect("id").to_owned();
    // The client never uploads this one.
    let (_, created) = app.client.create_upload("gone.ogg", "audio/ogg", 1000, None).await.expect("POST");
    let missing = created["upload_id"].as_str().expect("id").to_owned();

    let early = app.app.watchdog().run_once().await.expect("run");
    assert_eq!((early.reconciled, early.expired), (0, 0), "nothing happens before the URL expires");
    app.wait_until_watchdog_sees(2).await;
    let report = app.app.watchdog().run_once().await.expect("run");
    assert_eq!((report.reconciled, report.expired), (1, 1), "{report:?}");

    let upload = app.wait_for(&reconciled, Some("COMPLETED")).await;
    assert_eq!(states(&upload)[..2], ["CREATED", "UPLOADED"]);
    assert_eq!(upload["analysis"]["range_names"], "A3–E4");
    let upload = app.wait_for(&missing, Some("EXPIRED")).await;
    assert_eq!(states(&upload), ["CREATED", "EXPIRED"]);
    assert!(upload["error"].as_str().is_some_and(|e| e.contains("expired")));
    assert_eq!(app.metric("orakgarak_watchdog_reconciled_total", &[]).await, 1.0);
    assert_eq!(app.metric("orakgarak_watchdog_expired_total", &[]).await, 1.0);

    // Dedup keys older than the retention are purged by the run.
    sqlx::query("UPDATE processed_messages SET processed_at = now() - interval '30 days'")
        .execute(app.app.store.pool())
        .await
        .expect("age keys");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_messages")
        .fetch_one(app.app.store.pool())
        .await
        .expect("count");
    assert!(kept >= 3, "the completed upload's three stages left dedup keys");
    let report = app.app.watchdog().run_once().await.expect("run");
    assert_eq!(report.dedup_keys_purged, kept as u64);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_stage_is_redriven_to_completion() {
    let (model, url) = ModelServer::spawn(HANGING).await;
    let (mut settings, db) = isolated_settings().await;
    fast_watchdog(&mut settings);
    settings.analysis.model_url = Some(url);
    settings.analysis.model_timeout = Duration::from_secs(600);
    let crashed = start(settings.clone(), db.clone(), Roles { watchdog: false, ..Roles::all() }).await;
    let id = crashed.upload("take.ogg", "audio/ogg", fixture("sung-a3-e4.ogg")).await;
    crashed.wait_for(&id, Some("ANALYZING")).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while model.calls() == 0 {
        assert!(Instant::now() < deadline, "analysis never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The worker dies in the middle of the analysis.
    let mut crashed = crashed;
    crashed.running.take().expect("running").abort();

    // A replacement pool serves only the bulk lane, so only a re-drive can finish it.
    settings.analysis.model_url = None;
    let replacement = start(settings, db, Roles { lanes: vec![Lane::Bulk], watchdog: false, ..Roles::all() }).await;
    replacement.wait_until_watchdog_sees(1).await;
    let report = replacement.app.watchdog().run_once().await.expect("run");
    assert_eq!(report.redriven, 1, "{report:?}");
    let upload = replacement.wait_for(&id, Some("COMPLETED")).await;
    let history = states(&upload);
    assert_eq!(history[history.len() - 4..], ["ANALYZING", "ANALYZED", "RECOMMENDING", "COMPLETED"]);
    assert!(!history.contains(&"FAILED".to_owned()));
    assert_eq!(upload["trace_id"], upload["history"][0]["trace_id"], "the re-drive continues the upload's trace");
    assert!(upload["history"].as_array().expect("history").iter().all(|h| h["trace_id"] == upload["trace_id"]));
    assert_eq!(redrives(&replacement, &id).await, 1);
    replacement.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_that_keeps_sticking_is_given_up_after_three_redrives() {
    let (mut settings, db) = isolated_settings().await;
    fast_watchdog(&mut settings);
    // No stage workers at all: nothing will ever move the upload.
    let app = start(settings, db, api_only()).await;
    let id = app.upload("take.wav", "audio/wav", fixture("sung-a3-e4.wav")).await;
    for round in 1..=3 {
        app.wait_until_watchdog_sees(1).await;
        let report = app.app.watchdog().run_once().await.expect("run");
        assert_eq!((report.redriven, report.given_up), (1, 0), "round {round}: {report:?}");
        assert_eq!(redrives(&app, &id).await, round);
    }
    app.wait_until_watchdog_sees(1).await;
    let report = app.app.watchdog().run_once().await.expect("run");
    assert_eq!((report.redriven, report.given_up), (0, 1), "{report:?}");
    let upload = app.client.get_upload(&id).await.expect("GET").1;
    assert_eq!(states(&upload), ["CREATED", "UPLOADED", "FAILED"]);
    assert!(upload["error"].as_str().is_some_and(|e| e.contains("after 3 automatic re-drives")), "{upload}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let letters = loop {
        let letters = read_dead_letters(&app.app.kafka, &app.app.topics).await.expect("DLQ");
        if !letters.is_empty() || Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].stage, Stage::Convert);
    assert_eq!(letters[0].header("x-dlq-reason"), Some("stuck"));
    assert_eq!(letters[0].upload_id.map(|u| u.to_string()), Some(id));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_watchdogs_at_once_redrive_each_stuck_upload_once() {
    let (mut settings, db) = isolated_settings().await;
    fast_watchdog(&mut settings);
    let app = start(settings, db, api_only()).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.upload(&format!("take{i}.wav"), "audio/wav", fixture("sung-a3-e4.wav")).await);
    }
    app.wait_until_watchdog_sees(5).await;
    let (first, second) = (app.app.watchdog(), app.app.watchdog());
    let (a, b) = tokio::join!(first.run_once(), second.run_once());
    let (a, b) = (a.expect("run"), b.expect("run"));
    assert_eq!(a.redriven + b.redriven, 5, "{a:?} {b:?}");
    for id in &ids {
        assert_eq!(redrives(&app, id).await, 1, "{id} re-driven exactly once");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bulk_redrive_does_not_hold_up_a_fresh_upload() {
    let app = spawn_app_with(fast_watchdog).await;
    let bytes = fixture("sung-a3-e4.ogg");
    let timed = |name: &'static str| {
        let bytes = bytes.clone();
        let app = &app;
        async move {
            let id = app.upload(name, "audio/ogg", bytes).await;
            app.wait_for(&id, Some("COMPLETED")).await;
        }
    };
    timed("alone.ogg").await;

    // 30 uploads stuck in UPLOADED with their messages lost (written
    // straight to the store, as a lost message would leave them).
    let wav = fixture("sung-a3-e4.wav");
    for i in 0..30 {
        let id = orakgarak::domain::UploadId::new();
        let key = format!("raw/{id}/stuck{i}.wav");
        app.app.objects.put(&key, wav.clone(), "audio/wav").await.expect("put");
        let new = orakgarak::store::NewUpload {
            id,
            user_id: orakgarak::domain::UserId::parse("bulk").expect("user"),
            idempotency_key: None,
            filename: format!("stuck{i}.wav"),
            content_type: "audio/wav".into(),
            declared_bytes: wav.len() as u64,
            object_key: key,
            trace: orakgarak::domain::TraceContext::root(),
            url_expires_at: chrono::Utc::now() + chrono::Duration::minutes(5),
        };
        app.app.store.create_upload(new).await.expect("row");
        let meta = orakgarak::store::TransitionMeta { attempt: 0, error: None, trace_id: "0".repeat(32) };
        app.app
            .store
            .transition_now(
                id,
                orakgarak::domain::UploadState::Created,
                orakgarak::domain::UploadState::Uploaded,
                &meta,
            )
            .await
            .expect("uploaded");
    }
    app.wait_until_watchdog_sees(30).await;
    let report = app.app.watchdog().run_once().await.expect("run");
    assert_eq!(report.redriven, 30);
    timed("fresh.ogg").await;
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM uploads WHERE user_id = 'bulk' AND state <> 'COMPLETED'")
            .fetch_one(app.app.store.pool())
            .await
            .expect("count");
    // Had the fresh upload queued behind the re-drives, none would be left.
    assert!(pending > 0, "the fresh upload finished only after all 30 re-driven ones");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM uploads WHERE user_id = 'bulk' AND state = 'COMPLETED'")
                .fetch_one(app.app.store.pool())
                .await
                .expect("count");
        if done == 30 {
            break;
        }
        assert!(Instant::now() < deadline, "bulk re-drives did not all complete ({done}/30)");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    app.stop().await;
}

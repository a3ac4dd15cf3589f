//! A broker restart loses nothing. The test runs its own tansu with
//! S3-backed storage (on the stack's s3s-fs), pushes uploads through the
//! pipeline, restarts the broker in the middle, and expects every upload to
//! complete exactly once.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::server::OwnServer;
use common::{fixture, isolated_settings, start, states};
use orakgarak::app::Roles;

/// A tansu broker of the test's own, its log in `bucket` on the stack's S3
/// server, so it comes back with its log after a restart.
fn broker_command(port: u16, bucket: &str, log: &std::path::Path) -> Command {
    let mut command = Command::new("tansu");
    command
        .args(["broker", "--listener-url", &format!("tcp://127.0.0.1:{port}")])
        .args(["--advertised-listener-url", &format!("tcp://127.0.0.1:{port}")])
        .args(["--storage-engine", &format!("s3://{bucket}/")])
        .env("AWS_ENDPOINT", "http://127.0.0.1:9000")
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "orakgarak")
        .env("AWS_SECRET_ACCESS_KEY", "orakgarak-dev-secret")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new().create(true).append(true).open(log).map(Stdio::from).unwrap_or(Stdio::null()),
        );
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_restart_mid_pipeline_loses_nothing_and_runs_nothing_twice() {
    let (mut settings, db) = isolated_settings().await;
    // The broker's log lives in its own bucket on the stack's S3 server.
    let bucket = format!("tansu-{}", &settings.storage.bucket);
    let mut store_settings = settings.storage.clone();
    store_settings.bucket = bucket.clone();
    orakgarak::storage::ObjectStore::new(&store_settings, orakgarak::telemetry::Metrics::new())
        .ensure_bucket()
        .await
        .expect("broker bucket");
    let log = std::env::temp_dir().join(format!("{bucket}.log"));
    let broker_log = log.clone();
    let mut broker = OwnServer::start("tansu", &log, move |port| broker_command(port, &bucket, &broker_log)).await;
    settings.kafka.brokers = format!("127.0.0.1:{}", broker.port);
    let app = start(settings, db, Roles::all()).await;

    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(app.upload(&format!("take{i}.ogg"), "audio/ogg", fixture("sung-a3-e4.ogg")).await);
    }
    // Restart while the first uploads are still moving through the stages.
    broker.restart().await;
    for i in 4..6 {
        ids.push(app.upload(&format!("take{i}.ogg"), "audio/ogg", fixture("sung-a3-e4.ogg")).await);
    }
    for id in &ids {
        let upload = app
            .client
            .wait_for(id, Some("COMPLETED"), Duration::from_secs(180), false)
            .await
            .expect("completes after the restart");
        assert_eq!(
            states(&upload),
            ["CREATED", "UPLOADED", "CONVERTING", "CONVERTED", "ANALYZING", "ANALYZED", "RECOMMENDING", "COMPLETED"],
            "{id}: every stage ran exactly once"
        );
    }
    assert_eq!(app.app.store.outbox_len().await.expect("outbox"), 0, "nothing left undelivered");
    app.stop().await;
}

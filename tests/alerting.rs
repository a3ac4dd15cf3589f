//! Live: the shipped alert rules in a real Prometheus, the shipped
//! Alertmanager config in a real Alertmanager, a stand-in Mattermost. Real
//! faults are injected into running pipelines; the test measures how long
//! each takes to be pending and to reach Mattermost, checks the message
//! arrives once, and that an inhibited alert stays silent.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::mattermost::StandInMattermost;
use common::prometheus::{wait_ready, Prometheus};
use common::{fixture, spawn_app};
use serde_json::Value;

struct Alertmanager {
    child: Child,
    url: String,
    dir: std::path::PathBuf,
}

impl Alertmanager {
    async fn start(webhook_url: &str) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = std::env::temp_dir().join(format!("orakgarak-am-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("templates")).expect("dir");
        std::fs::write(dir.join("mattermost_webhook_url"), webhook_url).expect("url file");
        let config = std::fs::read_to_string(root.join("alertmanager/alertmanager.yml")).expect("config").replace(
            "/etc/alertmanager/mattermost_webhook_url",
            &dir.join("mattermost_webhook_url").display().to_string(),
        );
        std::fs::write(dir.join("alertmanager.yml"), config).expect("config");
        std::fs::copy(root.join("alertmanager/templates/mattermost.tmpl"), dir.join("templates/mattermost.tmpl"))
            .expect("template");
        let log = dir.join("alertmanager.log");
        let (mut child, port) = common::ports::spawn_on_free_port("prometheus-alertmanager", &log, |port| {
            let mut command = Command::new("prometheus-alertmanager");
            command
                .arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
                .arg(format!("--storage.path={}", dir.join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).map(Stdio::from).unwrap_or(Stdio::null()));
            command
        })
        .await;
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&url, &mut child, &dir.join("alertmanager.log")).await;
        Self { child, url, dir }
    }

    async fn alerts(&self, name: &str) -> Vec<Value> {
        let all: Value = get_json(&format!("{}/api/v2/alerts", self.url)).await;
        all.as_array().into_iter().flatten().filter(|a| a["labels"]["alertname"] == name).cloned().collect()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.expect(url).json().await.expect("JSON answer")
}

async fn alert_state(prometheus: &Prometheus, name: &str) -> Option<String> {
    let alerts: Value = reqwest::get(format!("{}/api/v1/alerts", prometheus.url)).await.ok()?.json().await.ok()?;
    alerts["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .and_then(|a| a["state"].as_str().map(str::to_owned))
}

/// Seconds from `since` until the alert is pending (or firing) in Prometheus
/// and until its message reaches Mattermost.
async fn time_to_page(
    prometheus: &Prometheus,
    mattermost: &StandInMattermost,
    name: &str,
    since: Instant,
) -> (f64, f64) {
    let deadline = since + Duration::from_secs(240);
    let mut pending = None;
    loop {
        if pending.is_none() && alert_state(prometheus, name).await.is_some() {
            pending = Some(since.elapsed().as_secs_f64());
        }
        if let Some(post) = mattermost.posts_mentioning(name).first() {
            return (pending.unwrap_or(f64::NAN), post.at.duration_since(since).as_secs_f64());
        }
        if Instant::now() > deadline {
            let rules = get_json(&format!("{}/api/v1/rules", prometheus.url)).await;
            let rule = rules["data"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .find(|r| r["name"] == name);
            let targets = get_json(&format!("{}/api/v1/targets", prometheus.url)).await;
            panic!(
                "{name} did not reach Mattermost (pending after {pending:?} s)\nrule: {rule:?}\ntargets: {}",
                targets["data"]["activeTargets"]
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_page_once_in_mattermost_and_inhibited_alerts_stay_silent() {
    let mattermost = StandInMattermost::start().await;
    let alertmanager = Alertmanager::start(&mattermost.url).await;
    let a = spawn_app().await;
    let b = spawn_app().await;
    let target =
        |app: &common::TestApp| app.metrics_url.trim_start_matches("http://").trim_end_matches("/metrics").to_owned();
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts");
    let extra = format!(
        "rule_files:\n  - {}/*.yml\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\n",
        rules.display(),
        alertmanager.url.trim_start_matches("http://")
    );
    // Both instances under one job, as a real deployment scrapes them.
    let prometheus = Prometheus::start(&[("orakgarak", target(&a)), ("orakgarak", target(&b))], &extra).await;
    // Prometheus applies new targets after a ~5 s discovery throttle: wait
    // until both instances (and their pre-created zero counters) are in.
    prometheus
        .wait_for(
            "count(orakgarak_messages_dead_lettered_total{stage=\"convert\",reason=\"not_retryable\"}) == 2",
            Duration::from_secs(30),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Fault 1: a recording that cannot be decoded reaches the DLQ.
    let started = Instant::now();
    let id = a.upload("poison.mp3", "audio/mpeg", fixture("corrupt.mp3")).await;
    a.wait_for(&id, Some("FAILED")).await;
    let (pending, paged) = time_to_page(&prometheus, &mattermost, "DeadLetterGrowth", started).await;
    println!("DeadLetterGrowth: pending after {pending:.1} s, in Mattermost after {paged:.1} s");
    let post = &mattermost.posts_mentioning("DeadLetterGrowth")[0];
    let text = post.readable();
    assert!(text.contains("[FIRING:1] WARNING DeadLetterGrowth — orakgarak"), "{text}");
    assert!(text.contains("Uploads dead-lettered at stage convert (not_retryable)"), "{text}");
    assert!(text.contains("orakgarak dlq replay"), "description: {text}");
    assert!(text.contains("docs/runbooks/DeadLetterGrowth.md"), "runbook link: {text}");
    assert!(text.contains("[Logs]("), "logs link: {text}");
    assert_eq!(post.body["channel"], "orakgarak-alerts");

    // Fault 2: a worker process stops.
    let stopped = Instant::now();
    b.stop().await;
    let (pending, paged) = time_to_page(&prometheus, &mattermost, "ServiceDown", stopped).await;
    println!("ServiceDown: pending after {pending:.1} s, in Mattermost after {paged:.1} s");
    let text = mattermost.posts_mentioning("ServiceDown")[0].readable();
    assert!(text.contains("CRITICAL ServiceDown"), "{text}");
    assert_eq!(mattermost.posts_mentioning("ServiceDown")[0].body["channel"], "orakgarak-oncall");

    // Fault 3, while ServiceDown fires: the database stalls under the other
    // instance, its API answers 5xx. ApiErrorRate (critical) must fire in
    // Prometheus but be inhibited in Alertmanager: no message.
    let mut lock = a.app.store.pool().begin().await.expect("tx");
    sqlx::query("LOCK TABLE uploads IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.expect("lock");
    let stall = Instant::now();
    let mut loops = Vec::new();
    for _ in 0..6 {
        let client = a.client_for("stalled");
        loops.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            while stall.elapsed() < Duration::from_secs(80) {
                if let Ok((status, _)) = client.create_upload("x.wav", "audio/wav", 100, None).await {
                    statuses.push(status);
                }
            }
            statuses
        }));
    }
    let deadline = stall + Duration::from_secs(150);
    let suppressed = loop {
        let alerts = alertmanager.alerts("ApiErrorRate").await;
        if let Some(alert) = alerts.iter().find(|a| a["labels"]["severity"] == "critical") {
            break alert.clone();
        }
        assert!(Instant::now() < deadline, "ApiErrorRate never fired");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!(
        "ApiErrorRate (critical): firing after {:.1} s, state {}",
        stall.elapsed().as_secs_f64(),
        suppressed["status"]["state"]
    );
    assert_eq!(suppressed["status"]["state"], "suppressed", "{suppressed}");
    assert!(!suppressed["status"]["inhibitedBy"].as_array().expect("inhibitedBy").is_empty());
    // A sentinel critical alert sent now, on the same route, reaches
    // Mattermost only after the route's group_wait: by then a non-inhibited
    // ApiErrorRate (known to Alertmanager before it) would have been sent.
    let sentinel = serde_json::json!([{
        "labels": {"alertname": "DeliverySentinel", "severity": "critical", "service": "test-sentinel"},
        "annotations": {
            "summary": "Sentinel for the inhibition test",
            "description": "Posted by tests/alerting.rs to mark a flush of the critical route.",
            "runbook_url": "https://github.com/orakgarak/orakgarak/blob/main/docs/runbooks/PipelineStalled.md"
        }
    }]);
    let posted = reqwest::Client::new()
        .post(format!("{}/api/v2/alerts", alertmanager.url))
        .json(&sentinel)
        .send()
        .await
        .expect("sentinel posted");
    assert!(posted.status().is_success(), "{}", posted.status());
    let deadline = Instant::now() + Duration::from_secs(120);
    while mattermost.posts_mentioning("DeliverySentinel").is_empty() {
        assert!(Instant::now() < deadline, "the sentinel never reached Mattermost");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(mattermost.posts_mentioning("ApiErrorRate").is_empty(), "an inhibited alert reached Mattermost");
    for l in loops {
        let statuses = l.await.expect("loop");
        assert!(statuses.iter().all(|s| *s == 500), "the stalled API answered {statuses:?}");
    }
    lock.rollback().await.expect("unlock");

    // Each page arrived once, and Mattermost accepted every payload.
    let dlq_posts: Vec<String> = mattermost.posts_mentioning("DeadLetterGrowth").iter().map(|p| p.readable()).collect();
    assert_eq!(dlq_posts.len(), 1, "{dlq_posts:#?}");
    assert_eq!(mattermost.posts_mentioning("ServiceDown").len(), 1);
    assert!(mattermost.refused.lock().expect("lock").is_empty(), "{:?}", mattermost.refused.lock());
    a.stop().await;
}

//! Consumer groups that stop consuming, on the real stack: a worker killed
//! for good leaves partitions in its group that nobody consumes, and a
//! crash-looping worker pair churns the groups; either way every upload
//! completes, and a consumer that cannot consume says so on /readyz until
//! it has healed itself by leaving and rejoining its group.
//!
//! The tests run one at a time: each owns worker processes whose timing
//! they measure.

mod common;

use std::process::Child;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{fixture, isolated_settings, start, states, upload_many, TestApp, HAPPY_PATH};
use orakgarak::app::Roles;
use orakgarak::config::Settings;
use rand::{Rng, SeedableRng};
use serde_json::Value;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The log line of a consumer that leaves its group starved.
const REJOINING: &str = "Consumer leaving its group and joining again with a fresh client";

async fn readiness(app: &TestApp) -> (u16, Value) {
    let url = app.metrics_url.replace("/metrics", "/readyz");
    let response = reqwest::get(&url).await.expect("readyz answers");
    (response.status().as_u16(), response.json().await.expect("readyz answers JSON"))
}

/// The tasks /readyz reports starved, with why.
fn starved(body: &Value) -> Vec<(String, String)> {
    body["tasks"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(task, status)| {
            let problem = status["problem"].as_str()?;
            problem.starts_with("starved:").then(|| (task.clone(), problem.to_owned()))
        })
        .collect()
}

fn kill(worker: &mut Child) {
    worker.kill().expect("SIGKILL");
    worker.wait().expect("reaped");
}

/// Thresholds short enough for a test: starved after 5 s without
/// progress, rejoin 3 s later.
fn quick(settings: &mut Settings) {
    settings.kafka.starved_after = Duration::from_secs(5);
    settings.kafka.rejoin_after = Duration::from_secs(3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_whose_partitions_nobody_consumes_turns_readyz_red_and_heals_itself() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let (mut settings, db) = isolated_settings().await;
    quick(&mut settings);
    // Static membership everywhere, as README's advice for tansu had it.
    settings.kafka.consumer.insert("group.instance.id".into(), "groups-test-app".into());
    let app = start(settings.clone(), db, Roles { watchdog: false, ..Roles::all() }).await;
    let mut worker = common::worker::spawn(&settings, Some("groups-test-worker"));
    // The worker takes part (it moves uploads itself), then dies for good,
    // holding its partitions in the broker's eyes.
    let log = common::worker::log_path(&settings);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut warmup = Vec::new();
    while std::fs::read_to_string(&log).unwrap_or_default().matches("Upload state changed.").count() < 3 {
        assert!(Instant::now() < deadline, "the worker never took part; see {}", log.display());
        warmup.extend(upload_many(&app, 3).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    kill(&mut worker);
    let killed = Instant::now();
    let ids = upload_many(&app, 24).await;

    // Red: some consumer says it is starved and which partitions wait.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (body, red_after) = loop {
        let (status, body) = readiness(&app).await;
        if status == 503 && !starved(&body).is_empty() {
            break (body, killed.elapsed());
        }
        assert!(Instant::now() < deadline, "no consumer ever said it was starved: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (task, why) = &starved(&body)[0];
    assert!(why.contains("messages in partitions") && why.contains("not consumed for"), "{task}: {why}");
    let (stage, lane) =
        task.strip_prefix("consumer.").and_then(|t| t.split_once('.')).expect("consumer.<stage>.<lane>");
    assert_eq!(
        app.metric("orakgarak_consumer_starved", &[&format!("stage=\"{stage}\""), &format!("lane=\"{lane}\"")]).await,
        1.0,
        "{task} is starved on /metrics too"
    );

    // Healed by itself: every upload completes, readiness is green again,
    // and the consumer that starved rejoined its group.
    for id in warmup.iter().chain(&ids) {
        let upload = app.client.wait_for(id, Some("COMPLETED"), Duration::from_secs(120), false).await;
        let upload = upload.unwrap_or_else(|e| panic!("{id} did not complete: {e:#}"));
        assert_eq!(states(&upload), HAPPY_PATH, "{id}");
    }
    let all_done = killed.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = readiness(&app).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "readiness never came back: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(app.metric("orakgarak_consumer_rejoins_total", &[]).await >= 1.0, "a starved consumer rejoined");
    assert_eq!(app.metric("orakgarak_consumer_starved", &[]).await, 0.0, "no consumer starved any more");
    println!(
        "worker killed → /readyz red after {:.0} s ({task}), all {} uploads COMPLETED after {:.0} s",
        red_after.as_secs_f64(),
        warmup.len() + ids.len(),
        all_done.as_secs_f64()
    );
    app.stop().await;
}

/// What one crash loop did.
struct Churn {
    kills: usize,
    uploads: usize,
    first_stage_after_last_kill: f64,
    all_done_after_last_kill: f64,
    rejoins: usize,
}

/// An API process (this one) and two worker processes; for `churn`, a
/// random worker is killed with SIGKILL and started again with the same
/// identity every 2–5 s while uploads trickle in; then 20 uploads at once.
/// Every upload must complete within 60 s of the last kill: a starved
/// consumer needs up to `starved_after` + one look + `rejoin_after` + its
/// session + 1 s (7 s here) to rejoin, and a crash loop can need two
/// rounds.
async fn crash_loop(identities: [Option<&str>; 2], seed: u64, churn: Duration) -> Churn {
    let (mut settings, db) = isolated_settings().await;
    quick(&mut settings);
    // A 6 s session (Kafka's smallest by default), which a rejoining
    // static member waits out: two rounds of healing fit in a minute.
    settings.kafka.consumer.insert("session.timeout.ms".into(), "6000".into());
    let app = start(settings.clone(), db, Roles { api: true, stages: vec![], lanes: vec![], watchdog: false }).await;
    let mut workers = identities.map(|identity| common::worker::spawn(&settings, identity));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let began = Instant::now();
    let kills = async {
        let mut kills = 0;
        let mut last = (Instant::now(), Utc::now());
        while began.elapsed() < churn {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(2000..5000))).await;
            let which = rng.gen_range(0..2);
            kill(&mut workers[which]);
            workers[which] = common::worker::spawn(&settings, identities[which]);
            kills += 1;
            last = (Instant::now(), Utc::now());
        }
        (kills, last)
    };
    let trickle = async {
        let mut ids = Vec::new();
        while began.elapsed() < churn {
            ids.push(app.upload("trickle.ogg", "audio/ogg", fixture("sung-a3-e4.ogg")).await);
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        ids
    };
    let ((kills, (last_kill, last_kill_at)), mut ids) = tokio::join!(kills, trickle);
    ids.extend(upload_many(&app, 20).await);

    let deadline = last_kill + Duration::from_secs(60);
    let mut first_stage = None::<chrono::DateTime<Utc>>;
    for id in &ids {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        let upload = app.client.wait_for(id, Some("COMPLETED"), left, false).await.unwrap_or_else(|e| {
            let log = common::worker::log_path(&settings);
            let since = group_events_since(&std::fs::read_to_string(&log).unwrap_or_default(), last_kill_at);
            panic!(
                "{id} did not complete within 60 s of the last of {kills} kills: {e:#}; see {}\n\
                 what the workers' consumers did after the last kill ({last_kill_at}):\n{since}",
                log.display()
            )
        });
        assert_eq!(states(&upload), HAPPY_PATH, "{id}");
        let done = upload["history"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|h| ["CONVERTED", "ANALYZED", "COMPLETED"].contains(&h["to_state"].as_str().unwrap_or_default()))
            .filter_map(|h| h["at"].as_str()?.parse::<chrono::DateTime<Utc>>().ok())
            .filter(|at| *at > last_kill_at)
            .min();
        first_stage = first_stage.into_iter().chain(done).min();
    }
    let all_done = last_kill.elapsed();
    for worker in &mut workers {
        kill(worker);
    }
    let log = std::fs::read_to_string(common::worker::log_path(&settings)).unwrap_or_default();
    let first = first_stage.expect("stages completed after the last kill");
    app.stop().await;
    Churn {
        kills,
        uploads: ids.len(),
        first_stage_after_last_kill: (first - last_kill_at).num_milliseconds() as f64 / 1000.0,
        all_done_after_last_kill: all_done.as_secs_f64(),
        rejoins: log.matches(REJOINING).count(),
    }
}

/// The workers' consumer lifecycle after `since`, one line per event
/// (time, task, what, why): what a failed crash loop is read by, since CI
/// keeps the test's output but not its log files.
fn group_events_since(log: &str, since: chrono::DateTime<Utc>) -> String {
    const EVENTS: [&str; 5] =
        ["Roles started.", "Consumer started.", "Consumer starved", "Consumer no longer", REJOINING];
    let lines: Vec<String> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| {
            let message = event["message"].as_str().unwrap_or_default();
            EVENTS.iter().any(|wanted| message.starts_with(wanted))
        })
        .filter(|event| event["timestamp"].as_str().and_then(|t| t.parse::<chrono::DateTime<Utc>>().ok()) > Some(since))
        .map(|event| {
            let text = |key: &str| event[key].as_str().unwrap_or_default().to_owned();
            let task = match (text("stage"), text("lane")) {
                (stage, lane) if !stage.is_empty() => format!("{stage}.{lane}"),
                _ => format!("worker {}", text("metrics")),
            };
            let membership = match event["static_membership"].as_bool() {
                Some(true) => " (static)",
                Some(false) => " (dynamic)",
                None => "",
            };
            format!("  {} {task:<18} {}{membership} {}", text("timestamp"), text("message"), text("why"))
        })
        .collect();
    if lines.is_empty() {
        "  (nothing)".to_owned()
    } else {
        lines.join("\n")
    }
}

fn report(mode: &str, churn: &Churn) {
    println!(
        "{mode}: survived {} kills; {} uploads COMPLETED; first stage {:.1} s and last upload {:.1} s after the last kill; {} consumer rejoins",
        churn.kills, churn.uploads, churn.first_stage_after_last_kill, churn.all_done_after_last_kill, churn.rejoins
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_crash_loop_of_static_members_every_upload_completes_within_60_seconds_of_the_last_kill() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let churn = crash_loop([Some("churn-a"), Some("churn-b")], 7, Duration::from_secs(90)).await;
    report("static membership", &churn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_crash_loop_of_dynamic_members_every_upload_completes_within_60_seconds_of_the_last_kill() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let churn = crash_loop([None, None], 11, Duration::from_secs(90)).await;
    report("dynamic membership", &churn);
}

//! Live fire drills: the shipped rules in a real Prometheus, the shipped
//! Alertmanager config in a real Alertmanager, stand-ins for Mattermost, the
//! fallback channel and the dead man's switch. Each test injects real
//! faults into its own pipelines (through `orakgarak::drills`, as
//! `orakgarak drill` does) and checks that the expected page arrives once,
//! that a RESOLVED message follows recovery, and that nothing else pages.
//! The drills run side by side in one test (a test binary runs only as many
//! tests at once as the machine has cores): each has its own apps and
//! monitoring.

mod common;

use std::time::{Duration, Instant};

use common::mattermost::Post;
use common::monitoring::{alerts_posted_in, posts, wait_for_post, Monitoring};
use common::spawn_app;
use orakgarak::drills;

/// Long enough for a rule's `for`, a route's group_wait and one retry.
const TO_PAGE: Duration = Duration::from_secs(300);
/// The short window of a burn (5 m), or a DLQ increase window (5 m), plus
/// the warning route's group_interval (5 m) for the RESOLVED message.
const TO_RESOLVE: Duration = Duration::from_secs(720);

/// Rule evaluations that failed in the test's Prometheus (its own metric).
async fn rule_failures(monitoring: &Monitoring) -> f64 {
    let text = reqwest::get(format!("{}/metrics", monitoring.prometheus.url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    common::parse_metric(&text, "prometheus_rule_evaluation_failures_total", &[])
}

/// One row of the drill table: the drill's timeline, and when its page and
/// its RESOLVED message reached the channel (from the fault's injection).
fn print_drill(name: &str, page: &str, timeline: &drills::Timeline, delivered: &Post, resolved: &Post) {
    let secs = |d: Option<Duration>| d.map_or("never".to_owned(), |d| format!("{:.0} s", d.as_secs_f64()));
    let since = |post: &Post| timeline.started.map(|s| post.at.saturating_duration_since(s));
    println!(
        "| {name} | {page} | {} | {} | {} | {} | {} | {} |",
        secs(timeline.pending),
        secs(timeline.firing),
        secs(since(delivered)),
        secs(timeline.resolved),
        secs(since(resolved)),
        timeline.collateral.len()
    );
}

/// One drill on its own apps and monitoring.
async fn a_5xx_burst_with_one_replica_down_pages_the_objective_once_and_resolves() {
    let a = spawn_app().await;
    let b = spawn_app().await;
    let monitoring = Monitoring::start(&[&a, &b]).await;

    // One replica goes away: its own page.
    b.stop().await;
    let down = wait_for_post(&monitoring.mattermost, "FIRING", "ServiceDown", TO_PAGE).await;
    assert_eq!(down.body["channel"], "orakgarak-oncall");

    // The surviving replica fails: one replica down must not hide it.
    let installation = monitoring.installation(&a);
    let drill = drills::find("api-5xx").expect("drill");
    let timeline = drills::run(&installation, drill, TO_PAGE, |l| println!("api-5xx: {l}")).await.expect("drill runs");
    assert!(timeline.firing.is_some() && timeline.resolved.is_some(), "{timeline:?}");
    let page = wait_for_post(&monitoring.mattermost, "FIRING", drill.page, TO_PAGE).await;
    assert_eq!(page.body["channel"], "orakgarak-oncall");
    let text = page.readable();
    assert!(text.contains("[FIRING:1] CRITICAL ApiAvailabilityBudgetBurn — orakgarak"), "{text}");
    assert!(text.contains("docs/runbooks/ApiAvailabilityBudgetBurn.md"), "{text}");
    let resolved = wait_for_post(&monitoring.mattermost, "RESOLVED", drill.page, TO_RESOLVE).await;
    print_drill("api-5xx, one replica down", drill.page, &timeline, &page, &resolved);

    // Once each, and no other page reached the on-call channel.
    let all: Vec<String> = monitoring.mattermost.posts.lock().expect("lock").iter().map(|p| p.readable()).collect();
    let failures = rule_failures(&monitoring).await;
    assert_eq!(failures, 0.0, "rule evaluations failed");
    // One page each; the objective's ticket may follow the page's
    // resolution in the tickets channel (the budget the burst consumed).
    let paged = |alert: &str| {
        posts(&monitoring.mattermost, "FIRING", alert)
            .iter()
            .filter(|p| p.body["channel"] == "orakgarak-oncall")
            .count()
    };
    assert_eq!(paged(drill.page), 1, "{all:#?}");
    assert_eq!(paged("ServiceDown"), 1, "{all:#?}");
    for title in alerts_posted_in(&monitoring.mattermost, "orakgarak-oncall") {
        assert!(
            title.contains(" ApiAvailabilityBudgetBurn — ") || title.contains(" ServiceDown — "),
            "collateral page: {title}"
        );
    }
    assert!(monitoring.mattermost.refused.lock().expect("lock").is_empty());
    a.stop().await;
}

/// One drill on its own apps and monitoring.
async fn a_stalled_pipeline_pages_once_and_resolves_when_the_stages_move_again() {
    let app = spawn_app().await;
    let monitoring = Monitoring::start(&[&app]).await;
    let drill = drills::find("pipeline-stalled").expect("drill");
    let timeline = drills::run(&monitoring.installation(&app), drill, TO_PAGE, |l| println!("pipeline-stalled: {l}"))
        .await
        .expect("drill runs");
    assert!(timeline.firing.is_some() && timeline.resolved.is_some(), "{timeline:?}");
    let page = wait_for_post(&monitoring.mattermost, "FIRING", drill.page, TO_PAGE).await;
    assert_eq!(page.body["channel"], "orakgarak-oncall");
    let resolved = wait_for_post(&monitoring.mattermost, "RESOLVED", drill.page, TO_RESOLVE).await;
    print_drill("pipeline-stalled", drill.page, &timeline, &page, &resolved);
    assert_eq!(posts(&monitoring.mattermost, "FIRING", drill.page).len(), 1);
    for title in alerts_posted_in(&monitoring.mattermost, "") {
        assert!(title.contains(" PipelineStalled — "), "collateral message: {title}");
    }
    app.stop().await;
}

/// One drill on its own apps and monitoring.
async fn a_dead_letter_opens_one_ticket_that_resolves_by_itself() {
    let app = spawn_app().await;
    let monitoring = Monitoring::start(&[&app]).await;
    let drill = drills::find("dead-letter").expect("drill");
    let timeline = drills::run(&monitoring.installation(&app), drill, TO_RESOLVE, |l| println!("dead-letter: {l}"))
        .await
        .expect("drill runs");
    let ticket = wait_for_post(&monitoring.mattermost, "FIRING", drill.page, TO_PAGE).await;
    assert_eq!(ticket.body["channel"], "orakgarak-alerts");
    let text = ticket.readable();
    assert!(text.contains("Uploads dead-lettered at stage convert (not_retryable)"), "{text}");
    assert!(text.contains("orakgarak dlq replay"), "{text}");
    assert!(text.contains("[Logs]("), "{text}");
    let resolved = wait_for_post(&monitoring.mattermost, "RESOLVED", drill.page, TO_RESOLVE).await;
    print_drill("dead-letter", drill.page, &timeline, &ticket, &resolved);
    assert_eq!(posts(&monitoring.mattermost, "FIRING", drill.page).len(), 1);
    for title in alerts_posted_in(&monitoring.mattermost, "") {
        assert!(title.contains(" DeadLetterGrowth — "), "collateral message: {title}");
    }
    app.stop().await;
}

/// One drill on its own apps and monitoring.
async fn with_mattermost_down_the_page_arrives_through_the_fallback_channel() {
    let app = spawn_app().await;
    let monitoring = Monitoring::start(&[&app]).await;
    monitoring.mattermost.set_down(true);
    // Something to notify about: a dead letter, whose ticket cannot reach
    // Mattermost.
    let installation = monitoring.installation(&app);
    let mut fault = installation.inject(drills::find("dead-letter").expect("drill")).await.expect("inject");
    let started = Instant::now();
    let page = wait_for_post(&monitoring.fallback, "FIRING", "AlertmanagerNotificationsFailing", TO_RESOLVE).await;
    println!("mattermost-down: the fallback had the page after {:.0} s", started.elapsed().as_secs_f64());
    assert_eq!(page.body["channel"], "orakgarak-monitoring");
    assert!(
        page.readable().contains("CRITICAL AlertmanagerNotificationsFailing — alertmanager"),
        "{}",
        page.readable()
    );

    // Mattermost comes back: the ticket and the page's copy are delivered,
    // and the fallback hears that it resolved.
    fault.undo(&installation).await.expect("undo");
    monitoring.mattermost.set_down(false);
    let recovered = Instant::now();
    wait_for_post(&monitoring.fallback, "RESOLVED", "AlertmanagerNotificationsFailing", TO_RESOLVE).await;
    println!(
        "mattermost-down: RESOLVED in the fallback {:.0} s after Mattermost came back",
        recovered.elapsed().as_secs_f64()
    );
    assert_eq!(posts(&monitoring.fallback, "FIRING", "AlertmanagerNotificationsFailing").len(), 1);
    for title in alerts_posted_in(&monitoring.fallback, "") {
        assert!(
            title.contains(" AlertmanagerNotificationsFailing — "),
            "the fallback got more than monitoring: {title}"
        );
    }
    app.stop().await;
}

/// One drill on its own apps and monitoring.
async fn the_heartbeat_pings_the_switch_every_minute_and_stops_when_alertmanager_stops() {
    let app = spawn_app().await;
    let mut monitoring = Monitoring::start(&[&app]).await;
    // Two pings about a minute apart (the heartbeat route's interval).
    let deadline = Instant::now() + Duration::from_secs(180);
    while monitoring.switch.pings().len() < 2 {
        assert!(Instant::now() < deadline, "the switch got {} pings in 3 minutes", monitoring.switch.pings().len());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let pings = monitoring.switch.pings();
    let gap = pings[1] - pings[0];
    assert!(gap >= Duration::from_secs(50) && gap <= Duration::from_secs(95), "pings {gap:?} apart");
    assert!(!monitoring.switch.overdue(Duration::from_secs(90)));

    // Alertmanager dies: the pings stop, and the switch pages after its
    // grace (a 90 s grace for a 60 s heartbeat).
    monitoring.alertmanager.server.stop();
    let stopped = Instant::now();
    let deadline = stopped + Duration::from_secs(240);
    while !monitoring.switch.overdue(Duration::from_secs(90)) {
        assert!(Instant::now() < deadline, "pings went on without Alertmanager");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let after_stop = monitoring.switch.pings().iter().filter(|p| **p > stopped).count();
    assert_eq!(after_stop, 0, "a ping arrived after Alertmanager stopped");
    println!("heartbeat: the switch would page {:.0} s after Alertmanager stopped", stopped.elapsed().as_secs_f64());
    assert!(monitoring.mattermost.posts.lock().expect("lock").is_empty(), "the heartbeat reached Mattermost");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fire_drills_page_once_resolve_and_page_nothing_else() {
    println!(
        "| drill | page | pending | firing | delivered | resolved (after undo) | RESOLVED delivered | collateral |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    tokio::join!(
        a_5xx_burst_with_one_replica_down_pages_the_objective_once_and_resolves(),
        a_stalled_pipeline_pages_once_and_resolves_when_the_stages_move_again(),
        a_dead_letter_opens_one_ticket_that_resolves_by_itself(),
        with_mattermost_down_the_page_arrives_through_the_fallback_channel(),
        the_heartbeat_pings_the_switch_every_minute_and_stops_when_alertmanager_stops(),
    );
}

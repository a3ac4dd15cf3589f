//! Fire drills: one real fault at a time, injected into a running
//! installation (the local stack or any other), watched through its own
//! Prometheus and Alertmanager. No metric is faked: the API really answers
//! 5xx, the stages really stall, a recording really is corrupt. A drill
//! prints the page it expects, when that page was pending, firing and
//! active in Alertmanager (which then notifies after the route's group_wait),
//! and when it resolved after the fault was taken away; and every other
//! alert that fired meanwhile (collateral, which should be none).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::commands::demo::ApiClient;
use crate::config::Settings;

/// What a drill needs that a plain user of the API does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The installation's database credentials (its settings file).
    Database,
    /// Control of the broker or object store processes: the local stack's
    /// `scripts/stack.sh`.
    LocalStack,
    /// A model server (`analysis.model_url`) the drill can slow down.
    ModelServer,
    /// An orchestrator that can stop one replica of several.
    Orchestrator,
    /// Control of the Mattermost server.
    Mattermost,
    /// Control of PostgreSQL itself (stopping it stops every database on it).
    PostgresServer,
}

pub struct Drill {
    pub name: &'static str,
    /// The alert that must page.
    pub page: &'static str,
    pub severity: &'static str,
    /// What the drill does.
    pub fault: &'static str,
    pub needs: Needs,
}

pub const DRILLS: [Drill; 9] = [
    Drill {
        name: "api-5xx",
        page: "ApiAvailabilityBudgetBurn",
        severity: "critical",
        fault: "locks the uploads table (as a stuck migration would) while sending uploads: the API answers 5xx after its statement timeout; then releases it and keeps sending until the page resolves",
        needs: Needs::Database,
    },
    Drill {
        name: "pipeline-stalled",
        page: "PipelineStalled",
        severity: "critical",
        fault: "locks the stages' dedup table (processed_messages) and uploads three takes: no stage can finish a message; then releases it",
        needs: Needs::Database,
    },
    Drill {
        name: "dead-letter",
        page: "DeadLetterGrowth",
        severity: "warning",
        fault: "uploads a recording that cannot be decoded: it is refused as not retryable and dead-lettered (it needs no replay)",
        needs: Needs::Database,
    },
    Drill {
        name: "broker-down",
        page: "KafkaBrokerDown",
        severity: "critical",
        fault: "stops the local stack's broker (scripts/stack.sh stop-kafka), then starts it again",
        needs: Needs::LocalStack,
    },
    Drill {
        name: "object-store-down",
        page: "PipelineStalled",
        severity: "critical",
        fault: "stops the local stack's S3 server while three uploads wait to convert (stages wait for it instead of failing uploads, so the page is the stall, after 5 minutes without a finished stage), then starts it again",
        needs: Needs::LocalStack,
    },
    Drill {
        name: "postgres-down",
        page: "PostgresDown",
        severity: "critical",
        fault: "stops PostgreSQL (every database on that server)",
        needs: Needs::PostgresServer,
    },
    Drill {
        name: "model-server-slow",
        page: "ExternalCallTimeouts",
        severity: "warning",
        fault: "makes the model server answer after its time limit",
        needs: Needs::ModelServer,
    },
    Drill {
        name: "replica-down",
        page: "ServiceDown",
        severity: "critical",
        fault: "stops one replica of several while another fails (the service-wide page must still arrive)",
        needs: Needs::Orchestrator,
    },
    Drill {
        name: "mattermost-down",
        page: "AlertmanagerNotificationsFailing",
        severity: "critical",
        fault: "stops Mattermost while an alert fires: the page arrives through the fallback channel",
        needs: Needs::Mattermost,
    },
];

pub fn find(name: &str) -> Option<&'static Drill> {
    DRILLS.iter().find(|d| d.name == name)
}

/// A running installation, reached through its settings and its monitoring.
pub struct Installation {
    pub settings: Settings,
    pub api: ApiClient,
    pub prometheus: String,
    pub alertmanager: String,
    /// `scripts/stack.sh`, when the installation is the local stack.
    pub stack_script: Option<PathBuf>,
    http: reqwest::Client,
}

impl Installation {
    pub fn new(settings: Settings, api_url: &str, prometheus: &str, alertmanager: &str) -> anyhow::Result<Self> {
        let api = ApiClient::new(&settings, api_url, "fire-drill")?;
        let http =
            crate::http_client::client_with_timeout(settings.http.ca_bundle.as_deref(), Duration::from_secs(10))?;
        Ok(Self {
            settings,
            api,
            prometheus: prometheus.trim_end_matches('/').to_owned(),
            alertmanager: alertmanager.trim_end_matches('/').to_owned(),
            stack_script: None,
            http,
        })
    }

    /// Why `drill` cannot run here, if it cannot: the privilege it lacks.
    pub fn cannot_run(&self, drill: &Drill) -> Option<String> {
        match drill.needs {
            Needs::Database => None,
            Needs::LocalStack if self.stack_script.is_some() => None,
            Needs::LocalStack => Some(
                "needs control of the broker and object store processes: run it on the local stack (--local-stack)"
                    .into(),
            ),
            Needs::PostgresServer => Some(
                "needs to stop PostgreSQL, which would stop every database on that server: stop it yourself and watch with `orakgarak drill watch PostgresDown`".into(),
            ),
            Needs::ModelServer => Some(format!(
                "needs control of the model server ({}): slow it yourself and watch with `orakgarak drill watch ExternalCallTimeouts`",
                self.settings.analysis.model_url.as_deref().unwrap_or("none configured")
            )),
            Needs::Orchestrator => Some(
                "needs an orchestrator that stops one replica of several: stop one yourself and watch with `orakgarak drill watch ServiceDown`".into(),
            ),
            Needs::Mattermost => Some(
                "needs control of the Mattermost server: stop it yourself and watch with `orakgarak drill watch AlertmanagerNotificationsFailing`".into(),
            ),
        }
    }

    /// Puts `drill`'s fault in place.
    pub async fn inject(&self, drill: &Drill) -> anyhow::Result<Fault> {
        if let Some(reason) = self.cannot_run(drill) {
            anyhow::bail!("drill {} skipped: {reason}", drill.name);
        }
        let mut fault = Fault::default();
        match drill.name {
            "api-5xx" => {
                fault.lock = Some(self.lock("uploads").await?);
                fault.traffic = Some(Traffic::start(&self.api, 6));
            }
            "pipeline-stalled" => {
                fault.lock = Some(self.lock("processed_messages").await?);
                let take = demo_take()?;
                for i in 0..3 {
                    self.api.upload(&format!("drill-{i}.ogg"), "audio/ogg", take.clone()).await?;
                }
            }
            "dead-letter" => {
                // Bytes no decoder accepts, with an mp3's name.
                self.api.upload("drill-corrupt.mp3", "audio/mpeg", vec![0x5a; 4096]).await?;
            }
            "broker-down" => {
                self.stack("stop-kafka")?;
                fault.restart = Some("start-kafka");
            }
            "object-store-down" => {
                // Uploads first (the PUT needs the store), then the outage
                // while their stages read the recordings.
                let take = demo_take()?;
                for i in 0..3 {
                    let name = format!("drill-{i}.ogg");
                    let (_, created) = self.api.create_upload(&name, "audio/ogg", take.len() as u64, None).await?;
                    self.api.put_object(&created, take.clone()).await?;
                    let id: crate::domain::UploadId = created["upload_id"]
                        .as_str()
                        .and_then(|id| id.parse().ok())
                        .context("the API answered no upload_id")?;
                    fault.pending_events.push((crate::storage::recording_key(id, &name), take.len() as u64));
                }
                self.stack("stop-s3")?;
                for (key, size) in &fault.pending_events {
                    self.api.notify_created(key, *size).await?;
                }
                fault.restart = Some("start-s3");
            }
            other => anyhow::bail!("drill {other} has no injector"),
        }
        Ok(fault)
    }

    async fn lock(&self, table: &str) -> anyhow::Result<PgConnection> {
        let mut conn = PgConnection::connect(self.settings.database.url.expose())
            .await
            .context("the drill connects to the installation's database")?;
        sqlx::query("BEGIN").execute(&mut conn).await?;
        sqlx::query(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")).execute(&mut conn).await?;
        Ok(conn)
    }

    fn stack(&self, action: &str) -> anyhow::Result<()> {
        let script = self.stack_script.as_ref().context("not the local stack")?;
        let status = std::process::Command::new(script).arg(action).status()?;
        anyhow::ensure!(status.success(), "{} {action} failed", script.display());
        Ok(())
    }

    /// Alerts active in Alertmanager and not silenced or inhibited.
    pub async fn notifying(&self) -> anyhow::Result<BTreeSet<String>> {
        let alerts: Value = self
            .http
            .get(format!("{}/api/v2/alerts", self.alertmanager))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(alerts
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["status"]["state"] == "active")
            .filter_map(|a| {
                let labels = &a["labels"];
                Some(format!("{} ({})", labels["alertname"].as_str()?, labels["severity"].as_str().unwrap_or("-")))
            })
            .collect())
    }

    /// The alert's state in Prometheus (of its `severity` variant, when
    /// given: a page and its ticket share a name): `pending`, `firing` or
    /// none.
    pub async fn state(&self, alert: &str, severity: Option<&str>) -> anyhow::Result<Option<String>> {
        let body: Value = self
            .http
            .get(format!("{}/api/v1/alerts", self.prometheus))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut states = body["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["alertname"] == alert)
            .filter(|a| severity.is_none_or(|s| a["labels"]["severity"] == s))
            .filter_map(|a| a["state"].as_str().map(str::to_owned))
            .collect::<Vec<_>>();
        states.sort();
        // "firing" sorts before "pending": any firing series wins.
        Ok(states.into_iter().next())
    }
}

/// The fault a drill put in place; `undo` takes it away.
#[derive(Default)]
pub struct Fault {
    lock: Option<PgConnection>,
    pub traffic: Option<Traffic>,
    restart: Option<&'static str>,
    pending_events: Vec<(String, u64)>,
}

impl Fault {
    /// Releases the lock or restarts what was stopped. Traffic keeps going
    /// (a quiet installation needs it for an error ratio to fall).
    pub async fn undo(&mut self, installation: &Installation) -> anyhow::Result<()> {
        if let Some(mut conn) = self.lock.take() {
            sqlx::query("ROLLBACK").execute(&mut conn).await?;
            let _ = conn.close().await;
        }
        if let Some(action) = self.restart.take() {
            installation.stack(action)?;
            if action == "start-kafka" {
                // The local broker keeps topics in memory unless
                // KAFKA_STORAGE=s3: make sure the pipeline's exist again.
                let settings = &installation.settings.kafka;
                let topics = crate::pipeline::Topics::new(&settings.topic_prefix).all();
                crate::pipeline::ensure_topics(settings, &topics).await?;
            }
        }
        Ok(())
    }
}

/// Steady upload requests from a few concurrent clients, counted by status.
pub struct Traffic {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    pub ok: Arc<AtomicU64>,
    pub failed: Arc<AtomicU64>,
}

impl Traffic {
    pub fn start(api: &ApiClient, clients: usize) -> Self {
        let stop = CancellationToken::new();
        let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let tasks = (0..clients)
            .map(|_| {
                let (api, stop, ok, failed) = (api.clone(), stop.clone(), ok.clone(), failed.clone());
                tokio::spawn(async move {
                    while !stop.is_cancelled() {
                        let sent = api.create_upload("drill.wav", "audio/wav", 1000, None);
                        let status = tokio::select! { _ = stop.cancelled() => break, r = sent => r.map(|(s, _)| s) };
                        match status {
                            Ok(s) if s < 500 => ok.fetch_add(1, Ordering::Relaxed),
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                })
            })
            .collect();
        Self { stop, tasks, ok, failed }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The demo recording (`demo/demo-singer.ogg`): a real 5-second take.
fn demo_take() -> anyhow::Result<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo/demo-singer.ogg");
    std::fs::read(&path).with_context(|| format!("the demo recording {}", path.display()))
}

/// How long a fault stays after its page is active in Alertmanager: longer
/// than the longest route's group_wait (30 s), so the first notification
/// goes out while the page still fires.
pub const HOLD_AFTER_ACTIVE: Duration = Duration::from_secs(45);

/// When each step of a drill happened, from the fault's injection.
#[derive(Debug, Default, Clone)]
pub struct Timeline {
    /// When the fault was injected.
    pub started: Option<Instant>,
    pub pending: Option<Duration>,
    pub firing: Option<Duration>,
    /// Alertmanager holds the page active (not inhibited, not silenced):
    /// it notifies after the route's group_wait (10 s critical, 30 s
    /// warning). A drill cannot see the message arrive; `tests/alerting.rs`
    /// does, at the channel.
    pub active: Option<Duration>,
    /// From the fault's undoing to the page resolving in Prometheus.
    pub resolved: Option<Duration>,
    /// Other alerts that notified during the drill (not the page, not its
    /// own ticket, not the heartbeat, not already active before).
    pub collateral: BTreeSet<String>,
}

/// Runs `drill`: inject, watch until the page fires (or `limit`), undo,
/// watch until it resolves (or `limit`). `say` gets progress lines.
pub async fn run(
    installation: &Installation,
    drill: &Drill,
    limit: Duration,
    say: impl Fn(&str),
) -> anyhow::Result<Timeline> {
    let before = installation.notifying().await?;
    say(&format!("Injecting: {}.", drill.fault));
    let started = Instant::now();
    let mut fault = installation.inject(drill).await?;
    let mut timeline = Timeline { started: Some(started), ..Timeline::default() };
    // The page, its own ticket (notified once the page resolves: the budget
    // it burned), and the heartbeat are not collateral.
    let ours = |name: &str| name.starts_with(&format!("{} (", drill.page)) || name.starts_with("Heartbeat (");
    let deadline = started + limit;
    while timeline.active.is_none() && Instant::now() < deadline {
        match installation.state(drill.page, Some(drill.severity)).await?.as_deref() {
            Some("pending") if timeline.pending.is_none() => {
                timeline.pending = Some(started.elapsed());
                say(&format!("{} pending after {:.0} s.", drill.page, started.elapsed().as_secs_f64()));
            }
            Some("firing") if timeline.firing.is_none() => {
                timeline.pending.get_or_insert(started.elapsed());
                timeline.firing = Some(started.elapsed());
                say(&format!("{} firing after {:.0} s.", drill.page, started.elapsed().as_secs_f64()));
            }
            _ => {}
        }
        let notifying = installation.notifying().await?;
        if timeline.firing.is_some() && notifying.iter().any(|n| ours(n) && !n.starts_with("Heartbeat")) {
            timeline.active = Some(started.elapsed());
            say(&format!("Active in Alertmanager after {:.0} s.", started.elapsed().as_secs_f64()));
        }
        collect_collateral(installation, &before, &ours, &mut timeline).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    if timeline.active.is_some() {
        // Let the route's group_wait pass while the page still fires.
        let hold = Instant::now() + HOLD_AFTER_ACTIVE;
        while Instant::now() < hold {
            collect_collateral(installation, &before, &ours, &mut timeline).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    say("Undoing the fault.");
    fault.undo(installation).await?;
    let undone = Instant::now();
    let deadline = undone + limit;
    while timeline.firing.is_some() && timeline.resolved.is_none() && Instant::now() < deadline {
        if installation.state(drill.page, Some(drill.severity)).await?.is_none() {
            timeline.resolved = Some(undone.elapsed());
            say(&format!(
                "{} resolved {:.0} s after the fault was undone.",
                drill.page,
                undone.elapsed().as_secs_f64()
            ));
        }
        collect_collateral(installation, &before, &ours, &mut timeline).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    if let Some(traffic) = fault.traffic.take() {
        traffic.stop().await;
    }
    Ok(timeline)
}

async fn collect_collateral(
    installation: &Installation,
    before: &BTreeSet<String>,
    ours: &impl Fn(&str) -> bool,
    timeline: &mut Timeline,
) -> anyhow::Result<()> {
    for name in installation.notifying().await? {
        if !before.contains(&name) && !ours(&name) {
            timeline.collateral.insert(name);
        }
    }
    Ok(())
}

//! The shipped monitoring around test apps: a real Prometheus with the rules
//! in `alerts/`, a real Alertmanager with `alertmanager/alertmanager.yml`,
//! the node and PostgreSQL exporters every rule's scrape job expects, and
//! stand-ins for the three destinations: Mattermost, the fallback channel
//! (a second Slack-format webhook) and the dead man's switch.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::heartbeat::StandInSwitch;
use super::mattermost::{Post, StandInMattermost};
use super::prometheus::Prometheus;
use super::server::OwnServer;
use super::TestApp;

pub struct Alertmanager {
    pub server: OwnServer,
    pub url: String,
    dir: PathBuf,
}

impl Alertmanager {
    /// The shipped config, its three URL files pointing at the stand-ins.
    pub async fn start(mattermost: &str, fallback: &str, heartbeat: &str) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = std::env::temp_dir().join(format!("orakgarak-am-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("templates")).expect("dir");
        for (file, url) in
            [("mattermost_webhook_url", mattermost), ("fallback_webhook_url", fallback), ("heartbeat_url", heartbeat)]
        {
            std::fs::write(dir.join(file), url).expect("url file");
        }
        let config = std::fs::read_to_string(root.join("alertmanager/alertmanager.yml"))
            .expect("config")
            .replace("/etc/alertmanager/", &format!("{}/", dir.display()));
        std::fs::write(dir.join("alertmanager.yml"), config).expect("config");
        std::fs::copy(root.join("alertmanager/templates/mattermost.tmpl"), dir.join("templates/mattermost.tmpl"))
            .expect("template");
        let log = dir.join("alertmanager.log");
        let (config, data, log_file) = (dir.join("alertmanager.yml"), dir.join("data"), log.clone());
        let server = OwnServer::start("prometheus-alertmanager", &log, move |port| {
            let mut command = Command::new("prometheus-alertmanager");
            command
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.path={}", data.display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log_file).map(Stdio::from).unwrap_or(Stdio::null()));
            command
        })
        .await;
        let url = format!("http://127.0.0.1:{}", server.port);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !reqwest::get(format!("{url}/-/ready")).await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "Alertmanager never ready; see {}", log.display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { server, url, dir }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        self.server.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Monitoring {
    pub mattermost: StandInMattermost,
    pub fallback: StandInMattermost,
    pub switch: StandInSwitch,
    pub alertmanager: Alertmanager,
    pub prometheus: Prometheus,
    _exporters: Vec<OwnServer>,
}

/// A Prometheus exporter of the test's own (Debian's package).
pub async fn exporter(binary: &'static str, env: &[(&'static str, &'static str)]) -> OwnServer {
    let log = PathBuf::from(format!("(stderr of {binary} is discarded)"));
    let env = env.to_vec();
    OwnServer::start(binary, &log, move |port| {
        let mut command = Command::new(binary);
        command.arg(format!("--web.listen-address=127.0.0.1:{port}")).stdout(Stdio::null()).stderr(Stdio::null());
        for (k, v) in &env {
            command.env(k, v);
        }
        command
    })
    .await
}

impl Monitoring {
    /// Monitoring for `apps`, all scraped under the one `orakgarak` job.
    pub async fn start(apps: &[&TestApp]) -> Self {
        let (mattermost, fallback, switch) =
            (StandInMattermost::start().await, StandInMattermost::start().await, StandInSwitch::start().await);
        let alertmanager = Alertmanager::start(&mattermost.url, &fallback.url, &switch.url).await;
        let node = exporter("prometheus-node-exporter", &[]).await;
        let postgres = exporter(
            "prometheus-postgres-exporter",
            &[("DATA_SOURCE_NAME", "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable")],
        )
        .await;
        let am = alertmanager.url.trim_start_matches("http://").to_owned();
        let mut targets: Vec<(&str, String)> = apps
            .iter()
            .map(|app| {
                ("orakgarak", app.metrics_url.trim_start_matches("http://").trim_end_matches("/metrics").to_owned())
            })
            .collect();
        targets.push(("alertmanager", am.clone()));
        targets.push(("node", format!("127.0.0.1:{}", node.port)));
        targets.push(("postgres", format!("127.0.0.1:{}", postgres.port)));
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts");
        let extra = format!(
            "rule_files:\n  - {}/*.yml\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n",
            rules.display(),
        );
        let prometheus = Prometheus::start(&targets, &extra).await;
        // New targets are applied after a ~5 s discovery throttle.
        prometheus.wait_for(&format!("count(up == 1) == {}", targets.len()), Duration::from_secs(60)).await;
        Self { mattermost, fallback, switch, alertmanager, prometheus, _exporters: vec![node, postgres] }
    }

    /// A drill's view of `app` through this monitoring.
    pub fn installation(&self, app: &TestApp) -> orakgarak::drills::Installation {
        orakgarak::drills::Installation::new(
            app.settings.clone(),
            &app.base_url,
            &self.prometheus.url,
            &self.alertmanager.url,
        )
        .expect("drill installation")
    }
}

/// Posts in `channel` whose title is `[<status>…] <SEVERITY> <alert>`.
pub fn posts(stand_in: &StandInMattermost, status: &str, alert: &str) -> Vec<Post> {
    stand_in
        .posts
        .lock()
        .expect("lock")
        .iter()
        .filter(|p| {
            let text = p.readable();
            text.contains(&format!("[{status}")) && text.contains(&format!(" {alert} — "))
        })
        .cloned()
        .collect()
}

/// Waits (up to `limit`) until `stand_in` has a `status` post for `alert`.
pub async fn wait_for_post(stand_in: &StandInMattermost, status: &str, alert: &str, limit: Duration) -> Post {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(post) = posts(stand_in, status, alert).into_iter().next() {
            return post;
        }
        assert!(Instant::now() < deadline, "no {status} message for {alert} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The alert names of every post in `channel`.
pub fn alerts_posted_in(stand_in: &StandInMattermost, channel: &str) -> Vec<String> {
    stand_in
        .posts
        .lock()
        .expect("lock")
        .iter()
        .filter(|p| p.body["channel"] == channel || channel.is_empty())
        .map(|p| p.readable().lines().find(|l| l.starts_with('[')).unwrap_or_default().to_owned())
        .collect()
}

//! A real Prometheus (Debian's package) started for one test, scraping the
//! given targets every second.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub struct Prometheus {
    child: Child,
    pub url: String,
    pub dir: PathBuf,
}

impl Prometheus {
    /// `extra` is appended to the generated config (rule_files, alerting, …).
    pub async fn start(targets: &[(&str, String)], extra: &str) -> Self {
        assert!(
            Command::new("prometheus").arg("--version").output().is_ok(),
            "prometheus is not installed: run scripts/stack.sh up (Debian package prometheus)"
        );
        let dir = std::env::temp_dir().join(format!("orakgarak-prom-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut config = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n");
        let mut jobs: Vec<(&str, Vec<&str>)> = Vec::new();
        for (job, target) in targets {
            match jobs.iter_mut().find(|(j, _)| j == job) {
                Some((_, list)) => list.push(target),
                None => jobs.push((job, vec![target])),
            }
        }
        for (job, list) in jobs {
            let list: Vec<String> = list.iter().map(|t| format!("'{t}'")).collect();
            config.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n",
                list.join(", ")
            ));
        }
        config.push_str(extra);
        std::fs::write(dir.join("prometheus.yml"), config).expect("config");
        let log = dir.join("prometheus.log");
        let (mut child, port) = super::ports::spawn_on_free_port("prometheus", &log, |port| {
            let mut command = Command::new("prometheus");
            command
                .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
                .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).map(Stdio::from).unwrap_or(Stdio::null()));
            command
        })
        .await;
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&url, &mut child, &dir.join("prometheus.log")).await;
        Self { child, url, dir }
    }

    /// Instant query; the `result` array.
    pub async fn query(&self, expr: &str) -> Vec<Value> {
        let response: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", expr)])
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("json");
        assert_eq!(response["status"], "success", "{expr}: {response}");
        response["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `expr` until it returns at least one series.
    pub async fn wait_for(&self, expr: &str, timeout: Duration) -> Vec<Value> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let result = self.query(expr).await;
            if !result.is_empty() {
                return result;
            }
            assert!(std::time::Instant::now() < deadline, "no series for {expr} within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Waits for a Prometheus-family server's `/-/ready`; kills it and fails
/// with its log's path when it does not come up.
pub async fn wait_ready(url: &str, child: &mut Child, log: &std::path::Path) {
    for _ in 0..100 {
        if reqwest::get(format!("{url}/-/ready")).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{url} did not become ready; see {}", log.display());
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

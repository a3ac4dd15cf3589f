//! `orakgarak worker` processes of a test's own, configured like the test's
//! settings (same database, topics, groups and bucket), to kill with SIGKILL
//! and start again as a crashing pod would be.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use orakgarak::config::Settings;

/// Where a test's workers log: `$TMPDIR/<group prefix>-worker.log`.
pub fn log_path(settings: &Settings) -> PathBuf {
    std::env::temp_dir().join(format!("{}-worker.log", settings.kafka.group_prefix))
}

/// A worker process, killed when dropped (a failing test leaves none behind).
pub struct Worker(Child);

impl Deref for Worker {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Worker {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a worker. `identity` is its stable `group.instance.id` (static
/// membership: a restarted worker takes its place in each group), `None`
/// for dynamic membership.
pub fn spawn(settings: &Settings, identity: Option<&str>) -> Worker {
    let root = env!("CARGO_MANIFEST_DIR");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(settings))
        .map(Stdio::from)
        .unwrap_or(Stdio::null());
    let mut command = Command::new(env!("CARGO_BIN_EXE_orakgarak"));
    command
        .arg("worker")
        .current_dir(root)
        .env("ORAKGARAK__DATABASE__URL", settings.database.url.expose())
        .env("ORAKGARAK__KAFKA__TOPIC_PREFIX", &settings.kafka.topic_prefix)
        .env("ORAKGARAK__KAFKA__GROUP_PREFIX", &settings.kafka.group_prefix)
        .env("ORAKGARAK__KAFKA__STARVED_AFTER", format!("{}ms", settings.kafka.starved_after.as_millis()))
        .env("ORAKGARAK__KAFKA__REJOIN_AFTER", format!("{}ms", settings.kafka.rejoin_after.as_millis()))
        .env("ORAKGARAK__STORAGE__BUCKET", &settings.storage.bucket)
        .env("ORAKGARAK__HTTP__METRICS_LISTEN", "127.0.0.1:0")
        .env("ORAKGARAK__LOG__LEVEL", "info")
        .stdout(log)
        .stderr(Stdio::null());
    // The test's consumer settings (the dev config's come from the file).
    for (key, value) in &settings.kafka.consumer {
        command.env(format!("ORAKGARAK__KAFKA__CONSUMER__{}", key.to_uppercase()), value);
    }
    if let Some(identity) = identity {
        command.env("ORAKGARAK__KAFKA__CONSUMER__GROUP.INSTANCE.ID", identity);
    }
    Worker(command.spawn().expect("the orakgarak binary starts"))
}

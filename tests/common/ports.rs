//! Starting servers that must be told their port on the command line
//! (Prometheus, Alertmanager, exporters, tansu). No port is picked by
//! binding and releasing it: a random candidate is tried, and when the
//! child exits (the port was taken) another is tried. A child counts as
//! started once its port answers and it is still alive.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rand::Rng;

/// Spawns `make(port)` on a free port; returns the child and its port.
/// Fails loudly, naming `log`, when the server never comes up.
pub async fn spawn_on_free_port(name: &str, log: &std::path::Path, make: impl Fn(u16) -> Command) -> (Child, u16) {
    for _ in 0..8 {
        let port = rand::thread_rng().gen_range(20_000..60_000);
        if let Some(child) = spawn_on(name, log, port, make(port)).await {
            return (child, port);
        }
    }
    panic!("{name} could not start on any of 8 random ports; see {}", log.display());
}

/// A random port to try (see `spawn_on`).
pub fn candidate() -> u16 {
    rand::thread_rng().gen_range(20_000..60_000)
}

/// Spawns `command`, which listens on `port`: the child once it answers
/// there and is still alive, `None` when it exited (the port was taken).
pub async fn spawn_on(name: &str, log: &std::path::Path, port: u16, mut command: Command) -> Option<Child> {
    let mut child =
        command.spawn().unwrap_or_else(|e| panic!("{name} is not installed ({e}): run scripts/stack.sh up"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().ok().flatten().is_some() {
            return None; // exited: most likely the port was taken
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            // Answering, and still ours a moment later.
            tokio::time::sleep(Duration::from_millis(100)).await;
            if child.try_wait().ok().flatten().is_none() {
                return Some(child);
            }
            return None;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} did not listen on {port} within 30 s; see {}", log.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

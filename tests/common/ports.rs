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
pub async fn spawn_on_free_port(
    name: &str,
    log: &std::path::Path,
    mut make: impl FnMut(u16) -> Command,
) -> (Child, u16) {
    for _ in 0..8 {
        let port = rand::thread_rng().gen_range(20_000..60_000);
        let mut child =
            make(port).spawn().unwrap_or_else(|e| panic!("{name} is not installed ({e}): run scripts/stack.sh up"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if child.try_wait().ok().flatten().is_some() {
                break; // exited: most likely the port was taken; try another
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                // Answering, and still ours a moment later.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if child.try_wait().ok().flatten().is_none() {
                    return (child, port);
                }
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} did not listen on {port} within 30 s; see {}", log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("{name} could not start on any of 8 random ports; see {}", log.display());
}

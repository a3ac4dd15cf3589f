//! A server process of a test's own (a broker, an object store) on a port
//! of its own, which the test can stop and start again on the same port to
//! make an outage. The one way tests restart a dependency.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

type MakeCommand = Box<dyn Fn(u16) -> Command + Send + Sync>;

pub struct OwnServer {
    name: &'static str,
    child: Option<Child>,
    pub port: u16,
    log: PathBuf,
    make: MakeCommand,
}

impl OwnServer {
    /// Starts `make(port)` on a free port (see `ports::spawn_on_free_port`).
    pub async fn start(name: &'static str, log: &Path, make: impl Fn(u16) -> Command + Send + Sync + 'static) -> Self {
        let (child, port) = super::ports::spawn_on_free_port(name, log, &make).await;
        Self { name, child: Some(child), port, log: log.to_owned(), make: Box::new(make) }
    }

    /// SIGKILL, as a crash: the server is gone until `start_again`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The same server on the same port, once it answers there. A start
    /// that exits at once (the old socket not yet released) is tried again.
    pub async fn start_again(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let command = (self.make)(self.port);
            if let Some(child) = super::ports::spawn_on(self.name, &self.log, self.port, command).await {
                self.child = Some(child);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {} again; see {}",
                self.name,
                self.port,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn restart(&mut self) {
        self.stop();
        self.start_again().await;
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
    }
}

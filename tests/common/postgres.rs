//! A PostgreSQL server of the test's own (Debian's `initdb` and `pg_ctl`),
//! in a temporary directory, listening on a Unix socket only: it can be
//! stopped and started without touching the shared stack, and it needs no
//! TCP port at all.

use std::path::PathBuf;
use std::process::Command;

pub struct OwnPostgres {
    pub dir: PathBuf,
    bin: PathBuf,
}

/// Debian installs one directory per major version; take the newest.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries (Debian package postgresql, installed by scripts/stack.sh)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("initdb under /usr/lib/postgresql/*/bin")
}

/// PostgreSQL refuses to run as root: run its tools as `postgres` then.
fn as_server_user(bin: &std::path::Path, tool: &str) -> Command {
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    if is_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        command
    } else {
        Command::new(bin.join(tool))
    }
}

impl OwnPostgres {
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!("orakgarak-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let _ = Command::new("chown").args(["postgres:postgres"]).arg(&dir).status();
        let status = as_server_user(&bin, "initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(dir.join("data"))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed in {}", dir.display());
        let pg = Self { dir, bin };
        pg.ctl("start");
        pg
    }

    /// `pg_ctl stop -m fast` or `start`, waiting until it is done.
    pub fn ctl(&self, action: &str) {
        let options = format!("-c listen_addresses='' -c unix_socket_directories='{}'", self.dir.display());
        let mut command = as_server_user(&self.bin, "pg_ctl");
        command.args(["-w", "-D"]).arg(self.dir.join("data")).args(["-l"]).arg(self.dir.join("server.log"));
        match action {
            "start" => command.args(["-o", &options, "start"]),
            _ => command.args(["-m", "fast", "stop"]),
        };
        let status = command.stdout(std::process::Stdio::null()).status().expect("pg_ctl runs");
        assert!(status.success(), "pg_ctl {action} failed; see {}", self.dir.join("server.log").display());
    }

    /// Its `postgres` database, over the socket.
    pub fn url(&self) -> String {
        format!("postgres://postgres@localhost/postgres?host={}", self.dir.display())
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let mut command = as_server_user(&self.bin, "pg_ctl");
        let _ = command.args(["-D"]).arg(self.dir.join("data")).args(["-m", "immediate", "stop"]).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

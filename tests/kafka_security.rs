//! Kafka over TLS with SASL/SCRAM, through `kafka.client` properties, on a
//! broker this test runs: tansu with authentication required, its log and
//! SCRAM users in a SQLite file of its own (tansu 0.6.0's memory and S3
//! engines accept `user create` but store nothing), behind stunnel
//! terminating TLS with the test CA's certificate (tansu 0.6.0 accepts
//! `--cert`/`--key` but never wraps a connection in TLS). The broker
//! advertises the TLS port, so every connection, after bootstrap too, goes
//! through TLS.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{fixture, isolated_settings, start, states};
use orakgarak::app::Roles;
use orakgarak::config::{KafkaSettings, Secret};

const USER: &str = "orakgarak-worker";
const PASSWORD: &str = "scram-test-password";

fn tls_fixture(name: &str) -> PathBuf {
    PathBuf::from(format!("{}/tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR")))
}

fn log_to(log: &Path) -> Stdio {
    std::fs::OpenOptions::new().create(true).append(true).open(log).map(Stdio::from).unwrap_or(Stdio::null())
}

struct SecureBroker {
    tansu: Child,
    stunnel: Child,
    tls_port: u16,
}

impl Drop for SecureBroker {
    fn drop(&mut self) {
        for child in [&mut self.tansu, &mut self.stunnel] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn tansu(plain_port: u16, advertised: u16, dir: &Path, authentication: bool, log: &Path) -> Command {
    let mut command = Command::new("tansu");
    command
        .args(["broker", "--listener-url", &format!("tcp://127.0.0.1:{plain_port}")])
        .args(["--advertised-listener-url", &format!("tcp://127.0.0.1:{advertised}")])
        .args(["--storage-engine", "sqlite://tansu.db"])
        .current_dir(dir)
        .stdout(log_to(log))
        .stderr(log_to(log));
    if authentication {
        command.arg("--authentication");
    }
    command
}

impl SecureBroker {
    /// tansu on a plain port creates the SCRAM user, then restarts on the
    /// same storage with authentication required; stunnel serves TLS on
    /// the advertised port.
    async fn start(dir: &Path, log: &Path) -> Self {
        for _ in 0..8 {
            let tls_port = common::ports::candidate();
            let (mut open, plain_port) =
                common::ports::spawn_on_free_port("tansu", log, |port| tansu(port, tls_port, dir, false, log)).await;
            let created = Command::new("tansu")
                .args(["user", "create", "--broker", &format!("tcp://127.0.0.1:{plain_port}")])
                .args(["--mechanism", "scram512", USER, PASSWORD])
                .stdout(log_to(log))
                .stderr(log_to(log))
                .status()
                .expect("tansu user create runs");
            assert!(created.success(), "tansu user create failed; see {}", log.display());
            let _ = open.kill();
            let _ = open.wait();
            let Some(tansu) =
                common::ports::spawn_on("tansu", log, plain_port, tansu(plain_port, tls_port, dir, true, log)).await
            else {
                continue;
            };
            let config = dir.join("stunnel.conf");
            std::fs::write(
                &config,
                format!(
                    "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{tls_port}\nconnect = 127.0.0.1:{plain_port}\ncert = {}\nkey = {}\n",
                    tls_fixture("server.pem").display(),
                    tls_fixture("server-key.pem").display()
                ),
            )
            .expect("stunnel config");
            let mut command = Command::new("stunnel4");
            command.arg(&config).stdout(log_to(log)).stderr(log_to(log));
            match common::ports::spawn_on("stunnel4", log, tls_port, command).await {
                Some(stunnel) => return Self { tansu, stunnel, tls_port },
                None => {
                    let mut tansu = tansu;
                    let _ = tansu.kill();
                    let _ = tansu.wait();
                }
            }
        }
        panic!("no free port pair for tansu and stunnel; see {}", log.display());
    }
}

/// Settings a deployment would write for this broker.
fn secure(kafka: &mut KafkaSettings, tls_port: u16, password: &str) {
    kafka.brokers = format!("127.0.0.1:{tls_port}");
    kafka.client = BTreeMap::from([
        ("security.protocol".to_owned(), Secret::new("sasl_ssl")),
        ("ssl.ca.location".to_owned(), Secret::new(tls_fixture("ca.pem").display().to_string())),
        ("sasl.mechanism".to_owned(), Secret::new("SCRAM-SHA-512")),
        ("sasl.username".to_owned(), Secret::new(USER)),
        ("sasl.password".to_owned(), Secret::new(password)),
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_complete_over_tls_with_scram_and_a_wrong_password_is_refused() {
    let (mut settings, db) = isolated_settings().await;
    let dir = std::env::temp_dir().join(format!("tansu-secure-{}", settings.storage.bucket));
    std::fs::create_dir_all(&dir).expect("broker directory");
    let log = dir.join("broker.log");
    let broker = SecureBroker::start(&dir, &log).await;

    // Without credentials, and with a wrong password, topics cannot be made.
    let mut anonymous = settings.kafka.clone();
    secure(&mut anonymous, broker.tls_port, PASSWORD);
    anonymous.client.retain(|k, _| k.starts_with("ssl.") || k == "security.protocol");
    anonymous.client.insert("security.protocol".into(), Secret::new("ssl"));
    let refused = orakgarak::pipeline::ensure_topics(&anonymous, &["refused-anonymous".to_owned()]).await;
    assert!(refused.is_err(), "an unauthenticated client must not create topics");
    let mut wrong = settings.kafka.clone();
    secure(&mut wrong, broker.tls_port, "not-the-password");
    let refused = orakgarak::pipeline::ensure_topics(&wrong, &["refused-wrong-password".to_owned()]).await;
    assert!(refused.is_err(), "a wrong SCRAM password must not create topics");

    // The whole pipeline over TLS + SCRAM.
    secure(&mut settings.kafka, broker.tls_port, PASSWORD);
    let app = start(settings, db, Roles::all()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(app.upload(&format!("take{i}.ogg"), "audio/ogg", fixture("sung-a3-e4.ogg")).await);
    }
    for id in &ids {
        let upload = app
            .client
            .wait_for(id, Some("COMPLETED"), Duration::from_secs(120), false)
            .await
            .unwrap_or_else(|e| panic!("{id} completes over TLS + SCRAM: {e:#}; broker log {}", log.display()));
        assert_eq!(
            states(&upload),
            ["CREATED", "UPLOADED", "CONVERTING", "CONVERTED", "ANALYZING", "ANALYZED", "RECOMMENDING", "COMPLETED"]
        );
    }
    app.stop().await;
    drop(broker);
}

#[test]
fn librdkafka_is_built_with_tls_and_scram() {
    let config = rdkafka::ClientConfig::new();
    let features = config.get("builtin.features").map(str::to_owned);
    // ClientConfig only holds what was set; ask librdkafka itself.
    let native = config.create_native_config().expect("native config");
    let features = features.or_else(|| native.get("builtin.features").ok()).expect("builtin.features");
    for feature in ["ssl", "sasl_scram"] {
        assert!(features.split(',').any(|f| f == feature), "librdkafka lacks {feature}: {features}");
    }
}

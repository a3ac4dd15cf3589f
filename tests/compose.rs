//! The compose stack is valid, and monitoring is a profile of its own.

use std::path::Path;
use std::process::Command;

#[test]
fn compose_file_is_valid_and_monitoring_runs_apart() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = root.join("compose/docker-compose.yml");
    let out = Command::new("docker-compose")
        .args(["-f"])
        .arg(&file)
        .args(["--profile", "monitoring", "config", "-q"])
        .envs([("JWT_SECRET", "x"), ("EVENT_TOKEN", "x"), ("S3_SECRET", "x"), ("POSTGRES_PASSWORD", "x")])
        .output()
        .expect("docker-compose (Debian package) is installed by scripts/stack.sh");
    assert!(out.status.success(), "docker-compose config:\n{}", String::from_utf8_lossy(&out.stderr));

    let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&file).expect("read")).expect("yaml");
    let services = doc["services"].as_mapping().expect("services");
    let profile = |name: &str| services.get(name).and_then(|s| s["profiles"].as_sequence()).map(|p| p.len());
    for monitoring in
        ["prometheus", "alertmanager", "grafana", "loki", "tempo", "mattermost", "node-exporter", "postgres-exporter"]
    {
        assert_eq!(profile(monitoring), Some(1), "{monitoring} runs in the monitoring profile");
    }
    for app in ["postgres", "kafka", "minio", "api", "worker-realtime", "worker-bulk", "watchdog"] {
        assert_eq!(profile(app), None, "{app} runs without the monitoring profile");
    }
    assert!(
        services.get("kafka").is_some_and(|k| k["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"),
        "Kafka runs in KRaft mode"
    );
}

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

#[test]
fn the_services_export_traces_to_the_tempo_the_stack_runs_and_grafana_reads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |path: &str| -> serde_yaml::Value {
        serde_yaml::from_str(&std::fs::read_to_string(root.join(path)).expect(path)).expect(path)
    };
    let (compose, tempo, sources) = (
        read("compose/docker-compose.yml"),
        read("tempo/tempo.yaml"),
        read("dashboards/provisioning/datasources.yaml"),
    );
    let port_of = |address: &str| address.rsplit(':').next().expect("host:port").trim_end_matches('/').to_owned();

    // The services send OTLP/HTTP to Tempo's receiver, which the stack publishes.
    let receiver =
        tempo["distributor"]["receivers"]["otlp"]["protocols"]["http"]["endpoint"].as_str().expect("receiver");
    let endpoint =
        compose["x-orakgarak"]["environment"]["ORAKGARAK__TRACES__OTLP_ENDPOINT"].as_str().expect("endpoint");
    assert_eq!(endpoint, format!("http://tempo:{}/v1/traces", port_of(receiver)));
    let service = &compose["services"]["tempo"];
    assert!(service["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .any(|v| v.as_str().is_some_and(|v| v.starts_with("../tempo/tempo.yaml:"))));
    let published: Vec<&str> =
        service["ports"].as_sequence().expect("ports").iter().filter_map(|p| p.as_str()).collect();
    assert!(published.contains(&format!("{0}:{0}", port_of(receiver)).as_str()), "{published:?}");

    // Grafana queries Tempo's HTTP port under the uid the derived field names.
    let datasources = sources["datasources"].as_sequence().expect("datasources");
    let tempo_source = datasources.iter().find(|d| d["type"] == "tempo").expect("a Tempo datasource");
    let http_port = tempo["server"]["http_listen_port"].as_u64().expect("http_listen_port");
    assert_eq!(tempo_source["url"], format!("http://tempo:{http_port}").as_str());
    let loki = datasources.iter().find(|d| d["type"] == "loki").expect("Loki");
    assert_eq!(loki["jsonData"]["derivedFields"][0]["datasourceUid"], tempo_source["uid"]);
}

//! The alert rules and Alertmanager config as shipped: promtool's checks
//! and unit tests, the rule conventions, metric names against the
//! catalogue, runbooks, and the routing table through amtool.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

mod common;
use common::promql::{known_metrics, metric_names};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rule_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("alerts"))
        .expect("alerts/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    files
}

fn alerting_rules() -> Vec<Value> {
    let mut rules = Vec::new();
    for file in rule_files() {
        let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(&file).expect("read")).expect("yaml");
        for group in doc["groups"].as_sequence().expect("groups") {
            for rule in group["rules"].as_sequence().expect("rules") {
                if rule.get("alert").is_some() {
                    rules.push(rule.clone());
                }
            }
        }
    }
    rules
}

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{tool} is not installed ({e}): run scripts/stack.sh up"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{tool} {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_checks_and_unit_tests_pass() {
    let files: Vec<String> = rule_files().iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["check", "rules"];
    args.extend(files.iter().map(String::as_str));
    let out = run("promtool", &args);
    assert!(!out.contains("WARNING"), "{out}");

    let tests: Vec<String> = std::fs::read_dir(root().join("alerts/tests"))
        .expect("alerts/tests")
        .filter_map(|e| e.ok().map(|e| e.path().display().to_string()))
        .filter(|p| p.ends_with("_test.yml"))
        .collect();
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(String::as_str));
    run("promtool", &args);

    // Every alert has a test in which it fires.
    let mut fired = BTreeSet::new();
    for file in &tests {
        let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(file).expect("read")).expect("yaml");
        for test in doc["tests"].as_sequence().expect("tests") {
            for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
                if case["exp_alerts"].as_sequence().is_some_and(|a| !a.is_empty()) {
                    fired.insert(case["alertname"].as_str().expect("name").to_owned());
                }
            }
        }
    }
    for rule in alerting_rules() {
        let name = rule["alert"].as_str().expect("name");
        assert!(fired.contains(name), "{name} has no promtool test in which it fires");
    }
}

#[test]
fn twenty_nine_rules_each_complete_versioned_and_with_a_runbook() {
    let rules = alerting_rules();
    assert_eq!(rules.len(), 29);
    let version = std::fs::read_to_string(root().join("alerts/VERSION")).expect("VERSION").trim().to_owned();
    assert!(std::fs::read_to_string(root().join("alerts/CHANGELOG.md"))
        .expect("CHANGELOG")
        .contains(&format!("## {version}")));
    for rule in &rules {
        let name = rule["alert"].as_str().expect("name");
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        let allowed: &[&str] = if name == "Heartbeat" { &["none"] } else { &["critical", "warning", "info"] };
        assert!(allowed.contains(&severity), "{name}: severity {severity:?}");
        let pending = rule["for"].as_str().unwrap_or_else(|| panic!("{name} has no `for`"));
        if severity == "critical" && !["1m", "5m"].contains(&pending) {
            let description = rule["annotations"]["description"].as_str().unwrap_or_default();
            assert!(
                description.contains(&format!("for is {pending}")),
                "{name}: critical rules pend 1m (5m, or another `for` its description reasons)"
            );
        }
        assert_eq!(rule["labels"]["ruleset_version"].as_str(), Some(version.as_str()), "{name}");
        assert!(rule["labels"]["service"].as_str().is_some_and(|s| !s.is_empty()), "{name}: service label");
        for key in ["summary", "description", "runbook_url"] {
            assert!(rule["annotations"][key].as_str().is_some_and(|s| !s.is_empty()), "{name}: {key}");
        }
        let url = rule["annotations"]["runbook_url"].as_str().expect("url");
        let file = url.rsplit('/').next().expect("file");
        assert_eq!(file, format!("{name}.md"), "{name}: runbook_url names its own page");
        let page = std::fs::read_to_string(root().join("docs/runbooks").join(file))
            .unwrap_or_else(|_| panic!("docs/runbooks/{file} is missing"));
        // What an on-call needs at 3 a.m., in order.
        for section in
            ["## Impact", "## Check", "```promql", "## Act", "## Silence for maintenance", "## Verify it resolved"]
        {
            assert!(page.contains(section), "{file} has no {section:?}");
        }
        assert!(
            page.contains("amtool silence add") && page.contains("--duration="),
            "{file}: a silence with a duration"
        );
        let service = rule["labels"]["service"].as_str().unwrap_or_default();
        if service == "orakgarak" && severity == "critical" {
            assert!(page.contains("```logql"), "{file}: the LogQL to find the failing uploads' lines");
        }
        if let Some(threshold) = rule["annotations"]["threshold"].as_str() {
            let expr = rule["expr"].as_str().expect("expr");
            assert!(expr.contains(&format!("> {threshold}")), "{name}: threshold {threshold} is the one in its expr");
        }
    }
}

#[test]
fn rules_name_only_catalogued_or_documented_metrics() {
    assert_eq!(
        metric_names(
            r#"sum by (job) (rate(a_total{x="y"}[5m])) / on (job) group_left (z) b > 0.1 and absent(c{q="1"})"#
        ),
        ["a_total", "b", "c"].iter().map(|s| s.to_string()).collect()
    );
    let known = known_metrics();
    for rule in alerting_rules() {
        let expr = rule["expr"].as_str().expect("expr");
        for name in metric_names(expr) {
            assert!(
                known.contains(&name),
                "{}: {name} is neither in docs/metrics.md nor alerts/external-metrics.txt",
                rule["alert"].as_str().unwrap_or("?")
            );
        }
    }
}

#[test]
fn alertmanager_config_is_valid_and_routes_by_severity() {
    run("amtool", &["check-config", "alertmanager/alertmanager.yml"]);
    for (labels, receiver) in [
        (vec!["alertname=ServiceDown", "severity=critical", "service=orakgarak"], "mattermost-critical"),
        (vec!["alertname=DeadLetterGrowth", "severity=warning", "service=orakgarak"], "mattermost-warning"),
        (vec!["alertname=SomethingToKnow", "severity=info", "service=orakgarak"], "mattermost-info"),
        (vec!["alertname=Unknown"], "mattermost-warning"),
        (vec!["alertname=Heartbeat", "severity=none", "service=monitoring"], "heartbeat"),
        (
            vec![
                "alertname=AlertmanagerNotificationsFailing",
                "severity=critical",
                "service=alertmanager",
                "notify=fallback",
            ],
            "fallback,mattermost-critical",
        ),
        (
            vec![
                "alertname=ApiAvailabilityBudgetBurn",
                "severity=critical",
                "service=orakgarak",
                "slo=api-availability",
            ],
            "mattermost-critical",
        ),
    ] {
        let mut args = vec!["config", "routes", "test", "--config.file=alertmanager/alertmanager.yml"];
        let verify = format!("--verify.receivers={receiver}");
        args.push(&verify);
        args.extend(labels.iter().copied());
        run("amtool", &args);
    }
}

//! Dashboards as code: committed JSON equals what the code generates; every
//! dashboard follows the conventions grafana's dashboard-linter checks;
//! every PromQL panel returns data from a real Prometheus that scraped a
//! running pipeline, node_exporter and postgres_exporter; LogQL selects
//! streams only by the fixed label set; runbooks link to real panels; every
//! dashboard type-checks against Grafana's published model
//! (`@grafana/schema` with `tsc`) and passes the checks types cannot make
//! (duplicate panel ids, panels off the grid or on top of each other,
//! variables used but not defined).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::monitoring::exporter;
use common::prometheus::Prometheus;
use common::promql::{known_metrics, metric_names};
use common::{fixture, spawn_app_with};
use orakgarak::dashboards::{all_dashboards, render, AlertThresholds, Panel, PRODUCTION_ONLY_METRICS};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn thresholds() -> AlertThresholds {
    AlertThresholds::load(&root().join("alerts")).expect("alert thresholds")
}

#[test]
fn committed_json_is_what_the_code_generates() {
    let rendered = render(&thresholds());
    let mut committed: Vec<String> = std::fs::read_dir(root().join("dashboards"))
        .expect("dashboards/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    committed.sort();
    let mut generated: Vec<String> = rendered.iter().map(|(f, _)| f.clone()).collect();
    generated.sort();
    assert_eq!(committed, generated, "dashboards/ holds exactly the generated files");
    for (file, json) in rendered {
        let on_disk = std::fs::read_to_string(root().join("dashboards").join(&file)).expect("read");
        assert!(on_disk == json, "dashboards/{file} is stale or hand-edited: run `cargo run -- dashboards`");
    }
}

fn is_loki(panel: &Panel) -> bool {
    panel.datasource.kind == "loki"
}

#[test]
fn every_dashboard_follows_the_conventions() {
    let dashboards = all_dashboards(&thresholds());
    assert_eq!(dashboards.len(), 6);
    let mut uids: Vec<&str> = dashboards.iter().map(|d| d.uid.as_str()).collect();
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), 6, "stable, unique uids");
    let known = known_metrics();
    for d in &dashboards {
        let name = &d.title;
        assert!(d.uid.starts_with("orakgarak-") && d.uid.len() <= 40, "{name}: uid {}", d.uid);
        assert_eq!(d.schema_version, 39, "{name}");
        assert!(d.tags.contains(&"orakgarak".to_owned()) && !d.description.is_empty(), "{name}: tags and description");
        assert!(
            d.links.iter().any(|l| l.kind == "dashboards" && l.tags == ["orakgarak"]),
            "{name}: links to the others"
        );
        let var = |n: &str| d.templating.list.iter().find(|v| v.name == n);
        let ds = var("datasource").unwrap_or_else(|| panic!("{name}: no datasource variable"));
        assert_eq!((ds.kind.as_str(), ds.query.as_str()), ("datasource", Some("prometheus")), "{name}");
        if d.panels.iter().any(is_loki) {
            let loki = var("loki").unwrap_or_else(|| panic!("{name}: no loki variable"));
            assert_eq!((loki.kind.as_str(), loki.query.as_str()), ("datasource", Some("loki")));
        }
        for p in &d.panels {
            let at = format!("{name} / {}", p.title);
            assert!(!p.title.is_empty() && !p.description.is_empty(), "{at}: title and description");
            let expected_uid = if is_loki(p) { "${loki}" } else { "${datasource}" };
            assert_eq!(p.datasource.uid, expected_uid, "{at}: datasource only through the variable");
            assert!(!p.targets.is_empty(), "{at}: no queries");
            if p.kind != "logs" {
                assert!(p.field_config.defaults.unit.as_deref().is_some_and(|u| !u.is_empty()), "{at}: unit");
            }
            for t in &p.targets {
                assert_eq!(t.datasource, p.datasource, "{at}");
                if is_loki(p) {
                    check_logql(&at, &t.expr);
                } else {
                    check_promql(&at, &t.expr);
                    for metric in metric_names(&t.expr) {
                        assert!(known.contains(&metric), "{at}: {metric} is neither catalogued nor documented");
                    }
                }
            }
        }
    }
}

fn check_promql(at: &str, expr: &str) {
    assert!(
        !expr.contains("traceId") && !expr.contains("uploadId") && !expr.contains("upload_id"),
        "{at}: ids in PromQL"
    );
    // Every range is the rate interval.
    for range in expr.split('[').skip(1) {
        let inside = range.split(']').next().unwrap_or_default();
        assert_eq!(inside, "$__rate_interval", "{at}: range [{inside}] in {expr}");
    }
    // Counters only through rate()/increase().
    for (i, _) in expr
        .match_indices("_total")
        .chain(expr.match_indices("_bucket"))
        .chain(expr.match_indices("_seconds_sum"))
        .chain(expr.match_indices("_seconds_count"))
        .chain(expr.match_indices("_xact_").chain(expr.match_indices("_blks_")))
    {
        let before = &expr[..i];
        let start = before.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |p| p + 1);
        let prefix = expr[..start].trim_end();
        assert!(
            prefix.ends_with("rate(") || prefix.ends_with("increase("),
            "{at}: counter outside rate/increase in {expr}"
        );
    }
}

fn check_logql(at: &str, expr: &str) {
    let selector =
        expr.split('{').nth(1).and_then(|s| s.split('}').next()).unwrap_or_else(|| panic!("{at}: no stream selector"));
    for matcher in selector.split(',') {
        let label = matcher.trim().split(['=', '!', '~']).next().unwrap_or_default().trim();
        assert!(["service", "env", "level"].contains(&label), "{at}: stream selector uses label {label:?}");
    }
    assert!(!selector.contains("traceId") && !selector.contains("uploadId"), "{at}: ids are never stream labels");
    // A traceId filter compares the field with the variable, nothing else.
    for (i, _) in expr.match_indices("traceId") {
        let rest = expr[i + "traceId".len()..].trim_start();
        if let Some(value) = rest.strip_prefix('=') {
            assert!(
                value.trim_start().starts_with("\"$traceId\""),
                "{at}: traceId filtered by something other than $traceId"
            );
        }
    }
}

#[test]
fn runbooks_link_to_the_panel_that_shows_the_problem() {
    let dashboards = all_dashboards(&thresholds());
    let dir = root().join("docs/runbooks");
    for entry in std::fs::read_dir(&dir).expect("runbooks") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let line = text
            .lines()
            .find(|l| l.starts_with("**Dashboard.**"))
            .unwrap_or_else(|| panic!("{} links no dashboard", path.display()));
        let link = line.split('`').nth(1).expect("a `/d/uid?viewPanel=id` link");
        let (uid, id) = link.trim_start_matches("/d/").split_once("?viewPanel=").expect("link shape");
        let board = dashboards
            .iter()
            .find(|d| d.uid == uid)
            .unwrap_or_else(|| panic!("{}: no dashboard {uid}", path.display()));
        let id: u32 = id.parse().expect("panel id");
        let panel = board
            .panels
            .iter()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("{}: no panel {id} on {uid}", path.display()));
        assert!(line.contains(&format!("*{}*", panel.title)), "{}: names panel {:?}", path.display(), panel.title);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_promql_panel_returns_data_from_a_live_pipeline() {
    let app = spawn_app_with(|s| {
        s.watchdog.thresholds = orakgarak::config::StuckThresholds::all(Duration::from_secs(1));
        s.watchdog.expiry_grace = Duration::ZERO;
        s.storage.presign_ttl = Duration::from_secs(2);
    })
    .await;
    let node = exporter("prometheus-node-exporter", &[]).await;
    let pg = exporter(
        "prometheus-postgres-exporter",
        &[("DATA_SOURCE_NAME", "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable")],
    )
    .await;
    let target = app.metrics_url.trim_start_matches("http://").trim_end_matches("/metrics").to_owned();
    let rules = format!("rule_files:\n  - {}/*.yml\n", root().join("alerts").display());
    let prometheus = Prometheus::start(
        &[
            ("orakgarak", target),
            ("node", format!("127.0.0.1:{}", node.port)),
            ("postgres", format!("127.0.0.1:{}", pg.port)),
        ],
        &rules,
    )
    .await;
    prometheus.wait_for("count(up == 1) == 3", Duration::from_secs(30)).await;

    // A few demo uploads, a corrupt one (DLQ → an alert), one never sent (expires).
    for (name, file, ct) in [("a.ogg", "sung-a3-e4.ogg", "audio/ogg"), ("b.mp3", "sung-a3-e4.mp3", "audio/mpeg")] {
        let id = app.upload(name, ct, fixture(file)).await;
        app.wait_for(&id, Some("COMPLETED")).await;
    }
    let bad = app.upload("bad.mp3", "audio/mpeg", fixture("corrupt.mp3")).await;
    app.wait_for(&bad, Some("FAILED")).await;
    let _ = app.client.create_upload("never.ogg", "audio/ogg", 100, None).await.expect("POST");
    app.wait_until_watchdog_sees(1).await;
    app.app.watchdog().run_once().await.expect("watchdog run");
    app.app.watchdog().run_once().await.expect("watchdog run");
    // Wait for the DLQ alert to fire, so ALERTS has firing and pending data.
    prometheus.wait_for("ALERTS{alertname=\"DeadLetterGrowth\",alertstate=\"firing\"}", Duration::from_secs(120)).await;

    // A panel's rate() needs two scrapes of its series: each query is asked
    // again until it answers, within one deadline for them all.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut checked = 0;
    for d in all_dashboards(&thresholds()) {
        for p in d.panels.iter().filter(|p| !is_loki(p)) {
            for t in &p.targets {
                let expr = t.expr.replace("$__rate_interval", "5m").replace("$job", ".*").replace("$node", ".*");
                let production_only =
                    metric_names(&t.expr).iter().any(|m| PRODUCTION_ONLY_METRICS.contains(&m.as_str()));
                // Parses, or the query helper fails.
                while prometheus.query(&expr).await.is_empty() && !production_only {
                    assert!(std::time::Instant::now() < deadline, "{} / {}: no data for {expr}", d.title, p.title);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "{checked} queries checked");
    app.stop().await;
}

/// Runs scripts/grafana-schema-check.sh on `files` (all dashboards when
/// empty); returns whether it passed and what it printed.
fn grafana_schema_check(files: &[std::path::PathBuf]) -> (bool, String) {
    let out = Command::new(root().join("scripts/grafana-schema-check.sh"))
        .args(files)
        .output()
        .expect("scripts/grafana-schema-check.sh (needs node and npm)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn committed_dashboards() -> Vec<(String, serde_json::Value)> {
    let mut boards: Vec<(String, serde_json::Value)> = std::fs::read_dir(root().join("dashboards"))
        .expect("dashboards/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read dashboard");
            (
                p.file_name().unwrap_or_default().to_string_lossy().into_owned(),
                serde_json::from_str(&text).expect("JSON"),
            )
        })
        .collect();
    boards.sort_by(|a, b| a.0.cmp(&b.0));
    boards
}

#[test]
fn every_dashboard_type_checks_against_grafanas_published_schema() {
    let (passed, output) = grafana_schema_check(&[]);
    assert!(passed, "tsc against @grafana/schema:\n{output}");
    assert!(output.contains("6 dashboards type-check"), "{output}");
}

#[test]
fn a_planted_mistake_in_a_dashboard_fails_grafanas_schema_check() {
    let dir = std::env::temp_dir().join(format!("orakgarak-planted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (_, pipeline) = committed_dashboards().into_iter().find(|(n, _)| n == "pipeline.json").expect("pipeline.json");
    let timeseries = pipeline["panels"]
        .as_array()
        .and_then(|p| p.iter().position(|p| p["type"] == "timeseries"))
        .expect("a time series");
    type Plant = fn(&mut serde_json::Value, usize);
    let plants: [(&str, Plant); 5] = [
        ("misspelled-key", |d, i| {
            let pos = d["panels"][i].as_object_mut().and_then(|p| p.remove("gridPos"));
            d["panels"][i]["gridPoss"] = pos.unwrap_or_default();
        }),
        ("wrong-enum-value", |d, i| d["panels"][i]["options"]["legend"]["displayMode"] = "lists".into()),
        ("missing-refid", |d, i| {
            d["panels"][i]["targets"][0].as_object_mut().map(|t| t.remove("refId"));
        }),
        ("wrong-option-type", |d, i| d["panels"][i]["options"]["tooltip"]["mode"] = 1.into()),
        ("unknown-dashboard-key", |d, _| d["graphTooltips"] = 1.into()),
    ];
    let mut files = Vec::new();
    for (name, plant) in plants {
        let mut copy = pipeline.clone();
        plant(&mut copy, timeseries);
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&copy).expect("JSON")).expect("write");
        files.push(path);
    }
    let (passed, output) = grafana_schema_check(&files);
    assert!(!passed, "planted mistakes passed:\n{output}");
    for (name, _) in plants {
        assert!(output.contains(&format!("/{name}.ts(")), "{name} was not caught:\n{output}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// What Grafana's types cannot see: ids, the 24-column grid, variables.
fn semantic_problems(dashboard: &serde_json::Value) -> Vec<String> {
    let mut problems = Vec::new();
    let panels: Vec<&serde_json::Value> = dashboard["panels"]
        .as_array()
        .map(|p| {
            p.iter().flat_map(|p| std::iter::once(p).chain(p["panels"].as_array().into_iter().flatten())).collect()
        })
        .unwrap_or_default();
    let mut ids = std::collections::BTreeSet::new();
    let mut boxes: Vec<(i64, i64, i64, i64, String)> = Vec::new();
    for panel in &panels {
        let title = panel["title"].as_str().unwrap_or("?").to_owned();
        if !ids.insert(panel["id"].as_i64().unwrap_or(-1)) {
            problems.push(format!("{title}: duplicate panel id {}", panel["id"]));
        }
        let g = &panel["gridPos"];
        let (x, y, w, h) = (g["x"].as_i64(), g["y"].as_i64(), g["w"].as_i64(), g["h"].as_i64());
        let (Some(x), Some(y), Some(w), Some(h)) = (x, y, w, h) else {
            problems.push(format!("{title}: no gridPos"));
            continue;
        };
        if x < 0 || y < 0 || w < 1 || h < 1 || x + w > 24 {
            problems.push(format!("{title}: gridPos x={x} w={w} is off the 24-column grid"));
        }
        for (ox, oy, ow, oh, other) in &boxes {
            if x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h {
                problems.push(format!("{title}: overlaps {other}"));
            }
        }
        boxes.push((x, y, w, h, title));
    }
    let defined: std::collections::BTreeSet<&str> = dashboard["templating"]["list"]
        .as_array()
        .map(|l| l.iter().filter_map(|v| v["name"].as_str()).collect())
        .unwrap_or_default();
    let text = serde_json::to_string(&dashboard["panels"]).unwrap_or_default()
        + &serde_json::to_string(&dashboard["templating"]).unwrap_or_default();
    for (i, _) in text.match_indices('$') {
        let rest = text[i + 1..].trim_start_matches('{');
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() && !name.starts_with("__") && !defined.contains(name.as_str()) {
            problems.push(format!("variable ${name} is used but not defined"));
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

#[test]
fn no_dashboard_has_duplicate_ids_overlapping_panels_or_undefined_variables() {
    for (name, dashboard) in committed_dashboards() {
        assert_eq!(semantic_problems(&dashboard), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn planted_duplicate_ids_overlaps_and_undefined_variables_are_found() {
    let (_, mut board) = committed_dashboards().into_iter().find(|(n, _)| n == "pipeline.json").expect("pipeline.json");
    let first = board["panels"][0].clone();
    board["panels"][1]["id"] = first["id"].clone();
    board["panels"][2]["gridPos"] = first["gridPos"].clone();
    board["panels"][3]["gridPos"]["x"] = 20.into();
    board["panels"][3]["gridPos"]["w"] = 8.into();
    board["panels"][4]["targets"][0]["expr"] = "sum(rate(orakgarak_stage_runs_total{job=~\"$jobs\"}[5m]))".into();
    let problems = semantic_problems(&board).join("\n");
    assert!(problems.contains("duplicate panel id"), "{problems}");
    assert!(problems.contains(&format!("overlaps {}", first["title"].as_str().unwrap_or_default())), "{problems}");
    assert!(problems.contains("off the 24-column grid"), "{problems}");
    assert!(problems.contains("variable $jobs is used but not defined"), "{problems}");
}

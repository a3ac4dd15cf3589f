//! Service level objectives as code: what a singer feels, the objective,
//! and the windows, in one place. `alerts/slo.yml` is rendered from here
//! (a test fails when it is stale; regenerate with
//! `ORAKGARAK_BLESS=1 cargo test --lib slo`): recording rules compute each
//! objective's error ratio over every window once, and multiwindow,
//! multi-burn-rate alerts page on a fast burn and open a ticket on a slow
//! one (the Google SRE Workbook, chapter 5).

/// One objective: the share of events that must be good over 30 days.
pub struct Slo {
    /// The `slo` label of its recording rules and alerts.
    pub name: &'static str,
    pub alert: &'static str,
    pub objective: f64,
    /// What a user feels when it is missed.
    pub promise: &'static str,
    /// PromQL of the bad events, summed by job: `{f}` is `rate` or
    /// `increase`, `{w}` the window.
    pub bad: &'static str,
    /// PromQL of all events, as `bad`.
    pub total: &'static str,
    /// The dashboard panel that shows the ratio (for the runbook).
    pub runbook: &'static str,
}

/// The one latency a singer waits on the API for: creating an upload.
pub const API_LATENCY_BOUND_SECONDS: f64 = 0.2;
/// How long an upload that arrived may take to reach COMPLETED.
pub const FRESHNESS_BOUND_SECONDS: f64 = 60.0;

/// The API routes singers and the object store call.
const API_ROUTES: &str = r#"route=~"/v1/uploads.*|/v1/events/s3""#;

pub const SLOS: [Slo; 3] = [
    Slo {
        name: "api-availability",
        alert: "ApiAvailabilityBudgetBurn",
        objective: 0.999,
        promise: "Singers can create uploads and see them: 99.9 % of API requests are answered without a 5xx.",
        bad: r#"sum by (job) ({f}(orakgarak_http_requests_total{job="orakgarak",ROUTES,status_class="5xx"}[{w}]))"#,
        total: r#"sum by (job) ({f}(orakgarak_http_requests_total{job="orakgarak",ROUTES}[{w}]))"#,
        runbook: "ApiAvailabilityBudgetBurn",
    },
    Slo {
        name: "api-latency",
        alert: "ApiLatencyBudgetBurn",
        objective: 0.99,
        promise: "Creating an upload feels instant: 99 % of POST /v1/uploads not answered 5xx are answered within 200 ms (a 5xx counts against availability, not here, so one fault pages once).",
        bad: r#"(sum by (job) ({f}(orakgarak_http_request_duration_seconds_count{job="orakgarak",method="POST",route="/v1/uploads",status_class!="5xx"}[{w}])) - sum by (job) ({f}(orakgarak_http_request_duration_seconds_bucket{job="orakgarak",method="POST",route="/v1/uploads",status_class!="5xx",le="0.2"}[{w}])))"#,
        total: r#"sum by (job) ({f}(orakgarak_http_request_duration_seconds_count{job="orakgarak",method="POST",route="/v1/uploads",status_class!="5xx"}[{w}]))"#,
        runbook: "ApiLatencyBudgetBurn",
    },
    Slo {
        name: "pipeline-freshness",
        alert: "PipelineFreshnessBudgetBurn",
        objective: 0.99,
        promise: "A singer's result arrives within a minute: 99 % of uploads that arrive on the realtime lane are COMPLETED within 60 s.",
        bad: r#"(sum by (job) ({f}(orakgarak_upload_result_seconds_count{job="orakgarak",lane="realtime"}[{w}])) - sum by (job) ({f}(orakgarak_upload_result_seconds_bucket{job="orakgarak",lane="realtime",outcome="completed",le="60.0"}[{w}])))"#,
        total: r#"sum by (job) ({f}(orakgarak_upload_result_seconds_count{job="orakgarak",lane="realtime"}[{w}]))"#,
        runbook: "PipelineFreshnessBudgetBurn",
    },
];

/// Every window an error ratio is recorded over.
pub const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// One multiwindow burn-rate condition: the long window's error ratio and
/// the short one's (which makes the alert resolve soon after the burn
/// stops) both above `factor` times the error budget.
pub struct Burn {
    pub long: &'static str,
    pub short: &'static str,
    pub factor: f64,
}

/// A page: 2 % of the 30-day budget in an hour, or 5 % in six hours.
pub const PAGE: [Burn; 2] =
    [Burn { long: "1h", short: "5m", factor: 14.4 }, Burn { long: "6h", short: "30m", factor: 6.0 }];
/// A ticket: 10 % of the budget in a day, or all of it in three days.
pub const TICKET: [Burn; 2] =
    [Burn { long: "1d", short: "2h", factor: 3.0 }, Burn { long: "3d", short: "6h", factor: 1.0 }];

/// Bad events the long window must hold before anything pages or opens a
/// ticket: at night a single failure among a handful of requests is a
/// large ratio and no incident; five are.
pub const MIN_BAD_EVENTS: u32 = 5;

fn query(template: &str, f: &str, w: &str) -> String {
    template.replace("ROUTES", API_ROUTES).replace("{f}", f).replace("{w}", w)
}

fn yaml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `alerts/slo.yml`.
pub fn render_rules(version: &str) -> String {
    let mut out = String::from(
        "# orakgarak alert rules — service level objectives. GENERATED from src/slo.rs:\n\
         # edit the objectives there, then `ORAKGARAK_BLESS=1 cargo test --lib slo`.\n\
         groups:\n",
    );
    for slo in &SLOS {
        out.push_str(&format!("  - name: slo-{}-recording\n    interval: 30s\n    rules:\n", slo.name));
        for w in WINDOWS {
            let expr = format!("({}) / ({})", query(slo.bad, "rate", w), query(slo.total, "rate", w));
            out.push_str(&format!(
                "      - record: slo:sli_error:ratio_rate{w}\n        expr: {}\n        labels:\n          slo: {}\n",
                yaml_string(&expr),
                slo.name
            ));
        }
        for burn in PAGE.iter().chain(&TICKET) {
            let w = burn.long;
            out.push_str(&format!(
                "      - record: slo:bad_events:increase{w}\n        expr: {}\n        labels:\n          slo: {}\n",
                yaml_string(&query(slo.bad, "increase", w)),
                slo.name
            ));
        }
    }
    out.push_str("  - name: slo\n    rules:\n");
    for slo in &SLOS {
        let budget = 1.0 - slo.objective;
        for (severity, burns, for_, kind) in [("critical", &PAGE, "1m", "page"), ("warning", &TICKET, "5m", "ticket")] {
            let branches: Vec<String> = burns
                .iter()
                .map(|b| {
                    let threshold = round(b.factor * budget);
                    format!(
                        "(slo:sli_error:ratio_rate{long}{{slo=\"{name}\"}} > {threshold} and slo:sli_error:ratio_rate{short}{{slo=\"{name}\"}} > {threshold} and slo:bad_events:increase{long}{{slo=\"{name}\"}} >= {MIN_BAD_EVENTS})",
                        long = b.long,
                        short = b.short,
                        name = slo.name,
                    )
                })
                .collect();
            let first = &burns[0];
            let speed = if kind == "page" { "fast" } else { "slow" };
            out.push_str(&format!(
                "      - alert: {alert}\n        expr: {expr}\n        for: {for_}\n        labels:\n          severity: {severity}\n          service: orakgarak\n          slo: {name}\n          ruleset_version: \"{version}\"\n        annotations:\n          threshold: \"{threshold}\"\n          objective: \"{objective}\"\n          summary: {summary}\n          description: {description}\n          runbook_url: \"https://github.com/orakgarak/orakgarak/blob/main/docs/runbooks/{runbook}.md\"\n",
                alert = slo.alert,
                expr = yaml_string(&branches.join(" or ")),
                name = slo.name,
                threshold = round(first.factor * budget),
                objective = slo.objective,
                summary = yaml_string(&format!("{} error budget burning {speed} ({kind})", slo.name)),
                description = yaml_string(&format!(
                    "{} The error ratio has been above {}x the budget ({}) over the last {} and the last {} (or over the slower pair of windows): at this rate the 30-day budget of {} is gone in {}. Fires only with at least {MIN_BAD_EVENTS} bad events in the long window. Job {{{{ $labels.job }}}}.",
                    slo.promise,
                    first.factor,
                    round(first.factor * budget),
                    first.long,
                    first.short,
                    round(budget),
                    exhaustion(first),
                )),
                runbook = slo.runbook,
            ));
        }
    }
    out
}

/// Rounds away float noise (0.1 * 3 = 0.30000000000000004).
fn round(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

fn exhaustion(burn: &Burn) -> String {
    let days = 30.0 / burn.factor;
    if days < 3.0 {
        format!("{:.0} hours", days * 24.0)
    } else {
        format!("{days:.0} days")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_slo_yml_is_generated_from_the_slos() {
        let root = env!("CARGO_MANIFEST_DIR");
        let version = std::fs::read_to_string(format!("{root}/alerts/VERSION")).expect("alerts/VERSION");
        let rendered = render_rules(version.trim());
        let path = format!("{root}/alerts/slo.yml");
        if std::env::var_os("ORAKGARAK_BLESS").is_some() {
            std::fs::write(&path, &rendered).expect("write alerts/slo.yml");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == rendered, "alerts/slo.yml is stale: run `ORAKGARAK_BLESS=1 cargo test --lib slo`");
    }

    #[test]
    fn a_page_burns_faster_than_a_ticket_and_every_window_is_recorded() {
        for burn in PAGE.iter().chain(&TICKET) {
            assert!(WINDOWS.contains(&burn.long) && WINDOWS.contains(&burn.short));
        }
        assert!(PAGE.iter().all(|p| TICKET.iter().all(|t| p.factor > t.factor)));
    }
}

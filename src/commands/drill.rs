//! `orakgarak drill list | NAME | watch ALERT`: fire drills against a
//! running installation (see `crate::drills`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;

use crate::config::Settings;
use crate::drills::{self, Installation, DRILLS};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// `list`, a drill's name, or `watch` (an alert's timeline, for a fault
    /// you inject yourself).
    pub what: String,
    /// With `watch`: the alert to follow.
    pub alert: Option<String>,
    /// The installation's Prometheus.
    #[arg(long, default_value = "http://127.0.0.1:9090")]
    pub prometheus_url: String,
    /// The installation's Alertmanager.
    #[arg(long, default_value = "http://127.0.0.1:9093")]
    pub alertmanager_url: String,
    /// The API (default: `http.base_url` from the settings).
    #[arg(long)]
    pub api_url: Option<String>,
    /// The installation is the local stack: drills may stop and start its
    /// broker and object store with `scripts/stack.sh`.
    #[arg(long)]
    pub local_stack: bool,
    /// How long to wait for the page to fire, then for it to resolve.
    #[arg(long, default_value = "15m", value_parser = humantime_secs)]
    pub limit: Duration,
}

fn humantime_secs(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().map_err(|_| format!("{text:?}: expected e.g. 90s, 15m"))?;
    match unit {
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{text:?}: expected e.g. 90s, 15m")),
    }
}

pub async fn run(settings: Settings, args: &Args) -> anyhow::Result<()> {
    let api_url = args.api_url.clone().unwrap_or_else(|| settings.http.base_url.clone());
    let mut installation = Installation::new(settings, &api_url, &args.prometheus_url, &args.alertmanager_url)?;
    if args.local_stack {
        installation.stack_script = Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/stack.sh"));
    }
    match args.what.as_str() {
        "list" => {
            println!("{:<18} {:<34} {:<9} what it does", "drill", "expected page", "severity");
            for drill in &DRILLS {
                println!("{:<18} {:<34} {:<9} {}", drill.name, drill.page, drill.severity, drill.fault);
                if let Some(reason) = installation.cannot_run(drill) {
                    println!("{:<18} (skipped here: {reason})", "");
                }
            }
            Ok(())
        }
        "watch" => {
            let alert = args.alert.as_deref().ok_or_else(|| anyhow::anyhow!("drill watch ALERT: which alert?"))?;
            watch(&installation, alert, args.limit).await
        }
        name => {
            let drill = drills::find(name)
                .ok_or_else(|| anyhow::anyhow!("no drill {name:?}; `orakgarak drill list` shows them"))?;
            if let Some(reason) = installation.cannot_run(drill) {
                println!("Drill {name} skipped: {reason}");
                return Ok(());
            }
            println!("Drill {name}: expects {} ({}).", drill.page, drill.severity);
            let timeline = drills::run(&installation, drill, args.limit, |line| println!("  {line}")).await?;
            let secs = |d: Option<Duration>| d.map_or("never".to_owned(), |d| format!("{:.0} s", d.as_secs_f64()));
            println!(
                "\n| drill | page | pending | firing | active in Alertmanager | resolved after undo | collateral |"
            );
            println!("|---|---|---|---|---|---|---|");
            println!(
                "| {name} | {} | {} | {} | {} | {} | {} |",
                drill.page,
                secs(timeline.pending),
                secs(timeline.firing),
                secs(timeline.active),
                secs(timeline.resolved),
                if timeline.collateral.is_empty() {
                    "0".to_owned()
                } else {
                    timeline.collateral.iter().cloned().collect::<Vec<_>>().join(", ")
                },
            );
            anyhow::ensure!(timeline.firing.is_some(), "{} never fired within {:?}", drill.page, args.limit);
            Ok(())
        }
    }
}

/// Follows one alert until it has fired and resolved, for a fault injected
/// by hand.
async fn watch(installation: &Installation, alert: &str, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last = None;
    let mut fired = false;
    println!("Watching {alert}; inject the fault now.");
    while started.elapsed() < limit {
        let state = installation.state(alert, None).await?;
        if state != last {
            println!("  {:>5.0} s  {}", started.elapsed().as_secs_f64(), state.as_deref().unwrap_or("inactive"));
            fired |= state.as_deref() == Some("firing");
            if fired && state.is_none() {
                return Ok(());
            }
            last = state;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    anyhow::bail!("{alert} did not fire and resolve within {limit:?}")
}

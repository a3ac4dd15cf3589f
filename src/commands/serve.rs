//! `api`, `worker`, `all` and `migrate`.

use clap::Args;

use crate::app::{App, Roles};
use crate::config::Settings;
use crate::domain::Stage;
use crate::telemetry::{Lane, Metrics};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Stages to run, comma separated (default: pipeline.stages from settings).
    #[arg(long, value_delimiter = ',', value_parser = str::parse::<Stage>)]
    pub stages: Vec<Stage>,
    /// Traffic classes to serve, comma separated: realtime, bulk (default both).
    #[arg(long, value_delimiter = ',', value_parser = str::parse::<Lane>)]
    pub lanes: Vec<Lane>,
}

#[derive(Debug, Args)]
pub struct WatchdogArgs {
    /// Run one scan now and exit (for operators), instead of the schedule.
    #[arg(long)]
    pub once: bool,
    /// List what a run would act on, and change nothing.
    #[arg(long, conflicts_with = "once")]
    pub dry_run: bool,
}

pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let app = App::build(settings).await?;
    app.prepare().await?;
    tracing::info!("Database migrated, topics and bucket ready.");
    Ok(())
}

/// Runs `roles` until a signal, counting into `metrics` (the registry the
/// process's log pipeline counts into, so `/metrics` shows both).
pub async fn run(settings: Settings, roles: Roles, prepare: bool, metrics: Metrics) -> anyhow::Result<()> {
    let app = App::build_with_metrics(settings, metrics).await?;
    if prepare {
        app.prepare().await?;
    }
    let running = app.start(&roles).await?;
    tracing::info!(
        api = roles.api,
        stages = ?roles.stages.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        metrics = %running.metrics_addr,
        "Roles started."
    );
    running.run_until_signal().await
}

pub fn worker_roles(settings: &Settings, args: &WorkerArgs) -> Roles {
    let stages = if args.stages.is_empty() { settings.pipeline.stages.clone() } else { args.stages.clone() };
    let lanes = if args.lanes.is_empty() { vec![Lane::Realtime, Lane::Bulk] } else { args.lanes.clone() };
    Roles { api: false, stages, lanes, watchdog: false }
}

pub async fn watchdog(settings: Settings, args: &WatchdogArgs, metrics: Metrics) -> anyhow::Result<()> {
    let app = App::build_with_metrics(settings, metrics).await?;
    if args.dry_run {
        for upload in app.watchdog().candidates().await? {
            println!(
                "{}  {:<12} since {}  re-drives {}  trace {}",
                upload.id, upload.state, upload.updated_at, upload.redrives, upload.trace_id
            );
        }
        return Ok(());
    }
    if args.once {
        let report = app.watchdog().run_once().await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let roles = Roles { api: false, stages: vec![], lanes: vec![], watchdog: true };
    app.start(&roles).await?.run_until_signal().await
}

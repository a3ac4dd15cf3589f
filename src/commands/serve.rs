//! `api`, `worker`, `all` and `migrate`.

use clap::Args;

use crate::app::{App, Roles};
use crate::config::Settings;
use crate::domain::Stage;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Stages to run, comma separated (default: pipeline.stages from settings).
    #[arg(long, value_delimiter = ',')]
    pub stages: Vec<Stage>,
}

impl clap::builder::ValueParserFactory for Stage {
    type Parser = clap::builder::ValueParser;
    fn value_parser() -> Self::Parser {
        clap::builder::ValueParser::new(|s: &str| s.parse::<Stage>())
    }
}

pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let app = App::build(settings).await?;
    app.prepare().await?;
    tracing::info!("Database migrated, topics and bucket ready.");
    Ok(())
}

pub async fn run(settings: Settings, roles: Roles, prepare: bool) -> anyhow::Result<()> {
    let app = App::build(settings).await?;
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
    Roles { api: false, stages }
}

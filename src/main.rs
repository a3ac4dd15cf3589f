use clap::Parser;
use orakgarak::app::Roles;
use orakgarak::commands::{self, Cli, Command};
use orakgarak::config::Settings;
use orakgarak::telemetry::{init_telemetry, Metrics};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::from_env(cli.config.as_deref())?;
    let service = match &cli.command {
        Command::Api => "api",
        Command::Worker(_) => "worker",
        Command::Watchdog(a) if !a.once && !a.dry_run => "watchdog",
        Command::All => "all",
        _ => "cli",
    };
    // Operator commands print for people; server roles log JSON.
    let mut log = settings.log.clone();
    if service == "cli" {
        log.level = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    }
    let ca_bundle = settings.http.ca_bundle.clone();
    // One registry per process: the log pipeline and the roles count into it.
    let metrics = Metrics::new();
    let telemetry = init_telemetry(&log, &settings.traces, &settings.env, service, ca_bundle.as_deref(), &metrics)?;
    let outcome = run(cli.command, settings, metrics).await;
    // Spans still queued are exported before the process exits.
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    outcome
}

async fn run(command: Command, settings: Settings, metrics: Metrics) -> anyhow::Result<()> {
    match command {
        Command::Api => {
            let roles = Roles { api: true, stages: vec![], lanes: vec![], watchdog: false };
            commands::serve::run(settings, roles, false, metrics).await
        }
        Command::Worker(args) => {
            let roles = commands::serve::worker_roles(&settings, &args);
            commands::serve::run(settings, roles, false, metrics).await
        }
        Command::All => commands::serve::run(settings, Roles::all(), true, metrics).await,
        Command::Watchdog(args) => commands::serve::watchdog(settings, &args, metrics).await,
        Command::Migrate => commands::serve::migrate(settings).await,
        Command::Dlq(args) => commands::dlq::run(settings, &args).await,
        Command::Demo(args) => commands::demo::run(settings, &args).await,
        Command::Token(args) => commands::token::run(&settings, &args),
        Command::Catalog(args) => commands::catalog::run(&settings, &args).await,
        Command::Analyze(args) => commands::analyze::run(&settings, &args),
        Command::Dashboards(args) => commands::dashboards::run(&args),
        Command::Drill(args) => commands::drill::run(settings, &args).await,
    }
}

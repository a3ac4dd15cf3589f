use clap::Parser;
use orakgarak::app::Roles;
use orakgarak::commands::{self, Cli, Command};
use orakgarak::config::Settings;
use orakgarak::telemetry::init_telemetry;

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
    let telemetry = init_telemetry(&log, &settings.traces, &settings.env, service, ca_bundle.as_deref())?;
    let outcome = run(cli.command, settings).await;
    // Spans still queued are exported before the process exits.
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    outcome
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Api => {
            let roles = Roles { api: true, stages: vec![], lanes: vec![], watchdog: false };
            commands::serve::run(settings, roles, false).await
        }
        Command::Worker(args) => {
            let roles = commands::serve::worker_roles(&settings, &args);
            commands::serve::run(settings, roles, false).await
        }
        Command::All => commands::serve::run(settings, Roles::all(), true).await,
        Command::Watchdog(args) => commands::serve::watchdog(settings, &args).await,
        Command::Migrate => commands::serve::migrate(settings).await,
        Command::Dlq(args) => commands::dlq::run(settings, &args).await,
        Command::Demo(args) => commands::demo::run(settings, &args).await,
        Command::Token(args) => commands::token::run(&settings, &args),
        Command::Catalog(args) => commands::catalog::run(&settings, &args),
        Command::Analyze(args) => commands::analyze::run(&settings, &args),
        Command::Dashboards(args) => commands::dashboards::run(&args),
    }
}

use clap::Parser;
use orakgarak::app::Roles;
use orakgarak::commands::{self, Cli, Command};
use orakgarak::config::Settings;
use orakgarak::telemetry::init_logs;

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
    let http = orakgarak::http_client::client(settings.http.ca_bundle.as_deref())?;
    init_logs(&log, &settings.env, service, http)?;
    match cli.command {
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

//! CLI subcommands. Each module owns its `Args`; `main.rs` only dispatches.

pub mod analyze;
pub mod catalog;
pub mod dashboards;
pub mod demo;
pub mod dlq;
pub mod drill;
pub mod serve;
pub mod token;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "orakgarak", version, about = "Voice-based karaoke song recommender")]
pub struct Cli {
    /// Settings file (default: $ORAKGARAK_CONFIG, else config/orakgarak.yaml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (and relay its outbox).
    Api,
    /// Run stage workers.
    Worker(serve::WorkerArgs),
    /// Every role in one process, after migrating (for one machine).
    All,
    /// Find and re-drive stuck uploads on a schedule (or `--once`).
    Watchdog(serve::WatchdogArgs),
    /// Apply database migrations, create topics and the bucket.
    Migrate,
    /// Inspect and replay the dead-letter topics.
    Dlq(dlq::Args),
    /// Upload a recording through a running API and print its journey.
    Demo(demo::Args),
    /// Print a user bearer token signed with the configured secret.
    Token(token::Args),
    /// Generate the Grafana dashboards (or check the committed ones).
    Dashboards(dashboards::Args),
    /// Range, timbre and songs for local recordings, without the stack.
    Analyze(analyze::Args),
    /// Import songs (UltraStar .txt, MIDI) into the catalogue, list them, show one.
    Catalog(catalog::Args),
    /// Fire drills: inject one real fault into a running installation and
    /// watch its page fire, arrive and resolve (`drill list`).
    Drill(drill::Args),
}

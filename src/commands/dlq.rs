//! `dlq list` and `dlq replay`.

use clap::Subcommand;

use crate::app::App;
use crate::config::Settings;
use crate::domain::UploadId;
use crate::pipeline::dlq::{read_dead_letters, replay};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: DlqCommand,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Print every message in the dead-letter topics.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send FAILED uploads back to the stage that failed them.
    Replay {
        /// Replay this upload only.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        upload_id: Option<UploadId>,
        /// Replay every FAILED upload in the dead-letter topics.
        #[arg(long)]
        all: bool,
    },
}

pub async fn run(settings: Settings, args: &Args) -> anyhow::Result<()> {
    let app = App::build(settings).await?;
    let letters = read_dead_letters(&app.kafka, &app.topics).await?;
    match &args.command {
        DlqCommand::List { json } => {
            for letter in &letters {
                if *json {
                    println!("{}", serde_json::to_string(letter)?);
                } else {
                    println!(
                        "{:<9} {}  attempt={} reason={} origin={}[{}]@{} trace={}\n          error: {}",
                        letter.stage.as_str(),
                        letter.upload_id.map_or_else(|| "-".into(), |id| id.to_string()),
                        letter.header("x-attempt").unwrap_or("?"),
                        letter.header("x-dlq-reason").unwrap_or("?"),
                        letter.header("x-original-topic").unwrap_or("?"),
                        letter.header("x-original-partition").unwrap_or("?"),
                        letter.header("x-original-offset").unwrap_or("?"),
                        letter.header("traceparent").unwrap_or("-"),
                        letter.header("x-error").unwrap_or("-"),
                    );
                }
            }
            if !*json {
                println!("{} dead-lettered message(s).", letters.len());
            }
        }
        DlqCommand::Replay { upload_id, all: _ } => {
            let report = replay(&app.store, &app.topics, &app.metrics, &letters, *upload_id).await?;
            for id in &report.replayed {
                println!("replayed {id}");
            }
            for (what, why) in &report.skipped {
                println!("skipped  {what}: {why}");
            }
            println!("{} replayed, {} skipped.", report.replayed.len(), report.skipped.len());
        }
    }
    Ok(())
}

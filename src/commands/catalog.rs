//! `catalog check` and `catalog import`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::catalog::{import_midi, Catalog};
use crate::config::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: CatalogCommand,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Validate the configured catalogue and print its songs' ranges.
    Check,
    /// Read a song's melody range from a MIDI file and append it to the catalogue.
    Import {
        midi: PathBuf,
        #[arg(long)]
        id: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        artist: String,
        /// Licence under which you may use this song.
        #[arg(long)]
        licence: String,
        /// Track holding the melody (default: the highest non-drum track).
        #[arg(long)]
        track: Option<usize>,
        /// Print the entry instead of appending it.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(settings: &Settings, args: &Args) -> anyhow::Result<()> {
    let path = &settings.catalog.path;
    match &args.command {
        CatalogCommand::Check => {
            let catalog = Catalog::load(path)?;
            for song in &catalog.songs {
                println!("{:<24} {:>3}–{:<3}  {} — {}", song.id, song.lowest, song.highest, song.title, song.artist);
            }
            println!("{} songs, all valid.", catalog.songs.len());
        }
        CatalogCommand::Import { midi, id, title, artist, licence, track, dry_run } => {
            let bytes = std::fs::read(midi).with_context(|| format!("cannot read {}", midi.display()))?;
            let entry = import_midi(&bytes, *track, id, title, artist, licence)?;
            let song = entry.to_song().map_err(anyhow::Error::msg)?;
            let yaml = serde_yaml::to_string(&vec![&entry])?;
            if *dry_run {
                print!("{yaml}");
                return Ok(());
            }
            let mut text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&yaml.lines().map(|l| format!("  {l}\n")).collect::<String>());
            // Refuse to write a catalogue that would not load (duplicate id).
            Catalog::parse(&text)?;
            std::fs::write(path, text)?;
            println!("Added {} ({}–{}) to {}.", song.id, song.lowest, song.highest, path.display());
        }
    }
    Ok(())
}

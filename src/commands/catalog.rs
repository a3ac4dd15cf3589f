//! `catalog import`, `catalog list` and `catalog show`: the song catalogue
//! in PostgreSQL, for operators.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Subcommand;
use serde::Serialize;

use crate::catalog::{find_song_files, read_song, SongFacts};
use crate::config::Settings;
use crate::store::catalog::{find_song, list_songs, upsert_song, SongQuery, Upserted};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: CatalogCommand,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Import UltraStar .txt and MIDI files (folders are walked; files are
    /// told apart by content). A song imported again, from any path, is
    /// updated. Exits non-zero when a file had to be skipped.
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every song: id, range, title and artist.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One song's facts: its parts' ranges, medians and 80 % bands.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// What an import did, file by file.
#[derive(Debug, Default, Serialize)]
pub struct ImportSummary {
    pub imported: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub skipped: Vec<FileNote>,
    pub warnings: Vec<FileNote>,
    /// Files in the folders that were neither UltraStar nor MIDI.
    pub not_songs: usize,
    pub songs: Vec<ImportedSong>,
}

#[derive(Debug, Serialize)]
pub struct FileNote {
    pub file: PathBuf,
    pub note: String,
}

#[derive(Debug, Serialize)]
pub struct ImportedSong {
    pub id: String,
    pub title: String,
    pub artist: String,
    pub file: PathBuf,
    pub outcome: &'static str,
}

/// Songs stored per transaction: an interrupted import keeps what it stored.
const BATCH: usize = 500;

pub async fn run(settings: &Settings, args: &Args) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database).await.context("cannot connect to PostgreSQL")?;
    let unmigrated = "is the database migrated? (orakgarak migrate)";
    match &args.command {
        CatalogCommand::Import { paths, json } => {
            let progress = !json && std::io::stderr().is_terminal();
            let summary = import(&store, paths, progress).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print_summary(&summary);
            }
            anyhow::ensure!(summary.skipped.is_empty(), "{} files were skipped", summary.skipped.len());
        }
        CatalogCommand::List { json } => {
            let mut offset = 0;
            let mut all = Vec::new();
            loop {
                let query = SongQuery { offset, ..SongQuery::default() };
                let (songs, total) = list_songs(store.pool(), &query, 1000).await.context(unmigrated)?;
                offset += songs.len() as i64;
                all.extend(songs.iter().map(|s| s.facts()));
                if songs.is_empty() || offset >= total {
                    break;
                }
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for song in &all {
                    let duet = if song.duet { "  (duet)" } else { "" };
                    println!(
                        "{:<16} {:>3}–{:<3}  {} — {}{duet}",
                        song.id, song.lowest, song.highest, song.title, song.artist
                    );
                }
                println!("{} songs.", all.len());
            }
        }
        CatalogCommand::Show { id, json } => {
            let song = find_song(store.pool(), id).await.context(unmigrated)?;
            let facts = song.with_context(|| format!("no song {id:?} in the catalogue"))?.facts();
            if *json {
                println!("{}", serde_json::to_string_pretty(&facts)?);
            } else {
                print_facts(&facts);
            }
        }
    }
    Ok(())
}

/// Imports every song file under `paths`.
pub async fn import(store: &Store, paths: &[PathBuf], progress: bool) -> anyhow::Result<ImportSummary> {
    let (files, not_songs) = find_song_files(paths).context("cannot read the files to import")?;
    let mut summary = ImportSummary { not_songs, ..ImportSummary::default() };
    let mut tx = store.pool().begin().await?;
    let mut last_shown = Instant::now() - Duration::from_secs(1);
    for (done, file) in files.iter().enumerate() {
        if progress && last_shown.elapsed() > Duration::from_millis(100) {
            last_shown = Instant::now();
            eprint!(
                "\r\x1b[2K[{:>width$}/{}] {}",
                done,
                files.len(),
                file.display(),
                width = files.len().to_string().len()
            );
            let _ = std::io::stderr().flush();
        }
        let read = std::fs::read(file).map_err(|e| format!("cannot read: {e}")).and_then(|b| read_song(file, &b));
        let song_file = match read {
            Ok(song_file) => song_file,
            Err(note) => {
                summary.skipped.push(FileNote { file: file.clone(), note });
                continue;
            }
        };
        summary.warnings.extend(song_file.warnings.into_iter().map(|note| FileNote { file: file.clone(), note }));
        let song = song_file.song;
        let stored = upsert_song(&mut *tx, &song).await;
        let outcome = match stored.context("cannot store the song (is the database migrated? orakgarak migrate)")? {
            Upserted::Inserted => {
                summary.imported += 1;
                "imported"
            }
            Upserted::Updated => {
                summary.updated += 1;
                "updated"
            }
            Upserted::Unchanged => {
                summary.unchanged += 1;
                "unchanged"
            }
        };
        summary.songs.push(ImportedSong {
            id: song.id,
            title: song.title,
            artist: song.artist,
            file: file.clone(),
            outcome,
        });
        if summary.songs.len() % BATCH == 0 {
            tx.commit().await?;
            tx = store.pool().begin().await?;
        }
    }
    tx.commit().await?;
    if progress {
        eprint!("\r\x1b[2K");
    }
    Ok(summary)
}

fn print_summary(summary: &ImportSummary) {
    for note in &summary.warnings {
        println!("warning: {}: {}", note.file.display(), note.note);
    }
    for note in &summary.skipped {
        println!("skipped: {}: {}", note.file.display(), note.note);
    }
    println!(
        "{} imported, {} updated, {} unchanged, {} skipped{}.",
        summary.imported,
        summary.updated,
        summary.unchanged,
        summary.skipped.len(),
        match summary.not_songs {
            0 => String::new(),
            n => format!(" ({n} other files in the folders were not songs)"),
        }
    );
}

fn print_facts(song: &SongFacts) {
    println!("{} — {}  [{}]", song.title, song.artist, song.id);
    let optional = |label: &str, value: Option<String>| {
        if let Some(value) = value {
            println!("  {label:<10} {value}");
        }
    };
    optional("language", song.language.clone());
    optional("genre", song.genre.clone());
    optional("year", song.year.map(|y| y.to_string()));
    optional("key", song.original_key.clone());
    optional("licence", song.licence.clone());
    println!("  {:<10} {}", "source", song.source.as_str());
    println!("  {:<10} {}–{}", "range", song.lowest, song.highest);
    for part in &song.parts {
        let name = if part.name.is_empty() { "melody".to_owned() } else { format!("part {}", part.name) };
        println!(
            "  {name}: {}–{}, median {}, 80 % of the time in {}",
            part.lowest, part.highest, part.median, part.band
        );
    }
}

//! `analyze FILE...`: range, tessitura, timbre and songs for local
//! recordings, without the stack, through the code the convert, analyze
//! and recommend stages run (built-in analyzer; `analysis.model_url` is not
//! called).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::catalog::{load_bundled, rank, Filters, Snapshot};
use crate::config::{CatalogSettings, Settings};
use crate::stages::{analyze_wav, convert_recording, ConvertSettings, Recommendations, VoiceProfile};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Recordings in any accepted format (WAV, MP3, M4A/AAC, Ogg, Opus, FLAC, WebM).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print one JSON document (an array, one object per file) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What one file gave: a profile and songs, or why not.
#[derive(Debug, Serialize)]
pub struct FileAnalysis {
    pub file: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<VoiceProfile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Recommendations>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Runs every file; fails (after printing them all) when any file could not
/// be analysed.
pub fn run(settings: &Settings, args: &Args) -> anyhow::Result<()> {
    // The bundled songs: this command needs no database.
    let catalog = Snapshot::new(0, load_bundled(&settings.catalog.path)?);
    let convert = ConvertSettings::from(&settings.analysis);
    let results: Vec<FileAnalysis> =
        args.files.iter().map(|f| analyze_file(f, &convert, &catalog, &settings.catalog)).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for result in &results {
            print_text(result);
        }
    }
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    anyhow::ensure!(failed == 0, "{failed} of {} recordings could not be analysed", results.len());
    Ok(())
}

pub fn analyze_file(
    path: &Path,
    convert: &ConvertSettings,
    catalog: &Snapshot,
    settings: &CatalogSettings,
) -> FileAnalysis {
    let outcome = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}")).and_then(|bytes| {
        let extension = path.extension().and_then(|e| e.to_str());
        let wav = convert_recording(bytes, extension, convert).map_err(|e| e.to_string())?;
        analyze_wav(&wav).map_err(|e| e.to_string())
    });
    match outcome {
        Ok(profile) => FileAnalysis {
            file: path.to_owned(),
            result: Some(Recommendations {
                recommendations: rank(
                    catalog,
                    &profile.range,
                    &Filters::default(),
                    settings.max_key_shift,
                    settings.max_results,
                ),
                catalog_size: catalog.len(),
            }),
            profile: Some(profile),
            error: None,
        },
        Err(error) => FileAnalysis { file: path.to_owned(), profile: None, result: None, error: Some(error) },
    }
}

fn print_text(analysis: &FileAnalysis) {
    println!("{}", analysis.file.display());
    if let Some(error) = &analysis.error {
        println!("  not analysed: {error}\n");
        return;
    }
    if let Some(profile) = &analysis.profile {
        let range = &profile.range;
        println!(
            "  range      {} (tessitura {}; {} held notes, {:.1} s held in {:.1} s of voice)",
            profile.range_names, range.tessitura, range.notes, range.stable_seconds, range.voiced_seconds
        );
        let timbre = &profile.timbre;
        println!(
            "  timbre     brightness {:.0} Hz, clarity {:.2}, loudness {:.1} dBFS",
            timbre.brightness_hz, timbre.clarity, timbre.loudness_dbfs
        );
    }
    if let Some(result) = &analysis.result {
        println!("  songs      ({} in the catalogue)", result.catalog_size);
        for (i, song) in result.recommendations.iter().enumerate() {
            let key = match song.key_shift {
                0 => "original key".to_owned(),
                shift => format!("key {shift:+}"),
            };
            let fit = if song.fits { "fits" } else { "closest" };
            println!("    {:>2}. {} — {}  ({key}, {}, {fit})", i + 1, song.title, song.artist, song.sung_range);
            println!("        {}", song.reason);
        }
    }
    println!();
}

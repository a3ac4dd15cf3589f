//! The song catalogue: loading, range matching with key shifts, and the
//! MIDI importer operators use to load their own songs.

mod matching;
mod midi;

pub use matching::{recommend, Recommendation};
pub use midi::{import_midi, MidiImportError};

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::domain::Note;

#[derive(Debug, Clone, Serialize)]
pub struct Song {
    pub id: String,
    pub title: String,
    pub artist: String,
    pub licence: String,
    pub lowest: Note,
    pub highest: Note,
}

/// One catalogue entry as written in YAML.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SongEntry {
    pub id: String,
    pub title: String,
    pub artist: String,
    pub licence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub melody: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highest: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    songs: Vec<SongEntry>,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub songs: Vec<Song>,
}

impl SongEntry {
    pub fn to_song(&self) -> Result<Song, String> {
        let (lowest, highest) = match (&self.melody, &self.lowest, &self.highest) {
            (Some(melody), None, None) => {
                let notes = melody.split_whitespace().map(Note::parse_name).collect::<Result<Vec<_>, _>>()?;
                let lowest = notes.iter().min().copied().ok_or("empty melody")?;
                let highest = notes.iter().max().copied().ok_or("empty melody")?;
                (lowest, highest)
            }
            (None, Some(lo), Some(hi)) => (Note::parse_name(lo)?, Note::parse_name(hi)?),
            _ => return Err("give either `melody` or both `lowest` and `highest`".into()),
        };
        if lowest > highest {
            return Err(format!("lowest {lowest} is above highest {highest}"));
        }
        Ok(Song {
            id: self.id.clone(),
            title: self.title.clone(),
            artist: self.artist.clone(),
            licence: self.licence.clone(),
            lowest,
            highest,
        })
    }
}

impl Catalog {
    pub fn parse(yaml: &str) -> anyhow::Result<Self> {
        let file: CatalogFile = serde_yaml::from_str(yaml).context("catalog is not valid")?;
        let mut songs = Vec::with_capacity(file.songs.len());
        for entry in &file.songs {
            songs.push(entry.to_song().map_err(|e| anyhow::anyhow!("song {:?}: {e}", entry.id))?);
        }
        let mut ids: Vec<&str> = songs.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        if let Some(dup) = ids.windows(2).find(|w| w[0] == w[1]) {
            anyhow::bail!("song id {:?} appears twice", dup[0]);
        }
        Ok(Self { songs })
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read catalog {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("catalog {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_catalog_loads_and_spans_all_voice_types() -> anyhow::Result<()> {
        let catalog = Catalog::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/catalog/songs.yaml")))?;
        assert!(catalog.songs.len() >= 15);
        let lowest = catalog.songs.iter().map(|s| s.lowest).min().map(Note::name);
        let highest = catalog.songs.iter().map(|s| s.highest).max().map(Note::name);
        assert_eq!(lowest.as_deref(), Some("B2"), "a bass song is bundled");
        assert_eq!(highest.as_deref(), Some("G5"), "a soprano song is bundled");
        let twinkle = catalog.songs.iter().find(|s| s.id == "twinkle-twinkle").expect("bundled");
        assert_eq!((twinkle.lowest.name(), twinkle.highest.name()), ("C4".into(), "A4".into()));
        Ok(())
    }

    #[test]
    fn bad_entries_are_refused_with_the_song_named() {
        let err = Catalog::parse("songs:\n  - {id: x, title: X, artist: A, licence: pd, melody: \"C4 H9\"}\n")
            .expect_err("bad note");
        assert!(format!("{err:#}").contains("\"x\""), "{err:#}");
        assert!(Catalog::parse("songs:\n  - {id: x, title: X, artist: A, licence: pd}\n").is_err());
    }
}

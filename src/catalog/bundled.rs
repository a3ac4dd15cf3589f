//! The bundled public-domain melodies (`catalog/songs.yaml`), seeded into
//! the catalogue by `orakgarak migrate`.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use super::{Part, PitchProfile, Song, Source};
use crate::domain::Note;

/// One bundled song: its melody as note names (no durations, so every note
/// counts the same towards where the song sits).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    title: String,
    artist: String,
    licence: String,
    melody: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    songs: Vec<Entry>,
}

impl Entry {
    fn to_song(&self) -> Result<Song, String> {
        let notes = self
            .melody
            .split_whitespace()
            .map(|name| Note::parse_name(name).map(|n| (n.midi(), 1.0)))
            .collect::<Result<Vec<_>, _>>()?;
        let profile = PitchProfile::from_notes(&notes).ok_or("empty melody")?;
        Ok(Song {
            id: self.id.clone(),
            title: self.title.clone(),
            artist: self.artist.clone(),
            language: None,
            genre: Some("Folk".into()),
            year: None,
            original_key: None,
            licence: Some(self.licence.clone()),
            source: Source::Bundled,
            parts: vec![Part { name: String::new(), profile }],
        })
    }
}

pub fn parse_bundled(yaml: &str) -> anyhow::Result<Vec<Song>> {
    let file: File = serde_yaml::from_str(yaml).context("the bundled catalogue is not valid")?;
    let mut songs = Vec::with_capacity(file.songs.len());
    for entry in &file.songs {
        songs.push(entry.to_song().map_err(|e| anyhow::anyhow!("song {:?}: {e}", entry.id))?);
    }
    let mut ids: Vec<&str> = songs.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(dup) = ids.windows(2).find(|w| w[0] == w[1]) {
        anyhow::bail!("song id {:?} appears twice", dup[0]);
    }
    Ok(songs)
}

pub fn load_bundled(path: &Path) -> anyhow::Result<Vec<Song>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_bundled(&text).with_context(|| format!("catalogue {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_catalogue_loads_and_spans_all_voice_types() -> anyhow::Result<()> {
        let songs = load_bundled(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/catalog/songs.yaml")))?;
        assert!(songs.len() >= 15);
        let name = |m: i32| Note::from_midi(m).map(Note::name).ok();
        assert_eq!(songs.iter().map(Song::lowest).min().and_then(name).as_deref(), Some("B2"), "a bass song");
        assert_eq!(songs.iter().map(Song::highest).max().and_then(name).as_deref(), Some("G5"), "a soprano song");
        let twinkle = songs.iter().find(|s| s.id == "twinkle-twinkle").expect("bundled");
        assert_eq!((twinkle.facts().lowest.as_str(), twinkle.facts().highest.as_str()), ("C4", "A4"));
        Ok(())
    }

    #[test]
    fn bad_entries_are_refused_with_the_song_named() {
        let err = parse_bundled("songs:\n  - {id: x, title: X, artist: A, licence: pd, melody: \"C4 H9\"}\n")
            .expect_err("bad note");
        assert!(format!("{err:#}").contains("\"x\""), "{err:#}");
        assert!(parse_bundled("songs:\n  - {id: x, title: X, artist: A, licence: pd}\n").is_err());
    }
}

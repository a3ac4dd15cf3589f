//! The song catalogue: songs read from UltraStar and MIDI files (and the
//! bundled public-domain melodies), the facts kept about where each part
//! sits, and the ranking of songs for a singer's range.
//!
//! The catalogue itself lives in PostgreSQL (`store::catalog`); this module
//! knows nothing of storage.

mod bundled;
mod import;
mod midi;
mod profile;
mod ranking;
mod ultrastar;

pub use bundled::load_bundled;
pub use import::{find_song_files, read_song, SongFile};
pub use midi::{read_midi, MidiImportError, MidiSong};
pub use profile::{octaves_into_voice, PitchProfile, Placement, VOICE};
pub use ranking::{rank, Filters, Recommendation, Snapshot};
pub use ultrastar::{looks_like_ultrastar, parse as parse_ultrastar, UltraStarError, UltraStarSong};

use serde::{Deserialize, Serialize};

use crate::domain::Note;

/// A part's sung notes as read from a file: MIDI number and length (in
/// beats, ticks or seconds: only proportions within the part matter).
#[derive(Debug, Clone, PartialEq)]
pub struct SungPart {
    /// The singer's name in a duet, empty for a solo song.
    pub name: String,
    pub notes: Vec<(i32, f64)>,
}

/// Where a song came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Bundled,
    UltraStar,
    Midi,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bundled => "bundled",
            Self::UltraStar => "ultrastar",
            Self::Midi => "midi",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Bundled, Self::UltraStar, Self::Midi].into_iter().find(|s| s.as_str() == text)
    }
}

/// One song of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Song {
    /// Derived from the song's content (see `import`), so re-importing a
    /// moved or renamed file updates the same song.
    pub id: String,
    pub title: String,
    pub artist: String,
    pub language: Option<String>,
    pub genre: Option<String>,
    pub year: Option<i32>,
    /// The key the song is written in, where the file says.
    pub original_key: Option<String>,
    pub licence: Option<String>,
    pub source: Source,
    /// One part for a solo song; one per singer for a duet.
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub name: String,
    pub profile: PitchProfile,
}

/// What `catalog show` and the API tell about a song.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SongFacts {
    pub id: String,
    pub title: String,
    pub artist: String,
    pub language: Option<String>,
    pub genre: Option<String>,
    pub year: Option<i32>,
    pub original_key: Option<String>,
    pub licence: Option<String>,
    pub source: Source,
    pub duet: bool,
    pub lowest: String,
    pub highest: String,
    pub parts: Vec<PartFacts>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartFacts {
    pub name: String,
    pub lowest: String,
    pub highest: String,
    /// Time-weighted median: half the sung time is at or below it.
    pub median: String,
    /// The band holding the middle 80 % of the sung time.
    pub band: String,
}

impl Song {
    pub fn duet(&self) -> bool {
        self.parts.len() > 1
    }

    pub fn lowest(&self) -> i32 {
        self.parts.iter().map(|p| p.profile.lowest()).min().unwrap_or(0)
    }

    pub fn highest(&self) -> i32 {
        self.parts.iter().map(|p| p.profile.highest()).max().unwrap_or(0)
    }

    pub fn facts(&self) -> SongFacts {
        let name = |midi: i32| Note::from_midi(midi).map(Note::name).unwrap_or_default();
        SongFacts {
            id: self.id.clone(),
            title: self.title.clone(),
            artist: self.artist.clone(),
            language: self.language.clone(),
            genre: self.genre.clone(),
            year: self.year,
            original_key: self.original_key.clone(),
            licence: self.licence.clone(),
            source: self.source,
            duet: self.duet(),
            lowest: name(self.lowest()),
            highest: name(self.highest()),
            parts: self
                .parts
                .iter()
                .map(|part| {
                    let at = part.profile.placement();
                    PartFacts {
                        name: part.name.clone(),
                        lowest: at.lowest.name(),
                        highest: at.highest.name(),
                        median: at.median.name(),
                        band: format!("{}–{}", at.band.0.name(), at.band.1.name()),
                    }
                })
                .collect(),
        }
    }
}

/// A song id from the parts of its identity: the first 12 hex digits of
/// their SHA-256, after folding case and spacing.
pub fn content_id(parts: &[&str]) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for part in parts {
        let folded: Vec<String> = part.split_whitespace().map(str::to_lowercase).collect();
        hash.update(folded.join(" ").as_bytes());
        hash.update([0u8]);
    }
    hex::encode(&hash.finalize()[..6])
}

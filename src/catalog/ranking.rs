//! Which songs suit a singer, in which key, and why.
//!
//! A singer's range has strained edges: the comfortable band is the range
//! without its outer two semitones (less for a narrow range). A song's
//! extremes are hard limits — every note of the part, after the key shift,
//! must lie inside the range — and among the songs and shifts that respect
//! them, the score is the share of the part's sung time that falls inside
//! the comfortable band, less a little per semitone of shift and per
//! semitone its median lies from the singer's. So a song whose one high
//! note touches the top of the range but that otherwise sits in the middle
//! ranks above one that stays near the top all the time.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::Song;
use crate::audio::SungRange;
use crate::domain::Note;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recommendation {
    pub song_id: String,
    pub title: String,
    pub artist: String,
    /// The part to sing, for a duet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    /// Semitones to transpose the song (karaoke key control); 0 = original.
    pub key_shift: i32,
    pub original_range: String,
    /// The part's range after the shift.
    pub sung_range: String,
    /// True when the shifted part lies wholly inside the singer's range.
    pub fits: bool,
    /// Semitones of the singer's range left unused (negative: the part is
    /// that much wider than the singer's range).
    pub headroom: i32,
    /// Share of the part's sung time inside the singer's comfortable band,
    /// after the shift (0 to 1).
    #[serde(default)]
    pub comfort: f64,
    /// Why, in a short phrase.
    #[serde(default)]
    pub reason: String,
}

/// What a singer asked to narrow the songs to. Text filters ignore case.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Filters {
    pub language: Option<String>,
    pub genre: Option<String>,
    pub duet: Option<bool>,
    /// At most this many semitones of key shift either way.
    pub max_key_shift: Option<i32>,
}

/// The catalogue as ranking reads it: per song what a recommendation
/// shows, per part its extremes, median and running shares of sung time.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The catalogue revision it was read at (see `store::catalog`).
    pub revision: i64,
    songs: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    id: String,
    title: String,
    artist: String,
    language: Option<String>,
    genre: Option<String>,
    duet: bool,
    parts: Vec<RankedPart>,
}

#[derive(Debug)]
struct RankedPart {
    name: String,
    lowest: i32,
    highest: i32,
    median: i32,
    /// `cumulative[i]`: share of the sung time below `lowest + i`.
    cumulative: Vec<f32>,
}

impl RankedPart {
    /// Share of the sung time on `lo..=hi`.
    fn share(&self, lo: i32, hi: i32) -> f32 {
        let n = self.cumulative.len() as i32 - 1;
        let at = |i: i32| self.cumulative[i.clamp(0, n) as usize];
        if hi < lo {
            return 0.0;
        }
        at(hi - self.lowest + 1) - at(lo - self.lowest)
    }
}

impl Snapshot {
    pub fn new(revision: i64, songs: impl IntoIterator<Item = Song>) -> Self {
        let lower = |s: &Option<String>| s.as_deref().map(str::to_lowercase);
        let songs = songs
            .into_iter()
            .map(|song| Entry {
                language: lower(&song.language),
                genre: lower(&song.genre),
                duet: song.duet(),
                parts: song
                    .parts
                    .iter()
                    .map(|part| RankedPart {
                        name: part.name.clone(),
                        lowest: part.profile.lowest(),
                        highest: part.profile.highest(),
                        median: part.profile.quantile(0.5),
                        cumulative: part.profile.cumulative(),
                    })
                    .collect(),
                id: song.id,
                title: song.title,
                artist: song.artist,
            })
            .collect();
        Self { revision, songs }
    }

    /// An empty snapshot that any revision replaces.
    pub fn never_read() -> Self {
        Self { revision: -1, songs: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.songs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.songs.is_empty()
    }
}

/// The singer's range as ranking uses it.
#[derive(Debug, Clone, Copy)]
struct Voice {
    lowest: i32,
    highest: i32,
    centre: i32,
    comfortable: (i32, i32),
}

impl Voice {
    fn of(range: &SungRange) -> Self {
        let (lowest, highest) = (range.lowest.midi(), range.highest.midi());
        let margin = ((highest - lowest) / 4).min(2);
        Self { lowest, highest, centre: range.tessitura.midi(), comfortable: (lowest + margin, highest - margin) }
    }
}

/// The best key for one part.
#[derive(Debug, Clone, Copy)]
struct Choice {
    song: usize,
    part: usize,
    shift: i32,
    overflow: i32,
    comfort: f32,
    score: f32,
}

impl Choice {
    /// Fitting first, then the less overflow, then the higher score.
    fn better(&self, other: &Self) -> Ordering {
        self.overflow.cmp(&other.overflow).then(other.score.total_cmp(&self.score)).then(self.song.cmp(&other.song))
    }
}

/// The `limit` best songs for `singer` under `filters`, best first. When no
/// song fits at any allowed shift, the nearest are returned marked
/// `fits: false`.
pub fn rank(
    snapshot: &Snapshot,
    singer: &SungRange,
    filters: &Filters,
    max_shift: i32,
    limit: usize,
) -> Vec<Recommendation> {
    let voice = Voice::of(singer);
    let max_shift = filters.max_key_shift.unwrap_or(max_shift).clamp(0, 12);
    let language = filters.language.as_deref().map(str::to_lowercase);
    let genre = filters.genre.as_deref().map(str::to_lowercase);
    let mut choices: Vec<Choice> = snapshot
        .songs
        .iter()
        .enumerate()
        .filter(|(_, song)| {
            language.as_ref().is_none_or(|l| song.language.as_ref() == Some(l))
                && genre.as_ref().is_none_or(|g| song.genre.as_ref() == Some(g))
                && filters.duet.is_none_or(|d| song.duet == d)
        })
        .filter_map(|(index, song)| {
            song.parts
                .iter()
                .enumerate()
                .map(|(p, part)| best_shift(index, p, part, voice, max_shift))
                .min_by(Choice::better)
        })
        .collect();
    let any_fit = choices.iter().any(|c| c.overflow == 0);
    if any_fit {
        choices.retain(|c| c.overflow == 0);
    }
    if choices.len() > limit && limit > 0 {
        choices.select_nth_unstable_by(limit - 1, Choice::better);
        choices.truncate(limit);
    }
    choices.sort_by(Choice::better);
    choices.truncate(limit);
    choices.iter().map(|c| describe(&snapshot.songs[c.song], c, voice)).collect()
}

fn best_shift(song: usize, part_index: usize, part: &RankedPart, voice: Voice, max_shift: i32) -> Choice {
    let (comfort_lo, comfort_hi) = voice.comfortable;
    (-max_shift..=max_shift)
        .map(|shift| {
            let overflow =
                (voice.lowest - (part.lowest + shift)).max(0) + ((part.highest + shift) - voice.highest).max(0);
            let comfort = part.share(comfort_lo - shift, comfort_hi - shift);
            let off_centre = (part.median + shift - voice.centre).abs();
            let score = comfort - 0.01 * shift.abs() as f32 - 0.004 * off_centre as f32;
            Choice { song, part: part_index, shift, overflow, comfort, score }
        })
        .min_by(Choice::better)
        .unwrap_or(Choice { song, part: part_index, shift: 0, overflow: i32::MAX, comfort: 0.0, score: f32::MIN })
}

fn describe(song: &Entry, choice: &Choice, voice: Voice) -> Recommendation {
    let part = &song.parts[choice.part];
    let shift = choice.shift;
    let name = |midi: i32| Note::from_midi(midi).map(Note::name).unwrap_or_else(|_| "?".into());
    let (lo, hi) = (part.lowest + shift, part.highest + shift);
    let (comfort_lo, comfort_hi) = voice.comfortable;
    let percent = |share: f32| (share * 100.0).round() as i32;
    let sits = if choice.comfort >= 0.9 {
        "sits in your comfortable middle".to_owned()
    } else {
        let above = part.share(comfort_hi - shift + 1, part.highest);
        let below = part.share(part.lowest, comfort_lo - shift - 1);
        let (side, share) = if above >= below { ("high", above) } else { ("low", below) };
        format!("sits {side} for you: {}% of it outside your comfortable middle", percent(share))
    };
    let reach = if hi > voice.highest {
        format!("top note {} is {} above your range", name(hi), semitones(hi - voice.highest))
    } else if lo < voice.lowest {
        format!("lowest note {} is {} below your range", name(lo), semitones(voice.lowest - lo))
    } else {
        format!("top note {} inside your range", name(hi))
    };
    let key = match shift {
        0 => "original key".to_owned(),
        s if s > 0 => format!("{} up", semitones(s)),
        s => format!("{} down", semitones(-s)),
    };
    Recommendation {
        song_id: song.id.clone(),
        title: song.title.clone(),
        artist: song.artist.clone(),
        part: song.duet.then(|| part.name.clone()),
        key_shift: shift,
        original_range: format!("{}–{}", name(part.lowest), name(part.highest)),
        sung_range: format!("{}–{}", name(lo), name(hi)),
        fits: choice.overflow == 0,
        headroom: (voice.highest - voice.lowest) - (part.highest - part.lowest),
        comfort: (f64::from(choice.comfort) * 100.0).round() / 100.0,
        reason: format!("{sits}; {reach}; {key}"),
    }
}

fn semitones(n: i32) -> String {
    if n == 1 {
        "1 semitone".into()
    } else {
        format!("{n} semitones")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Part, PitchProfile, Source};

    fn singer(lo: &str, hi: &str, mid: &str) -> SungRange {
        let n = |s: &str| Note::parse_name(s).expect("note");
        SungRange {
            lowest: n(lo),
            highest: n(hi),
            tessitura: n(mid),
            stable_seconds: 5.0,
            voiced_seconds: 6.0,
            notes: 20,
        }
    }

    /// A song from `(note, beats)` pairs.
    fn song(id: &str, notes: &[(&str, f64)]) -> Song {
        let notes: Vec<(i32, f64)> =
            notes.iter().map(|(n, d)| (Note::parse_name(n).expect("note").midi(), *d)).collect();
        Song {
            id: id.into(),
            title: id.into(),
            artist: "A".into(),
            language: Some("English".into()),
            genre: None,
            year: None,
            original_key: None,
            licence: None,
            source: Source::UltraStar,
            parts: vec![Part { name: String::new(), profile: PitchProfile::from_notes(&notes).expect("notes") }],
        }
    }

    fn catalogue() -> Snapshot {
        Snapshot::new(
            1,
            [
                song("low", &[("B2", 1.0), ("E3", 2.0), ("B3", 1.0)]),
                song("mid", &[("C4", 1.0), ("E4", 2.0), ("A4", 1.0)]),
                song("wide", &[("G3", 1.0), ("C4", 2.0), ("G5", 1.0)]),
            ],
        )
    }

    #[test]
    fn a_song_that_fits_as_written_needs_no_shift() {
        let recs = rank(&catalogue(), &singer("A3", "C5", "F4"), &Filters::default(), 6, 10);
        let mid = recs.iter().find(|r| r.song_id == "mid").expect("mid fits");
        assert_eq!((mid.key_shift, mid.fits), (0, true), "{mid:?}");
        assert!(recs.iter().all(|r| r.song_id != "wide"), "a two-octave song does not fit a 15-semitone voice");
    }

    #[test]
    fn a_bass_gets_songs_shifted_down_into_range() {
        let recs = rank(&catalogue(), &singer("F2", "G3", "C3"), &Filters::default(), 6, 10);
        assert_eq!(recs.first().map(|r| r.song_id.as_str()), Some("low"), "{recs:?}");
        let low = &recs[0];
        assert!(low.fits && (-6..=0).contains(&low.key_shift), "{low:?}");
        assert!(low.reason.contains("inside your range"), "{low:?}");
    }

    #[test]
    fn when_nothing_fits_the_closest_songs_come_back_marked() {
        let recs = rank(&catalogue(), &singer("C4", "D4", "C#4"), &Filters::default(), 6, 2);
        assert_eq!(recs.len(), 2);
        assert!(recs.iter().all(|r| !r.fits && r.reason.contains("your range")), "{recs:?}");
    }

    #[test]
    fn a_song_that_sits_high_ranks_below_one_that_sits_in_the_middle_with_the_same_extremes() {
        // Both span A3..C5, the singer's whole range, so no shift can help.
        let high = song("sits-high", &[("A3", 1.0), ("A4", 10.0), ("B4", 10.0), ("C5", 4.0)]);
        let middle = song("sits-middle", &[("A3", 1.0), ("D4", 8.0), ("E4", 10.0), ("F4", 6.0), ("C5", 1.0)]);
        let snapshot = Snapshot::new(1, [high, middle]);
        let recs = rank(&snapshot, &singer("A3", "C5", "E4"), &Filters::default(), 6, 10);
        let order: Vec<&str> = recs.iter().map(|r| r.song_id.as_str()).collect();
        assert_eq!(order, ["sits-middle", "sits-high"], "{recs:#?}");
        assert!(recs[0].reason.starts_with("sits in your comfortable middle"), "{}", recs[0].reason);
        assert!(recs[1].reason.starts_with("sits high for you"), "{}", recs[1].reason);
        assert!(recs[0].comfort > 0.9 && recs[1].comfort < 0.5, "{recs:?}");
        assert!(recs.iter().all(|r| r.fits && r.key_shift == 0));
    }

    #[test]
    fn filters_narrow_by_language_duet_and_key_shift() {
        let mut korean = song("korean", &[("C4", 1.0), ("E4", 2.0), ("A4", 1.0)]);
        korean.language = Some("Korean".into());
        let snapshot = Snapshot::new(1, [korean, song("english", &[("C4", 1.0), ("E4", 2.0), ("A4", 1.0)])]);
        let voice = singer("A3", "C5", "F4");
        let korean_only = Filters { language: Some("korean".into()), ..Filters::default() };
        let ids = |recs: Vec<Recommendation>| recs.into_iter().map(|r| r.song_id).collect::<Vec<_>>();
        assert_eq!(ids(rank(&snapshot, &voice, &korean_only, 6, 10)), ["korean"]);
        let duets = Filters { duet: Some(true), ..Filters::default() };
        assert!(rank(&snapshot, &voice, &duets, 6, 10).is_empty());
        // A high voice: the songs need 5 semitones up, which a limit of 2 forbids.
        let high = singer("F4", "D5", "A4");
        assert!(rank(&snapshot, &high, &Filters::default(), 6, 10).iter().all(|r| r.fits));
        let near_key = Filters { max_key_shift: Some(2), ..Filters::default() };
        assert!(rank(&snapshot, &high, &near_key, 6, 10).iter().all(|r| !r.fits && r.key_shift.abs() <= 2));
    }
}

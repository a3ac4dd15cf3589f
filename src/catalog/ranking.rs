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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub language: Option<String>,
    pub genre: Option<String>,
    pub duet: Option<bool>,
    /// At most this many semitones of key shift either way.
    pub max_key_shift: Option<i32>,
}

/// The catalogue as ranking reads it, laid out for one pass over 100 000
/// songs: what ranking touches for every song (filter keys, each part's
/// extremes, median and running shares of sung time) sits in flat arrays;
/// what only a recommendation shows sits apart.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The catalogue revision it was read at (see `store::catalog`).
    pub revision: i64,
    shown: Vec<Shown>,
    keys: Vec<SongKeys>,
    parts: Vec<RankedPart>,
    /// Every part's running shares, one after another.
    shares: Vec<f32>,
    /// Lower-cased languages and genres; songs hold their index + 1 (0: none).
    languages: Vec<String>,
    genres: Vec<String>,
}

#[derive(Debug)]
struct Shown {
    id: String,
    title: String,
    artist: String,
    part_names: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
struct SongKeys {
    language: u32,
    genre: u32,
    duet: bool,
    first_part: u32,
    parts: u32,
}

#[derive(Debug, Clone, Copy)]
struct RankedPart {
    lowest: i32,
    highest: i32,
    median: i32,
    /// Where its running shares start in `Snapshot::shares`: entry `i` is
    /// the share of the sung time below `lowest + i`; there are
    /// `highest - lowest + 2` of them.
    shares: u32,
}

impl Snapshot {
    pub fn new(revision: i64, songs: impl IntoIterator<Item = Song>) -> Self {
        let mut snapshot = Self { revision, ..Self::default() };
        for song in songs {
            let language = intern(&mut snapshot.languages, song.language.as_deref());
            let genre = intern(&mut snapshot.genres, song.genre.as_deref());
            snapshot.keys.push(SongKeys {
                language,
                genre,
                duet: song.duet(),
                first_part: snapshot.parts.len() as u32,
                parts: song.parts.len() as u32,
            });
            for part in &song.parts {
                snapshot.parts.push(RankedPart {
                    lowest: part.profile.lowest(),
                    highest: part.profile.highest(),
                    median: part.profile.quantile(0.5),
                    shares: snapshot.shares.len() as u32,
                });
                snapshot.shares.extend(part.profile.cumulative());
            }
            snapshot.shown.push(Shown {
                part_names: song.parts.into_iter().map(|p| p.name).collect(),
                id: song.id,
                title: song.title,
                artist: song.artist,
            });
        }
        snapshot.shown.shrink_to_fit();
        snapshot.keys.shrink_to_fit();
        snapshot.parts.shrink_to_fit();
        snapshot.shares.shrink_to_fit();
        snapshot
    }

    /// An empty snapshot that any revision replaces.
    pub fn never_read() -> Self {
        Self { revision: -1, ..Self::default() }
    }

    pub fn len(&self) -> usize {
        self.shown.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shown.is_empty()
    }

    /// Share of `part`'s sung time on `lo..=hi`.
    fn share(&self, part: &RankedPart, lo: i32, hi: i32) -> f32 {
        if hi < lo {
            return 0.0;
        }
        let last = part.highest - part.lowest + 1;
        let at = |i: i32| self.shares[part.shares as usize + i.clamp(0, last) as usize];
        at(hi - part.lowest + 1) - at(lo - part.lowest)
    }

    /// The index + 1 of `value` among `known` (0: a value no song has).
    fn key_of(known: &[String], value: &str) -> Option<u32> {
        let value = value.to_lowercase();
        known.iter().position(|k| *k == value).map(|i| i as u32 + 1)
    }
}

fn intern(known: &mut Vec<String>, value: Option<&str>) -> u32 {
    let Some(value) = value else { return 0 };
    Snapshot::key_of(known, value).unwrap_or_else(|| {
        known.push(value.to_lowercase());
        known.len() as u32
    })
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

/// The best `limit` choices seen, best first.
struct Best {
    limit: usize,
    kept: Vec<Choice>,
}

impl Best {
    fn offer(&mut self, choice: Choice) {
        if self.kept.len() == self.limit {
            match self.kept.last() {
                Some(worst) if choice.better(worst) == Ordering::Less => {
                    self.kept.pop();
                }
                _ => return,
            }
        }
        let at = self.kept.partition_point(|kept| kept.better(&choice) == Ordering::Less);
        self.kept.insert(at, choice);
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
    let wanted = |known: &[String], value: &Option<String>| match value {
        None => Some(None),
        Some(v) => Snapshot::key_of(known, v).map(Some),
    };
    // A language or genre no song has: nothing can match.
    let (Some(language), Some(genre)) =
        (wanted(&snapshot.languages, &filters.language), wanted(&snapshot.genres, &filters.genre))
    else {
        return Vec::new();
    };
    let matching = |keys: &SongKeys| {
        language.is_none_or(|l| keys.language == l)
            && genre.is_none_or(|g| keys.genre == g)
            && filters.duet.is_none_or(|d| keys.duet == d)
    };
    if limit == 0 {
        return Vec::new();
    }
    // First pass: only the shifts that fit (most songs need no scoring at
    // all). Only when nothing fits, a second pass for the nearest.
    let mut best = Best { limit, kept: Vec::with_capacity(limit + 1) };
    for pass in [Pass::Fitting, Pass::Nearest] {
        for (index, keys) in snapshot.keys.iter().enumerate() {
            if !matching(keys) {
                continue;
            }
            let parts = keys.first_part as usize..(keys.first_part + keys.parts) as usize;
            let choice =
                parts.filter_map(|p| best_shift(snapshot, index, p, voice, max_shift, pass)).min_by(Choice::better);
            if let Some(choice) = choice {
                best.offer(choice);
            }
        }
        if !best.kept.is_empty() {
            break;
        }
    }
    best.kept.iter().map(|c| describe(snapshot, c, voice)).collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pass {
    Fitting,
    Nearest,
}

/// The best shift for one part: among those that fit (`Pass::Fitting`;
/// `None` when none does), or among all allowed ones.
fn best_shift(
    snapshot: &Snapshot,
    song: usize,
    part_index: usize,
    voice: Voice,
    max_shift: i32,
    pass: Pass,
) -> Option<Choice> {
    let part = &snapshot.parts[part_index];
    let shifts = match pass {
        Pass::Fitting => {
            let lowest_fit = (voice.lowest - part.lowest).max(-max_shift);
            let highest_fit = (voice.highest - part.highest).min(max_shift);
            if lowest_fit > highest_fit {
                return None;
            }
            lowest_fit..=highest_fit
        }
        Pass::Nearest => -max_shift..=max_shift,
    };
    let (comfort_lo, comfort_hi) = voice.comfortable;
    shifts
        .map(|shift| {
            let overflow =
                (voice.lowest - (part.lowest + shift)).max(0) + ((part.highest + shift) - voice.highest).max(0);
            let comfort = snapshot.share(part, comfort_lo - shift, comfort_hi - shift);
            let off_centre = (part.median + shift - voice.centre).abs();
            let score = comfort - 0.01 * shift.abs() as f32 - 0.004 * off_centre as f32;
            Choice { song, part: part_index, shift, overflow, comfort, score }
        })
        .min_by(Choice::better)
}

fn describe(snapshot: &Snapshot, choice: &Choice, voice: Voice) -> Recommendation {
    let shown = &snapshot.shown[choice.song];
    let keys = &snapshot.keys[choice.song];
    let part = &snapshot.parts[choice.part];
    let shift = choice.shift;
    let name = |midi: i32| Note::from_midi(midi).map(Note::name).unwrap_or_else(|_| "?".into());
    let (lo, hi) = (part.lowest + shift, part.highest + shift);
    let (comfort_lo, comfort_hi) = voice.comfortable;
    let percent = |share: f32| (share * 100.0).round() as i32;
    let sits = if choice.comfort >= 0.9 {
        "sits in your comfortable middle".to_owned()
    } else {
        let above = snapshot.share(part, comfort_hi - shift + 1, part.highest);
        let below = snapshot.share(part, part.lowest, comfort_lo - shift - 1);
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
        song_id: shown.id.clone(),
        title: shown.title.clone(),
        artist: shown.artist.clone(),
        part: keys.duet.then(|| shown.part_names[choice.part - keys.first_part as usize].clone()),
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

    #[test]
    fn a_duet_is_recommended_with_the_part_that_suits_the_singer() {
        let mut duet = song("duet", &[("C4", 1.0), ("E4", 2.0), ("A4", 1.0)]);
        let low = PitchProfile::from_notes(&[(48, 1.0), (52, 2.0), (55, 1.0)]).expect("notes");
        duet.parts[0].name = "Anna".into();
        duet.parts.push(Part { name: "Ben".into(), profile: low });
        let snapshot = Snapshot::new(1, [duet]);
        let bass = rank(&snapshot, &singer("G2", "A3", "D3"), &Filters::default(), 0, 5);
        assert_eq!(bass.iter().map(|r| (r.part.as_deref(), r.fits)).collect::<Vec<_>>(), [(Some("Ben"), true)]);
        let alto = rank(&snapshot, &singer("A3", "C5", "F4"), &Filters::default(), 0, 5);
        assert_eq!(alto[0].part.as_deref(), Some("Anna"));
        let unknown = Filters { genre: Some("polka".into()), ..Filters::default() };
        assert!(rank(&snapshot, &singer("A3", "C5", "F4"), &unknown, 6, 5).is_empty(), "no song has that genre");
    }
}

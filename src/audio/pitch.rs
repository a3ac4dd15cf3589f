//! YIN pitch tracking (de Cheveigné & Kawahara, 2002) with a voicing
//! decision from aperiodicity and loudness.
//!
//! Frame alignment: a frame's `time` is the centre of the samples its
//! estimate depends on, so a pitch change at t shows up at t (± half a hop), not one
//! hop late as with trackers that stamp a frame with its end.

/// Tracker parameters; the defaults cover the singing voice.
#[derive(Debug, Clone, Copy)]
pub struct PitchSettings {
    /// Lowest f0 searched: below a bass's low E2 (82 Hz).
    pub min_hz: f64,
    /// Highest f0 searched: above a soprano's high C6 (1047 Hz).
    pub max_hz: f64,
    /// 10 ms hops: short enough to follow ornaments, long enough to be cheap.
    pub hop_seconds: f64,
    /// YIN's absolute threshold on the normalised difference.
    pub threshold: f64,
    /// A frame counts as voiced only below this aperiodicity.
    pub max_aperiodicity: f64,
    /// ...and within this many dB of the loudest frame (breath, room noise
    /// and reverb tails are quieter).
    pub dynamic_range_db: f64,
}

impl Default for PitchSettings {
    fn default() -> Self {
        Self {
            min_hz: 65.0,
            max_hz: 1100.0,
            hop_seconds: 0.010,
            threshold: 0.12,
            max_aperiodicity: 0.25,
            dynamic_range_db: 35.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PitchFrame {
    /// Centre of the analysed samples, in seconds.
    pub time: f64,
    /// Estimated f0 in Hz, when voiced.
    pub hz: Option<f64>,
    /// 0 = perfectly periodic, 1 = noise.
    pub aperiodicity: f64,
    pub rms_db: f64,
}

pub fn track_pitch(samples: &[f32], sample_rate: u32, settings: &PitchSettings) -> Vec<PitchFrame> {
    let rate = f64::from(sample_rate);
    let tau_min = (rate / settings.max_hz).floor().max(2.0) as usize;
    let tau_max = (rate / settings.min_hz).ceil() as usize;
    let window = tau_max;
    let frame_len = window + tau_max + 1;
    let hop = ((rate * settings.hop_seconds).round() as usize).max(1);
    if samples.len() < frame_len {
        return Vec::new();
    }

    let mut frames = Vec::with_capacity((samples.len() - frame_len) / hop + 1);
    let mut diff = vec![0f64; tau_max + 1];
    let mut start = 0;
    while start + frame_len <= samples.len() {
        let frame = &samples[start..start + frame_len];
        let energy: f64 = frame[..window].iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / window as f64;
        let rms_db = 10.0 * energy.max(1e-12).log10();
        difference(frame, window, &mut diff);
        let (tau, aperiodicity) = best_lag(&mut diff, tau_min, tau_max, settings.threshold);
        // The evidence for lag τ lies in [start, start + window + τ]: stamp
        // the frame at the centre of that, not of the whole buffer.
        let span = window as f64 + tau.unwrap_or(tau_max as f64);
        frames.push(PitchFrame {
            time: (start as f64 + span / 2.0) / rate,
            hz: tau.map(|t| rate / t),
            aperiodicity,
            rms_db,
        });
        start += hop;
    }

    let loudest = frames.iter().map(|f| f.rms_db).fold(f64::NEG_INFINITY, f64::max);
    let floor = (loudest - settings.dynamic_range_db).max(-60.0);
    for frame in &mut frames {
        if frame.rms_db < floor || frame.aperiodicity > settings.max_aperiodicity {
            frame.hz = None;
        }
    }
    frames
}

/// d(τ) = Σ (x[j] − x[j+τ])² over the window.
fn difference(frame: &[f32], window: usize, diff: &mut [f64]) {
    diff[0] = 0.0;
    for tau in 1..diff.len() {
        let mut sum = 0.0f64;
        for j in 0..window {
            let d = f64::from(frame[j]) - f64::from(frame[j + tau]);
            sum += d * d;
        }
        diff[tau] = sum;
    }
}

/// Cumulative-mean-normalises `diff` in place and picks the first dip under
/// the threshold (or the global minimum), refined by parabolic interpolation.
fn best_lag(diff: &mut [f64], tau_min: usize, tau_max: usize, threshold: f64) -> (Option<f64>, f64) {
    let mut running = 0.0;
    diff[0] = 1.0;
    for (tau, d) in diff.iter_mut().enumerate().take(tau_max + 1).skip(1) {
        running += *d;
        *d = if running > 0.0 { *d * tau as f64 / running } else { 1.0 };
    }
    let mut chosen = None;
    let mut tau = tau_min;
    while tau < tau_max {
        if diff[tau] < threshold {
            while tau + 1 < tau_max && diff[tau + 1] < diff[tau] {
                tau += 1;
            }
            chosen = Some(tau);
            break;
        }
        tau += 1;
    }
    let tau = match chosen {
        Some(t) => t,
        None => {
            let (t, _) = diff[tau_min..tau_max].iter().enumerate().fold((0, f64::INFINITY), |(bi, bv), (i, v)| {
                if *v < bv {
                    (i, *v)
                } else {
                    (bi, bv)
                }
            });
            t + tau_min
        }
    };
    let aperiodicity = diff[tau].clamp(0.0, 1.0);
    if tau <= tau_min || tau >= tau_max {
        return (None, aperiodicity);
    }
    let (a, b, c) = (diff[tau - 1], diff[tau], diff[tau + 1]);
    let denom = a - 2.0 * b + c;
    let shift = if denom.abs() > 1e-12 { (0.5 * (a - c) / denom).clamp(-0.5, 0.5) } else { 0.0 };
    (Some(tau as f64 + shift), aperiodicity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// A voice-like tone: fundamental plus decaying harmonics.
    pub(crate) fn voice(hz: f64, rate: u32, secs: f64) -> Vec<f32> {
        (0..(f64::from(rate) * secs) as usize)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (1..=6).map(|h| (2.0 * PI * hz * h as f64 * t).sin() / h as f64).sum::<f64>() as f32 * 0.3
            })
            .collect()
    }

    #[test]
    fn finds_the_fundamental_not_a_harmonic() {
        for hz in [98.0, 220.0, 440.0, 880.0] {
            let frames = track_pitch(&voice(hz, 16_000, 0.5), 16_000, &PitchSettings::default());
            let voiced: Vec<f64> = frames.iter().filter_map(|f| f.hz).collect();
            assert!(voiced.len() > frames.len() * 9 / 10, "{hz} Hz mostly voiced");
            let mean = voiced.iter().sum::<f64>() / voiced.len() as f64;
            assert!((mean / hz - 1.0).abs() < 0.01, "{hz} Hz tracked as {mean}");
        }
    }

    #[test]
    fn noise_and_silence_are_unvoiced() {
        let mut state = 12345u32;
        let noise: Vec<f32> = (0..8000)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 16) as f32 / 32768.0 - 1.0
            })
            .collect();
        let frames = track_pitch(&noise, 16_000, &PitchSettings::default());
        assert!(frames.iter().filter(|f| f.hz.is_some()).count() < frames.len() / 10);
        let silence = vec![0f32; 8000];
        assert!(track_pitch(&silence, 16_000, &PitchSettings::default()).iter().all(|f| f.hz.is_none()));
    }

    #[test]
    fn a_pitch_change_is_reported_when_it_happens_not_a_hop_late() {
        let mut signal = voice(220.0, 16_000, 0.5);
        signal.extend(voice(330.0, 16_000, 0.5));
        let frames = track_pitch(&signal, 16_000, &PitchSettings::default());
        let first_high = frames.iter().find(|f| f.hz.is_some_and(|hz| hz > 300.0)).map(|f| f.time);
        let change = first_high.expect("330 Hz found");
        assert!((change - 0.5).abs() <= 0.015, "change reported at {change:.3} s");
    }
}

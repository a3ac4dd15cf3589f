//! Band-limited resampling by windowed-sinc interpolation.

use std::f64::consts::PI;

/// Half-width of the interpolation kernel, in input samples at the cutoff.
const HALF_TAPS: f64 = 12.0;

/// Resamples mono `input` from `from` Hz to `to` Hz. When downsampling the
/// kernel's cutoff drops to the new Nyquist, so nothing aliases.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() {
        return input.to_vec();
    }
    let ratio = f64::from(from) / f64::from(to);
    let cutoff = (1.0 / ratio).min(1.0) * 0.97;
    let half_width = HALF_TAPS / cutoff;
    let out_len = ((input.len() as f64) / ratio).floor() as usize;
    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len {
        let t = n as f64 * ratio;
        let first = (t - half_width).ceil().max(0.0) as usize;
        let last = ((t + half_width).floor() as usize).min(input.len() - 1);
        let (mut acc, mut norm) = (0.0f64, 0.0f64);
        for (k, sample) in input.iter().enumerate().take(last + 1).skip(first) {
            let x = t - k as f64;
            let w = kernel(x * cutoff) * blackman(x / half_width);
            acc += f64::from(*sample) * w;
            norm += w;
        }
        out.push(if norm.abs() > 1e-12 { (acc / norm) as f32 } else { 0.0 });
    }
    out
}

fn kernel(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    }
}

/// Blackman window on [-1, 1].
fn blackman(x: f64) -> f64 {
    if x.abs() >= 1.0 {
        return 0.0;
    }
    let phase = PI * (x + 1.0);
    0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, rate: u32, secs: f64) -> Vec<f32> {
        (0..(f64::from(rate) * secs) as usize)
            .map(|i| (2.0 * PI * hz * i as f64 / f64::from(rate)).sin() as f32 * 0.5)
            .collect()
    }

    fn zero_crossings(x: &[f32]) -> usize {
        x.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count()
    }

    #[test]
    fn keeps_pitch_and_length() {
        let out = resample(&sine(440.0, 44_100, 1.0), 44_100, 16_000);
        assert_eq!(out.len(), 16_000);
        let hz = zero_crossings(&out) as f64 / 2.0;
        assert!((hz - 440.0).abs() < 2.0, "{hz}");
    }

    #[test]
    fn removes_what_the_new_rate_cannot_hold() {
        // 12 kHz is above the 8 kHz Nyquist of 16 kHz: it must vanish, not alias to 4 kHz.
        let out = resample(&sine(12_000.0, 48_000, 0.5), 48_000, 16_000);
        let rms = (out[200..out.len() - 200].iter().map(|s| s * s).sum::<f32>() / out.len() as f32).sqrt();
        assert!(rms < 0.01, "aliased energy {rms}");
    }
}

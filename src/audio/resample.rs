//! Band-limited resampling by windowed-sinc interpolation. For rational
//! ratios with a modest number of phases (every common audio rate to
//! 16 kHz: 48 k → 1 phase, 44.1 k → 160) the filter taps are computed once
//! per phase (polyphase); other ratios evaluate the kernel per tap.

use std::f64::consts::PI;

/// Half-width of the interpolation kernel, in input samples at the cutoff.
const HALF_TAPS: f64 = 12.0;
/// Above this many phases the tap table would outweigh the work it saves.
const MAX_PHASES: u64 = 4096;

/// Resamples mono `input` from `from` Hz to `to` Hz. When downsampling the
/// kernel's cutoff drops to the new Nyquist, so nothing aliases.
pub fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() {
        return input.to_vec();
    }
    let g = gcd(u64::from(from), u64::from(to));
    let (phases, step) = (u64::from(to) / g, u64::from(from) / g);
    if phases <= MAX_PHASES {
        polyphase(input, phases as usize, step as usize, f64::from(from) / f64::from(to))
    } else {
        direct(input, from, to)
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Output `n` sits at input position `n * step / phases`: its integer part
/// picks the input samples, its fraction (`phase / phases`) the tap set.
fn polyphase(input: &[f32], phases: usize, step: usize, ratio: f64) -> Vec<f32> {
    let cutoff = (1.0 / ratio).min(1.0) * 0.97;
    let half_width = HALF_TAPS / cutoff;
    let reach = half_width.floor() as usize;
    let width = 2 * reach + 1;
    // taps[phase][j] weights input[base + j - reach].
    let mut taps = vec![0.0f32; phases * width];
    for phase in 0..phases {
        let frac = phase as f64 / phases as f64;
        for j in 0..width {
            let x = frac - (j as f64 - reach as f64);
            taps[phase * width + j] = (kernel(x * cutoff) * blackman(x / half_width)) as f32;
        }
    }
    let out_len = (input.len() * phases) / step;
    let mut out = Vec::with_capacity(out_len);
    for n in 0..out_len {
        let position = n * step;
        let (base, phase) = (position / phases, position % phases);
        let row = &taps[phase * width..(phase + 1) * width];
        let (acc, norm) = if base >= reach && base + reach < input.len() {
            let window = &input[base - reach..=base + reach];
            let acc: f32 = window.iter().zip(row).map(|(s, w)| s * w).sum();
            (acc, row.iter().sum::<f32>())
        } else {
            // At the edges only part of the kernel lies over the input.
            let mut sums = (0.0f32, 0.0f32);
            for (j, w) in row.iter().enumerate() {
                if let Some(sample) = (base + j).checked_sub(reach).and_then(|k| input.get(k)) {
                    sums = (sums.0 + sample * w, sums.1 + w);
                }
            }
            sums
        };
        out.push(if norm.abs() > 1e-6 { acc / norm } else { 0.0 });
    }
    out
}

/// The kernel evaluated at every tap: any ratio, slower.
fn direct(input: &[f32], from: u32, to: u32) -> Vec<f32> {
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
    fn polyphase_and_direct_agree() {
        let input = sine(440.0, 44_100, 0.5);
        let fast = resample(&input, 44_100, 16_000);
        let slow = direct(&input, 44_100, 16_000);
        assert_eq!(fast.len(), slow.len());
        let worst = fast.iter().zip(&slow).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "largest difference {worst}");
    }

    #[test]
    fn keeps_level_and_alignment() {
        // A 200 Hz tone keeps its amplitude and its phase (no delay).
        let out = resample(&sine(200.0, 48_000, 1.0), 48_000, 16_000);
        let expected = sine(200.0, 16_000, 1.0);
        let worst = out[100..15_900].iter().zip(&expected[100..15_900]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 0.01, "largest difference {worst}");
    }

    #[test]
    fn removes_what_the_new_rate_cannot_hold() {
        // 12 kHz is above the 8 kHz Nyquist of 16 kHz: it must vanish, not alias to 4 kHz.
        let out = resample(&sine(12_000.0, 48_000, 0.5), 48_000, 16_000);
        let rms = (out[200..out.len() - 200].iter().map(|s| s * s).sum::<f32>() / out.len() as f32).sqrt();
        assert!(rms < 0.01, "aliased energy {rms}");
    }
}

//! Timbre features of the voiced frames.

use serde::{Deserialize, Serialize};

use super::PitchFrame;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Timbre {
    /// RMS frequency of the voiced signal, √(E[x′²]/E[x²])·fs/2π: tracks the
    /// spectral centroid — higher means a brighter voice.
    pub brightness_hz: f64,
    /// 1 − mean aperiodicity: clear tone near 1, breathy or hoarse lower.
    pub clarity: f64,
    /// Mean level of the voiced frames.
    pub loudness_dbfs: f64,
}

pub fn timbre(samples: &[f32], sample_rate: u32, frames: &[PitchFrame]) -> Timbre {
    let voiced: Vec<&PitchFrame> = frames.iter().filter(|f| f.hz.is_some()).collect();
    let n = voiced.len().max(1) as f64;
    let clarity = 1.0 - voiced.iter().map(|f| f.aperiodicity).sum::<f64>() / n;
    let loudness_dbfs = voiced.iter().map(|f| f.rms_db).sum::<f64>() / n;
    let rate = f64::from(sample_rate);
    let half = (rate * 0.015) as usize;
    let (mut energy, mut slope) = (0.0f64, 0.0f64);
    for frame in &voiced {
        let centre = (frame.time * rate) as usize;
        let (lo, hi) = (centre.saturating_sub(half).max(1), (centre + half).min(samples.len()));
        for i in lo..hi {
            let x = f64::from(samples[i]);
            let dx = x - f64::from(samples[i - 1]);
            energy += x * x;
            slope += dx * dx;
        }
    }
    let brightness_hz = if energy > 0.0 { (slope / energy).sqrt() * rate / (2.0 * std::f64::consts::PI) } else { 0.0 };
    Timbre { brightness_hz, clarity, loudness_dbfs }
}

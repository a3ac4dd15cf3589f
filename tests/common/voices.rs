//! The voice evaluation set: synthetic sung takes whose notes are known,
//! made deterministically from fixed seeds (no files, no randomness from
//! the machine), so tests and the `voice` benchmark judge the analyser
//! against ground truth.
//!
//! A take is a source–filter voice: a Rosenberg glottal pulse train whose
//! f0 follows a melody with portamento between notes, vibrato on held
//! notes, cycle-to-cycle jitter, shimmer, slow drift and breath noise,
//! through four vowel formants that change from note to note. Conditions
//! then add what phones and rooms do: room noise at 20/15/10 dB SNR,
//! reverberation, a high-pass that removes most of a low voice's
//! fundamental, a phone chain (band-pass, reverb and noise), quiet backing
//! chords (15 dB under the voice; 10 dB in a stress set scored apart), and
//! short or long takes. Negatives (silence, noise, speech, a
//! 0.5 s take) must be refused with a reason.

use std::f64::consts::PI;

#[path = "sampled.rs"]
pub mod sampled;

pub const RATE: u32 = 44_100;
/// Ground truth is given every 10 ms.
pub const TRUTH_HOP: f64 = 0.010;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Voice {
    pub name: &'static str,
    /// The melody's lowest note never goes below this (MIDI)...
    pub low: i32,
    /// ...and its highest never above this.
    pub high: i32,
    /// Formant frequencies scale with vocal-tract length.
    pub formant_scale: f64,
}

pub const VOICES: [Voice; 6] = [
    Voice { name: "bass", low: 40, high: 62, formant_scale: 0.92 },
    Voice { name: "baritone", low: 45, high: 66, formant_scale: 0.97 },
    Voice { name: "tenor", low: 48, high: 70, formant_scale: 1.02 },
    Voice { name: "alto", low: 53, high: 75, formant_scale: 1.12 },
    Voice { name: "mezzo", low: 56, high: 79, formant_scale: 1.16 },
    Voice { name: "soprano", low: 60, high: 84, formant_scale: 1.2 },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Clean,
    Noise20,
    Noise15,
    Noise10,
    Reverb,
    HighPass,
    Phone,
    Backing,
    Short,
    Long,
    /// Backing chords only 10 dB under the voice: beyond what the
    /// evaluation asks, reported on its own as a known limit.
    LoudBacking,
}

pub const CONDITIONS: [Condition; 10] = [
    Condition::Clean,
    Condition::Noise20,
    Condition::Noise15,
    Condition::Noise10,
    Condition::Reverb,
    Condition::HighPass,
    Condition::Phone,
    Condition::Backing,
    Condition::Short,
    Condition::Long,
];

impl Condition {
    pub fn name(self) -> &'static str {
        match self {
            Condition::Clean => "clean",
            Condition::Noise20 => "noise 20 dB",
            Condition::Noise15 => "noise 15 dB",
            Condition::Noise10 => "noise 10 dB",
            Condition::Reverb => "reverb",
            Condition::HighPass => "high-pass 300 Hz",
            Condition::Phone => "phone",
            Condition::Backing => "backing 15 dB",
            Condition::LoudBacking => "stress: backing 10 dB",
            Condition::Short => "short (3 s)",
            Condition::Long => "long (30 s)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negative {
    Silence,
    Noise,
    Speech,
    TooShort,
}

pub const NEGATIVES: [Negative; 4] = [Negative::Silence, Negative::Noise, Negative::Speech, Negative::TooShort];

impl Negative {
    pub fn name(self) -> &'static str {
        match self {
            Negative::Silence => "silence",
            Negative::Noise => "noise only",
            Negative::Speech => "speech only",
            Negative::TooShort => "0.5 s take",
        }
    }
}

/// What the analyser must answer for a take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Lowest and highest held notes (MIDI).
    Range { lowest: i32, highest: i32 },
    /// Refused with a reason.
    Refused,
}

#[derive(Debug, Clone)]
pub struct Take {
    /// File-name safe, unique in the set: `tenor-noise-10-db`.
    pub name: String,
    pub group: String,
    pub samples: Vec<f32>,
    pub rate: u32,
    pub expected: Expected,
    /// The sung f0 every [`TRUTH_HOP`] from t = 0; `None` where no voice sounds.
    pub truth_f0: Vec<Option<f64>>,
}

/// Every voice sings this many melodies under every condition, each from
/// its own seed: one melody per cell let a tracker tuned on the set look
/// better than it is (58/60 on the first melodies was 50–54/60 on others).
pub const MELODIES: usize = 3;

/// The seed of a voice's `melody`-th take under the condition at `c`;
/// `offset` moves the whole set to other melodies (0 is the evaluation
/// set; other offsets check that a change holds beyond the takes it was
/// tuned on; 3000 and 6000 give the set's own second and third melodies).
fn seed(v: usize, c: usize, melody: usize, offset: u64) -> u64 {
    1000 + offset + (v * 100 + c) as u64 + 3000 * melody as u64
}

/// The whole set: every voice under every condition, [`MELODIES`] times,
/// then the negatives. The first melody's takes keep their plain names
/// (`tenor-noise-10-dB`); the others get `-2`, `-3`.
pub fn evaluation_set(offset: u64) -> Vec<Take> {
    let mut takes = Vec::new();
    for melody in 0..MELODIES {
        for (v, voice) in VOICES.iter().enumerate() {
            for (c, condition) in CONDITIONS.iter().enumerate() {
                takes.push(numbered(sung_take(voice, *condition, seed(v, c, melody, offset)), melody));
            }
        }
    }
    takes.extend(NEGATIVES.iter().map(|n| negative_take(*n)));
    takes
}

/// Harder than the evaluation asks, scored apart from it: every voice with
/// backing chords 10 dB under it (the same melodies as `Backing`).
pub fn stress_set(offset: u64) -> Vec<Take> {
    let backing = CONDITIONS.iter().position(|c| *c == Condition::Backing).unwrap_or(0);
    (0..MELODIES)
        .flat_map(|melody| {
            VOICES.iter().enumerate().map(move |(v, voice)| {
                numbered(sung_take(voice, Condition::LoudBacking, seed(v, backing, melody, offset)), melody)
            })
        })
        .collect()
}

fn numbered(mut take: Take, melody: usize) -> Take {
    if melody > 0 {
        take.name = format!("{}-{}", take.name, melody + 1);
    }
    take
}

pub fn sung_take(voice: &Voice, condition: Condition, seed: u64) -> Take {
    let mut rng = Rng::new(seed);
    let seconds = match condition {
        Condition::Short => 3.0,
        Condition::Long => 30.0,
        _ => 8.0,
    };
    let melody = melody(voice, seconds, EXTREMES_HELD, &mut rng);
    sung(voice, &melody, condition, &mut rng)
}

/// `melody` as the additive `voice` sings it, under `condition`.
pub fn sung(voice: &Voice, melody: &[SungNote], condition: Condition, rng: &mut Rng) -> Take {
    let (samples, truth_f0) = sing(melody, voice, rng);
    let samples = apply(condition, samples, melody, &truth_f0, rng);
    let (lowest, highest) = extremes(melody);
    let condition_name = condition.name().replace([' ', '(', ')', ':'], "-").replace("--", "-");
    Take {
        name: format!("{}-{}", voice.name, condition_name.trim_end_matches('-')),
        group: condition.name().into(),
        samples,
        rate: RATE,
        expected: Expected::Range { lowest, highest },
        truth_f0,
    }
}

/// The lowest and highest note of a melody.
pub fn extremes(melody: &[SungNote]) -> (i32, i32) {
    melody.iter().fold((i32::MAX, i32::MIN), |(lo, hi), n| (lo.min(n.midi), hi.max(n.midi)))
}

/// What a room, a phone or a band does to a take whose voice sounds where
/// `truth_f0` says; normalised to a peak of 0.7.
pub fn apply(
    condition: Condition,
    mut samples: Vec<f32>,
    melody: &[SungNote],
    truth_f0: &[Option<f64>],
    rng: &mut Rng,
) -> Vec<f32> {
    let voice_rms = voiced_rms(&samples, truth_f0);
    match condition {
        Condition::Clean | Condition::Short | Condition::Long => {}
        Condition::Noise20 => add_noise(&mut samples, voice_rms, 20.0, rng),
        Condition::Noise15 => add_noise(&mut samples, voice_rms, 15.0, rng),
        Condition::Noise10 => add_noise(&mut samples, voice_rms, 10.0, rng),
        Condition::Reverb => samples = reverb(&samples, 1.2, 1.0),
        Condition::HighPass => high_pass(&mut samples, 300.0),
        Condition::Phone => {
            samples = reverb(&samples, 0.6, 0.5);
            high_pass(&mut samples, 300.0);
            low_pass(&mut samples, 3400.0);
            add_noise(&mut samples, voice_rms, 15.0, rng);
        }
        Condition::Backing => add_chords(&mut samples, melody, voice_rms, 15.0, rng),
        Condition::LoudBacking => add_chords(&mut samples, melody, voice_rms, 10.0, rng),
    }
    normalise(&mut samples, 0.7);
    samples
}

pub fn negative_take(negative: Negative) -> Take {
    let mut rng = Rng::new(9000 + negative as u64);
    let (samples, truth_f0) = match negative {
        Negative::Silence => (vec![0.0; (RATE * 4) as usize], vec![None; 400]),
        Negative::Noise => {
            let mut samples = vec![0.0; (RATE * 4) as usize];
            add_noise(&mut samples, 0.1, 0.0, &mut rng);
            (samples, vec![None; 400])
        }
        Negative::Speech => speech(4.0, &mut rng),
        Negative::TooShort => {
            // Half a second, all of it sung.
            let melody = vec![SungNote { midi: 57, seconds: 0.6, vowel: 0, phrase_end: true }];
            let (samples, truth) = sing(&melody, &VOICES[1], &mut rng);
            let from = (0.35 * f64::from(RATE)) as usize;
            let hops = (0.35 / TRUTH_HOP) as usize;
            (samples[from..from + RATE as usize / 2].to_vec(), truth[hops..hops + 50].to_vec())
        }
    };
    let mut samples = samples;
    normalise(&mut samples, 0.7);
    Take {
        name: negative.name().replace([' ', '.'], "-"),
        group: "negatives".into(),
        samples,
        rate: RATE,
        expected: Expected::Refused,
        truth_f0,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct SungNote {
    pub midi: i32,
    pub seconds: f64,
    pub vowel: usize,
    /// A breath follows this note.
    pub phrase_end: bool,
}

/// How long the additive voices hold a melody's lowest and highest note:
/// from 0.7 s, up to 0.5 s longer.
const EXTREMES_HELD: (f64, f64) = (0.7, 0.5);

/// A diatonic melody inside a span of 9–14 semitones of the voice's range
/// that holds its lowest and highest note `extreme_hold.0` s each, or up
/// to `extreme_hold.1` s longer.
pub fn melody(voice: &Voice, seconds: f64, extreme_hold: (f64, f64), rng: &mut Rng) -> Vec<SungNote> {
    const MAJOR: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
    let span = 9 + rng.below(6) as i32;
    let tonic = voice.low + rng.below((voice.high - voice.low - span + 1).max(1) as u64) as i32;
    let scale: Vec<i32> = (0..=24)
        .map(|step| tonic + 12 * (step / 7) + MAJOR[(step % 7) as usize])
        .filter(|m| *m <= tonic + span)
        .collect();
    let top = *scale.last().unwrap_or(&tonic);
    let mut notes = Vec::new();
    let mut total = 0.0;
    let mut index = rng.below(scale.len() as u64) as usize;
    let mut since_breath = 0;
    // The extremes are sung early and late, so even short takes hold both.
    let mut plan: Vec<i32> = vec![tonic, top];
    while total < seconds {
        let midi = if let Some(m) = plan.pop() {
            index = scale.iter().position(|s| *s == m).unwrap_or(0);
            m
        } else {
            let step = rng.below(5) as i64 - 2;
            index = (index as i64 + step).clamp(0, scale.len() as i64 - 1) as usize;
            scale[index]
        };
        let extreme = midi == tonic || midi == top;
        let held = if extreme { extreme_hold.0 + rng.uniform() * extreme_hold.1 } else { 0.35 + rng.uniform() * 0.6 };
        since_breath += 1;
        let phrase_end = since_breath >= 3 + rng.below(3) as usize;
        if phrase_end {
            since_breath = 0;
        }
        notes.push(SungNote { midi, seconds: held, vowel: rng.below(5) as usize, phrase_end });
        total += held + if phrase_end { 0.35 } else { 0.0 };
        if total > seconds * 0.6 && notes.len() > 4 && !notes.iter().rev().take(6).any(|n| n.midi == top) {
            plan.push(top);
        }
    }
    notes
}

/// Male formants (F1–F4, Hz) of /a e i o u/.
const VOWELS: [[f64; 4]; 5] = [
    [730.0, 1090.0, 2440.0, 3400.0],
    [530.0, 1840.0, 2480.0, 3500.0],
    [290.0, 2250.0, 3000.0, 3700.0],
    [570.0, 840.0, 2410.0, 3300.0],
    [320.0, 870.0, 2240.0, 3300.0],
];
const BANDWIDTHS: [f64; 4] = [90.0, 110.0, 150.0, 200.0];

/// Renders a melody: 0.3 s of room tone, then the notes, legato within a
/// phrase (80 ms portamento), a breath between phrases.
fn sing(melody: &[SungNote], voice: &Voice, rng: &mut Rng) -> (Vec<f32>, Vec<Option<f64>>) {
    let rate = f64::from(RATE);
    // Per-sample targets: f0 (0 = silent), amplitude, vowel.
    let mut f0_track: Vec<f64> = vec![0.0; (0.3 * rate) as usize];
    let mut amp_track: Vec<f64> = vec![0.0; f0_track.len()];
    let mut vowel_track: Vec<usize> = vec![0; f0_track.len()];
    let vibrato_extent = 0.3 + 0.2 * rng.uniform(); // semitones
    let vibrato_rate = 5.0 + 1.5 * rng.uniform();
    let mut previous: Option<f64> = None;
    for note in melody {
        let n = (note.seconds * rate) as usize;
        let target = f64::from(note.midi);
        let start = previous.unwrap_or(target - 0.5 - rng.uniform());
        let vib_phase = rng.uniform() * 2.0 * PI;
        for i in 0..n {
            let t = i as f64 / rate;
            let glide = (t / 0.08).min(1.0);
            let base = start + (target - start) * (0.5 - 0.5 * (PI * glide).cos());
            let vib_depth = vibrato_extent * ((t - 0.2) / 0.25).clamp(0.0, 1.0);
            let midi = base + vib_depth * (2.0 * PI * vibrato_rate * t + vib_phase).sin();
            f0_track.push(440.0 * 2f64.powf((midi - 69.0) / 12.0));
            let attack = if previous.is_none() { (t / 0.05).min(1.0) } else { 1.0 };
            let release = if note.phrase_end { ((note.seconds - t) / 0.08).min(1.0) } else { 1.0 };
            amp_track.push(attack.min(release) * (0.8 + 0.2 * (PI * t / note.seconds).sin()));
            vowel_track.push(note.vowel);
        }
        previous = Some(target);
        if note.phrase_end {
            let gap = (rng.uniform_in(0.25, 0.45) * rate) as usize;
            f0_track.extend(std::iter::repeat_n(0.0, gap));
            amp_track.extend(std::iter::repeat_n(0.0, gap));
            vowel_track.extend(std::iter::repeat_n(note.vowel, gap));
            previous = None;
        }
    }
    let tail = (0.3 * rate) as usize;
    f0_track.extend(std::iter::repeat_n(0.0, tail));
    amp_track.extend(std::iter::repeat_n(0.0, tail));
    vowel_track.extend(std::iter::repeat_n(0, tail));

    let mut out = vec![0f32; f0_track.len()];
    let mut phase = 0.0f64;
    let mut jitter = 1.0;
    let mut shimmer = 1.0;
    let mut drift = 0.0f64; // cents, a slow random walk
    let mut last_flow = 0.0;
    let mut tract = Tract::new(voice.formant_scale);
    let mut breath_lp = 0.0f64;
    // Inhales only in gaps with singing within half a second on both sides:
    // the nearest sung sample after each sample, and the last one before.
    let half_second = RATE as usize / 2;
    let mut next_sung = vec![usize::MAX; f0_track.len() + 1];
    for i in (0..f0_track.len()).rev() {
        next_sung[i] = if f0_track[i] > 0.0 { i } else { next_sung[i + 1] };
    }
    let mut last_sung: Option<usize> = None;
    for i in 0..f0_track.len() {
        let f0 = f0_track[i];
        let breath_between = last_sung.is_some_and(|j| i - j <= half_second) && next_sung[i] - i < half_second;
        if f0 > 0.0 {
            last_sung = Some(i);
        }
        drift = (drift + rng.gaussian() * 0.4).clamp(-12.0, 12.0) * 0.9995;
        let mut source = 0.0;
        if f0 > 0.0 {
            phase += f0 * 2f64.powf(drift / 1200.0) * jitter / rate;
            if phase >= 1.0 {
                phase -= 1.0;
                jitter = 1.0 + 0.006 * rng.gaussian();
                shimmer = 1.0 + 0.06 * rng.gaussian();
            }
            let flow = rosenberg(phase);
            source = (flow - last_flow) * rate / f0 * 0.05 * amp_track[i] * shimmer;
            last_flow = flow;
            // Breathiness: aspiration noise in the open phase.
            source += rng.gaussian() * 0.02 * amp_track[i] * if phase < 0.6 { 1.0 } else { 0.3 };
        } else if amp_track.get(i.saturating_sub(1)).is_some_and(|a| *a == 0.0) && breath_between {
            // An audible inhale between phrases.
            breath_lp = 0.7 * breath_lp + 0.3 * rng.gaussian();
            source = breath_lp * 0.004;
        }
        if i % 32 == 0 {
            tract.retune(vowel_track[i]);
        }
        out[i] = tract.filter(source) as f32;
    }
    let truth = (0..(out.len() as f64 / rate / TRUTH_HOP) as usize)
        .map(|k| {
            let i = ((k as f64 * TRUTH_HOP) * rate) as usize;
            (f0_track[i] > 0.0 && amp_track[i] > 0.3).then_some(f0_track[i])
        })
        .collect();
    (out, truth)
}

/// Glottal flow over one period (phase in 0..1): opening 40 %, closing 16 %.
fn rosenberg(phase: f64) -> f64 {
    const OPEN: f64 = 0.4;
    const CLOSE: f64 = 0.16;
    if phase < OPEN {
        0.5 * (1.0 - (PI * phase / OPEN).cos())
    } else if phase < OPEN + CLOSE {
        (PI * (phase - OPEN) / (2.0 * CLOSE)).cos()
    } else {
        0.0
    }
}

/// Four cascaded formant resonators whose frequencies glide to the vowel.
struct Tract {
    scale: f64,
    current: [f64; 4],
    coefficients: [(f64, f64, f64); 4],
    state: [(f64, f64); 4],
}

impl Tract {
    fn new(scale: f64) -> Self {
        let current = VOWELS[0].map(|f| f * scale);
        let mut tract = Self { scale, current, coefficients: [(0.0, 0.0, 0.0); 4], state: [(0.0, 0.0); 4] };
        tract.retune(0);
        tract
    }

    fn retune(&mut self, vowel: usize) {
        let rate = f64::from(RATE);
        for k in 0..4 {
            let target = VOWELS[vowel][k] * self.scale;
            self.current[k] += (target - self.current[k]) * 0.08;
            let r = (-PI * BANDWIDTHS[k] / rate).exp();
            let a1 = 2.0 * r * (2.0 * PI * self.current[k] / rate).cos();
            let a2 = -r * r;
            self.coefficients[k] = (1.0 - a1 - a2, a1, a2);
        }
    }

    fn filter(&mut self, x: f64) -> f64 {
        let mut y = x;
        for k in 0..4 {
            let (b0, a1, a2) = self.coefficients[k];
            let (y1, y2) = self.state[k];
            let out = b0 * y + a1 * y1 + a2 * y2;
            self.state[k] = (out, y1);
            y = out;
        }
        y
    }
}

/// Speech: syllables of 80–220 ms whose f0 glides 1.5–5 semitones, with
/// fricative bursts and pauses between them.
fn speech(seconds: f64, rng: &mut Rng) -> (Vec<f32>, Vec<Option<f64>>) {
    let rate = f64::from(RATE);
    let voice = VOICES[1];
    let mut out: Vec<f32> = vec![0.0; (0.2 * rate) as usize];
    let mut truth: Vec<Option<f64>> = vec![None; 20];
    let mut tract = Tract::new(voice.formant_scale);
    let mut phase = 0.0;
    let mut last_flow = 0.0;
    let mut declination = 0.0;
    while (out.len() as f64) < seconds * rate {
        // Fricative or plosive burst.
        let burst = (rng.uniform_in(0.03, 0.08) * rate) as usize;
        let mut hp = 0.0;
        for _ in 0..burst {
            let w = rng.gaussian();
            hp = 0.5 * hp + 0.5 * w;
            out.push(((w - hp) * 0.02) as f32);
        }
        // Voiced syllable with a glide.
        let n = (rng.uniform_in(0.08, 0.22) * rate) as usize;
        let start = 50.0 - declination + rng.uniform_in(-2.0, 4.0);
        let glide = rng.uniform_in(1.5, 5.0) * if rng.uniform() < 0.7 { -1.0 } else { 1.0 };
        tract.retune(rng.below(5) as usize);
        for i in 0..n {
            let t = i as f64 / n as f64;
            let f0 = 440.0 * 2f64.powf((start + glide * t - 69.0) / 12.0);
            phase += f0 / rate;
            if phase >= 1.0 {
                phase -= 1.0;
            }
            let flow = rosenberg(phase);
            let env = (PI * t).sin();
            let source = (flow - last_flow) * rate / f0 * 0.05 * env + rng.gaussian() * 0.01 * env;
            last_flow = flow;
            if i % 32 == 0 {
                tract.retune(rng.below(5) as usize);
            }
            out.push(tract.filter(source) as f32);
        }
        declination = (declination + 0.3).min(6.0);
        if rng.uniform() < 0.25 {
            let pause = (rng.uniform_in(0.1, 0.3) * rate) as usize;
            out.extend(std::iter::repeat_n(0.0f32, pause));
            declination = 0.0;
        }
    }
    truth.resize((out.len() as f64 / rate / TRUTH_HOP) as usize, None);
    (out, truth)
}

fn voiced_rms(samples: &[f32], truth: &[Option<f64>]) -> f64 {
    let per_hop = (f64::from(RATE) * TRUTH_HOP) as usize;
    let (mut sum, mut n) = (0.0, 0usize);
    for (k, f0) in truth.iter().enumerate() {
        if f0.is_some() {
            for s in samples.iter().skip(k * per_hop).take(per_hop) {
                sum += f64::from(*s).powi(2);
                n += 1;
            }
        }
    }
    (sum / n.max(1) as f64).sqrt()
}

/// Room noise: pink-ish (white plus a low-passed rumble), at `snr_db` below
/// the voice's RMS.
fn add_noise(samples: &mut [f32], voice_rms: f64, snr_db: f64, rng: &mut Rng) {
    let mut lp = 0.0;
    let noise: Vec<f64> = (0..samples.len())
        .map(|_| {
            let w = rng.gaussian();
            lp = 0.97 * lp + 0.03 * w;
            0.5 * w + 4.0 * lp
        })
        .collect();
    let noise_rms = (noise.iter().map(|n| n * n).sum::<f64>() / noise.len().max(1) as f64).sqrt();
    let gain = voice_rms / 10f64.powf(snr_db / 20.0) / noise_rms.max(1e-12);
    for (s, n) in samples.iter_mut().zip(noise) {
        *s += (n * gain) as f32;
    }
}

/// Schroeder reverberator: four combs tuned to `rt60` seconds, two
/// all-passes; the wet signal is mixed at `wet` times the dry level.
fn reverb(samples: &[f32], rt60: f64, wet: f64) -> Vec<f32> {
    let rate = f64::from(RATE);
    let tail = (rt60 * rate) as usize;
    let mut input: Vec<f64> = samples.iter().map(|s| f64::from(*s)).collect();
    input.extend(std::iter::repeat_n(0.0, tail));
    let mut wet_signal = vec![0.0; input.len()];
    for delay in [1557usize, 1617, 1491, 1422] {
        let g = 10f64.powf(-3.0 * delay as f64 / (rt60 * rate));
        let mut line = vec![0.0; input.len()];
        for i in 0..input.len() {
            let fed = if i >= delay { line[i - delay] } else { 0.0 };
            line[i] = input[i] + g * fed;
            wet_signal[i] += fed;
        }
    }
    for delay in [225usize, 556] {
        let g = 0.5;
        let mut out = vec![0.0; wet_signal.len()];
        for i in 0..wet_signal.len() {
            let x_d = if i >= delay { wet_signal[i - delay] } else { 0.0 };
            let y_d = if i >= delay { out[i - delay] } else { 0.0 };
            out[i] = -g * wet_signal[i] + x_d + g * y_d;
        }
        wet_signal = out;
    }
    let dry_energy: f64 = input.iter().map(|x| x * x).sum();
    let wet_energy: f64 = wet_signal.iter().map(|x| x * x).sum();
    let gain = wet * (dry_energy / wet_energy.max(1e-12)).sqrt();
    input.iter().zip(&wet_signal).map(|(d, w)| (d + gain * w) as f32).collect()
}

/// Fourth-order Butterworth high-pass (two biquads).
fn high_pass(samples: &mut [f32], cutoff: f64) {
    for q in [0.541_196_1, 1.306_563] {
        biquad(samples, cutoff, q, true);
    }
}

fn low_pass(samples: &mut [f32], cutoff: f64) {
    for q in [0.541_196_1, 1.306_563] {
        biquad(samples, cutoff, q, false);
    }
}

/// RBJ cookbook high- or low-pass section.
fn biquad(samples: &mut [f32], cutoff: f64, q: f64, high: bool) {
    let w0 = 2.0 * PI * cutoff / f64::from(RATE);
    let alpha = w0.sin() / (2.0 * q);
    let cos = w0.cos();
    let (b0, b1, b2) = if high {
        ((1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0)
    } else {
        ((1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0)
    };
    let (a0, a1, a2) = (1.0 + alpha, -2.0 * cos, 1.0 - alpha);
    let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
    for s in samples.iter_mut() {
        let x = f64::from(*s);
        let y = (b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2) / a0;
        (x2, x1, y2, y1) = (x1, x, y1, y);
        *s = y as f32;
    }
}

/// Piano-like triads on the melody's key (I, IV, V, vi), a new chord every
/// 2 s, restruck every second, playing through the breaths too, `under_db`
/// under the voice.
fn add_chords(samples: &mut [f32], melody: &[SungNote], voice_rms: f64, under_db: f64, rng: &mut Rng) {
    let rate = f64::from(RATE);
    let tonic = melody.iter().map(|n| n.midi).min().unwrap_or(48);
    // Chords sit around C3–C4, where a band's keyboard plays.
    let root = 48 + (tonic - 48).rem_euclid(12);
    let progression = [[0, 4, 7], [5, 9, 12], [7, 11, 14], [9, 12, 16]];
    let mut chords = vec![0.0f64; samples.len()];
    let chord_len = (2.0 * rate) as usize;
    let strike = (1.0 * rate) as usize;
    for (c, start) in (0..samples.len()).step_by(chord_len).enumerate() {
        let chord = progression[(c + rng.below(2) as usize) % progression.len()];
        for interval in chord {
            let f = 440.0 * 2f64.powf((f64::from(root + interval) - 69.0) / 12.0);
            let end = (start + chord_len).min(samples.len());
            for (i, out) in chords.iter_mut().enumerate().take(end).skip(start) {
                let t = ((i - start) % strike) as f64 / rate;
                let ts = i as f64 / rate;
                let env = (-t / 0.8).exp() * (t / 0.005).min(1.0);
                let tone: f64 = (1..=8).map(|h| (2.0 * PI * f * h as f64 * ts).sin() / h as f64).sum();
                *out += env * tone;
            }
        }
    }
    let rms = (chords.iter().map(|x| x * x).sum::<f64>() / chords.len().max(1) as f64).sqrt();
    let gain = voice_rms / 10f64.powf(under_db / 20.0) / rms.max(1e-12);
    for (s, c) in samples.iter_mut().zip(chords) {
        *s += (c * gain) as f32;
    }
}

fn normalise(samples: &mut [f32], peak: f32) {
    let max = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    if max > 0.0 {
        samples.iter_mut().for_each(|s| *s *= peak / max);
    }
}

/// SplitMix64: the same numbers on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn uniform_in(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn gaussian(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * PI * v).cos()
    }
}

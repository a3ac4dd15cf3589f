//! Probabilistic YIN pitch tracking: YIN's difference function
//! (de Cheveigné & Kawahara, 2002) gives every frame a few candidate
//! periods, each with the probability that it is the f0 under a prior
//! over YIN's threshold; a Viterbi path through pitch bins and an unvoiced
//! state then picks, for the whole take at once, the candidate sequence
//! that a voice could have sung (pYIN: Mauch & Dixon, 2014). Continuity is
//! what resists octave errors and noise: a wrong candidate in a few frames
//! cannot pull the path an octave away and back.
//!
//! Continuity cannot tell a voice from its own octave, though: a path
//! that follows twice the period (a backing chord an octave below makes
//! that period the more periodic one) or half of it (a phone's high-pass
//! leaves a low voice's even harmonics) is just as smooth. Two corrections
//! follow the Viterbi path: a frame whose double or triple period dips
//! much deeper gives its probability to that multiple (the shorter period
//! was a harmonic), and [`super::octave`] moves whole voiced runs by an
//! octave or a twelfth into the range the rest of the take is sung in.
//! A run the difference function cannot settle, a low voice without its
//! fundamental picked up an octave high after a dropout, is settled by its
//! harmonics ([`super::harmonic_octave`]).
//!
//! Nor can YIN hear a note about as loud as broadband noise around it: the
//! noise fills the difference function as much as the note does. The
//! stretches the path leaves unvoiced are heard again in the spectrum by
//! [`super::buried`], where such a note's harmonics still stand clear.
//!
//! Frame alignment: a frame's `time` is the centre of the samples its
//! estimate depends on, so a pitch change at t shows up at t (± half a
//! hop), not one hop late as with trackers that stamp a frame with its end.

use super::candidate::{Candidate, DEPTH_FLOOR};

/// Tracker parameters; the defaults cover the singing voice.
#[derive(Debug, Clone, Copy)]
pub struct PitchSettings {
    /// Lowest f0 searched: below a bass's low E2 (82 Hz).
    pub min_hz: f64,
    /// Highest f0 searched: above a soprano's high C6 (1047 Hz).
    pub max_hz: f64,
    /// 10 ms hops: short enough to follow ornaments, long enough to be cheap.
    pub hop_seconds: f64,
    /// YIN's integration window: longer averages out more noise, shorter
    /// follows faster changes.
    pub window_seconds: f64,
    /// A frame more than this many dB below the loudest frame is not
    /// voiced (breath, room tone and reverb tails are quieter).
    pub dynamic_range_db: f64,
    /// Probability per frame of switching between voiced and unvoiced.
    pub switch_probability: f64,
    /// Largest pitch change between two frames, in semitones.
    pub max_step_semitones: f64,
}

impl Default for PitchSettings {
    fn default() -> Self {
        Self {
            min_hz: 65.0,
            max_hz: 1100.0,
            hop_seconds: 0.010,
            window_seconds: 0.040,
            dynamic_range_db: 35.0,
            switch_probability: 0.01,
            max_step_semitones: 5.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PitchFrame {
    /// Centre of the analysed samples, in seconds.
    pub time: f64,
    /// Estimated f0 in Hz, when voiced.
    pub hz: Option<f64>,
    /// 0 = perfectly periodic, 1 = noise (YIN's normalised difference at
    /// the chosen period, or its lowest dip when unvoiced).
    pub aperiodicity: f64,
    pub rms_db: f64,
}

/// Pitch bins of the path: 20 cents apart.
const BINS_PER_SEMITONE: f64 = 5.0;
/// Prior over YIN's threshold: Beta(2, 18), mean 0.1 (pYIN's choice).
const THRESHOLD_BETA: f64 = 18.0;
/// Share of the threshold prior left over when no dip falls under a
/// threshold that the lowest dip still gets (pYIN's absolute-minimum rule).
const ABSOLUTE_MINIMUM_SHARE: f64 = 0.01;

/// A shorter period whose double or triple dips this much deeper (or
/// more) is a harmonic of the voice, not its f0: a voice's own period and
/// its multiples dip about equally deep (checked on the evaluation set:
/// 95 % of correctly tracked frames stay above 0.75).
const HARMONIC_DEPTH_RATIO: f64 = 0.4;
/// A period only a few samples long dips less deep than it is: the
/// parabola through three samples misses a narrow minimum. A soprano's
/// D#5 (23 samples at 16 kHz) dips 0.05–0.06 at her own period and 0.02
/// at its double, with no harmonic missing, and was followed an octave
/// low for 0.3 s of a 0.8 s top note, leaving it too short to count. So
/// both depths count from this over the period in samples when that is
/// above `DEPTH_FLOOR`: 0.035 at 23 samples, no change for periods of
/// 40 samples or more (400 Hz and under at 16 kHz), where the voices that
/// lose their fundamental sing. Looked at: the additive seeds +800000, +0 and +200000 (a floor
/// of 0.03 for every period mended the soprano but lost an alto's F#3
/// through a high-pass, 56 for 54): +800000 174 → 175/180, +0 and
/// +200000 unchanged (179, 179). Held out, all unchanged: +300000 176,
/// +700000 178 and +1200000 177 of 180, the sampled sets 51/54 and
/// 106/108; +1600000, run only with the floor, 178/180.
const SHORT_PERIOD_FLOOR: f64 = 0.8;

pub fn track_pitch(samples: &[f32], sample_rate: u32, settings: &PitchSettings) -> Vec<PitchFrame> {
    let rate = f64::from(sample_rate);
    let tau_min = (rate / settings.max_hz).floor().max(2.0) as usize;
    let tau_max = (rate / settings.min_hz).ceil() as usize;
    let window = ((settings.window_seconds * rate).round() as usize).max(tau_max);
    let frame_len = window + tau_max + 1;
    let hop = ((rate * settings.hop_seconds).round() as usize).max(1);
    if samples.len() < frame_len {
        return Vec::new();
    }

    let count = (samples.len() - frame_len) / hop + 1;
    let bins = Bins::new(rate, settings);
    let mut rms = Vec::with_capacity(count);
    let mut candidates = Vec::with_capacity(count);
    let mut yin = Yin::new(window, tau_max);
    for k in 0..count {
        let frame = &samples[k * hop..k * hop + frame_len];
        let energy = yin.difference(frame);
        rms.push(10.0 * (energy / window as f64).max(1e-12).log10());
        let mut found = yin.candidates(tau_min, tau_max);
        found.iter_mut().for_each(|c| c.bin = bins.of(c.lag));
        candidates.push(found);
    }

    let loudest = rms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let floor = (loudest - settings.dynamic_range_db).max(-60.0);
    let path = bins.viterbi(&candidates, &rms, floor, settings);
    let mut chosen: Vec<Option<Candidate>> =
        path.iter().zip(&candidates).map(|(bin, found)| bin.and_then(|bin| nearest(found, bin))).collect();
    super::octave::correct_octaves(&mut chosen, &candidates, rate);

    let mut frames: Vec<PitchFrame> = (0..count)
        .map(|k| {
            let chosen = chosen[k];
            let lag = chosen.map_or(tau_max as f64, |c| c.lag);
            let lowest = candidates[k].iter().map(|c| c.value).fold(1.0, f64::min);
            // The evidence for lag τ lies in [start, start + window + τ].
            PitchFrame {
                time: ((k * hop) as f64 + (window as f64 + lag) / 2.0) / rate,
                hz: chosen.map(|c| rate / c.lag),
                aperiodicity: chosen.map_or(lowest, |c| c.value).clamp(0.0, 1.0),
                rms_db: rms[k],
            }
        })
        .collect();
    super::harmonic_octave::lift_chord_periods(samples, sample_rate, &mut frames, settings);
    super::harmonic_octave::fit_octaves(samples, sample_rate, &mut frames, settings);
    super::octave::lift_shared_periods(&mut frames);
    clearer_of_moved_periods(&mut frames, &chosen, &candidates, rate);
    super::buried::hear_buried_notes(samples, sample_rate, &mut frames, floor, settings);
    frames
}

/// YIN's difference function, d(τ) = Σ (x[j] − x[j+τ])², computed as
/// e(0) + e(τ) − 2·r(τ) from running energies and a vectorised
/// correlation, then cumulative-mean normalised.
struct Yin {
    window: usize,
    squares: Vec<f64>,
    /// r(τ) = Σ x[j]·x[j+τ] over the window.
    correlation: Vec<f32>,
    cmnd: Vec<f64>,
}

impl Yin {
    fn new(window: usize, tau_max: usize) -> Self {
        Self {
            window,
            squares: vec![0.0; window + tau_max + 2],
            correlation: vec![0.0; tau_max + 2],
            cmnd: vec![1.0; tau_max + 2],
        }
    }

    /// Fills the normalised difference for `frame`; returns the energy (sum
    /// of squares) of its first window.
    fn difference(&mut self, frame: &[f32]) -> f64 {
        let w = self.window;
        self.squares[0] = 0.0;
        for (j, x) in frame.iter().enumerate() {
            self.squares[j + 1] = self.squares[j] + f64::from(*x) * f64::from(*x);
        }
        let head = &frame[..w];
        let e0 = self.squares[w];
        let lags = self.cmnd.len().min(frame.len() - w + 1);
        correlate(head, frame, &mut self.correlation[..lags]);
        let mut running = 0.0;
        self.cmnd[0] = 1.0;
        for tau in 1..lags {
            let e_tau = self.squares[tau + w] - self.squares[tau];
            let d = (e0 + e_tau - 2.0 * f64::from(self.correlation[tau])).max(0.0);
            running += d;
            self.cmnd[tau] = if running > 0.0 { d * tau as f64 / running } else { 1.0 };
        }
        e0
    }

    /// The dips between `tau_min` and `tau_max` with their probabilities:
    /// under a threshold s, YIN picks the first dip below s; a dip's
    /// probability is the prior mass of the thresholds that pick it. Dips
    /// no threshold picks stay in the list with probability 0, as evidence
    /// for the octave checks.
    fn candidates(&self, tau_min: usize, tau_max: usize) -> Vec<Candidate> {
        let d = &self.cmnd;
        let mut out: Vec<Candidate> = Vec::new();
        let mut lowest_before = 1.0f64;
        for tau in tau_min.max(1)..tau_max {
            if !(d[tau] < d[tau - 1] && d[tau] <= d[tau + 1]) {
                continue;
            }
            let (a, b, c) = (d[tau - 1], d[tau], d[tau + 1]);
            let denom = a - 2.0 * b + c;
            let shift = if denom.abs() > 1e-12 { (0.5 * (a - c) / denom).clamp(-0.5, 0.5) } else { 0.0 };
            let value = (b - 0.25 * (a - c) * shift).max(0.0);
            let probability =
                if value < lowest_before { threshold_cdf(lowest_before) - threshold_cdf(value) } else { 0.0 };
            lowest_before = lowest_before.min(value);
            out.push(Candidate { lag: tau as f64 + shift, value, probability, bin: None });
        }
        give_harmonics_probability_to_their_multiple(&mut out);
        let picked: f64 = out.iter().map(|c| c.probability).sum();
        let left = (1.0 - picked).max(0.0);
        if let Some(deepest) = out.iter_mut().min_by(|x, y| x.value.total_cmp(&y.value)) {
            deepest.probability += left * ABSOLUTE_MINIMUM_SHARE;
        }
        out
    }
}

/// YIN's first-dip rule takes a harmonic for the f0 when the fundamental
/// is weak (a high-pass, a phone): the harmonic's period dips first, the
/// true period later and deeper. Such a dip's probability goes to its
/// double or triple.
fn give_harmonics_probability_to_their_multiple(dips: &mut [Candidate]) {
    for i in 0..dips.len() {
        let lag = dips[i].lag;
        let floor = DEPTH_FLOOR.max(SHORT_PERIOD_FLOOR / lag);
        let depth = dips[i].value.max(floor);
        let deeper = (i + 1..dips.len()).find(|&j| {
            (dips[j].is_multiple(lag, 2.0) || dips[j].is_multiple(lag, 3.0))
                && dips[j].value.max(floor) <= HARMONIC_DEPTH_RATIO * depth
        });
        if let Some(j) = deeper {
            dips[j].probability += std::mem::take(&mut dips[i].probability);
        }
    }
}

/// A frame the spectral passes moved to another period is as periodic as
/// the clearer of its two periods: where the difference function dips at
/// the new one too, and deeper, the frame takes that dip's value. A period
/// twice the one read is at least as periodic when it is the voice's
/// (its odd harmonics break the shorter one); unchanged, a run moved down
/// an octave kept the value of the period it was read at, and a tenor's
/// C#3, read at C#4 in 10 dB room noise and moved back down, was too
/// aperiodic to be sung (a median of 0.51; 0.17 at its own period).
/// With it, take by take: looked at, +0 to +1200000 (180, 179, 178, 180,
/// 178 and 178/180) and their stress sets unchanged, the sampled FluidR3
/// voices 51 → 52/54 (a bass through a phone band and AAC, 44–54 for
/// 42–54); held out, +300000 177 → 178/180 (the tenor above, looked at),
/// +700000, +1600000, +2000000, +2400000 and +2800000 (179, 179, 179, 178
/// and 178/180) and the held-out soundfonts (106/108) unchanged.
fn clearer_of_moved_periods(
    frames: &mut [PitchFrame],
    chosen: &[Option<Candidate>],
    candidates: &[Vec<Candidate>],
    rate: f64,
) {
    for ((frame, read), found) in frames.iter_mut().zip(chosen).zip(candidates) {
        let (Some(hz), Some(read)) = (frame.hz, read) else { continue };
        let lag = rate / hz;
        if read.is_multiple(lag, 1.0) {
            continue;
        }
        if let Some(dip) = found.iter().filter(|c| c.is_multiple(lag, 1.0)).map(|c| c.value).reduce(f64::min) {
            frame.aperiodicity = frame.aperiodicity.min(dip.clamp(0.0, 1.0));
        }
    }
}

/// The frame's candidate the path's bin stands for.
fn nearest(candidates: &[Candidate], bin: usize) -> Option<Candidate> {
    candidates
        .iter()
        .filter(|c| c.probability > 1e-6)
        .filter_map(|c| c.bin.map(|b| (b.abs_diff(bin), c)))
        .filter(|(distance, _)| *distance <= 1)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| *c)
}

/// P(threshold < x) under Beta(2, β): 1 − (1 − x)^β (1 + βx).
fn threshold_cdf(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    1.0 - (1.0 - x).powf(THRESHOLD_BETA) * (1.0 + THRESHOLD_BETA * x)
}

/// Lags whose sums `correlate` runs side by side.
const LAGS_AT_ONCE: usize = 4;

/// `out[τ]` = Σ head[j]·frame[τ+j], every lag summed as `dot` sums it,
/// `LAGS_AT_ONCE` lags at a time: one lag's eight lanes wait on their own
/// additions, while four lags' sums are independent and keep the CPU's
/// adders busy. The same sums, bit for bit; the whole analysis 2–3 %
/// faster on the looked-at seeds +1200000 (`--no-anchors`, alternating
/// idle runs), too little to show beside the path search's gain on the
/// held-out ones.
fn correlate(head: &[f32], frame: &[f32], out: &mut [f32]) {
    let w = head.len();
    let done = out.len() / LAGS_AT_ONCE * LAGS_AT_ONCE;
    for (block, sums) in out[..done].chunks_exact_mut(LAGS_AT_ONCE).enumerate() {
        let first = block * LAGS_AT_ONCE;
        let lags: [&[f32]; LAGS_AT_ONCE] = std::array::from_fn(|k| &frame[first + k..first + k + w]);
        sums.copy_from_slice(&dots(head, lags));
    }
    for (tau, sum) in out.iter_mut().enumerate().skip(done) {
        *sum = dot(head, &frame[tau..tau + w]);
    }
}

/// `dot(a, b)` for each b, the lanes of each kept apart.
fn dots<const K: usize>(a: &[f32], bs: [&[f32]; K]) -> [f32; K] {
    let mut lanes = [[0f32; 8]; K];
    let mut chunks = bs.map(|b| b.chunks_exact(8));
    for x in a.chunks_exact(8) {
        for (lanes, chunks) in lanes.iter_mut().zip(&mut chunks) {
            let Some(y) = chunks.next() else { continue };
            for i in 0..8 {
                lanes[i] += x[i] * y[i];
            }
        }
    }
    let at = a.len() / 8 * 8;
    let tails: [f32; K] = std::array::from_fn(|k| a[at..].iter().zip(&bs[k][at..]).map(|(x, y)| x * y).sum());
    std::array::from_fn(|k| lanes[k].iter().sum::<f32>() + tails[k])
}

/// Σ a[j]·b[j] in eight independent lanes, which the compiler turns into
/// SIMD (a single running sum would have to stay sequential).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let [sum] = dots(a, [b]);
    sum
}

/// The pitch grid the path moves on.
struct Bins {
    rate: f64,
    /// MIDI number of bin 0.
    base: f64,
    count: usize,
}

impl Bins {
    fn new(rate: f64, settings: &PitchSettings) -> Self {
        let base = crate::domain::hz_to_midi(settings.min_hz);
        let top = crate::domain::hz_to_midi(settings.max_hz);
        Self { rate, base, count: ((top - base) * BINS_PER_SEMITONE).ceil() as usize + 1 }
    }

    /// The bin of a period of `lag` samples.
    fn of(&self, lag: f64) -> Option<usize> {
        let midi = crate::domain::hz_to_midi(self.rate / lag);
        let bin = ((midi - self.base) * BINS_PER_SEMITONE).round();
        (bin >= 0.0 && (bin as usize) < self.count).then_some(bin as usize)
    }

    /// The most probable sequence of states (a bin, or `None` for
    /// unvoiced) given every frame's candidates.
    fn viterbi(
        &self,
        frames: &[Vec<Candidate>],
        rms: &[f64],
        floor: f64,
        settings: &PitchSettings,
    ) -> Vec<Option<usize>> {
        self.viterbi_with(frames, rms, floor, settings, predecessors_side_by_side)
    }

    /// `viterbi` with the search for each bin's best predecessor given.
    fn viterbi_with(
        &self,
        frames: &[Vec<Candidate>],
        rms: &[f64],
        floor: f64,
        settings: &PitchSettings,
        predecessors: fn(&Steps, &[f64], &mut [f64], &mut [u16]),
    ) -> Vec<Option<usize>> {
        let m = self.count;
        let unvoiced = m;
        let reach = (settings.max_step_semitones * BINS_PER_SEMITONE).round() as usize;
        // Triangular weights over the step, as pYIN.
        let norm: f64 = (0..=2 * reach).map(|i| (reach + 1 - i.abs_diff(reach)) as f64).sum();
        let steps = Steps {
            stay: (1.0 - settings.switch_probability).ln(),
            cost: (0..=reach).map(|k| ((reach + 1 - k) as f64 / norm).ln()).collect(),
        };
        // The unvoiced state stands for pYIN's unvoiced twin of every bin,
        // which remembers the pitch: it pays the same transition as a
        // voiced bin that holds its pitch.
        let unvoiced_stay = steps.stay + steps.cost[0];
        // Voiced → unvoiced and back cost the same.
        let switch = settings.switch_probability.ln() + steps.cost[0];

        let mut score = vec![f64::NEG_INFINITY; m + 1];
        let mut next = vec![f64::NEG_INFINITY; m + 1];
        let mut emission = vec![0f64; m];
        let (mut best, mut from) = (vec![0f64; m], vec![0u16; m]);
        // A bin no candidate falls in.
        let no_fit = (0f64 + 1e-12).ln();
        let mut back: Vec<u16> = Vec::with_capacity(frames.len() * (m + 1));
        score[unvoiced] = 0.0;
        for (k, candidates) in frames.iter().enumerate() {
            emission.iter_mut().for_each(|e| *e = 0.0);
            let quiet = rms[k] < floor;
            let mut voiced = 0.0;
            if !quiet {
                for c in candidates {
                    if let Some(bin) = c.bin {
                        emission[bin] += c.probability;
                        voiced += c.probability;
                    }
                }
            }
            let voiced = voiced.min(1.0);
            let best_voiced = (0..m).max_by(|a, b| score[*a].total_cmp(&score[*b])).unwrap_or(0);
            best.fill(score[unvoiced] + switch);
            from.fill(unvoiced as u16);
            predecessors(&steps, &score[..m], &mut best, &mut from);
            for j in 0..m {
                let fit = if emission[j] == 0.0 { no_fit } else { (emission[j] + 1e-12).ln() };
                next[j] = best[j] + fit;
                back.push(from[j]);
            }
            let (from_voiced, from_unvoiced) = (score[best_voiced] + switch, score[unvoiced] + unvoiced_stay);
            let (best, from) =
                if from_voiced > from_unvoiced { (from_voiced, best_voiced) } else { (from_unvoiced, unvoiced) };
            next[unvoiced] = best + ((1.0 - voiced) / m as f64 + 1e-12).ln();
            back.push(from as u16);
            std::mem::swap(&mut score, &mut next);
        }

        let mut state = (0..=m).max_by(|a, b| score[*a].total_cmp(&score[*b])).unwrap_or(unvoiced);
        let mut path = vec![None; frames.len()];
        for k in (0..frames.len()).rev() {
            path[k] = (state != unvoiced).then_some(state);
            state = usize::from(back[k * (m + 1) + state]);
        }
        path
    }
}

/// What a voiced bin pays to hold its pitch (`stay`) plus to move by k
/// bins (`cost[k]`, k up to the reach).
struct Steps {
    stay: f64,
    cost: Vec<f64>,
}

/// Each bin j's best predecessor among the bins i within reach, over what
/// `best`/`from` hold already (the unvoiced state), the first of equals in
/// rising i. Walked one step i − j at a time over every j, so that the
/// bins' choices, independent of each other, run side by side: the path
/// search took about half of `track_pitch` when each bin weighed its
/// neighbours one after the other. The same choices, so every figure is
/// unchanged take for take. Speed, ours alone on the looked-at seeds
/// +1200000 (`--no-anchors`, alternating idle runs): 223–238× realtime
/// before, 295–306× after. Held out, in one idle anchored run after it:
/// +1600000 293× (Praat 261×) and +2000000 260× (Praat 253×), where the
/// run before it had ours under Praat (128× to 147×, 122× to 149×, on
/// another machine).
fn predecessors_side_by_side(steps: &Steps, score: &[f64], best: &mut [f64], from: &mut [u16]) {
    let (m, reach) = (score.len() as isize, steps.cost.len() as isize - 1);
    for i_minus_j in -reach..=reach {
        let cost = steps.cost[i_minus_j.unsigned_abs()];
        let js = i_minus_j.min(0).unsigned_abs()..(m - i_minus_j.max(0)).max(0) as usize;
        let is = js.start.wrapping_add_signed(i_minus_j)..js.end.wrapping_add_signed(i_minus_j);
        for ((best_j, from_j), (i, score_i)) in
            best[js.clone()].iter_mut().zip(&mut from[js]).zip(is.clone().zip(&score[is]))
        {
            let s = score_i + steps.stay + cost;
            let better = s > *best_j;
            *best_j = if better { s } else { *best_j };
            *from_j = if better { i as u16 } else { *from_j };
        }
    }
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
    fn correlating_lags_side_by_side_sums_each_lag_exactly_as_one_at_a_time() {
        // A window that is no multiple of eight lanes and lags that are no
        // multiple of the block: the remainders take part too.
        let frame: Vec<f32> = (0..700).map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 0.3).collect();
        let w = 643;
        let mut side_by_side = vec![0.0; 700 - w + 1];
        correlate(&frame[..w], &frame, &mut side_by_side);
        for (tau, sum) in side_by_side.iter().enumerate() {
            let one = dot(&frame[..w], &frame[tau..tau + w]);
            assert_eq!(sum.to_bits(), one.to_bits(), "lag {tau}: {sum} against {one}");
        }
    }

    /// The aperiodicity of a frame read at a 58-sample period (0.5 deep)
    /// once `clearer_of_moved_periods` has seen it at `lag`, with dips at
    /// 58 and 116 samples, 0.5 and `double` deep.
    fn aperiodicity_at(lag: f64, double: f64) -> f64 {
        let rate = 16_000.0;
        let dips = vec![Candidate::evidence(58.0, 0.5), Candidate::evidence(116.0, double)];
        let mut frames = [PitchFrame { time: 0.0, hz: Some(rate / lag), aperiodicity: 0.5, rms_db: -20.0 }];
        clearer_of_moved_periods(&mut frames, &[Some(dips[0])], &[dips], rate);
        frames[0].aperiodicity
    }

    #[test]
    fn a_frame_moved_to_a_deeper_dip_is_as_periodic_as_that_dip() {
        // Moved down an octave, to the period whose dip is the deeper.
        assert_eq!(aperiodicity_at(116.0, 0.3), 0.3);
    }

    #[test]
    fn a_frame_keeps_the_clearer_reading_of_its_two_periods() {
        // Moved to a shallower dip, or not moved at all.
        assert_eq!(aperiodicity_at(116.0, 0.7), 0.5);
        assert_eq!(aperiodicity_at(58.0, 0.3), 0.5);
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
    fn a_short_period_keeps_its_probability_where_a_long_one_gives_it_to_its_double() {
        // The same depths, 0.055 at the period and 0.02 at its double: at
        // 23 samples (a D#5 at 16 kHz) the parabola misjudges the narrow
        // dip, at 86 samples (an F#3) the shallower dip is a harmonic.
        for (lag, moves) in [(23.0, false), (86.0, true)] {
            let mut dips = [
                Candidate { lag, value: 0.055, probability: 0.9, bin: None },
                Candidate { lag: 2.0 * lag, value: 0.02, probability: 0.05, bin: None },
            ];
            give_harmonics_probability_to_their_multiple(&mut dips);
            assert_eq!(dips[0].probability == 0.0, moves, "period of {lag} samples: {dips:?}");
        }
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
    /// The predecessor search as first written: each bin looks over the
    /// bins within reach one after the other.
    fn predecessors_one_at_a_time(steps: &Steps, score: &[f64], best: &mut [f64], from: &mut [u16]) {
        let reach = steps.cost.len() - 1;
        for j in 0..score.len() {
            let lo = j.saturating_sub(reach);
            for (i, score_i) in score.iter().enumerate().take(j + reach + 1).skip(lo) {
                let s = score_i + steps.stay + steps.cost[i.abs_diff(j)];
                if s > best[j] {
                    (best[j], from[j]) = (s, i as u16);
                }
            }
        }
    }

    #[test]
    fn the_path_is_the_one_a_search_one_bin_at_a_time_finds() {
        // Frames from a sung glide and from noise (candidates everywhere,
        // frames with none, quiet ones, equal scores), on the pitch grid.
        let settings = PitchSettings::default();
        let bins = Bins::new(16_000.0, &settings);
        let mut seed = 0x2545_f491_u64;
        let mut random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut frames, mut rms) = (Vec::new(), Vec::new());
        for k in 0..600 {
            let sung = k < 300;
            let count = if sung { 2 } else { (random() * 5.0) as usize };
            let candidates: Vec<Candidate> = (0..count)
                .map(|c| {
                    let lag = if sung && c == 0 { 120.0 - k as f64 * 0.2 } else { 15.0 + random() * 230.0 };
                    let probability = if sung && c == 0 { 0.7 } else { random() * 0.3 };
                    Candidate { lag, value: random(), probability, bin: bins.of(lag) }
                })
                .collect();
            frames.push(candidates);
            rms.push(if k % 97 < 5 { -70.0 } else { -20.0 - random() * 20.0 });
        }
        // A fork: two bins equally likely, then the note between them.
        // Either way costs the same; the lower bin, first of equals, wins.
        let lag_of = |bin: usize| (150..2500).map(|l| l as f64 / 10.0).find(|&lag| bins.of(lag) == Some(bin));
        let (low, mid, high) =
            (lag_of(95).expect("bin 95"), lag_of(100).expect("bin 100"), lag_of(105).expect("bin 105"));
        let at = |lag: f64, probability: f64| Candidate { lag, value: 0.1, probability, bin: bins.of(lag) };
        frames.push(vec![at(low, 0.45), at(high, 0.45)]);
        frames.extend([vec![at(mid, 0.9)], vec![at(mid, 0.9)]]);
        rms.extend([-20.0; 3]);
        let side_by_side = bins.viterbi(&frames, &rms, -50.0, &settings);
        assert!(side_by_side.iter().filter(|bin| bin.is_some()).count() > 250, "the glide is voiced");
        assert_eq!(side_by_side[600..], [Some(95), Some(100), Some(100)], "the fork");
        let one_at_a_time = bins.viterbi_with(&frames, &rms, -50.0, &settings, predecessors_one_at_a_time);
        assert_eq!(side_by_side, one_at_a_time);
    }
}

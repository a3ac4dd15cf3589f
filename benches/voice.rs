//! How well the analyser hears a singer, next to Praat and pYIN on the same
//! takes in the same run, and how fast the recording is converted, next to
//! ffmpeg. No services needed:
//!
//!   cargo bench --bench voice [-- [FILTER] [--no-anchors] [--seed-offset=N]]
//!
//! 1. The evaluation set (tests/common/voices.rs: six voices from bass to
//!    soprano, three melodies each under ten conditions, four negatives;
//!    then a stress set,
//!    scored apart, with louder backing chords) is written as 44.1 kHz
//!    WAV files to target/voice-eval/. Ours runs through the code the
//!    pipeline runs: convert (decode, resample to 16 kHz, WAV) then analyse.
//!    The anchors run in Python (scripts/voice_anchors.py: Praat's
//!    autocorrelation tracker and librosa's pYIN, range rule for both: 5th
//!    to 95th percentile of voiced frames), in the environment
//!    scripts/anchors-venv.sh installs; their frames are also put through
//!    our range rule, to tell the tracker's share from the rule's.
//! 2. Per condition and tracker: takes with both ends within a semitone,
//!    mean absolute error of each end, the worst error, voicing recall and
//!    false alarms per 10 ms frame, gross pitch errors (voiced in both,
//!    more than a semitone off), and speed as × realtime on one core.
//! 3. Conversion of a 5 s phone Opus take and a 20 s 44.1 kHz stereo WAV,
//!    against `ffmpeg -ac 1 -ar 16000` of the same files (process start
//!    included, as the stage's own time includes everything).
//!
//! FILTER keeps only takes whose name contains it; `--no-anchors` skips
//! Praat and pYIN (a quick look at ours while tuning); `--seed-offset=N`
//! scores the same voices and conditions on other melodies (held-out
//! takes: a change tuned on the set should hold there too).

#[path = "../tests/common/voices.rs"]
#[allow(dead_code)]
mod voices;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use orakgarak::audio::{read_wav_mono, sung_range, write_wav_mono, PitchFrame};
use orakgarak::domain::hz_to_midi;
use orakgarak::stages::{analyze_samples, convert_recording, ConvertSettings};
use voices::{Expected, Take};

const SETTINGS: ConvertSettings = ConvertSettings {
    sample_rate: 16_000,
    min_duration: Duration::from_secs(1),
    max_duration: Duration::from_secs(600),
};

/// What one tracker made of one take.
struct Track {
    /// (time, f0) per frame, f0 `None` when unvoiced.
    frames: Vec<(f64, Option<f64>)>,
    /// Lowest and highest note, or why there is no range.
    range: Result<(i32, i32), String>,
    seconds: f64,
}

fn main() -> anyhow::Result<()> {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/voice-eval");
    std::fs::create_dir_all(&dir)?;
    let offset = match std::env::args().find_map(|a| a.strip_prefix("--seed-offset=").map(str::to_owned)) {
        Some(n) => n.parse::<u64>().with_context(|| format!("--seed-offset={n} is not a whole number"))?,
        None => 0,
    };
    let set: Vec<Take> = voices::evaluation_set(offset)
        .into_iter()
        .chain(voices::stress_set(offset))
        .filter(|t| t.name.contains(&filter))
        .collect();
    let mut paths = Vec::new();
    for take in &set {
        let path = dir.join(format!("{}.wav", take.name));
        std::fs::write(&path, write_wav_mono(&take.samples, take.rate))?;
        paths.push(path);
    }
    let audio_seconds: f64 = set.iter().map(|t| t.samples.len() as f64 / f64::from(t.rate)).sum();
    println!(
        "evaluation set (seed offset {offset}): {} takes, {:.0} s of audio, in {}",
        set.len(),
        audio_seconds,
        dir.display()
    );

    let mut tracks: BTreeMap<&str, Vec<Track>> = BTreeMap::new();
    let mut failures = Vec::new();
    for (take, path) in set.iter().zip(&paths) {
        let track = ours(path)?;
        if let (Expected::Range { lowest, highest }, Ok((lo, hi))) = (take.expected, &track.range) {
            if (lo - lowest).abs() > 1 || (hi - highest).abs() > 1 {
                failures.push(format!("  {:<28} expected {lowest}–{highest}, got {lo}–{hi}", take.name));
            }
        } else if let (Expected::Range { .. }, Err(reason)) = (take.expected, &track.range) {
            failures.push(format!("  {:<28} refused: {reason}", take.name));
        } else if let (Expected::Refused, Ok((lo, hi))) = (take.expected, &track.range) {
            failures.push(format!("  {:<28} should be refused, got {lo}–{hi}", take.name));
        }
        tracks.entry("orakgarak").or_default().push(track);
    }

    if !std::env::args().any(|a| a == "--no-anchors") {
        for (name, track) in anchors(&root, &paths)? {
            tracks.entry(name).or_default().push(track);
        }
    }
    report(&set, &tracks);
    if !failures.is_empty() {
        println!("\norakgarak misses ({}):\n{}", failures.len(), failures.join("\n"));
    }
    println!("\norakgarak refusals:");
    for (take, track) in set.iter().zip(&tracks["orakgarak"]) {
        if let (Expected::Refused, Err(reason)) = (take.expected, &track.range) {
            println!("  {:<28} {reason}", take.name);
        }
    }
    if filter.is_empty() {
        conversion(&root, &dir, &set)?;
    }
    Ok(())
}

/// The pipeline's own path: convert the file as the convert stage does,
/// then analyse the WAV as the analyze stage does.
fn ours(path: &Path) -> anyhow::Result<Track> {
    let bytes = std::fs::read(path)?;
    let wav = match convert_recording(bytes, Some("wav"), &SETTINGS) {
        Ok(wav) => wav,
        Err(e) => return Ok(Track { frames: Vec::new(), range: Err(e.to_string()), seconds: 0.0 }),
    };
    let converted = Instant::now();
    let (samples, rate) = read_wav_mono(&wav)?;
    let (frames, profile) = analyze_samples(&samples, rate);
    let seconds = converted.elapsed().as_secs_f64();
    Ok(Track {
        frames: frames.iter().map(|f| (f.time, f.hz)).collect(),
        range: profile.map(|p| (p.range.lowest.midi(), p.range.highest.midi())).map_err(|e| e.to_string()),
        seconds,
    })
}

#[derive(serde::Deserialize)]
struct AnchorTrack {
    times: Vec<f64>,
    f0: Vec<f64>,
    seconds: f64,
}

#[derive(serde::Deserialize)]
struct AnchorLine {
    file: String,
    praat: AnchorTrack,
    pyin: AnchorTrack,
}

fn anchors(root: &Path, paths: &[PathBuf]) -> anyhow::Result<Vec<(&'static str, Track)>> {
    let venv = Command::new(root.join("scripts/anchors-venv.sh")).output().context("scripts/anchors-venv.sh")?;
    anyhow::ensure!(venv.status.success(), "scripts/anchors-venv.sh failed: {}", String::from_utf8_lossy(&venv.stderr));
    let python = String::from_utf8(venv.stdout)?.lines().last().unwrap_or_default().to_owned();
    let out = Command::new(&python)
        .arg(root.join("scripts/voice_anchors.py"))
        .args(paths)
        .output()
        .with_context(|| format!("running {python}"))?;
    anyhow::ensure!(out.status.success(), "voice_anchors.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut tracks = Vec::new();
    for (line, path) in String::from_utf8(out.stdout)?.lines().zip(paths) {
        let line: AnchorLine = serde_json::from_str(line)?;
        anyhow::ensure!(
            Path::new(&line.file) == path,
            "anchor answered for {} instead of {}",
            line.file,
            path.display()
        );
        for (name, ruled, track) in
            [("praat", "praat + our range rule", line.praat), ("pyin", "pyin + our range rule", line.pyin)]
        {
            let frames: Vec<(f64, Option<f64>)> =
                track.times.iter().zip(&track.f0).map(|(t, f)| (*t, (*f > 0.0).then_some(*f))).collect();
            tracks.push((ruled, Track { range: our_rule(&frames), frames: frames.clone(), seconds: track.seconds }));
            tracks.push((name, Track { range: percentile_rule(&frames), frames, seconds: track.seconds }));
        }
    }
    Ok(tracks)
}

/// The anchors' rule: 5th and 95th percentile of the voiced frames, with
/// at least half a second of them.
fn percentile_rule(frames: &[(f64, Option<f64>)]) -> Result<(i32, i32), String> {
    let mut midi: Vec<f64> = frames.iter().filter_map(|(_, f)| f.map(hz_to_midi)).collect();
    if midi.len() < 50 {
        return Err(format!("{} voiced frames", midi.len()));
    }
    midi.sort_by(f64::total_cmp);
    let at = |q: f64| midi[((midi.len() - 1) as f64 * q).round() as usize].round() as i32;
    Ok((at(0.05), at(0.95)))
}

fn our_rule(frames: &[(f64, Option<f64>)]) -> Result<(i32, i32), String> {
    let hop = frames.get(1).zip(frames.first()).map_or(0.01, |(b, a)| b.0 - a.0);
    let frames: Vec<PitchFrame> =
        frames.iter().map(|(time, hz)| PitchFrame { time: *time, hz: *hz, aperiodicity: 0.0, rms_db: -20.0 }).collect();
    sung_range(&frames, hop).map(|r| (r.lowest.midi(), r.highest.midi()))
}

#[derive(Default)]
struct Score {
    takes: usize,
    both_within_one: usize,
    low_error: f64,
    high_error: f64,
    worst: i32,
    refused: usize,
    voiced_frames: usize,
    hits: usize,
    unvoiced_frames: usize,
    false_alarms: usize,
    gross_errors: usize,
    audio_seconds: f64,
    seconds: f64,
}

impl Score {
    fn add(&mut self, take: &Take, track: &Track) {
        self.takes += 1;
        self.audio_seconds += take.samples.len() as f64 / f64::from(take.rate);
        self.seconds += track.seconds;
        match (take.expected, &track.range) {
            (Expected::Range { lowest, highest }, Ok((lo, hi))) => {
                let (el, eh) = ((lo - lowest).abs(), (hi - highest).abs());
                self.both_within_one += usize::from(el <= 1 && eh <= 1);
                self.low_error += f64::from(el);
                self.high_error += f64::from(eh);
                self.worst = self.worst.max(el).max(eh);
            }
            (Expected::Range { .. }, Err(_)) => self.worst = i32::MAX,
            (Expected::Refused, Err(_)) => self.refused += 1,
            (Expected::Refused, Ok(_)) => {}
        }
        for (time, hz) in &track.frames {
            let index = (time / voices::TRUTH_HOP).round() as usize;
            let Some(truth) = take.truth_f0.get(index) else { continue };
            match (truth, hz) {
                (Some(t), Some(h)) => {
                    self.voiced_frames += 1;
                    self.hits += 1;
                    self.gross_errors += usize::from((hz_to_midi(*h) - hz_to_midi(*t)).abs() > 1.0);
                }
                (Some(_), None) => self.voiced_frames += 1,
                (None, Some(_)) => {
                    self.unvoiced_frames += 1;
                    self.false_alarms += 1;
                }
                (None, None) => self.unvoiced_frames += 1,
            }
        }
    }
}

fn report(set: &[Take], tracks: &BTreeMap<&str, Vec<Track>>) {
    let order = ["orakgarak", "praat", "pyin", "praat + our range rule", "pyin + our range rule"];
    let mut groups: Vec<&str> = Vec::new();
    for take in set {
        if !groups.contains(&take.group.as_str()) {
            groups.push(&take.group);
        }
    }
    println!(
        "\n{:<18} {:<24} {:>9} {:>8} {:>8} {:>6} {:>7} {:>7} {:>6} {:>9}",
        "condition", "tracker", "both ≤1st", "low err", "high err", "worst", "recall", "f.alarm", "gross", "×realtime"
    );
    for group in groups.iter().copied().chain(["all sung takes"]) {
        for name in order {
            let Some(tracks) = tracks.get(name) else { continue };
            let mut score = Score::default();
            for (take, track) in set.iter().zip(tracks) {
                let sung = take.expected != Expected::Refused && !take.group.starts_with("stress");
                if take.group == group || (group == "all sung takes" && sung) {
                    score.add(take, track);
                }
            }
            print_row(group, name, &score);
        }
    }
}

fn print_row(group: &str, name: &str, s: &Score) {
    let pct = |a: usize, b: usize| if b == 0 { "-".to_owned() } else { format!("{:.1}%", 100.0 * a as f64 / b as f64) };
    let scored = if group == "negatives" {
        format!("{}/{} ref", s.refused, s.takes)
    } else {
        format!("{}/{}", s.both_within_one, s.takes)
    };
    let n = s.takes.saturating_sub(s.refused).max(1) as f64;
    let worst = match s.worst {
        i32::MAX => "refused".to_owned(),
        w => format!("{w} st"),
    };
    let (low, high) = if group == "negatives" {
        ("-".to_owned(), "-".to_owned())
    } else {
        (format!("{:.2}", s.low_error / n), format!("{:.2}", s.high_error / n))
    };
    println!(
        "{:<18} {:<24} {:>9} {:>8} {:>8} {:>6} {:>7} {:>7} {:>6} {:>9.0}",
        group,
        name,
        scored,
        low,
        high,
        if group == "negatives" { "-".into() } else { worst },
        pct(s.hits, s.voiced_frames),
        pct(s.false_alarms, s.unvoiced_frames),
        pct(s.gross_errors, s.hits),
        s.audio_seconds / s.seconds.max(1e-9),
    );
}

/// Convert (decode + downmix + resample + WAV) against ffmpeg on the same
/// files, median of 15 runs each.
fn conversion(root: &Path, dir: &Path, set: &[Take]) -> anyhow::Result<()> {
    let long = set.iter().find(|t| t.name.contains("long")).context("a long take")?;
    let twenty: Vec<f32> = long.samples.iter().take(20 * long.rate as usize).copied().collect();
    let stereo = dir.join("twenty-seconds-stereo.wav");
    write_stereo(&stereo, &twenty, long.rate)?;
    println!("\nconversion to 16 kHz mono WAV, median of 15 runs, one core:");
    println!("{:<34} {:>10} {:>10} {:>16}", "file", "orakgarak", "ffmpeg", "ours / ffmpeg speed");
    for (path, ext) in [(root.join("benches/fixtures/phone-take-5s.opus"), "opus"), (stereo, "wav")] {
        let bytes = std::fs::read(&path)?;
        let ours = median(15, || {
            let started = Instant::now();
            convert_recording(bytes.clone(), Some(ext), &SETTINGS)
                .map(|_| started.elapsed())
                .map_err(anyhow::Error::from)
        })?;
        let out = dir.join("ffmpeg-out.wav");
        let ffmpeg = median(15, || {
            let started = Instant::now();
            let status = Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-threads", "1", "-i"])
                .arg(&path)
                .args(["-ac", "1", "-ar", "16000"])
                .arg(&out)
                .status()
                .context("ffmpeg (installed by scripts/stack.sh)")?;
            anyhow::ensure!(status.success(), "ffmpeg failed on {}", path.display());
            Ok(started.elapsed())
        })?;
        println!(
            "{:<34} {:>8.1}ms {:>8.1}ms {:>15.1}×",
            path.file_name().unwrap_or_default().to_string_lossy(),
            ours.as_secs_f64() * 1e3,
            ffmpeg.as_secs_f64() * 1e3,
            ffmpeg.as_secs_f64() / ours.as_secs_f64()
        );
    }
    Ok(())
}

fn median(runs: usize, mut run: impl FnMut() -> anyhow::Result<Duration>) -> anyhow::Result<Duration> {
    let mut times = (0..runs).map(|_| run()).collect::<anyhow::Result<Vec<_>>>()?;
    times.sort();
    Ok(times[runs / 2])
}

fn write_stereo(path: &Path, samples: &[f32], rate: u32) -> anyhow::Result<()> {
    let spec =
        hound::WavSpec { channels: 2, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut writer = hound::WavWriter::create(path, spec)?;
    for (i, s) in samples.iter().enumerate() {
        let v = (s * 32_767.0) as i16;
        writer.write_sample(v)?;
        // The right channel a little quieter and delayed by a sample.
        let r = samples.get(i.wrapping_sub(1)).copied().unwrap_or(0.0) * 0.8;
        writer.write_sample((r * 32_767.0) as i16)?;
    }
    writer.finalize()?;
    Ok(())
}

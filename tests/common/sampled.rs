//! A second evaluation source, independent of the additive voice model:
//! recordings of human voices — the "choir aahs" and "voice oohs"
//! programs of General MIDI soundfonts — played by FluidSynth on the
//! same kind of melodies, under the same rooms, phones and bands, and
//! then through the lossy codecs phones and browsers upload (Opus, AAC).
//! The melody's notes are the truth.
//!
//! Needs `fluidsynth`, `ffmpeg` and the soundfonts that
//! `scripts/sampled-voices.sh` installs; used by the `voice` benchmark.

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context};
use orakgarak::audio::write_wav_mono;

use super::{apply, extremes, melody, Condition, Expected, Rng, SungNote, Take, Voice, RATE, TRUTH_HOP, VOICES};

/// A lossy codec a take went through on its way from the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Opus at 16 kbit/s in its speech mode: a phone app's voice note.
    Opus16,
    /// Opus at 24 kbit/s: what a browser's MediaRecorder makes of a voice.
    Opus24,
    /// AAC-LC at 32 kbit/s: a phone's or Safari's recording.
    Aac32,
}

impl Codec {
    fn name(self) -> &'static str {
        match self {
            Codec::Opus16 => "opus 16k",
            Codec::Opus24 => "opus 24k",
            Codec::Aac32 => "aac 32k",
        }
    }

    fn encoder(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Codec::Opus16 => ("opus", &["-c:a", "libopus", "-b:a", "16k", "-application", "voip"]),
            Codec::Opus24 => ("opus", &["-c:a", "libopus", "-b:a", "24k"]),
            Codec::Aac32 => ("m4a", &["-c:a", "aac", "-b:a", "32k"]),
        }
    }
}

/// Every sampled voice is heard under each of these: the additive set's
/// conditions that matter most on a phone, then codecs.
pub const CHAINS: [(Condition, Option<Codec>); 9] = [
    (Condition::Clean, None),
    (Condition::Noise15, None),
    (Condition::Reverb, None),
    (Condition::Phone, None),
    (Condition::Backing, None),
    (Condition::Short, None),
    (Condition::Clean, Some(Codec::Opus24)),
    (Condition::Phone, Some(Codec::Opus16)),
    (Condition::Phone, Some(Codec::Aac32)),
];

/// The General MIDI programs that are recorded human voices.
pub const CHOIR_AAHS: u8 = 52;
pub const VOICE_OOHS: u8 = 53;

/// A melody's top and bottom note are held from half a second: a note held
/// that long at the top of a take is part of the singer's range.
const EXTREMES_HELD: (f64, f64) = (0.5, 0.5);

/// Every voice from bass to soprano under every chain, rendered from
/// `font`, whose name contains `filter`; `offset` picks other melodies.
/// WAV, MIDI and codec files go to `dir`.
pub fn sampled_set(font: &Path, offset: u64, filter: &str, dir: &Path) -> anyhow::Result<Vec<Take>> {
    let font_name = font.file_stem().and_then(|s| s.to_str()).context("soundfont name")?.to_owned();
    let mut takes = Vec::new();
    for (v, voice) in VOICES.iter().enumerate() {
        for (c, chain) in CHAINS.iter().enumerate() {
            let seed = 50_000 + offset + (v * 100 + c) as u64;
            let program = if v % 2 == 0 { CHOIR_AAHS } else { VOICE_OOHS };
            let name = format!("{font_name}-{}-{}", voice.name, group_of(*chain));
            if file_name(&name).contains(filter) {
                takes.push(sampled_take(font, &name, voice, program, *chain, seed, dir)?);
            }
        }
    }
    Ok(takes)
}

fn sampled_take(
    font: &Path,
    name: &str,
    voice: &Voice,
    program: u8,
    chain: (Condition, Option<Codec>),
    seed: u64,
    dir: &Path,
) -> anyhow::Result<Take> {
    let mut rng = Rng::new(seed);
    let seconds = if chain.0 == Condition::Short { 3.0 } else { 8.0 };
    let melody = melody(voice, seconds, EXTREMES_HELD, &mut rng);
    played(font, program, &melody, chain, name, &mut rng, dir)
}

/// What a take under `chain` is scored with: `phone + opus 16k`.
fn group_of((condition, codec): (Condition, Option<Codec>)) -> String {
    match codec {
        Some(codec) => format!("{} + {}", condition.name(), codec.name()),
        None => condition.name().to_owned(),
    }
}

/// `melody` played with `program` of `font`, through `chain`; `name` (file
/// name safe once spaces and brackets are dashes) names the files in `dir`.
pub fn played(
    font: &Path,
    program: u8,
    melody: &[SungNote],
    chain: (Condition, Option<Codec>),
    name: &str,
    rng: &mut Rng,
    dir: &Path,
) -> anyhow::Result<Take> {
    let (condition, codec) = chain;
    let name = file_name(name);
    let (events, truth_f0) = timeline(melody);
    let mid = dir.join(format!("{name}.mid"));
    std::fs::write(&mid, midi_file(&events, program))?;
    let rendered = dir.join(format!("{name}.rendered.wav"));
    let status = Command::new("fluidsynth")
        .args(["-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", &RATE.to_string(), "-F"])
        .arg(&rendered)
        .arg(font)
        .arg(&mid)
        .status()
        .context("fluidsynth (scripts/sampled-voices.sh installs it)")?;
    ensure!(status.success(), "fluidsynth failed on {}", mid.display());
    let mut samples = read_mono(&rendered)?;
    samples.resize(truth_f0.len() * (f64::from(RATE) * TRUTH_HOP) as usize, 0.0);
    let mut samples = apply(condition, samples, melody, &truth_f0, rng);
    if let Some(codec) = codec {
        samples = through(codec, &samples, dir, &name)?;
    }
    let (lowest, highest) = extremes(melody);
    Ok(Take {
        name,
        group: group_of(chain),
        samples,
        rate: RATE,
        expected: Expected::Range { lowest, highest },
        truth_f0,
    })
}

/// `name` with spaces, brackets and signs as single dashes.
fn file_name(name: &str) -> String {
    let dashed = name.replace([' ', '(', ')', '+', '/'], "-").replace("---", "-").replace("--", "-");
    dashed.trim_end_matches('-').to_owned()
}

/// A note on or off (`on` false), in seconds from the start.
struct Event {
    seconds: f64,
    midi: i32,
    on: bool,
}

/// When each note starts and stops (a breath after a phrase's last note,
/// 0.3 s of silence before the first and a second after the last for the
/// release), and the f0 every `TRUTH_HOP` while a note is held.
fn timeline(melody: &[SungNote]) -> (Vec<Event>, Vec<Option<f64>>) {
    let mut events = Vec::new();
    let mut truth = vec![None; (0.3 / TRUTH_HOP) as usize];
    let mut t = 0.3;
    for note in melody {
        events.push(Event { seconds: t, midi: note.midi, on: true });
        let hops = (note.seconds / TRUTH_HOP).round() as usize;
        truth.extend(std::iter::repeat_n(Some(440.0 * 2f64.powf((f64::from(note.midi) - 69.0) / 12.0)), hops));
        t += hops as f64 * TRUTH_HOP;
        events.push(Event { seconds: t, midi: note.midi, on: false });
        if note.phrase_end {
            let rest = (0.35 / TRUTH_HOP) as usize;
            truth.extend(std::iter::repeat_n(None, rest));
            t += rest as f64 * TRUTH_HOP;
        }
    }
    truth.extend(std::iter::repeat_n(None, (1.0 / TRUTH_HOP) as usize));
    (events, truth)
}

/// A format-0 Standard MIDI File: 120 beats a minute at 480 ticks a beat
/// (960 ticks a second), one channel playing `program`.
fn midi_file(events: &[Event], program: u8) -> Vec<u8> {
    let mut track: Vec<u8> = Vec::new();
    // Tempo 500 000 µs a beat; the program; full channel volume.
    track.extend([0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20]);
    track.extend([0x00, 0xC0, program, 0x00, 0xB0, 0x07, 100]);
    let mut last = 0u32;
    for event in events {
        let tick = (event.seconds * 960.0).round() as u32;
        variable_length(tick - last, &mut track);
        last = tick;
        let key = event.midi.clamp(0, 127) as u8;
        if event.on {
            // All sound off: a voice sings one note at a time, so the last
            // note's release tail must not sound under this one.
            track.extend([0xB0, 0x78, 0x00, 0x00]);
        }
        track.extend(if event.on { [0x90, key, 100] } else { [0x80, key, 0] });
    }
    track.extend([0x00, 0xFF, 0x2F, 0x00]);
    let mut file = b"MThd".to_vec();
    file.extend(6u32.to_be_bytes());
    file.extend([0, 0, 0, 1]);
    file.extend(480u16.to_be_bytes());
    file.extend(b"MTrk");
    file.extend((track.len() as u32).to_be_bytes());
    file.extend(track);
    file
}

fn variable_length(mut value: u32, out: &mut Vec<u8>) {
    let mut bytes = vec![(value & 0x7F) as u8];
    value >>= 7;
    while value > 0 {
        bytes.push((value & 0x7F) as u8 | 0x80);
        value >>= 7;
    }
    out.extend(bytes.iter().rev());
}

/// Encodes the take with `codec` and decodes it again, with ffmpeg.
fn through(codec: Codec, samples: &[f32], dir: &Path, name: &str) -> anyhow::Result<Vec<f32>> {
    let (extension, options) = codec.encoder();
    let input = dir.join(format!("{name}.before-codec.wav"));
    let encoded = dir.join(format!("{name}.{extension}"));
    let decoded = dir.join(format!("{name}.after-codec.wav"));
    std::fs::write(&input, write_wav_mono(samples, RATE))?;
    let run = |command: &mut Command| -> anyhow::Result<()> {
        let out = command.output().context("ffmpeg")?;
        ensure!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    };
    let ffmpeg = || {
        let mut command = Command::new("ffmpeg");
        command.args(["-v", "error", "-y", "-i"]);
        command
    };
    run(ffmpeg().arg(&input).args(options).arg(&encoded))?;
    run(ffmpeg().arg(&encoded).args(["-ac", "1", "-ar", &RATE.to_string()]).arg(&decoded))?;
    let mut out = read_mono(&decoded)?;
    out.resize(samples.len(), 0.0);
    Ok(out)
}

fn read_mono(path: &Path) -> anyhow::Result<Vec<f32>> {
    let mut reader = hound::WavReader::open(path).with_context(|| format!("reading {}", path.display()))?;
    let spec = reader.spec();
    ensure!(spec.sample_rate == RATE, "{} is at {} Hz, not {RATE}", path.display(), spec.sample_rate);
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u32 << (spec.bits_per_sample - 1)) as f32;
            reader.samples::<i32>().map(|s| s.map(|s| s as f32 * scale)).collect::<Result<_, _>>()?
        }
    };
    let channels = usize::from(spec.channels.max(1));
    Ok(interleaved.chunks(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32).collect())
}

//! Container/codec decoding with symphonia (+ libopus for Opus), downmixed
//! to mono f32.

use std::io::Cursor;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CodecRegistry, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Why a recording cannot be used. All of these are permanent: retrying
/// the same bytes gives the same answer.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("the file is not a recording in a supported format ({0})")]
    Unsupported(String),
    #[error("the recording is corrupt: {0}")]
    Corrupt(String),
    #[error("the recording is silent (peak {peak_dbfs:.0} dBFS)")]
    Silent { peak_dbfs: f64 },
    #[error("the recording is too short ({seconds:.2} s; at least {min_seconds:.1} s is needed)")]
    TooShort { seconds: f64, min_seconds: f64 },
    #[error("the recording is longer than the {max_seconds:.0} s accepted")]
    TooLong { max_seconds: f64 },
    #[error("no sung notes were found: {0}")]
    NoVoice(String),
}

impl AudioError {
    /// A stable name for why, for clients that explain it in their own
    /// words (the web app): `unsupported`, `corrupt`, `silent`,
    /// `too_short`, `too_long` or `no_voice`.
    pub fn code(&self) -> &'static str {
        match self {
            AudioError::Unsupported(_) => "unsupported",
            AudioError::Corrupt(_) => "corrupt",
            AudioError::Silent { .. } => "silent",
            AudioError::TooShort { .. } => "too_short",
            AudioError::TooLong { .. } => "too_long",
            AudioError::NoVoice(_) => "no_voice",
        }
    }

    /// The code of a stored failure message this type wrote (an upload's
    /// `last_error` keeps the message, not the value); `None` for any
    /// other message.
    pub fn code_of_message(message: &str) -> Option<&'static str> {
        const PHRASES: [(&str, &str); 6] = [
            ("the file is not a recording in a supported format", "unsupported"),
            ("the recording is corrupt", "corrupt"),
            ("the recording is silent", "silent"),
            ("the recording is too short", "too_short"),
            ("the recording is longer than", "too_long"),
            ("no sung notes were found", "no_voice"),
        ];
        PHRASES.iter().find(|(phrase, _)| message.contains(phrase)).map(|(_, code)| *code)
    }
}

#[derive(Debug, Clone)]
pub struct Decoded {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    /// Packets the decoder could not read and skipped.
    pub skipped_packets: usize,
    /// The stream ended inside a container element (a browser recording
    /// that was cut off); everything before the cut was decoded.
    pub truncated: bool,
}

fn codecs() -> &'static CodecRegistry {
    static REGISTRY: OnceLock<CodecRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut registry);
        registry.register_all::<symphonia_adapter_libopus::OpusDecoder>();
        registry
    })
}

fn is_end_of_stream(error: &SymphoniaError) -> bool {
    // Browser-streamed webm has no final size and ends in an
    // "unexpected end of file": that is the end of the stream, not a fault.
    matches!(error, SymphoniaError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof)
}

/// Decodes the first audio track of `bytes`, stopping with `TooLong` past
/// `max_duration` of audio. `extension` is only a hint.
pub fn decode_to_mono(
    bytes: Vec<u8>,
    extension: Option<&str>,
    max_duration: std::time::Duration,
) -> Result<Decoded, AudioError> {
    let stream = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    let probed = std::panic::catch_unwind(AssertUnwindSafe(|| {
        symphonia::default::get_probe().format(&hint, stream, &FormatOptions::default(), &MetadataOptions::default())
    }))
    .map_err(|_| AudioError::Corrupt("the container header could not be read".into()))?
    .map_err(|e| AudioError::Unsupported(e.to_string()))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| AudioError::Unsupported("no audio track".into()))?;
    let track_id = track.id;
    let mut decoder = codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| AudioError::Unsupported(format!("no decoder for this codec: {e}")))?;

    let mut samples = Vec::new();
    let mut sample_rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut skipped = 0usize;
    let mut decoded_packets = 0usize;
    let mut truncated = false;
    loop {
        // symphonia-format-mkv 0.5.5 panics ("EBML header must be read")
        // on a webm cut inside a cluster, which is how browser streams end.
        // Contain it: after audio was decoded it is the end of the stream.
        let next = std::panic::catch_unwind(AssertUnwindSafe(|| format.next_packet()));
        let next = match next {
            Ok(next) => next,
            Err(_) if decoded_packets > 0 => {
                truncated = true;
                break;
            }
            Err(_) => return Err(AudioError::Corrupt("the container could not be read".into())),
        };
        let packet = match next {
            Ok(packet) => packet,
            Err(e) if is_end_of_stream(&e) => break,
            Err(SymphoniaError::ResetRequired) => break,
            // A stream cut inside an element (mkv: "read element data past
            // master element") after real audio: keep what was decoded.
            Err(SymphoniaError::DecodeError(_)) if decoded_packets > 0 => {
                truncated = true;
                break;
            }
            Err(e) => return Err(AudioError::Corrupt(e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
            decoder.decode(&packet).map(|audio| {
                let spec = *audio.spec();
                let channels = spec.channels.count().max(1);
                let mut buffer = SampleBuffer::<f32>::new(audio.capacity() as u64, spec);
                buffer.copy_interleaved_ref(audio);
                let scale = 1.0 / channels as f32;
                let mono: Vec<f32> =
                    buffer.samples().chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() * scale).collect();
                (mono, spec.rate)
            })
        }));
        match decoded {
            Err(_) => return Err(AudioError::Corrupt("the decoder failed on a damaged packet".into())),
            Ok(Ok((mono, rate))) => {
                sample_rate = rate;
                samples.extend(mono);
                decoded_packets += 1;
                // Checked per packet, so memory stays within one packet of the cap.
                if samples.len() as f64 > max_duration.as_secs_f64() * f64::from(rate.max(1)) {
                    return Err(AudioError::TooLong { max_seconds: max_duration.as_secs_f64() });
                }
            }
            Ok(Err(SymphoniaError::DecodeError(_))) => skipped += 1,
            Ok(Err(e)) if is_end_of_stream(&e) => break,
            Ok(Err(e)) => return Err(AudioError::Corrupt(e.to_string())),
        }
    }
    if decoded_packets == 0 || sample_rate == 0 {
        return Err(AudioError::Corrupt(format!("no audio could be decoded ({skipped} damaged packets)")));
    }
    // A file that is mostly damage is not a recording we should judge.
    if skipped > decoded_packets {
        return Err(AudioError::Corrupt(format!("{skipped} of {} packets are damaged", skipped + decoded_packets)));
    }
    Ok(Decoded { samples, sample_rate, skipped_packets: skipped, truncated })
}

#[cfg(test)]
mod code_tests {
    use super::AudioError;

    #[test]
    fn every_failure_message_maps_back_to_its_code() {
        let all = [
            AudioError::Unsupported("x".into()),
            AudioError::Corrupt("x".into()),
            AudioError::Silent { peak_dbfs: -90.0 },
            AudioError::TooShort { seconds: 0.5, min_seconds: 1.0 },
            AudioError::TooLong { max_seconds: 60.0 },
            AudioError::NoVoice("only noise".into()),
        ];
        for error in &all {
            let stored = format!("convert: {error}");
            assert_eq!(AudioError::code_of_message(&stored), Some(error.code()), "{stored}");
        }
        assert_eq!(AudioError::code_of_message("database is down"), None);
    }
}

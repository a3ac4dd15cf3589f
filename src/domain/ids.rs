//! Newtypes built by fallible constructors: once you hold one, it is valid.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The id of one upload; also the Kafka partition key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UploadId(Uuid);

impl UploadId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for UploadId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for UploadId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl FromStr for UploadId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The `sub` of a verified token: 1–128 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > 128 || raw.chars().any(char::is_control) {
            return Err("user id must be 1-128 printable characters".into());
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A size in bytes, never above the limit it was parsed against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ByteSize(u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ByteSizeError {
    #[error("size must be at least 1 byte")]
    Empty,
    #[error("size {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
}

impl ByteSize {
    pub fn parse(size: u64, limit: u64) -> Result<Self, ByteSizeError> {
        match size {
            0 => Err(ByteSizeError::Empty),
            s if s > limit => Err(ByteSizeError::TooLarge { size, limit }),
            s => Ok(Self(s)),
        }
    }
    pub fn get(self) -> u64 {
        self.0
    }
}

/// A MIDI note number (60 = C4, 69 = A4 = 440 Hz).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i32", into = "i32")]
pub struct Note(u8);

const NOTE_NAMES: [&str; 12] = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];

impl Note {
    pub fn from_midi(midi: i32) -> Result<Self, String> {
        u8::try_from(midi)
            .ok()
            .filter(|m| *m <= 127)
            .map(Self)
            .ok_or_else(|| format!("MIDI note {midi} is outside 0..=127"))
    }
    /// The nearest note to a frequency, if it is in the MIDI range.
    pub fn from_hz(hz: f64) -> Option<Self> {
        if !(hz.is_finite() && hz > 0.0) {
            return None;
        }
        Self::from_midi(hz_to_midi(hz).round() as i32).ok()
    }
    pub fn midi(self) -> i32 {
        i32::from(self.0)
    }
    pub fn hz(self) -> f64 {
        440.0 * 2f64.powf((f64::from(self.0) - 69.0) / 12.0)
    }
    /// Scientific pitch notation, e.g. "A3", "C#5".
    pub fn name(self) -> String {
        let octave = i32::from(self.0) / 12 - 1;
        format!("{}{}", NOTE_NAMES[usize::from(self.0 % 12)], octave)
    }
    /// Parses scientific pitch notation: "A3", "C#5", "Bb2".
    pub fn parse_name(name: &str) -> Result<Self, String> {
        let bad = || format!("invalid note name {name:?} (expected e.g. A3, C#5, Bb2)");
        let mut chars = name.trim().chars();
        let letter = chars.next().ok_or_else(bad)?;
        let base = match letter.to_ascii_uppercase() {
            'C' => 0,
            'D' => 2,
            'E' => 4,
            'F' => 5,
            'G' => 7,
            'A' => 9,
            'B' => 11,
            _ => return Err(bad()),
        };
        let rest: String = chars.collect();
        let (accidental, octave) = match rest.chars().next() {
            Some('#') => (1, &rest[1..]),
            Some('b') => (-1, &rest[1..]),
            _ => (0, rest.as_str()),
        };
        let octave: i32 = octave.parse().map_err(|_| bad())?;
        Self::from_midi((octave + 1) * 12 + base + accidental).map_err(|_| bad())
    }

    pub fn transpose(self, semitones: i32) -> Option<Self> {
        Self::from_midi(self.midi() + semitones).ok()
    }
}

/// Fractional MIDI note number of a frequency.
pub fn hz_to_midi(hz: f64) -> f64 {
    69.0 + 12.0 * (hz / 440.0).log2()
}

impl TryFrom<i32> for Note {
    type Error = String;
    fn try_from(value: i32) -> Result<Self, Self::Error> {
        Self::from_midi(value)
    }
}

impl From<Note> for i32 {
    fn from(value: Note) -> Self {
        value.midi()
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A W3C trace id: 16 bytes, not all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 16]);

impl TraceId {
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        loop {
            rand::thread_rng().fill_bytes(&mut bytes);
            if bytes != [0; 16] {
                return Self(bytes);
            }
        }
    }
    pub fn parse(hex_str: &str) -> Option<Self> {
        let mut bytes = [0u8; 16];
        if hex_str.len() != 32 || hex_str.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        hex::decode_to_slice(hex_str, &mut bytes).ok()?;
        (bytes != [0; 16]).then_some(Self(bytes))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A W3C `traceparent`: version 00, trace id, parent span id, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: TraceId,
    pub span_id: [u8; 8],
    pub sampled: bool,
}

impl TraceContext {
    /// A new root trace.
    pub fn root() -> Self {
        Self::child_of(TraceId::random())
    }

    /// A new span in an existing trace.
    pub fn child_of(trace_id: TraceId) -> Self {
        let mut span_id = [0u8; 8];
        while span_id == [0; 8] {
            rand::thread_rng().fill_bytes(&mut span_id);
        }
        Self { trace_id, span_id, sampled: true }
    }

    /// Parses a `traceparent` header; anything malformed is `None` (the
    /// spec says to start a new trace then, not to fail the request).
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || parts.next().is_some() || span.len() != 16 || flags.len() != 2 {
            return None;
        }
        let trace_id = TraceId::parse(trace)?;
        let mut span_id = [0u8; 8];
        hex::decode_to_slice(span, &mut span_id).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        (span_id != [0; 8]).then_some(Self { trace_id, span_id, sampled: flags & 1 == 1 })
    }

    pub fn span_id_hex(&self) -> String {
        hex::encode(self.span_id)
    }

    pub fn header(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id, self.span_id_hex(), u8::from(self.sampled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_size_enforces_limit() {
        assert_eq!(ByteSize::parse(0, 10), Err(ByteSizeError::Empty));
        assert_eq!(ByteSize::parse(11, 10), Err(ByteSizeError::TooLarge { size: 11, limit: 10 }));
        assert_eq!(ByteSize::parse(10, 10).map(ByteSize::get), Ok(10));
    }

    #[test]
    fn notes_have_names_and_frequencies() {
        let a4 = Note::from_midi(69).expect("valid");
        assert_eq!(a4.name(), "A4");
        assert!((a4.hz() - 440.0).abs() < 1e-9);
        assert_eq!(Note::from_hz(220.0).map(|n| n.name()), Some("A3".into()));
        assert_eq!(Note::from_midi(61).map(|n| n.name()), Ok("C#4".into()));
        assert!(Note::from_midi(128).is_err());
        assert_eq!(Note::parse_name("C#4").map(Note::midi), Ok(61));
        assert_eq!(Note::parse_name("Bb2").map(Note::midi), Ok(46));
        assert!(Note::parse_name("H2").is_err() && Note::parse_name("C").is_err());
        assert_eq!(Note::from_hz(0.0), None);
    }

    #[test]
    fn traceparent_round_trips_and_rejects_garbage() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ctx = TraceContext::parse(header).expect("valid traceparent");
        assert_eq!(ctx.header(), header);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
    }
}

//! Newtypes built by fallible constructors: once you hold one, it is valid.

use std::fmt;
use std::str::FromStr;

use opentelemetry_sdk::propagation::TraceContextPropagator;
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
        midi_to_hz(f64::from(self.0))
    }
    /// Scientific pitch notation, e.g. "A3", "C#5".
    pub fn name(self) -> String {
        Self::name_of(self.midi())
    }

    /// The name of any MIDI number, also outside 0..=127 ("C10" is 132).
    pub fn name_of(midi: i32) -> String {
        format!("{}{}", NOTE_NAMES[midi.rem_euclid(12) as usize], midi.div_euclid(12) - 1)
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

/// Frequency of a fractional MIDI note number.
pub fn midi_to_hz(midi: f64) -> f64 {
    440.0 * 2f64.powf((midi - 69.0) / 12.0)
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

impl Serialize for TraceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A W3C trace context: which span of which trace something belongs to,
/// and whether the trace is sampled. Read and written with OpenTelemetry's
/// W3C TraceContext propagator, so `traceparent` headers follow the spec
/// (a higher version with extra fields is accepted, flags other than
/// sampled are dropped, the sampled flag is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: TraceId,
    pub span_id: [u8; 8],
    pub sampled: bool,
}

impl TraceContext {
    /// A new root trace, sampled.
    pub fn root() -> Self {
        Self::in_trace(TraceId::random())
    }

    /// A span of `trace_id` whose parent span is unknown.
    pub fn in_trace(trace_id: TraceId) -> Self {
        Self { trace_id, span_id: random_span_id(), sampled: true }
    }

    /// A new span in this trace, with its sampling decision.
    pub fn child(&self) -> Self {
        Self { span_id: random_span_id(), ..*self }
    }

    /// Parses a `traceparent` header; anything malformed is `None` (the
    /// spec says to start a new trace then, not to fail the request).
    pub fn parse(header: &str) -> Option<Self> {
        use opentelemetry::propagation::TextMapPropagator;
        use opentelemetry::trace::TraceContextExt;
        let carrier = std::collections::HashMap::from([("traceparent".to_owned(), header.to_owned())]);
        let context = TraceContextPropagator::new().extract(&carrier);
        Self::of(context.span().span_context())
    }

    /// The `traceparent` header naming this span as the parent.
    pub fn header(&self) -> String {
        use opentelemetry::propagation::TextMapPropagator;
        let mut carrier = std::collections::HashMap::new();
        TraceContextPropagator::new().inject_context(&self.to_otel(), &mut carrier);
        carrier.remove("traceparent").unwrap_or_default()
    }

    pub fn span_id_hex(&self) -> String {
        hex::encode(self.span_id)
    }

    /// The span context OpenTelemetry uses for this span (remote: it may
    /// have been made by another process).
    pub fn span_context(&self) -> opentelemetry::trace::SpanContext {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};
        let flags = if self.sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
        let trace_id = opentelemetry::trace::TraceId::from_bytes(self.trace_id.0);
        SpanContext::new(trace_id, SpanId::from_bytes(self.span_id), flags, true, TraceState::default())
    }

    /// An OpenTelemetry context whose current span is this one.
    pub fn to_otel(&self) -> opentelemetry::Context {
        use opentelemetry::trace::TraceContextExt;
        opentelemetry::Context::new().with_remote_span_context(self.span_context())
    }

    /// The context of a valid OpenTelemetry span context.
    pub fn of(span: &opentelemetry::trace::SpanContext) -> Option<Self> {
        if !span.is_valid() {
            return None;
        }
        Some(Self {
            trace_id: TraceId(span.trace_id().to_bytes()),
            span_id: span.span_id().to_bytes(),
            sampled: span.is_sampled(),
        })
    }
}

fn random_span_id() -> [u8; 8] {
    let mut span_id = [0u8; 8];
    while span_id == [0; 8] {
        rand::thread_rng().fill_bytes(&mut span_id);
    }
    span_id
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
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn traceparent_keeps_the_sampled_flag_and_accepts_future_versions() {
        let unsampled = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").expect("valid");
        assert!(!unsampled.sampled);
        assert!(!unsampled.child().sampled, "a child keeps its parent's decision");
        assert!(unsampled.header().ends_with("-00"));
        // A later version may append fields; the known four are read.
        let future =
            TraceContext::parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-the-future-holds")
                .expect("a future version is read as version 00");
        assert!(future.sampled, "flag bits other than sampled are ignored, sampled kept");
        assert_eq!(future.header(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    }
}

//! Imports a song's range from the melody track of a Standard MIDI File.

use midly::{MidiMessage, Smf, TrackEventKind};

use super::SongEntry;
use crate::domain::Note;

#[derive(Debug, thiserror::Error)]
pub enum MidiImportError {
    #[error("not a Standard MIDI File: {0}")]
    Parse(String),
    #[error("track {0} does not exist (the file has {1})")]
    NoSuchTrack(usize, usize),
    #[error("no melody track found: no non-drum track has at least {0} notes")]
    NoMelody(usize),
}

/// A melody needs at least this many notes to be told from a stray cue.
const MIN_MELODY_NOTES: usize = 8;
/// General MIDI puts percussion on channel 10 (index 9): never a melody.
const DRUM_CHANNEL: u8 = 9;

/// Builds a catalogue entry from `bytes`. The melody is `track` when given,
/// else the non-drum track with the highest mean pitch (the tune usually
/// sits above the accompaniment).
pub fn import_midi(
    bytes: &[u8],
    track: Option<usize>,
    id: &str,
    title: &str,
    artist: &str,
    licence: &str,
) -> Result<SongEntry, MidiImportError> {
    let smf = Smf::parse(bytes).map_err(|e| MidiImportError::Parse(e.to_string()))?;
    let notes_of = |events: &[midly::TrackEvent]| -> Vec<u8> {
        events
            .iter()
            .filter_map(|e| match e.kind {
                TrackEventKind::Midi { channel, message: MidiMessage::NoteOn { key, vel } }
                    if vel > 0 && channel.as_int() != DRUM_CHANNEL =>
                {
                    Some(key.as_int())
                }
                _ => None,
            })
            .collect()
    };
    let notes = match track {
        Some(index) => {
            let events = smf.tracks.get(index).ok_or(MidiImportError::NoSuchTrack(index, smf.tracks.len()))?;
            notes_of(events)
        }
        None => smf
            .tracks
            .iter()
            .map(|t| notes_of(t))
            .filter(|n| n.len() >= MIN_MELODY_NOTES)
            .max_by(|a, b| mean(a).total_cmp(&mean(b)))
            .unwrap_or_default(),
    };
    if notes.len() < MIN_MELODY_NOTES {
        return Err(MidiImportError::NoMelody(MIN_MELODY_NOTES));
    }
    let name = |midi: u8| Note::from_midi(i32::from(midi)).map(Note::name).unwrap_or_default();
    let lowest = notes.iter().min().copied().unwrap_or(0);
    let highest = notes.iter().max().copied().unwrap_or(0);
    Ok(SongEntry {
        id: id.into(),
        title: title.into(),
        artist: artist.into(),
        licence: licence.into(),
        melody: None,
        lowest: Some(name(lowest)),
        highest: Some(name(highest)),
    })
}

fn mean(notes: &[u8]) -> f64 {
    notes.iter().map(|n| f64::from(*n)).sum::<f64>() / notes.len().max(1) as f64
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use midly::{num::u28, Format, Header, MetaMessage, Timing, TrackEvent};

    /// A two-track type-1 file: a bass line and a melody (plus drums).
    pub(crate) fn two_track_midi(melody: &[u8], bass: &[u8]) -> Vec<u8> {
        let track = |keys: &[u8], channel: u8| -> Vec<TrackEvent<'static>> {
            let mut events = Vec::new();
            for key in keys {
                let on = MidiMessage::NoteOn { key: (*key).into(), vel: 90.into() };
                let off = MidiMessage::NoteOff { key: (*key).into(), vel: 0.into() };
                events.push(TrackEvent {
                    delta: u28::new(0),
                    kind: TrackEventKind::Midi { channel: channel.into(), message: on },
                });
                events.push(TrackEvent {
                    delta: u28::new(480),
                    kind: TrackEventKind::Midi { channel: channel.into(), message: off },
                });
            }
            events.push(TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::EndOfTrack) });
            events
        };
        let mut drums = track(&[100; 12], DRUM_CHANNEL);
        drums.truncate(24);
        drums.push(TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::EndOfTrack) });
        let smf = Smf {
            header: Header::new(Format::Parallel, Timing::Metrical(480.into())),
            tracks: vec![track(bass, 1), track(melody, 0), drums],
        };
        let mut out = Vec::new();
        smf.write_std(&mut out).expect("in-memory write");
        out
    }

    #[test]
    fn picks_the_melody_over_bass_and_drums() {
        let melody = [60, 62, 64, 65, 67, 69, 67, 65, 64, 62, 60, 72];
        let bass = [36, 43, 36, 43, 41, 48, 36, 43, 36, 40];
        let bytes = two_track_midi(&melody, &bass);
        let entry = import_midi(&bytes, None, "x", "X", "A", "pd").expect("import");
        assert_eq!((entry.lowest.as_deref(), entry.highest.as_deref()), (Some("C4"), Some("C5")));
        let bass_entry = import_midi(&bytes, Some(0), "x", "X", "A", "pd").expect("explicit track");
        assert_eq!(bass_entry.lowest.as_deref(), Some("C2"));
        assert!(entry.to_song().is_ok());
    }

    #[test]
    fn garbage_and_missing_tracks_are_clear_errors() {
        assert!(matches!(import_midi(b"RIFF....", None, "x", "X", "A", "pd"), Err(MidiImportError::Parse(_))));
        let bytes = two_track_midi(&[60; 10], &[40; 10]);
        assert!(matches!(import_midi(&bytes, Some(7), "x", "X", "A", "pd"), Err(MidiImportError::NoSuchTrack(7, 3))));
        let sparse = two_track_midi(&[60, 62], &[40]);
        assert!(matches!(import_midi(&sparse, None, "x", "X", "A", "pd"), Err(MidiImportError::NoMelody(_))));
    }
}

//! A song's melody from a Standard MIDI File: its notes with their
//! lengths in ticks, the sequence's name and its key signature.

use std::collections::HashMap;

use midly::{MetaMessage, MidiMessage, Smf, TrackEventKind};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MidiImportError {
    #[error("not a Standard MIDI File: {0}")]
    Parse(String),
    #[error("track {0} does not exist (the file has {1})")]
    NoSuchTrack(usize, usize),
    #[error("no melody track found: no non-drum track has at least {0} notes")]
    NoMelody(usize),
}

/// The melody of a MIDI file.
#[derive(Debug, Clone, PartialEq)]
pub struct MidiSong {
    /// The first track's name (the sequence name), if it has one.
    pub title: Option<String>,
    /// The first key signature, e.g. "G major", "E minor".
    pub key: Option<String>,
    /// `(midi, ticks)` of every sung note.
    pub notes: Vec<(i32, f64)>,
}

/// A melody needs at least this many notes to be told from a stray cue.
const MIN_MELODY_NOTES: usize = 8;
/// General MIDI puts percussion on channel 10 (index 9): never a melody.
const DRUM_CHANNEL: u8 = 9;

/// Reads the melody: `track` when given, else the non-drum track with the
/// highest mean pitch (the tune usually sits above the accompaniment).
pub fn read_midi(bytes: &[u8], track: Option<usize>) -> Result<MidiSong, MidiImportError> {
    let smf = Smf::parse(bytes).map_err(|e| MidiImportError::Parse(e.to_string()))?;
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
    let metas = || {
        smf.tracks.iter().flatten().filter_map(|e| if let TrackEventKind::Meta(m) = e.kind { Some(m) } else { None })
    };
    let title = smf.tracks.first().into_iter().flatten().find_map(|e| match e.kind {
        TrackEventKind::Meta(MetaMessage::TrackName(name)) => {
            Some(String::from_utf8_lossy(name).trim().to_owned()).filter(|n| !n.is_empty())
        }
        _ => None,
    });
    let key = metas().find_map(|m| match m {
        MetaMessage::KeySignature(sharps, minor) => key_name(sharps, minor),
        _ => None,
    });
    Ok(MidiSong { title, key, notes })
}

/// `(midi, ticks held)` of the non-drum notes of a track, in order of their
/// ends; a note still held at the end of the track is dropped.
fn notes_of(events: &[midly::TrackEvent]) -> Vec<(i32, f64)> {
    let mut now = 0u64;
    let mut held: HashMap<(u8, u8), u64> = HashMap::new();
    let mut notes = Vec::new();
    for event in events {
        now += u64::from(event.delta.as_int());
        let TrackEventKind::Midi { channel, message } = event.kind else { continue };
        if channel.as_int() == DRUM_CHANNEL {
            continue;
        }
        let (key, on) = match message {
            MidiMessage::NoteOn { key, vel } => (key.as_int(), vel > 0),
            MidiMessage::NoteOff { key, .. } => (key.as_int(), false),
            _ => continue,
        };
        if let Some(start) = held.remove(&(channel.as_int(), key)) {
            if now > start {
                notes.push((i32::from(key), (now - start) as f64));
            }
        }
        if on {
            held.insert((channel.as_int(), key), now);
        }
    }
    notes
}

fn key_name(sharps: i8, minor: bool) -> Option<String> {
    const MAJOR: [&str; 15] = ["Cb", "Gb", "Db", "Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#"];
    const MINOR: [&str; 15] = ["Ab", "Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#", "C#", "G#", "D#", "A#"];
    let index = usize::try_from(i16::from(sharps) + 7).ok().filter(|i| *i < 15)?;
    Some(if minor { format!("{} minor", MINOR[index]) } else { format!("{} major", MAJOR[index]) })
}

fn mean(notes: &[(i32, f64)]) -> f64 {
    notes.iter().map(|(n, _)| f64::from(*n)).sum::<f64>() / notes.len().max(1) as f64
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
        let mut bass_track = track(bass, 1);
        bass_track
            .insert(0, TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::TrackName(b"Bass")) });
        bass_track.insert(
            1,
            TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::KeySignature(1, false)) },
        );
        let mut drums = track(&[100; 12], DRUM_CHANNEL);
        drums.truncate(24);
        drums.push(TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::EndOfTrack) });
        let smf = Smf {
            header: Header::new(Format::Parallel, Timing::Metrical(480.into())),
            tracks: vec![bass_track, track(melody, 0), drums],
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
        let song = read_midi(&bytes, None).expect("import");
        let pitches = |s: &MidiSong| s.notes.iter().map(|(n, _)| *n).collect::<Vec<_>>();
        assert_eq!(pitches(&song), melody.map(i32::from));
        assert!(song.notes.iter().all(|(_, ticks)| *ticks == 480.0), "each note is held 480 ticks");
        assert_eq!(song.key.as_deref(), Some("G major"));
        assert_eq!(song.title.as_deref(), Some("Bass"), "the first track's name");
        let bass = read_midi(&bytes, Some(0)).expect("explicit track");
        assert_eq!(pitches(&bass).into_iter().min(), Some(36));
    }

    #[test]
    fn garbage_and_missing_tracks_are_clear_errors() {
        assert!(matches!(read_midi(b"RIFF....", None), Err(MidiImportError::Parse(_))));
        let bytes = two_track_midi(&[60; 10], &[40; 10]);
        assert_eq!(read_midi(&bytes, Some(7)), Err(MidiImportError::NoSuchTrack(7, 3)));
        let sparse = two_track_midi(&[60, 62], &[40]);
        assert_eq!(read_midi(&sparse, None), Err(MidiImportError::NoMelody(8)));
    }
}

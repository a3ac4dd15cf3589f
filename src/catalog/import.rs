//! From files to songs: which files are songs (by content, not by name),
//! and the song each one holds.

use std::path::{Path, PathBuf};

use super::{content_id, octaves_into_voice, read_midi, ultrastar, Part, PitchProfile, Song, Source, SungPart};
use crate::domain::Note;

/// A file that held a song, read.
#[derive(Debug, Clone, PartialEq)]
pub struct SongFile {
    pub song: Song,
    /// What was odd but did not stop the import ("line 12: …", octave moves).
    pub warnings: Vec<String>,
}

/// Every file under `paths` (folders are walked recursively) whose first
/// bytes are a MIDI header or an UltraStar header, in path order. Files
/// named directly are returned whatever they hold, so that a file the user
/// asked for and that is not a song is reported, not silently passed over.
/// Returns the files and how many files in folders were passed over.
pub fn find_song_files(paths: &[PathBuf]) -> std::io::Result<(Vec<PathBuf>, usize)> {
    let mut found = Vec::new();
    let mut passed_over = 0;
    for path in paths {
        if path.is_dir() {
            walk(path, &mut found, &mut passed_over)?;
        } else {
            std::fs::metadata(path).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            found.push(path.clone());
        }
    }
    Ok((found, passed_over))
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, passed_over: &mut usize) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, found, passed_over)?;
        } else if is_song_file(&path)? {
            found.push(path);
        } else {
            *passed_over += 1;
        }
    }
    Ok(())
}

fn is_song_file(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)?.take(4096).read_to_end(&mut head)?;
    Ok(head.starts_with(b"MThd") || ultrastar::looks_like_ultrastar(&head))
}

/// The song in `bytes` (read from `path`, whose name stands in for a MIDI
/// file's missing title). A melody written outside any human voice is
/// moved by whole octaves, with a warning.
pub fn read_song(path: &Path, bytes: &[u8]) -> Result<SongFile, String> {
    let (mut song, mut warnings, parts) = if bytes.starts_with(b"MThd") {
        let midi = read_midi(bytes, None).map_err(|e| e.to_string())?;
        let title = midi.title.clone().unwrap_or_else(|| {
            path.file_stem().map(|s| s.to_string_lossy().replace('_', " ")).unwrap_or_else(|| "Untitled".into())
        });
        // A MIDI file names no artist; its notes are its identity.
        let notes: Vec<String> = midi.notes.iter().map(|(n, d)| format!("{n}:{d}")).collect();
        let song = blank(content_id(&["midi", &notes.join(" ")]), title, "Unknown".into(), Source::Midi);
        let song = Song { original_key: midi.key, ..song };
        (song, Vec::new(), vec![SungPart { name: String::new(), notes: midi.notes }])
    } else if ultrastar::looks_like_ultrastar(bytes) {
        let file = ultrastar::parse(bytes).map_err(|e| e.to_string())?;
        let id = content_id(&["ultrastar", &file.artist, &file.title]);
        let song = Song {
            language: file.language,
            genre: file.genre,
            year: file.year,
            original_key: file.key,
            ..blank(id, file.title.trim().to_owned(), file.artist.trim().to_owned(), Source::UltraStar)
        };
        (song, file.skipped_lines, file.parts)
    } else {
        return Err("neither an UltraStar .txt nor a MIDI file".into());
    };
    let mut pitches: Vec<i32> = parts.iter().flat_map(|p| &p.notes).map(|(n, _)| *n).collect();
    pitches.sort_unstable();
    let at = |i: usize| pitches.get(i).copied().unwrap_or(60);
    let (lowest, highest) = (at(0), at(pitches.len().saturating_sub(1)));
    let octaves = octaves_into_voice(lowest, highest, at(pitches.len() / 2));
    if octaves != 0 {
        let name = |m: i32| Note::name_of(m);
        let direction = if octaves > 0 { "up" } else { "down" };
        warnings.push(format!(
            "notes {}–{} lie outside any human voice: moved {} octave{} {direction}",
            name(lowest),
            name(highest),
            octaves.abs(),
            if octaves.abs() == 1 { "" } else { "s" },
        ));
    }
    for part in parts {
        let notes: Vec<(i32, f64)> = part.notes.iter().map(|(n, d)| (n + 12 * octaves, *d)).collect();
        let profile = PitchProfile::from_notes(&notes).ok_or("no sung notes within MIDI's range")?;
        song.parts.push(Part { name: part.name, profile });
    }
    Ok(SongFile { song, warnings })
}

fn blank(id: String, title: String, artist: String, source: Source) -> Song {
    Song {
        id,
        title,
        artist,
        language: None,
        genre: None,
        year: None,
        original_key: None,
        licence: None,
        source,
        parts: Vec::new(),
    }
}

//! UltraStar `.txt` songs, as the format's specification (v1.x) and the
//! unversioned files found in community libraries write them.
//!
//! Only what the catalogue needs is read: the header's facts and each
//! part's sung notes with their lengths in beats. Pitch 0 is C4. `:` and
//! `*` notes are sung; `F` (freestyle), `R` and `G` (rap) carry no pitch
//! worth keeping. Line breaks (`-`, with a second number in legacy
//! `#RELATIVE:yes` files) and tempo changes (`B`) move time, not pitch, and
//! are read past. A malformed line is reported with its number and skipped.

use super::SungPart;

/// One UltraStar file, read.
#[derive(Debug, Clone, PartialEq)]
pub struct UltraStarSong {
    pub title: String,
    pub artist: String,
    pub language: Option<String>,
    pub genre: Option<String>,
    pub year: Option<i32>,
    /// Not in the specification, but written by some tools.
    pub key: Option<String>,
    /// One part for a solo song, one per singer (`P1`, `P2`) for a duet.
    pub parts: Vec<SungPart>,
    /// Lines skipped, as "line N: why".
    pub skipped_lines: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UltraStarError {
    #[error("not an UltraStar file: no #TITLE or #ARTIST header")]
    NoHeader,
    #[error("no sung notes")]
    NoNotes,
}

/// Whether `bytes` look like an UltraStar file (a header line first).
pub fn looks_like_ultrastar(bytes: &[u8]) -> bool {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = text.iter().position(|b| !b.is_ascii_whitespace()).map_or(&[][..], |i| &text[i..]);
    start.first() == Some(&b'#')
        && text.split(|b| *b == b'\n').take(40).any(|line| {
            let upper = line.to_ascii_uppercase();
            upper.starts_with(b"#TITLE:") || upper.starts_with(b"#ARTIST:")
        })
}

pub fn parse(bytes: &[u8]) -> Result<UltraStarSong, UltraStarError> {
    let (text, decoding_note) = decode(bytes);
    let mut song = UltraStarSong {
        title: String::new(),
        artist: String::new(),
        language: None,
        genre: None,
        year: None,
        key: None,
        parts: Vec::new(),
        skipped_lines: decoding_note.into_iter().collect(),
    };
    let mut singers: [Option<String>; 2] = [None, None];
    // Notes per part number (0: no part given).
    let mut parts: Vec<(u32, Vec<(i32, f64)>)> = Vec::new();
    let mut current = 0u32;
    for (index, raw) in text.split('\n').enumerate() {
        let number = index + 1;
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let mut skip = |why: String| song.skipped_lines.push(format!("line {number}: {why}"));
        if let Some(header) = trimmed.strip_prefix('#') {
            let Some((key, value)) = header.split_once(':') else {
                skip(format!("a header without ':': {trimmed:?}"));
                continue;
            };
            let value = value.trim();
            let text = || Some(value.to_owned()).filter(|v| !v.is_empty());
            match key.trim().to_ascii_uppercase().as_str() {
                "TITLE" => song.title = value.to_owned(),
                "ARTIST" => song.artist = value.to_owned(),
                "LANGUAGE" => song.language = text(),
                "GENRE" => song.genre = text(),
                "YEAR" => match value.parse::<i32>() {
                    Ok(year) if (1000..=9999).contains(&year) => song.year = Some(year),
                    _ => skip(format!("#YEAR is not a year: {value:?}")),
                },
                "KEY" => song.key = text(),
                "P1" | "DUETSINGERP1" => singers[0] = text(),
                "P2" | "DUETSINGERP2" => singers[1] = text(),
                _ => {}
            }
            continue;
        }
        let kind = trimmed.chars().next().unwrap_or(' ');
        let rest = &trimmed[kind.len_utf8()..];
        match kind {
            ':' | '*' | 'F' | 'R' | 'G' => match note_fields(rest) {
                Some((_, length, pitch)) if matches!(kind, ':' | '*') => {
                    if length > 0 {
                        notes_of(&mut parts, current).push((60 + pitch, f64::from(length)));
                    }
                }
                Some(_) => {}
                None => skip(format!("a note needs start, length and pitch as integers: {trimmed:?}")),
            },
            '-' | 'B' => {
                let numbers_ok = rest.split_whitespace().all(|n| n.parse::<f64>().is_ok());
                if !numbers_ok || rest.split_whitespace().next().is_none() {
                    skip(format!("a line break or tempo change needs numbers: {trimmed:?}"));
                }
            }
            'P' => match rest.trim().parse::<u32>() {
                Ok(part @ 1..=3) => current = part,
                _ => skip(format!("not a part marker (P1, P2): {trimmed:?}")),
            },
            'E' if rest.trim().is_empty() => break,
            _ => skip(format!("not an UltraStar line: {trimmed:?}")),
        }
    }
    if song.title.trim().is_empty() || song.artist.trim().is_empty() {
        return Err(UltraStarError::NoHeader);
    }
    // "P3" (both singers) counts towards both parts.
    let both: Vec<(i32, f64)> = parts.iter().filter(|(p, _)| *p == 3).flat_map(|(_, n)| n.clone()).collect();
    parts.retain(|(p, notes)| *p != 3 && !notes.is_empty());
    for (part, notes) in &mut parts {
        if *part != 0 {
            notes.extend_from_slice(&both);
        }
    }
    song.parts = parts
        .into_iter()
        .map(|(part, notes)| {
            let name = match part {
                0 => String::new(),
                p => singers[(p - 1) as usize].clone().unwrap_or_else(|| format!("P{p}")),
            };
            SungPart { name, notes }
        })
        .collect();
    if song.parts.is_empty() {
        return Err(UltraStarError::NoNotes);
    }
    Ok(song)
}

fn notes_of(parts: &mut Vec<(u32, Vec<(i32, f64)>)>, part: u32) -> &mut Vec<(i32, f64)> {
    let index = match parts.iter().position(|(p, _)| *p == part) {
        Some(index) => index,
        None => {
            parts.push((part, Vec::new()));
            parts.len() - 1
        }
    };
    &mut parts[index].1
}

/// `start length pitch` at the front of a note line (the syllable follows).
fn note_fields(rest: &str) -> Option<(i32, i32, i32)> {
    let mut fields = rest.split_whitespace();
    let mut next = || fields.next()?.parse::<i32>().ok();
    let (start, length, pitch) = (next()?, next()?, next()?);
    (length >= 0 && (-200..=200).contains(&pitch)).then_some((start, length, pitch))
}

/// The file's text: UTF-8 (a BOM is dropped) unless `#ENCODING` names
/// CP1252 or the bytes are not UTF-8, in which case CP1252. Returns a note
/// when a declared encoding was overruled.
fn decode(bytes: &[u8]) -> (String, Option<String>) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let declared = bytes.split(|b| *b == b'\n').find_map(|line| {
        let upper = line.to_ascii_uppercase();
        upper.strip_prefix(b"#ENCODING:").map(|v| String::from_utf8_lossy(v).trim().replace(['-', '_'], ""))
    });
    let wants_cp1252 =
        declared.as_deref().is_some_and(|d| matches!(d, "CP1252" | "WINDOWS1252" | "LATIN1" | "ISO88591"));
    match std::str::from_utf8(bytes) {
        Ok(text) if !wants_cp1252 => (text.to_owned(), None),
        Ok(_) => (cp1252(bytes), None),
        Err(_) if declared.as_deref().is_some_and(|d| d == "UTF8") => {
            (cp1252(bytes), Some("#ENCODING says UTF8 but the file is not UTF-8: read as CP1252".into()))
        }
        Err(_) => (cp1252(bytes), None),
    }
}

/// Windows-1252: Latin-1 but for 0x80..0x9F.
fn cp1252(bytes: &[u8]) -> String {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž', '\u{8F}', '\u{90}', '‘',
        '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ',
    ];
    bytes.iter().map(|b| if (0x80..0xA0).contains(b) { HIGH[usize::from(b - 0x80)] } else { char::from(*b) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp1252_decodes_the_windows_range_and_latin1() {
        assert_eq!(cp1252(b"Beyonc\xe9 \x80 \x96 \x93"), "Beyoncé € – “");
    }

    #[test]
    fn a_note_line_needs_three_integers() {
        assert_eq!(note_fields(" 0 4 5 Hel"), Some((0, 4, 5)));
        assert_eq!(note_fields(" 12 2 -3  lo "), Some((12, 2, -3)));
        assert_eq!(note_fields(" 0 four 5 x"), None);
        assert_eq!(note_fields(" 0 4"), None);
    }
}

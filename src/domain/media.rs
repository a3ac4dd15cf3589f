//! The recording formats orakgarak accepts: one table, read by the API
//! (which content types to accept), the converter (container hint from a
//! content type) and the demo client (content type from a file name).

/// (content type, file extension). For a content type the first row wins
/// as its extension; for an extension the first row wins as its type.
const AUDIO_TYPES: &[(&str, &str)] = &[
    ("audio/wav", "wav"),
    ("audio/x-wav", "wav"),
    ("audio/wave", "wav"),
    ("audio/mpeg", "mp3"),
    ("audio/mp4", "m4a"),
    ("audio/mp4", "mp4"),
    ("audio/mp4", "aac"),
    ("audio/x-m4a", "m4a"),
    ("audio/aac", "m4a"),
    ("audio/ogg", "ogg"),
    ("audio/ogg", "oga"),
    ("audio/ogg", "opus"),
    ("audio/opus", "ogg"),
    ("audio/flac", "flac"),
    ("audio/x-flac", "flac"),
    ("audio/webm", "webm"),
    ("video/webm", "webm"),
];

/// The media type without parameters (`audio/webm;codecs=opus` → `audio/webm`).
fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// Whether the converter can decode recordings declared as `content_type`.
pub fn is_accepted_type(content_type: &str) -> bool {
    let essence = essence(content_type);
    AUDIO_TYPES.iter().any(|(t, _)| *t == essence)
}

/// The container hint for a declared content type.
pub fn extension_for_type(content_type: &str) -> Option<&'static str> {
    let essence = essence(content_type);
    AUDIO_TYPES.iter().find(|(t, _)| *t == essence).map(|(_, ext)| *ext)
}

/// The content type to declare for a file extension.
pub fn type_for_extension(extension: &str) -> Option<&'static str> {
    AUDIO_TYPES.iter().find(|(_, ext)| ext.eq_ignore_ascii_case(extension)).map(|(t, _)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_extensions_map_both_ways() {
        assert!(is_accepted_type("audio/webm;codecs=opus"));
        assert!(!is_accepted_type("application/x-msdownload"));
        assert_eq!(extension_for_type("audio/aac"), Some("m4a"));
        assert_eq!(extension_for_type("audio/opus"), Some("ogg"));
        assert_eq!(type_for_extension("OPUS"), Some("audio/ogg"));
        assert_eq!(type_for_extension("aac"), Some("audio/mp4"));
        assert_eq!(type_for_extension("exe"), None);
    }
}

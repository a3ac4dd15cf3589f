//! Which songs fit a singer's range, and in which key.

use serde::{Deserialize, Serialize};

use super::{Catalog, Song};
use crate::audio::SungRange;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recommendation {
    pub song_id: String,
    pub title: String,
    pub artist: String,
    /// Semitones to transpose the song (karaoke key control); 0 = original.
    pub key_shift: i32,
    pub original_range: String,
    /// The song's range after the shift.
    pub sung_range: String,
    /// True when the shifted song lies wholly inside the singer's range.
    pub fits: bool,
    /// Semitones of the singer's range left unused (negative: the song is
    /// that much wider than the singer's range).
    pub headroom: i32,
}

/// Songs that fit, best first: a song fits when some key shift within
/// `max_shift` puts its whole range inside the singer's; among shifts, the
/// one centring the song on the singer's tessitura wins. When nothing
/// fits, the closest songs are returned marked `fits: false`.
pub fn recommend(catalog: &Catalog, singer: &SungRange, max_shift: i32, limit: usize) -> Vec<Recommendation> {
    let (lo, hi, centre) = (singer.lowest.midi(), singer.highest.midi(), singer.tessitura.midi());
    let mut scored: Vec<(f64, Recommendation)> = catalog
        .songs
        .iter()
        .map(|song| {
            let (slo, shi) = (song.lowest.midi(), song.highest.midi());
            let song_centre = f64::from(slo + shi) / 2.0;
            let best_shift = (-max_shift..=max_shift)
                .map(|shift| {
                    let overflow = (lo - (slo + shift)).max(0) + ((shi + shift) - hi).max(0);
                    let off_centre = (song_centre + f64::from(shift) - f64::from(centre)).abs();
                    (overflow, off_centre + 0.25 * f64::from(shift.abs()), shift)
                })
                .min_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
                .unwrap_or((i32::MAX, f64::MAX, 0));
            let (overflow, cost, shift) = best_shift;
            let score = f64::from(overflow) * 100.0 + cost;
            (score, describe(song, shift, overflow == 0, (hi - lo) - (shi - slo)))
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.song_id.cmp(&b.1.song_id)));
    let any_fit = scored.first().is_some_and(|(_, r)| r.fits);
    scored.into_iter().map(|(_, r)| r).filter(|r| r.fits || !any_fit).take(limit).collect()
}

fn describe(song: &Song, shift: i32, fits: bool, headroom: i32) -> Recommendation {
    let name = |n: crate::domain::Note| n.name();
    let shifted = |n: crate::domain::Note| n.transpose(shift).map_or_else(|| "?".into(), name);
    Recommendation {
        song_id: song.id.clone(),
        title: song.title.clone(),
        artist: song.artist.clone(),
        key_shift: shift,
        original_range: format!("{}–{}", name(song.lowest), name(song.highest)),
        sung_range: format!("{}–{}", shifted(song.lowest), shifted(song.highest)),
        fits,
        headroom,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Note;

    fn singer(lo: &str, hi: &str, mid: &str) -> SungRange {
        let n = |s: &str| Note::parse_name(s).expect("note");
        SungRange {
            lowest: n(lo),
            highest: n(hi),
            tessitura: n(mid),
            stable_seconds: 5.0,
            voiced_seconds: 6.0,
            notes: 20,
        }
    }

    fn catalog() -> Catalog {
        Catalog::parse(
            "songs:\n\
             - {id: low, title: Low, artist: A, licence: pd, lowest: B2, highest: B3}\n\
             - {id: mid, title: Mid, artist: A, licence: pd, lowest: C4, highest: A4}\n\
             - {id: wide, title: Wide, artist: A, licence: pd, lowest: G3, highest: G5}\n",
        )
        .expect("catalog")
    }

    #[test]
    fn a_song_that_fits_as_written_needs_no_shift() {
        let recs = recommend(&catalog(), &singer("A3", "C5", "F4"), 6, 10);
        let mid = recs.iter().find(|r| r.song_id == "mid").expect("mid fits");
        assert_eq!((mid.key_shift, mid.fits), (0, true));
        assert!(recs.iter().all(|r| r.song_id != "wide"), "a two-octave song does not fit a 15-semitone voice");
    }

    #[test]
    fn a_bass_gets_songs_shifted_down_into_range() {
        let recs = recommend(&catalog(), &singer("F2", "G3", "C3"), 6, 10);
        assert_eq!(recs.first().map(|r| r.song_id.as_str()), Some("low"));
        let low = &recs[0];
        assert_eq!((low.fits, low.key_shift, low.sung_range.as_str()), (true, -5, "F#2–F#3"), "{low:?}");
    }

    #[test]
    fn when_nothing_fits_the_closest_songs_come_back_marked() {
        let recs = recommend(&catalog(), &singer("C4", "D4", "C#4"), 6, 2);
        assert_eq!(recs.len(), 2);
        assert!(recs.iter().all(|r| !r.fits));
    }
}

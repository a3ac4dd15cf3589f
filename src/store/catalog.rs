//! The song catalogue's table: upserts from imports, listings for the API
//! and the CLI, and whole reads for ranking snapshots.

use serde::Deserialize;
use sqlx::{PgPool, Row};

use super::StoreError;
use crate::catalog::{Part, Song, Source};

/// What storing a song did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Inserted,
    Updated,
    /// The stored song already said exactly this.
    Unchanged,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SongQuery {
    /// Words that must all appear in the title or artist (case ignored).
    pub q: Option<String>,
    pub language: Option<String>,
    pub genre: Option<String>,
    pub duet: Option<bool>,
    #[serde(default)]
    pub offset: i64,
    pub limit: Option<i64>,
}

const COLUMNS: &str = "id, title, artist, language, genre, year, original_key, licence, source, parts";

/// Stores `song`, replacing what was stored under its id.
pub async fn upsert_song<'e>(executor: impl sqlx::PgExecutor<'e>, song: &Song) -> Result<Upserted, StoreError> {
    let parts = serde_json::to_value(&song.parts).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let row = sqlx::query(
        "INSERT INTO songs (id, title, artist, language, genre, year, original_key, licence, source, duet, lowest, highest, parts)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (id) DO UPDATE SET
             title = excluded.title, artist = excluded.artist, language = excluded.language,
             genre = excluded.genre, year = excluded.year, original_key = excluded.original_key,
             licence = excluded.licence, source = excluded.source, duet = excluded.duet,
             lowest = excluded.lowest, highest = excluded.highest, parts = excluded.parts, updated_at = now()
         WHERE (songs.title, songs.artist, songs.language, songs.genre, songs.year, songs.original_key,
                songs.licence, songs.source, songs.parts)
               IS DISTINCT FROM
               (excluded.title, excluded.artist, excluded.language, excluded.genre, excluded.year,
                excluded.original_key, excluded.licence, excluded.source, excluded.parts)
         RETURNING (xmax = 0) AS inserted",
    )
    .bind(&song.id)
    .bind(&song.title)
    .bind(&song.artist)
    .bind(&song.language)
    .bind(&song.genre)
    .bind(song.year)
    .bind(&song.original_key)
    .bind(&song.licence)
    .bind(song.source.as_str())
    .bind(song.duet())
    .bind(song.lowest() as i16)
    .bind(song.highest() as i16)
    .bind(parts)
    .fetch_optional(executor)
    .await?;
    Ok(match row {
        None => Upserted::Unchanged,
        Some(row) if row.get::<bool, _>("inserted") => Upserted::Inserted,
        Some(_) => Upserted::Updated,
    })
}

/// Stores `songs` in one transaction (the bundled songs, at every
/// `migrate`): songs already stored as they are stay untouched.
pub async fn seed(pool: &PgPool, songs: &[Song]) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    for song in songs {
        upsert_song(&mut *tx, song).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The catalogue's revision: it changes whenever a song does.
pub async fn catalog_revision(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT revision FROM catalog_revision").fetch_one(pool).await?)
}

/// Every song, with the revision they were read at (one transaction).
pub async fn all_songs(pool: &PgPool) -> Result<(i64, Vec<Song>), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
    let revision: i64 = sqlx::query_scalar("SELECT revision FROM catalog_revision").fetch_one(&mut *tx).await?;
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM songs ORDER BY id")).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let songs = rows.iter().map(song_of).collect::<Result<_, _>>()?;
    Ok((revision, songs))
}

pub async fn find_song(pool: &PgPool, id: &str) -> Result<Option<Song>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM songs WHERE id = $1")).bind(id).fetch_optional(pool).await?;
    row.as_ref().map(song_of).transpose()
}

/// A page of songs in title order, and how many match in all.
pub async fn list_songs(pool: &PgPool, query: &SongQuery, max_limit: i64) -> Result<(Vec<Song>, i64), StoreError> {
    let words: Vec<String> = query
        .q
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(|w| format!("%{}%", w.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")))
        .collect();
    let filter =
        "WHERE (SELECT bool_and(lower(title || ' ' || artist) LIKE w) FROM unnest($1::text[]) AS w) IS NOT FALSE
           AND ($2::text IS NULL OR lower(language) = lower($2))
           AND ($3::text IS NULL OR lower(genre) = lower($3))
           AND ($4::bool IS NULL OR duet = $4)";
    let limit = query.limit.unwrap_or(max_limit).clamp(1, max_limit);
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS}, count(*) OVER () AS total FROM songs {filter}
         ORDER BY lower(title), id LIMIT $5 OFFSET $6"
    ))
    .bind(&words)
    .bind(&query.language)
    .bind(&query.genre)
    .bind(query.duet)
    .bind(limit)
    .bind(query.offset.max(0))
    .fetch_all(pool)
    .await?;
    let total = match rows.first() {
        Some(row) => row.get::<i64, _>("total"),
        None => {
            sqlx::query_scalar(&format!("SELECT count(*) FROM songs {filter}"))
                .bind(&words)
                .bind(&query.language)
                .bind(&query.genre)
                .bind(query.duet)
                .fetch_one(pool)
                .await?
        }
    };
    Ok((rows.iter().map(song_of).collect::<Result<_, _>>()?, total))
}

fn song_of(row: &sqlx::postgres::PgRow) -> Result<Song, StoreError> {
    let id: String = row.get("id");
    let corrupt = |what: String| StoreError::Corrupt(format!("song {id}: {what}"));
    let source: String = row.get("source");
    let parts: serde_json::Value = row.get("parts");
    Ok(Song {
        title: row.get("title"),
        artist: row.get("artist"),
        language: row.get("language"),
        genre: row.get("genre"),
        year: row.get("year"),
        original_key: row.get("original_key"),
        licence: row.get("licence"),
        source: Source::parse(&source).ok_or_else(|| corrupt(format!("unknown source {source:?}")))?,
        parts: serde_json::from_value::<Vec<Part>>(parts).map_err(|e| corrupt(e.to_string()))?,
        id: id.clone(),
    })
}

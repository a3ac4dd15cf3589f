//! The catalogue at scale: ranking 100 000 songs for one singer (p50/p99
//! over many singers, and the memory a song takes in a ranking snapshot),
//! and importing 10 000 UltraStar files into PostgreSQL.
//!
//!   scripts/stack.sh up && cargo bench --bench catalog
//!
//! Anchors in the same run: sorting 100 000 scores (what any ranking that
//! sorts the whole catalogue pays), reading the 10 000 files without
//! parsing them, and 10 000 single-row INSERTs in one transaction (the
//! round-trip floor of storing one song at a time).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use orakgarak::audio::SungRange;
use orakgarak::catalog::{find_song_files, rank, Filters, Part, PitchProfile, Snapshot, Song, Source};
use orakgarak::commands::catalog::import;
use orakgarak::config::Settings;
use orakgarak::domain::Note;
use orakgarak::store::catalog::all_songs;
use orakgarak::store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Counts live heap bytes, to weigh a snapshot.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SONGS: usize = 100_000;
const SINGERS: usize = 500;
const FILES: usize = 10_000;

/// A melody of `notes` notes over a span of 8 to 22 semitones somewhere
/// between C3 and C6, sitting mostly around its middle, as songs do.
fn melody(rng: &mut StdRng, notes: usize) -> Vec<(i32, f64)> {
    let span = rng.gen_range(8..=22);
    let lowest = rng.gen_range(48..=84 - span);
    let centre = lowest + span / 2;
    (0..notes)
        .map(|_| {
            let spread = if rng.gen_bool(0.8) { span / 4 } else { span / 2 };
            let pitch = (centre + rng.gen_range(-spread..=spread)).clamp(lowest, lowest + span);
            (pitch, f64::from(rng.gen_range(1..=8)))
        })
        .collect()
}

fn song(rng: &mut StdRng, index: usize) -> Song {
    let parts = if rng.gen_bool(0.05) { 2 } else { 1 };
    Song {
        id: format!("song-{index}"),
        title: format!("Song {index}"),
        artist: format!("Artist {}", index % 5000),
        language: Some(["English", "Korean", "Japanese", "German"][index % 4].into()),
        genre: Some(["Pop", "Rock", "Ballad", "Folk", "Trot"][index % 5].into()),
        year: Some(1960 + (index % 60) as i32),
        original_key: None,
        licence: None,
        source: Source::UltraStar,
        parts: (0..parts)
            .map(|p| Part {
                name: if parts > 1 { format!("P{}", p + 1) } else { String::new() },
                profile: PitchProfile::from_notes(&melody(rng, 300)).expect("notes"),
            })
            .collect(),
    }
}

fn singer(rng: &mut StdRng) -> SungRange {
    let lowest = rng.gen_range(40..=62);
    let span = rng.gen_range(10..=24);
    let note = |m: i32| Note::from_midi(m).expect("note");
    SungRange {
        lowest: note(lowest),
        highest: note(lowest + span),
        tessitura: note(lowest + span / 2),
        stable_seconds: 5.0,
        voiced_seconds: 6.0,
        notes: 20,
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn ranking() {
    let mut rng = StdRng::seed_from_u64(7);
    let before = LIVE.load(Ordering::Relaxed);
    let songs: Vec<Song> = (0..SONGS).map(|i| song(&mut rng, i)).collect();
    let started = Instant::now();
    let snapshot = Snapshot::new(1, songs);
    let built = started.elapsed();
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "snapshot of {SONGS} songs: built in {}, {:.0} bytes per song ({:.1} MiB)",
        ms(built),
        bytes as f64 / SONGS as f64,
        bytes as f64 / 1024.0 / 1024.0
    );

    let mut plain = Vec::new();
    let mut filtered = Vec::new();
    let korean_ballads =
        Filters { language: Some("korean".into()), genre: Some("ballad".into()), ..Filters::default() };
    for _ in 0..SINGERS {
        let voice = singer(&mut rng);
        let started = Instant::now();
        let recs = rank(&snapshot, &voice, &Filters::default(), 6, 10);
        plain.push(started.elapsed());
        assert_eq!(recs.len(), 10);
        let started = Instant::now();
        std::hint::black_box(rank(&snapshot, &voice, &korean_ballads, 6, 10));
        filtered.push(started.elapsed());
    }
    plain.sort();
    filtered.sort();
    println!(
        "rank {SONGS} songs for one singer ({SINGERS} singers): p50 {} p99 {}; with language+genre filters p50 {} p99 {}",
        ms(percentile(&plain, 0.5)),
        ms(percentile(&plain, 0.99)),
        ms(percentile(&filtered, 0.5)),
        ms(percentile(&filtered, 0.99)),
    );

    let mut sorts = Vec::new();
    for _ in 0..50 {
        let mut scores: Vec<f32> = (0..SONGS).map(|_| rng.gen()).collect();
        let started = Instant::now();
        scores.sort_unstable_by(f32::total_cmp);
        sorts.push(started.elapsed());
        std::hint::black_box(scores);
    }
    sorts.sort();
    println!(
        "anchor: sort {SONGS} f32 scores: p50 {} p99 {}",
        ms(percentile(&sorts, 0.5)),
        ms(percentile(&sorts, 0.99))
    );
}

/// 10 000 UltraStar files of about 300 notes each (a three-minute song),
/// a hundred to a folder, with the odd header and line break of real files.
fn write_library(root: &Path) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(11);
    for i in 0..FILES {
        let dir = root.join(format!("{:03}", i / 100));
        std::fs::create_dir_all(&dir)?;
        let mut text = format!(
            "#VERSION:1.0.0\n#TITLE:Song {i}\n#ARTIST:Artist {}\n#LANGUAGE:English\n#GENRE:Pop\n#YEAR:{}\n#BPM:280\n#GAP:12000\n#MP3:song.mp3\n",
            i % 2000,
            1960 + i % 60
        );
        let mut beat = 0;
        for (n, (pitch, length)) in melody(&mut rng, 300).into_iter().enumerate() {
            text.push_str(&format!(": {beat} {} {} la\n", length as i32, pitch - 60));
            beat += length as i32 + 1;
            if n % 8 == 7 {
                text.push_str(&format!("- {beat}\n"));
                beat += 2;
            }
        }
        text.push_str("E\n");
        std::fs::write(dir.join(format!("song-{i}.txt")), text)?;
    }
    Ok(())
}

async fn importing() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/catalog-bench/library");
    if !root.join("099").exists() {
        write_library(&root)?;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/orakgarak.yaml");
    let mut settings = Settings::load(Some(&path), std::iter::empty())?;
    let db = orakgarak::devstack::isolate(&mut settings).await?;
    let store = Store::connect(&settings.database).await?;
    store.migrate().await?;

    let (files, _) = find_song_files(std::slice::from_ref(&root))?;
    let started = Instant::now();
    let bytes: usize = files.iter().map(|f| std::fs::read(f).map(|b| b.len())).sum::<std::io::Result<usize>>()?;
    let read = started.elapsed();
    println!(
        "anchor: read {} files ({:.1} MiB) without parsing: {:.0} files/s",
        files.len(),
        bytes as f64 / 1024.0 / 1024.0,
        files.len() as f64 / read.as_secs_f64()
    );

    let started = Instant::now();
    let mut tx = store.pool().begin().await?;
    sqlx::query("CREATE TEMP TABLE anchor (id text PRIMARY KEY, title text, parts jsonb)").execute(&mut *tx).await?;
    for i in 0..FILES {
        sqlx::query("INSERT INTO anchor VALUES ($1, $2, '[]')")
            .bind(format!("a{i}"))
            .bind(format!("Song {i}"))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    println!(
        "anchor: {FILES} single-row INSERTs in one transaction: {:.0} rows/s",
        FILES as f64 / started.elapsed().as_secs_f64()
    );

    for run in ["first import", "re-import (nothing changed)"] {
        let started = Instant::now();
        let summary = import(&store, std::slice::from_ref(&root), false).await?;
        let took = started.elapsed();
        anyhow::ensure!(summary.skipped.is_empty() && summary.songs.len() == FILES, "every file imports");
        println!(
            "{run}: {FILES} files in {:.1} s = {:.0} files/s ({} imported, {} unchanged)",
            took.as_secs_f64(),
            FILES as f64 / took.as_secs_f64(),
            summary.imported,
            summary.unchanged
        );
    }
    let started = Instant::now();
    let (_, songs) = all_songs(store.pool()).await?;
    let snapshot = Snapshot::new(0, songs);
    println!("re-read the snapshot of {} songs from PostgreSQL: {}", snapshot.len(), ms(started.elapsed()));
    store.pool().close().await;
    orakgarak::devstack::drop_database(&db).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let only_ranking = std::env::args().any(|a| a == "--ranking-only");
    ranking();
    if !only_ranking {
        importing().await?;
    }
    Ok(())
}

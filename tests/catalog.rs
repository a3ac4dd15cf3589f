//! The song catalogue on the real stack: UltraStar and MIDI files imported
//! into PostgreSQL (one fixture per quirk of the format, written here), the
//! CLI over it, and songs added while the pipeline runs being recommended
//! without a restart.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{fixture, isolated_settings, spawn_app, wait_completed};
use orakgarak::catalog::SongFacts;
use orakgarak::commands::catalog::{import, ImportSummary};
use orakgarak::config::Settings;
use orakgarak::store::catalog::{catalog_revision, find_song};
use orakgarak::store::Store;
use serde_json::Value;

/// A fresh folder under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orakgarak-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("folder");
    std::fs::write(&path, bytes).expect("fixture written");
    path
}

/// An UltraStar song: headers, then note lines, then `E`.
fn ultrastar(headers: &[&str], lines: &[&str]) -> String {
    let mut text: String = headers.iter().map(|h| format!("{h}\n")).collect();
    text.extend(lines.iter().map(|l| format!("{l}\n")));
    text.push_str("E\n");
    text
}

/// A MIDI file: a named first track with a key signature, then a melody.
fn midi(name: &str, melody: &[u8]) -> Vec<u8> {
    use midly::num::u28;
    use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};
    let event = |delta: u32, kind| TrackEvent { delta: u28::new(delta), kind };
    let meta = vec![
        event(0, TrackEventKind::Meta(MetaMessage::TrackName(name.as_bytes()))),
        event(0, TrackEventKind::Meta(MetaMessage::KeySignature(0, true))),
        event(0, TrackEventKind::Meta(MetaMessage::EndOfTrack)),
    ];
    let mut notes = Vec::new();
    for key in melody {
        let on = MidiMessage::NoteOn { key: (*key).into(), vel: 90.into() };
        let off = MidiMessage::NoteOff { key: (*key).into(), vel: 0.into() };
        notes.push(event(0, TrackEventKind::Midi { channel: 0.into(), message: on }));
        notes.push(event(240, TrackEventKind::Midi { channel: 0.into(), message: off }));
    }
    notes.push(event(0, TrackEventKind::Meta(MetaMessage::EndOfTrack)));
    let smf = Smf { header: Header::new(Format::Parallel, Timing::Metrical(480.into())), tracks: vec![meta, notes] };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes).expect("in-memory MIDI");
    bytes
}

/// One file per quirk; returns the folder.
fn quirky_library() -> PathBuf {
    let dir = scratch("library");
    let plain = ultrastar(
        &[
            "#VERSION:1.0.0",
            "#TITLE:Crlf Song",
            "#ARTIST:Tester",
            "#LANGUAGE:English",
            "#GENRE:Pop",
            "#YEAR:1999",
            "#BPM:300",
            "#GAP:1000",
        ],
        &[": 0 4 0 la", ": 4 4 4 la", "* 8 8 7 gold", "- 16", ": 20 2 12 high"],
    );
    let mut bom_crlf = b"\xEF\xBB\xBF".to_vec();
    bom_crlf.extend(plain.replace('\n', "\r\n").into_bytes());
    write(&dir, "pop/bom-crlf.txt", bom_crlf);
    let cp1252_declared =
        ultrastar(&["#ENCODING:CP1252", "#TITLE:Caf\u{e9}", "#ARTIST:Declared"], &[": 0 4 2 a", ": 4 4 5 b"]);
    // Latin-1 bytes, declared: é is one byte, as CP1252 writes it.
    write(&dir, "cp1252-declared.txt", cp1252_declared.chars().map(|c| c as u32 as u8).collect::<Vec<u8>>());
    let mut undeclared = b"#TITLE:Na\xefve\n#ARTIST:Undeclared\n".to_vec();
    undeclared.extend(b": 0 4 0 a\n: 4 4 3 b\nE\n");
    write(&dir, "cp1252-undeclared.txt", undeclared);
    write(
        &dir,
        "lowercase.txt",
        ultrastar(&["#title:Lower", "#artist:Case", "#Language:German"], &[": 0 2 -5 a", ": 2 2 0 b"]),
    );
    write(
        &dir,
        "freestyle-rap.txt",
        ultrastar(
            &["#TITLE:Spoken", "#ARTIST:Rapper"],
            &[": 0 4 0 a", ": 4 4 2 b", "F 8 4 24 free", "R 12 4 -24 rap", "G 16 4 -20 gold rap"],
        ),
    );
    write(
        &dir,
        "duet.txt",
        ultrastar(
            &["#TITLE:Together", "#ARTIST:Pair", "#P1:Anna", "#P2:Ben"],
            &["P1", ": 0 4 0 a", ": 4 4 4 b", "P2", ": 8 4 -12 c", ": 12 4 -5 d"],
        ),
    );
    write(
        &dir,
        "legacy-duet.txt",
        ultrastar(
            &["#TITLE:Old Pair", "#ARTIST:Pair", "#DUETSINGERP1:Cleo"],
            &["P 1", ": 0 4 2 a", "P 2", ": 4 4 -3 b"],
        ),
    );
    write(
        &dir,
        "relative.txt",
        ultrastar(
            &["#TITLE:Relative", "#ARTIST:Legacy", "#RELATIVE:yes"],
            &[": 0 4 0 a", "- 8 8", ": 0 4 5 b", "- 8 8", ": 0 4 9 c"],
        ),
    );
    write(&dir, "tempo.txt", ultrastar(&["#TITLE:Tempo", "#ARTIST:Changes"], &[": 0 4 0 a", "B 8 240", ": 8 4 7 b"]));
    write(
        &dir,
        "malformed.txt",
        ultrastar(
            &["#TITLE:Broken Lines", "#ARTIST:Sloppy"],
            &[": 0 4 0 a", ": 4 x 5 bad", "hello world", ": 8 4 4 c"],
        ),
    );
    // Pitches written as MIDI numbers (60 = C4): five octaves too high.
    write(
        &dir,
        "octave-off.txt",
        ultrastar(&["#TITLE:Too High", "#ARTIST:Shifted"], &[": 0 4 60 a", ": 4 8 66 b", ": 12 4 72 c"]),
    );
    write(
        &dir,
        "midi/greensleeves.mid",
        midi("Greensleeves", &[57, 60, 62, 64, 65, 64, 62, 59, 55, 57, 59, 60, 57, 76]),
    );
    write(&dir, "no-notes.txt", "#TITLE:Silent\n#ARTIST:Nobody\nE\n");
    write(&dir, "pop/cover.jpg", [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]);
    dir
}

async fn song(store: &Store, summary: &ImportSummary, title: &str) -> SongFacts {
    let imported = summary.songs.iter().find(|s| s.title == title).unwrap_or_else(|| panic!("{title} imported"));
    find_song(store.pool(), &imported.id).await.expect("query").expect("stored").facts()
}

fn ranges(facts: &SongFacts) -> Vec<(String, String, String)> {
    facts.parts.iter().map(|p| (p.name.clone(), p.lowest.clone(), p.highest.clone())).collect()
}

fn part(name: &str, lowest: &str, highest: &str) -> (String, String, String) {
    (name.into(), lowest.into(), highest.into())
}

#[tokio::test]
async fn every_quirk_of_ultrastar_and_midi_files_imports_with_its_range() {
    let (settings, _db) = isolated_settings().await;
    let store = Store::connect(&settings.database).await.expect("database");
    store.migrate().await.expect("migrations");
    let library = quirky_library();
    let summary = import(&store, std::slice::from_ref(&library), false).await.expect("import");

    assert_eq!((summary.imported, summary.updated, summary.unchanged), (12, 0, 0), "{summary:#?}");
    assert_eq!(summary.not_songs, 1, "cover.jpg is passed over, not reported");
    let skipped: Vec<(String, &str)> = summary
        .skipped
        .iter()
        .map(|s| (s.file.file_name().expect("name").to_string_lossy().into_owned(), s.note.as_str()))
        .collect();
    assert_eq!(skipped, [("no-notes.txt".to_owned(), "no sung notes")]);

    let plain = song(&store, &summary, "Crlf Song").await;
    assert_eq!(ranges(&plain), [part("", "C4", "C5")], "BOM and CRLF are read past; golden notes are sung");
    assert_eq!(plain.parts[0].median, "G4", "the long golden G4 holds the median");
    assert_eq!(plain.parts[0].band, "C4–C5");
    assert_eq!(
        (plain.language.as_deref(), plain.genre.as_deref(), plain.year, plain.duet),
        (Some("English"), Some("Pop"), Some(1999), false)
    );
    assert_eq!(song(&store, &summary, "Café").await.artist, "Declared", "#ENCODING:CP1252");
    assert_eq!(song(&store, &summary, "Naïve").await.artist, "Undeclared", "not UTF-8, so CP1252");
    let lower = song(&store, &summary, "Lower").await;
    assert_eq!((lower.artist.as_str(), lower.language.as_deref()), ("Case", Some("German")), "header keys ignore case");
    assert_eq!(ranges(&lower), [part("", "G3", "C4")]);
    assert_eq!(
        ranges(&song(&store, &summary, "Spoken").await),
        [part("", "C4", "D4")],
        "F, R and G notes carry no pitch"
    );
    let duet = song(&store, &summary, "Together").await;
    assert!(duet.duet);
    assert_eq!(ranges(&duet), [part("Anna", "C4", "E4"), part("Ben", "C3", "G3")]);
    assert_eq!(ranges(&song(&store, &summary, "Old Pair").await), [part("Cleo", "D4", "D4"), part("P2", "A3", "A3")]);
    assert_eq!(ranges(&song(&store, &summary, "Relative").await), [part("", "C4", "A4")]);
    assert_eq!(ranges(&song(&store, &summary, "Tempo").await), [part("", "C4", "G4")]);
    assert_eq!(ranges(&song(&store, &summary, "Broken Lines").await), [part("", "C4", "E4")]);
    assert_eq!(ranges(&song(&store, &summary, "Too High").await), [part("", "C4", "C5")]);
    let greensleeves = song(&store, &summary, "Greensleeves").await;
    assert_eq!(ranges(&greensleeves), [part("", "G3", "E5")]);
    assert_eq!(greensleeves.original_key.as_deref(), Some("A minor"));

    let warnings: Vec<String> = summary
        .warnings
        .iter()
        .map(|w| format!("{}: {}", w.file.file_name().expect("name").to_string_lossy(), w.note))
        .collect();
    assert!(warnings.iter().any(|w| w.starts_with("malformed.txt: line 4: a note needs")), "{warnings:#?}");
    assert!(warnings.iter().any(|w| w.starts_with("malformed.txt: line 5: not an UltraStar line")), "{warnings:#?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("octave-off.txt: notes C9–C10 lie outside any human voice: moved 5 octaves down")),
        "{warnings:#?}"
    );
    assert_eq!(warnings.len(), 3, "no other file warns: {warnings:#?}");
}

#[tokio::test]
async fn importing_twice_or_from_another_path_leaves_the_same_catalogue_and_an_edit_updates_its_song() {
    let (settings, _db) = isolated_settings().await;
    let store = Store::connect(&settings.database).await.expect("database");
    store.migrate().await.expect("migrations");
    let library = quirky_library();
    let first = import(&store, std::slice::from_ref(&library), false).await.expect("import");
    let revision = catalog_revision(store.pool()).await.expect("revision");
    let stored: Vec<(String, Value)> =
        sqlx::query_as("SELECT id, parts FROM songs ORDER BY id").fetch_all(store.pool()).await.expect("songs");

    let again = import(&store, std::slice::from_ref(&library), false).await.expect("import again");
    assert_eq!((again.imported, again.updated, again.unchanged), (0, 0, first.imported), "{again:#?}");
    assert_eq!(
        catalog_revision(store.pool()).await.expect("revision"),
        revision,
        "nothing changed, nothing to re-read"
    );
    let after: Vec<(String, Value)> =
        sqlx::query_as("SELECT id, parts FROM songs ORDER BY id").fetch_all(store.pool()).await.expect("songs");
    assert_eq!(after, stored);

    // The same song under another name in another folder is the same song.
    let elsewhere = scratch("elsewhere");
    let moved = write(&elsewhere, "renamed.TXT", std::fs::read(library.join("tempo.txt")).expect("read"));
    let moved_summary = import(&store, &[moved], false).await.expect("import");
    assert_eq!((moved_summary.imported, moved_summary.unchanged), (0, 1));
    let tempo_id = &first.songs.iter().find(|s| s.title == "Tempo").expect("tempo").id;
    assert_eq!(&moved_summary.songs[0].id, tempo_id);

    // An edited file (a higher last note) updates its song in place.
    let edited = write(
        &elsewhere,
        "tempo-fixed.txt",
        ultrastar(&["#TITLE:Tempo", "#ARTIST:Changes"], &[": 0 4 0 a", ": 8 4 9 b"]),
    );
    let edit = import(&store, &[edited], false).await.expect("import");
    assert_eq!((edit.imported, edit.updated), (0, 1));
    let facts = find_song(store.pool(), tempo_id).await.expect("query").expect("stored").facts();
    assert_eq!(facts.highest, "A4");
    assert!(catalog_revision(store.pool()).await.expect("revision") > revision);
}

/// `orakgarak catalog …` against the test's database.
fn cli(settings: &Settings, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_orakgarak"))
        .arg("catalog")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ORAKGARAK__DATABASE__URL", settings.database.url.expose())
        .output()
        .expect("the orakgarak binary runs");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8 output");
    (output.status.success(), text(output.stdout), text(output.stderr))
}

#[tokio::test]
async fn the_catalog_cli_imports_lists_and_shows_songs_and_fails_when_a_file_is_skipped() {
    let (settings, _db) = isolated_settings().await;
    let store = Store::connect(&settings.database).await.expect("database");
    store.migrate().await.expect("migrations");
    let bundled = orakgarak::catalog::load_bundled(&settings.catalog.path).expect("bundled");
    orakgarak::store::catalog::seed(store.pool(), &bundled).await.expect("seeded as migrate does");
    let dir = scratch("cli");
    let good = write(
        &dir,
        "good.txt",
        ultrastar(&["#TITLE:Good", "#ARTIST:Singer", "#GENRE:Rock"], &[": 0 4 -3 a", ": 4 8 2 b", ": 12 2 7 c"]),
    );
    let (ok, stdout, stderr) = cli(&settings, &["import", "--json", good.to_str().expect("path")]);
    assert!(ok, "{stdout}{stderr}");
    let summary: Value = serde_json::from_str(&stdout).expect("JSON summary");
    assert_eq!(summary["imported"], 1, "{summary}");
    let id = summary["songs"][0]["id"].as_str().expect("id").to_owned();

    let (ok, stdout, _) = cli(&settings, &["show", &id, "--json"]);
    assert!(ok);
    let facts: SongFacts = serde_json::from_str(&stdout).expect("facts");
    assert_eq!((facts.lowest.as_str(), facts.highest.as_str(), facts.parts[0].median.as_str()), ("A3", "G4", "D4"));
    let (ok, stdout, _) = cli(&settings, &["show", &id]);
    assert!(ok && stdout.contains("melody: A3–G4, median D4, 80 % of the time in A3–G4"), "{stdout}");

    let (ok, stdout, _) = cli(&settings, &["list", "--json"]);
    assert!(ok);
    let listed: Vec<SongFacts> = serde_json::from_str(&stdout).expect("list");
    assert_eq!(listed.len(), bundled.len() + 1, "the bundled songs and the one imported");
    assert!(listed.iter().any(|s| s.id == id && s.genre.as_deref() == Some("Rock")));

    let junk = write(&dir, "junk.txt", "just some notes to self\n");
    let (ok, stdout, stderr) = cli(&settings, &["import", junk.to_str().expect("path"), good.to_str().expect("path")]);
    assert!(!ok, "a skipped file fails the command");
    assert!(
        stdout.contains("skipped: ") && stdout.contains("junk.txt: neither an UltraStar .txt nor a MIDI file"),
        "{stdout}"
    );
    assert!(stdout.contains("0 imported, 0 updated, 1 unchanged, 1 skipped."), "{stdout}");
    assert!(stderr.contains("1 files were skipped"), "{stderr}");
    let (ok, _, stderr) = cli(&settings, &["import", "/nonexistent/songs.txt"]);
    assert!(!ok && stderr.contains("/nonexistent/songs.txt: No such file"), "{stderr}");
    assert!(!stderr.contains("migrated"), "a missing file is not a database problem: {stderr}");
    let (ok, _, stderr) = cli(&settings, &["show", "nope"]);
    assert!(!ok && stderr.contains("no song \"nope\""), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_song_imported_while_the_pipeline_runs_is_recommended_without_a_restart() {
    let app = spawn_app().await;
    let bundled = orakgarak::catalog::load_bundled(&app.settings.catalog.path).expect("bundled").len();
    let first = app.upload("take.ogg", "audio/ogg", fixture("sung-a3-e4.ogg")).await;
    let done = wait_completed(&app, std::slice::from_ref(&first), Duration::from_secs(90)).await;
    assert_eq!(done[0]["result"]["catalog_size"], bundled);
    let get = |path: String| {
        let request = app.client.http.get(format!("{}{path}", app.base_url)).bearer_auth(&app.client.token);
        async move {
            let response = request.send().await.expect("GET");
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = get(format!("/v1/uploads/{first}/recommendations?genre=orakgarak-test")).await;
    assert_eq!((status, body["recommendations"].as_array().map(Vec::len)), (200, Some(0)), "{body}");

    // A song for this singer (A3–E4), added while the workers run.
    let dir = scratch("live");
    let file = write(
        &dir,
        "new.txt",
        ultrastar(
            &["#TITLE:Fresh Tune", "#ARTIST:Newcomer", "#GENRE:Orakgarak-Test", "#LANGUAGE:Korean"],
            &[": 0 2 -2 a", ": 2 8 0 b", ": 10 8 2 c", ": 18 2 3 d"],
        ),
    );
    let summary = import(&app.app.store, &[file], false).await.expect("import");
    assert_eq!(summary.imported, 1);

    let (status, body) = get(format!("/v1/uploads/{first}/recommendations?genre=orakgarak-test&limit=5")).await;
    assert_eq!(status, 200, "{body}");
    let songs = body["recommendations"].as_array().expect("list");
    assert_eq!(songs.len(), 1, "{body}");
    assert_eq!((songs[0]["title"].as_str(), songs[0]["fits"].as_bool()), (Some("Fresh Tune"), Some(true)), "{body}");
    assert!(songs[0]["reason"].as_str().is_some_and(|r| r.contains("inside your range")), "{body}");
    let (status, body) =
        get(format!("/v1/uploads/{first}/recommendations?language=korean&duet=false&max_key_shift=0")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["recommendations"].as_array().expect("list").iter().all(|r| r["key_shift"] == 0));

    let second = app.upload("again.ogg", "audio/ogg", fixture("sung-a3-e4.ogg")).await;
    let done = wait_completed(&app, std::slice::from_ref(&second), Duration::from_secs(90)).await;
    assert_eq!(done[0]["result"]["catalog_size"], bundled + 1, "the worker read the grown catalogue");

    // Not analysed yet: nothing to rank.
    let (status, created) = app.client.create_upload("later.ogg", "audio/ogg", 1000, None).await.expect("POST");
    assert_eq!(status, 201);
    let pending = created["upload_id"].as_str().expect("id");
    let (status, body) = get(format!("/v1/uploads/{pending}/recommendations")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");

    // Bad filters, someone else's upload, no token.
    assert_eq!(get(format!("/v1/uploads/{first}/recommendations?limit=0")).await.0, 400);
    assert_eq!(get(format!("/v1/uploads/{first}/recommendations?duet=perhaps")).await.0, 400);
    let mallory = app.client_for("mallory");
    let theirs = mallory
        .http
        .get(format!("{}/v1/uploads/{first}/recommendations", app.base_url))
        .bearer_auth(&mallory.token)
        .send()
        .await
        .expect("GET");
    assert_eq!(theirs.status().as_u16(), 404);
    let anonymous = reqwest::get(format!("{}/v1/songs", app.base_url)).await.expect("GET");
    assert_eq!(anonymous.status().as_u16(), 401);

    // The song list: search, filters, pages.
    let (status, page) = get("/v1/songs?q=fresh%20NEWCOMER".into()).await;
    assert_eq!((status, page["total"].as_i64()), (200, Some(1)), "{page}");
    assert_eq!(page["songs"][0]["parts"][0]["median"], "C4", "{page}");
    let (_, korean) = get("/v1/songs?language=Korean".into()).await;
    assert!(korean["songs"].as_array().expect("songs").iter().all(|s| s["language"] == "Korean"), "{korean}");
    let (_, first_page) = get("/v1/songs?limit=5".into()).await;
    assert_eq!((first_page["total"].as_u64(), first_page["next_offset"].as_u64()), (Some(bundled as u64 + 1), Some(5)));
    let (_, last_page) = get(format!("/v1/songs?limit=5&offset={}", bundled - 1)).await;
    assert_eq!(last_page["songs"].as_array().map(Vec::len), Some(2));
    assert!(last_page.get("next_offset").is_none(), "{last_page}");
    assert_eq!(get("/v1/songs?limit=1000".into()).await.0, 400);
    app.stop().await;
}

//! The committed recordings and keys under `tests/fixtures/`.

/// The bytes of `tests/fixtures/<name>`; fails naming the path.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

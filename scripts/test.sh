#!/usr/bin/env bash
# The test command: starts (installing if needed) the local stack, then runs
# every test against it. Tests that need a service fail loudly without it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/stack.sh up
cargo fmt --check
cargo clippy --all-targets -- -D warnings
# Benchmarks are compiled (so they cannot rot) but not run: they print
# figures, they do not assert (README, "Benchmarks").
cargo build --benches
cargo test --lib --bins --tests "$@"

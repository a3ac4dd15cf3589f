#!/usr/bin/env bash
# The test command: starts (installing if needed) the local stack, then runs
# every test against it. Tests that need a service fail loudly without it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/stack.sh up
cargo test --all-targets "$@"

#!/usr/bin/env bash
# Starts the stack and `orakgarak all`, pushes the demo recording through
# the pipeline and prints its states and recommendations.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/stack.sh up
cargo build --bin orakgarak
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/orakgarak"
mkdir -p .stack/logs
if ! (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
  "$BIN" all >.stack/logs/orakgarak.log 2>&1 &
  SERVICE=$!
  trap 'kill $SERVICE 2>/dev/null; wait $SERVICE 2>/dev/null || true' EXIT
  for _ in $(seq 150); do
    curl -sf http://127.0.0.1:8080/readyz >/dev/null && break
    kill -0 $SERVICE 2>/dev/null || { tail -n 30 .stack/logs/orakgarak.log; exit 1; }
    sleep 0.2
  done
  echo "orakgarak all is running (logs: .stack/logs/orakgarak.log, metrics: http://127.0.0.1:9464/metrics)"
fi
"$BIN" demo --file "${1:-demo/demo-singer.ogg}"

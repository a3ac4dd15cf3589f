#!/usr/bin/env bash
# Type-checks dashboards against Grafana's own published model:
# @grafana/schema's TypeScript types and tsc, both pinned in
# scripts/grafana-schema/package-lock.json and installed on first use into
# target/grafana-schema (cached; reinstalled when the lock file changes).
#
#   scripts/grafana-schema-check.sh [DASHBOARD.json...]   (default: dashboards/*.json)
#
# Exit status 0 when every dashboard type-checks; otherwise tsc's errors,
# each naming the generated module (target/grafana-schema/checks.*/NAME.ts).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/target/grafana-schema"
mkdir -p "$work"
# One install at a time (tests call this script in parallel).
exec 9>"$work/.install.lock"
flock 9
if ! cmp -s "$root/scripts/grafana-schema/package-lock.json" "$work/package-lock.json" || [[ ! -x "$work/node_modules/.bin/tsc" ]]; then
  cp "$root/scripts/grafana-schema/package.json" "$root/scripts/grafana-schema/package-lock.json" "$work/"
  echo "[grafana-schema] installing @grafana/schema and typescript (pinned) into $work" >&2
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
flock -u 9
if [[ $# -eq 0 ]]; then
  set -- "$root"/dashboards/*.json
fi
# Each run its own directory, so parallel runs never see each other's files.
checks="$(mktemp -d "$work/checks.XXXXXX")"
trap 'rm -rf "$checks"' EXIT
node "$root/scripts/grafana-schema/check.mjs" "$checks" "$@"
cat > "$checks/tsconfig.json" <<JSON
{
  "compilerOptions": {
    "strict": true,
    "noEmit": true,
    "target": "es2022",
    "module": "esnext",
    "moduleResolution": "bundler",
    "skipLibCheck": true,
    "types": []
  },
  "include": ["*.ts"]
}
JSON
cd "$work"
node_modules/.bin/tsc -p "$checks/tsconfig.json" --pretty false
echo "[grafana-schema] $# dashboards type-check against @grafana/schema $(node -p 'require("./node_modules/@grafana/schema/package.json").version')"

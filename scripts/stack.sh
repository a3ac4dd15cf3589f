#!/usr/bin/env bash
# The local stack on 127.0.0.1, from registry packages only:
#   PostgreSQL (Debian), S3 (s3s-fs from crates.io, verifies SigV4) with a
#   CORS front for browsers (Debian's nginx), Kafka protocol (tansu from
#   crates.io); for the web app's tests, Debian's Chromium and
#   playwright-core from npm (tests/web); for the analyser's tests on
#   sampled human voices, FluidSynth and the TimGM6mb soundfont (Debian).
# Installs what is missing (skipping what is there), starts what is not
# running, and keeps all state under one directory it can wipe.
#
#   scripts/stack.sh up        install + start (idempotent)
#   scripts/stack.sh down      stop what this script started
#   scripts/stack.sh restart-kafka   stop and start the broker only
#   scripts/stack.sh monitoring   also start Prometheus, Alertmanager and the
#                              node/PostgreSQL exporters (apart from the app, D2)
#   scripts/stack.sh status    what is listening
#   scripts/stack.sh wipe      down, then delete all state
#
# KAFKA_STORAGE=memory (default, fast) or s3 (survives a broker restart;
# tansu keeps its log in the s3s-fs bucket `tansu`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${ORAKGARAK_STACK_DIR:-$ROOT/.stack}"
S3_PORT="${S3_PORT:-9000}"
# Browsers PUT recordings here: s3s-fs answers a CORS preflight with 501.
S3_CORS_PORT="${S3_CORS_PORT:-9002}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
PG_PORT="${PG_PORT:-5432}"
KAFKA_STORAGE="${KAFKA_STORAGE:-memory}"
S3_ACCESS_KEY="orakgarak"
S3_SECRET_KEY="orakgarak-dev-secret"
# Versions checked on this machine's rustc; newer ones need a newer compiler.
TANSU_VERSION="0.6.0"
# dynostore: memory:// and s3:// storage (the stack's broker); libsql: a
# SQLite-file engine, the only one of this build whose SCRAM users persist
# (dynostore accepts `tansu user create` and stores nothing), for the
# Kafka TLS + SASL test.
TANSU_FEATURES="dynostore,libsql"
S3S_FS_VERSION="0.14.1"
APT_PACKAGES=(postgresql postgresql-client libopus-dev pkg-config cmake
  prometheus prometheus-alertmanager prometheus-node-exporter prometheus-postgres-exporter wrk
  ffmpeg docker-compose stunnel4 libssl-dev nginx-light chromium fonts-nanum
  fluidsynth timgm6mb-soundfont)

log() { printf '[stack] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2 tries=${3:-100}
  for _ in $(seq "$tries"); do
    port_open "$port" && return 0
    sleep 0.2
  done
  log "$name did not open port $port; see $STATE/logs/"
  tail -n 30 "$STATE/logs/$name.log" >&2 2>/dev/null || true
  return 1
}

# Whether the installed tansu was built with every feature in TANSU_FEATURES
# (cargo records them in ~/.cargo/.crates2.json).
tansu_has_features() {
  python3 - "$TANSU_VERSION" "$TANSU_FEATURES" <<'PY'
import json, os, sys
version, wanted = sys.argv[1], set(sys.argv[2].split(","))
path = os.path.join(os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo")), ".crates2.json")
try:
    installs = json.load(open(path))["installs"]
except (OSError, ValueError, KeyError):
    sys.exit(1)
ok = any(k.startswith(f"tansu {version} ") and wanted <= set(v.get("features", [])) for k, v in installs.items())
sys.exit(0 if ok else 1)
PY
}

install_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  # Node.js for the web app's tests, unless the machine has its own.
  command -v npm >/dev/null || missing+=(nodejs npm)
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! command -v s3s-fs >/dev/null; then
    log "building s3s-fs $S3S_FS_VERSION from crates.io (~5 min, once)"
    cargo install s3s-fs --version "$S3S_FS_VERSION" --locked --features binary
  fi
  if [ ! -d "$ROOT/tests/web/node_modules/playwright-core" ]; then
    log "installing playwright-core for the web app's tests (tests/web)"
    npm ci --prefix "$ROOT/tests/web" --no-audit --no-fund --loglevel=error >/dev/null
  fi
  if ! command -v tansu >/dev/null || ! tansu_has_features; then
    log "building tansu $TANSU_VERSION ($TANSU_FEATURES) from crates.io (~20 min, once)"
    cargo install tansu --version "$TANSU_VERSION" --locked --force --features "$TANSU_FEATURES"
  fi
}

start_postgres() {
  if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
    log "starting PostgreSQL"
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n1)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_port "$PG_PORT" postgres
  fi
  if ! psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='orakgarak'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE orakgarak"
  fi
}

start_s3() {
  port_open "$S3_PORT" && return 0
  log "starting s3s-fs on 127.0.0.1:$S3_PORT"
  mkdir -p "$STATE/s3/tansu"
  nohup s3s-fs --host 127.0.0.1 --port "$S3_PORT" --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" \
    "$STATE/s3" >"$STATE/logs/s3s-fs.log" 2>&1 &
  echo $! >"$STATE/pids/s3s-fs.pid"
  wait_port "$S3_PORT" s3s-fs
}

# The CORS front browsers PUT through: it answers preflights itself for
# pages served from loopback (any port: tests serve the app on port 0) and
# passes everything else to s3s-fs with the Host header unchanged, so the
# SigV4 signature still checks. Refusals pass through as s3s-fs sends them.
start_s3_front() {
  port_open "$S3_CORS_PORT" && return 0
  log "starting the S3 CORS front (nginx) on 127.0.0.1:$S3_CORS_PORT"
  mkdir -p "$STATE/nginx/tmp"
  cat >"$STATE/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $STATE/nginx/nginx.pid;
error_log $STATE/logs/nginx.log warn;
$( [ "$(id -u)" -eq 0 ] && echo "user root;" )
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $STATE/nginx/tmp/body;
  proxy_temp_path $STATE/nginx/tmp/proxy;
  fastcgi_temp_path $STATE/nginx/tmp/fastcgi;
  uwsgi_temp_path $STATE/nginx/tmp/uwsgi;
  scgi_temp_path $STATE/nginx/tmp/scgi;
  client_max_body_size 0;
  map \$http_origin \$cors_origin {
    default "";
    "~^http://(127\.0\.0\.1|localhost)(:[0-9]+)?\$" \$http_origin;
  }
  server {
    listen 127.0.0.1:$S3_CORS_PORT;
    location / {
      if (\$request_method = OPTIONS) {
        add_header Access-Control-Allow-Origin \$cors_origin always;
        add_header Access-Control-Allow-Methods "GET, PUT, HEAD" always;
        add_header Access-Control-Allow-Headers \$http_access_control_request_headers always;
        add_header Access-Control-Max-Age 600 always;
        add_header Vary Origin always;
        return 204;
      }
      add_header Access-Control-Allow-Origin \$cors_origin always;
      add_header Access-Control-Expose-Headers ETag always;
      add_header Vary Origin always;
      proxy_pass http://127.0.0.1:$S3_PORT;
      proxy_set_header Host \$http_host;
      proxy_http_version 1.1;
      proxy_buffering off;
    }
  }
}
CONF
  nohup nginx -c "$STATE/nginx/nginx.conf" >"$STATE/logs/nginx.log" 2>&1 &
  echo $! >"$STATE/pids/nginx.pid"
  wait_port "$S3_CORS_PORT" nginx
}

start_kafka() {
  port_open "$KAFKA_PORT" && return 0
  local storage="memory://tansu/"
  [ "$KAFKA_STORAGE" = s3 ] && storage="s3://tansu/"
  log "starting tansu on 127.0.0.1:$KAFKA_PORT (storage $storage)"
  AWS_ENDPOINT="http://127.0.0.1:$S3_PORT" AWS_ALLOW_HTTP=true AWS_DEFAULT_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" \
    nohup tansu broker \
      --kafka-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --kafka-advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --storage-engine "$storage" >"$STATE/logs/tansu.log" 2>&1 &
  echo $! >"$STATE/pids/tansu.pid"
  wait_port "$KAFKA_PORT" tansu
}

start_daemon() {
  local name=$1 port=$2
  shift 2
  port_open "$port" && return 0
  log "starting $name on 127.0.0.1:$port"
  nohup "$@" >"$STATE/logs/$name.log" 2>&1 &
  echo $! >"$STATE/pids/$name.pid"
  wait_port "$port" "$name"
}

monitoring() {
  up
  mkdir -p "$STATE/prometheus" "$STATE/alertmanager"
  # Alertmanager reads the Mattermost webhook URL from a file; locally it
  # points at a Mattermost on :8065 if you run one.
  [ -f "$STATE/mattermost_webhook_url" ] || echo "http://127.0.0.1:8065/hooks/local" >"$STATE/mattermost_webhook_url"
  # The fallback channel and the dead man's switch: set your own URLs in
  # these files (README, "Alerts"); the defaults go nowhere.
  [ -f "$STATE/fallback_webhook_url" ] || echo "http://127.0.0.1:8066/hooks/fallback" >"$STATE/fallback_webhook_url"
  [ -f "$STATE/heartbeat_url" ] || echo "http://127.0.0.1:8067/ping/local" >"$STATE/heartbeat_url"
  sed -e "s|/etc/alertmanager/|$STATE/|" "$ROOT/alertmanager/alertmanager.yml" \
    >"$STATE/alertmanager/alertmanager.yml"
  cp -r "$ROOT/alertmanager/templates" "$STATE/alertmanager/"
  start_daemon node-exporter 9100 prometheus-node-exporter --web.listen-address=127.0.0.1:9100
  DATA_SOURCE_NAME="postgresql://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable" \
    start_daemon postgres-exporter 9187 prometheus-postgres-exporter --web.listen-address=127.0.0.1:9187
  start_daemon alertmanager 9093 prometheus-alertmanager --config.file="$STATE/alertmanager/alertmanager.yml" \
    --storage.path="$STATE/alertmanager/data" --web.listen-address=127.0.0.1:9093 --cluster.listen-address=
  start_daemon prometheus 9090 prometheus --config.file="$ROOT/prometheus/prometheus.yml" \
    --storage.tsdb.path="$STATE/prometheus" --web.listen-address=127.0.0.1:9090
  log "monitoring up: Prometheus http://127.0.0.1:9090, Alertmanager http://127.0.0.1:9093"
}

stop() {
  local name=$1 pidfile="$STATE/pids/$1.pid"
  [ -f "$pidfile" ] || return 0
  local pid
  pid="$(cat "$pidfile")"
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped $name"
  fi
  rm -f "$pidfile"
}

up() {
  mkdir -p "$STATE/logs" "$STATE/pids"
  install_packages
  start_postgres
  start_s3
  start_s3_front
  start_kafka
  log "stack up: postgres :$PG_PORT, s3 :$S3_PORT (browsers :$S3_CORS_PORT), kafka :$KAFKA_PORT (state in $STATE)"
}

case "${1:-up}" in
  up) up ;;
  monitoring) monitoring ;;
  down) for s in prometheus alertmanager postgres-exporter node-exporter tansu nginx s3s-fs; do stop "$s"; done ;;
  restart-kafka) mkdir -p "$STATE/logs" "$STATE/pids"; stop tansu; start_kafka ;;
  # For fire drills (`orakgarak drill broker-down|object-store-down`).
  stop-kafka) stop tansu ;;
  start-kafka) mkdir -p "$STATE/logs" "$STATE/pids"; start_kafka ;;
  stop-s3) stop s3s-fs ;;
  start-s3) mkdir -p "$STATE/logs" "$STATE/pids"; start_s3 ;;
  status)
    for p in "postgres:$PG_PORT" "s3s-fs:$S3_PORT" "nginx:$S3_CORS_PORT" "tansu:$KAFKA_PORT" "prometheus:9090" "alertmanager:9093" "node-exporter:9100" "postgres-exporter:9187"; do
      if port_open "${p#*:}"; then echo "${p%%:*} up (:${p#*:})"; else echo "${p%%:*} down"; fi
    done ;;
  wipe) for s in prometheus alertmanager postgres-exporter node-exporter tansu nginx s3s-fs; do stop "$s"; done; rm -rf "$STATE"; log "state wiped" ;;
  *) echo "usage: $0 up|monitoring|down|restart-kafka|stop-kafka|start-kafka|stop-s3|start-s3|status|wipe" >&2; exit 2 ;;
esac

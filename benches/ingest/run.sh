#!/usr/bin/env bash
# Webhook ingest benchmark: `fixwright serve` (durable, SQLite) against a Probot 14
# app that only acknowledges, in the same run, with the same load generator.
#   bash benches/ingest/run.sh            # DURATION=15s CONNS=32 by default
# Needs wrk (apt-get install -y wrk), node/npm, openssl, python3. Results go to
# stdout and .cache/bench/results.txt; see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
SECRET=bench-secret
FW_PORT=38101
PROBOT_PORT=38102
BENCH=.cache/bench
mkdir -p "$BENCH"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

bash scripts/test-setup
python3 - "$BENCH/issue_comment.json" <<'PY'
import json, sys
index = ".cache/npm/@octokit__webhooks-examples-7.6.1/package/api.github.com/index.json"
events = json.load(open(index))
example = next(e for e in events if e["name"] == "issue_comment")["examples"][0]
open(sys.argv[1], "w").write(json.dumps(example, separators=(",", ":")))
PY
export BENCH_BODY=$BENCH/issue_comment.json
export BENCH_SIG="sha256=$(openssl dgst -sha256 -hmac "$SECRET" -r < "$BENCH_BODY" | cut -d' ' -f1)"
echo "payload: $(wc -c < "$BENCH_BODY") bytes, concurrency $CONNS, $DURATION per run"

if [ ! -f "$BENCH/probot/node_modules/probot/package.json" ]; then
  mkdir -p "$BENCH/probot"
  (cd "$BENCH/probot" && npm install --no-audit --no-fund --silent probot@14.3.2)
fi
[ -f "$BENCH/probot/key.pem" ] || openssl genrsa -out "$BENCH/probot/key.pem" 2048 2>/dev/null

BIN=${FIXWRIGHT_BIN:-${CARGO_TARGET_DIR:-target}/release/fixwright}
[ -x "$BIN" ] || cargo build --release --bin fixwright

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
peak_rss_mb() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
load() { # name url run-id [delay-ms]
  BENCH_RUN=$3 BENCH_DELAY_MS=${4:-0} wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency \
    -s benches/ingest/wrk.lua "$2" | grep '^RESULT' | sed "s/^RESULT/$1/"
}

rm -rf "$BENCH/fw-data"
FIXWRIGHT_WEBHOOK_SECRET=$SECRET FIXWRIGHT_DATA_DIR=$BENCH/fw-data FIXWRIGHT_LOG=warn \
  "$BIN" serve --listen 127.0.0.1:$FW_PORT > "$BENCH/fixwright.log" 2>&1 &
fw=$!; pids+=("$fw")
APP_ID=1 PRIVATE_KEY_PATH=$BENCH/probot/key.pem WEBHOOK_SECRET=$SECRET PORT=$PROBOT_PORT \
  LOG_LEVEL=warn "$BENCH/probot/node_modules/.bin/probot" run ./benches/ingest/probot-app.cjs \
  > "$BENCH/probot.log" 2>&1 &
pb=$!; pids+=("$pb")
wait_up "http://127.0.0.1:$FW_PORT/healthz"
wait_up "http://127.0.0.1:$PROBOT_PORT/"

run=$(date +%s)
{
  echo "== saturated, concurrency $CONNS"
  load probot "http://127.0.0.1:$PROBOT_PORT/api/github/webhooks" "p$run"
  load fixwright "http://127.0.0.1:$FW_PORT/webhooks/github" "f$run"
  probot_rps=$(load probot "http://127.0.0.1:$PROBOT_PORT/api/github/webhooks" "p2$run" | tee /dev/stderr | sed 's/.*rps=\([0-9]*\).*/\1/')
  # Paced run: each connection pauses so the offered load is about Probot's
  # saturated rate (wrk's pacing is per connection and in whole milliseconds).
  delay=$(( CONNS * 1000 / probot_rps ))
  echo "== paced, ${delay} ms pause per connection (target about $probot_rps/s)"
  load fixwright "http://127.0.0.1:$FW_PORT/webhooks/github" "fp$run" "$delay"
  echo "== peak RSS (MB): fixwright $(peak_rss_mb $fw), probot $(peak_rss_mb $pb)"
  curl -s "http://127.0.0.1:$FW_PORT/metrics" | grep -E '^fixwright_webhook_deliveries_total|^fixwright_inbox_queue_depth'
} 2>&1 | tee "$BENCH/results.txt"

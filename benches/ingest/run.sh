#!/usr/bin/env bash
# Webhook ingest benchmark: `fixwright serve` (durable, SQLite) against a Probot 14
# app that only acknowledges, in the same run: saturated with wrk, then at a fixed
# offered rate with an open-loop generator (benches/ingest_load.rs).
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
FW_NORMAL_PORT=38103
FW_INTAKE_PORT=38104
PROBOT_QUIET_PORT=38105
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
[ -x "$BIN" ] || cargo build --locked --release --bin fixwright
bench_exe() { # name: builds benches/<name>.rs (bench profile), prints its path
  local exe
  exe=$(cargo bench --locked --no-run --bench "$1" 2>&1 \
    | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
  [ -x "$exe" ] || { echo "cannot build benches/$1.rs" >&2; exit 1; }
  echo "$exe"
}
# The open-loop generator for the fixed-rate runs, and the inbox writer alone.
LOADGEN=$(bench_exe ingest_load)
WRITER=$(bench_exe inbox_writer)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }
peak_rss_mb() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
saturate() { # name url run-id
  BENCH_RUN=$3 wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency \
    -s benches/ingest/wrk.lua "$2" | grep '^RESULT' | sed "s/^RESULT/$1/"
}
paced() { # name url run-id rate
  "$LOADGEN" --url "$2" --rate "$4" --seconds "${DURATION%s}" --connections "$CONNS" \
    --body "$BENCH_BODY" --secret "$SECRET" --run "$3" | sed "s/^RESULT/$1/"
}
rps() { sed 's/.*rps=\([0-9]*\).*/\1/'; }

start_fixwright() { # name port power-safe [workers]
  rm -rf "$BENCH/$1-data"
  FIXWRIGHT_WEBHOOK_SECRET=$SECRET FIXWRIGHT_DATA_DIR=$BENCH/$1-data FIXWRIGHT_LOG=warn \
    FIXWRIGHT_POWER_SAFE_COMMITS=$3 FIXWRIGHT_WORKERS=${4:-4} \
    "$BIN" serve --listen 127.0.0.1:$2 > "$BENCH/$1.log" 2>&1 &
  pids+=("$!")
}
start_probot() { # name port log-level (empty: Probot's default, info)
  env APP_ID=1 PRIVATE_KEY_PATH=$BENCH/probot/key.pem WEBHOOK_SECRET=$SECRET PORT=$2 \
    ${3:+LOG_LEVEL=$3} "$BENCH/probot/node_modules/.bin/probot" run ./benches/ingest/probot-app.cjs \
    > "$BENCH/$1.log" 2>&1 &
  pids+=("$!")
}
# `fixwright serve` as shipped: 4 workers, synchronous=FULL (power-safe); the same
# with NORMAL (crash-safe only, see docs/durability.md); a receiving replica
# (inbox.workers = 0): intake alone, power-safe.
start_fixwright fw-full $FW_PORT true
fw=${pids[-1]}
start_fixwright fw-normal $FW_NORMAL_PORT false
fwn=${pids[-1]}
start_fixwright fw-intake $FW_INTAKE_PORT true 0
fwi=${pids[-1]}
# Probot as it starts by default (info: one log line per request, as its users
# get it), and with its log turned down to warnings.
start_probot probot $PROBOT_PORT ""
pb=${pids[-1]}
start_probot probot-quiet $PROBOT_QUIET_PORT warn
pbq=${pids[-1]}
wait_up "http://127.0.0.1:$FW_PORT/healthz"
wait_up "http://127.0.0.1:$FW_NORMAL_PORT/healthz"
wait_up "http://127.0.0.1:$FW_INTAKE_PORT/healthz"
wait_up "http://127.0.0.1:$PROBOT_PORT/"
wait_up "http://127.0.0.1:$PROBOT_QUIET_PORT/"

run=$(date +%s)
fw_url=http://127.0.0.1:$FW_PORT/webhooks/github
fwn_url=http://127.0.0.1:$FW_NORMAL_PORT/webhooks/github
fwi_url=http://127.0.0.1:$FW_INTAKE_PORT/webhooks/github
pb_url=http://127.0.0.1:$PROBOT_PORT/api/github/webhooks
pbq_url=http://127.0.0.1:$PROBOT_QUIET_PORT/api/github/webhooks
{
  echo "== $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
  echo "== saturated, concurrency $CONNS (wrk)"
  probot_rps=$(saturate probot "$pb_url" "p$run" | tee /dev/stderr | rps)
  quiet_rps=$(saturate probot-quiet "$pbq_url" "q$run" | tee /dev/stderr | rps)
  full_rps=$(saturate fixwright-full "$fw_url" "f$run" | tee /dev/stderr | rps)
  saturate fixwright-normal "$fwn_url" "n$run"
  intake_rps=$(saturate fixwright-intake "$fwi_url" "i$run" | tee /dev/stderr | rps)
  echo "== ratios: fixwright-full $(( full_rps * 100 / probot_rps ))% of probot, $(( full_rps * 100 / quiet_rps ))% of probot-quiet; fixwright-intake $(( intake_rps * 100 / probot_rps ))% of probot, $(( intake_rps * 100 / quiet_rps ))% of probot-quiet"
  # Fixed offered load at each Probot's saturated rate, open loop: latency counts
  # from when each request was due.
  for rate in "$probot_rps" "$quiet_rps"; do
    echo "== fixed rate $rate/s, $CONNS connections (benches/ingest_load.rs)"
    paced fixwright-full "$fw_url" "fp$rate-$run" "$rate"
    paced fixwright-normal "$fwn_url" "np$rate-$run" "$rate"
    paced fixwright-intake "$fwi_url" "ip$rate-$run" "$rate"
  done
  echo "== peak RSS (MB): fixwright-full $(peak_rss_mb $fw), fixwright-normal $(peak_rss_mb $fwn), fixwright-intake $(peak_rss_mb $fwi), probot $(peak_rss_mb $pb), probot-quiet $(peak_rss_mb $pbq)"
  curl -s "http://127.0.0.1:$FW_PORT/metrics" | grep -E '^fixwright_webhook_deliveries_total|^fixwright_inbox_queue_depth'
  # With the servers stopped: what the inbox writer alone commits, nothing else
  # running (the ceiling under intake; see docs/benchmarks.md).
  cleanup
  sleep 2
  echo "== the inbox writer alone, FULL, GUID-like ids (benches/inbox_writer.rs)"
  "$WRITER" --batches 14,28 --commits 2000 --body "$BENCH_BODY" --dir "$BENCH" \
    | sed 's/^RESULT/inbox-writer/'
} 2>&1 | tee "$BENCH/results.txt"

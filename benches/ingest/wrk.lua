-- Signed issue_comment deliveries, each with a fresh X-GitHub-Delivery. The
-- signature covers only the body, so one signature serves every request.
-- Environment: BENCH_BODY (file), BENCH_SIG, BENCH_RUN (id prefix).
-- Fixed-rate runs use benches/ingest_load.rs instead: wrk's pacing is closed-loop.

local counter = 0
local next_thread = 0

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-GitHub-Event"] = "issue_comment"
  wrk.headers["X-Hub-Signature-256"] = os.getenv("BENCH_SIG")
  prefix = os.getenv("BENCH_RUN") .. "-" .. tid .. "-"
end

function request()
  counter = counter + 1
  wrk.headers["X-GitHub-Delivery"] = prefix .. counter
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end

-- wrk-report.lua - shared wrk script for bench.sh.
-- BENCH_MODE=fixed posts the same body every time (the duplicate path and the
-- ceiling); BENCH_MODE=unique gives every request its own pod name, so every
-- request is a new fingerprint (the new-alert path).  done() prints one
-- machine-readable line that bench.sh turns into the table.
local mode = os.getenv("BENCH_MODE") or "fixed"
local body_file = os.getenv("BENCH_BODY") or "body.json"
local f = assert(io.open(body_file, "r"))
local template = f:read("*a")
f:close()

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/api/v1/signals/prometheus"
wrk.headers["Content-Type"] = "application/json"
wrk.body = template

local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local counter = 0
function request()
  if mode ~= "unique" then
    return wrk.format()
  end
  counter = counter + 1
  local pod = string.format("bench-%d-%d-%d", tid, counter, os.time())
  return wrk.format(nil, nil, nil, (template:gsub("BENCH_POD", pod)))
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d errors=%d\n",
    summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end

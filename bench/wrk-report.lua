-- SPDX-License-Identifier: Apache-2.0
-- wrk-report.lua - shared wrk script for bench.sh and soak.sh.
-- BENCH_MODE=fixed posts the same body every time (the duplicate path and the
-- ceiling); BENCH_MODE=unique gives every request its own pod name
-- (BENCH_POD in the body), so every request is a new fingerprint under one
-- alert name in one namespace (the storm path); BENCH_MODE=new also gives
-- every request its own alert name (BENCH_ALERT) and takes its namespace
-- (BENCH_NS) in turn from BENCH_NS_PREFIX1 .. BENCH_NS_PREFIX<BENCH_NS_COUNT>,
-- namespaces that exist, so that every request is a new fingerprint that
-- joins no storm (the new-alert path).  done() prints one machine-readable
-- line that bench.sh turns into the table.
local mode = os.getenv("BENCH_MODE") or "fixed"
local body_file = os.getenv("BENCH_BODY") or "body.json"
local ns_prefix = os.getenv("BENCH_NS_PREFIX") or "bench-ns-"
local ns_count = tonumber(os.getenv("BENCH_NS_COUNT") or "1")
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
  if mode ~= "unique" and mode ~= "new" then
    return wrk.format()
  end
  counter = counter + 1
  local id = string.format("%d-%d-%d", tid, counter, os.time())
  local body = template:gsub("BENCH_POD", "bench-" .. id)
  if mode == "new" then
    body = body:gsub("BENCH_ALERT", "BenchNew-" .. id)
    body = body:gsub("BENCH_NS", ns_prefix .. ((counter + tid) % ns_count + 1))
  end
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d errors=%d\n",
    summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end

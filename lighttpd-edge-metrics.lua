-- SPDX-License-Identifier: Apache-2.0
-- lighttpd-edge-metrics.lua - hands the refusals lighttpd counted itself to
-- the alertgw worker that renders GET /metrics (mod_magnet, lighttpd 1.4.69,
-- Lua 5.4).  lighttpd.conf runs it for GET /metrics only (a $HTTP["url"]
-- condition around magnet.attract-raw-url-to): no other request runs it, so
-- the webhook path pays nothing for it; keep it next to lighttpd.conf.
--
-- Two kinds of answers never reach a worker, so no worker counter sees them:
--   rate_limited  lighttpd-ratelimit.lua refused the request
--   no_worker     lighttpd-errors.lua answered because no worker could
-- Those scripts count them in lighttpd's server-wide status counters
-- (lighty.status "alertgw.edge.<reason>"; one table for the whole lighttpd
-- process, shared by every script, where each script's own _G is not).
-- This script copies both into the request environment as
--
--   GATEWAY_EDGE_REFUSALS=rate_limited=<n>,no_worker=<n>
--
-- which mod_fastcgi passes to the worker as a FastCGI parameter.  A client
-- cannot set it: request headers reach the worker as HTTP_* parameters, and
-- this assignment replaces anything else of that name.  The worker parses it
-- strictly and renders gateway_edge_refusals_total{reason} (core/metrics.c).
-- The counts start at 0 with lighttpd (a restart is a counter reset).

local r = lighty.r
local st = lighty.status
r.req_env["GATEWAY_EDGE_REFUSALS"] = string.format("rate_limited=%d,no_worker=%d",
    st["alertgw.edge.rate_limited"], st["alertgw.edge.no_worker"])
return 0

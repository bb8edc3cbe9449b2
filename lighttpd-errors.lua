-- SPDX-License-Identifier: Apache-2.0
-- lighttpd-errors.lua - the last resort for lighttpd's own error answers in
-- alertgw's lighttpd.conf (mod_magnet "response-start", lighttpd 1.4.69,
-- Lua 5.4).  lighttpd.conf runs it as each answer to the error handler's
-- URL starts (the re-dispatch below keeps that URL when it fails), and on
-- no other answer; keep it next to lighttpd.conf.
--
-- lighttpd re-dispatches every 4xx/5xx it produces itself to a worker
-- (server.error-handler, GET /.alertgw/lighttpd-error), which renders a
-- problem+json body; a dead worker's 500 becomes 503 + Retry-After there.
-- That second pass needs a worker too.  When it fails as well - every
-- worker was killed or is restarting, so the re-dispatch also lands on a
-- dead socket (connection refused or reset) or finds every worker disabled
-- for fastcgi "disable-time" - lighttpd 1.4.69 gives up on the handler and
-- sends its built-in HTML page with the ORIGINAL status (a plain 500 for a
-- request whose worker died).  This script sees that page as the answer
-- starts and replaces it with what the worker would have said (the
-- mapping is lighttpd-problem.lua's web_error_answer; a unit test checks it
-- against the worker's web-error route for every status 400-599):
--   500, 502, 504  -> 503 + Retry-After "a gateway worker failed ..."
--   other 5xx      -> 503 + Retry-After "gateway overloaded or restarting"
--   413            -> 413;  404, 405 -> the same status;  other 4xx -> 400
-- with an X-Request-ID (the client's if short and plain, else 16 hex
-- digits) that the access log records.
--
-- Which answers it touches: status 400-599 WITHOUT an X-Request-ID header.
-- Every worker answer carries X-Request-ID (fcgi/main.c), and so does the
-- rate limit's (lighttpd-ratelimit.lua); only lighttpd's built-in page has
-- none.  Everything else passes untouched.  (Run on every answer, the
-- script's call cost lighttpd ~12 % of its CPU on a 202; hence the
-- condition in lighttpd.conf.)
--
-- Retry-After: ALERTGW_SERVER_RETRY_AFTER from lighttpd's environment (a
-- duration like 5s, 500ms, 1m: the worker's server.retry_after), else 5 s.
-- (A server.retry_after set only in the YAML file is not seen here.)
--
-- The workers never see these requests, so there is no worker log line for
-- them: lighttpd's error log has its own line per failed backend
-- connection, and this script counts every answer it gives in lighttpd's
-- server-wide status counters (lighty.status "alertgw.edge.no_worker", a C
-- int that wraps to 0 before 2^31, read as a counter reset), which
-- lighttpd-edge-metrics.lua hands to the worker that renders GET /metrics
-- (gateway_edge_refusals_total{reason="no_worker"}).  It also adds one line
-- counting what it answered: at the first such answer, then with the first
-- one after REPORT_S seconds (so at most one line per REPORT_S):
--   (mod_magnet.c.NNNN) (lua-print) alertgw: lighttpd-errors.lua answered 3
--   of lighttpd's own error pages since the last report (500 x3: no worker
--   could render them); last request id 3f2a..., path /api/v1/signals/...
--
-- State (the report counters) lives in _G.alertgw_errors for the life of
-- the lighttpd process, as in lighttpd-ratelimit.lua (see its comment).

local S = _G.alertgw_errors
if S == nil or S.env ~= _ENV then
    local REPORT_S = 10

    -- the shared helpers, next to this file (lighttpd-problem.lua)
    local P = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".")
        .. "/lighttpd-problem.lua")

    S = {
        env = _ENV,
        retry = P.retry_after_env(),
        counts = {},    -- original status -> answers since the last report
        n = 0,
        last_rid = "",
        last_path = "",
        next_report = 0,
    }

    local problems = {
        [400] = { "validation-error", "Bad Request" },
        [404] = { "not-found", "Not Found" },
        [405] = { "method-not-allowed", "Method Not Allowed" },
        [413] = { "payload-too-large", "Payload Too Large" },
        [503] = { "service-unavailable", "Service Unavailable" },
    }

    local request_id = P.request_ids()

    local function report(now)
        if S.n > 0 then
            local parts = {}
            for st, c in pairs(S.counts) do parts[#parts + 1] = string.format("%d x%d", st, c) end
            table.sort(parts)
            print(string.format("alertgw: lighttpd-errors.lua answered %d of lighttpd's own "
                .. "error pages since the last report (%s: no worker could render them); last "
                .. "request id %s, path %s", S.n, table.concat(parts, ", "), S.last_rid,
                S.last_path))
            S.counts, S.n = {}, 0
        end
        S.next_report = now + REPORT_S
    end

    function S.check(lighty)
        local r = lighty.r
        local st = r.req_item.http_status
        if st < 400 or st > 599 or r.resp_header["X-Request-ID"] then return 0 end
        local status, detail = P.web_error_answer(st)
        local p = problems[status]
        local rid = request_id(r)
        -- the client's path, as the worker reports it in "instance"
        local path = (r.req_attr["request.orig-uri"] or ""):match("^[^?]*")
        P.send(r, status, p[1], p[2], detail, path, rid, status == 503 and S.retry or nil)
        S.counts[st] = (S.counts[st] or 0) + 1
        S.n = S.n + 1
        local stats = lighty.status
        stats["alertgw.edge.no_worker"] = (stats["alertgw.edge.no_worker"] + 1) % 0x80000000
        S.last_rid, S.last_path = rid, path:sub(1, 128)
        local sec = lighty.c.hrtime()
        if sec >= S.next_report then report(sec) end
        return status
    end

    _G.alertgw_errors = S
end

return S.check(lighty)

-- SPDX-License-Identifier: Apache-2.0
-- lighttpd-ratelimit.lua - the per-client-address token bucket of alertgw's
-- lighttpd.conf (mod_magnet, lighttpd 1.4.69, Lua 5.4).  lighttpd.conf runs
-- it for every request, before the request reaches a worker, only when
-- ALERTGW_RATE_LIMIT_RPS is above 0; keep it next to lighttpd.conf.
--
-- Parameters (environment of the lighttpd process; lighttpd.conf checks
-- their syntax at start-up, so a bad value stops lighttpd there):
--   ALERTGW_RATE_LIMIT_RPS          tokens added per second (may be a
--                                   fraction, e.g. 0.5)
--   ALERTGW_RATE_LIMIT_BURST        bucket size [2 x RPS rounded up, >= 1]
--   ALERTGW_RATE_LIMIT_STATUS       503 or 429 for a refused request [503]
--   ALERTGW_RATE_LIMIT_MAX_CLIENTS  client addresses tracked at most [10000]
--
-- Each client address (IPv4 address, IPv6 /64) has a bucket of BURST
-- tokens that refills at RPS per second; a request takes one token, and a
-- request that finds less than one is answered here with STATUS, a
-- Retry-After of the seconds until a token is back, and an
-- application/problem+json body shaped like the worker's (core/problem.c).
-- /healthz and /readyz (exactly these request paths, as the worker
-- routes them) are never limited: probes must see the truth.
-- Every other request counts once: lighttpd re-dispatches its own errors to
-- the worker (server.error-handler, with REDIRECT_STATUS in the request
-- environment, which a client cannot set), and that second pass is only
-- counted when the first was not (lighttpd refuses an oversized body before
-- this script runs, so the re-dispatch is where that request is counted).
-- The mark is ALERTGW_RATE_COUNTED=1 in the request environment (the
-- worker gets it as a FastCGI parameter and ignores it).
--
-- State.  mod_magnet keeps one lua_State per script file for the life of the
-- lighttpd process and runs this chunk once per request.  Globals the chunk
-- assigns go to a per-script environment table that mod_magnet empties after
-- every run, and locals die with the run; the real global table (_G) is
-- what persists.  So everything lives in _G.alertgw_ratelimit, built on
-- the first request.  When the file changes, mod_magnet reloads it with a
-- new environment table: the state is then rebuilt (S.env ~= _ENV) so the
-- new code never runs with the old tables.  lighttpd runs this in its one
-- event-loop thread: no locking, and nothing here may block.
--
-- Refusals are also counted in lighttpd's server-wide status counters
-- (lighty.status, shared by every script of the lighttpd process) as
-- "alertgw.edge.rate_limited"; lighttpd-edge-metrics.lua hands the count to
-- the worker that renders GET /metrics (gateway_edge_refusals_total).  The
-- counter is a C int in lighttpd 1.4.69: it wraps to 0 before 2^31, which
-- Prometheus reads as a counter reset.
--
-- Memory is bounded: a bucket that has been idle long enough to be full
-- again is the same as no bucket, and is dropped by a sweep every
-- SWEEP_S seconds.  If MAX_CLIENTS addresses are tracked all the same (many
-- addresses at once), the least recently seen quarter is dropped in one
-- pass; those clients start again with a full bucket (the limiter fails
-- open for them rather than refusing clients it cannot track).

local S = _G.alertgw_ratelimit
if S == nil or S.env ~= _ENV then
    local SWEEP_S = 10

    local function param(name, default)
        local v = os.getenv(name)
        if v == nil or v == "" then return default end
        local n = tonumber(v)
        if n == nil or n ~= n or n < 0 or n == math.huge then
            error(name .. " must be a number >= 0, not '" .. v .. "'")
        end
        return n
    end
    local rps = param("ALERTGW_RATE_LIMIT_RPS", 0)
    if rps <= 0 then error("ALERTGW_RATE_LIMIT_RPS must be above 0 when this script runs") end
    local burst = math.floor(param("ALERTGW_RATE_LIMIT_BURST", math.max(1, math.ceil(2 * rps))))
    if burst < 1 then error("ALERTGW_RATE_LIMIT_BURST must be at least 1") end
    local status = math.floor(param("ALERTGW_RATE_LIMIT_STATUS", 503))
    if status ~= 503 and status ~= 429 then error("ALERTGW_RATE_LIMIT_STATUS must be 503 or 429") end
    local max_clients = math.floor(param("ALERTGW_RATE_LIMIT_MAX_CLIENTS", 10000))
    if max_clients < 1 then error("ALERTGW_RATE_LIMIT_MAX_CLIENTS must be at least 1") end

    S = {
        env = _ENV,
        tokens = {},        -- client key -> tokens left at seen[key]
        seen = {},          -- client key -> time of its last request (s)
        n = 0,              -- number of keys in tokens/seen
        next_sweep = 0,
        refused = {},       -- client key -> requests refused since the last report
        refused_n = 0,
        evicted = 0,        -- keys dropped by evict() since the last report
    }
    local tokens, seen = S.tokens, S.seen
    local refill_s = burst / rps        -- an empty bucket is full after this
    local slug = status == 429 and "too-many-requests" or "service-unavailable"
    local title = status == 429 and "Too Many Requests" or "Service Unavailable"
    local detail_fmt = "rate limit exceeded: at most " .. string.format("%g", rps)
        .. " requests per second per client address (burst " .. burst .. "); retry after %d s"

    -- the shared helpers, next to this file (lighttpd-problem.lua)
    local P = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".")
        .. "/lighttpd-problem.lua")
    local request_id = P.request_ids()

    local function drop(k)
        tokens[k], seen[k] = nil, nil
        S.n = S.n - 1
    end

    -- The IPv6 /64 a client address belongs to (one host usually owns a
    -- whole /64), or the address itself for IPv4 and IPv4-mapped IPv6.
    local function client_key(addr)
        if not addr:find(":", 1, true) then return addr end
        local v4 = addr:match("^::[fF][fF][fF][fF]:(%d+%.%d+%.%d+%.%d+)$")
        if v4 then return v4 end
        addr = addr:gsub("%%.*$", "")           -- zone id
        local g = {}
        local head, tail = addr:match("^(.-)::(.*)$")
        if head then
            local h, t = {}, {}
            for x in head:gmatch("[^:]+") do h[#h + 1] = x end
            for x in tail:gmatch("[^:]+") do t[#t + 1] = x end
            for i = 1, #h do g[#g + 1] = h[i] end
            for _ = 1, 8 - #h - #t do g[#g + 1] = "0" end
            for i = 1, #t do g[#g + 1] = t[i] end
        else
            for x in addr:gmatch("[^:]+") do g[#g + 1] = x end
        end
        for i = 1, 4 do g[i] = tonumber(g[i] or "0", 16) or 0 end
        return string.format("%x:%x:%x:%x::/64", g[1], g[2], g[3], g[4])
    end

    -- Drops the buckets that are full again.
    local function drop_idle(now)
        for k, t in pairs(seen) do
            if now - t >= refill_s then drop(k) end
        end
    end

    -- Every SWEEP_S seconds (with the next request): drop idle buckets and
    -- report the refusals since the last report, one error-log line.
    local function sweep(now)
        drop_idle(now)
        if S.refused_n > 0 or S.evicted > 0 then
            local clients, top, top_n = 0, "-", 0
            for k, c in pairs(S.refused) do
                clients = clients + 1
                if c > top_n then top, top_n = k, c end
            end
            local early = ""
            if S.evicted > 0 then
                early = string.format(", %d forgotten early (ALERTGW_RATE_LIMIT_MAX_CLIENTS %d "
                    .. "reached)", S.evicted, max_clients)
            end
            print(string.format("alertgw rate limit: refused %d requests from %d client address(es) "
                .. "in the last %d s, most from %s (%d); %d addresses tracked%s",
                S.refused_n, clients, SWEEP_S, top, top_n, S.n, early))
            S.refused, S.refused_n, S.evicted = {}, 0, 0
        end
        S.next_sweep = now + SWEEP_S
    end

    -- Called with MAX_CLIENTS keys tracked and a new one to add: drops the
    -- idle buckets, and if that is not enough the least recently seen, down
    -- to 3/4 of MAX_CLIENTS (one O(n log n) pass per MAX_CLIENTS/4 new
    -- addresses, not one per request).
    local function evict(now)
        drop_idle(now)
        local keep = math.floor(max_clients * 3 / 4)
        if S.n < max_clients then return end
        local times = {}
        for _, t in pairs(seen) do times[#times + 1] = t end
        table.sort(times)
        local cut = times[S.n - keep]
        local before = S.n
        for k, t in pairs(seen) do
            if t <= cut then drop(k) end
        end
        S.evicted = S.evicted + before - S.n
    end

    local function refuse(r, path, key, left)
        S.refused[key] = (S.refused[key] or 0) + 1
        S.refused_n = S.refused_n + 1
        local st = lighty.status
        st["alertgw.edge.rate_limited"] = (st["alertgw.edge.rate_limited"] + 1) % 0x80000000
        local retry = math.max(1, math.ceil((1 - left) / rps))
        return P.send(r, status, slug, title, string.format(detail_fmt, retry), path,
            request_id(r), retry)
    end

    function S.check(lighty)
        local r = lighty.r
        -- The path as the worker routes it: REQUEST_URI (the client's
        -- request target, not decoded) up to the query.  Matching the
        -- decoded uri.path instead would exempt "/heal%74hz", which the
        -- worker answers as an unknown route.
        local path = (r.req_attr["request.orig-uri"] or ""):match("^[^?]*")
        if path == "/healthz" or path == "/readyz" then return 0 end
        if r.req_env["ALERTGW_RATE_COUNTED"] and r.req_env["REDIRECT_STATUS"] then return 0 end
        local key = client_key(r.req_attr["request.remote-addr"] or "")
        local sec, nsec = lighty.c.hrtime()
        local now = sec + nsec * 1e-9
        if now >= S.next_sweep then sweep(now) end
        local left = tokens[key]
        if left == nil then
            if S.n >= max_clients then evict(now) end
            S.n = S.n + 1
            left = burst
        else
            local dt = now - seen[key]
            if dt > 0 then left = math.min(burst, left + dt * rps) end
        end
        seen[key] = now
        if left >= 1 then
            tokens[key] = left - 1
            r.req_env["ALERTGW_RATE_COUNTED"] = "1"
            return 0
        end
        tokens[key] = left
        return refuse(r, path, key, left)
    end

    _G.alertgw_ratelimit = S
end

return S.check(lighty)

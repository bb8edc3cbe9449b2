-- SPDX-License-Identifier: Apache-2.0
-- lighttpd-problem.lua - what alertgw's lighttpd scripts share
-- (lighttpd-errors.lua, lighttpd-ratelimit.lua): the answers lighttpd gives
-- in place of a worker, shaped as the worker shapes them.  Not run by
-- lighttpd itself: each script loads it once, by path, from its own
-- directory (keep the three files together, next to lighttpd.conf).
--
--   json_string(s)            a JSON string literal of s (cut to 255 bytes)
--   request_ids()             a function(r) -> request id: the client's
--                             X-Request-ID if short and plain (the worker's
--                             rule), else 16 hex digits, unique per process
--   retry_after_env()         ALERTGW_SERVER_RETRY_AFTER in whole seconds
--                             (5s, 500ms, 1m; at least 1), else 5
--   web_error_answer(st)      status, detail for lighttpd's own error st:
--                             the worker's web-error route answers the same
--                             (a unit test compares the two for 400-599)
--   send(r, status, slug, title, detail, path, rid, retry)
--                             sets the problem+json answer on r
local M = {}

function M.json_string(s)
    s = s:sub(1, 255)
    return '"' .. s:gsub('[%c"\\\127-\255]', function(c)
        if c == '"' or c == "\\" then return "\\" .. c end
        return string.format("\\u%04x", c:byte())
    end) .. '"'
end

function M.request_ids()
    local prefix, seq = math.random(0, 0xffffffff), 0
    return function(r)
        local c = r.req_header["X-Request-ID"]
        if c and #c <= 64 and c:match("^[%w%-_.:]+$") then return c end
        seq = (seq + 1) % 0x100000000
        return string.format("%08x%08x", prefix, seq)
    end
end

function M.retry_after_env()
    local v = os.getenv("ALERTGW_SERVER_RETRY_AFTER") or ""
    local n, unit = v:match("^(%d+%.?%d*)(%a*)$")
    n = tonumber(n)
    local scale = ({ ms = 0.001, s = 1, [""] = 1, m = 60, h = 3600 })[unit or "?"]
    if n == nil or scale == nil then return 5 end
    return math.max(1, math.ceil(n * scale))
end

function M.web_error_answer(st)
    if st == 413 then return 413, "request body exceeds the web server's hard limit" end
    if st == 500 or st == 502 or st == 504 then
        return 503, "a gateway worker failed while handling this request; it may not have "
            .. "been recorded; retry (repeats are deduplicated)"
    end
    if st >= 500 then return 503, "gateway overloaded or restarting; retry" end
    if st == 404 or st == 405 then return st, "no such route" end
    return 400, "the web server rejected the request"
end

function M.send(r, status, slug, title, detail, path, rid, retry)
    r.resp_header["Content-Type"] = "application/problem+json"
    r.resp_header["X-Request-ID"] = rid
    if retry then r.resp_header["Retry-After"] = tostring(retry) end
    r.resp_body.set(string.format(
        '{"type":"https://kubernaut.ai/problems/%s","title":"%s","status":%d,'
        .. '"detail":"%s","instance":%s,"request_id":%s}',
        slug, title, status, detail, M.json_string(path), M.json_string(rid)))
    return status
end

return M

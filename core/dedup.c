/* SPDX-License-Identifier: Apache-2.0 */
/* dedup.c - the dedup/storm Lua script and its C wrappers; see dedup.h.
 *
 * The script dispatches on ARGV[1] so that one SHA covers every operation.
 * Numbers travel as decimal strings; milliseconds since the epoch have 13
 * digits, well inside Lua's 14 significant digits for tostring().  The
 * flush, get and storm_info operations build the key names of the entries
 * they visit from the prefix (a single Redis or Sentinel-managed primary;
 * not Redis Cluster, where every key would have to be declared). */
#include "dedup.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static const char script[] =
    "local op = ARGV[1]\n"
    "local now = tonumber(ARGV[2])\n"
    "local function num(x) return tonumber(x) or 0 end\n"
    "-- detected: the type of the storm this occurrence opened, '' none (op 'hit')\n"
    "local function reply(kind, count, first, last, name, ns, resolved, due, esc, total, typ, escd, member,\n"
    "                     detected)\n"
    "  return {kind, count or 0, first or 0, last or 0, name or '', ns or '', resolved or 0, due or 0,\n"
    "          esc or 0, total or 0, typ or '', escd or 0, member or 0, detected or ''}\n"
    "end\n"
    "-- The limits on creates, per clock minute (keys expire after 2): the\n"
    "-- gateway's creation budget (key gk, at most gmax), this sender's (sk,\n"
    "-- smax) and, for an ordinary request, the namespace cap (ck, cap); 0: no\n"
    "-- limit.  Nothing is counted for a create that a limit refuses.  An\n"
    "-- ordinary new fingerprint meets them in op 'limits', right before its\n"
    "-- create - after the lookup in Kubernetes, so that a signal whose open\n"
    "-- request Redis had forgotten (re-seeded: a duplicate) is never limited.\n"
    "-- A storm's aggregate is always a create: op 'hit' applies the budgets\n"
    "-- when it opens the storm (the namespace cap never applied to it).\n"
    "local function over_limit(gk, sk, gmax, smax, ck, cap)\n"
    "  if gmax > 0 and num(redis.call('GET', gk)) >= gmax then return 'gateway' end\n"
    "  if smax > 0 and num(redis.call('GET', sk)) >= smax then return 'sender' end\n"
    "  if ck and cap > 0 and num(redis.call('GET', ck)) >= cap then return 'namespace' end\n"
    "  return nil\n"
    "end\n"
    "local function count_create(gk, sk, gmax, smax, ck, cap)\n"
    "  for _, b in ipairs({{gk, gmax}, {sk, smax}, {ck, cap}}) do\n"
    "    if b[1] and b[2] > 0 and redis.call('INCR', b[1]) == 1 then redis.call('EXPIRE', b[1], 120) end\n"
    "  end\n"
    "end\n"
    "if op == 'limits' then\n"
    "  local gmax, smax, cap = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "  local why = over_limit(KEYS[1], KEYS[2], gmax, smax, KEYS[3], cap)\n"
    "  if why == 'namespace' then return {'capped'} end\n"
    "  if why then return reply('budget', 0, 0, 0, '', '', 0, 0, 0, 0, why) end\n"
    "  count_create(KEYS[1], KEYS[2], gmax, smax, KEYS[3], cap)\n"
    "  return {'none'}\n"
    "elseif op == 'uncount' then\n"
    "  -- the create that 'limits' counted failed: it gives its count back\n"
    "  for i = 1, #KEYS do\n"
    "    if num(redis.call('GET', KEYS[i])) > 0 then redis.call('DECR', KEYS[i]) end\n"
    "  end\n"
    "  return {'none'}\n"
    "elseif op == 'hit' then\n"
    "  local fk, dk, rk, sk, mk, qk = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[8]\n"
    "  local ttl, lease, owner, sync = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])\n"
    "  local group, fp = ARGV[15], ARGV[18]\n"
    "  -- A new storm of the group (replacing a closed one) in state st; its\n"
    "  -- member set starts with the resources that had a new signal since\n"
    "  -- `from`, at most 20,000 (the most recent: see docs/architecture.md).\n"
    "  local function new_storm(st, typ, from)\n"
    "    redis.call('UNLINK', sk, mk)\n"
    "    local seed = redis.call('ZREVRANGEBYSCORE', rk, '+inf', from, 'WITHSCORES', 'LIMIT', 0, 20000)\n"
    "    for i = 1, #seed, 1000 do\n"
    "      local a = {}\n"
    "      for j = i, math.min(i + 998, #seed - 1), 2 do a[#a + 1] = seed[j + 1]; a[#a + 1] = seed[j] end\n"
    "      redis.call('ZADD', mk, unpack(a))\n"
    "    end\n"
    "    redis.call('HSET', sk, 'state', st, 'type', typ, 'opened', now, 'count', 0,\n"
    "               'alertname', ARGV[16], 'tns', ARGV[17], 'synced', 0, 'dirty', 0)\n"
    "  end\n"
    "  local h = redis.call('HMGET', fk, 'state', 'lease', 'synced', 'count', 'first', 'name', 'ns',\n"
    "                       'resolved', 'dirty', 'storm', 'escalated')\n"
    "  -- Rate storms count every occurrence, duplicates too: INCR of qk, which\n"
    "  -- lives one minute from the group's first occurrence (ARGV[21] '0': a\n"
    "  -- retry of an occurrence counted already).  An occurrence of a known\n"
    "  -- fingerprint that makes it rate_threshold + 1 opens a rate storm that\n"
    "  -- has no aggregate yet (state 'open', its windows running): the next new\n"
    "  -- signal of the group creates the aggregate, the occurrence itself keeps\n"
    "  -- its answer.  A new signal meets the count below, after the pattern.\n"
    "  local hits, detected = 0, ''\n"
    "  if ARGV[7] == '1' and ARGV[21] == '1' then\n"
    "    hits = redis.call('INCR', qk)\n"
    "    if hits == 1 then redis.call('PEXPIRE', qk, 60000) end\n"
    "    if h[1] and hits == tonumber(ARGV[9]) + 1 then\n"
    "      local s = redis.call('HMGET', sk, 'state', 'opened', 'joined')\n"
    "      if not (s[1] and now - num(s[3]) < tonumber(ARGV[12]) and now - num(s[2]) < tonumber(ARGV[13])) then\n"
    "        local life = tonumber(ARGV[13]) + ttl * 1000\n"
    "        new_storm('open', 'rate', now - 60000)\n"
    "        redis.call('ZADD', mk, 'NX', now, ARGV[8])\n"
    "        redis.call('HSET', sk, 'joined', now, 'last', now)\n"
    "        redis.call('PEXPIRE', sk, life)\n"
    "        redis.call('PEXPIRE', mk, life)\n"
    "        detected = 'rate'\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if h[1] == 'active' then\n"
    "    local count = num(h[4]) + 1\n"
    "    if h[10] then\n"
    "      -- a storm member: counted here and on the aggregate, whose sync carries it\n"
    "      redis.call('HSET', fk, 'count', count, 'last', now)\n"
    "      redis.call('EXPIRE', fk, ttl)\n"
    "      local total, typ, due = 0, '', 0\n"
    "      local s = redis.call('HMGET', sk, 'state', 'synced', 'dirty', 'type', 'opened')\n"
    "      if s[1] == 'active' and h[10] == group .. '@' .. (s[5] or '') then\n"
    "        total, typ = redis.call('ZCARD', mk), s[4]\n"
    "        redis.call('HINCRBY', sk, 'count', 1)\n"
    "        if now - num(s[2]) >= sync then\n"
    "          due = 1\n"
    "          redis.call('HSET', sk, 'last', now, 'synced', now, 'dirty', 0)\n"
    "        elseif s[3] ~= '1' then\n"
    "          redis.call('HSET', sk, 'last', now, 'dirty', 1)\n"
    "          redis.call('ZADD', dk, num(s[2]) + sync, 's:' .. group)\n"
    "        else\n"
    "          redis.call('HSET', sk, 'last', now)\n"
    "        end\n"
    "      end\n"
    "      return reply('aggregated', count, num(h[5]), now, h[6], h[7], num(h[8]), due, 0, total, typ, 0, 1,\n"
    "                   detected)\n"
    "    end\n"
    "    -- the hot path: one read, one write, the TTL (and once per interval the queue)\n"
    "    local due, esc = 0, 0\n"
    "    local esc_at = tonumber(ARGV[14])\n"
    "    local escd = h[11]\n"
    "    if esc_at > 0 and count >= esc_at and escd ~= '1' then\n"
    "      esc, escd = 1, '1'\n"
    "      redis.call('HSET', fk, 'escalated', 1)\n"
    "    end\n"
    "    if now - num(h[3]) >= sync then\n"
    "      due = 1\n"
    "      redis.call('HSET', fk, 'count', count, 'last', now, 'synced', now, 'dirty', 0)\n"
    "      if h[9] == '1' then redis.call('ZREM', dk, 'f:' .. fp) end\n"
    "    elseif h[9] ~= '1' then\n"
    "      redis.call('HSET', fk, 'count', count, 'last', now, 'dirty', 1)\n"
    "      redis.call('ZADD', dk, num(h[3]) + sync, 'f:' .. fp)\n"
    "    else\n"
    "      redis.call('HSET', fk, 'count', count, 'last', now)\n"
    "    end\n"
    "    redis.call('EXPIRE', fk, ttl)\n"
    "    return reply('dup', count, num(h[5]), now, h[6], h[7], num(h[8]), due, esc, 0,\n"
    "                 '', escd == '1' and 1 or 0, 0, detected)\n"
    "  end\n"
    "  if h[1] == 'pending' then\n"
    "    if num(h[2]) >= now then return reply('pending', 0, 0, 0, '', '', 0, 0, 0, 0, '', 0, 0, detected) end\n"
    "    redis.call('UNLINK', fk) -- the creator died: start over as if absent\n"
    "  end\n"
    "  if ARGV[7] == '1' then\n"
    "    local res, patwin, aggwin, maxwin = ARGV[8], tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])\n"
    "    local keep = math.max(patwin, 60000)\n"
    "    local life = maxwin + ttl * 1000\n"
    "    redis.call('ZADD', rk, now, res)\n"
    "    redis.call('ZREMRANGEBYSCORE', rk, '-inf', now - keep)\n"
    "    redis.call('PEXPIRE', rk, keep)\n"
    "    local s = redis.call('HMGET', sk, 'state', 'opened', 'joined', 'name', 'ns', 'lease', 'synced',\n"
    "                         'dirty', 'type')\n"
    "    local open = s[1] and (now - num(s[3]) < aggwin) and (now - num(s[2]) < maxwin)\n"
    "    if open and s[1] == 'pending' and num(s[6]) >= now then\n"
    "      return reply('pending', 0, 0, 0, '', '', 0, 0, 0, 0, '', 0, 0, detected)\n"
    "    end\n"
    "    if open and s[1] == 'active' then\n"
    "      redis.call('ZADD', mk, 'NX', now, res)\n"
    "      redis.call('PEXPIRE', mk, life)\n"
    "      redis.call('HINCRBY', sk, 'count', 1)\n"
    "      local due = 0\n"
    "      if now - num(s[7]) >= sync then\n"
    "        due = 1\n"
    "        redis.call('HSET', sk, 'joined', now, 'last', now, 'synced', now, 'dirty', 0)\n"
    "      elseif s[8] ~= '1' then\n"
    "        redis.call('HSET', sk, 'joined', now, 'last', now, 'dirty', 1)\n"
    "        redis.call('ZADD', dk, num(s[7]) + sync, 's:' .. group)\n"
    "      else\n"
    "        redis.call('HSET', sk, 'joined', now, 'last', now)\n"
    "      end\n"
    "      redis.call('HSET', fk, 'state', 'active', 'name', s[4], 'ns', s[5], 'count', 1, 'first', now,\n"
    "                 'last', now, 'synced', now, 'storm', group .. '@' .. s[2])\n"
    "      redis.call('EXPIRE', fk, ttl)\n"
    "      return reply('aggregated', 1, now, now, s[4], s[5], 0, due, 0, redis.call('ZCARD', mk), s[9], 0, 1)\n"
    "    end\n"
    "    local typ\n"
    "    if open then\n"
    "      -- no aggregate yet: a duplicate opened the storm ('open'), or its\n"
    "      -- opener died while creating the aggregate: this signal creates it\n"
    "      typ = s[9]\n"
    "    elseif redis.call('ZCOUNT', rk, now - patwin, '+inf') >= tonumber(ARGV[10]) then\n"
    "      typ = 'pattern'\n"
    "    elseif (hits > 0 and hits or num(redis.call('GET', qk))) > tonumber(ARGV[9]) then\n"
    "      typ = 'rate'\n"
    "    end\n"
    "    if typ then\n"
    "      -- the aggregate is a create too: budgeted (its members never are)\n"
    "      local gmax, smax = tonumber(ARGV[19]), tonumber(ARGV[20])\n"
    "      local why = over_limit(KEYS[6], KEYS[7], gmax, smax)\n"
    "      if why then return reply('budget', 0, 0, 0, '', '', 0, 0, 0, 0, why) end\n"
    "      count_create(KEYS[6], KEYS[7], gmax, smax)\n"
    "      if not open then\n"
    "        new_storm('pending', typ, typ == 'pattern' and now - patwin or now - 60000)\n"
    "        detected = typ\n"
    "      end\n"
    "      redis.call('ZADD', mk, 'NX', now, res)\n"
    "      redis.call('HSET', sk, 'state', 'pending', 'count', 1, 'owner', owner, 'lease', now + lease,\n"
    "                 'joined', now, 'last', now)\n"
    "      redis.call('PEXPIRE', sk, life)\n"
    "      redis.call('PEXPIRE', mk, life)\n"
    "      redis.call('HSET', fk, 'state', 'pending', 'owner', owner, 'lease', now + lease, 'count', 1,\n"
    "                 'first', now, 'last', now)\n"
    "      redis.call('PEXPIRE', fk, lease)\n"
    "      return reply('storm_new', 1, now, now, '', '', 0, 0, 0, redis.call('ZCARD', mk), typ, 0, 1,\n"
    "                   detected)\n"
    "    end\n"
    "  end\n"
    "  redis.call('HSET', fk, 'state', 'pending', 'owner', owner, 'lease', now + lease,\n"
    "             'count', 1, 'first', now, 'last', now)\n"
    "  redis.call('PEXPIRE', fk, lease)\n"
    "  return reply('new', 1, now, now)\n"
    "elseif op == 'activate' or op == 'seed' then\n"
    "  local key = KEYS[1]\n"
    "  local ttl, owner, name, ns = tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]\n"
    "  local st = redis.call('HMGET', key, 'state', 'owner', 'count')\n"
    "  if st[1] and not (st[1] == 'pending' and st[2] == owner) then return {'lost'} end\n"
    "  if not st[1] then\n"
    "    redis.call('HSET', key, 'count', 1, 'first', now, 'last', now)\n"
    "  end\n"
    "  redis.call('HSET', key, 'state', 'active', 'name', name, 'ns', ns, 'synced', now)\n"
    "  if op == 'seed' then\n"
    "    local count, first = tonumber(ARGV[7]), tonumber(ARGV[8])\n"
    "    if count > (tonumber(st[3]) or 0) then redis.call('HSET', key, 'count', count) end\n"
    "    if first > 0 then redis.call('HSET', key, 'first', first) end\n"
    "  end\n"
    "  redis.call('HDEL', key, 'owner', 'lease')\n"
    "  redis.call('EXPIRE', key, ttl)\n"
    "  local h = redis.call('HMGET', key, 'count', 'first', 'last')\n"
    "  return reply('dup', num(h[1]), num(h[2]), num(h[3]), name, ns)\n"
    "elseif op == 'storm_activate' then\n"
    "  local fk, sk, mk = KEYS[1], KEYS[2], KEYS[3]\n"
    "  local owner, name, ns, ttl, group = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]\n"
    "  local s = redis.call('HMGET', sk, 'state', 'owner', 'opened', 'type')\n"
    "  if s[1] ~= 'pending' or s[2] ~= owner then return {'lost'} end\n"
    "  redis.call('HSET', sk, 'state', 'active', 'name', name, 'ns', ns, 'synced', now)\n"
    "  redis.call('HDEL', sk, 'owner', 'lease')\n"
    "  local f = redis.call('HMGET', fk, 'state', 'owner')\n"
    "  if f[1] == 'pending' and f[2] == owner then\n"
    "    redis.call('HSET', fk, 'state', 'active', 'name', name, 'ns', ns, 'synced', now,\n"
    "               'storm', group .. '@' .. s[3])\n"
    "    redis.call('HDEL', fk, 'owner', 'lease')\n"
    "    redis.call('EXPIRE', fk, ttl)\n"
    "  end\n"
    "  return reply('aggregated', 1, now, now, name, ns, 0, 0, 0, redis.call('ZCARD', mk), s[4], 0, 1)\n"
    "elseif op == 'release' then\n"
    "  local st = redis.call('HMGET', KEYS[1], 'state', 'owner')\n"
    "  if st[1] == 'pending' and st[2] == ARGV[3] then redis.call('UNLINK', KEYS[1]) end\n"
    "  if KEYS[2] then\n"
    "    local s = redis.call('HMGET', KEYS[2], 'state', 'owner')\n"
    "    if s[1] == 'pending' and s[2] == ARGV[3] then redis.call('UNLINK', KEYS[2], KEYS[3]) end\n"
    "  end\n"
    "  return {'none'}\n"
    "elseif op == 'synced' then\n"
    "  -- a status patch of ARGV[3] landed (-1: it failed); a higher count means\n"
    "  -- a later sync may have landed before it: queue one more, due at ARGV[5]\n"
    "  local h = redis.call('HMGET', KEYS[1], 'state', 'count', 'dirty')\n"
    "  if h[1] == 'active' and num(h[2]) > tonumber(ARGV[3]) and h[3] ~= '1' then\n"
    "    redis.call('HSET', KEYS[1], 'dirty', 1)\n"
    "    redis.call('ZADD', KEYS[2], tonumber(ARGV[5]), 'f:' .. ARGV[4])\n"
    "  end\n"
    "  return {'none'}\n"
    "elseif op == 'forget' then\n"
    "  if redis.call('HGET', KEYS[1], 'name') == ARGV[3] then redis.call('UNLINK', KEYS[1]) end\n"
    "  return {'none'}\n"
    "elseif op == 'storm_forget' then\n"
    "  if redis.call('HGET', KEYS[1], 'name') == ARGV[3] then redis.call('UNLINK', KEYS[1], KEYS[2]) end\n"
    "  return {'none'}\n"
    "elseif op == 'resolve' then\n"
    "  local h = redis.call('HMGET', KEYS[1], 'state', 'storm')\n"
    "  if h[1] ~= 'active' then return {'none'} end\n"
    "  redis.call('HSET', KEYS[1], 'resolved', now, 'last', now)\n"
    "  local r = redis.call('HMGET', KEYS[1], 'count', 'first', 'last', 'name', 'ns', 'resolved')\n"
    "  return reply('dup', num(r[1]), num(r[2]), num(r[3]), r[4], r[5], num(r[6]), 0, 0, 0, '', 0,\n"
    "               h[2] and 1 or 0)\n"
    "elseif op == 'get' then\n"
    "  local h = redis.call('HMGET', KEYS[1], 'state', 'count', 'first', 'last', 'name', 'ns',\n"
    "                       'resolved', 'escalated', 'storm')\n"
    "  if not h[1] then return {'none'} end\n"
    "  local total, typ = 0, ''\n"
    "  if h[9] then\n"
    "    local group = string.match(h[9], '^([^@]*)')\n"
    "    typ = redis.call('HGET', ARGV[3] .. 'storm:' .. group, 'type') or ''\n"
    "    total = redis.call('ZCARD', ARGV[3] .. 'stormres:' .. group)\n"
    "  end\n"
    "  return reply(h[1] == 'pending' and 'pending' or 'dup', num(h[2]), num(h[3]), num(h[4]), h[5],\n"
    "               h[6], num(h[7]), 0, 0, total, typ, h[8] == '1' and 1 or 0, h[9] and 1 or 0)\n"
    "elseif op == 'flush' or op == 'storm_info' then\n"
    "  local prefix, maxres = ARGV[3], tonumber(ARGV[4])\n"
    "  local items\n"
    "  if op == 'flush' then\n"
    "    items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))\n"
    "  else\n"
    "    items = {'s:' .. ARGV[5]}\n"
    "  end\n"
    "  local out = {}\n"
    "  for _, m in ipairs(items) do\n"
    "    if op == 'flush' then redis.call('ZREM', KEYS[1], m) end\n"
    "    local kind, id = string.sub(m, 1, 1), string.sub(m, 3)\n"
    "    if kind == 'f' then\n"
    "      local k = prefix .. 'fp:' .. id\n"
    "      local h = redis.call('HMGET', k, 'state', 'count', 'first', 'last', 'name', 'ns')\n"
    "      if h[1] == 'active' then\n"
    "        redis.call('HSET', k, 'synced', now, 'dirty', 0)\n"
    "        table.insert(out, {'f', id, h[5], h[6], num(h[2]), num(h[3]), num(h[4]), '', 0, ''})\n"
    "      end\n"
    "    else\n"
    "      local k = prefix .. 'storm:' .. id\n"
    "      local s = redis.call('HMGET', k, 'state', 'count', 'opened', 'last', 'name', 'ns', 'type')\n"
    "      if s[1] == 'active' or (s[1] and op == 'storm_info') then\n"
    "        if op == 'flush' then redis.call('HSET', k, 'synced', now, 'dirty', 0) end\n"
    "        local mk = prefix .. 'stormres:' .. id\n"
    "        local res = redis.call('ZRANGE', mk, 0, maxres - 1)\n"
    "        table.insert(out, {'s', id, s[5], s[6], num(s[2]), num(s[3]), num(s[4]), s[7],\n"
    "                           redis.call('ZCARD', mk), table.concat(res, ',')})\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  local nxt = 0\n"
    "  if op == 'flush' then\n"
    "    local z = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "    nxt = num(z[2])\n"
    "  end\n"
    "  return {out, nxt}\n"
    "end\n"
    "return redis.error_reply('alertgw dedup: unknown op')\n";

void gw_dedup_init(gw_dedup *d, gw_redis *r, const gw_config *cfg)
{
    memset(d, 0, sizeof *d);
    d->redis = r;
    d->cfg = cfg;
    snprintf(d->ttl, sizeof d->ttl, "%ld", cfg->dedup_ttl_s);
    snprintf(d->lease, sizeof d->lease, "%ld", cfg->dedup_pending_lease_ms);
    snprintf(d->sync, sizeof d->sync, "%ld", cfg->dedup_status_sync_interval_ms);
    snprintf(d->rate, sizeof d->rate, "%ld", cfg->storm_rate_threshold);
    snprintf(d->pattern, sizeof d->pattern, "%ld", cfg->storm_pattern_threshold);
    snprintf(d->pattern_win, sizeof d->pattern_win, "%ld", cfg->storm_pattern_window_ms);
    snprintf(d->agg_win, sizeof d->agg_win, "%ld", cfg->storm_aggregation_window_ms);
    snprintf(d->max_win, sizeof d->max_win, "%ld", cfg->storm_max_window_ms);
    snprintf(d->gmax, sizeof d->gmax, "%ld", cfg->limits_creates_per_minute);
    snprintf(d->smax, sizeof d->smax, "%ld", cfg->limits_creates_per_sender_per_minute);
    snprintf(d->cap, sizeof d->cap, "%ld", cfg->storm_namespace_cap);
}

void gw_dedup_group(const char *ns, const char *alertname, char out[17])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    if (!m || !EVP_DigestInit_ex(m, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(m, ns, strlen(ns)) || !EVP_DigestUpdate(m, "\n", 1) ||
        !EVP_DigestUpdate(m, alertname, strlen(alertname)) || !EVP_DigestFinal_ex(m, md, &mdlen))
        memset(md, 0, 8);
    EVP_MD_CTX_free(m);
    gw_hex_encode(md, 8, out);
}

static void copy_str(char *dst, size_t cap, const redisReply *e)
{
    size_t n = 0;
    if (e->type == REDIS_REPLY_STRING) {
        n = e->len < cap - 1 ? e->len : cap - 1;
        memcpy(dst, e->str, n);
    }
    dst[n] = '\0';
}

static long long int_of(const redisReply *e)
{
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return strtoll(e->str, NULL, 10);
    return 0;
}

static gw_err decode(gw_redis *r, redisReply *rep, gw_dedup_result *res)
{
    memset(res, 0, sizeof *res);
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_STRING) {
        snprintf(r->errstr, sizeof r->errstr, "dedup script: unexpected reply");
        return GW_EREDIS;
    }
    static const struct { const char *s; gw_dedup_kind k; } kinds[] = {
        { "new", GW_DEDUP_NEW },           { "dup", GW_DEDUP_DUP },
        { "pending", GW_DEDUP_PENDING },   { "aggregated", GW_DEDUP_AGGREGATED },
        { "storm_new", GW_DEDUP_STORM_NEW }, { "capped", GW_DEDUP_CAPPED },
        { "budget", GW_DEDUP_OVER_BUDGET },
    };
    const char *k = rep->element[0]->str;
    if (!strcmp(k, "lost"))
        return GW_EBUSY;
    res->kind = GW_DEDUP_NONE;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(k, kinds[i].s))
            res->kind = kinds[i].k;
    if (rep->elements >= 13) {
        redisReply **e = rep->element;
        res->count = int_of(e[1]);
        res->first_ms = int_of(e[2]);
        res->last_ms = int_of(e[3]);
        copy_str(res->name, sizeof res->name, e[4]);
        copy_str(res->ns, sizeof res->ns, e[5]);
        res->resolved_ms = int_of(e[6]);
        res->sync_due = int_of(e[7]) != 0;
        res->escalate = int_of(e[8]) != 0;
        res->storm_total = int_of(e[9]);
        copy_str(res->storm_type, sizeof res->storm_type, e[10]);
        res->escalated = int_of(e[11]) != 0;
        res->member = int_of(e[12]) != 0;
    }
    if (rep->elements >= 14)
        copy_str(res->storm_detected, sizeof res->storm_detected, rep->element[13]);
    return GW_OK;
}

#define MAX_KEYS 8
#define MAX_ARGS 20

/* Runs the script: keys, then ARGV = op, now, args...  The reply is handed
 * to the caller (rep) or decoded into res. */
static gw_err eval(gw_dedup *d, int nkeys, const char **keys, const char *op, long long now_ms,
                   int nargs, const char **args, redisReply **rep)
{
    char now[24], nk[4];
    snprintf(now, sizeof now, "%lld", now_ms);
    snprintf(nk, sizeof nk, "%d", nkeys);
    const char *argv[3 + MAX_KEYS + 2 + MAX_ARGS];
    size_t lens[3 + MAX_KEYS + 2 + MAX_ARGS];
    int argc = 0;
    if (nkeys > MAX_KEYS || nargs > MAX_ARGS)
        return GW_EINTERNAL;
    argv[argc++] = NULL; /* EVALSHA */
    argv[argc++] = NULL; /* sha */
    argv[argc++] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    argv[argc++] = op;
    argv[argc++] = now;
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    for (int i = 2; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return gw_redis_eval(d->redis, script, d->sha, argc, argv, lens, rep);
}

static gw_err run(gw_dedup *d, int nkeys, const char **keys, const char *op, long long now_ms,
                  int nargs, const char **args, gw_dedup_result *res)
{
    redisReply *rep;
    gw_err rc = eval(d, nkeys, keys, op, now_ms, nargs, args, &rep);
    if (rc)
        return rc;
    gw_dedup_result scratch;
    rc = decode(d->redis, rep, res ? res : &scratch);
    freeReplyObject(rep);
    return rc;
}

/* Key names: "<prefix><what><a>[:<b>]". */
typedef struct { char s[400]; } keybuf;

static const char *key(keybuf *k, const gw_dedup *d, const char *what, const char *a,
                       const char *b)
{
    int n = snprintf(k->s, sizeof k->s, "%s%s%s%s%s", d->cfg->redis_key_prefix, what, a,
                     b ? ":" : "", b ? b : "");
    if (n < 0 || (size_t)n >= sizeof k->s)
        k->s[sizeof k->s - 1] = '\0'; /* bounded by the caller's inputs; never hit */
    return k->s;
}

/* An OVER_BUDGET reply: which budget, and when its minute ends. */
static void budget_refusal(gw_dedup_result *res, long long now_ms)
{
    res->over_sender = !strcmp(res->storm_type, "sender");
    res->storm_type[0] = '\0';
    /* the budgets count per calendar minute: retry when this one ends */
    res->budget_retry_s = 60 - (long)((now_ms / 1000) % 60);
}

gw_err gw_dedup_hit(gw_dedup *d, const char *fp, const gw_dedup_signal *sig, long long now_ms,
                    const char *owner, gw_dedup_result *res)
{
    const gw_config *c = d->cfg;
    keybuf kf, kd, kr, ks, km, kg, kb, kq;
    char minute[24];
    snprintf(minute, sizeof minute, "%lld", now_ms / 60000);
    const char *keys[] = {
        key(&kf, d, "fp:", fp, NULL),          key(&kd, d, "dirty", "", NULL),
        key(&kr, d, "recent:", sig->group, NULL), key(&ks, d, "storm:", sig->group, NULL),
        key(&km, d, "stormres:", sig->group, NULL),
        key(&kg, d, "budget:", minute, NULL),
        key(&kb, d, "budget:", sig->sender && *sig->sender ? sig->sender : "_", minute),
        key(&kq, d, "rate:", sig->group, NULL),
    };
    char esc[24];
    snprintf(esc, sizeof esc, "%ld", sig->escalate_at);
    const char *args[] = { d->ttl, d->lease, owner, d->sync, c->storm_enabled ? "1" : "0",
                           sig->resource, d->rate, d->pattern, d->pattern_win, d->agg_win,
                           d->max_win, esc, sig->group, sig->alertname, sig->ns, fp, d->gmax,
                           d->smax, sig->counted ? "0" : "1" };
    gw_err rc = run(d, 8, keys, "hit", now_ms, 19, args, res);
    if (!rc && res->kind == GW_DEDUP_OVER_BUDGET)
        budget_refusal(res, now_ms);
    return rc;
}

/* The keys of the create limits of the minute of now_ms: the gateway's
 * and the sender's budget, and with ns (not NULL) the namespace cap.
 * Returns how many. */
typedef struct {
    keybuf g, s, c;
} limit_keys;

static int create_limit_keys(const gw_dedup *d, const char *ns, const char *sender,
                             long long now_ms, limit_keys *k, const char *keys[3])
{
    char minute[24];
    snprintf(minute, sizeof minute, "%lld", now_ms / 60000);
    keys[0] = key(&k->g, d, "budget:", minute, NULL);
    keys[1] = key(&k->s, d, "budget:", sender && *sender ? sender : "_", minute);
    if (!ns)
        return 2;
    keys[2] = key(&k->c, d, "nscap:", *ns ? ns : "_cluster", minute);
    return 3;
}

gw_err gw_dedup_create_limits(gw_dedup *d, const char *ns, const char *sender, long long now_ms,
                              gw_dedup_result *res)
{
    limit_keys k;
    const char *keys[3];
    create_limit_keys(d, ns ? ns : "", sender, now_ms, &k, keys);
    const char *args[] = { d->gmax, d->smax, d->cap };
    gw_err rc = run(d, 3, keys, "limits", now_ms, 3, args, res);
    if (!rc && res->kind == GW_DEDUP_OVER_BUDGET)
        budget_refusal(res, now_ms);
    return rc;
}

gw_err gw_dedup_create_uncount(gw_dedup *d, const char *ns, const char *sender, long long now_ms)
{
    limit_keys k;
    const char *keys[3];
    int n = create_limit_keys(d, ns, sender, now_ms, &k, keys);
    return run(d, n, keys, "uncount", now_ms, 0, NULL, NULL);
}

static gw_err set_active(gw_dedup *d, const char *op, const char *fp, long long now_ms,
                         int nextra, const char **extra, gw_dedup_result *res)
{
    keybuf kf;
    const char *keys[] = { key(&kf, d, "fp:", fp, NULL) };
    const char *args[8] = { d->ttl };
    for (int i = 0; i < nextra && i < 7; i++)
        args[i + 1] = extra[i];
    return run(d, 1, keys, op, now_ms, 1 + nextra, args, res);
}

gw_err gw_dedup_activate(gw_dedup *d, const char *fp, long long now_ms, const char *owner,
                         const char *name, const char *ns, gw_dedup_result *res)
{
    const char *extra[] = { owner, name, ns };
    return set_active(d, "activate", fp, now_ms, 3, extra, res);
}

gw_err gw_dedup_seed(gw_dedup *d, const char *fp, long long now_ms, const char *owner,
                     const char *name, const char *ns, long long count, long long first_ms,
                     gw_dedup_result *res)
{
    char cnt[24], first[24];
    snprintf(cnt, sizeof cnt, "%lld", count);
    snprintf(first, sizeof first, "%lld", first_ms);
    const char *extra[] = { owner, name, ns, cnt, first };
    return set_active(d, "seed", fp, now_ms, 5, extra, res);
}

gw_err gw_dedup_storm_activate(gw_dedup *d, const char *fp, const char *group, long long now_ms,
                               const char *owner, const char *name, const char *ns,
                               gw_dedup_result *res)
{
    keybuf kf, ks, km;
    const char *keys[] = { key(&kf, d, "fp:", fp, NULL), key(&ks, d, "storm:", group, NULL),
                           key(&km, d, "stormres:", group, NULL) };
    const char *args[] = { owner, name, ns, d->ttl, group };
    return run(d, 3, keys, "storm_activate", now_ms, 5, args, res);
}

gw_err gw_dedup_release(gw_dedup *d, const char *fp, const char *group, const char *owner)
{
    keybuf kf, ks, km;
    const char *keys[] = { key(&kf, d, "fp:", fp, NULL),
                           group ? key(&ks, d, "storm:", group, NULL) : NULL,
                           group ? key(&km, d, "stormres:", group, NULL) : NULL };
    const char *args[] = { owner };
    return run(d, group ? 3 : 1, keys, "release", 0, 1, args, NULL);
}

gw_err gw_dedup_synced(gw_dedup *d, const char *fp, long long count, long long now_ms)
{
    keybuf kf, kd;
    const char *keys[] = { key(&kf, d, "fp:", fp, NULL), key(&kd, d, "dirty", "", NULL) };
    char c[24], due[24];
    snprintf(c, sizeof c, "%lld", count);
    /* a failed patch is retried no sooner than the sync interval (at least
     * 1 s), so an apiserver outage is not polled in a tight loop */
    long back_off = d->cfg->dedup_status_sync_interval_ms;
    snprintf(due, sizeof due, "%lld", now_ms + (count >= 0 ? 0 : back_off > 1000 ? back_off : 1000));
    const char *args[] = { c, fp, due };
    return run(d, 2, keys, "synced", now_ms, 3, args, NULL);
}

gw_err gw_dedup_forget(gw_dedup *d, const char *fp, const char *name)
{
    keybuf kf;
    const char *keys[] = { key(&kf, d, "fp:", fp, NULL) };
    const char *args[] = { name };
    return run(d, 1, keys, "forget", 0, 1, args, NULL);
}

gw_err gw_dedup_storm_forget(gw_dedup *d, const char *group, const char *name)
{
    keybuf ks, km;
    const char *keys[] = { key(&ks, d, "storm:", group, NULL),
                           key(&km, d, "stormres:", group, NULL) };
    const char *args[] = { name };
    return run(d, 2, keys, "storm_forget", 0, 1, args, NULL);
}

gw_err gw_dedup_resolve(gw_dedup *d, const char *fp, long long now_ms, gw_dedup_result *res)
{
    keybuf kf;
    const char *keys[] = { key(&kf, d, "fp:", fp, NULL) };
    return run(d, 1, keys, "resolve", now_ms, 0, NULL, res);
}

gw_err gw_dedup_get(gw_dedup *d, const char *fp, gw_dedup_result *res)
{
    keybuf kf;
    const char *keys[] = { key(&kf, d, "fp:", fp, NULL) };
    const char *args[] = { d->cfg->redis_key_prefix };
    return run(d, 1, keys, "get", 0, 1, args, res);
}

static void decode_item(const redisReply *e, gw_flush_item *it)
{
    memset(it, 0, sizeof *it);
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 10)
        return;
    it->storm = e->element[0]->type == REDIS_REPLY_STRING && e->element[0]->str[0] == 's';
    copy_str(it->id, sizeof it->id, e->element[1]);
    copy_str(it->name, sizeof it->name, e->element[2]);
    copy_str(it->ns, sizeof it->ns, e->element[3]);
    it->count = int_of(e->element[4]);
    it->first_ms = int_of(e->element[5]);
    it->last_ms = int_of(e->element[6]);
    copy_str(it->storm_type, sizeof it->storm_type, e->element[7]);
    it->storm_total = int_of(e->element[8]);
    copy_str(it->resources, sizeof it->resources, e->element[9]);
}

static gw_err run_items(gw_dedup *d, const char *op, long long now_ms, const char *extra,
                        gw_flush_item *items, size_t max, size_t *n, long long *next_due_ms)
{
    keybuf kd;
    const char *keys[] = { key(&kd, d, "dirty", "", NULL) };
    char maxres[24];
    snprintf(maxres, sizeof maxres, "%ld", d->cfg->storm_max_resources);
    const char *args[] = { d->cfg->redis_key_prefix, maxres, extra };
    redisReply *rep;
    *n = 0;
    if (next_due_ms)
        *next_due_ms = 0;
    gw_err rc = eval(d, 1, keys, op, now_ms, 3, args, &rep);
    if (rc)
        return rc;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(rep);
        snprintf(d->redis->errstr, sizeof d->redis->errstr, "dedup %s: unexpected reply", op);
        return GW_EREDIS;
    }
    const redisReply *list = rep->element[0];
    for (size_t i = 0; i < list->elements && *n < max; i++)
        decode_item(list->element[i], &items[(*n)++]);
    if (next_due_ms)
        *next_due_ms = int_of(rep->element[1]);
    freeReplyObject(rep);
    return GW_OK;
}

gw_err gw_dedup_flush(gw_dedup *d, long long now_ms, gw_flush_item *items, size_t max, size_t *n,
                      long long *next_due_ms)
{
    char lim[24];
    snprintf(lim, sizeof lim, "%zu", max);
    return run_items(d, "flush", now_ms, lim, items, max, n, next_due_ms);
}

gw_err gw_dedup_storm_info(gw_dedup *d, const char *group, gw_flush_item *out)
{
    size_t n = 0;
    gw_err rc = run_items(d, "storm_info", 0, group, out, 1, &n, NULL);
    if (rc)
        return rc;
    return n ? GW_OK : GW_ENOTFOUND;
}

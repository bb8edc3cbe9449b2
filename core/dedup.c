/* dedup.c - the dedup Lua script and its C wrappers; see dedup.h.
 *
 * The script dispatches on ARGV[1] so that one SHA covers every operation.
 * Numbers travel as decimal strings; milliseconds since the epoch have 13
 * digits, well inside Lua's 14 significant digits for tostring(). */
#include "dedup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char script[] =
    "local key = KEYS[1]\n"
    "local op = ARGV[1]\n"
    "local now = tonumber(ARGV[2])\n"
    "local function info(kind)\n"
    "  local h = redis.call('HMGET', key, 'count', 'first', 'last', 'name', 'ns', 'resolved')\n"
    "  return {kind, tonumber(h[1]) or 0, tonumber(h[2]) or 0, tonumber(h[3]) or 0,\n"
    "          h[4] or '', h[5] or '', tonumber(h[6]) or 0, 0}\n"
    "end\n"
    "if op == 'hit' then\n"
    "  -- the hot path: 3 calls (one read, one write, the TTL) for a duplicate\n"
    "  local ttl, lease, owner, sync = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])\n"
    "  local h = redis.call('HMGET', key, 'state', 'lease', 'synced', 'count', 'first', 'name', 'ns', 'resolved')\n"
    "  if not h[1] then\n"
    "    redis.call('HSET', key, 'state', 'pending', 'owner', owner, 'lease', now + lease,\n"
    "               'count', 1, 'first', now, 'last', now)\n"
    "    redis.call('PEXPIRE', key, lease)\n"
    "    return {'new', 1, now, now, '', '', 0, 0}\n"
    "  end\n"
    "  local count = (tonumber(h[4]) or 0) + 1\n"
    "  if h[1] == 'pending' then\n"
    "    if (tonumber(h[2]) or 0) >= now then return {'pending'} end\n"
    "    redis.call('HSET', key, 'owner', owner, 'lease', now + lease, 'last', now, 'count', count)\n"
    "    redis.call('PEXPIRE', key, lease)\n"
    "    return {'new', count, tonumber(h[5]) or now, now, '', '', 0, 0}\n"
    "  end\n"
    "  local due = 0\n"
    "  if now - (tonumber(h[3]) or 0) >= sync then\n"
    "    due = 1\n"
    "    redis.call('HSET', key, 'count', count, 'last', now, 'synced', now)\n"
    "  else\n"
    "    redis.call('HSET', key, 'count', count, 'last', now)\n"
    "  end\n"
    "  redis.call('EXPIRE', key, ttl)\n"
    "  return {'dup', count, tonumber(h[5]) or 0, now, h[6] or '', h[7] or '', tonumber(h[8]) or 0, due}\n"
    "elseif op == 'activate' or op == 'seed' then\n"
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
    "  return info('dup')\n"
    "elseif op == 'release' then\n"
    "  local st = redis.call('HMGET', key, 'state', 'owner')\n"
    "  if st[1] == 'pending' and st[2] == ARGV[3] then redis.call('DEL', key) end\n"
    "  return {'none'}\n"
    "elseif op == 'forget' then\n"
    "  if redis.call('HGET', key, 'name') == ARGV[3] then redis.call('DEL', key) end\n"
    "  return {'none'}\n"
    "elseif op == 'resolve' then\n"
    "  if redis.call('HGET', key, 'state') ~= 'active' then return {'none'} end\n"
    "  redis.call('HSET', key, 'resolved', now, 'last', now)\n"
    "  return info('dup')\n"
    "elseif op == 'get' then\n"
    "  local s = redis.call('HGET', key, 'state')\n"
    "  if not s then return {'none'} end\n"
    "  if s == 'pending' then return info('pending') end\n"
    "  return info('dup')\n"
    "end\n"
    "return redis.error_reply('alertgw dedup: unknown op')\n";

void gw_dedup_init(gw_dedup *d, gw_redis *r, const char *prefix, long ttl_s, long lease_ms,
                   long sync_interval_ms)
{
    memset(d, 0, sizeof *d);
    d->redis = r;
    d->prefix = prefix;
    d->ttl_s = ttl_s;
    d->lease_ms = lease_ms;
    d->sync_interval_ms = sync_interval_ms;
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

static gw_err decode(gw_redis *r, redisReply *rep, gw_dedup_result *res)
{
    memset(res, 0, sizeof *res);
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_STRING) {
        snprintf(r->errstr, sizeof r->errstr, "dedup script: unexpected reply");
        return GW_EREDIS;
    }
    const char *k = rep->element[0]->str;
    if (!strcmp(k, "new"))
        res->kind = GW_DEDUP_NEW;
    else if (!strcmp(k, "dup"))
        res->kind = GW_DEDUP_DUP;
    else if (!strcmp(k, "pending"))
        res->kind = GW_DEDUP_PENDING;
    else if (!strcmp(k, "lost"))
        return GW_EBUSY;
    else
        res->kind = GW_DEDUP_NONE;
    if (rep->elements >= 8) {
        res->count = rep->element[1]->integer;
        res->first_ms = rep->element[2]->integer;
        res->last_ms = rep->element[3]->integer;
        copy_str(res->name, sizeof res->name, rep->element[4]);
        copy_str(res->ns, sizeof res->ns, rep->element[5]);
        res->resolved_ms = rep->element[6]->integer;
        res->sync_due = rep->element[7]->integer != 0;
    }
    return GW_OK;
}

/* Runs the script with ARGV = op, now, extra...; at most 8 extras. */
static gw_err run(gw_dedup *d, const char *fp, const char *op, long long now_ms, int nextra,
                  const char **extra, gw_dedup_result *res)
{
    char key[160], now[24];
    int kl = snprintf(key, sizeof key, "%sfp:%s", d->prefix, fp);
    if (kl < 0 || (size_t)kl >= sizeof key)
        return GW_EINTERNAL;
    snprintf(now, sizeof now, "%lld", now_ms);
    const char *argv[14];
    size_t lens[14];
    int argc = 0;
    argv[argc++] = NULL; /* EVALSHA */
    argv[argc++] = NULL; /* sha */
    argv[argc++] = "1";
    argv[argc++] = key;
    argv[argc++] = op;
    argv[argc++] = now;
    for (int i = 0; i < nextra && argc < 14; i++)
        argv[argc++] = extra[i];
    for (int i = 2; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisReply *rep;
    gw_err rc = gw_redis_eval(d->redis, script, d->sha, argc, argv, lens, &rep);
    if (rc)
        return rc;
    gw_dedup_result scratch;
    rc = decode(d->redis, rep, res ? res : &scratch);
    freeReplyObject(rep);
    return rc;
}

gw_err gw_dedup_hit(gw_dedup *d, const char *fp, long long now_ms, const char *owner,
                    gw_dedup_result *res)
{
    char ttl[24], lease[24], sync[24];
    snprintf(ttl, sizeof ttl, "%ld", d->ttl_s);
    snprintf(lease, sizeof lease, "%ld", d->lease_ms);
    snprintf(sync, sizeof sync, "%ld", d->sync_interval_ms);
    const char *extra[] = { ttl, lease, owner, sync };
    return run(d, fp, "hit", now_ms, 4, extra, res);
}

gw_err gw_dedup_activate(gw_dedup *d, const char *fp, long long now_ms, const char *owner,
                         const char *name, const char *ns, gw_dedup_result *res)
{
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%ld", d->ttl_s);
    const char *extra[] = { ttl, owner, name, ns };
    return run(d, fp, "activate", now_ms, 4, extra, res);
}

gw_err gw_dedup_seed(gw_dedup *d, const char *fp, long long now_ms, const char *owner,
                     const char *name, const char *ns, long long count, long long first_ms,
                     gw_dedup_result *res)
{
    char ttl[24], cnt[24], first[24];
    snprintf(ttl, sizeof ttl, "%ld", d->ttl_s);
    snprintf(cnt, sizeof cnt, "%lld", count);
    snprintf(first, sizeof first, "%lld", first_ms);
    const char *extra[] = { ttl, owner, name, ns, cnt, first };
    return run(d, fp, "seed", now_ms, 6, extra, res);
}

gw_err gw_dedup_release(gw_dedup *d, const char *fp, const char *owner)
{
    const char *extra[] = { owner };
    return run(d, fp, "release", 0, 1, extra, NULL);
}

gw_err gw_dedup_forget(gw_dedup *d, const char *fp, const char *name)
{
    const char *extra[] = { name };
    return run(d, fp, "forget", 0, 1, extra, NULL);
}

gw_err gw_dedup_resolve(gw_dedup *d, const char *fp, long long now_ms, gw_dedup_result *res)
{
    return run(d, fp, "resolve", now_ms, 0, NULL, res);
}

gw_err gw_dedup_get(gw_dedup *d, const char *fp, gw_dedup_result *res)
{
    return run(d, fp, "get", 0, 0, NULL, res);
}

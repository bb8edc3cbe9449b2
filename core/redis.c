/* SPDX-License-Identifier: Apache-2.0 */
/* redis.c - see redis.h.
 *
 * Sentinel discovery follows the Redis "Sentinel client guidelines": ask
 * the sentinels in turn, trust the first that names a master, promote it
 * to the front of the list, and verify with ROLE on the master itself,
 * because a sentinel that has not seen the failover yet (or is partitioned
 * from the others) names the old master, which may by then be a replica.
 * A sentinel connection is opened for the question and closed again: a
 * worker asks only when it (re)connects, so keeping one open per worker
 * would cost file descriptors for nothing.
 *
 * Writes acknowledged by an old master just before a failover can be lost
 * (Redis replication is asynchronous).  For alertgw that loses at most some
 * dedup state, and a missing fingerprint is looked up in Kubernetes by label
 * before anything is created (pipeline.c), so a failover never doubles a
 * RemediationRequest. */
#include "redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "secretfile.h"
#include "text.h"

static struct timeval tv_of(long ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return tv;
}

/* A password file, read whole (secretfile.h: never cut short). */
static gw_err read_secret(const char *key, const char *path, char **out, char *err, size_t errlen)
{
    size_t len;
    return gw_secret_file_read(key, path, GW_SECRET_TEXT, out, &len, err, errlen);
}

gw_err gw_redis_init(gw_redis *r, const gw_redis_opts *o, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->connect_timeout_ms = o->connect_timeout_ms;
    r->command_timeout_ms = o->command_timeout_ms;
    r->log_min = o->log_min;
    if (!(r->addr = strdup(o->addr ? o->addr : "")))
        return GW_ENOMEM;
    gw_err rc;
    if (o->password_file && *o->password_file &&
        (rc = read_secret("redis.password_file", o->password_file, &r->password, err, errlen)))
        return rc;
    if (!o->sentinels || !*o->sentinels)
        return GW_OK;
    r->addr[0] = '\0'; /* the master is whatever the sentinels say */
    if (!o->sentinel_master || !*o->sentinel_master)
        return gw_fail(GW_ECONFIG, err, errlen, "redis.sentinel_master: must be set with "
                       "redis.sentinels");
    if (!(r->master_name = strdup(o->sentinel_master)))
        return GW_ENOMEM;
    for (const char *p = o->sentinels; *p;) {
        size_t len = strcspn(p, ",");
        if (len) {
            if (r->nsentinels == GW_REDIS_MAX_SENTINELS)
                return gw_fail(GW_ECONFIG, err, errlen, "redis.sentinels: more than %d",
                               GW_REDIS_MAX_SENTINELS);
            if (!(r->sentinel[r->nsentinels++] = strndup(p, len)))
                return GW_ENOMEM;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    if (o->sentinel_password_file && *o->sentinel_password_file &&
        (rc = read_secret("redis.sentinel_password_file", o->sentinel_password_file,
                          &r->sentinel_password, err, errlen)))
        return rc;
    return GW_OK;
}

/* memset before free may be optimised away; gw_secret_free is not */
static void wipe(char *s)
{
    if (s)
        gw_secret_free(s, strlen(s));
}

void gw_redis_free(gw_redis *r)
{
    if (r->c)
        redisFree(r->c);
    free(r->addr);
    wipe(r->password);
    wipe(r->sentinel_password);
    for (int i = 0; i < r->nsentinels; i++)
        free(r->sentinel[i]);
    free(r->master_name);
    memset(r, 0, sizeof *r);
}

static void drop(gw_redis *r, const char *why)
{
    snprintf(r->errstr, sizeof r->errstr, "%s", why);
    if (r->c) {
        redisFree(r->c);
        r->c = NULL;
    }
}

/* Opens a connection to "host:port", "[v6]:port" or "unix:/path" with the
 * connect timeout and sets the command timeout.  NULL with why filled on
 * failure. */
static redisContext *open_conn(const gw_redis *r, const char *addr, char *why, size_t whylen)
{
    struct timeval ct = tv_of(r->connect_timeout_ms);
    redisContext *c;
    if (!strncmp(addr, "unix:", 5)) {
        c = redisConnectUnixWithTimeout(addr + 5, ct);
    } else {
        char host[256];
        const char *colon = strrchr(addr, ':');
        int port = 6379;
        const char *h = addr;
        size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') { /* [::1]:6379 */
            h++;
            hl -= 2;
        }
        if (hl >= sizeof host)
            hl = sizeof host - 1;
        memcpy(host, h, hl);
        host[hl] = '\0';
        if (colon)
            port = atoi(colon + 1);
        c = redisConnectWithTimeout(host, port, ct);
    }
    if (!c) {
        snprintf(why, whylen, "connect %.80s: out of memory", addr);
        return NULL;
    }
    if (c->err) {
        snprintf(why, whylen, "connect %.80s: %.60s", addr, c->errstr);
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv_of(r->command_timeout_ms));
    return c;
}

/* AUTH on c when password is set; false with why filled on failure. */
static bool auth(redisContext *c, const char *password, const char *addr, char *why,
                 size_t whylen)
{
    if (!password)
        return true;
    redisReply *rep = redisCommand(c, "AUTH %s", password);
    bool ok = rep && rep->type != REDIS_REPLY_ERROR;
    if (!ok) /* never the password; the server's own words are safe */
        snprintf(why, whylen, "AUTH to %.80s failed%s%.60s", addr,
                 rep && rep->type == REDIS_REPLY_ERROR ? ": " : "",
                 rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    if (rep)
        freeReplyObject(rep);
    return ok;
}

/* Asks one sentinel for the master's address, "host:port" into out. */
static bool ask_sentinel(gw_redis *r, const char *sentinel, char *out, size_t outlen, char *why,
                         size_t whylen)
{
    redisContext *c = open_conn(r, sentinel, why, whylen);
    if (!c)
        return false;
    bool ok = auth(c, r->sentinel_password, sentinel, why, whylen);
    redisReply *rep = ok ? redisCommand(c, "SENTINEL get-master-addr-by-name %s", r->master_name)
                         : NULL;
    if (ok && !rep) {
        snprintf(why, whylen, "sentinel %s: %s", sentinel, c->errstr[0] ? c->errstr : "I/O error");
        ok = false;
    } else if (ok && (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
                      rep->element[0]->type != REDIS_REPLY_STRING ||
                      rep->element[1]->type != REDIS_REPLY_STRING)) {
        snprintf(why, whylen, "sentinel %s: no master named \"%.40s\"%s%.60s", sentinel,
                 r->master_name, rep->type == REDIS_REPLY_ERROR ? ": " : "",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "");
        ok = false;
    } else if (ok) {
        const char *host = rep->element[0]->str;
        /* an IPv6 address needs brackets to be split at its last colon */
        int n = snprintf(out, outlen, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host,
                         rep->element[1]->str);
        ok = n > 0 && (size_t)n < outlen;
        if (!ok)
            snprintf(why, whylen, "sentinel %s: master address too long", sentinel);
    }
    if (rep)
        freeReplyObject(rep);
    redisFree(c);
    return ok;
}

/* true when ROLE on c says master. */
static bool is_master(redisContext *c, const char *addr, char *why, size_t whylen)
{
    redisReply *rep = redisCommand(c, "ROLE");
    bool ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
              rep->element[0]->type == REDIS_REPLY_STRING &&
              !strcmp(rep->element[0]->str, "master");
    if (!ok)
        snprintf(why, whylen, "%.80s: ROLE is not master (%.40s)", addr,
                 !rep ? (c->errstr[0] ? c->errstr : "I/O error")
                 : rep->type == REDIS_REPLY_ERROR ? rep->str
                 : rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 &&
                           rep->element[0]->type == REDIS_REPLY_STRING
                     ? rep->element[0]->str
                     : "unexpected reply");
    if (rep)
        freeReplyObject(rep);
    return ok;
}

/* Sentinel mode: finds the master and leaves r->c connected to it. */
static gw_err discover(gw_redis *r)
{
    char why[160] = "no sentinel configured";
    for (int i = 0; i < r->nsentinels; i++) {
        int idx = (r->first + i) % r->nsentinels;
        char addr[300];
        if (!ask_sentinel(r, r->sentinel[idx], addr, sizeof addr, why, sizeof why))
            continue;
        redisContext *c = open_conn(r, addr, why, sizeof why);
        if (!c)
            continue;
        if (!auth(c, r->password, addr, why, sizeof why) ||
            !is_master(c, addr, why, sizeof why)) {
            redisFree(c);
            continue;
        }
        r->first = idx;
        if (strcmp(r->addr, addr)) {
            char *copy = strdup(addr);
            if (!copy) {
                redisFree(c);
                snprintf(r->errstr, sizeof r->errstr, "out of memory");
                return GW_EREDIS;
            }
            gw_log(r->log_min, *r->addr ? GW_LOG_WARN : GW_LOG_INFO, NULL,
                   "redis: sentinel %s names master \"%s\" at %s (was %s)", r->sentinel[idx],
                   r->master_name, addr, *r->addr ? r->addr : "unknown");
            free(r->addr);
            r->addr = copy;
        }
        r->c = c;
        return GW_OK;
    }
    snprintf(r->errstr, sizeof r->errstr, "no master found through %d sentinel(s); last: %s",
             r->nsentinels, why);
    return GW_EREDIS;
}

static gw_err ensure_connected(gw_redis *r)
{
    if (r->c)
        return GW_OK;
    if (r->nsentinels)
        return discover(r);
    char why[160];
    redisContext *c = open_conn(r, r->addr, why, sizeof why);
    if (!c) {
        drop(r, why);
        return GW_EREDIS;
    }
    if (!auth(c, r->password, r->addr, why, sizeof why)) {
        redisFree(c);
        drop(r, why);
        return GW_EREDIS;
    }
    r->c = c;
    return GW_OK;
}

/* p + tag + n in decimal + CRLF; returns the end */
static char *put_count(char *p, char tag, size_t n)
{
    *p++ = tag;
    p += gw_dec((long long)n, p);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* The command in Redis's wire format (RESP: "*argc", then "$len" and the
 * bytes of each argument) in out, of cap bytes.  Returns its length, or 0
 * when it does not fit.  hiredis's own formatter (redisCommandArgv) does
 * the same with an sdscatfmt per argument and a heap string per command,
 * ~20k instructions for the dedup script's 35 arguments; this is ~2k
 * (docs/performance.md). */
static size_t format_command(char *out, size_t cap, int argc, const char **argv,
                             const size_t *lens)
{
    size_t need = 23; /* "*" count CRLF */
    for (int i = 0; i < argc; i++) {
        if (lens[i] > cap) /* also keeps the sum below from wrapping */
            return 0;
        need += 25 + lens[i]; /* "$" length CRLF bytes CRLF */
    }
    if (need > cap)
        return 0;
    char *p = put_count(out, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        p = put_count(p, '$', lens[i]);
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    return (size_t)(p - out);
}

/* One command; any transport error drops the connection. */
static gw_err command(gw_redis *r, int argc, const char **argv, const size_t *lens,
                      redisReply **out)
{
    gw_err rc = ensure_connected(r);
    if (rc)
        return rc;
    /* small commands (every dedup call) go through a stack buffer; larger
     * ones (SCRIPT LOAD) through hiredis's formatter */
    char buf[4096];
    size_t len = format_command(buf, sizeof buf, argc, argv, lens);
    redisReply *rep = NULL;
    if (len == 0) {
        rep = redisCommandArgv(r->c, argc, argv, lens);
    } else {
        void *reply = NULL;
        if (redisAppendFormattedCommand(r->c, buf, len) == REDIS_OK &&
            redisGetReply(r->c, &reply) == REDIS_OK)
            rep = reply;
    }
    if (!rep) {
        char why[160];
        snprintf(why, sizeof why, "%s: %s", r->addr, r->c->errstr[0] ? r->c->errstr : "I/O error");
        drop(r, why);
        return GW_EREDIS;
    }
    *out = rep;
    return GW_OK;
}

/* An error reply: recorded, and the connection dropped, so the next call
 * starts afresh (and, with Sentinel, asks where the master is now).  That
 * is what READONLY (we reached a replica), LOADING and MASTERDOWN need, and
 * costs one reconnect for any other error. */
static gw_err error_reply(gw_redis *r, redisReply *rep, const char *what)
{
    char why[160];
    snprintf(why, sizeof why, "%s: %.140s", what, rep->str);
    freeReplyObject(rep);
    drop(r, why);
    return GW_EREDIS;
}

static gw_err load_script(gw_redis *r, const char *src, char sha[41])
{
    const char *argv[] = { "SCRIPT", "LOAD", src };
    size_t lens[] = { 6, 4, strlen(src) };
    redisReply *rep;
    gw_err rc = command(r, 3, argv, lens, &rep);
    if (rc)
        return rc;
    if (rep->type == REDIS_REPLY_ERROR)
        return error_reply(r, rep, "SCRIPT LOAD");
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        snprintf(r->errstr, sizeof r->errstr, "SCRIPT LOAD: unexpected reply");
        freeReplyObject(rep);
        return GW_EREDIS;
    }
    memcpy(sha, rep->str, 40);
    sha[40] = '\0';
    freeReplyObject(rep);
    return GW_OK;
}

gw_err gw_redis_eval(gw_redis *r, const char *src, char sha[41], int argc, const char **argv,
                     size_t *lens, redisReply **reply)
{
    /* argv[0], argv[1] (and lens) are filled here: EVALSHA and the SHA */
    gw_err rc;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!sha[0] && (rc = load_script(r, src, sha)))
            return rc;
        argv[0] = "EVALSHA";
        lens[0] = 7;
        argv[1] = sha;
        lens[1] = 40;
        redisReply *rep;
        if ((rc = command(r, argc, argv, lens, &rep)))
            return rc;
        if (rep->type == REDIS_REPLY_ERROR) {
            if (!strncmp(rep->str, "NOSCRIPT", 8)) {
                freeReplyObject(rep);
                sha[0] = '\0';
                continue;
            }
            return error_reply(r, rep, "script");
        }
        *reply = rep;
        return GW_OK;
    }
    snprintf(r->errstr, sizeof r->errstr, "script vanished twice (NOSCRIPT)");
    return GW_EREDIS;
}

gw_err gw_redis_command(gw_redis *r, int argc, const char **argv, const size_t *lens,
                        redisReply **reply)
{
    redisReply *rep;
    gw_err rc = command(r, argc, argv, lens, &rep);
    if (rc)
        return rc;
    if (rep->type == REDIS_REPLY_ERROR)
        return error_reply(r, rep, argv[0]);
    *reply = rep;
    return GW_OK;
}

gw_err gw_redis_ping(gw_redis *r)
{
    const char *argv[] = { "PING" };
    size_t lens[] = { 4 };
    redisReply *rep;
    gw_err rc = command(r, 1, argv, lens, &rep);
    if (rc)
        return rc;
    if (rep->type == REDIS_REPLY_ERROR)
        return error_reply(r, rep, "PING");
    bool ok = rep->type == REDIS_REPLY_STATUS;
    if (!ok)
        snprintf(r->errstr, sizeof r->errstr, "PING: unexpected reply");
    freeReplyObject(rep);
    return ok ? GW_OK : GW_EREDIS;
}

/* redis.c - see redis.h. */
#include "redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct timeval tv_of(long ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return tv;
}

static gw_err read_secret(const char *path, char **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return gw_fail(GW_ECONFIG, err, errlen, "redis.password_file: %s: %s", path, strerror(errno));
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    *out = strdup(buf);
    return *out ? GW_OK : GW_ENOMEM;
}

gw_err gw_redis_init(gw_redis *r, const char *addr, const char *password_file,
                     long connect_timeout_ms, long command_timeout_ms, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->connect_timeout_ms = connect_timeout_ms;
    r->command_timeout_ms = command_timeout_ms;
    if (!(r->addr = strdup(addr)))
        return GW_ENOMEM;
    if (password_file && *password_file)
        return read_secret(password_file, &r->password, err, errlen);
    return GW_OK;
}

void gw_redis_free(gw_redis *r)
{
    if (r->c)
        redisFree(r->c);
    free(r->addr);
    if (r->password) {
        memset(r->password, 0, strlen(r->password));
        free(r->password);
    }
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

static gw_err ensure_connected(gw_redis *r)
{
    if (r->c)
        return GW_OK;
    struct timeval ct = tv_of(r->connect_timeout_ms);
    if (!strncmp(r->addr, "unix:", 5)) {
        r->c = redisConnectUnixWithTimeout(r->addr + 5, ct);
    } else {
        char host[256];
        const char *colon = strrchr(r->addr, ':');
        int port = 6379;
        size_t hl = colon ? (size_t)(colon - r->addr) : strlen(r->addr);
        if (hl >= sizeof host)
            hl = sizeof host - 1;
        memcpy(host, r->addr, hl);
        host[hl] = '\0';
        if (colon)
            port = atoi(colon + 1);
        r->c = redisConnectWithTimeout(host, port, ct);
    }
    if (!r->c) {
        snprintf(r->errstr, sizeof r->errstr, "connect %s: out of memory", r->addr);
        return GW_EREDIS;
    }
    if (r->c->err) {
        char why[160];
        snprintf(why, sizeof why, "connect %s: %s", r->addr, r->c->errstr);
        drop(r, why);
        return GW_EREDIS;
    }
    redisSetTimeout(r->c, tv_of(r->command_timeout_ms));
    if (r->password) {
        redisReply *rep = redisCommand(r->c, "AUTH %s", r->password);
        bool ok = rep && rep->type != REDIS_REPLY_ERROR;
        if (rep)
            freeReplyObject(rep);
        if (!ok) {
            drop(r, "AUTH failed");
            return GW_EREDIS;
        }
    }
    return GW_OK;
}

/* One command; any transport error drops the connection. */
static gw_err command(gw_redis *r, int argc, const char **argv, const size_t *lens,
                      redisReply **out)
{
    gw_err rc = ensure_connected(r);
    if (rc)
        return rc;
    redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
    if (!rep) {
        char why[160];
        snprintf(why, sizeof why, "%s: %s", r->addr, r->c->errstr[0] ? r->c->errstr : "I/O error");
        drop(r, why);
        return GW_EREDIS;
    }
    *out = rep;
    return GW_OK;
}

static gw_err load_script(gw_redis *r, const char *src, char sha[41])
{
    const char *argv[] = { "SCRIPT", "LOAD", src };
    size_t lens[] = { 6, 4, strlen(src) };
    redisReply *rep;
    gw_err rc = command(r, 3, argv, lens, &rep);
    if (rc)
        return rc;
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        snprintf(r->errstr, sizeof r->errstr, "SCRIPT LOAD: %s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
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
            snprintf(r->errstr, sizeof r->errstr, "script: %.140s", rep->str);
            freeReplyObject(rep);
            return GW_EREDIS;
        }
        *reply = rep;
        return GW_OK;
    }
    snprintf(r->errstr, sizeof r->errstr, "script vanished twice (NOSCRIPT)");
    return GW_EREDIS;
}

gw_err gw_redis_ping(gw_redis *r)
{
    const char *argv[] = { "PING" };
    size_t lens[] = { 4 };
    redisReply *rep;
    gw_err rc = command(r, 1, argv, lens, &rep);
    if (rc)
        return rc;
    bool ok = rep->type == REDIS_REPLY_STATUS;
    if (!ok)
        snprintf(r->errstr, sizeof r->errstr, "PING: %.140s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    return ok ? GW_OK : GW_EREDIS;
}

/* redis.h - one Redis connection per worker (hiredis), failing the hiredis way.
 *
 * gw_redis connects lazily and, after any error, drops the connection so the
 * next call reconnects: a Redis restart costs one failed request per worker,
 * never a stuck worker.  Scripts are run with EVALSHA and loaded again on
 * NOSCRIPT (after a restart or SCRIPT FLUSH).  Addresses: "host:port" or
 * "unix:/path". */
#ifndef GW_REDIS_H
#define GW_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include "err.h"

typedef struct {
    redisContext *c;          /* NULL while disconnected */
    char         *addr;       /* owned */
    char         *password;   /* owned, NULL: no AUTH */
    long          connect_timeout_ms;
    long          command_timeout_ms;
    char          errstr[160]; /* last error, for logs and /readyz */
} gw_redis;

/* Copies addr; password_file may be NULL or "" (read now, trimmed). */
gw_err gw_redis_init(gw_redis *r, const char *addr, const char *password_file,
                     long connect_timeout_ms, long command_timeout_ms, char *err, size_t errlen);
void   gw_redis_free(gw_redis *r);

/* Runs a script by SHA-1, loading src on NOSCRIPT.  sha is a 41-byte buffer
 * owned by the caller, filled on first load (empty string: not loaded yet).
 * On GW_OK *reply is the reply (the caller frees it with freeReplyObject);
 * a Redis error reply is GW_EREDIS with the message in r->errstr.  The
 * first two slots of argv/lens are the caller's space for EVALSHA <sha>. */
gw_err gw_redis_eval(gw_redis *r, const char *src, char sha[41], int argc, const char **argv,
                     size_t *lens, redisReply **reply);

/* PING, for /readyz. */
gw_err gw_redis_ping(gw_redis *r);

#endif

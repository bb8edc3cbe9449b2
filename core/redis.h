/* SPDX-License-Identifier: Apache-2.0 */
/* redis.h - one Redis connection per worker (hiredis), failing the hiredis way.
 *
 * gw_redis connects lazily and, after any error (transport, timeout, or an
 * error reply other than NOSCRIPT), drops the connection so the next call
 * reconnects: a Redis restart or failover costs one failed request per
 * worker, never a stuck worker.  Scripts are run with EVALSHA and loaded
 * again on NOSCRIPT (after a restart, a failover or SCRIPT FLUSH).
 * Addresses: "host:port" or "unix:/path".
 *
 * Sentinel (opts->sentinels set): every connect first asks the sentinels,
 * in order starting with the one that answered last, SENTINEL
 * get-master-addr-by-name <master>, connects to that address, AUTHs, and
 * checks that ROLE says "master" (a sentinel may not have noticed a
 * failover yet, or the old master may be back as a replica); otherwise the
 * next sentinel is asked.  Because every error drops the connection, the
 * next call after a failover rediscovers the new master.  hiredis 0.14 has
 * no TLS: use a unix socket or a local TLS tunnel (docs/security.md). */
#ifndef GW_REDIS_H
#define GW_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include "err.h"
#include "log.h"

#define GW_REDIS_MAX_SENTINELS 16

typedef struct {
    const char  *addr;                   /* used when sentinels is NULL or "" */
    const char  *password_file;          /* NULL or "": no AUTH */
    const char  *sentinels;              /* "host:port,host:port"; NULL or "": off */
    const char  *sentinel_master;        /* required with sentinels */
    const char  *sentinel_password_file; /* NULL or "": no AUTH to sentinels */
    long         connect_timeout_ms;
    long         command_timeout_ms;
    gw_log_level log_min;                /* for "following a new master" lines */
} gw_redis_opts;

typedef struct gw_redis {
    redisContext *c;          /* NULL while disconnected */
    char         *addr;       /* owned; in Sentinel mode the master last found */
    char         *password;   /* owned, NULL: no AUTH */
    long          connect_timeout_ms;
    long          command_timeout_ms;
    char         *sentinel[GW_REDIS_MAX_SENTINELS]; /* owned "host:port" */
    int           nsentinels; /* 0: no Sentinel */
    int           first;      /* the sentinel asked first (the last that answered) */
    char         *master_name;       /* owned */
    char         *sentinel_password; /* owned, NULL: no AUTH */
    gw_log_level  log_min;
    char          errstr[160]; /* last error, for logs and /readyz */
} gw_redis;

/* Copies what it needs from opts; password files are read now (trimmed).
 * gw_redis_free() releases it, also after a failed init. */
gw_err gw_redis_init(gw_redis *r, const gw_redis_opts *opts, char *err, size_t errlen);
void   gw_redis_free(gw_redis *r);

/* Runs a script by SHA-1, loading src on NOSCRIPT.  sha is a 41-byte buffer
 * owned by the caller, filled on first load (empty string: not loaded yet).
 * On GW_OK *reply is the reply (the caller frees it with freeReplyObject);
 * a Redis error reply is GW_EREDIS with the message in r->errstr.  The
 * first two slots of argv/lens are the caller's space for EVALSHA <sha>. */
gw_err gw_redis_eval(gw_redis *r, const char *src, char sha[41], int argc, const char **argv,
                     size_t *lens, redisReply **reply);

/* One plain command (argv/lens as for redisCommandArgv).  On GW_OK *reply
 * is the reply (the caller frees it with freeReplyObject); a Redis error
 * reply is GW_EREDIS with the message in r->errstr, as is a failed
 * connection. */
gw_err gw_redis_command(gw_redis *r, int argc, const char **argv, const size_t *lens,
                        redisReply **reply);

/* PING, for /readyz. */
gw_err gw_redis_ping(gw_redis *r);

#endif

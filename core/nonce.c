/* SPDX-License-Identifier: Apache-2.0 */
/* nonce.c - see nonce.h.  Two plain commands on the worker's connection:
 * GET to look, SET ... EX to remember. */
#include "nonce.h"

#include <stdio.h>
#include <string.h>

/* "<prefix>nonce:<nonce>" into key; false when it does not fit. */
static bool nonce_key(const char *prefix, const char *nonce, char *key, size_t keylen)
{
    int n = snprintf(key, keylen, "%snonce:%s", prefix, nonce);
    return n > 0 && (size_t)n < keylen;
}

gw_err gw_nonce_seen(gw_redis *r, const char *prefix, const char *nonce, bool *seen, char *first,
                     size_t firstlen)
{
    char key[512];
    *seen = false;
    if (firstlen)
        first[0] = '\0';
    if (!nonce_key(prefix, nonce, key, sizeof key)) {
        snprintf(r->errstr, sizeof r->errstr, "nonce: redis.key_prefix too long");
        return GW_EREDIS;
    }
    const char *argv[] = { "GET", key };
    size_t lens[] = { 3, strlen(key) };
    redisReply *rep;
    gw_err rc = gw_redis_command(r, 2, argv, lens, &rep);
    if (rc)
        return rc;
    if (rep->type == REDIS_REPLY_STRING) {
        *seen = true;
        if (firstlen)
            snprintf(first, firstlen, "%.*s", (int)rep->len, rep->str);
    } else if (rep->type != REDIS_REPLY_NIL) {
        snprintf(r->errstr, sizeof r->errstr, "nonce: unexpected reply to GET");
        rc = GW_EREDIS;
    }
    freeReplyObject(rep);
    return rc;
}

gw_err gw_nonce_remember(gw_redis *r, const char *prefix, const char *nonce,
                         const char *request_id, const char *fp, long ttl_s)
{
    char key[512], val[160], ttl[24];
    if (!nonce_key(prefix, nonce, key, sizeof key)) {
        snprintf(r->errstr, sizeof r->errstr, "nonce: redis.key_prefix too long");
        return GW_EREDIS;
    }
    snprintf(val, sizeof val, "%.80s %.64s", request_id, fp ? fp : "");
    snprintf(ttl, sizeof ttl, "%ld", ttl_s > 0 ? ttl_s : 1);
    const char *argv[] = { "SET", key, val, "EX", ttl };
    size_t lens[] = { 3, strlen(key), strlen(val), 2, strlen(ttl) };
    redisReply *rep;
    gw_err rc = gw_redis_command(r, 5, argv, lens, &rep);
    if (rc)
        return rc;
    if (rep->type != REDIS_REPLY_STATUS) {
        snprintf(r->errstr, sizeof r->errstr, "nonce: unexpected reply to SET");
        rc = GW_EREDIS;
    }
    freeReplyObject(rep);
    return rc;
}

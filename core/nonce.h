/* SPDX-License-Identifier: Apache-2.0 */
/* nonce.h - the replay cache of signed webhooks.
 *
 * A webhook whose HMAC signature covers a timestamp (the hmac mode with
 * auth.hmac_timestamp_header, Grafana with grafana.timestamp_header) is
 * valid for auth.hmac_replay_window either side of the gateway's clock.
 * Within that time the same bytes sent again would count as a new
 * occurrence; this cache remembers the signatures of accepted requests so
 * that a replay is answered "ignored" instead.
 *
 * Keys: "<redis.key_prefix>nonce:<signature, 64 lowercase hex>", holding
 * the request ID and first fingerprint of the accepted request, expiring
 * after twice the replay window plus a second (a timestamp up to a window
 * ahead of the clock is valid for two windows; a gateway host whose clock
 * is behind accepts it that much longer, within the same bound).
 *
 * The rules that keep "2xx means recorded" true:
 *  - a key is written only after a 2xx answer, so a request that got a 503
 *    and is resent is processed, never called a replay;
 *  - "replay" is answered only when the key was read back: a lookup that
 *    fails (Redis down) lets the request go on, and the pipeline answers
 *    503 if Redis really is down;
 *  - two identical requests in flight at once both go through; dedup makes
 *    the second a duplicate, never a second RemediationRequest.
 *
 * Ownership: the functions borrow the connection (redis.h) and strings. */
#ifndef GW_NONCE_H
#define GW_NONCE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "redis.h"

/* What the replay cache says about nonce (64 lowercase hex).  GW_OK with
 * *seen, and when seen the accepted request's "<request id> <fingerprint>"
 * in first (cut to firstlen; may be empty); GW_EREDIS when Redis could not
 * answer (r->errstr says why). */
gw_err gw_nonce_seen(gw_redis *r, const char *prefix, const char *nonce, bool *seen, char *first,
                     size_t firstlen);

/* Remembers nonce for ttl_s seconds with value "<request_id> <fp>" (fp may
 * be empty).  GW_EREDIS when it could not be written. */
gw_err gw_nonce_remember(gw_redis *r, const char *prefix, const char *nonce,
                         const char *request_id, const char *fp, long ttl_s);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* hmac.h - HMAC-SHA256 body signatures (Grafana's X-Grafana-Alerting-
 * Signature and the generic X-Signature-256; auth.c's hmac mode).
 *
 * The signed string is the body, or "<timestamp>:<body>" when the sender
 * signs a timestamp too.  Several secrets may be configured at once so a key
 * can be rotated without dropping webhooks: a signature made with any of
 * them is accepted.  Digests are compared with CRYPTO_memcmp (constant
 * time); the hex from the header is decoded first, so case and length
 * differences never shortcut the comparison. */
#ifndef GW_HMAC_H
#define GW_HMAC_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *data; /* borrowed */
    size_t      len;
} gw_secret;

/* true when sig_hex (64 hex digits, either case) is the HMAC-SHA256 of
 * [timestamp ":"] body under one of the n secrets.  timestamp may be NULL. */
bool gw_hmac_sha256_verify(const gw_secret *secrets, size_t n, const char *timestamp,
                           const char *body, size_t len, const char *sig_hex);

#endif

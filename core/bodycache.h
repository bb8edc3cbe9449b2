/* SPDX-License-Identifier: Apache-2.0 */
/* bodycache.h - per-worker memo of parsed webhook bodies.
 *
 * Alertmanager resends a whole group every repeat_interval and on every
 * change, and an unchanged group is the same bytes every time.  Parsing is
 * a pure function of those bytes (and of the process' fixed config), so a
 * worker keeps the last few parsed bodies keyed by SHA-256 of the body and
 * hands the same gw_batch back for identical bytes: the duplicate path then
 * does no JSON parsing at all.  (jansson's lexer costs ~170 instructions a
 * byte; on a 1.5 KB body it was 58 % of a duplicate request.)
 *
 * Bounded: at most GW_BODYCACHE_SLOTS entries, bodies up to
 * GW_BODYCACHE_MAX_BODY bytes, and GW_BODYCACHE_MAX_BYTES in all, counting
 * what each entry really holds (its body, its signals and the memory its
 * parse took, measured by jsonmem.h): a body's size says little about its
 * parse (32 bodies of 64 KiB once pinned 162 MB).  Least recently used is
 * evicted; an entry that alone would take more than a quarter of the bound
 * is not kept.  Bodies that fail to parse are never cached.  The cache owns each entry's copy of the
 * body (the batch's raw pointer points into it) and the parsed document. */
#ifndef GW_BODYCACHE_H
#define GW_BODYCACHE_H

#include <stddef.h>
#include "config.h"
#include "err.h"
#include "signal.h"

#define GW_BODYCACHE_SLOTS    32
#define GW_BODYCACHE_MAX_BODY (64 * 1024)
#define GW_BODYCACHE_MAX_BYTES (8u * 1024 * 1024)

typedef gw_err (*gw_parse_fn)(const gw_config *cfg, const char *body, size_t len, gw_batch *out,
                              char *err, size_t errlen);

typedef struct {
    unsigned char      key[32];
    gw_parse_fn        parse;    /* same bytes on another route: another entry */
    char              *body;     /* owned copy; batch.raw points here */
    size_t             len;
    size_t             bytes;    /* what the entry holds: body, signals, parse */
    gw_batch           batch;    /* owned */
    unsigned long long used;     /* LRU clock; 0: empty slot */
} gw_bodycache_slot;

typedef struct {
    gw_bodycache_slot  slot[GW_BODYCACHE_SLOTS];
    unsigned long long clock;
    unsigned long long hits, misses;
    size_t             bytes;    /* sum over the slots */
} gw_bodycache;

void gw_bodycache_init(gw_bodycache *c);
void gw_bodycache_free(gw_bodycache *c);

/* Parses body with parse (e.g. gw_am_parse), or returns the batch of an
 * earlier identical body.  On GW_OK *out points to a batch that stays valid
 * until the next call on c; the caller must not free it.  When the body is
 * too large to cache, or its parse too costly, the batch is in *scratch
 * (the caller frees it with gw_batch_free) and *out points there.  Errors
 * as from parse. */
gw_err gw_bodycache_parse(gw_bodycache *c, gw_parse_fn parse, const gw_config *cfg,
                          const char *body, size_t len, gw_batch *scratch,
                          const gw_batch **out, char *err, size_t errlen);

#endif

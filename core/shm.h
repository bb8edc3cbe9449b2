/* SPDX-License-Identifier: Apache-2.0 */
/* shm.h - the memory every worker of a pool shares: one file, mapped
 * MAP_SHARED.
 *
 * Workers are separate processes that the web server spawns, so a file is
 * the one thing they can all find.  Its first bytes are a header (magic,
 * layout version, size) that lets a newer binary recognise an older layout
 * and start a fresh file instead of misreading it; an old file is unlinked,
 * never truncated, because workers of the old binary may still have it
 * mapped.  Creation is serialised with flock(), so the workers of a
 * starting pool agree on one file, and a new file is initialised by the one
 * worker that created it.  What lives in it (the metrics counters, the
 * in-flight slots, the circuit breaker) is metrics.c's layout.
 *
 * Ownership: gw_shm_open fills a gw_shm that the caller owns and releases
 * with gw_shm_close; the area it points to is the mapping (or, when the
 * file cannot be used, private memory). */
#ifndef GW_SHM_H
#define GW_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct {
    void  *area;    /* size bytes after the header; init()ed when new */
    void  *base;    /* the mapping, or the private allocation */
    size_t len;     /* of base */
    bool   shared;  /* false: private memory (this process's share only) */
} gw_shm;

/* Maps path (created if absent, re-created if its magic, version or size
 * differ) with an area of size bytes; init sets up a new area (it is
 * zeroed first).  On failure the area is private memory, initialised the
 * same way, and err says why (GW_ECONFIG); GW_ENOMEM when not even that
 * could be had (area NULL). */
gw_err gw_shm_open(const char *path, size_t size, uint64_t magic, uint32_t version,
                   void (*init)(void *area), gw_shm *out, char *err, size_t errlen);
void   gw_shm_close(gw_shm *s);

#endif

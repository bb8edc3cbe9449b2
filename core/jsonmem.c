/* SPDX-License-Identifier: Apache-2.0 */
/* jsonmem.c - see jsonmem.h.
 *
 * Each block carries its size in a header in front of it, so free knows
 * what to subtract (jansson's free hook is given only the pointer).  The
 * header is max_align_t wide so the caller's block stays aligned for any
 * type. */
#include "jsonmem.h"

#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>

typedef union {
    size_t      size;
    max_align_t align;
} header;

static struct {
    bool   installed;
    bool   armed;
    bool   tripped;
    size_t live;
    size_t peak;
    size_t limit; /* live may not exceed this while armed */
} mem;

static void *counted_malloc(size_t n)
{
    if (mem.armed && (n > mem.limit || mem.live > mem.limit - n)) {
        mem.tripped = true;
        return NULL;
    }
    if (n > (size_t)-1 - sizeof(header))
        return NULL;
    header *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->size = n;
    mem.live += n;
    if (mem.live > mem.peak)
        mem.peak = mem.live;
    return h + 1;
}

static void counted_free(void *p)
{
    if (!p)
        return;
    header *h = (header *)p - 1;
    mem.live -= h->size;
    free(h);
}

void gw_jsonmem_install(void)
{
    if (mem.installed)
        return;
    json_set_alloc_funcs(counted_malloc, counted_free);
    mem.installed = true;
}

void gw_json_free(void *p)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    (f ? f : free)(p);
}

void gw_jsonmem_arm(size_t max)
{
    mem.tripped = false;
    mem.armed = mem.installed && max > 0;
    mem.limit = max > (size_t)-1 - mem.live ? (size_t)-1 : mem.live + max;
}

void gw_jsonmem_disarm(void)
{
    mem.armed = false;
}

bool gw_jsonmem_tripped(void)
{
    return mem.tripped;
}

size_t gw_jsonmem_live(void)
{
    return mem.live;
}

size_t gw_jsonmem_peak(void)
{
    return mem.peak;
}

void gw_jsonmem_reset_peak(void)
{
    mem.peak = mem.live;
}

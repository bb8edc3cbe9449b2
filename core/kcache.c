/* SPDX-License-Identifier: Apache-2.0 */
/* kcache.c - see kcache.h.
 *
 * Open addressing with linear probing over a power-of-two table twice the
 * capacity, so probes stay short; no deletion except the purge, so there
 * are no tombstones. */
#include "kcache.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char     *path;     /* owned; NULL: free slot */
    json_t   *obj;      /* owned; NULL: no good answer yet */
    gw_err    rc;       /* answer of the last fetch: GW_OK, GW_ENOTFOUND or an error */
    long long retry_at; /* when to fetch again: TTL after an answer, back-off after an error */
    char      err[200];
} entry;

struct gw_kcache {
    entry          *slots;
    size_t          nslots, cap, used;
    gw_kcache_fetch fetch;
    void           *arg;
    gw_buf         *scratch;
};

gw_kcache *gw_kcache_new(size_t cap, gw_kcache_fetch fetch, void *arg, gw_buf *scratch)
{
    gw_kcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cap = cap ? cap : 1;
    c->nslots = 4;
    while (c->nslots < 2 * c->cap)
        c->nslots *= 2;
    c->slots = calloc(c->nslots, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return NULL;
    }
    c->fetch = fetch;
    c->arg = arg;
    c->scratch = scratch;
    return c;
}

static void clear_entry(entry *e)
{
    free(e->path);
    json_decref(e->obj);
    memset(e, 0, sizeof *e);
}

void gw_kcache_free(gw_kcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nslots; i++)
        clear_entry(&c->slots[i]);
    free(c->slots);
    free(c);
}

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static entry *lookup(gw_kcache *c, const char *path)
{
    for (size_t i = hash(path) & (c->nslots - 1);; i = (i + 1) & (c->nslots - 1)) {
        entry *e = &c->slots[i];
        if (!e->path || !strcmp(e->path, path))
            return e;
    }
}

/* Makes room for one more entry: rebuilds the table without the expired
 * ones, or empty when every entry is live. */
static void purge(gw_kcache *c, long long now_ms)
{
    entry *old = c->slots;
    entry *fresh = calloc(c->nslots, sizeof *fresh);
    if (!fresh) {
        for (size_t i = 0; i < c->nslots; i++)
            clear_entry(&old[i]);
        c->used = 0;
        return;
    }
    c->slots = fresh;
    c->used = 0;
    for (size_t i = 0; i < c->nslots; i++) {
        entry *e = &old[i];
        if (!e->path)
            continue;
        if (e->retry_at <= now_ms) {
            clear_entry(e);
            continue;
        }
        *lookup(c, e->path) = *e;
        c->used++;
    }
    free(old);
    if (c->used >= c->cap) { /* all live: start over */
        for (size_t i = 0; i < c->nslots; i++)
            clear_entry(&c->slots[i]);
        c->used = 0;
    }
}

/* Keeps the parts of an apiserver object the pipeline reads. */
static json_t *slim(json_t *full)
{
    json_t *meta = json_object_get(full, "metadata");
    json_t *labels = json_object_get(meta, "labels");
    json_t *owners = json_object_get(meta, "ownerReferences");
    json_t *data = json_object_get(full, "data");
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "labels", json_is_object(labels) ? json_incref(labels) : json_object());
    json_object_set_new(o, "owners", json_is_array(owners) ? json_incref(owners) : json_array());
    json_object_set_new(o, "data", json_is_object(data) ? json_incref(data) : json_object());
    return o;
}

static void fetch(gw_kcache *c, entry *e, long long now_ms, long ttl_ms)
{
    long status = 0;
    char err[sizeof e->err];
    gw_err rc = c->fetch(c->arg, e->path, &status, c->scratch, err, sizeof err);
    long err_ttl = ttl_ms < GW_KCACHE_ERROR_TTL_MS ? ttl_ms : GW_KCACHE_ERROR_TTL_MS;
    if (rc == GW_OK && status == 200) {
        json_t *full = json_loadb(c->scratch->data, c->scratch->len, 0, NULL);
        json_t *obj = full ? slim(full) : NULL;
        json_decref(full);
        if (obj) {
            json_decref(e->obj);
            e->obj = obj;
            e->rc = GW_OK;
            e->retry_at = now_ms + ttl_ms;
            return;
        }
        rc = GW_EKUBE;
        snprintf(err, sizeof err, "GET %.120s: answer is not a JSON object", e->path);
    } else if (rc == GW_OK) {
        rc = gw_err_from_http(status);
        if (rc == GW_ENOTFOUND) {
            json_decref(e->obj);
            e->obj = NULL;
            e->rc = GW_ENOTFOUND;
            e->retry_at = now_ms + ttl_ms;
            return;
        }
        if (rc == GW_OK) /* a 2xx other than 200: no answer we understand */
            rc = GW_EKUBECONF;
        snprintf(err, sizeof err, "GET %.120s: apiserver answered %ld", e->path, status);
    }
    /* a failure: keep any earlier good answer, ask again after err_ttl */
    e->rc = rc;
    snprintf(e->err, sizeof e->err, "%s", err);
    e->retry_at = now_ms + err_ttl;
}

gw_err gw_kcache_get(gw_kcache *c, const char *path, long long now_ms, long ttl_ms,
                     json_t **obj, int *fetched, char *err, size_t errlen)
{
    *obj = NULL;
    *fetched = 0;
    entry *e = lookup(c, path);
    if (!e->path) {
        if (c->used + 1 > c->cap) {
            purge(c, now_ms);
            e = lookup(c, path);
        }
        if (!(e->path = strdup(path)))
            return GW_ENOMEM;
        c->used++;
    }
    if (now_ms >= e->retry_at) {
        fetch(c, e, now_ms, ttl_ms);
        *fetched = 1;
    }
    if (e->rc == GW_OK || (e->obj && e->rc != GW_ENOTFOUND)) {
        *obj = e->obj; /* fresh, or stale after a failed refresh */
        return GW_OK;
    }
    if (e->rc == GW_ENOTFOUND)
        return GW_ENOTFOUND;
    return gw_fail(e->rc, err, errlen, "%s", e->err);
}

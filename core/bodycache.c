/* SPDX-License-Identifier: Apache-2.0 */
/* bodycache.c - see bodycache.h. */
#include "bodycache.h"

#include "jsonmem.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

void gw_bodycache_init(gw_bodycache *c)
{
    memset(c, 0, sizeof *c);
}

static void drop(gw_bodycache *c, gw_bodycache_slot *s)
{
    c->bytes -= s->bytes;
    if (s->used) {
        gw_batch_free(&s->batch);
        free(s->body);
    }
    memset(s, 0, sizeof *s);
}

void gw_bodycache_free(gw_bodycache *c)
{
    for (int i = 0; i < GW_BODYCACHE_SLOTS; i++)
        drop(c, &c->slot[i]);
}

/* The least recently used entry in use; NULL when the memo is empty. */
static gw_bodycache_slot *oldest(gw_bodycache *c)
{
    gw_bodycache_slot *o = NULL;
    for (int i = 0; i < GW_BODYCACHE_SLOTS; i++)
        if (c->slot[i].used && (!o || c->slot[i].used < o->used))
            o = &c->slot[i];
    return o;
}

gw_err gw_bodycache_parse(gw_bodycache *c, gw_parse_fn parse, const gw_config *cfg,
                          const char *body, size_t len, gw_batch *scratch,
                          const gw_batch **out, char *err, size_t errlen)
{
    memset(scratch, 0, sizeof *scratch);
    if (len > GW_BODYCACHE_MAX_BODY) {
        gw_err rc = parse(cfg, body, len, scratch, err, errlen);
        if (!rc)
            *out = scratch;
        return rc;
    }
    unsigned char key[EVP_MAX_MD_SIZE];
    unsigned int klen = 0;
    if (!EVP_Digest(body, len, key, &klen, EVP_sha256(), NULL) || klen != 32)
        return GW_EINTERNAL;
    gw_bodycache_slot *victim = &c->slot[0];
    for (int i = 0; i < GW_BODYCACHE_SLOTS; i++) {
        gw_bodycache_slot *s = &c->slot[i];
        /* the length and bytes are compared too: a hit is certain, not
         * probable */
        if (s->used && s->parse == parse && s->len == len && !memcmp(s->key, key, 32) &&
            !memcmp(s->body, body, len)) {
            s->used = ++c->clock;
            c->hits++;
            *out = &s->batch;
            return GW_OK;
        }
        if (s->used < victim->used)
            victim = s;
    }
    c->misses++;
    char *copy = malloc(len + 1);
    if (!copy)
        return GW_ENOMEM;
    memcpy(copy, body, len);
    copy[len] = '\0';
    gw_batch b;
    size_t before = gw_jsonmem_live();
    gw_err rc = parse(cfg, copy, len, &b, err, errlen);
    if (rc) {
        free(copy);
        return rc;
    }
    size_t after = gw_jsonmem_live();
    size_t bytes = len + 1 + b.n * sizeof *b.signals + (after > before ? after - before : 0);
    if (bytes > GW_BODYCACHE_MAX_BYTES / 4) {
        /* too costly to keep: handed out like an uncacheable body, with
         * raw pointing into the caller's body instead of our copy */
        b.raw = body;
        free(copy);
        *scratch = b;
        *out = scratch;
        return GW_OK;
    }
    drop(c, victim);
    gw_bodycache_slot *o;
    while (c->bytes + bytes > GW_BODYCACHE_MAX_BYTES && (o = oldest(c)))
        drop(c, o);
    memcpy(victim->key, key, 32);
    victim->parse = parse;
    victim->body = copy;
    victim->len = len;
    victim->bytes = bytes;
    c->bytes += bytes;
    victim->batch = b;
    victim->used = ++c->clock;
    *out = &victim->batch;
    return GW_OK;
}

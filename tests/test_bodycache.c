/* SPDX-License-Identifier: Apache-2.0 */
/* test_bodycache.c - the parsed-body memo: identical bytes give the same
 * batch without a parse, anything else parses, memory stays bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am.h"
#include "bodycache.h"
#include "jsonmem.h"

static int parses;

/* gw_am_parse, counted */
static gw_err counting_parse(const gw_config *cfg, const char *body, size_t len, gw_batch *out,
                             char *err, size_t errlen)
{
    parses++;
    return gw_am_parse(cfg, body, len, out, err, errlen);
}

static void body_for(char *buf, size_t cap, const char *pod)
{
    snprintf(buf, cap,
             "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\","
             "\"labels\":{\"alertname\":\"A\",\"pod\":\"%s\",\"namespace\":\"ns\"}}]}",
             pod);
}

typedef struct {
    gw_config    cfg;
    gw_bodycache cache;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || gw_config_defaults(&f->cfg))
        return -1;
    gw_bodycache_init(&f->cache);
    parses = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    gw_bodycache_free(&f->cache);
    gw_config_free(&f->cfg);
    free(f);
    return 0;
}

static const gw_batch *get(fixture *f, const char *body, gw_err want)
{
    gw_batch scratch;
    const gw_batch *b = NULL;
    char err[256];
    gw_err rc = gw_bodycache_parse(&f->cache, counting_parse, &f->cfg, body, strlen(body),
                                   &scratch, &b, err, sizeof err);
    assert_int_equal(rc, want);
    /* cacheable bodies never use the caller's scratch batch */
    assert_null(scratch.root);
    return rc ? NULL : b;
}

static void test_identical_bytes_parse_once(void **state)
{
    fixture *f = *state;
    char body[512], again[512];
    body_for(body, sizeof body, "p1");
    memcpy(again, body, sizeof body); /* same bytes, another buffer */
    const gw_batch *a = get(f, body, GW_OK);
    const gw_batch *b = get(f, again, GW_OK);
    assert_ptr_equal(a, b);
    assert_int_equal(parses, 1);
    assert_int_equal(f->cache.hits, 1);
    assert_string_equal(b->signals[0].target.name, "p1");
    /* raw points at the cache's own copy, not at the caller's buffer */
    assert_ptr_not_equal(b->raw, again);
    assert_memory_equal(b->raw, body, strlen(body));
}

static void test_one_byte_differs_parses_again(void **state)
{
    fixture *f = *state;
    char b1[512], b2[512];
    body_for(b1, sizeof b1, "p1");
    body_for(b2, sizeof b2, "p2"); /* same length, other bytes */
    assert_int_equal(strlen(b1), strlen(b2));
    const gw_batch *x = get(f, b1, GW_OK);
    assert_string_equal(x->signals[0].target.name, "p1");
    const gw_batch *y = get(f, b2, GW_OK);
    assert_string_equal(y->signals[0].target.name, "p2");
    assert_int_equal(parses, 2);
}

/* the same bytes posted to another route are another entry */
static void test_parser_is_part_of_the_key(void **state)
{
    fixture *f = *state;
    char body[512];
    body_for(body, sizeof body, "p1");
    const gw_batch *a = get(f, body, GW_OK);
    gw_batch scratch;
    const gw_batch *g = NULL;
    char err[256];
    assert_int_equal(gw_bodycache_parse(&f->cache, gw_grafana_parse, &f->cfg, body, strlen(body),
                                        &scratch, &g, err, sizeof err),
                     GW_OK);
    assert_ptr_not_equal(a, g);
    assert_string_equal(a->signals[0].source, "prometheus");
    assert_string_equal(g->signals[0].source, "grafana");
}

static void test_errors_are_not_cached(void **state)
{
    fixture *f = *state;
    get(f, "{\"alerts\": nope}", GW_EINVAL);
    get(f, "{\"alerts\": nope}", GW_EINVAL);
    assert_int_equal(parses, 2);
    assert_int_equal(f->cache.hits, 0);
}

static void test_lru_eviction_is_bounded(void **state)
{
    fixture *f = *state;
    char body[512], name[32];
    for (int i = 0; i < GW_BODYCACHE_SLOTS; i++) { /* fills every slot */
        snprintf(name, sizeof name, "p%d", i);
        body_for(body, sizeof body, name);
        get(f, body, GW_OK);
    }
    body_for(body, sizeof body, "p0"); /* p0 becomes the most recently used */
    get(f, body, GW_OK);
    snprintf(name, sizeof name, "p%d", GW_BODYCACHE_SLOTS); /* one more: evicts p1 */
    body_for(body, sizeof body, name);
    get(f, body, GW_OK);
    assert_int_equal(parses, GW_BODYCACHE_SLOTS + 1);
    int used = 0;
    for (int i = 0; i < GW_BODYCACHE_SLOTS; i++)
        used += f->cache.slot[i].used != 0;
    assert_int_equal(used, GW_BODYCACHE_SLOTS);
    body_for(body, sizeof body, "p0");
    get(f, body, GW_OK); /* still cached */
    assert_int_equal(parses, GW_BODYCACHE_SLOTS + 1);
    body_for(body, sizeof body, "p1"); /* the least recently used: evicted */
    get(f, body, GW_OK);
    assert_int_equal(parses, GW_BODYCACHE_SLOTS + 2);
}

static void test_large_bodies_bypass_the_cache(void **state)
{
    fixture *f = *state;
    size_t n = GW_BODYCACHE_MAX_BODY + 100;
    char *big = malloc(n + 200);
    assert_non_null(big);
    int head = snprintf(big, 200, "{\"pad\":\"");
    memset(big + head, 'x', n);
    snprintf(big + head + n, 200,
             "\",\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\",\"node\":\"n1\"}}]}");
    gw_batch scratch;
    const gw_batch *b = NULL;
    char err[256];
    assert_int_equal(gw_bodycache_parse(&f->cache, counting_parse, &f->cfg, big, strlen(big),
                                        &scratch, &b, err, sizeof err),
                     GW_OK);
    assert_ptr_equal(b, &scratch);
    assert_string_equal(b->signals[0].error, "");
    assert_string_equal(b->signals[0].target.kind, "Node");
    gw_batch_free(&scratch);
    for (int i = 0; i < GW_BODYCACHE_SLOTS; i++)
        assert_int_equal(f->cache.slot[i].used, 0);
    free(big);
}

/* A body of `n` bytes that parses (a valid alert) but whose parse costs
 * far more than its size: `"x":[{},{},...]` (the review's memory bomb). */
static char *bomb(size_t n, int salt)
{
    char *b = malloc(n + 1);
    assert_non_null(b);
    int k = snprintf(b, n, "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":"
                           "\"A%d\",\"pod\":\"p\",\"namespace\":\"ns\"}}],\"x\":[{}", salt);
    size_t len = (size_t)k;
    while (len + 3 + 2 < n) {
        memcpy(b + len, ",{}", 3);
        len += 3;
    }
    memcpy(b + len, "]}", 3);
    return b;
}

/* The parse has a memory budget of its own: a body within the size cap
 * whose parse would take more is refused as too large (413), and the
 * memory of the attempt is given back. */
static void test_parse_budget_refuses_memory_bombs(void **state)
{
    fixture *f = *state;
    f->cfg.server_max_parse_bytes = 1024 * 1024;
    char *b = bomb(60 * 1024, 0); /* ~20k empty objects: some 4 MB in jansson */
    size_t live = gw_jsonmem_live();
    gw_batch scratch;
    const gw_batch *out = NULL;
    char err[256];
    assert_int_equal(gw_bodycache_parse(&f->cache, counting_parse, &f->cfg, b, strlen(b),
                                        &scratch, &out, err, sizeof err), GW_ETOOBIG);
    assert_non_null(strstr(err, "server.max_parse_bytes"));
    assert_int_equal(gw_jsonmem_live(), live);
    assert_false(gw_jsonmem_tripped() && gw_jsonmem_live() != live);
    /* the same body under a budget that fits it parses */
    f->cfg.server_max_parse_bytes = 64L * 1024 * 1024;
    assert_int_equal(gw_bodycache_parse(&f->cache, counting_parse, &f->cfg, b, strlen(b),
                                        &scratch, &out, err, sizeof err), GW_OK);
    assert_int_equal(out->n, 1);
    /* too costly for the memo (over a quarter of its bound): handed out
     * in the caller's scratch, raw pointing at the caller's body */
    assert_ptr_equal(out, &scratch);
    assert_ptr_equal(out->raw, b);
    assert_true(f->cache.bytes <= GW_BODYCACHE_MAX_BYTES);
    gw_batch_free(&scratch);
    assert_int_equal(gw_jsonmem_live(), live);
    free(b);
}

/* The memo is bounded in bytes, counting what each entry's parse took,
 * not only in slots: 32 different 64 KiB bodies once pinned 162 MB. */
static void test_memo_is_bounded_in_bytes(void **state)
{
    fixture *f = *state;
    f->cfg.server_max_parse_bytes = 64L * 1024 * 1024;
    size_t live = gw_jsonmem_live();
    for (int i = 0; i < 3 * GW_BODYCACHE_SLOTS; i++) {
        char *b = bomb(4 * 1024, i); /* ~1.3k objects: some 300 KB parsed */
        assert_non_null(get(f, b, GW_OK));
        assert_true(f->cache.bytes <= GW_BODYCACHE_MAX_BYTES);
        /* what jansson holds is what the memo says it holds */
        assert_true(gw_jsonmem_live() - live <= f->cache.bytes);
        free(b);
    }
    assert_true(f->cache.bytes > GW_BODYCACHE_MAX_BYTES / 2); /* it is used, though */
    gw_bodycache_free(&f->cache);
    assert_int_equal(gw_jsonmem_live(), live);
    gw_bodycache_init(&f->cache);
}

int main(void)
{
    gw_jsonmem_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identical_bytes_parse_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_byte_differs_parses_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parser_is_part_of_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_are_not_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lru_eviction_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_bodies_bypass_the_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_budget_refuses_memory_bombs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memo_is_bounded_in_bytes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* test_kcache.c - unit tests for core/kcache.c, the per-worker cache of
 * Kubernetes objects: TTL, cached absence, errors (stale answers served,
 * never-seen objects backed off), and the bound; driven by the in-memory
 * "apiserver" of fakeapi.h behind the cache's fetch hook. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "fakeapi.h"
#include "kcache.h"

#define NS_PROD "/api/v1/namespaces/prod"

/* ---------------------------------------------------------------- kcache */

static void kcache_ttl_and_absence(void **state)
{
    (void)state;
    fake_api f = { 0 };
    gw_buf scratch;
    gw_buf_init(&scratch, 1 << 16);
    fake_set(&f, NS_PROD, 200,
             "{\"metadata\":{\"name\":\"prod\",\"labels\":{\"environment\":\"production\"}},"
             "\"spec\":{\"finalizers\":[\"kubernetes\"]}}");
    gw_kcache *c = gw_kcache_new(64, fake_fetch, &f, &scratch);
    json_t *o;
    int fetched;
    char err[256];
    assert_int_equal(gw_kcache_get(c, NS_PROD, 1000, 30000, &o, &fetched, err, sizeof err), GW_OK);
    assert_int_equal(fetched, 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "labels"),
                                                          "environment")), "production");
    assert_null(json_object_get(o, "spec")); /* only what the pipeline reads is kept */
    /* within the TTL: no call, even though the object changed */
    fake_set(&f, NS_PROD, 200, "{\"metadata\":{\"labels\":{\"environment\":\"staging\"}}}");
    assert_int_equal(gw_kcache_get(c, NS_PROD, 30999, 30000, &o, &fetched, err, sizeof err), GW_OK);
    assert_int_equal(fetched, 0);
    assert_int_equal(f.calls, 1);
    /* after it: re-read */
    assert_int_equal(gw_kcache_get(c, NS_PROD, 31000, 30000, &o, &fetched, err, sizeof err), GW_OK);
    assert_int_equal(fetched, 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "labels"),
                                                          "environment")), "staging");
    /* a 404 is cached too */
    assert_int_equal(gw_kcache_get(c, "/api/v1/namespaces/x", 1000, 30000, &o, &fetched, err,
                                   sizeof err), GW_ENOTFOUND);
    assert_int_equal(gw_kcache_get(c, "/api/v1/namespaces/x", 2000, 30000, &o, &fetched, err,
                                   sizeof err), GW_ENOTFOUND);
    assert_int_equal(fetched, 0);
    /* both are held: neither is asked again within its TTL */
    int calls = f.calls;
    assert_int_equal(gw_kcache_get(c, NS_PROD, 31001, 30000, &o, &fetched, err, sizeof err), GW_OK);
    assert_int_equal(fetched, 0);
    assert_int_equal(gw_kcache_get(c, "/api/v1/namespaces/x", 30999, 30000, &o, &fetched, err,
                                   sizeof err), GW_ENOTFOUND);
    assert_int_equal(fetched, 0);
    assert_int_equal(f.calls, calls);
    gw_kcache_free(c);
    gw_buf_free(&scratch);
}

static void kcache_errors_serve_stale_and_back_off(void **state)
{
    (void)state;
    fake_api f = { 0 };
    gw_buf scratch;
    gw_buf_init(&scratch, 1 << 16);
    fake_set(&f, NS_PROD, 200, "{\"metadata\":{\"labels\":{\"environment\":\"production\"}}}");
    gw_kcache *c = gw_kcache_new(64, fake_fetch, &f, &scratch);
    json_t *o;
    int fetched;
    char err[256];
    assert_int_equal(gw_kcache_get(c, NS_PROD, 0, 1000, &o, &fetched, err, sizeof err), GW_OK);
    /* the apiserver goes away: the last good answer is served */
    fake_set(&f, NS_PROD, 0, NULL);
    assert_int_equal(gw_kcache_get(c, NS_PROD, 5000, 1000, &o, &fetched, err, sizeof err), GW_OK);
    assert_int_equal(fetched, 1);
    assert_non_null(o);
    /* a never-seen object fails, and is not asked again for a while */
    fake_set(&f, "/api/v1/namespaces/new", 503, "{}");
    assert_int_equal(gw_kcache_get(c, "/api/v1/namespaces/new", 5000, 30000, &o, &fetched, err,
                                   sizeof err), GW_EKUBE);
    assert_non_null(strstr(err, "503"));
    int calls = f.calls;
    assert_int_equal(gw_kcache_get(c, "/api/v1/namespaces/new", 5000 + GW_KCACHE_ERROR_TTL_MS - 1,
                                   30000, &o, &fetched, err, sizeof err), GW_EKUBE);
    assert_int_equal(f.calls, calls);
    fake_set(&f, "/api/v1/namespaces/new", 403, "{}");
    assert_int_equal(gw_kcache_get(c, "/api/v1/namespaces/new", 5000 + GW_KCACHE_ERROR_TTL_MS,
                                   30000, &o, &fetched, err, sizeof err), GW_EKUBECONF);
    /* not JSON is an error, not a crash */
    fake_set(&f, "/api/v1/namespaces/bad", 200, "{not json");
    assert_int_equal(gw_kcache_get(c, "/api/v1/namespaces/bad", 0, 1000, &o, &fetched, err,
                                   sizeof err), GW_EKUBE);
    gw_kcache_free(c);
    gw_buf_free(&scratch);
}

static void kcache_is_bounded(void **state)
{
    (void)state;
    fake_api f = { 0 };
    gw_buf scratch;
    gw_buf_init(&scratch, 1 << 16);
    gw_kcache *c = gw_kcache_new(16, fake_fetch, &f, &scratch);
    json_t *o;
    int fetched;
    char err[256], path[64];
    for (int i = 0; i < 200; i++) {
        snprintf(path, sizeof path, "/api/v1/namespaces/ns-%d", i);
        assert_int_equal(gw_kcache_get(c, path, i, 60000, &o, &fetched, err, sizeof err),
                         GW_ENOTFOUND);
    }
    /* the most recent entry survived the purges */
    assert_int_equal(gw_kcache_get(c, path, 300, 60000, &o, &fetched, err, sizeof err),
                     GW_ENOTFOUND);
    assert_int_equal(fetched, 0);
    /* and at most 16 are held: asked again newest first (every entry still
     * within its TTL), at most 16 are answered without a call.  Only what
     * was held before this pass can be a hit: each path is asked once. */
    int held = 0;
    for (int i = 199; i >= 0; i--) {
        snprintf(path, sizeof path, "/api/v1/namespaces/ns-%d", i);
        assert_int_equal(gw_kcache_get(c, path, 300, 60000, &o, &fetched, err, sizeof err),
                         GW_ENOTFOUND);
        held += !fetched;
    }
    assert_in_range(held, 1, 16);
    gw_kcache_free(c);
    gw_buf_free(&scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kcache_ttl_and_absence),
        cmocka_unit_test(kcache_errors_serve_stale_and_back_off),
        cmocka_unit_test(kcache_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

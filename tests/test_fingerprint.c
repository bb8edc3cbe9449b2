/* SPDX-License-Identifier: Apache-2.0 */
/* test_fingerprint.c - unit tests for core/fingerprint.c.
 *
 * The vectors were computed independently of this code when the test was
 * written, e.g. `printf '%s' 'prod:Deployment:api' | sha256sum`, and are
 * the compatibility contract with Kubernaut's gateway: if one changes, two
 * gateways on one cluster stop agreeing on what is the same problem. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "fingerprint.h"

static void check(const char *cluster, const char *ns, const char *kind, const char *name,
                  const char *signal_name, const char *want)
{
    gw_target t = { .kind = kind, .name = name, .namespace_ = ns, .api_version = "v1" };
    char out[65];
    memset(out, 'X', sizeof out);
    assert_int_equal(gw_fingerprint(cluster, &t, signal_name, out), GW_OK);
    assert_string_equal(out, want);
}

static void namespaced(void **state)
{
    (void)state;
    /* "prod:Deployment:api" */
    check(NULL, "prod", "Deployment", "api", NULL,
          "ef1b76d88f42344978562a9fa0edb7e5d356a16d2d11396312e91a137d393384");
    /* "payments:Pod:checkout-7d9f8b6c5-x2k4q" */
    check("", "payments", "Pod", "checkout-7d9f8b6c5-x2k4q", NULL,
          "3a3687ef621b9c9c79bb29c394e7e4bd90b630d5c468a357253f4a3df5cfcb25");
    /* "shop:StatefulSet:redis" */
    check(NULL, "shop", "StatefulSet", "redis", NULL,
          "47999995f7d9d08aa02c06385f16e23ef6df3e226d011753cf043c2e5c52936d");
    /* "batch:Job:nightly-report" */
    check(NULL, "batch", "Job", "nightly-report", NULL,
          "69860a4444f9241ba4751f5b2c9f26f36465f0f8edff33a87875ba0b824e16f7");
}

static void cluster_scoped(void **state)
{
    (void)state;
    /* ":Node:worker-1" */
    check(NULL, "", "Node", "worker-1", NULL,
          "5811a14c33e6ea55be7f43355c2cffd48201fcbf3fc51c48a3f58e375e6f7ccc");
    /* ":Node:ip-10-0-1-23.eu-west-1.compute.internal" */
    check("", "", "Node", "ip-10-0-1-23.eu-west-1.compute.internal", NULL,
          "a6ab427e920e7cfbe4014c82e9524e99e42ab61d0644b32b703261d596c0b31b");
}

static void with_cluster(void **state)
{
    (void)state;
    /* "c1:prod:Deployment:api" */
    check("c1", "prod", "Deployment", "api", NULL,
          "a3b50efe996ed105503733304ff919b071bd2399e3537996cb972b6532273f1d");
    /* "prod-eu:payments:Deployment:checkout" */
    check("prod-eu", "payments", "Deployment", "checkout", NULL,
          "80bdc2443600ac3d095f3ad6367628d2ae4c4feef258313f70c2ab1753701f95");
}

static void with_signal_name(void **state)
{
    (void)state;
    /* "prod:Deployment:api:HighErrorRate" */
    check(NULL, "prod", "Deployment", "api", "HighErrorRate",
          "169db4a99d7dac6ab064267de717ce06a0a3015ac5d24cab66e6a3e41931a517");
    /* "c1:prod:Deployment:api:HighErrorRate" */
    check("c1", "prod", "Deployment", "api", "HighErrorRate",
          "03bc1d91a829a878b449e29fca8f83dc2742ebed5825c60ea4f440909d1a59e8");
    /* ":Node:worker-1:NodeDown" */
    check(NULL, "", "Node", "worker-1", "NodeDown",
          "03526dbe031e58faad263084a9ad215934ab7bf395cc3aac4e37b556d0f61dd6");
}

static void output_is_64_lowercase_hex(void **state)
{
    (void)state;
    gw_target t = { .kind = "Deployment", .name = "api", .namespace_ = "prod", .api_version = "" };
    const char *clusters[] = { NULL, "", "c1", "a-very-long-cluster-name.example.com" };
    for (size_t c = 0; c < sizeof clusters / sizeof clusters[0]; c++) {
        char out[65];
        memset(out, 'Z', sizeof out);
        assert_int_equal(gw_fingerprint(clusters[c], &t, NULL, out), GW_OK);
        assert_int_equal(strlen(out), 64);
        assert_int_equal(strspn(out, "0123456789abcdef"), 64);
    }
}

static void every_part_matters(void **state)
{
    (void)state;
    gw_target a = { .kind = "Deployment", .name = "api", .namespace_ = "prod", .api_version = "" };
    gw_target b = a, c = a, d = a;
    b.name = "api2";
    c.namespace_ = "staging";
    d.kind = "StatefulSet";
    char fa[65], fb[65], fc[65], fd[65], fe[65];
    assert_int_equal(gw_fingerprint(NULL, &a, NULL, fa), GW_OK);
    assert_int_equal(gw_fingerprint(NULL, &b, NULL, fb), GW_OK);
    assert_int_equal(gw_fingerprint(NULL, &c, NULL, fc), GW_OK);
    assert_int_equal(gw_fingerprint(NULL, &d, NULL, fd), GW_OK);
    assert_int_equal(gw_fingerprint("c1", &a, NULL, fe), GW_OK);
    assert_string_not_equal(fa, fb);
    assert_string_not_equal(fa, fc);
    assert_string_not_equal(fa, fd);
    assert_string_not_equal(fa, fe);
    /* the api version is not part of the identity */
    gw_target v = a;
    v.api_version = "apps/v1";
    char fv[65];
    assert_int_equal(gw_fingerprint(NULL, &v, NULL, fv), GW_OK);
    assert_string_equal(fa, fv);
}

static void oversized_input_rejected(void **state)
{
    (void)state;
    static char big[2000];
    memset(big, 'a', sizeof big - 1);
    gw_target t = { .kind = "Deployment", .name = big, .namespace_ = "prod", .api_version = "" };
    char out[65];
    assert_int_equal(gw_fingerprint(NULL, &t, NULL, out), GW_EINVAL);
    t.name = "api";
    assert_int_equal(gw_fingerprint(NULL, &t, big, out), GW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(namespaced),
        cmocka_unit_test(cluster_scoped),
        cmocka_unit_test(with_cluster),
        cmocka_unit_test(with_signal_name),
        cmocka_unit_test(output_is_64_lowercase_hex),
        cmocka_unit_test(every_part_matters),
        cmocka_unit_test(oversized_input_rejected),
    };
    return cmocka_run_group_tests_name("fingerprint", tests, NULL, NULL);
}

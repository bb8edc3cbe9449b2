/* SPDX-License-Identifier: Apache-2.0 */
/* test_k8sname.c - unit tests for core/k8sname.c: Kubernetes name, kind
 * and apiVersion syntax, and the path builder that refuses every way out
 * of the object. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "k8sname.h"
#include "testutil.h"

static void api_versions(void **state)
{
    (void)state;
    static const char *const good[] = {
        "v1", "apps/v1", "batch/v1", "autoscaling/v2beta2", "policy/v1beta1",
        "networking.k8s.io/v1", "argoproj.io/v1alpha1", "kubernaut.ai/v1alpha1", "v2", "v10",
        "x.example.com/v1beta12",
    };
    static const char *const bad[] = {
        "", "v", "v0", "V1", "1", "v01", "v1beta", "v1beta0", "v1gamma1", "v1alpha1x", "apps/",
        "/v1", "apps//v1", "apps/v1/x", "Apps/v1", "apps_x/v1", "-apps/v1", "apps./v1",
        "../api/v1/namespaces/kube-system/secrets/admin-token#", "apps/v1?x=1", "apps/v1#",
        "apps/v1 ", " v1", "apps/%2e%2e", "..", "./v1",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!gw_is_api_version(good[i]))
            fail_msg("\"%s\" should be a valid apiVersion", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (gw_is_api_version(bad[i]))
            fail_msg("\"%s\" should not be a valid apiVersion", bad[i]);
    assert_false(gw_is_api_version(NULL));
}

static void kinds(void **state)
{
    (void)state;
    assert_true(gw_is_kind("Pod"));
    assert_true(gw_is_kind("HorizontalPodAutoscaler"));
    assert_true(gw_is_kind("V1Thing2"));
    assert_false(gw_is_kind(""));
    assert_false(gw_is_kind(NULL));
    assert_false(gw_is_kind("pod"));
    assert_false(gw_is_kind("Pod/x"));
    assert_false(gw_is_kind("Pod "));
    assert_false(gw_is_kind("Po-d"));
    assert_false(gw_is_kind("Secret#"));
    char k[70];
    memset(k, 'A', 63);
    k[63] = '\0';
    assert_true(gw_is_kind(k));
    k[63] = 'A';
    k[64] = '\0';
    assert_false(gw_is_kind(k));
}

static void names(void **state)
{
    (void)state;
    assert_true(gw_is_dns_label("prod"));
    assert_false(gw_is_dns_label("prod.eu"));
    assert_false(gw_is_dns_label(".."));
    assert_false(gw_is_dns_label(NULL));
    assert_true(gw_is_dns_subdomain("api-7d9f-xk2p1"));
    assert_false(gw_is_dns_subdomain(".."));
    assert_false(gw_is_dns_subdomain("a/../b"));
    assert_false(gw_is_dns_subdomain("a%2f"));
    assert_false(gw_is_dns_subdomain(NULL));
}

static void paths(void **state)
{
    (void)state;
    char p[300];
    assert_true(gw_k8s_path(p, sizeof p, "apps/v1", "prod", "deployments", "api"));
    assert_string_equal(p, "/apis/apps/v1/namespaces/prod/deployments/api");
    assert_true(gw_k8s_path(p, sizeof p, "v1", NULL, "nodes", "ip-10-0-1-2.ec2.internal"));
    assert_string_equal(p, "/api/v1/nodes/ip-10-0-1-2.ec2.internal");
    assert_true(gw_k8s_path(p, sizeof p, "v1", "", "namespaces", "prod"));
    assert_string_equal(p, "/api/v1/namespaces/prod");
    assert_true(gw_k8s_path(p, sizeof p, "kubernaut.ai/v1alpha1", "kubernaut-system",
                            "remediationrequests", NULL));
    assert_string_equal(p, "/apis/kubernaut.ai/v1alpha1/namespaces/kubernaut-system/"
                           "remediationrequests");

    /* the review's exploit, and every other way out of the object */
    static const char *const av_bad[] = {
        "../api/v1/namespaces/kube-system/secrets/admin-token#", "v1/../../x", "apps/v1?watch=1",
    };
    for (size_t i = 0; i < sizeof av_bad / sizeof av_bad[0]; i++) {
        strcpy(p, "junk");
        assert_false(gw_k8s_path(p, sizeof p, av_bad[i], "prod", "pods", "a"));
        assert_string_equal(p, "");
    }
    assert_false(gw_k8s_path(p, sizeof p, "v1", "kube-system/secrets", "pods", "a"));
    assert_false(gw_k8s_path(p, sizeof p, "v1", "..", "pods", "a"));
    assert_false(gw_k8s_path(p, sizeof p, "v1", "prod", "pods", ".."));
    assert_false(gw_k8s_path(p, sizeof p, "v1", "prod", "pods", "a/b"));
    assert_false(gw_k8s_path(p, sizeof p, "v1", "prod", "pods", "a?b"));
    assert_false(gw_k8s_path(p, sizeof p, "v1", "prod", "pods", "a#"));
    assert_false(gw_k8s_path(p, sizeof p, "v1", "prod", "Pods", "a"));
    assert_false(gw_k8s_path(p, sizeof p, "v1", "prod", "pods/x", "a"));
    assert_false(gw_k8s_path(p, sizeof p, NULL, "prod", "pods", "a"));
    /* too long for the buffer: refused, not cut */
    char small[20];
    assert_false(gw_k8s_path(small, sizeof small, "apps/v1", "prod", "deployments", "api"));
    assert_string_equal(small, "");
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(api_versions), cmocka_unit_test(kinds),
        cmocka_unit_test(names),        cmocka_unit_test(paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

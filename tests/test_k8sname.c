/* SPDX-License-Identifier: Apache-2.0 */
/* test_k8sname.c - Kubernetes name syntax, the path builder, and the owner
 * walk's step over hostile ownerReferences. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "k8sname.h"
#include "owners.h"
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

static void object_paths(void **state)
{
    (void)state;
    char p[300];
    assert_true(gw_object_path(NULL, "Deployment", "", "prod", "api", p, sizeof p));
    assert_string_equal(p, "/apis/apps/v1/namespaces/prod/deployments/api");
    assert_true(gw_object_path(NULL, "Node", "v1", "ignored", "n1", p, sizeof p));
    assert_string_equal(p, "/api/v1/nodes/n1");
    assert_false(gw_object_path(NULL, "Pod", "../api/v1/namespaces/kube-system/secrets/x#",
                                "prod",
                                "a", p, sizeof p));
    assert_false(gw_object_path(NULL, "Pod", "v1", "prod", "../secrets/x", p, sizeof p));
    assert_false(gw_object_path(NULL, "Pod", "v1", "", "a", p, sizeof p));
    assert_false(gw_object_path(NULL, "Secret", "v1", "prod", "a", p, sizeof p));
}

/* one owner hop over a cached object {"owners":[ref]} */
static bool step(const char *ref_json, gw_owned_target *cur)
{
    char doc[2048];
    snprintf(doc, sizeof doc, "{\"owners\":[%s]}", ref_json);
    json_t *obj = json_loads(doc, 0, NULL);
    assert_non_null(obj);
    memset(cur, 0, sizeof *cur);
    strcpy(cur->kind, "Pod");
    strcpy(cur->name, "api-1");
    strcpy(cur->ns, "prod");
    strcpy(cur->api_version, "v1");
    bool moved = gw_owner_step(NULL, obj, cur);
    json_decref(obj);
    return moved;
}

static void owner_steps(void **state)
{
    (void)state;
    gw_owned_target cur;
    assert_true(step("{\"kind\":\"ReplicaSet\",\"name\":\"api-7d9f\",\"apiVersion\":\"apps/v1\","
                     "\"controller\":true}", &cur));
    assert_string_equal(cur.kind, "ReplicaSet");
    assert_string_equal(cur.name, "api-7d9f");
    assert_string_equal(cur.api_version, "apps/v1");
    assert_string_equal(cur.ns, "prod");
    assert_string_equal(cur.t.kind, "ReplicaSet");
    assert_true(step("{\"kind\":\"Node\",\"name\":\"n1\",\"apiVersion\":\"v1\","
                     "\"controller\":true}", &cur));
    assert_string_equal(cur.ns, "");

    /* poisoned ownerReferences end the walk where it is */
    static const char *const poison[] = {
        "{\"kind\":\"ReplicaSet\",\"name\":\"x\",\"apiVersion\":"
        "\"../api/v1/namespaces/kube-system/secrets/admin-token#\",\"controller\":true}",
        "{\"kind\":\"ReplicaSet\",\"name\":\"../../secrets/admin\",\"apiVersion\":\"apps/v1\","
        "\"controller\":true}",
        "{\"kind\":\"Replica/Set\",\"name\":\"x\",\"apiVersion\":\"apps/v1\",\"controller\":true}",
        "{\"kind\":\"ReplicaSet\",\"name\":\"x?y\",\"apiVersion\":\"apps/v1\",\"controller\":true}",
        "{\"kind\":\"ReplicaSet\",\"name\":\"x\",\"apiVersion\":7,\"controller\":true}",
        "{\"kind\":\"ReplicaSet\",\"name\":\"\",\"apiVersion\":\"apps/v1\",\"controller\":true}",
        "{\"name\":\"x\",\"apiVersion\":\"apps/v1\",\"controller\":true}",
        "{\"kind\":\"ReplicaSet\",\"name\":\"x\",\"apiVersion\":\"apps/v1\"}",
    };
    for (size_t i = 0; i < sizeof poison / sizeof poison[0]; i++) {
        if (step(poison[i], &cur))
            fail_msg("followed %s", poison[i]);
        assert_string_equal(cur.kind, "Pod");
        assert_string_equal(cur.name, "api-1");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(api_versions), cmocka_unit_test(kinds),
        cmocka_unit_test(names),        cmocka_unit_test(paths),
        cmocka_unit_test(object_paths), cmocka_unit_test(owner_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

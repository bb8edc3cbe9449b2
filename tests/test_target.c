/* SPDX-License-Identifier: Apache-2.0 */
/* test_target.c - unit tests for core/target.c: which resource an alert is
 * about, and the RFC 1123 name checks behind it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "target.h"

#include "testutil.h"

/* Parses labels_json, runs gw_target_from_labels and keeps the labels alive
 * in *labels (the target borrows its strings from them). */
static gw_err pick(const char *labels_json, bool allow_unknown, json_t **labels, gw_target *t,
                   char *err, size_t errlen)
{
    json_error_t jerr;
    *labels = json_loads(labels_json, 0, &jerr);
    if (!*labels)
        fail_msg("bad test JSON: %s", jerr.text);
    memset(t, 0, sizeof *t);
    err[0] = '\0';
    return gw_target_from_labels(*labels, allow_unknown, "TheAlert", NULL, 0, t, err, errlen);
}

#define PICK_OK(json, kind_, name_, ns_)                                                \
    do {                                                                                \
        json_t *l_;                                                                     \
        gw_target t_;                                                                   \
        char e_[256];                                                                   \
        gw_err rc_ = pick((json), false, &l_, &t_, e_, sizeof e_);                      \
        if (rc_)                                                                        \
            fail_msg("%s: unexpected error %d: %s", (json), rc_, e_);                   \
        assert_string_equal(t_.kind, (kind_));                                          \
        assert_string_equal(t_.name, (name_));                                          \
        assert_string_equal(t_.namespace_, (ns_));                                      \
        json_decref(l_);                                                                \
    } while (0)

static void workload_beats_pod(void **state)
{
    (void)state;
    PICK_OK("{\"pod\":\"api-7d9f-x2k4q\",\"deployment\":\"api\",\"namespace\":\"prod\"}",
            "Deployment", "api", "prod");
    PICK_OK("{\"pod\":\"db-0\",\"statefulset\":\"db\",\"namespace\":\"prod\"}",
            "StatefulSet", "db", "prod");
    PICK_OK("{\"pod\":\"fluentd-abcde\",\"daemonset\":\"fluentd\",\"namespace\":\"logging\"}",
            "DaemonSet", "fluentd", "logging");
    PICK_OK("{\"cronjob\":\"backup\",\"job_name\":\"backup-28312\",\"namespace\":\"ops\"}",
            "CronJob", "backup", "ops");
}

static void workload_beats_rank_one(void **state)
{
    (void)state;
    PICK_OK("{\"replicaset\":\"api-7d9f\",\"deployment\":\"api\",\"namespace\":\"prod\"}",
            "Deployment", "api", "prod");
    PICK_OK("{\"horizontalpodautoscaler\":\"api\",\"statefulset\":\"db\",\"namespace\":\"prod\"}",
            "StatefulSet", "db", "prod");
    /* rank one beats pod (kube-state-metrics' exporter pod label) */
    PICK_OK("{\"horizontalpodautoscaler\":\"api-frontend\",\"pod\":\"ksm-6b7c9d5f4-zt8rw\","
            "\"namespace\":\"prod\"}",
            "HorizontalPodAutoscaler", "api-frontend", "prod");
    PICK_OK("{\"persistentvolumeclaim\":\"data-db-0\",\"pod\":\"ksm-6b7c9d5f4-zt8rw\","
            "\"namespace\":\"prod\"}",
            "PersistentVolumeClaim", "data-db-0", "prod");
}

static void same_rank_first_listed_wins(void **state)
{
    (void)state;
    /* the table order is the tie-break, whatever the JSON order */
    PICK_OK("{\"statefulset\":\"db\",\"deployment\":\"api\",\"namespace\":\"prod\"}",
            "Deployment", "api", "prod");
    PICK_OK("{\"deployment\":\"api\",\"statefulset\":\"db\",\"namespace\":\"prod\"}",
            "Deployment", "api", "prod");
}

static void pod_and_node_last(void **state)
{
    (void)state;
    PICK_OK("{\"pod\":\"api-7d9f-x2k4q\",\"namespace\":\"prod\"}", "Pod", "api-7d9f-x2k4q",
            "prod");
    PICK_OK("{\"node\":\"worker-1\"}", "Node", "worker-1", "");
    PICK_OK("{\"node\":\"worker-1\",\"deployment\":\"api\",\"namespace\":\"prod\"}",
            "Deployment", "api", "prod");
    /* a node alert from kube-state-metrics carries the exporter's pod */
    PICK_OK("{\"node\":\"worker-1\",\"pod\":\"ksm-6b7c9d5f4-zt8rw\",\"namespace\":\"monitoring\"}",
            "Node", "worker-1", "");
}

static void job_name_only_when_nothing_else(void **state)
{
    (void)state;
    PICK_OK("{\"job_name\":\"nightly-report\",\"job\":\"kube-state-metrics\",\"namespace\":\"ops\"}",
            "Job", "nightly-report", "ops");
    PICK_OK("{\"job_name\":\"nightly-report\",\"pod\":\"nightly-report-abcde\",\"namespace\":\"ops\"}",
            "Pod", "nightly-report-abcde", "ops");
    PICK_OK("{\"job_name\":\"nightly-report\",\"node\":\"worker-2\",\"namespace\":\"ops\"}",
            "Node", "worker-2", "");
}

static void ignored_labels_are_never_targets(void **state)
{
    (void)state;
    json_t *l;
    gw_target t;
    char err[256];
    assert_int_equal(pick("{\"job\":\"api\",\"service\":\"api\",\"instance\":\"api\","
                          "\"endpoint\":\"http\",\"container\":\"api\",\"namespace\":\"prod\"}",
                          false, &l, &t, err, sizeof err),
                     GW_ENOTFOUND);
    assert_contains(err, "no target resource");
    json_decref(l);
    /* alongside a real candidate they change nothing */
    PICK_OK("{\"job\":\"kube-state-metrics\",\"service\":\"ksm\",\"container\":\"ksm\","
            "\"instance\":\"10.0.0.1:8080\",\"pod\":\"api-1\",\"namespace\":\"prod\"}",
            "Pod", "api-1", "prod");
}

static void exported_namespace_beats_namespace(void **state)
{
    (void)state;
    PICK_OK("{\"deployment\":\"api\",\"namespace\":\"monitoring\",\"exported_namespace\":\"prod\"}",
            "Deployment", "api", "prod");
    /* an empty exported_namespace is absent */
    PICK_OK("{\"deployment\":\"api\",\"namespace\":\"prod\",\"exported_namespace\":\"\"}",
            "Deployment", "api", "prod");
}

static void invalid_names_are_not_candidates(void **state)
{
    (void)state;
    /* upper case, underscore, leading dash: skipped, next candidate wins */
    PICK_OK("{\"deployment\":\"API\",\"pod\":\"api-1\",\"namespace\":\"prod\"}", "Pod", "api-1",
            "prod");
    PICK_OK("{\"deployment\":\"my_api\",\"pod\":\"api-1\",\"namespace\":\"prod\"}", "Pod", "api-1",
            "prod");
    PICK_OK("{\"deployment\":\"-api\",\"pod\":\"api-1\",\"namespace\":\"prod\"}", "Pod", "api-1",
            "prod");
    PICK_OK("{\"deployment\":\"\",\"pod\":\"api-1\",\"namespace\":\"prod\"}", "Pod", "api-1",
            "prod");
    /* a non-string value is not a name either */
    PICK_OK("{\"deployment\":7,\"pod\":\"api-1\",\"namespace\":\"prod\"}", "Pod", "api-1", "prod");

    json_t *l;
    gw_target t;
    char err[256];
    assert_int_equal(pick("{\"deployment\":\"Bad Name\",\"namespace\":\"prod\"}", false, &l, &t,
                          err, sizeof err),
                     GW_ENOTFOUND);
    assert_contains(err, "no target resource");
    json_decref(l);
}

static void invalid_namespace_rejected(void **state)
{
    (void)state;
    json_t *l;
    gw_target t;
    char err[256];
    assert_int_equal(pick("{\"deployment\":\"api\",\"namespace\":\"Prod_NS\"}", false, &l, &t,
                          err, sizeof err),
                     GW_EINVAL);
    assert_contains(err, "Prod_NS");
    json_decref(l);
    /* namespaces are labels, not subdomains: no dots */
    assert_int_equal(pick("{\"deployment\":\"api\",\"namespace\":\"a.b\"}", false, &l, &t, err,
                          sizeof err),
                     GW_EINVAL);
    json_decref(l);
}

static void namespaced_kind_needs_namespace(void **state)
{
    (void)state;
    json_t *l;
    gw_target t;
    char err[256];
    assert_int_equal(pick("{\"deployment\":\"api\"}", false, &l, &t, err, sizeof err), GW_EINVAL);
    assert_contains(err, "namespace");
    assert_contains(err, "Deployment");
    json_decref(l);
    assert_int_equal(pick("{\"pod\":\"api-1\",\"namespace\":\"\"}", false, &l, &t, err, sizeof err),
                     GW_EINVAL);
    assert_contains(err, "Pod");
    json_decref(l);
    /* Unknown does not need one, even with allow_unknown */
    assert_int_equal(pick("{\"alertname\":\"x\"}", true, &l, &t, err, sizeof err), GW_OK);
    json_decref(l);
}

static void node_has_empty_namespace(void **state)
{
    (void)state;
    json_t *l;
    gw_target t;
    char err[256];
    assert_int_equal(pick("{\"node\":\"ip-10-0-1-23.eu-west-1.compute.internal\","
                          "\"namespace\":\"monitoring\"}",
                          false, &l, &t, err, sizeof err),
                     GW_OK);
    assert_string_equal(t.kind, "Node");
    assert_string_equal(t.name, "ip-10-0-1-23.eu-west-1.compute.internal");
    assert_string_equal(t.namespace_, "");
    assert_string_equal(t.api_version, "v1");
    json_decref(l);

    PICK_OK("{\"persistentvolume\":\"pvc-0b8c3a52\"}", "PersistentVolume", "pvc-0b8c3a52", "");
}

static void api_versions(void **state)
{
    (void)state;
    static const struct {
        const char *labels, *kind, *api;
    } cases[] = {
        { "{\"deployment\":\"a\",\"namespace\":\"n\"}", "Deployment", "apps/v1" },
        { "{\"cronjob\":\"a\",\"namespace\":\"n\"}", "CronJob", "batch/v1" },
        { "{\"job_name\":\"a\",\"namespace\":\"n\"}", "Job", "batch/v1" },
        { "{\"pod\":\"a\",\"namespace\":\"n\"}", "Pod", "v1" },
        { "{\"horizontalpodautoscaler\":\"a\",\"namespace\":\"n\"}", "HorizontalPodAutoscaler",
          "autoscaling/v2" },
        { "{\"ingress\":\"a\",\"namespace\":\"n\"}", "Ingress", "networking.k8s.io/v1" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *l;
        gw_target t;
        char err[256];
        assert_int_equal(pick(cases[i].labels, false, &l, &t, err, sizeof err), GW_OK);
        assert_string_equal(t.kind, cases[i].kind);
        assert_string_equal(t.api_version, cases[i].api);
        json_decref(l);
    }
}

static void no_candidate(void **state)
{
    (void)state;
    json_t *l;
    gw_target t;
    char err[256];
    assert_int_equal(pick("{\"alertname\":\"Watchdog\",\"namespace\":\"monitoring\"}", false, &l,
                          &t, err, sizeof err),
                     GW_ENOTFOUND);
    assert_contains(err, "no target resource");
    assert_contains(err, "deployment");
    assert_contains(err, "job_name");
    json_decref(l);

    assert_int_equal(pick("{\"alertname\":\"Watchdog\",\"namespace\":\"monitoring\"}", true, &l,
                          &t, err, sizeof err),
                     GW_OK);
    assert_string_equal(t.kind, "Unknown");
    assert_string_equal(t.name, "TheAlert");
    assert_string_equal(t.namespace_, "monitoring");
    assert_string_equal(t.api_version, "");
    json_decref(l);

    assert_int_equal(pick("{}", true, &l, &t, err, sizeof err), GW_OK);
    assert_string_equal(t.kind, "Unknown");
    assert_string_equal(t.namespace_, "");
    json_decref(l);
}

static void dns_label(void **state)
{
    (void)state;
    char s[80];
    memset(s, 'a', 63);
    s[63] = '\0';
    assert_true(gw_is_dns_label(s));
    s[63] = 'a';
    s[64] = '\0';
    assert_false(gw_is_dns_label(s));

    assert_true(gw_is_dns_label("a"));
    assert_true(gw_is_dns_label("0"));
    assert_true(gw_is_dns_label("kube-system"));
    assert_true(gw_is_dns_label("a-1-b"));
    assert_false(gw_is_dns_label(""));
    assert_false(gw_is_dns_label("-a"));
    assert_false(gw_is_dns_label("a-"));
    assert_false(gw_is_dns_label("Prod"));
    assert_false(gw_is_dns_label("a.b"));
    assert_false(gw_is_dns_label("a_b"));
    assert_false(gw_is_dns_label("a b"));
    assert_false(gw_is_dns_label("caf\xc3\xa9"));
}

static void dns_subdomain(void **state)
{
    (void)state;
    char s[300];
    assert_true(gw_is_dns_subdomain("a"));
    assert_true(gw_is_dns_subdomain("api"));
    assert_true(gw_is_dns_subdomain("ip-10-0-1-23.eu-west-1.compute.internal"));
    assert_true(gw_is_dns_subdomain("a.b"));
    assert_true(gw_is_dns_subdomain("1.2.3"));
    assert_false(gw_is_dns_subdomain(""));
    assert_false(gw_is_dns_subdomain(".a"));
    assert_false(gw_is_dns_subdomain("a."));
    assert_false(gw_is_dns_subdomain("a..b"));
    assert_false(gw_is_dns_subdomain("a-.b"));
    assert_false(gw_is_dns_subdomain("a.-b"));
    assert_false(gw_is_dns_subdomain("-a.b"));
    assert_false(gw_is_dns_subdomain("A.b"));
    assert_false(gw_is_dns_subdomain("a.B"));
    assert_false(gw_is_dns_subdomain("a_b.c"));
    assert_false(gw_is_dns_subdomain("a/b"));

    /* 253 is the limit; 64+ chars are fine in a subdomain */
    memset(s, 'a', 253);
    s[253] = '\0';
    assert_true(gw_is_dns_subdomain(s));
    s[253] = 'a';
    s[254] = '\0';
    assert_false(gw_is_dns_subdomain(s));
    memset(s, 'a', 100);
    s[50] = '.';
    s[100] = '\0';
    assert_true(gw_is_dns_subdomain(s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(workload_beats_pod),
        cmocka_unit_test(workload_beats_rank_one),
        cmocka_unit_test(same_rank_first_listed_wins),
        cmocka_unit_test(pod_and_node_last),
        cmocka_unit_test(job_name_only_when_nothing_else),
        cmocka_unit_test(ignored_labels_are_never_targets),
        cmocka_unit_test(exported_namespace_beats_namespace),
        cmocka_unit_test(invalid_names_are_not_candidates),
        cmocka_unit_test(invalid_namespace_rejected),
        cmocka_unit_test(namespaced_kind_needs_namespace),
        cmocka_unit_test(node_has_empty_namespace),
        cmocka_unit_test(api_versions),
        cmocka_unit_test(no_candidate),
        cmocka_unit_test(dns_label),
        cmocka_unit_test(dns_subdomain),
    };
    return cmocka_run_group_tests_name("target", tests, NULL, NULL);
}

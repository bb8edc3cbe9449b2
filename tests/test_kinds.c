/* SPDX-License-Identifier: Apache-2.0 */
/* test_kinds.c - the one kinds table, API discovery with its fallback, and
 * what they do to label targets and the owner walk (plain data and the
 * in-memory "apiserver" of fakeapi.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../core/config.h"
#include "../core/fingerprint.h"
#include "../core/kcache.h"
#include "../core/kinds.h"
#include "../core/owners.h"
#include "../core/target.h"
#include "fakeapi.h"

#define RES(name, kind, ns) "{\"name\":\"" name "\",\"kind\":\"" kind "\",\"namespaced\":" ns "}"

/* What a v1.20 apiserver with an Argo Rollout CRD serves (abridged). */
static void cluster_v120(fake_api *f)
{
    fake_set(f, "/api", 200, "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"]}");
    fake_set(f, "/api/v1", 200,
             "{\"groupVersion\":\"v1\",\"resources\":[" RES("pods", "Pod", "true") ","
             RES("pods/status", "Pod", "true") "," RES("nodes", "Node", "false") ","
             RES("namespaces", "Namespace", "false") ","
             /* hostile entries: skipped, never trusted */
             RES("secrets/../x", "Secret", "true") "," RES("Bad_Plural", "Thing", "true") ","
             RES("things", "lower", "true") "]}");
    fake_set(f, "/apis", 200,
             "{\"kind\":\"APIGroupList\",\"groups\":["
             "{\"name\":\"apps\",\"versions\":[{\"groupVersion\":\"apps/v1\",\"version\":\"v1\"}],"
             "\"preferredVersion\":{\"groupVersion\":\"apps/v1\",\"version\":\"v1\"}},"
             "{\"name\":\"batch\",\"versions\":[{\"groupVersion\":\"batch/v1\",\"version\":\"v1\"},"
             "{\"groupVersion\":\"batch/v1beta1\",\"version\":\"v1beta1\"}],"
             "\"preferredVersion\":{\"groupVersion\":\"batch/v1\",\"version\":\"v1\"}},"
             "{\"name\":\"autoscaling\",\"versions\":[{\"version\":\"v1\"},{\"version\":\"v2beta2\"}],"
             "\"preferredVersion\":{\"version\":\"v1\"}},"
             "{\"name\":\"argoproj.io\",\"versions\":[{\"version\":\"v1alpha1\"}],"
             "\"preferredVersion\":{\"version\":\"v1alpha1\"}},"
             "{\"name\":\"example.com\",\"versions\":[{\"version\":\"v1\"}],"
             "\"preferredVersion\":{\"version\":\"v1\"}},"
             "{\"name\":\"../evil\",\"versions\":[{\"version\":\"v1\"}],"
             "\"preferredVersion\":{\"version\":\"v1\"}},"
             "{\"name\":\"metrics.k8s.io\",\"versions\":[{\"version\":\"v1beta1\"}],"
             "\"preferredVersion\":{\"version\":\"v1beta1\"}}]}");
    fake_set(f, "/apis/apps/v1", 200,
             "{\"resources\":[" RES("deployments", "Deployment", "true") ","
             RES("deployments/scale", "Scale", "true") ","
             RES("replicasets", "ReplicaSet", "true") "]}");
    fake_set(f, "/apis/batch/v1", 200, "{\"resources\":[" RES("jobs", "Job", "true") "]}");
    fake_set(f, "/apis/batch/v1beta1", 200,
             "{\"resources\":[" RES("cronjobs", "CronJob", "true") "]}");
    fake_set(f, "/apis/autoscaling/v1", 200,
             "{\"resources\":[" RES("horizontalpodautoscalers", "HorizontalPodAutoscaler",
                                    "true") "]}");
    fake_set(f, "/apis/argoproj.io/v1alpha1", 200,
             "{\"resources\":[" RES("rollouts", "Rollout", "true") ","
             RES("rollouts/scale", "Scale", "true") "," RES("rollouts/status", "Rollout", "true")
             "," RES("analysisruns", "AnalysisRun", "true") "]}");
    fake_set(f, "/apis/example.com/v1", 200,
             "{\"resources\":[" RES("services", "Service", "true") ","
             RES("services/scale", "Scale", "true") "," RES("clusterthings", "ClusterThing", "false")
             "," RES("clusterthings/scale", "Scale", "false") "," RES("pipelines", "Pipeline",
                                                                      "true") "]}");
    fake_set(f, "/apis/metrics.k8s.io/v1beta1", 503, "{\"kind\":\"Status\",\"code\":503}");
}

/* The apiVersion kind is served at, looked up in the group of api_version
 * (NULL: any group). */
static char av_of(const gw_kinds *k, const char *kind, const char *api_version, char *out)
{
    gw_kind d;
    if (!gw_kinds_find_av(k, kind, api_version, &d))
        return 0;
    gw_kind_api_version(&d, out, 128);
    return 1;
}

/* The built-in table is the one table (target.c and owners.c read it),
 * and it names what current clusters serve. */
static void builtin_table(void **state)
{
    (void)state;
    char av[128];
    assert_true(av_of(NULL, "CronJob", NULL, av));
    assert_string_equal(av, "batch/v1");
    assert_true(av_of(NULL, "Deployment", NULL, av));
    assert_string_equal(av, "apps/v1");
    assert_false(av_of(NULL, "Rollout", NULL, av));
    size_t n;
    const gw_kind_builtin *b = gw_kinds_builtin(&n);
    for (size_t i = 0; i < n; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s%s%s", b[i].group, *b[i].group ? "/" : "", b[i].version);
        assert_string_equal(b[i].api_version, want);
        assert_null(strstr(b[i].api_version, "v1beta1")); /* gone since 1.25 */
    }
    /* the label target and the owner walk agree */
    json_t *labels = json_pack("{s:s,s:s}", "cronjob", "backup", "namespace", "ops");
    gw_target t;
    char err[256], p[256];
    assert_int_equal(gw_target_from_labels(labels, false, "x", NULL, 0, &t, err, sizeof err),
                     GW_OK);
    assert_string_equal(t.api_version, "batch/v1");
    assert_true(gw_object_path(NULL, "CronJob", "", "ops", "backup", p, sizeof p));
    assert_string_equal(p, "/apis/batch/v1/namespaces/ops/cronjobs/backup");
    json_decref(labels);
}

static void discovery_versions_and_crds(void **state)
{
    (void)state;
    fake_api f = { 0 };
    cluster_v120(&f);
    gw_kinds *k = gw_kinds_new(fake_fetch, &f, 600000, "Pipeline, Service");
    char err[256], av[128];
    int fetched;
    /* lazily: nothing until the first need */
    assert_int_equal(f.calls, 0);
    assert_int_equal(gw_kinds_ensure(k, 1000, &fetched, err, sizeof err), GW_OK);
    assert_int_equal(fetched, 1);
    assert_true(gw_kinds_discovered(k));
    int calls = f.calls;
    /* the cluster's versions: CronJob only in batch/v1beta1 on 1.20, HPA
     * preferred at autoscaling/v1 */
    assert_true(av_of(k, "CronJob", NULL, av));
    assert_string_equal(av, "batch/v1beta1");
    assert_true(av_of(k, "HorizontalPodAutoscaler", NULL, av));
    assert_string_equal(av, "autoscaling/v1");
    assert_true(av_of(k, "Rollout", "argoproj.io/v1", av)); /* by group: the served version */
    assert_string_equal(av, "argoproj.io/v1alpha1");
    /* not served by this cluster: the built-in row */
    assert_true(av_of(k, "Ingress", NULL, av));
    assert_string_equal(av, "networking.k8s.io/v1");
    /* hostile or malformed entries were skipped */
    assert_false(av_of(k, "Secret", NULL, av));
    assert_false(av_of(k, "Thing", NULL, av));
    gw_kind d;
    assert_false(gw_kinds_find_av(k, "Evil", NULL, &d));
    assert_int_equal(f.evil, 0); /* a group named "../evil" is never asked */
    /* the workload CRDs: Rollout (scale), Pipeline (target.workload_kinds);
     * not AnalysisRun, not a cluster-scoped kind, not one named Service */
    size_t nw;
    const gw_kind *const *w = gw_kinds_workloads(k, &nw);
    assert_int_equal(nw, 2);
    assert_string_equal(w[0]->kind, "Rollout");
    assert_string_equal(w[0]->label, "rollout");
    assert_string_equal(w[1]->kind, "Pipeline");
    /* within the TTL: a cached lookup, no apiserver call */
    assert_int_equal(gw_kinds_ensure(k, 1000 + 599999, &fetched, err, sizeof err), GW_OK);
    assert_int_equal(fetched, 0);
    assert_int_equal(f.calls, calls);
    /* after it: discovered again */
    assert_int_equal(gw_kinds_ensure(k, 1000 + 600000, &fetched, err, sizeof err), GW_OK);
    assert_int_equal(fetched, 1);
    assert_true(f.calls > calls);
    gw_kinds_free(k);
}

/* Discovery failing (apiserver down, RBAC): the built-in table, or the last
 * good answer; tried again after GW_KINDS_RETRY_MS, not on every signal. */
static void discovery_fallback(void **state)
{
    (void)state;
    fake_api f = { 0 };
    cluster_v120(&f);
    fake_set(&f, "/apis", 403, "{\"kind\":\"Status\",\"code\":403}");
    gw_kinds *k = gw_kinds_new(fake_fetch, &f, 600000, "");
    char err[256], av[128];
    int fetched;
    assert_int_not_equal(gw_kinds_ensure(k, 1000, &fetched, err, sizeof err), GW_OK);
    assert_non_null(strstr(err, "403"));
    assert_false(gw_kinds_discovered(k));
    assert_true(av_of(k, "CronJob", NULL, av));
    assert_string_equal(av, "batch/v1"); /* the built-in table */
    int calls = f.calls;
    assert_int_equal(gw_kinds_ensure(k, 1000 + GW_KINDS_RETRY_MS - 1, &fetched, err, sizeof err),
                     GW_OK);
    assert_int_equal(fetched, 0);
    assert_int_equal(f.calls, calls);
    /* it comes back */
    cluster_v120(&f);
    assert_int_equal(gw_kinds_ensure(k, 1000 + GW_KINDS_RETRY_MS, &fetched, err, sizeof err),
                     GW_OK);
    assert_true(av_of(k, "CronJob", NULL, av));
    assert_string_equal(av, "batch/v1beta1");
    /* down again: the last good discovery stays */
    fake_set(&f, "/api", 0, NULL);
    assert_int_not_equal(
        gw_kinds_ensure(k, 1000 + GW_KINDS_RETRY_MS + 600000, &fetched, err, sizeof err), GW_OK);
    assert_true(av_of(k, "CronJob", NULL, av));
    assert_string_equal(av, "batch/v1beta1");
    size_t nw;
    gw_kinds_workloads(k, &nw);
    assert_int_equal(nw, 1);
    /* one group's document failing keeps that group's kinds */
    cluster_v120(&f);
    fake_set(&f, "/apis/argoproj.io/v1alpha1", 503, "{}");
    assert_int_equal(gw_kinds_ensure(k, 1000 + 2 * 600000, &fetched, err, sizeof err), GW_OK);
    assert_true(av_of(k, "Rollout", NULL, av));
    gw_kinds_workloads(k, &nw);
    assert_int_equal(nw, 1);
    gw_kinds_free(k);
    /* discovery_ttl 0: never asked */
    f.calls = 0;
    k = gw_kinds_new(fake_fetch, &f, 0, "");
    assert_int_equal(gw_kinds_ensure(k, 1000, &fetched, err, sizeof err), GW_OK);
    assert_int_equal(f.calls, 0);
    assert_true(av_of(k, "CronJob", NULL, av));
    assert_string_equal(av, "batch/v1");
    gw_kinds_free(k);
}

/* A flood of 404s is at most one discovery per GW_KINDS_RETRY_MS. */
static void stale_is_rate_limited(void **state)
{
    (void)state;
    fake_api f = { 0 };
    cluster_v120(&f);
    gw_kinds *k = gw_kinds_new(fake_fetch, &f, 600000, "");
    char err[256];
    int fetched;
    assert_int_equal(gw_kinds_ensure(k, 1000, &fetched, err, sizeof err), GW_OK);
    int calls = f.calls;
    for (int i = 0; i < 1000; i++)
        assert_false(gw_kinds_stale(k, 1000 + i));
    assert_int_equal(f.calls, calls);
    /* the ask is remembered: the first ensure after the limit refreshes */
    assert_int_equal(gw_kinds_ensure(k, 1000 + GW_KINDS_RETRY_MS, &fetched, err, sizeof err),
                     GW_OK);
    assert_int_equal(fetched, 1);
    calls = f.calls;
    assert_true(gw_kinds_stale(k, 1000 + 2 * GW_KINDS_RETRY_MS));
    assert_true(f.calls > calls);
    gw_kinds_free(k);
}

/* Bounds: a document larger than GW_KINDS_MAX_DOC_BYTES fails, at most
 * GW_KINDS_MAX kinds are kept. */
static void discovery_bounds(void **state)
{
    (void)state;
    fake_api f = { 0 };
    cluster_v120(&f);
    size_t big = GW_KINDS_MAX_DOC_BYTES + 10;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    memcpy(huge, "{\"groups\":[]}", 13);
    huge[big] = '\0';
    fake_set(&f, "/apis", 200, huge);
    gw_kinds *k = gw_kinds_new(fake_fetch, &f, 600000, "");
    char err[256];
    int fetched;
    assert_int_not_equal(gw_kinds_ensure(k, 1000, &fetched, err, sizeof err), GW_OK);
    assert_false(gw_kinds_discovered(k));
    gw_kinds_free(k);
    free(huge);

    /* 1500 kinds in one group: 1024 kept */
    size_t cap = 1500 * 80 + 64;
    char *list = malloc(cap), *o = list;
    o += sprintf(o, "{\"resources\":[");
    for (int i = 0; i < 1500; i++)
        o += sprintf(o, "%s{\"name\":\"r%d\",\"kind\":\"K%d\",\"namespaced\":true}", i ? "," : "",
                     i, i);
    sprintf(o, "]}");
    cluster_v120(&f);
    fake_set(&f, "/apis/example.com/v1", 200, list);
    k = gw_kinds_new(fake_fetch, &f, 600000, "");
    assert_int_equal(gw_kinds_ensure(k, 1000, &fetched, err, sizeof err), GW_OK);
    assert_int_equal(gw_kinds_count(k), GW_KINDS_MAX);
    gw_kinds_free(k);
    free(list);
}

/* Label targets with the cluster's kinds: a workload CRD label is a
 * candidate of the workloads' rank, the built-in kind wins a tie. */
static void refine_targets(void **state)
{
    (void)state;
    fake_api f = { 0 };
    cluster_v120(&f);
    gw_kinds *k = gw_kinds_new(fake_fetch, &f, 600000, "");
    char err[256];
    int fetched;
    assert_int_equal(gw_kinds_ensure(k, 1000, &fetched, err, sizeof err), GW_OK);
    gw_config cfg;
    assert_int_equal(gw_config_defaults(&cfg), GW_OK);
    struct {
        const char *labels, *kind, *api_version;
    } cases[] = {
        { "{\"rollout\":\"web\",\"namespace\":\"prod\"}", "Rollout", "argoproj.io/v1alpha1" },
        { "{\"rollout\":\"web\",\"pod\":\"web-1\",\"namespace\":\"prod\"}", "Rollout",
          "argoproj.io/v1alpha1" },
        { "{\"rollout\":\"web\",\"replicaset\":\"web-1\",\"namespace\":\"prod\"}", "Rollout",
          "argoproj.io/v1alpha1" },
        { "{\"rollout\":\"web\",\"deployment\":\"api\",\"namespace\":\"prod\"}", "Deployment",
          "apps/v1" },
        { "{\"cronjob\":\"backup\",\"namespace\":\"prod\"}", "CronJob", "batch/v1beta1" },
        { "{\"analysisrun\":\"x\",\"pod\":\"p\",\"namespace\":\"prod\"}", "Pod", "v1" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *labels = json_loads(cases[i].labels, 0, NULL);
        gw_signal s;
        memset(&s, 0, sizeof s);
        s.name = "HighErrorRate";
        s.cluster = "";
        s.labels = labels;
        s.label_target = true;
        char msg[200];
        if (gw_target_from_labels(labels, false, s.name, NULL, 0, &s.target, msg, sizeof msg)) {
            snprintf(s.error, sizeof s.error, "prometheus: %s", msg);
            s.no_target = true;
        } else
            assert_int_equal(gw_fingerprint("", &s.target, NULL, s.fingerprint), GW_OK);
        gw_signal_target_store st;
        gw_signal_refine_target(k, &cfg, &s, &st);
        assert_string_equal(s.error, "");
        assert_false(s.no_target); /* the rejection is lifted, and with it the 200 */
        assert_string_equal(s.target.kind, cases[i].kind);
        assert_string_equal(s.target.api_version, cases[i].api_version);
        char fp[65];
        assert_int_equal(gw_fingerprint("", &s.target, NULL, fp), GW_OK);
        assert_string_equal(s.fingerprint, fp);
        json_decref(labels);
    }
    /* without discovery the rollout label names nothing (400) */
    json_t *labels = json_loads("{\"rollout\":\"web\",\"namespace\":\"prod\"}", 0, NULL);
    gw_signal s;
    memset(&s, 0, sizeof s);
    s.name = "x";
    s.cluster = "";
    s.labels = labels;
    s.label_target = true;
    snprintf(s.error, sizeof s.error, "no target resource");
    gw_signal_target_store st;
    gw_signal_refine_target(NULL, &cfg, &s, &st);
    assert_string_equal(s.error, "no target resource");
    json_decref(labels);
    gw_config_free(&cfg);
    gw_kinds_free(k);
}

/* The owner walk reads each owner at the group/version its ownerReference
 * names, with discovery's plural: a Pod owned by a Rollout. */
static void owner_walk_crd(void **state)
{
    (void)state;
    fake_api f = { 0 };
    cluster_v120(&f);
    fake_set(&f, "/api/v1/namespaces/prod/pods/web-1", 200,
             "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"argoproj.io/v1alpha1\","
             "\"kind\":\"Rollout\",\"name\":\"web\",\"controller\":true}]}}");
    fake_set(&f, "/apis/argoproj.io/v1alpha1/namespaces/prod/rollouts/web", 200,
             "{\"metadata\":{\"name\":\"web\"}}");
    gw_kinds *k = gw_kinds_new(fake_fetch, &f, 600000, "");
    char err[256];
    int fetched;
    assert_int_equal(gw_kinds_ensure(k, 1000, &fetched, err, sizeof err), GW_OK);
    gw_buf scratch;
    gw_buf_init(&scratch, 1 << 16);
    gw_kcache *c = gw_kcache_new(64, fake_fetch, &f, &scratch);
    gw_config cfg;
    assert_int_equal(gw_config_defaults(&cfg), GW_OK);
    gw_target pod = { "Pod", "web-1", "prod", "v1" };
    gw_owned_target o;
    int hops;
    assert_int_equal(gw_owner_resolve(k, c, &cfg, &pod, 1000, &o, &hops, err, sizeof err), GW_OK);
    assert_int_equal(hops, 1);
    assert_string_equal(o.t.kind, "Rollout");
    assert_string_equal(o.t.api_version, "argoproj.io/v1alpha1");
    /* it was read (and would be followed further) at that path */
    assert_string_equal(f.last, "/apis/argoproj.io/v1alpha1/namespaces/prod/rollouts/web");
    char p[256];
    assert_true(gw_object_path(k, "Rollout", "argoproj.io/v1alpha1", "prod", "web", p, sizeof p));
    /* the built-in table alone cannot read it */
    assert_false(gw_object_path(NULL, "Rollout", "argoproj.io/v1alpha1", "prod", "web", p,
                                sizeof p));
    /* an ownerReference naming a kind in another group is not read with
     * this one's plural */
    assert_false(gw_object_path(k, "Rollout", "other.io/v1", "prod", "web", p, sizeof p));
    /* a custom resource owner the gateway may not read (no RBAC for it) is
     * the top, as before discovery: its child names it */
    fake_set(&f, "/api/v1/namespaces/prod/pods/web-2", 200,
             "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"argoproj.io/v1alpha1\","
             "\"kind\":\"Rollout\",\"name\":\"locked\",\"controller\":true}]}}");
    fake_set(&f, "/apis/argoproj.io/v1alpha1/namespaces/prod/rollouts/locked", 403,
             "{\"kind\":\"Status\",\"code\":403}");
    gw_target pod2 = { "Pod", "web-2", "prod", "v1" };
    assert_int_equal(gw_owner_resolve(k, c, &cfg, &pod2, 1000, &o, &hops, err, sizeof err), GW_OK);
    assert_int_equal(hops, 1);
    assert_string_equal(o.t.kind, "Rollout");
    assert_string_equal(o.t.name, "locked");
    gw_kcache_free(c);
    gw_buf_free(&scratch);
    gw_config_free(&cfg);
    gw_kinds_free(k);
}

/* A 404 on the target's path after an upgrade: discovery again (rate-
 * limited), the target read once more at the version it now gives. */
static void owner_walk_404_refresh(void **state)
{
    (void)state;
    fake_api f = { 0 };
    cluster_v120(&f);
    gw_kinds *k = gw_kinds_new(fake_fetch, &f, 600000, "");
    char err[256];
    int fetched;
    assert_int_equal(gw_kinds_ensure(k, 1000, &fetched, err, sizeof err), GW_OK);
    gw_target cj = { "CronJob", "backup", "ops", "batch/v1beta1" };
    /* the cluster is upgraded: CronJob moves to batch/v1 */
    fake_set(&f, "/apis/batch/v1", 200,
             "{\"resources\":[" RES("jobs", "Job", "true") "," RES("cronjobs", "CronJob", "true")
             "]}");
    fake_set(&f, "/apis/batch/v1beta1", 404, "{}");
    fake_set(&f, "/apis/batch/v1/namespaces/ops/cronjobs/backup", 200,
             "{\"metadata\":{\"name\":\"backup\"}}");
    gw_buf scratch;
    gw_buf_init(&scratch, 1 << 16);
    gw_kcache *c = gw_kcache_new(64, fake_fetch, &f, &scratch);
    gw_config cfg;
    assert_int_equal(gw_config_defaults(&cfg), GW_OK);
    gw_owned_target o;
    int hops;
    /* within the rate limit: no discovery, the 404 stands */
    int calls = f.calls;
    assert_int_equal(gw_owner_resolve(k, c, &cfg, &cj, 2000, &o, &hops, err, sizeof err),
                     GW_ENOTFOUND);
    assert_int_equal(f.calls, calls + 1); /* the object's GET only */
    /* after it: discovered again, read at batch/v1 */
    gw_target cj2 = { "CronJob", "nightly", "ops", "batch/v1beta1" };
    fake_set(&f, "/apis/batch/v1/namespaces/ops/cronjobs/nightly", 200,
             "{\"metadata\":{\"name\":\"nightly\"}}");
    assert_int_equal(gw_owner_resolve(k, c, &cfg, &cj2, 1000 + GW_KINDS_RETRY_MS, &o, &hops, err,
                                      sizeof err), GW_OK);
    assert_int_equal(hops, 0);
    assert_string_equal(o.t.api_version, "batch/v1");
    assert_string_equal(f.last, "/apis/batch/v1/namespaces/ops/cronjobs/nightly");
    gw_kcache_free(c);
    gw_buf_free(&scratch);
    gw_config_free(&cfg);
    gw_kinds_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(builtin_table),
        cmocka_unit_test(discovery_versions_and_crds),
        cmocka_unit_test(discovery_fallback),
        cmocka_unit_test(stale_is_rate_limited),
        cmocka_unit_test(discovery_bounds),
        cmocka_unit_test(refine_targets),
        cmocka_unit_test(owner_walk_crd),
        cmocka_unit_test(owner_walk_404_refresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

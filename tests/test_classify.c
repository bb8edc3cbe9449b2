/* SPDX-License-Identifier: Apache-2.0 */
/* test_classify.c - unit tests for classification and the Kubernetes object
 * helpers, all with plain data: core/classify.c (environment precedence,
 * patterns, aliases, the priority table, escalation), core/text.c's
 * key=value lists, core/kcache.c (TTL, absence, errors, stale answers,
 * bound) and core/owners.c (paths, owner chains, fallbacks) driven by an
 * in-memory "apiserver" behind the cache's fetch hook. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "config.h"
#include "kcache.h"
#include "owners.h"
#include "text.h"

static int setup_cfg(void **state)
{
    static gw_config cfg;
    if (gw_config_defaults(&cfg))
        return -1;
    *state = &cfg;
    return 0;
}

static int teardown_cfg(void **state)
{
    gw_config_free(*state);
    return 0;
}

/* Replaces a string key of cfg (owned by it). */
static void set(char **field, const char *v)
{
    free(*field);
    *field = strdup(v);
}

/* ---------------------------------------------------------------- pairs */

static void pairs_walk_and_lookup(void **state)
{
    (void)state;
    const char *p = " a = 1 ,,b=2,c, d=", *k, *v;
    size_t kl, vl;
    assert_true(gw_pairs_next(&p, &k, &kl, &v, &vl));
    assert_int_equal(kl, 1);
    assert_memory_equal(k, "a", 1);
    assert_int_equal(vl, 1);
    assert_memory_equal(v, "1", 1);
    assert_true(gw_pairs_next(&p, &k, &kl, &v, &vl));
    assert_memory_equal(k, "b", 1);
    assert_true(gw_pairs_next(&p, &k, &kl, &v, &vl));
    assert_memory_equal(k, "c", 1);
    assert_null(v);
    assert_true(gw_pairs_next(&p, &k, &kl, &v, &vl));
    assert_memory_equal(k, "d", 1);
    assert_non_null(v);
    assert_int_equal(vl, 0);
    assert_false(gw_pairs_next(&p, &k, &kl, &v, &vl));

    char out[8];
    assert_true(gw_pairs_get("x=1,yy=22", "yy", out, sizeof out));
    assert_string_equal(out, "22");
    assert_false(gw_pairs_get("x=1,yy=22", "y", out, sizeof out));
    assert_false(gw_pairs_get("x=12345678", "x", out, sizeof out)); /* does not fit */
    assert_false(gw_pairs_get("", "x", out, sizeof out));
}

/* ---------------------------------------------------------- environment */

static void environment_precedence(void **state)
{
    gw_config *c = *state;
    char env[64];
    json_t *l = json_pack("{s:s}", "environment", "development");
    /* ConfigMap beats everything */
    assert_int_equal(gw_classify_environment(c, "staging", "production", "prod-web", l, env),
                     GW_ENV_CONFIGMAP);
    assert_string_equal(env, "staging");
    /* then the namespace label */
    assert_int_equal(gw_classify_environment(c, NULL, "production", "dev-web", l, env),
                     GW_ENV_NAMESPACE_LABEL);
    assert_string_equal(env, "production");
    /* then the namespace-name pattern */
    assert_int_equal(gw_classify_environment(c, NULL, NULL, "prod-web", l, env), GW_ENV_PATTERN);
    assert_string_equal(env, "production");
    assert_int_equal(gw_classify_environment(c, NULL, NULL, "web-staging", l, env),
                     GW_ENV_PATTERN);
    assert_string_equal(env, "staging");
    /* then the alert's own label */
    assert_int_equal(gw_classify_environment(c, NULL, NULL, "web", l, env), GW_ENV_ALERT_LABEL);
    assert_string_equal(env, "development");
    /* then unknown; cluster-scoped targets have no namespace */
    assert_int_equal(gw_classify_environment(c, NULL, NULL, "", NULL, env), GW_ENV_UNKNOWN);
    assert_string_equal(env, "unknown");
    assert_string_equal(gw_env_source_name(GW_ENV_PATTERN), "pattern");
    json_decref(l);
}

static void environment_values_are_checked_and_folded(void **state)
{
    gw_config *c = *state;
    char env[64];
    /* an invalid value is skipped, never sanitised into something else */
    assert_int_equal(gw_classify_environment(c, "not a label!", "qa", "web", NULL, env),
                     GW_ENV_NAMESPACE_LABEL);
    assert_string_equal(env, "qa");
    char long_value[80];
    memset(long_value, 'a', 70);
    long_value[70] = '\0';
    assert_int_equal(gw_classify_environment(c, long_value, NULL, "web", NULL, env),
                     GW_ENV_UNKNOWN);
    /* aliases and case folding */
    assert_int_equal(gw_classify_environment(c, "Prod", NULL, "web", NULL, env), GW_ENV_CONFIGMAP);
    assert_string_equal(env, "production");
    json_t *l = json_pack("{s:s}", "environment", "stage");
    gw_classify_environment(c, NULL, NULL, "web", l, env);
    assert_string_equal(env, "staging");
    json_decref(l);
    l = json_pack("{s:i}", "environment", 1); /* not a string */
    assert_int_equal(gw_classify_environment(c, NULL, NULL, "web", l, env), GW_ENV_UNKNOWN);
    json_decref(l);
}

static void environment_patterns_from_config(void **state)
{
    gw_config *c = *state;
    char env[64];
    set(&c->environment_patterns, "team-a-*=qa,*=sandbox");
    gw_classify_environment(c, NULL, NULL, "team-a-web", NULL, env);
    assert_string_equal(env, "qa");
    gw_classify_environment(c, NULL, NULL, "prod-web", NULL, env); /* defaults replaced */
    assert_string_equal(env, "sandbox");
    set(&c->environment_patterns, "");
    assert_int_equal(gw_classify_environment(c, NULL, NULL, "prod-web", NULL, env),
                     GW_ENV_UNKNOWN);
}

/* ------------------------------------------------------------- priority */

static const char *prio(const gw_config *c, const char *sev, const char *env)
{
    static char out[8];
    gw_classify_priority(c, sev, env, out);
    return out;
}

static void priority_default_table(void **state)
{
    gw_config *c = *state;
    assert_string_equal(prio(c, "critical", "production"), "P0");
    assert_string_equal(prio(c, "critical", "staging"), "P1");
    assert_string_equal(prio(c, "warning", "production"), "P1");
    assert_string_equal(prio(c, "critical", "development"), "P2");
    assert_string_equal(prio(c, "warning", "staging"), "P2");
    assert_string_equal(prio(c, "info", "production"), "P2");
    assert_string_equal(prio(c, "warning", "development"), "P3");
    assert_string_equal(prio(c, "info", "staging"), "P3");
    assert_string_equal(prio(c, "critical", "unknown"), "P3");
    assert_string_equal(prio(c, "unknown", "production"), "P3");
    assert_string_equal(prio(c, "", ""), "P3");
    /* severity aliases, case-insensitive */
    assert_string_equal(prio(c, "page", "production"), "P0");
    assert_string_equal(prio(c, "SEV1", "production"), "P0");
    assert_string_equal(prio(c, "error", "production"), "P0");
    assert_string_equal(prio(c, "warn", "production"), "P1");
    assert_string_equal(prio(c, "criticall", "production"), "P3");
}

static void priority_table_from_config(void **state)
{
    gw_config *c = *state;
    set(&c->priority_table, "critical/production=P1,critical/*=P2,*/qa=P3,warning/qa=P0");
    set(&c->priority_default, "P2");
    set(&c->priority_severity_aliases, "boom=critical");
    assert_string_equal(prio(c, "critical", "production"), "P1");
    assert_string_equal(prio(c, "boom", "staging"), "P2");     /* severity wildcard */
    assert_string_equal(prio(c, "info", "qa"), "P3");          /* environment wildcard */
    assert_string_equal(prio(c, "warning", "qa"), "P0");       /* exact beats wildcard */
    assert_string_equal(prio(c, "info", "production"), "P2");  /* the default */
    assert_string_equal(prio(c, "page", "production"), "P2");  /* alias list replaced */
}

static void escalation(void **state)
{
    gw_config *c = *state;
    char out[8];
    assert_int_equal(gw_escalation_threshold(c, "production"), 10);
    assert_int_equal(gw_escalation_threshold(c, "staging"), 0);
    set(&c->priority_escalation, "staging=3,*=50");
    assert_int_equal(gw_escalation_threshold(c, "staging"), 3);
    assert_int_equal(gw_escalation_threshold(c, "production"), 50);
    assert_true(gw_priority_raise("P3", out));
    assert_string_equal(out, "P2");
    assert_true(gw_priority_raise("P1", out));
    assert_string_equal(out, "P0");
    assert_false(gw_priority_raise("P0", out));
    assert_false(gw_priority_raise("high", out));
    assert_false(gw_priority_raise(NULL, out));
}

static void config_rejects_bad_tables(void **state)
{
    (void)state;
    char errs[2048];
    gw_config c;
    setenv("ALERTGW_PRIORITY_TABLE", "critical=P0", 1);
    setenv("ALERTGW_PRIORITY_ESCALATION", "production=0", 1);
    setenv("ALERTGW_ENVIRONMENT_PATTERNS", "prod-*=Not Valid", 1);
    setenv("ALERTGW_PRIORITY_DEFAULT", "P9", 1);
    assert_int_equal(gw_config_load(&c, NULL, errs, sizeof errs), GW_ECONFIG);
    assert_non_null(strstr(errs, "priority.table: \"critical=P0\""));
    assert_non_null(strstr(errs, "priority.escalation"));
    assert_non_null(strstr(errs, "environment.patterns"));
    assert_non_null(strstr(errs, "priority.default"));
    gw_config_free(&c);
    unsetenv("ALERTGW_PRIORITY_TABLE");
    unsetenv("ALERTGW_PRIORITY_ESCALATION");
    unsetenv("ALERTGW_ENVIRONMENT_PATTERNS");
    unsetenv("ALERTGW_PRIORITY_DEFAULT");
    assert_int_equal(gw_config_load(&c, NULL, errs, sizeof errs), GW_OK);
    gw_config_free(&c);
}

/* --------------------------------------------------- a fake apiserver */

typedef struct {
    const char *path;
    long        status;    /* 0: transport error */
    const char *body;
} fake_obj;

typedef struct {
    fake_obj objs[16];
    size_t   n;
    int      calls;
} fake_api;

static gw_err fake_fetch(void *arg, const char *path, long *status, gw_buf *resp, char *err,
                         size_t errlen)
{
    fake_api *f = arg;
    f->calls++;
    gw_buf_reset(resp);
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->objs[i].path, path))
            continue;
        if (!f->objs[i].status)
            return gw_fail(GW_EKUBE, err, errlen, "connection refused");
        *status = f->objs[i].status;
        return gw_buf_appends(resp, f->objs[i].body);
    }
    *status = 404;
    return gw_buf_appends(resp, "{\"kind\":\"Status\",\"code\":404}");
}

static void fake_set(fake_api *f, const char *path, long status, const char *body)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->objs[i].path, path)) {
            f->objs[i].status = status;
            f->objs[i].body = body;
            return;
        }
    f->objs[f->n++] = (fake_obj){ path, status, body };
}

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
    assert_int_equal(gw_kcache_size(c), 2);
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
        assert_true(gw_kcache_size(c) <= 16);
    }
    /* the most recent entry survived the purges */
    assert_int_equal(gw_kcache_get(c, path, 300, 60000, &o, &fetched, err, sizeof err),
                     GW_ENOTFOUND);
    assert_int_equal(fetched, 0);
    gw_kcache_free(c);
    gw_buf_free(&scratch);
}

/* ---------------------------------------------------------------- owners */

static void object_paths(void **state)
{
    (void)state;
    char p[256];
    assert_true(gw_object_path(NULL, "Pod", "", "prod", "web-1", p, sizeof p));
    assert_string_equal(p, "/api/v1/namespaces/prod/pods/web-1");
    assert_true(gw_object_path(NULL, "Deployment", NULL, "prod", "web", p, sizeof p));
    assert_string_equal(p, "/apis/apps/v1/namespaces/prod/deployments/web");
    assert_true(gw_object_path(NULL, "CronJob", "", "ops", "backup", p, sizeof p));
    /* one table: the label target's version (target.c) is the owner walk's */
    assert_string_equal(p, "/apis/batch/v1/namespaces/ops/cronjobs/backup");
    assert_true(gw_object_path(NULL, "CronJob", "batch/v1", "ops", "backup", p, sizeof p));
    assert_string_equal(p, "/apis/batch/v1/namespaces/ops/cronjobs/backup");
    assert_true(gw_object_path(NULL, "Node", "", "", "n1", p, sizeof p));
    assert_string_equal(p, "/api/v1/nodes/n1");
    assert_false(
        gw_object_path(NULL, "Rollout", "argoproj.io/v1alpha1", "prod", "web", p, sizeof p));
    /* needs a namespace; does not fit */
    assert_false(gw_object_path(NULL, "Pod", "", "", "web-1", p, sizeof p));
    assert_false(gw_object_path(NULL, "Pod", "", "prod", "web-1", p, 10));
    assert_true(gw_kind_cluster_scoped(NULL, "Node", ""));
    assert_false(gw_kind_cluster_scoped(NULL, "Pod", ""));
}

#define POD "/api/v1/namespaces/prod/pods/web-7d4b9-x2x"
#define RS "/apis/apps/v1/namespaces/prod/replicasets/web-7d4b9"
#define DEP "/apis/apps/v1/namespaces/prod/deployments/web"
#define OWNER(kind, name, av, ctl)                                                        \
    "{\"metadata\":{\"ownerReferences\":[{\"apiVersion\":\"" av "\",\"kind\":\"" kind     \
    "\",\"name\":\"" name "\",\"controller\":" ctl "}]}}"

typedef struct {
    fake_api   f;
    gw_buf     scratch;
    gw_kcache *c;
    gw_config  cfg;
} owner_fx;

static int owner_setup(void **state)
{
    owner_fx *x = calloc(1, sizeof *x);
    gw_buf_init(&x->scratch, 1 << 16);
    x->c = gw_kcache_new(64, fake_fetch, &x->f, &x->scratch);
    if (gw_config_defaults(&x->cfg))
        return -1;
    fake_set(&x->f, POD, 200, OWNER("ReplicaSet", "web-7d4b9", "apps/v1", "true"));
    fake_set(&x->f, RS, 200, OWNER("Deployment", "web", "apps/v1", "true"));
    fake_set(&x->f, DEP, 200, "{\"metadata\":{\"name\":\"web\"}}");
    *state = x;
    return 0;
}

static int owner_teardown(void **state)
{
    owner_fx *x = *state;
    gw_kcache_free(x->c);
    gw_buf_free(&x->scratch);
    gw_config_free(&x->cfg);
    free(x);
    return 0;
}

static const gw_target pod = { "Pod", "web-7d4b9-x2x", "prod", "" };

static void owners_pod_to_deployment(void **state)
{
    owner_fx *x = *state;
    gw_owned_target o;
    int hops;
    char err[256];
    assert_int_equal(gw_owner_resolve(NULL, x->c, &x->cfg, &pod, 0, &o, &hops, err, sizeof err), GW_OK);
    assert_int_equal(hops, 2);
    assert_string_equal(o.t.kind, "Deployment");
    assert_string_equal(o.t.name, "web");
    assert_string_equal(o.t.namespace_, "prod");
    assert_string_equal(o.t.api_version, "apps/v1");
    /* a second pod of the same ReplicaSet costs one read, the RS is cached */
    gw_target pod2 = { "Pod", "web-7d4b9-y7z", "prod", "" };
    fake_set(&x->f, "/api/v1/namespaces/prod/pods/web-7d4b9-y7z", 200,
             OWNER("ReplicaSet", "web-7d4b9", "apps/v1", "true"));
    int calls = x->f.calls;
    assert_int_equal(gw_owner_resolve(NULL, x->c, &x->cfg, &pod2, 0, &o, &hops, err, sizeof err), GW_OK);
    assert_string_equal(o.t.name, "web");
    assert_int_equal(x->f.calls, calls + 1);
}

static void owners_depth_and_non_controllers(void **state)
{
    owner_fx *x = *state;
    gw_owned_target o;
    int hops;
    char err[256];
    assert_int_equal(gw_owner_resolve(NULL, x->c, &x->cfg, &pod, 0, &o, &hops, err, sizeof err), GW_OK);
    x->cfg.owners_max_depth = 1;
    assert_int_equal(gw_owner_resolve(NULL, x->c, &x->cfg, &pod, 0, &o, &hops, err, sizeof err), GW_OK);
    assert_int_equal(hops, 1);
    assert_string_equal(o.t.kind, "ReplicaSet");
    x->cfg.owners_max_depth = 5;
    /* an ownerReference that is not the controller is not followed */
    fake_set(&x->f, RS, 200, OWNER("Deployment", "web", "apps/v1", "false"));
    assert_int_equal(gw_owner_resolve(NULL, x->c, &x->cfg, &pod, 0, &o, &hops, err, sizeof err), GW_OK);
    assert_string_equal(o.t.kind, "Deployment"); /* still cached from before: TTL */
    assert_int_equal(gw_owner_resolve(NULL, x->c, &x->cfg, &pod, 10 * 60 * 1000, &o, &hops, err,
                                      sizeof err), GW_OK);
    assert_string_equal(o.t.kind, "ReplicaSet");
    assert_int_equal(hops, 1);
}

static void owners_stop_at_unreadable_kinds(void **state)
{
    owner_fx *x = *state;
    gw_owned_target o;
    int hops;
    char err[256];
    /* an operator's resource: the top, without reading it */
    fake_set(&x->f, RS, 200, OWNER("Rollout", "web", "argoproj.io/v1alpha1", "true"));
    assert_int_equal(gw_owner_resolve(NULL, x->c, &x->cfg, &pod, 0, &o, &hops, err, sizeof err), GW_OK);
    assert_string_equal(o.t.kind, "Rollout");
    assert_string_equal(o.t.api_version, "argoproj.io/v1alpha1");
    assert_int_equal(hops, 2);
}

static void owners_fall_back_to_the_resource(void **state)
{
    owner_fx *x = *state;
    gw_owned_target o;
    int hops;
    char err[256];
    /* the pod is gone */
    gw_target gone = { "Pod", "gone-1", "prod", "" };
    assert_int_equal(gw_owner_resolve(NULL, x->c, &x->cfg, &gone, 0, &o, &hops, err, sizeof err),
                     GW_ENOTFOUND);
    assert_int_equal(hops, 0);
    assert_string_equal(o.t.kind, "Pod");
    assert_string_equal(o.t.name, "gone-1");
    /* the apiserver is down midway: the resource itself, never half a chain */
    fake_set(&x->f, RS, 0, NULL);
    assert_int_equal(gw_owner_resolve(NULL, x->c, &x->cfg, &pod, 0, &o, &hops, err, sizeof err),
                     GW_EKUBE);
    assert_string_equal(o.t.kind, "Pod");
    assert_string_equal(o.t.name, "web-7d4b9-x2x");
    /* an owner that is being deleted (404): its child is the top */
    fake_set(&x->f, RS, 404, "{}");
    fake_set(&x->f, POD, 200, OWNER("ReplicaSet", "web-7d4b9", "apps/v1", "true"));
    assert_int_equal(gw_owner_resolve(NULL, x->c, &x->cfg, &pod, 60 * 60 * 1000, &o, &hops, err,
                                      sizeof err), GW_OK);
    assert_string_equal(o.t.kind, "ReplicaSet");
    /* kinds alertgw cannot read are their own top */
    gw_target unknown = { "Unknown", "x", "prod", "" };
    assert_int_equal(gw_owner_resolve(NULL, x->c, &x->cfg, &unknown, 0, &o, &hops, err, sizeof err),
                     GW_OK);
    assert_int_equal(hops, 0);
    assert_string_equal(o.t.kind, "Unknown");
}

static void scope_label(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:{s:s,s:s,s:s}}", "labels", "kubernaut.ai/managed", "true", "x", "y",
                          "off", "false");
    assert_int_equal(gw_scope_label(o, "kubernaut.ai/managed"), 1);
    assert_int_equal(gw_scope_label(o, "off"), 0);
    assert_int_equal(gw_scope_label(o, "x"), -1);
    assert_int_equal(gw_scope_label(o, "missing"), -1);
    json_decref(o);
    o = json_pack("{s:{s:s}}", "labels", "kubernaut.ai/managed", "True");
    assert_int_equal(gw_scope_label(o, "kubernaut.ai/managed"), -1); /* exactly "true" */
    json_decref(o);
    o = json_pack("{s:{s:i}}", "labels", "kubernaut.ai/managed", 0);
    assert_int_equal(gw_scope_label(o, "kubernaut.ai/managed"), -1); /* not a string */
    json_decref(o);
    assert_int_equal(gw_scope_label(NULL, "kubernaut.ai/managed"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pairs_walk_and_lookup),
        cmocka_unit_test_setup_teardown(environment_precedence, setup_cfg, teardown_cfg),
        cmocka_unit_test_setup_teardown(environment_values_are_checked_and_folded, setup_cfg,
                                        teardown_cfg),
        cmocka_unit_test_setup_teardown(environment_patterns_from_config, setup_cfg, teardown_cfg),
        cmocka_unit_test_setup_teardown(priority_default_table, setup_cfg, teardown_cfg),
        cmocka_unit_test_setup_teardown(priority_table_from_config, setup_cfg, teardown_cfg),
        cmocka_unit_test_setup_teardown(escalation, setup_cfg, teardown_cfg),
        cmocka_unit_test(config_rejects_bad_tables),
        cmocka_unit_test(kcache_ttl_and_absence),
        cmocka_unit_test(kcache_errors_serve_stale_and_back_off),
        cmocka_unit_test(kcache_is_bounded),
        cmocka_unit_test(object_paths),
        cmocka_unit_test_setup_teardown(owners_pod_to_deployment, owner_setup, owner_teardown),
        cmocka_unit_test_setup_teardown(owners_depth_and_non_controllers, owner_setup,
                                        owner_teardown),
        cmocka_unit_test_setup_teardown(owners_stop_at_unreadable_kinds, owner_setup,
                                        owner_teardown),
        cmocka_unit_test_setup_teardown(owners_fall_back_to_the_resource, owner_setup,
                                        owner_teardown),
        cmocka_unit_test(scope_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* test_owners.c - unit tests for core/owners.c: object paths (the kinds
 * table's plural and scope, hostile parts refused), one owner hop over
 * hostile ownerReferences, owner chains (depth, non-controllers, kinds that
 * cannot be read, fallbacks to the resource) through the kcache and the
 * in-memory "apiserver" of fakeapi.h, and the scope label. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fakeapi.h"
#include "kcache.h"
#include "owners.h"
#include "testutil.h"

/* ---------------------------------------------------------------- paths */

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
    /* the scope is the kind's: a Node's path has no namespace even when
     * one is given, a Pod's cannot do without one */
    assert_true(gw_object_path(NULL, "Node", "", "prod", "n1", p, sizeof p));
    assert_string_equal(p, "/api/v1/nodes/n1");
    assert_false(gw_object_path(NULL, "Pod", "", "", "n1", p, sizeof p));
}

static void object_paths_refuse_hostile_parts(void **state)
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

/* ------------------------------------------------------------ one step */

/* One owner hop (owners.max_depth 1) from Pod api-1 in prod, whose
 * ownerReferences are [ref_json], read through the kcache from the fake
 * apiserver; *cur is where the walk ends.  true when it moved. */
static bool step(const char *ref_json, gw_owned_target *cur)
{
    char doc[2048];
    snprintf(doc, sizeof doc, "{\"metadata\":{\"ownerReferences\":[%s]}}", ref_json);
    fake_api f = { .n = 0 };
    fake_set(&f, "/api/v1/namespaces/prod/pods/api-1", 200, doc);
    gw_buf scratch;
    gw_buf_init(&scratch, 1 << 16);
    gw_kcache *c = gw_kcache_new(4, fake_fetch, &f, &scratch);
    assert_non_null(c);
    gw_config cfg;
    assert_int_equal(gw_config_defaults(&cfg), GW_OK);
    cfg.owners_max_depth = 1;
    static const gw_target pod1 = { "Pod", "api-1", "prod", "v1" };
    int hops = -1;
    char err[256];
    assert_int_equal(gw_owner_resolve(NULL, c, &cfg, &pod1, 0, cur, &hops, err, sizeof err), GW_OK);
    assert_int_equal(f.calls, 1); /* the pod only: one hop */
    gw_kcache_free(c);
    gw_buf_free(&scratch);
    gw_config_free(&cfg);
    return hops == 1;
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

/* --------------------------------------------------------------- chains */

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

/* ---------------------------------------------------------------- scope */

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
        cmocka_unit_test(object_paths),
        cmocka_unit_test(object_paths_refuse_hostile_parts),
        cmocka_unit_test(owner_steps),
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

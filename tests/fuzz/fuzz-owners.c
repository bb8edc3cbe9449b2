/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-owners.c - the owner walk's input: an object as read from the
 * cluster, whose ownerReferences name the next GET, through
 * gw_owner_resolve (the kcache in front of a fake apiserver).
 *
 * Input: NUL-terminated fields, in this order (append, never reorder):
 *   0 the object as gw_kcache keeps it ({"labels":…,"owners":[…]}, JSON);
 *     the fake apiserver answers every GET with it as an apiserver object
 *     ({"metadata":{"labels":…,"ownerReferences":…}})
 *   1 the starting kind   2 its name   3 its namespace   4 its apiVersion
 * Absent start fields default to Pod "p" in "prod", v1.  Corpus:
 * tests/fuzz/owners/.
 *
 * The walk is run with owners.max_depth 1, 2, … 5, so each hop is seen
 * on its own.  Checks, besides the sanitizers:
 *  - a hop that is refused leaves the target exactly as it was;
 *  - a hop that is taken yields a valid kind, name and apiVersion (or
 *    none), keeps the namespace unless the owner is cluster-scoped, and
 *    points the target's strings at its own arrays;
 *  - every path the walk GETs is one gw_k8s_path accepts (no "..", "?" or
 *    "#": the next GET cannot leave it). */
#include "fuzz.h"

#include <jansson.h>

#include "buf.h"
#include "k8sname.h"
#include "kcache.h"
#include "kinds.h"
#include "owners.h"

#define NFIELDS   5
#define MAX_DEPTH 5

static void set(char *dst, size_t cap, const char *v, const char *dflt)
{
    snprintf(dst, cap, "%s", v ? v : dflt);
}

/* The fake apiserver: every path answers 200 with the same object. */
static gw_err answer(void *arg, const char *path, long *status, gw_buf *resp, char *err,
                     size_t errlen)
{
    (void)err;
    (void)errlen;
    GW_FUZZ_REQUIRE(path[0] == '/' && !strstr(path, "/..") && !strchr(path, '?') &&
                        !strchr(path, '#'),
                    "path %s", path);
    *status = 200;
    gw_buf_reset(resp);
    return gw_buf_appends(resp, arg);
}

/* The object of field 0 as the apiserver would send it ("{}" when it is
 * not JSON).  The caller frees it with gw_json_free. */
static char *as_served(const char *field)
{
    json_t *obj = field ? json_loads(field, 0, NULL) : NULL;
    json_t *meta = json_object();
    json_t *full = json_pack("{s:o}", "metadata", meta);
    if (!meta || !full)
        abort();
    json_t *labels = json_object_get(obj, "labels"), *owners = json_object_get(obj, "owners");
    if (labels)
        json_object_set(meta, "labels", labels);
    if (owners)
        json_object_set(meta, "ownerReferences", owners);
    char *s = json_dumps(full, JSON_COMPACT);
    if (!s)
        abort();
    json_decref(full);
    json_decref(obj);
    return s;
}

static bool same_target(const gw_owned_target *a, const gw_owned_target *b)
{
    return !strcmp(a->kind, b->kind) && !strcmp(a->name, b->name) && !strcmp(a->ns, b->ns) &&
           !strcmp(a->api_version, b->api_version);
}

static bool cluster_scoped(const char *kind, const char *api_version)
{
    gw_kind d;
    return gw_kinds_find_av(NULL, kind, api_version, &d) && !d.namespaced;
}

GW_FUZZ_TARGET(owners)
{
    gw_fuzz_jansson();
    const char *f[NFIELDS];
    char *copy;
    gw_fuzz_fields(data, size, f, NFIELDS, &copy);
    char *served = as_served(f[0]);
    gw_config cfg;
    if (gw_config_defaults(&cfg) != GW_OK)
        abort();
    gw_buf scratch;
    gw_buf_init(&scratch, 1 << 22);
    gw_kcache *c = gw_kcache_new(16, answer, served, &scratch);
    if (!c)
        abort();

    gw_owned_target start, prev, cur;
    memset(&start, 0, sizeof start);
    set(start.kind, sizeof start.kind, f[1], "Pod");
    set(start.name, sizeof start.name, f[2], "p");
    set(start.ns, sizeof start.ns, f[3], "prod");
    set(start.api_version, sizeof start.api_version, f[4], "v1");
    gw_target in = { start.kind, start.name, start.ns, start.api_version };
    prev = start;
    for (int depth = 1, hops_before = 0; depth <= MAX_DEPTH; depth++) {
        cfg.owners_max_depth = depth;
        int hops = -1;
        char err[256];
        gw_err rc = gw_owner_resolve(NULL, c, &cfg, &in, 0, &cur, &hops, err, sizeof err);
        if (rc != GW_OK) { /* the answer did not fit the scratch buffer: the resource itself */
            GW_FUZZ_REQUIRE(hops == 0 && same_target(&cur, &start), "an error moved the target");
            break;
        }
        GW_FUZZ_REQUIRE(hops == hops_before || hops == hops_before + 1, "%d hops at depth %d",
                        hops, depth);
        if (hops == hops_before) {
            GW_FUZZ_REQUIRE(same_target(&cur, &prev), "a refused hop changed the target");
            break;
        }
        hops_before = hops;
        GW_FUZZ_REQUIRE(gw_is_kind(cur.kind), "kind \"%s\"", cur.kind);
        GW_FUZZ_REQUIRE(gw_is_dns_subdomain(cur.name), "name \"%s\"", cur.name);
        GW_FUZZ_REQUIRE(!cur.api_version[0] || gw_is_api_version(cur.api_version),
                        "apiVersion \"%s\"", cur.api_version);
        GW_FUZZ_REQUIRE(cluster_scoped(cur.kind, cur.api_version) ? cur.ns[0] == '\0'
                                                                  : !strcmp(cur.ns, prev.ns),
                        "namespace \"%s\" after \"%s\"", cur.ns, prev.ns);
        GW_FUZZ_REQUIRE(cur.t.kind == cur.kind && cur.t.name == cur.name &&
                            cur.t.namespace_ == cur.ns && cur.t.api_version == cur.api_version,
                        "the target does not point at its own strings");
        prev = cur;
    }
    gw_kcache_free(c);
    gw_buf_free(&scratch);
    gw_config_free(&cfg);
    gw_json_free(served);
    free(copy);
    return 0;
}

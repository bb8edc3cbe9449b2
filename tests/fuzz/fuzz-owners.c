/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-owners.c - the owner walk's input: an object as read from the
 * cluster, whose ownerReferences name the next GET, through gw_owner_step.
 *
 * Input: NUL-terminated fields, in this order (append, never reorder):
 *   0 the object as gw_kcache keeps it ({"labels":…,"owners":[…]}, JSON)
 *   1 the starting kind   2 its name   3 its namespace   4 its apiVersion
 * Absent start fields default to Pod "p" in "prod", v1.  Corpus:
 * tests/fuzz/owners/.
 *
 * Checks, besides the sanitizers:
 *  - a step that is refused leaves the target exactly as it was;
 *  - a step that is taken yields a valid kind, name and apiVersion (or
 *    none), keeps the namespace unless the owner is cluster-scoped, and
 *    points the target's strings at its own arrays;
 *  - the path of every target a step yields, when alertgw can read that
 *    kind, is one gw_k8s_path accepts (the next GET cannot leave it). */
#include "fuzz.h"

#include "k8sname.h"
#include "owners.h"

#define NFIELDS 5

static void set(char *dst, size_t cap, const char *v, const char *dflt)
{
    snprintf(dst, cap, "%s", v ? v : dflt);
}

GW_FUZZ_TARGET(owners)
{
    gw_fuzz_jansson();
    const char *f[NFIELDS];
    char *copy;
    gw_fuzz_fields(data, size, f, NFIELDS, &copy);
    json_t *obj = f[0] ? json_loads(f[0], 0, NULL) : NULL;
    gw_owned_target cur, before;
    memset(&cur, 0, sizeof cur);
    set(cur.kind, sizeof cur.kind, f[1], "Pod");
    set(cur.name, sizeof cur.name, f[2], "p");
    set(cur.ns, sizeof cur.ns, f[3], "prod");
    set(cur.api_version, sizeof cur.api_version, f[4], "v1");
    /* walk as gw_owner_resolve does: the same object answers every hop */
    for (int hop = 0; hop < 5; hop++) {
        before = cur;
        if (!gw_owner_step(NULL, obj, &cur)) {
            GW_FUZZ_REQUIRE(!memcmp(&before, &cur, sizeof cur), "a refused step changed the target");
            break;
        }
        GW_FUZZ_REQUIRE(gw_is_kind(cur.kind), "kind \"%s\"", cur.kind);
        GW_FUZZ_REQUIRE(gw_is_dns_subdomain(cur.name), "name \"%s\"", cur.name);
        GW_FUZZ_REQUIRE(!cur.api_version[0] || gw_is_api_version(cur.api_version),
                        "apiVersion \"%s\"", cur.api_version);
        GW_FUZZ_REQUIRE(gw_kind_cluster_scoped(NULL, cur.kind, cur.api_version) ? cur.ns[0] == '\0'
                                                          : !strcmp(cur.ns, before.ns),
                        "namespace \"%s\" after \"%s\"", cur.ns, before.ns);
        GW_FUZZ_REQUIRE(cur.t.kind == cur.kind && cur.t.name == cur.name &&
                            cur.t.namespace_ == cur.ns && cur.t.api_version == cur.api_version,
                        "the target does not point at its own strings");
        char path[600];
        if (gw_object_path(NULL, cur.kind, cur.api_version, cur.ns, cur.name, path, sizeof path)) {
            GW_FUZZ_REQUIRE(path[0] == '/' && !strstr(path, "/..") && !strchr(path, '?') &&
                                !strchr(path, '#'),
                            "path %s", path);
        }
    }
    json_decref(obj);
    free(copy);
    return 0;
}

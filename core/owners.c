/* SPDX-License-Identifier: Apache-2.0 */
/* owners.c - see owners.h. */
#include "owners.h"

#include <stdio.h>
#include <string.h>

#include "k8sname.h"
#include "kinds.h"

/* Whether kind (in the group of api_version, "": any) is cluster-scoped
 * (Node, PersistentVolume, Namespace, a cluster-scoped custom resource). */
static bool kind_cluster_scoped(const gw_kinds *k, const char *kind, const char *api_version)
{
    gw_kind d;
    return gw_kinds_find_av(k, kind, api_version, &d) && !d.namespaced;
}

bool gw_object_path(const gw_kinds *k, const char *kind, const char *api_version, const char *ns,
                    const char *name, char *out, size_t outlen)
{
    gw_kind d;
    if (!kind || !gw_kinds_find_av(k, kind, api_version, &d) || !name || !*name ||
        (d.namespaced && !(ns && *ns)))
        return false;
    char av[300];
    if (api_version && *api_version)
        snprintf(av, sizeof av, "%s", api_version); /* the version the caller names */
    else
        gw_kind_api_version(&d, av, sizeof av);
    return gw_k8s_path(out, outlen, av, d.namespaced ? ns : NULL, d.plural, name);
}

static void set_target(gw_owned_target *o)
{
    o->t.kind = o->kind;
    o->t.name = o->name;
    o->t.namespace_ = o->ns;
    o->t.api_version = o->api_version;
}

/* The controller ownerReference of a cached object, if any. */
static json_t *controller_of(json_t *cached)
{
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(cached, "owners"), i, ref) {
        if (json_is_true(json_object_get(ref, "controller")))
            return ref;
    }
    return NULL;
}

/* One hop of the walk: the controller ownerReference of cached (an object
 * as gw_kcache returns it) becomes *cur.  false, *cur unchanged, when there
 * is none or it is not valid Kubernetes syntax (see owners.h). */
static bool owner_step(const gw_kinds *kinds, json_t *cached, gw_owned_target *cur)
{
    json_t *ref = controller_of(cached);
    const char *k = json_string_value(json_object_get(ref, "kind"));
    const char *n = json_string_value(json_object_get(ref, "name"));
    json_t *avj = json_object_get(ref, "apiVersion");
    const char *av = json_string_value(avj);
    /* cluster data is checked like a body: these end up in the next GET */
    if (!gw_is_kind(k) || !gw_is_dns_subdomain(n) || (avj && !gw_is_api_version(av)) ||
        strlen(k) >= sizeof cur->kind || strlen(n) >= sizeof cur->name ||
        (av && strlen(av) >= sizeof cur->api_version))
        return false;
    snprintf(cur->kind, sizeof cur->kind, "%s", k);
    snprintf(cur->name, sizeof cur->name, "%s", n);
    snprintf(cur->api_version, sizeof cur->api_version, "%s", av ? av : "");
    if (kind_cluster_scoped(kinds, k, av))
        cur->ns[0] = '\0';
    set_target(cur);
    return true;
}

gw_err gw_owner_resolve(gw_kinds *kinds, gw_kcache *c, const gw_config *cfg, const gw_target *in,
                        long long now_ms, gw_owned_target *out, int *hops, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof *out);
    snprintf(out->kind, sizeof out->kind, "%s", in->kind);
    snprintf(out->name, sizeof out->name, "%s", in->name);
    snprintf(out->ns, sizeof out->ns, "%s", in->namespace_ ? in->namespace_ : "");
    snprintf(out->api_version, sizeof out->api_version, "%s",
             in->api_version ? in->api_version : "");
    set_target(out);
    *hops = 0;
    gw_owned_target orig = *out, cur = *out;
    for (long depth = 0; depth < cfg->owners_max_depth; depth++) {
        char path[600];
        if (!gw_object_path(kinds, cur.kind, cur.api_version, cur.ns, cur.name, path,
                            sizeof path)) {
            /* not a kind we can read: it is the top we know, unless
             * discovery has not seen it yet (a CRD installed since) */
            if (!gw_kinds_stale(kinds, now_ms) ||
                !gw_object_path(kinds, cur.kind, cur.api_version, cur.ns, cur.name, path,
                                sizeof path))
                break;
        }
        json_t *obj;
        int fetched;
        gw_err rc = gw_kcache_get(c, path, now_ms, cfg->owners_cache_ttl_ms, &obj, &fetched, err,
                                  errlen);
        if (rc == GW_ENOTFOUND && depth == 0 && gw_kinds_stale(kinds, now_ms)) {
            /* the version the target was given may be one the cluster no
             * longer serves (upgraded since the last discovery): discovery
             * ran again (rate-limited); retry once at its version */
            char again[600], av[sizeof cur.api_version];
            gw_kind d;
            if (gw_kinds_find_av(kinds, cur.kind, cur.api_version, &d)) {
                gw_kind_api_version(&d, av, sizeof av);
                if (gw_object_path(kinds, cur.kind, av, cur.ns, cur.name, again, sizeof again) &&
                    strcmp(again, path) &&
                    (rc = gw_kcache_get(c, again, now_ms, cfg->owners_cache_ttl_ms, &obj,
                                        &fetched, err, errlen)) == GW_OK) {
                    memcpy(cur.api_version, av, sizeof av);
                    memcpy(orig.api_version, av, sizeof av);
                    memcpy(out->api_version, av, sizeof av);
                }
            }
        }
        if (rc == GW_ENOTFOUND && depth > 0)
            break; /* an owner being deleted: its child is the top */
        gw_kind d;
        if (rc == GW_EKUBECONF && depth > 0 && gw_kinds_find_av(kinds, cur.kind, cur.api_version,
                                                                &d) && !d.builtin)
            break; /* a custom resource owner the gateway may not read (no
                    * RBAC for it): the top, as its child names it */
        if (rc) {
            /* the resource itself, as the spec asks: never half a chain */
            *out = orig;
            set_target(out);
            *hops = 0;
            if (rc == GW_ENOTFOUND)
                gw_fail(rc, err, errlen, "%s %s not found", cur.kind, path);
            return rc;
        }
        if (!owner_step(kinds, obj, &cur))
            break; /* no controller, or one we may not follow */
        *out = cur;
        set_target(out);
        (*hops)++;
    }
    return GW_OK;
}

int gw_scope_label(json_t *cached, const char *label)
{
    const char *v = json_string_value(json_object_get(json_object_get(cached, "labels"), label));
    return !v ? -1 : !strcmp(v, "true") ? 1 : !strcmp(v, "false") ? 0 : -1;
}

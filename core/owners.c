/* SPDX-License-Identifier: Apache-2.0 */
/* owners.c - see owners.h. */
#include "owners.h"

#include <stdio.h>
#include <string.h>

#include "k8sname.h"

static const struct {
    const char *kind, *api_version, *plural;
    bool        cluster;
} kinds[] = {
    { "Pod", "v1", "pods", false },
    { "Node", "v1", "nodes", true },
    { "Namespace", "v1", "namespaces", true },
    { "PersistentVolume", "v1", "persistentvolumes", true },
    { "PersistentVolumeClaim", "v1", "persistentvolumeclaims", false },
    { "Service", "v1", "services", false },
    { "ReplicationController", "v1", "replicationcontrollers", false },
    { "ReplicaSet", "apps/v1", "replicasets", false },
    { "Deployment", "apps/v1", "deployments", false },
    { "StatefulSet", "apps/v1", "statefulsets", false },
    { "DaemonSet", "apps/v1", "daemonsets", false },
    { "Job", "batch/v1", "jobs", false },
    /* batch/v1 from Kubernetes 1.21; the ownerReference names the version
     * the cluster serves, and this default only applies to label targets */
    { "CronJob", "batch/v1beta1", "cronjobs", false },
};

static int kind_index(const char *kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kinds[i].kind, kind))
            return (int)i;
    return -1;
}

bool gw_kind_cluster_scoped(const char *kind)
{
    int i = kind_index(kind);
    return i >= 0 && kinds[i].cluster;
}

bool gw_object_path(const char *kind, const char *api_version, const char *ns, const char *name,
                    char *out, size_t outlen)
{
    int i = kind_index(kind);
    if (i < 0 || !name || !*name || (!kinds[i].cluster && !(ns && *ns)))
        return false;
    const char *av = api_version && *api_version ? api_version : kinds[i].api_version;
    return gw_k8s_path(out, outlen, av, kinds[i].cluster ? NULL : ns, kinds[i].plural, name);
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

bool gw_owner_step(json_t *cached, gw_owned_target *cur)
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
    if (gw_kind_cluster_scoped(k))
        cur->ns[0] = '\0';
    set_target(cur);
    return true;
}

gw_err gw_owner_resolve(gw_kcache *c, const gw_config *cfg, const gw_target *in, long long now_ms,
                        gw_owned_target *out, int *hops, char *err, size_t errlen)
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
        if (!gw_object_path(cur.kind, cur.api_version, cur.ns, cur.name, path, sizeof path))
            break; /* not a kind we can read: it is the top we know */
        json_t *obj;
        int fetched;
        gw_err rc = gw_kcache_get(c, path, now_ms, cfg->owners_cache_ttl_ms, &obj, &fetched, err,
                                  errlen);
        if (rc == GW_ENOTFOUND && depth > 0)
            break; /* an owner being deleted: its child is the top */
        if (rc) {
            /* the resource itself, as the spec asks: never half a chain */
            *out = orig;
            set_target(out);
            *hops = 0;
            if (rc == GW_ENOTFOUND)
                gw_fail(rc, err, errlen, "%s %s not found", cur.kind, path);
            return rc;
        }
        if (!gw_owner_step(obj, &cur))
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

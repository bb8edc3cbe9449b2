/* SPDX-License-Identifier: Apache-2.0 */
/* target.c - target-resource selection from alert labels; see target.h. */
#include "target.h"

#include <string.h>

typedef struct {
    const char *label;
    const char *kind;
    const char *api_version;
    int         rank;       /* lower wins */
    bool        namespaced;
} kind_def;

/* Order inside one rank is the tie-break: first listed wins. */
static const kind_def kinds[] = {
    { "deployment",              "Deployment",              "apps/v1",           0, true  },
    { "statefulset",             "StatefulSet",             "apps/v1",           0, true  },
    { "daemonset",               "DaemonSet",               "apps/v1",           0, true  },
    { "cronjob",                 "CronJob",                 "batch/v1",          0, true  },
    { "replicaset",              "ReplicaSet",              "apps/v1",           1, true  },
    { "persistentvolumeclaim",   "PersistentVolumeClaim",   "v1",                1, true  },
    { "horizontalpodautoscaler", "HorizontalPodAutoscaler", "autoscaling/v2",    1, true  },
    { "ingress",                 "Ingress",                 "networking.k8s.io/v1", 1, true },
    { "persistentvolume",        "PersistentVolume",        "v1",                1, false },
    /* node before pod: kube-state-metrics alerts about a node (KubeNodeNotReady)
     * carry the exporter's own `pod` label from target discovery; Kubernaut's
     * gateway also ranks node above pod (BR-GATEWAY-184) */
    { "node",                    "Node",                    "v1",                2, false },
    { "pod",                     "Pod",                     "v1",                2, true  },
    { "job_name",                "Job",                     "batch/v1",          3, true  },
};

static const char *label_str(json_t *labels, const char *key)
{
    const char *v = json_string_value(json_object_get(labels, key));
    return v && *v ? v : NULL;
}

gw_err gw_target_from_labels(json_t *labels, bool allow_unknown, const char *fallback_name,
                             gw_target *t, char *err, size_t errlen)
{
    const kind_def *best = NULL;
    const char *best_name = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *v = label_str(labels, kinds[i].label);
        if (!v || !gw_is_dns_subdomain(v))
            continue;
        if (!best || kinds[i].rank < best->rank) {
            best = &kinds[i];
            best_name = v;
        }
    }
    const char *ns = label_str(labels, "exported_namespace");
    if (!ns)
        ns = label_str(labels, "namespace");
    if (ns && !gw_is_dns_label(ns))
        return gw_fail(GW_EINVAL, err, errlen,
                       "label namespace: \"%.63s\" is not a valid namespace name", ns);

    if (!best) {
        if (!allow_unknown)
            return gw_fail(GW_EINVAL, err, errlen,
                           "no target resource: expected a label naming the resource "
                           "(deployment, statefulset, daemonset, cronjob, pod, node, ... "
                           "or job_name) with a valid RFC 1123 name");
        t->kind = "Unknown";
        t->name = fallback_name;
        t->namespace_ = ns ? ns : "";
        t->api_version = "";
        return GW_OK;
    }
    if (best->namespaced && !ns)
        return gw_fail(GW_EINVAL, err, errlen,
                       "label namespace is required for a %s target", best->kind);
    t->kind = best->kind;
    t->name = best_name;
    t->namespace_ = best->namespaced ? ns : "";
    t->api_version = best->api_version;
    return GW_OK;
}

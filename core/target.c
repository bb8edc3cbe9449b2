/* SPDX-License-Identifier: Apache-2.0 */
/* target.c - target-resource selection from alert labels; see target.h. */
#include "target.h"

#include <string.h>


static const char *label_str(json_t *labels, const char *key)
{
    const char *v = json_string_value(json_object_get(labels, key));
    return v && *v ? v : NULL;
}

gw_err gw_target_from_labels(json_t *labels, bool allow_unknown, const char *fallback_name,
                             const gw_kind *const *workloads, size_t nworkloads, gw_target *t,
                             char *err, size_t errlen)
{
    size_t nb;
    const gw_kind_builtin *kinds = gw_kinds_builtin(&nb);
    const gw_kind_builtin *best = NULL;
    const gw_kind *best_crd = NULL;
    const char *best_name = NULL;
    int best_rank = 0;
    for (size_t i = 0; i < nb; i++) {
        if (kinds[i].rank < 0)
            continue;
        const char *v = label_str(labels, kinds[i].label);
        if (!v || !gw_is_dns_subdomain(v))
            continue;
        if (!best || kinds[i].rank < best_rank) {
            best = &kinds[i];
            best_name = v;
            best_rank = kinds[i].rank;
        }
    }
    /* workload custom resources rank with the built-in workloads (0); on
     * a tie the built-in kind wins, as it is listed first */
    for (size_t i = 0; i < nworkloads; i++) {
        const char *v = label_str(labels, workloads[i]->label);
        if (!v || !gw_is_dns_subdomain(v))
            continue;
        if ((!best && !best_crd) || (best && best_rank > 0)) {
            best = NULL;
            best_crd = workloads[i];
            best_name = v;
            best_rank = 0;
        }
    }
    const char *ns = label_str(labels, "exported_namespace");
    if (!ns)
        ns = label_str(labels, "namespace");
    if (ns && !gw_is_dns_label(ns))
        return gw_fail(GW_EINVAL, err, errlen,
                       "label namespace: \"%.63s\" is not a valid namespace name", ns);

    if (best_crd) {
        if (!ns)
            return gw_fail(GW_EINVAL, err, errlen,
                           "label namespace is required for a %s target", best_crd->kind);
        t->kind = best_crd->kind;
        t->name = best_name;
        t->namespace_ = ns;
        t->api_version = ""; /* the caller knows the cluster's version */
        return GW_OK;
    }
    if (!best) {
        if (!allow_unknown)
            return gw_fail(GW_ENOTFOUND, err, errlen,
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

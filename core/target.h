/* SPDX-License-Identifier: Apache-2.0 */
/* target.h - which Kubernetes resource an alert is about, from its labels.
 *
 * A label whose key is a lower-case Kubernetes kind (`deployment`, `pod`,
 * `node`, ...) and whose value is a valid RFC 1123 name is a candidate.
 * Workload kinds beat other kinds, Node and Pod come last, and `job_name`
 * (kube-state-metrics' Job) is used only when nothing else is; the kinds,
 * their ranks and versions are kinds.h's built-in table.  Workload custom
 * resources found by discovery (gw_kinds_workloads: `rollout` for an Argo
 * Rollout) rank with the built-in workloads, and a built-in kind wins a
 * tie.  `job`, `service`, `instance`, `endpoint`, `container` and
 * `namespace` never are candidates.
 * Namespace: `exported_namespace`, else `namespace`. */
#ifndef GW_TARGET_H
#define GW_TARGET_H

#include <jansson.h>
#include <stdbool.h>
#include "config.h"
#include "err.h"
#include "k8sname.h"
#include "kinds.h"

typedef struct {
    const char *kind;        /* "Deployment", "Pod", "Node", "Unknown" */
    const char *name;
    const char *namespace_;  /* "" for cluster-scoped targets */
    const char *api_version; /* "" when unknown */
} gw_target;

/* Fills t with strings borrowed from labels, the built-in table (static)
 * or workloads (a CRD target's kind; its api_version is "": the caller
 * sets the cluster's).  workloads may be NULL (nworkloads 0): the built-in
 * kinds only, as the adapters parse.  With no candidate: kind "Unknown"
 * named after fallback_name if allow_unknown, else GW_ENOTFOUND with err
 * naming the labels looked for.  A label that does not make sense (an
 * invalid namespace, a namespaced kind without one) is GW_EINVAL. */
gw_err gw_target_from_labels(json_t *labels, bool allow_unknown, const char *fallback_name,
                             const gw_kind *const *workloads, size_t nworkloads, gw_target *t,
                             char *err, size_t errlen);

#endif

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
#include "signal.h"

/* Fills t with strings borrowed from labels, the built-in table (static)
 * or workloads (a CRD target's kind; its api_version is "": the caller
 * sets the cluster's).  workloads may be NULL (nworkloads 0): the built-in
 * kinds only, as the adapters parse.  With no candidate: kind "Unknown"
 * named after fallback_name if allow_unknown, else GW_EINVAL with err
 * naming the labels looked for. */
gw_err gw_target_from_labels(json_t *labels, bool allow_unknown, const char *fallback_name,
                             const gw_kind *const *workloads, size_t nworkloads, gw_target *t,
                             char *err, size_t errlen);

/* Storage for what gw_target_refine puts in a target. */
typedef struct {
    char kind[64];
    char api_version[300];
} gw_target_store;

/* The gateway's second look at a target, with the cluster's kinds (k: the
 * worker's discovery, NULL: the built-in table):
 *   - a label target (s->label_target): a workload custom resource's label
 *     may win over the built-in pick (tie: the built-in kind); then the
 *     fingerprint is computed again, and a rejection for want of a target
 *     is lifted;
 *   - api_version becomes the version the cluster serves the kind at (the
 *     last good discovery, else the built-in table), for label targets and
 *     for targets that came without one.
 * Strings that do not come from the labels are copied into *st, which must
 * live as long as s->target is used. */
void gw_target_refine(const gw_kinds *k, const gw_config *cfg, gw_signal *s,
                      gw_target_store *st);

#endif

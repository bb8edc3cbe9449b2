/* SPDX-License-Identifier: Apache-2.0 */
/* target.h - which Kubernetes resource an alert is about, from its labels.
 *
 * A label whose key is a lower-case Kubernetes kind (`deployment`, `pod`,
 * `node`, ...) and whose value is a valid RFC 1123 name is a candidate.
 * Workload kinds beat other kinds, Pod and Node come last, and `job_name`
 * (kube-state-metrics' Job) is used only when nothing else is.  `job`,
 * `service`, `instance`, `endpoint`, `container` and `namespace` never are.
 * Namespace: `exported_namespace`, else `namespace`. */
#ifndef GW_TARGET_H
#define GW_TARGET_H

#include <jansson.h>
#include <stdbool.h>
#include "err.h"
#include "k8sname.h"
#include "signal.h"

/* Fills t with strings borrowed from labels (or static strings).  With no
 * candidate: kind "Unknown" named after fallback_name if allow_unknown, else
 * GW_EINVAL with err naming the labels looked for. */
gw_err gw_target_from_labels(json_t *labels, bool allow_unknown, const char *fallback_name,
                             gw_target *t, char *err, size_t errlen);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* owners.h - Kubernetes object paths, owner resolution and the scope label.
 *
 * Owner resolution (owners.resolve): alerts on different pods of one
 * Deployment are one problem.  Starting at the target, each object is read
 * (through the per-worker kcache) and its controller ownerReference
 * followed - Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob - at
 * most owners.max_depth hops.  The top owner becomes the target: it need
 * not be readable itself (an operator's custom resource), only its child.
 * A 404 on the target, or an owner of a kind discovery has not seen, asks
 * k for an early (rate-limited) discovery; after a 404 the target is read
 * once more at the version discovery then gives.
 *
 * Ownership: gw_owned_target holds copies; its .t points into it. */
#ifndef GW_OWNERS_H
#define GW_OWNERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"
#include "kcache.h"
#include "kinds.h"
#include "signal.h"

typedef struct {
    char      kind[64];
    char      name[254];
    char      ns[64];
    char      api_version[128];
    gw_target t;              /* points into the arrays above */
} gw_owned_target;

/* The REST path of an object ("/apis/apps/v1/namespaces/x/deployments/y").
 * The kind's plural and scope come from k (discovery, else the built-in
 * table; k may be NULL: the built-in table only), looked up in the group
 * of api_version; api_version "" or NULL uses the kind's version there.
 * false when the kind is not one the table knows (its plural is not
 * guessable safely), or when a part is not valid Kubernetes syntax
 * (gw_k8s_path checks and encodes). */
bool gw_object_path(const gw_kinds *k, const char *kind, const char *api_version, const char *ns,
                    const char *name, char *out, size_t outlen);

/* Climbs from in to its top controller owner.  *hops is how many owners
 * were followed (0: out is a copy of in).  A hop follows the controller
 * ownerReference of the object read; the namespace stays unless the
 * owner's kind is cluster-scoped.  An ownerReference whose kind, name or
 * apiVersion is not valid Kubernetes syntax ends the walk where it is:
 * cluster data is as untrusted as a body, and these values go into the
 * next GET's path.  The owner is read at the group/version its
 * ownerReference names, with the plural k gives for that kind and group.
 * An error (object unreadable, apiserver down) is returned with err set
 * and out a copy of in: the caller falls back to the resource itself and
 * counts the failure. */
gw_err gw_owner_resolve(gw_kinds *k, gw_kcache *c, const gw_config *cfg, const gw_target *in,
                        long long now_ms, gw_owned_target *out, int *hops, char *err,
                        size_t errlen);

/* What a cached object's `label` says about scope: 1 for "true", 0 for
 * "false", -1 when absent or anything else (the next source decides). */
int gw_scope_label(json_t *cached, const char *label);

#endif

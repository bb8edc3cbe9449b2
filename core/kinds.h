/* SPDX-License-Identifier: Apache-2.0 */
/* kinds.h - the Kubernetes kinds alertgw knows: one built-in table, and the
 * cluster's own answer from API discovery.
 *
 * The built-in table (kind, group, version, plural, scope, and the rank of
 * the label that names it as an alert's target) is the only place a kind's
 * version or plural is written down; target.c (labels -> target) and
 * owners.c (object paths, the owner walk) both read it here.  Its versions
 * are what current clusters serve (CronJob batch/v1).
 *
 * Discovery: a gw_kinds (one per worker process, in the gateway's context)
 * reads the cluster's discovery documents lazily, on first need:
 *   GET /api, /api/<preferred>, /apis, then /apis/<group>/<preferred> for
 *   every group, and the group's other versions, in the server's order,
 *   only when a built-in kind of that group is missing from the preferred
 *   one (CronJob is batch/v1beta1 only on Kubernetes <= 1.20).
 * Each kind is kept with the group, the first (preferred) version that
 * serves it, its plural, whether it is namespaced and whether it is a
 * workload custom resource (see gw_kinds_workloads).  Everything in it is
 * cluster data, checked like ownerReferences: an entry whose kind, group,
 * version or plural is not valid Kubernetes syntax is skipped.
 *
 * The answer is reused for the TTL (kubernetes.discovery_ttl; 0: no
 * discovery, the built-in table only).  A failed discovery (apiserver down,
 * 403) keeps the last good answer, or the built-in table when there is
 * none, and is tried again after GW_KINDS_RETRY_MS.  gw_kinds_stale() asks
 * for an early refresh (a 404 on a kind's path, an owner of an unknown
 * kind), at most once per GW_KINDS_RETRY_MS, so a flood of 404s is not a
 * flood of discovery calls.
 *
 * Bounded: each document is read into a buffer of at most
 * GW_KINDS_MAX_DOC_BYTES (a larger one fails that document), at most
 * GW_KINDS_MAX_DOCS documents are read per discovery, and at most
 * GW_KINDS_MAX kinds are kept (about 0.5 KB each); the read buffer is
 * released after each discovery.
 *
 * Ownership: gw_kinds owns its table; a gw_kind returned by a lookup points
 * into it and is valid until the next gw_kinds_ensure/gw_kinds_stale (copy
 * what must live longer).  Lookups on a NULL gw_kinds use the built-in
 * table only. */
#ifndef GW_KINDS_H
#define GW_KINDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "kcache.h"

#define GW_KINDS_MAX           1024
#define GW_KINDS_MAX_DOCS      256
#define GW_KINDS_MAX_DOC_BYTES (1u << 20)
#define GW_KINDS_RETRY_MS      30000

/* One kind as the cluster (or the built-in table) serves it. */
typedef struct {
    char kind[64];
    char group[254];     /* "" for the core group */
    char version[32];    /* the preferred version that serves it */
    char plural[64];
    char label[64];      /* the lower-case kind: the alert label naming it */
    bool namespaced;
    bool workload;       /* a workload custom resource: a label target */
    bool builtin;        /* in the built-in table */
} gw_kind;

/* A row of the built-in table, in label-rank order.  rank: lower wins when
 * several labels name targets; label: the label key naming it ("job_name"
 * for Job).  rank -1 and label NULL: never named by a label. */
typedef struct {
    const char *kind, *group, *version;
    const char *api_version; /* "<group>/<version>" or "<version>" */
    const char *plural, *label;
    int         rank;
    bool        namespaced;
} gw_kind_builtin;

/* The built-in table; *n its length. */
const gw_kind_builtin *gw_kinds_builtin(size_t *n);

typedef struct gw_kinds gw_kinds;

/* fetch/arg (the object cache's GET: gw_kcache_fetch) are borrowed for the
 * life of the table.  ttl_ms 0: never discover.  workload_kinds: the
 * config's target.workload_kinds (comma-separated kinds, copied). */
gw_kinds *gw_kinds_new(gw_kcache_fetch fetch, void *arg, long ttl_ms, const char *workload_kinds);
void      gw_kinds_free(gw_kinds *k);

/* Discovers when the last answer is older than the TTL (or an early
 * refresh was asked for).  *fetched: whether the apiserver was called.
 * An error (the fallback is in use) has err set; lookups work either way. */
gw_err gw_kinds_ensure(gw_kinds *k, long long now_ms, int *fetched, char *err, size_t errlen);

/* Asks for an early refresh (a 404 on a path a kind gave, an owner of an
 * unknown kind), and does it now when the last one is GW_KINDS_RETRY_MS
 * old.  true when it refreshed. */
bool gw_kinds_stale(gw_kinds *k, long long now_ms);

/* Whether discovery has succeeded at least once (tests, logs). */
bool gw_kinds_discovered(const gw_kinds *k);

/* The kind in the group of api_version ("apps/v1": apps, "v1": the core
 * group; "" or NULL: any group, the built-in group first), from the last
 * good discovery, else from the built-in table.  false: unknown.  *out is
 * a copy. */
bool gw_kinds_find_av(const gw_kinds *k, const char *kind, const char *api_version,
                      gw_kind *out);

/* "<group>/<version>", or "<version>" for the core group. */
void gw_kind_api_version(const gw_kind *d, char *out, size_t outlen);

/* The workload custom resources found by discovery: namespaced kinds,
 * not built-in, with a `scale` subresource or named in
 * target.workload_kinds, whose lower-case kind is not a built-in label or
 * one of the never-target labels.  *n of them; the array is the table's. */
const gw_kind *const *gw_kinds_workloads(const gw_kinds *k, size_t *n);

/* Number of kinds discovery keeps (tests). */
size_t gw_kinds_count(const gw_kinds *k);

#endif

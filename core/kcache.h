/* SPDX-License-Identifier: Apache-2.0 */
/* kcache.h - per-process cache of Kubernetes objects read by path.
 *
 * Environment classification, scope and owner resolution read namespaces,
 * the override ConfigMap and workload objects.  Each worker keeps what it
 * read for a TTL, so the hot path makes no Kubernetes call: one GET per
 * object per TTL per worker.  Only the parts the pipeline uses are kept
 * (metadata.labels, metadata.ownerReferences, data), so a Pod's spec does
 * not sit in memory.
 *
 * Answers are cached by kind: an object (200) and an absence (404) for the
 * caller's TTL; any other failure for at most GW_KCACHE_ERROR_TTL_MS, so a
 * down apiserver is asked once a few seconds, not once a request.  When a
 * refresh fails the last good answer is served (stale beats nothing for
 * labels that change a few times a year).
 *
 * Bounded: at most `cap` entries; when full, expired entries are dropped,
 * then everything (it is a cache).  Ownership: the cache owns every entry;
 * a returned json_t is borrowed and valid until the next gw_kcache_get. */
#ifndef GW_KCACHE_H
#define GW_KCACHE_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

#define GW_KCACHE_ERROR_TTL_MS 5000

typedef struct gw_kcache gw_kcache;

/* How the cache GETs a path: GW_OK with *http_status and the body in resp
 * (reset by the callee) whenever an answer arrived; an error otherwise.
 * gw_kube_request fits behind it; unit tests pass plain data. */
typedef gw_err (*gw_kcache_fetch)(void *arg, const char *path, long *http_status, gw_buf *resp,
                                  char *err, size_t errlen);

/* fetch/arg are borrowed for the life of the cache; scratch too. */
gw_kcache *gw_kcache_new(size_t cap, gw_kcache_fetch fetch, void *arg, gw_buf *scratch);
void       gw_kcache_free(gw_kcache *c);

/* The object at path (e.g. "/api/v1/namespaces/prod"), as a json object
 * {"labels":{...},"owners":[...],"data":{...}} (absent parts are empty).
 * GW_OK with *obj set; GW_ENOTFOUND (404); otherwise the error of the last
 * fetch (GW_EKUBE temporary, GW_EKUBECONF e.g. 403) with err set - unless a
 * stale answer exists, which is then returned as GW_OK.  *fetched tells
 * whether this call went to the apiserver (for tests and metrics). */
gw_err gw_kcache_get(gw_kcache *c, const char *path, long long now_ms, long ttl_ms,
                     json_t **obj, int *fetched, char *err, size_t errlen);

#endif

/* dedup.h - deduplication state in Redis: one hash per fingerprint.
 *
 * Every operation is one EVALSHA of one Lua script, so each decision is
 * atomic and costs one round trip.  Hash fields: state (pending|active),
 * owner + lease (the creation claim), count, first, last (ms since epoch),
 * name + ns (the RemediationRequest), synced (ms of the last status sync),
 * resolved (ms of the last resolved notification).
 *
 * Life of a fingerprint:
 *   hit on absent key -> pending claim (PEXPIRE = lease) -> GW_DEDUP_NEW; the
 *   caller looks Kubernetes up, creates, then activate (or seed, or release).
 *   hit on pending    -> GW_DEDUP_PENDING (the caller waits and retries).
 *   hit on active     -> count+1, GW_DEDUP_DUP, TTL refreshed.
 * Redis is a cache of Kubernetes: losing a key only costs a lookup. */
#ifndef GW_DEDUP_H
#define GW_DEDUP_H

#include <stdbool.h>
#include "err.h"
#include "redis.h"

typedef enum { GW_DEDUP_NEW, GW_DEDUP_DUP, GW_DEDUP_PENDING, GW_DEDUP_NONE } gw_dedup_kind;

typedef struct {
    gw_dedup_kind kind;
    long long     count;
    long long     first_ms;
    long long     last_ms;
    long long     resolved_ms;  /* 0: never */
    bool          sync_due;     /* this occurrence should patch status */
    char          name[254];    /* request name (DUP, get) */
    char          ns[64];       /* request namespace (DUP, get) */
} gw_dedup_result;

typedef struct {
    gw_redis   *redis;        /* borrowed */
    const char *prefix;       /* borrowed key prefix, e.g. "alertgw:" */
    long        ttl_s;
    long        lease_ms;
    long        sync_interval_ms;
    char        sha[41];      /* script SHA, filled on first use */
} gw_dedup;

void   gw_dedup_init(gw_dedup *d, gw_redis *r, const char *prefix, long ttl_s, long lease_ms,
                     long sync_interval_ms);

/* Records one occurrence.  owner is a token unique to this attempt. */
gw_err gw_dedup_hit(gw_dedup *d, const char *fp, long long now_ms, const char *owner,
                    gw_dedup_result *res);
/* The claim became a created request.  res gets count/first.  Returns
 * GW_EBUSY when the claim was lost (lease expired and taken over). */
gw_err gw_dedup_activate(gw_dedup *d, const char *fp, long long now_ms, const char *owner,
                         const char *name, const char *ns, gw_dedup_result *res);
/* Kubernetes already has an open request for fp: record it as active with
 * at least count occurrences (count includes this one). */
gw_err gw_dedup_seed(gw_dedup *d, const char *fp, long long now_ms, const char *owner,
                     const char *name, const char *ns, long long count, long long first_ms,
                     gw_dedup_result *res);
/* Gives up a pending claim (create failed). */
gw_err gw_dedup_release(gw_dedup *d, const char *fp, const char *owner);
/* The request `name` is finished or gone: the next occurrence creates anew. */
gw_err gw_dedup_forget(gw_dedup *d, const char *fp, const char *name);
/* A resolved notification: marks an active entry.  res->kind is DUP when
 * there was one (with name/ns), else NONE. */
gw_err gw_dedup_resolve(gw_dedup *d, const char *fp, long long now_ms, gw_dedup_result *res);
/* Reads without changing anything: res->kind DUP (active), PENDING or NONE. */
gw_err gw_dedup_get(gw_dedup *d, const char *fp, gw_dedup_result *res);

#endif

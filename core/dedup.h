/* SPDX-License-Identifier: Apache-2.0 */
/* dedup.h - deduplication and storm state in Redis.
 *
 * Every operation is one EVALSHA of one Lua script, so each decision -
 * duplicate, new, storm member, storm opener, over the namespace cap - is
 * atomic and costs one round trip.
 *
 * Keys (prefix "alertgw:" by default):
 *   fp:<fingerprint>   hash: state (pending|active), owner + lease (the
 *                      creation claim), count, first, last (ms), name + ns
 *                      (the RemediationRequest), synced (ms of the last
 *                      status sync), dirty (queued for a trailing sync),
 *                      resolved (ms), escalated, storm (<group id> when the
 *                      signal was folded into a storm's aggregate), flip
 *                      (a resolved notification came: the next firing is a
 *                      flip)
 *   dirty              zset: "f:<fingerprint>" / "s:<group>" -> when their
 *                      status sync is due (the trailing flush)
 *   recent:<group>     zset: resource -> ms of its last new signal
 *   rate:<group>       occurrences of the group (new and duplicate) since its
 *                      first one, which started the key's one-minute life
 *   storm:<group>      hash: state (open: no aggregate yet | pending: its
 *                      aggregate being created | active), owner, lease, type
 *                      (rate|pattern), opened, joined (last new member), last,
 *                      count, name + ns (the aggregate), alertname, target ns,
 *                      synced, dirty
 *   stormres:<group>   zset: resource -> ms it joined the storm
 *   flap:<fingerprint> hash: res (the last notification was resolved),
 *                      flips (their times within flapping.window),
 *                      flapping, last (ms of the last resolved or flip),
 *                      name + ns (the fingerprint's latest request); lives
 *                      flapping.window after its last write (dedup.lua,
 *                      "THE FLAPPING RULE")
 *   nscap:<ns>:<min>   new requests in a namespace in one minute
 *   budget:<min>       new requests (and storm aggregates) the gateway made
 *                      in one minute (limits.creates_per_minute)
 *   budget:<sender>:<min>  the same for one sender
 *                      (limits.creates_per_sender_per_minute)
 * A group is one (namespace, alert name): hex of SHA-256, see
 * gw_dedup_group().
 *
 * With storm.enabled every hit counts on rate:<group> (once per
 * occurrence: a retry passes counted).  A hit on a known fingerprint that
 * makes it storm.rate_threshold + 1 opens a rate storm without an aggregate
 * (storm state open, storm_detected "rate") unless one is open, and keeps
 * its own answer.
 * Life of a fingerprint:
 *   hit on absent key -> storm with an aggregate open? join it (AGGREGATED) :
 *   storm open without one, or a threshold reached (pattern first)? open it
 *   if need be and create its aggregate (STORM_NEW, claim, counted in the
 *   creation budgets; OVER_BUDGET when one is spent) : pending claim
 *   (NEW); the caller looks Kubernetes up, then either seeds (an open
 *   request was there) or meets the create limits (gw_dedup_create_limits:
 *   OVER_BUDGET, CAPPED), creates and activates (or releases).  Duplicates
 *   and storm members are never limited.
 *   hit on pending    -> PENDING (the caller waits and retries).
 *   hit on active     -> count+1, DUP (AGGREGATED for storm members).
 * Redis is a cache of Kubernetes: losing a key only costs a lookup. */
#ifndef GW_DEDUP_H
#define GW_DEDUP_H

#include <stdbool.h>
#include "config.h"
#include "err.h"
#include "redis.h"

typedef enum {
    GW_DEDUP_NEW,        /* claim held: create */
    GW_DEDUP_DUP,        /* counted on name/ns */
    GW_DEDUP_PENDING,    /* someone else is creating: wait */
    GW_DEDUP_NONE,       /* (resolve/get) nothing there */
    GW_DEDUP_AGGREGATED, /* folded into the storm aggregate name/ns */
    GW_DEDUP_STORM_NEW,  /* this signal opened a storm: create the aggregate */
    GW_DEDUP_CAPPED,     /* (create limits) namespace over storm.namespace_cap this minute */
    GW_DEDUP_OVER_BUDGET /* a create over limits.creates_per_[sender_]minute */
} gw_dedup_kind;

typedef struct {
    gw_dedup_kind kind;
    long long     count;
    long long     first_ms;
    long long     last_ms;
    long long     resolved_ms;  /* 0: never */
    bool          sync_due;     /* this occurrence should patch status */
    bool          escalate;     /* this occurrence crossed the escalation threshold */
    bool          escalated;    /* (get) the request was escalated */
    bool          member;       /* a storm member (AGGREGATED, get) */
    long long     storm_total;  /* resources in the storm */
    char          storm_type[16]; /* "rate" or "pattern" */
    char          name[254];    /* request name (DUP, AGGREGATED, get) */
    char          ns[64];       /* request namespace */
    char          storm_detected[16]; /* (hit) "rate"/"pattern": this occurrence opened a
                                         storm of that type (gateway_storms_detected_total);
                                         "" none */
    long long     flips;        /* flips of the fingerprint within flapping.window (hit:
                                   only when this occurrence was a flip, else 0; get) */
    int           flapping;     /* 0 no, 1 flapping, 2 this occurrence made it flap.
                                   NEW with flapping and a name: the firing belongs to
                                   the flapping request name/ns (absorbed); NONE (get)
                                   with flips: no entry, only the flip history */
    bool          over_sender;  /* OVER_BUDGET: the sender's budget (else the gateway's) */
    long          budget_retry_s; /* OVER_BUDGET: seconds until the budget's minute ends */
} gw_dedup_result;

/* What a hit of a fingerprint would meet, read without a write
 * (gw_dedup_peek, for explain). */
typedef struct {
    char      state[16];       /* "", "pending" or "active" */
    long long count;
    char      name[254], ns[64]; /* the request (active) */
    bool      escalated;
    bool      member;          /* a storm member */
    char      storm_state[16]; /* the group's storm: "", "open", "pending", "active" */
    char      storm_type[16];
    long long storm_opened_ms, storm_joined_ms, storm_resources;
    long long recent;          /* resources with a new signal in the pattern window */
    bool      recent_mine;     /* this resource is one of them */
    long long rate;            /* the group's occurrences this minute */
    long long budget, sender_budget, nscap; /* creates counted this minute */
} gw_dedup_peek_result;

/* Where a signal belongs for storm detection; all strings borrowed. */
typedef struct {
    const char *group;        /* gw_dedup_group() of (namespace, alert name) */
    const char *ns;           /* the signal's namespace ("" cluster-scoped) */
    const char *alertname;
    const char *resource;     /* "Kind/name" */
    long        escalate_at;  /* occurrence that escalates; 0: never */
    const char *sender;       /* hex id of the sender, for its creation budget */
    bool        counted;      /* a retry of an occurrence counted already (after a
                                 pending wait, or a restart): not counted again */
} gw_dedup_signal;

typedef struct {
    gw_redis        *redis;   /* borrowed */
    const gw_config *cfg;     /* borrowed: prefix, TTLs, storm thresholds */
    char             sha[41]; /* script SHA, filled on first use */
    /* the script's arguments that come from the config, as decimal
     * strings made once (gw_dedup_init), not on every hit */
    char             ttl[24], lease[24], sync[24], rate[24], pattern[24], pattern_win[24],
                     agg_win[24], max_win[24], gmax[24], smax[24], cap[24], esc_win[24],
                     flap_at[24], flap_win[24];
} gw_dedup;

void gw_dedup_init(gw_dedup *d, gw_redis *r, const gw_config *cfg);

/* 16 hex of SHA-256(ns "\n" alertname) into out (17 bytes). */
void gw_dedup_group(const char *ns, const char *alertname, char out[17]);

/* Records one occurrence.  owner is a token unique to this attempt. */
gw_err gw_dedup_hit(gw_dedup *d, const char *fp, const gw_dedup_signal *sig, long long now_ms,
                    const char *owner, gw_dedup_result *res);
/* The limits on creates, met right before an ordinary create (after the
 * lookup in Kubernetes found no open request, so that a re-seed - a
 * duplicate Redis had forgotten - is never limited): the creation budgets
 * of this minute (limits.*, the gateway's and the sender's) and the
 * namespace cap (storm.namespace_cap).  res->kind: OVER_BUDGET (with
 * over_sender, budget_retry_s) or CAPPED when one is spent, and nothing is
 * counted; else NONE, and the create is counted in all three. */
gw_err gw_dedup_create_limits(gw_dedup *d, const char *ns, const char *sender, long long now_ms,
                              gw_dedup_result *res);
/* The create that gw_dedup_create_limits counted at now_ms (the same
 * value: the same minute's keys) failed: its count is given back, so an
 * apiserver that refuses or fails creates does not spend the budgets.
 * ns NULL: a storm's aggregate, which gw_dedup_hit counted in the budgets
 * only. */
gw_err gw_dedup_create_uncount(gw_dedup *d, const char *ns, const char *sender, long long now_ms);

/* The claim became a created request.  res gets count/first.  Returns
 * GW_EBUSY when the claim was lost (lease expired and taken over). */
gw_err gw_dedup_activate(gw_dedup *d, const char *fp, long long now_ms, const char *owner,
                         const char *name, const char *ns, gw_dedup_result *res);
/* Kubernetes already has an open request for fp: record it as active with
 * at least count occurrences (count includes this one). */
gw_err gw_dedup_seed(gw_dedup *d, const char *fp, long long now_ms, const char *owner,
                     const char *name, const char *ns, long long count, long long first_ms,
                     gw_dedup_result *res);
/* Gives up a pending claim (create failed); with group, also the storm
 * this claim was opening. */
gw_err gw_dedup_release(gw_dedup *d, const char *fp, const char *group, const char *owner);
/* The storm's aggregate was created: the storm and the opener become
 * active.  GW_EBUSY when the claim was lost. */
gw_err gw_dedup_storm_activate(gw_dedup *d, const char *fp, const char *group, long long now_ms,
                               const char *owner, const char *name, const char *ns,
                               gw_dedup_result *res);
/* A status patch carrying count landed (count -1: the patch failed) on a
 * fingerprint's own request (storm false, id the fingerprint) or on a
 * storm's aggregate (storm true, id the group).  Two patches can land in
 * the other order than their counts (two workers, a slow apiserver); when
 * Redis's count is higher than what landed, the request is queued for the
 * trailing flush, so the count in Kubernetes converges.  Each writer checks
 * after its own write, so the last one to land always sees the final count.
 * A failed patch is queued no sooner than max(dedup.status_sync_interval,
 * 1 s) from now. */
gw_err gw_dedup_synced(gw_dedup *d, bool storm, const char *id, long long count,
                       long long now_ms);
/* The request `name` is finished or gone: the next occurrence creates anew. */
gw_err gw_dedup_forget(gw_dedup *d, const char *fp, const char *name);
/* Same for a storm's aggregate: the storm closes. */
gw_err gw_dedup_storm_forget(gw_dedup *d, const char *group, const char *name);
/* A resolved notification: marks an active entry.  res->kind is DUP when
 * there was one (with name/ns), else NONE.  With flapping.threshold > 0 the
 * fingerprint's next firing is a flip (recorded even without an entry). */
gw_err gw_dedup_resolve(gw_dedup *d, const char *fp, long long now_ms, gw_dedup_result *res);
/* Reads without changing anything: res->kind DUP (active), PENDING or NONE;
 * member/storm_type/storm_total for storm members; flips/flapping as of
 * now_ms (also with NONE: a flip history outliving the entry). */
gw_err gw_dedup_get(gw_dedup *d, const char *fp, long long now_ms, gw_dedup_result *res);
/* The state gw_dedup_hit would meet for fp and sig at now_ms (its entry,
 * the group's storm and counts, the creation budgets' counts of the
 * minute), read in one script call that writes nothing. */
gw_err gw_dedup_peek(gw_dedup *d, const char *fp, const gw_dedup_signal *sig, long long now_ms,
                     gw_dedup_peek_result *out);

/* ---- the trailing flush --------------------------------------------------
 * A status sync that was not due when its occurrence arrived is queued in
 * `dirty`; gw_dedup_flush claims up to max entries whose time has come
 * (atomically: each goes to exactly one worker) and returns them. */
typedef struct {
    bool      storm;           /* a storm aggregate (annotations too) */
    char      id[65];          /* fingerprint or group */
    char      name[254], ns[64];
    long long count, first_ms, last_ms;
    char      storm_type[16];
    long long storm_total;
    char      resources[4096]; /* storm: comma-separated, at most storm.max_resources */
} gw_flush_item;

/* Fills items[0..*n).  *next_due_ms: when the earliest remaining entry is
 * due (0: none), so an idle worker knows how long it may sleep. */
gw_err gw_dedup_flush(gw_dedup *d, long long now_ms, gw_flush_item *items, size_t max, size_t *n,
                      long long *next_due_ms);

/* A storm's aggregate details (also while its aggregate is being created),
 * for the create and inline syncs: same fields as a flush item.
 * GW_ENOTFOUND when the storm is gone. */
gw_err gw_dedup_storm_info(gw_dedup *d, const char *group, gw_flush_item *out);

#endif

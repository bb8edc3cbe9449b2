/* SPDX-License-Identifier: Apache-2.0 */
/* recorder.h - the request history: each decision about a
 * RemediationRequest written as a core/v1 Event whose involvedObject is
 * the request, so that `kubectl describe rr NAME` shows why the gateway
 * did what it did (recording.events).
 *
 * Reasons (all type Normal: an event forwarder pointed back at the
 * gateway's Kubernetes-event route ignores Normal events, so the history
 * can never feed itself back as signals):
 *   Created        the request was made for a new fingerprint (or as a
 *                  storm's aggregate);
 *   Deduplicated   occurrences counted on it; count = duplicates so far;
 *   StormMember    resources folded into a storm aggregate; count = the
 *                  resources it holds;
 *   Escalated      its priority was raised;
 *   Resolved       a resolved notification arrived for it;
 *   Reopened       it was made because the fingerprint's previous request
 *                  had finished (the message names that one);
 *   FlapAbsorbed   a firing of its flapping fingerprint counted on it
 *                  although it had finished, instead of a new request;
 *                  count = the fingerprint's flips in flapping.window.
 *
 * One Event per request and reason, under a name fixed by both
 * (gw_event_name), so any worker of any host updates the same object:
 * a repeat patches count, lastTimestamp and message (a merge patch of
 * absolute values) instead of adding an Event.  Deduplicated and
 * StormMember are written by the status sync of their request (at most
 * once per request per dedup.status_sync_interval), never per signal: a
 * storm of duplicates is a handful of Event writes.
 *
 * Best effort: every call is one attempt of at most GW_KUBE_BEST_EFFORT_MS
 * that the circuit breaker does not count (kube.h); a failure is counted
 * (gateway_event_write_failures_total), logged at warn, and changes no
 * answer.
 *
 * Ownership: gw_recorder borrows everything it points to (the context's
 * kube client, metrics, configuration and scratch buffer); the json_t the
 * builders return belongs to the caller (json_decref). */
#ifndef GW_RECORDER_H
#define GW_RECORDER_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "kube.h"
#include "log.h"
#include "metrics.h"
#include "signal.h"

typedef enum {
    GW_EV_CREATED,
    GW_EV_DEDUPLICATED,
    GW_EV_STORM_MEMBER,
    GW_EV_ESCALATED,
    GW_EV_RESOLVED,
    GW_EV_REOPENED,
    GW_EV_FLAP_ABSORBED,
    GW_EV_N
} gw_ev_reason;

/* An Event's message is cut to this many bytes (at a UTF-8 boundary). */
#define GW_EV_MESSAGE_MAX 1024
/* Event names are DNS subdomains of at most 253 characters. */
#define GW_EV_NAME_MAX 254

/* One decision about one request; strings borrowed. */
typedef struct {
    gw_ev_reason reason;
    const char  *ns;       /* the request's namespace (the Event's too) */
    const char  *name;     /* the request's name */
    const char  *uid;      /* its metadata.uid; NULL or "": unknown (kubectl
                              describe, which selects on the uid, then does
                              not list the Event) */
    long long    count;    /* the Event's count (>= 1) */
    long long    at_ms;    /* lastTimestamp (and firstTimestamp of a new Event) */
    const char  *message;
} gw_event;

typedef struct {
    gw_kube         *kube;
    gw_metrics      *metrics;
    const gw_config *cfg;
    gw_buf          *scratch;
    gw_log_level     log_min;
    char             host[65]; /* source.host and reportingInstance */
} gw_recorder;

/* Fills r (borrowing every pointer) and takes the host name. */
void gw_recorder_init(gw_recorder *r, const gw_config *cfg, gw_kube *k, gw_metrics *m,
                      gw_buf *scratch, gw_log_level log_min);

/* "Created", "Deduplicated", ... ("" out of range). */
const char *gw_event_reason_name(gw_ev_reason reason);

/* The Event's name for (request, reason): "<request>.<reason in lower
 * case>", or "alertgw-<32 hex of SHA-256 of the request name>.<reason>"
 * when that would pass 253 characters.  out: GW_EV_NAME_MAX bytes. */
void gw_event_name(const char *rr_name, gw_ev_reason reason, char out[GW_EV_NAME_MAX]);

/* The whole Event for a POST (reportingComponent alertgw,
 * reportingInstance host).  NULL on ENOMEM. */
json_t *gw_event_object(const gw_config *cfg, const char *host, const gw_event *ev);
/* The merge patch of an existing Event: count, lastTimestamp, message. */
json_t *gw_event_patch(const gw_event *ev);

/* The Deduplicated Event's count after a status sync that wrote
 * `occurrences`: the duplicates, occurrences - 1.  0: nothing to record
 * (the request's first occurrence alone). */
long long gw_event_duplicates(long long occurrences);

/* metadata.uid of the object in an apiserver answer (json[0..len)) into
 * out (64 bytes); false, and out "", when there is none or it is not a
 * plausible uid (1-63 of [0-9a-zA-Z-]). */
bool gw_event_uid_of(const char *json, size_t len, char out[64]);

/* Writes ev (when recording.events is on): the Event is created, or
 * patched when it exists.  Never fails the caller: a failure is counted,
 * logged at warn under rid (may be NULL), and returned for tests. */
gw_err gw_record(gw_recorder *r, const char *rid, const gw_event *ev);

/* ---- the decisions, as the pipeline makes them ---------------------------
 * Each follows a successful write to the request (create, status or
 * metadata patch); uid is read from that write's answer with
 * gw_recorder_uid before the buffer is reused.  No uid (recording off, or
 * an answer without the object): nothing is written.  Strings borrowed. */

/* uid of the object in answer (r->scratch after an rrstore write) into
 * out; "" when recording is off (no parse) or there is none. */
void gw_recorder_uid(const gw_recorder *r, const gw_buf *answer, char out[64]);

/* Created (replaced "" or NULL) or Reopened (replaced: the finished
 * request this one follows, with its phase, "" unknown). */
void gw_record_created(gw_recorder *r, const char *rid, const char *ns, const char *name,
                       const char *uid, const gw_signal *s, const char *env, const char *prio,
                       const char *replaced, const char *replaced_phase);
/* FlapAbsorbed: occurrence `count` of a flapping fingerprint (flips in
 * the window) counted on this finished request. */
void gw_record_flap_absorbed(gw_recorder *r, const char *rid, const char *ns, const char *name,
                             const char *uid, const char *alertname, long long flips,
                             long long count, long long at_ms);
/* Created, for a storm's aggregate. */
void gw_record_storm_created(gw_recorder *r, const char *rid, const char *ns, const char *name,
                             const char *uid, const char *storm_type, const char *alertname,
                             const char *signal_ns, long long resources);
/* Deduplicated, after a status sync that wrote `occurrences` (nothing for
 * the first occurrence alone). */
void gw_record_duplicates(gw_recorder *r, const char *rid, const char *ns, const char *name,
                          const char *uid, long long occurrences, long long first_ms,
                          long long last_ms);
/* StormMember, after the sync of a storm aggregate: total resources
 * (listed: comma-separated, as on the annotation). */
void gw_record_storm_members(gw_recorder *r, const char *rid, const char *ns, const char *name,
                             const char *uid, const char *storm_type, long long total,
                             long long occurrences, const char *listed, long long last_ms);
/* Escalated; why says from which priority to which, and why. */
void gw_record_escalated(gw_recorder *r, const char *rid, const char *ns, const char *name,
                         const char *uid, const char *why, long long at_ms);
/* Resolved: a resolved notification of alertname. */
void gw_record_resolved(gw_recorder *r, const char *rid, const char *ns, const char *name,
                        const char *uid, const char *alertname, long long at_ms);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* rrphase.h - whether an existing RemediationRequest still takes its
 * fingerprint's signals, by upstream Kubernaut's rules.  Pure: reads a
 * parsed object and a time, does no I/O, so the rules are unit-tested
 * apart from the apiserver (rrstore.c applies them to what it reads).
 *
 * A request is open - the next signal with its fingerprint is a duplicate
 * of it - when it is not being deleted and
 *   - status.overallPhase is not terminal (Completed, Failed, TimedOut,
 *     Skipped, Cancelled; no phase yet is not terminal), or
 *   - it is terminal and status.completionStatus.outcome is
 *     "ManualReviewRequired" (a human has to look first), or
 *   - it is terminal and status.routingStatus.nextAllowedExecution (RFC
 *     3339) is later than now (the orchestrator's backoff).
 * Otherwise it is closed and the next signal creates a new request.
 *
 * When several requests of one fingerprint are open, the choice is by
 * state, in this order: a non-terminal one (the remediation under way),
 * then one awaiting manual review, then the one in backoff with the latest
 * nextAllowedExecution.  Ties keep the first seen. */
#ifndef GW_RRPHASE_H
#define GW_RRPHASE_H

#include <jansson.h>
#include <stdbool.h>

/* Ordered: a larger value is preferred (gw_rr_prefer). */
typedef enum {
    GW_RR_CLOSED = 0,     /* finished, or being deleted */
    GW_RR_BACKOFF,        /* terminal, nextAllowedExecution still ahead */
    GW_RR_MANUAL_REVIEW,  /* terminal, outcome ManualReviewRequired */
    GW_RR_ACTIVE,         /* not terminal */
} gw_rr_open;

/* The state of obj (a RemediationRequest as the apiserver returns it;
 * borrowed) at now_ms.  *until_ms (may be NULL) receives
 * nextAllowedExecution for GW_RR_BACKOFF, 0 otherwise.  A value of the
 * wrong JSON type or an unparsable time counts as absent. */
gw_rr_open gw_rr_state(const json_t *obj, long long now_ms, long long *until_ms);

/* true when (s, until_ms) is a better pick than (best, best_until_ms):
 * a higher state, or both in backoff and a later time. */
bool gw_rr_prefer(gw_rr_open s, long long until_ms, gw_rr_open best, long long best_until_ms);

/* The pick among the items of a list (a JSON array; borrowed) for
 * fingerprint fp: items whose spec.signalFingerprint differs from fp are
 * skipped, and so are items without one when need_fp is set (a label
 * match vouches for them otherwise).  Returns the chosen item (borrowed
 * from items) with *state and *until_ms, or NULL (and GW_RR_CLOSED) when
 * none is open. */
json_t *gw_rr_pick(const json_t *items, const char *fp, bool need_fp, long long now_ms,
                   gw_rr_open *state, long long *until_ms);

#endif

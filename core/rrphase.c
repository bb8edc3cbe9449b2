/* SPDX-License-Identifier: Apache-2.0 */
/* rrphase.c - see rrphase.h.
 *
 * The status fields are the orchestrator's (upstream's RemediationRequest
 * CRD, status.completionStatus and status.routingStatus); alertgw only
 * reads them.  Everything read here comes from the cluster, so every
 * field is type-checked and a malformed one counts as absent: a garbled
 * backoff time cannot keep a request open for ever, and a missing phase
 * is "not started yet", i.e. open, as upstream treats it. */
#include "rrphase.h"

#include <string.h>

#include "clock.h"

/* true for Completed, Failed, TimedOut, Skipped, Cancelled. */
static bool phase_terminal(const char *phase)
{
    static const char *const terminal[] = { "Completed", "Failed", "TimedOut", "Skipped",
                                            "Cancelled" };
    if (!phase)
        return false;
    for (size_t i = 0; i < sizeof terminal / sizeof terminal[0]; i++)
        if (!strcmp(phase, terminal[i]))
            return true;
    return false;
}

static const char *str_at(const json_t *obj, const char *a, const char *b, const char *c)
{
    const json_t *v = json_object_get(obj, a);
    if (v && b)
        v = json_object_get(v, b);
    if (v && c)
        v = json_object_get(v, c);
    return json_string_value(v); /* NULL unless a string */
}

gw_rr_open gw_rr_state(const json_t *obj, long long now_ms, long long *until_ms)
{
    if (until_ms)
        *until_ms = 0;
    if (!json_is_object(obj) || json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp"))
        return GW_RR_CLOSED;
    if (!phase_terminal(str_at(obj, "status", "overallPhase", NULL)))
        return GW_RR_ACTIVE;
    const char *outcome = str_at(obj, "status", "completionStatus", "outcome");
    if (outcome && !strcmp(outcome, "ManualReviewRequired"))
        return GW_RR_MANUAL_REVIEW;
    const char *next = str_at(obj, "status", "routingStatus", "nextAllowedExecution");
    long long t;
    if (next && gw_parse_rfc3339(next, &t) && t > now_ms) {
        if (until_ms)
            *until_ms = t;
        return GW_RR_BACKOFF;
    }
    return GW_RR_CLOSED;
}

bool gw_rr_prefer(gw_rr_open s, long long until_ms, gw_rr_open best, long long best_until_ms)
{
    if (s != best)
        return s > best;
    return s == GW_RR_BACKOFF && until_ms > best_until_ms;
}

json_t *gw_rr_pick(const json_t *items, const char *fp, bool need_fp, long long now_ms,
                   gw_rr_open *state, long long *until_ms)
{
    json_t *best = NULL;
    gw_rr_open best_s = GW_RR_CLOSED;
    long long best_until = 0;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        const char *name = str_at(item, "metadata", "name", NULL);
        const char *sfp = str_at(item, "spec", "signalFingerprint", NULL);
        if (!name || (sfp ? strcmp(sfp, fp) != 0 : need_fp))
            continue;
        long long until;
        gw_rr_open s = gw_rr_state(item, now_ms, &until);
        if (s == GW_RR_CLOSED || !gw_rr_prefer(s, until, best_s, best_until))
            continue;
        best = item;
        best_s = s;
        best_until = until;
        if (s == GW_RR_ACTIVE)
            break; /* nothing beats it */
    }
    *state = best_s;
    *until_ms = best_until;
    return best;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* k8sevent.h - the Kubernetes Event adapter.
 *
 * One Event per request, in any of three shapes: core/v1 (`involvedObject`,
 * `lastTimestamp`, `count`), events.k8s.io/v1 (`regarding`, `note`,
 * `series`, `eventTime`), and kubernetes-event-exporter's (core/v1 plus
 * extra fields, which are ignored).  Warning and Error events become a
 * signal named after `reason` with severity warning (or the configured
 * override); Normal events are accepted and ignored.  The target is the
 * event's object, so an event and an alert about the same workload have the
 * same fingerprint.  Events older than events.max_age or dated more than
 * events.max_future ahead are refused: a replayed backlog must not start
 * remediations.
 *
 * Because of that clock check the result is not a pure function of the
 * body, so these bodies do not go through the body memo. */
#ifndef GW_K8SEVENT_H
#define GW_K8SEVENT_H

#include "config.h"
#include "err.h"
#include "signal.h"

/* Like gw_am_parse; now_ms is the clock the freshness check uses.  Problems
 * with the event itself (no reason, no object, stale) are GW_EINVAL with err
 * saying which field; the batch (always one signal) is only for accepted
 * events.  The caller frees out with gw_batch_free(). */
gw_err gw_k8sevent_parse(const gw_config *cfg, const char *body, size_t len, long long now_ms,
                         gw_batch *out, char *err, size_t errlen);

#endif

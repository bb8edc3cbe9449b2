/* SPDX-License-Identifier: Apache-2.0 */
/* unavailable.h - every `detail` the gateway's 503 answers carry, in one
 * list.
 *
 * A 503 tells the sender that nothing was recorded and that it should send
 * again (with Retry-After).  Each reason has one macro here, used where the
 * answer is written (handle.c, webhook.c, pipeline.c, reply.c, tokenreview.c); a macro with conversions
 * is a printf format.  unavailable.c lists them all (unavailable_int.h),
 * and the unit test tests/test_err.c checks that list against the table
 * of 503 reasons in docs/api.md, both ways.  lighttpd's own 503s (the rate limit;
 * lighttpd-errors.lua when no worker answers) are in that table too,
 * marked as lighttpd's.
 *
 * Everything here is a string literal: nothing to own or free. */
#ifndef GW_UNAVAILABLE_H
#define GW_UNAVAILABLE_H

#include <stddef.h>

/* a webhook's signal: Redis or the apiserver failed (gw_err GW_EREDIS,
 * GW_EKUBE), the circuit breaker refused the call */
#define GW_503_REDIS "Redis unavailable: the signal was not recorded; retry later"
#define GW_503_KUBE "Kubernetes API unavailable: the signal was not recorded; retry later"
#define GW_503_KUBE_BREAKER                                                                 \
    "Kubernetes API unavailable (circuit breaker open after repeated failures): the signal " \
    "was not recorded; retry later"
/* a webhook's signal held back (GW_EBUSY): the limits, a concurrent creation */
#define GW_503_NAMESPACE_CAP                                                               \
    "namespace \"%.63s\" reached storm.namespace_cap (%ld new requests per minute); retry " \
    "later"
#define GW_503_SENDER_BUDGET                                                                \
    "this sender reached its creation budget (%ld new RemediationRequests a minute, "      \
    "limits.creates_per_sender_per_minute): the signal was not recorded; retry later "     \
    "(duplicates are still counted)"
#define GW_503_GATEWAY_BUDGET                                                               \
    "the gateway reached its creation budget (%ld new RemediationRequests a minute, "      \
    "limits.creates_per_minute): the signal was not recorded; retry later (duplicates are " \
    "still counted)"
#define GW_503_PENDING                                                                      \
    "another request is still creating this fingerprint's RemediationRequest; retry"
/* a webhook refused before it is read: the pool's in-flight cap */
#define GW_503_IN_FLIGHT                                                                    \
    "gateway busy: %ld webhooks in flight, the limit is %ld (server.max_in_flight); retry "  \
    "later"
/* token review (auth.<route>: tokenreview) */
#define GW_503_REVIEW_DOWN "authentication backend (Kubernetes API) unavailable; retry later"
#define GW_503_REVIEW_RATE                                                                  \
    "too many token reviews: the gateway bounds its calls to the Kubernetes API; retry later"
/* GET /api/v1/signals/{fingerprint} */
#define GW_503_LOOKUP_REDIS "Redis unavailable; retry later"
/* GET /readyz */
#define GW_503_READY_REDIS "redis not reachable (cause in the worker log)"
#define GW_503_READY_KUBE "kubernetes API not reachable (cause in the worker log)"
#define GW_503_READY_REFUSED "kubernetes API answered %ld listing %s (CRD installed? RBAC?)"
#define GW_503_READY_BREAKER                                                                \
    "kubernetes API circuit breaker %s after repeated failures; next probe in %ld s"
#define GW_503_SHUTTING_DOWN "shutting down"
/* the web server's own errors, re-dispatched to a worker (and sent the
 * same by lighttpd-errors.lua when no worker answers) */
#define GW_503_WORKER_FAILED                                                                \
    "a gateway worker failed while handling this request; it may not have been recorded; " \
    "retry (repeats are deduplicated)"
#define GW_503_OVERLOADED "gateway overloaded or restarting; retry"

#endif

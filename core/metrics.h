/* SPDX-License-Identifier: Apache-2.0 */
/* metrics.h - Prometheus metrics summed over every worker process.
 *
 * The counters live in one file mapped MAP_SHARED by every worker of a pool
 * (metrics.path; by default $ALERTGW_STATE_DIR/metrics.shm, the directory
 * lighttpd.conf gives the pool).  Workers are separate processes spawned by
 * the web server, so a file is the one thing they can all find; each
 * increment is a relaxed atomic add on it, lock-free, no syscall.  A worker
 * that restarts maps the same file and the totals carry on.  Any worker
 * renders the whole pool's totals for GET /metrics.
 *
 * Cardinality is fixed by the layout: every label takes values from a short
 * list below, anything else is "other".  If the file cannot be used the
 * worker keeps private counters (its own share only) and says so in the
 * log; metrics never stop alerts.
 *
 * Ownership: gw_metrics is created by gw_metrics_open and freed by
 * gw_metrics_close; the mapping is the process's. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "breaker.h"
#include "buf.h"
#include "err.h"
#include "route.h"

typedef struct gw_metrics gw_metrics;

/* Label values (index into the layout). */
typedef enum { GW_SRC_PROMETHEUS, GW_SRC_GRAFANA, GW_SRC_K8S_EVENTS, GW_SRC_N } gw_m_source;
typedef enum { GW_SEV_CRITICAL, GW_SEV_WARNING, GW_SEV_INFO, GW_SEV_OTHER, GW_SEV_N } gw_m_severity;
/* gateway_signals_rejected_total{reason}: the 4xx refusals, and the
 * signals not acted on by an abuse limit (a namespace that does not exist:
 * 200 ignored; a creation budget: 503) or for want of a target resource
 * (200 ignored). */
typedef enum {
    GW_REJ_VALIDATION, GW_REJ_TOO_LARGE, GW_REJ_MEDIA_TYPE, GW_REJ_METHOD, GW_REJ_UNAUTHORIZED,
    GW_REJ_FORBIDDEN, GW_REJ_NAMESPACE_NOT_FOUND, GW_REJ_CREATION_BUDGET, GW_REJ_NO_TARGET,
    GW_REJ_N
} gw_m_reject;
typedef enum { GW_CERR_UNAVAILABLE, GW_CERR_REJECTED, GW_CERR_INTERNAL, GW_CERR_N } gw_m_create_err;
typedef enum { GW_STORM_PATTERN, GW_STORM_RATE, GW_STORM_N } gw_m_storm;
/* gateway_auth_failures_total{mode,reason}: only the pairs that can occur
 * are exported (metrics.c); mode "none" never fails. */
typedef enum {
    GW_AM_NONE, GW_AM_BEARER, GW_AM_HMAC, GW_AM_MTLS, GW_AM_TOKENREVIEW, GW_AM_IP, GW_AM_N
} gw_m_auth_mode;
typedef enum {
    GW_AUTH_MISSING, GW_AUTH_MISMATCH, GW_AUTH_FORBIDDEN, GW_AUTH_EXPIRED, GW_AUTH_ERROR, GW_AUTH_N
} gw_m_auth_reason;
typedef enum {
    GW_C_DEDUPLICATED, GW_C_AGGREGATED, GW_C_CREATED, GW_C_IGNORED, GW_C_ESCALATIONS,
    GW_C_OWNER_FAILURES, GW_C_SYNC_INLINE, GW_C_SYNC_FLUSH, GW_C_NS_CAPPED, GW_C_KUBE_RETRIES,
    GW_C_BREAKER_OPENED, GW_C_BREAKER_REJECTED, GW_C_HEARTBEATS, GW_C_EVENTS_RECORDED,
    GW_C_EVENT_FAILURES, GW_C_FLAPPING_DETECTED, GW_C_FLAPS_ABSORBED, GW_C_N
} gw_m_counter;
typedef enum { GW_UP_REDIS, GW_UP_KUBE, GW_UP_N } gw_m_up;

/* Maps path (created if absent, re-created if its layout is older).  On
 * failure *m still works on private memory and err says why (GW_ECONFIG). */
gw_err gw_metrics_open(const char *path, gw_metrics **m, char *err, size_t errlen);
void   gw_metrics_close(gw_metrics *m);

void gw_metrics_received(gw_metrics *m, gw_m_source src, gw_m_severity sev);
void gw_metrics_count(gw_metrics *m, gw_m_counter c);
void gw_metrics_rejected(gw_metrics *m, gw_m_reject why);
void gw_metrics_create_error(gw_metrics *m, gw_m_create_err why);
void gw_metrics_storm(gw_metrics *m, gw_m_storm type);
void gw_metrics_auth_failure(gw_metrics *m, gw_m_auth_mode mode, gw_m_auth_reason why);
void gw_metrics_up(gw_metrics *m, gw_m_up which, bool up);
/* A heartbeat alert arrived at now_ms (wall clock): counts it and moves
 * gateway_heartbeat_last_seen_timestamp_seconds forward (the latest over
 * the pool, never back). */
void gw_metrics_heartbeat(gw_metrics *m, long long now_ms);
/* In-flight webhooks across the pool (server.max_in_flight).  Each worker
 * owns one slot of the shared file, claimed on first use (a dead worker's
 * slot is taken over); enter marks it busy and returns how many workers are
 * busy now, this one included (when that exceeds cap > 0, busy slots of
 * dead workers are not counted).  leave clears it.  Private counters: 1.
 * The slot belongs to the process that opened m: a forked child must open
 * its own handle rather than use its parent's. */
long gw_metrics_enter(gw_metrics *m, long cap);
void gw_metrics_leave(gw_metrics *m);
/* The cap itself (server.max_in_flight, 0: none), exported as
 * gateway_requests_in_flight_limit so that an alert can compare the two.
 * Per process (every worker of a pool has the same configuration). */
void gw_metrics_set_in_flight_limit(gw_metrics *m, long cap);

/* The label values ("bearer", "mismatch"), for log lines that match them. */
const char *gw_metrics_auth_mode_name(gw_m_auth_mode mode);
const char *gw_metrics_auth_reason_name(gw_m_auth_reason why);
/* One request: route, HTTP status, duration. */
void gw_metrics_observe(gw_metrics *m, gw_route route, int status, double seconds);

/* The Kubernetes circuit breaker every worker of the pool shares
 * (breaker.h); it lives in the same mapping, so it is private when the
 * counters are (gateway_metrics_shared 0).  Owned by m. */
gw_breaker *gw_metrics_breaker(gw_metrics *m);

/* Appends the Prometheus text exposition (version 0.0.4) to b. */
gw_err gw_metrics_write(const gw_metrics *m, const char *version, gw_buf *b);

/* Requests the web server answered itself, which no worker counter sees:
 * lighttpd counts them and hands the counts to the worker that renders
 * /metrics as the FastCGI parameter GATEWAY_EDGE_REFUSALS (lighttpd-edge-
 * metrics.lua), exactly "rate_limited=<n>,no_worker=<n>" (decimal, no sign,
 * no leading zero).  Appends gateway_edge_refusals_total{reason} to b.
 * spec NULL (another web server, or CGI): nothing, GW_OK.  Anything not of
 * that exact form: nothing appended, GW_EINVAL (the parameter is the web
 * server's, not a client's, so that is a configuration fault to log). */
gw_err gw_metrics_write_edge(const char *spec, gw_buf *b);

#endif

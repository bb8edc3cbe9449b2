/* SPDX-License-Identifier: Apache-2.0 */
/* metrics.c - see metrics.h.
 *
 * The file (shm.h: mapping, versioning, creation under flock) holds one
 * struct, `layout`: the counters, the in-flight slots and the circuit
 * breaker every worker of the pool shares.  A change to it bumps LAYOUT, so
 * a new binary starts a fresh file instead of misreading an old one. */
#include "metrics.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "clock.h"
#include "shm.h"

#define MAGIC 0x616c65727467774dull /* "alertgwM" */
#define LAYOUT 9 /* 2: the circuit breaker and its counters; 3: in-flight slots, auth failures by mode and reason, rejected forbidden; 4: rejected namespace_not_found, creation_budget; 5: the header is shm.c's; 6: the heartbeat, rejected no_target; 7: event writes and failures; 8: route explain; 9: flapping detected, flaps absorbed */
/* Worker slots for the in-flight count (server.max_in_flight); a pool has
 * at most this many workers sharing one file. */
#define NSLOTS 256

/* Status codes the histogram keeps apart; others are "other". */
static const int codes[] = { 200, 201, 202, 207, 400, 401, 403, 404, 405, 413, 415, 500, 503 };
#define NCODES (sizeof codes / sizeof codes[0] + 1)
/* Upper bounds in seconds; the last bucket is +Inf. */
static const double bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                 5, 10 };
#define NBOUNDS (sizeof bounds / sizeof bounds[0])

typedef _Atomic uint64_t ctr;

typedef struct {
    ctr      received[GW_SRC_N][GW_SEV_N];
    ctr      counters[GW_C_N];
    ctr      rejected[GW_REJ_N];
    ctr      create_errors[GW_CERR_N];
    ctr      storms[GW_STORM_N];
    ctr      auth[GW_AM_N][GW_AUTH_N];
    _Atomic int64_t up[GW_UP_N];                       /* -1 unknown, 0, 1 */
    _Atomic int64_t heartbeat_ms; /* the latest heartbeat alert; until the first, the
                                   * time the file was made */
    ctr      buckets[GW_ROUTE_N][NCODES][NBOUNDS + 1]; /* non-cumulative */
    ctr      sum_us[GW_ROUTE_N][NCODES];
    struct {
        _Atomic int32_t pid;  /* owner; 0 free */
        _Atomic int32_t busy; /* 1 while the owner handles a webhook */
    } slot[NSLOTS];
    gw_breaker breaker;
} layout;

struct gw_metrics {
    gw_shm  shm;      /* the mapping (or private memory) l lives in */
    layout *l;
    int     slot;     /* this process's slot; -1 not claimed yet */
    long    in_flight_limit; /* server.max_in_flight; 0 none */
};

/* A new layout (zeroed by shm.c): "up" unknown, the breaker closed. */
static void init_layout(void *area)
{
    layout *l = area;
    for (int i = 0; i < GW_UP_N; i++)
        atomic_store(&l->up[i], -1);
    atomic_store(&l->heartbeat_ms, gw_now_ms());
    gw_breaker_init(&l->breaker);
}

gw_err gw_metrics_open(const char *path, gw_metrics **out, char *err, size_t errlen)
{
    gw_metrics *m = calloc(1, sizeof *m);
    *out = m;
    if (!m)
        return GW_ENOMEM;
    m->slot = -1;
    gw_err rc = gw_shm_open(path, sizeof(layout), MAGIC, LAYOUT, init_layout, &m->shm, err,
                            errlen);
    m->l = m->shm.area;
    return rc;
}

void gw_metrics_close(gw_metrics *m)
{
    if (!m)
        return;
    gw_shm_close(&m->shm);
    free(m);
}

gw_breaker *gw_metrics_breaker(gw_metrics *m)
{
    return &m->l->breaker;
}

#define ADD(x) atomic_fetch_add_explicit(&(x), 1, memory_order_relaxed)

void gw_metrics_received(gw_metrics *m, gw_m_source src, gw_m_severity sev)
{
    if (m && src < GW_SRC_N && sev < GW_SEV_N)
        ADD(m->l->received[src][sev]);
}

void gw_metrics_count(gw_metrics *m, gw_m_counter c)
{
    if (m && c < GW_C_N)
        ADD(m->l->counters[c]);
}

void gw_metrics_rejected(gw_metrics *m, gw_m_reject why)
{
    if (m && why < GW_REJ_N)
        ADD(m->l->rejected[why]);
}

void gw_metrics_create_error(gw_metrics *m, gw_m_create_err why)
{
    if (m && why < GW_CERR_N)
        ADD(m->l->create_errors[why]);
}

void gw_metrics_storm(gw_metrics *m, gw_m_storm type)
{
    if (m && type < GW_STORM_N)
        ADD(m->l->storms[type]);
}

void gw_metrics_auth_failure(gw_metrics *m, gw_m_auth_mode mode, gw_m_auth_reason why)
{
    if (m && mode < GW_AM_N && why < GW_AUTH_N)
        ADD(m->l->auth[mode][why]);
}

void gw_metrics_heartbeat(gw_metrics *m, long long now_ms)
{
    if (!m)
        return;
    ADD(m->l->counters[GW_C_HEARTBEATS]);
    /* the latest over the pool: a worker whose clock reads earlier, or
     * that lost a race, leaves a later value alone */
    int64_t seen = atomic_load_explicit(&m->l->heartbeat_ms, memory_order_relaxed);
    while (seen < now_ms && !atomic_compare_exchange_weak_explicit(
                                &m->l->heartbeat_ms, &seen, now_ms, memory_order_relaxed,
                                memory_order_relaxed))
        ;
}

void gw_metrics_up(gw_metrics *m, gw_m_up which, bool up)
{
    if (m && which < GW_UP_N)
        atomic_store_explicit(&m->l->up[which], up ? 1 : 0, memory_order_relaxed);
}

/* ---- in-flight webhooks --------------------------------------------------- */

/* A slot whose owner is gone: freed so a restarted worker can take it.  The
 * pid test has a false "alive" when the pid was reused; that slot then counts
 * as one phantom request until the process with that pid exits. */
static bool owner_gone(int32_t pid)
{
    return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static void claim_slot(gw_metrics *m)
{
    pid_t me = getpid();
    m->slot = -1;
    for (int i = 0; i < NSLOTS && m->slot < 0; i++) {
        int32_t cur = atomic_load(&m->l->slot[i].pid);
        if (cur == (int32_t)me || ((cur == 0 || owner_gone(cur)) &&
                                   atomic_compare_exchange_strong(&m->l->slot[i].pid, &cur,
                                                                  (int32_t)me))) {
            atomic_store(&m->l->slot[i].busy, 0);
            m->slot = i;
        }
    }
}

static long count_busy(const layout *l, bool verify)
{
    long n = 0;
    for (int i = 0; i < NSLOTS; i++) {
        if (!atomic_load_explicit(&l->slot[i].busy, memory_order_relaxed))
            continue;
        if (verify && owner_gone(atomic_load(&l->slot[i].pid)))
            continue;
        n++;
    }
    return n;
}

long gw_metrics_enter(gw_metrics *m, long cap)
{
    if (!m)
        return 1;
    /* claimed once: the handle is this process's (a child opens its own),
     * so no getpid() per request - a system call costs several µs here */
    if (m->slot < 0)
        claim_slot(m);
    if (m->slot < 0)
        return 1; /* more workers than slots: this one is not counted */
    atomic_store(&m->l->slot[m->slot].busy, 1);
    long n = count_busy(m->l, false);
    if (cap > 0 && n > cap)
        n = count_busy(m->l, true); /* over the cap: do not refuse because of a dead worker */
    return n;
}

void gw_metrics_leave(gw_metrics *m)
{
    if (m && m->slot >= 0)
        atomic_store(&m->l->slot[m->slot].busy, 0);
}

void gw_metrics_set_in_flight_limit(gw_metrics *m, long cap)
{
    if (m)
        m->in_flight_limit = cap > 0 ? cap : 0;
}

static size_t code_index(int status)
{
    for (size_t i = 0; i < NCODES - 1; i++)
        if (codes[i] == status)
            return i;
    return NCODES - 1;
}

void gw_metrics_observe(gw_metrics *m, gw_route route, int status, double seconds)
{
    if (!m || route >= GW_ROUTE_N)
        return;
    size_t c = code_index(status), b = 0;
    while (b < NBOUNDS && seconds > bounds[b])
        b++;
    ADD(m->l->buckets[route][c][b]);
    uint64_t us = seconds > 0 ? (uint64_t)(seconds * 1e6 + 0.5) : 0;
    atomic_fetch_add_explicit(&m->l->sum_us[route][c], us, memory_order_relaxed);
}

/* ---- exposition ---------------------------------------------------------- */

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static const char *const sources[] = { "prometheus", "grafana", "kubernetes-events" };
static const char *const severities[] = { "critical", "warning", "info", "other" };
static const char *const rejects[] = { "validation", "too_large", "unsupported_media_type",
                                       "method_not_allowed", "unauthorized", "forbidden",
                                       "namespace_not_found", "creation_budget", "no_target" };
static const char *const create_errs[] = { "unavailable", "rejected", "internal" };
static const char *const storm_types[] = { "pattern", "rate" };
static const char *const auth_modes[] = { "none", "bearer", "hmac", "mtls", "tokenreview", "ip" };
static const char *const auth_reasons[] = { "missing", "mismatch", "forbidden", "expired",
                                            "error" };
/* The (mode, reason) pairs that can happen (auth.c), so the family has a
 * fixed, small set of series, each present from the start. */
static const unsigned char auth_pairs[][2] = {
    { GW_AM_BEARER, GW_AUTH_MISSING },      { GW_AM_BEARER, GW_AUTH_MISMATCH },
    { GW_AM_BEARER, GW_AUTH_FORBIDDEN },    { GW_AM_HMAC, GW_AUTH_MISSING },
    { GW_AM_HMAC, GW_AUTH_MISMATCH },       { GW_AM_HMAC, GW_AUTH_EXPIRED },
    { GW_AM_MTLS, GW_AUTH_MISSING },        { GW_AM_MTLS, GW_AUTH_MISMATCH },
    { GW_AM_MTLS, GW_AUTH_FORBIDDEN },      { GW_AM_TOKENREVIEW, GW_AUTH_MISSING },
    { GW_AM_TOKENREVIEW, GW_AUTH_MISMATCH }, { GW_AM_TOKENREVIEW, GW_AUTH_FORBIDDEN },
    { GW_AM_TOKENREVIEW, GW_AUTH_ERROR },   { GW_AM_IP, GW_AUTH_FORBIDDEN },
};

const char *gw_metrics_auth_mode_name(gw_m_auth_mode mode)
{
    return mode < GW_AM_N ? auth_modes[mode] : "other";
}

const char *gw_metrics_auth_reason_name(gw_m_auth_reason why)
{
    return why < GW_AUTH_N ? auth_reasons[why] : "other";
}

static const struct {
    const char *name, *help;
} counters[GW_C_N] = {
    [GW_C_DEDUPLICATED] = { "gateway_signals_deduplicated_total",
                            "Signals counted on an existing RemediationRequest." },
    [GW_C_AGGREGATED] = { "gateway_signals_aggregated_total",
                          "Signals folded into a storm's aggregated RemediationRequest." },
    [GW_C_CREATED] = { "gateway_crds_created_total", "RemediationRequests created." },
    [GW_C_IGNORED] = { "gateway_signals_ignored_total",
                       "Signals accepted but not acted on (resolved, Normal events, out of scope, "
                       "no target resource)." },
    [GW_C_HEARTBEATS] = { "gateway_heartbeats_total",
                          "Heartbeat alerts received (signals.heartbeat_alerts, e.g. Watchdog)." },
    [GW_C_ESCALATIONS] = { "gateway_escalations_total",
                           "RemediationRequests whose priority was raised by escalation." },
    [GW_C_FLAPPING_DETECTED] = { "gateway_flapping_detected_total",
                                 "Fingerprints that started flapping (more than flapping.threshold "
                                 "resolve-then-fire flips within flapping.window)." },
    [GW_C_FLAPS_ABSORBED] = { "gateway_flaps_absorbed_total",
                              "Firings of a flapping fingerprint counted on its finished "
                              "RemediationRequest instead of starting a new one." },
    [GW_C_OWNER_FAILURES] = { "gateway_owner_resolution_failures_total",
                              "Owner lookups that fell back to the resource itself." },
    [GW_C_SYNC_INLINE] = { "gateway_status_syncs_inline_total",
                           "status.deduplication patches made by the occurrence that was due." },
    [GW_C_SYNC_FLUSH] = { "gateway_status_syncs_flushed_total",
                          "status.deduplication patches made by the trailing flush." },
    [GW_C_NS_CAPPED] = { "gateway_namespace_cap_refusals_total",
                         "New signals answered 503 because their namespace hit storm.namespace_cap." },
    [GW_C_KUBE_RETRIES] = { "gateway_kube_retries_total",
                            "Kubernetes API calls repeated after a network error, 5xx or 429." },
    [GW_C_BREAKER_OPENED] = { "gateway_circuit_breaker_opened_total",
                              "Times the Kubernetes circuit breaker opened (or re-opened after a failed probe)." },
    [GW_C_BREAKER_REJECTED] = { "gateway_circuit_breaker_rejections_total",
                                "Kubernetes API calls refused at once because the circuit breaker was open." },
    [GW_C_EVENTS_RECORDED] = { "gateway_events_recorded_total",
                               "Kubernetes Events written (created or updated) about RemediationRequests (recording.events)." },
    [GW_C_EVENT_FAILURES] = { "gateway_event_write_failures_total",
                              "Kubernetes Event writes that failed; the signal's answer is unchanged." },
};

static gw_err head(gw_buf *b, const char *name, const char *type, const char *help)
{
    return gw_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter family with one label: `name{<label>="<values[i]>"} <ctrs[i]>`. */
static gw_err labelled(gw_buf *b, const char *name, const char *help, const char *label,
                       const char *const *values, const ctr *ctrs, int n)
{
    gw_err rc = head(b, name, "counter", help);
    for (int i = 0; i < n && !rc; i++)
        rc = gw_buf_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, values[i],
                           (unsigned long long)LOAD(ctrs[i]));
    return rc;
}

/* One count of GATEWAY_EDGE_REFUSALS: 1-19 digits, no leading zero. */
static bool edge_count(const char **p, unsigned long long *out)
{
    const char *s = *p;
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
        return false;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned long long)(s[i] - '0');
    *out = v;
    *p = s + n;
    return true;
}

gw_err gw_metrics_write_edge(const char *spec, gw_buf *b)
{
    static const char *const reasons[] = { "rate_limited", "no_worker" };
    enum { N = sizeof reasons / sizeof reasons[0] };
    if (!spec)
        return GW_OK;
    unsigned long long v[N];
    const char *p = spec;
    for (size_t i = 0; i < N; i++) {
        size_t n = strlen(reasons[i]);
        if ((i > 0 && *p++ != ',') || strncmp(p, reasons[i], n) || p[n] != '=')
            return GW_EINVAL;
        p += n + 1;
        if (!edge_count(&p, &v[i]))
            return GW_EINVAL;
    }
    if (*p)
        return GW_EINVAL;
    const char *name = "gateway_edge_refusals_total";
    gw_err rc = head(b, name, "counter",
                     "Requests the web server answered itself, before any worker saw them, by "
                     "reason: rate_limited (the per-client rate limit), no_worker (no worker "
                     "could answer); since the web server started.");
    for (size_t i = 0; i < N && !rc; i++)
        rc = gw_buf_printf(b, "%s{reason=\"%s\"} %llu\n", name, reasons[i], v[i]);
    return rc;
}

gw_err gw_metrics_write(const gw_metrics *m, const char *version, gw_buf *b)
{
    layout *l = m->l;
    gw_err rc = head(b, "gateway_build_info", "gauge", "alertgw version; always 1.");
    rc = rc ? rc : gw_buf_printf(b, "gateway_build_info{version=\"%s\"} 1\n", version);
    rc = rc ? rc : head(b, "gateway_metrics_shared", "gauge",
                        "1 when these counters are the whole worker pool's, 0 when this worker's only.");
    rc = rc ? rc : gw_buf_printf(b, "gateway_metrics_shared %d\n", m->shm.shared ? 1 : 0);

    rc = rc ? rc : head(b, "gateway_signals_received_total", "counter",
                        "Signals received, by source and severity class.");
    for (int s = 0; s < GW_SRC_N; s++)
        for (int v = 0; v < GW_SEV_N; v++)
            rc = rc ? rc : gw_buf_printf(b, "gateway_signals_received_total{source=\"%s\","
                                            "severity=\"%s\"} %llu\n", sources[s], severities[v],
                                         (unsigned long long)LOAD(l->received[s][v]));
    for (int c = 0; c < GW_C_N; c++) {
        rc = rc ? rc : head(b, counters[c].name, "counter", counters[c].help);
        rc = rc ? rc : gw_buf_printf(b, "%s %llu\n", counters[c].name,
                                     (unsigned long long)LOAD(l->counters[c]));
    }
    rc = rc ? rc : labelled(b, "gateway_crd_creation_errors_total",
                            "RemediationRequest creations that failed, by reason.", "reason",
                            create_errs, l->create_errors, GW_CERR_N);
    rc = rc ? rc : labelled(b, "gateway_storms_detected_total", "Alert storms opened, by type.",
                            "type", storm_types, l->storms, GW_STORM_N);
    rc = rc ? rc : labelled(b, "gateway_signals_rejected_total",
                            "Requests or signals refused (4xx), or not acted on because of an abuse limit, by reason.", "reason",
                            rejects, l->rejected, GW_REJ_N);
    rc = rc ? rc : head(b, "gateway_auth_failures_total", "counter",
                        "Requests refused by authentication or the IP allowlist, by mode and reason.");
    for (size_t i = 0; i < sizeof auth_pairs / sizeof auth_pairs[0]; i++) {
        int mo = auth_pairs[i][0], re = auth_pairs[i][1];
        rc = rc ? rc : gw_buf_printf(b, "gateway_auth_failures_total{mode=\"%s\",reason=\"%s\"} "
                                        "%llu\n", auth_modes[mo], auth_reasons[re],
                                     (unsigned long long)LOAD(l->auth[mo][re]));
    }
    static const char *const ups[][2] = {
        { "gateway_redis_up", "1 when the last Redis call succeeded, 0 when it failed." },
        { "gateway_kube_api_up", "1 when the last Kubernetes API call succeeded, 0 when it failed." },
    };
    for (int i = 0; i < GW_UP_N; i++) {
        long long v = (long long)LOAD(l->up[i]);
        rc = rc ? rc : head(b, ups[i][0], "gauge", ups[i][1]);
        if (v >= 0) /* not yet known: no sample rather than a guess */
            rc = rc ? rc : gw_buf_printf(b, "%s %lld\n", ups[i][0], v);
    }

    rc = rc ? rc : head(b, "gateway_heartbeat_last_seen_timestamp_seconds", "gauge",
                        "When the latest heartbeat alert arrived (Unix time); before the first, "
                        "when the metrics file was made.");
    rc = rc ? rc : gw_buf_printf(b, "gateway_heartbeat_last_seen_timestamp_seconds %.3f\n",
                                 (double)LOAD(l->heartbeat_ms) / 1000.0);
    rc = rc ? rc : head(b, "gateway_requests_in_flight", "gauge",
                        "Webhooks being handled by the worker pool now.");
    rc = rc ? rc : gw_buf_printf(b, "gateway_requests_in_flight %ld\n", count_busy(l, true));
    rc = rc ? rc : head(b, "gateway_requests_in_flight_limit", "gauge",
                        "server.max_in_flight: the most webhooks the pool handles at once; 0 no cap.");
    rc = rc ? rc : gw_buf_printf(b, "gateway_requests_in_flight_limit %ld\n", m->in_flight_limit);
    rc = rc ? rc : head(b, "gateway_circuit_breaker_state", "gauge",
                        "Kubernetes API circuit breaker: 0 closed, 1 open, 2 half-open (probing).");
    rc = rc ? rc : gw_buf_printf(b, "gateway_circuit_breaker_state %d\n",
                                 (int)gw_breaker_get(&l->breaker, NULL));

    const char *h = "gateway_http_request_duration_seconds";
    rc = rc ? rc : head(b, h, "histogram", "HTTP requests by route and status code.");
    for (int r = 0; r < GW_ROUTE_N; r++) {
        for (size_t c = 0; c < NCODES; c++) {
            uint64_t cum = 0, counts[NBOUNDS + 1];
            for (size_t k = 0; k <= NBOUNDS; k++)
                cum += counts[k] = LOAD(l->buckets[r][c][k]);
            if (!cum)
                continue; /* series appear once used: bounded, and no noise */
            char code[8];
            if (c < NCODES - 1)
                snprintf(code, sizeof code, "%d", codes[c]);
            else
                snprintf(code, sizeof code, "other");
            uint64_t run = 0;
            for (size_t k = 0; k <= NBOUNDS; k++) {
                run += counts[k];
                char le[16];
                if (k < NBOUNDS)
                    snprintf(le, sizeof le, "%g", bounds[k]);
                else
                    snprintf(le, sizeof le, "+Inf");
                rc = rc ? rc : gw_buf_printf(b, "%s_bucket{route=\"%s\",code=\"%s\",le=\"%s\"} %llu\n",
                                             h, gw_route_name((gw_route)r), code, le, (unsigned long long)run);
            }
            rc = rc ? rc : gw_buf_printf(b, "%s_sum{route=\"%s\",code=\"%s\"} %.6f\n", h, gw_route_name((gw_route)r),
                                         code, (double)LOAD(l->sum_us[r][c]) / 1e6);
            rc = rc ? rc : gw_buf_printf(b, "%s_count{route=\"%s\",code=\"%s\"} %llu\n", h,
                                         gw_route_name((gw_route)r), code, (unsigned long long)run);
        }
    }
    return rc;
}

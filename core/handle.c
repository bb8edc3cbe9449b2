/* SPDX-License-Identifier: Apache-2.0 */
/* handle.c - gw_handle: one HTTP request in, one response out; see
 * gateway.h.  It routes, applies the IP allowlist, serves the small routes
 * itself (the probes, GET /metrics, the signal state, the web server's own
 * errors), hands webhooks to webhook.c, and ends with the request's
 * metrics and log line. */
#include "gateway.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "clock.h"
#include "gwctx.h"
#include "jsonmem.h"
#include "rrstore.h"
#include "text.h"
#include "unavailable.h"

static void probe_readyz(gw_ctx *ctx, const gw_request *req, gw_response *resp)
{
    bool redis_ok = gw_redis_ping(&ctx->redis) == GW_OK;
    gw_metrics_up(ctx->metrics, GW_UP_REDIS, redis_ok);
    if (!redis_ok) {
        gw_log(ctx->log_min, GW_LOG_WARN, resp->request_id, "readyz: redis: %s",
               ctx->redis.errstr);
        gw_reply_problem(ctx, resp, 503, req->path, GW_503_READY_REDIS);
        return;
    }
    char err[512];
    long status = 0, retry_s = 0;
    /* While the breaker is open this is refused without a call; once the
     * open time is over it may be the pool's half-open probe. */
    gw_err rc = gw_rrstore_probe(ctx->kube, &ctx->cfg, &ctx->scratch, &status, err, sizeof err);
    if (!gw_kube_last_refused(ctx->kube, &retry_s))
        gw_metrics_up(ctx->metrics, GW_UP_KUBE, rc == GW_OK && status < 500);
    if (rc || status != 200) {
        char d[640];
        if (retry_s > 0) {
            snprintf(d, sizeof d, GW_503_READY_BREAKER,
                     gw_breaker_state_name(gw_kube_breaker_state(ctx->kube, NULL)), retry_s);
            gw_reply_problem(ctx, resp, 503, req->path, d);
            resp->retry_after = retry_s;
            return;
        }
        if (rc) {
            gw_log(ctx->log_min, GW_LOG_WARN, resp->request_id, "readyz: %s", err);
            snprintf(d, sizeof d, "%s", GW_503_READY_KUBE);
        } else
            snprintf(d, sizeof d, GW_503_READY_REFUSED, status, ctx->cfg.rr_plural);
        gw_reply_problem(ctx, resp, 503, req->path, d);
        return;
    }
    gw_reply_json(resp, 200, json_pack("{s:s,s:s,s:s,s:s}", "status", "ready", "redis", "ok",
                                     "kubernetes", "ok", "circuit_breaker",
                                     gw_breaker_state_name(gw_kube_breaker_state(ctx->kube,
                                                                                 NULL))));
}

/* A stop signal shows at once (never reused); anything else is the memo's
 * answer while it is fresh. */
static void handle_readyz(gw_ctx *ctx, const gw_request *req, gw_response *resp)
{
    if (ctx->draining) {
        gw_reply_problem(ctx, resp, 503, req->path, GW_503_SHUTTING_DOWN);
        return;
    }
    readyz_memo *m = &ctx->readyz;
    if (gw_mono_ms() < m->until_ms) {
        if (m->status == 200) {
            resp->status = 200;
            resp->content_type = "application/json";
            gw_buf_appends(&resp->body, m->text);
        } else {
            gw_reply_problem(ctx, resp, m->status, req->path, m->text);
        }
        resp->retry_after = m->retry_after;
        return;
    }
    probe_readyz(ctx, req, resp);
    const char *text = resp->status == 200 ? resp->body.data : resp->detail;
    size_t n = text ? strlen(text) : 0;
    m->until_ms = 0;
    if (!text || n >= sizeof m->text)
        return; /* not kept: the next probe asks again */
    memcpy(m->text, text, n + 1);
    m->status = resp->status;
    m->retry_after = resp->retry_after;
    m->until_ms = gw_mono_ms() + READYZ_REUSE_MS;
}

static bool is_fingerprint(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static void handle_signal_get(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                              const char *fp)
{
    if (!is_fingerprint(fp)) {
        gw_reply_problem(ctx, resp, 404, req->path, "no such route");
        return;
    }
    if (strcmp(req->method, "GET")) {
        resp->allow = "GET";
        gw_reply_problem(ctx, resp, 405, req->path, "this route accepts GET only");
        return;
    }
    gw_dedup_result d;
    if (gw_dedup_get(&ctx->dedup, fp, gw_now_ms(), &d)) {
        gw_log(ctx->log_min, GW_LOG_WARN, resp->request_id, "signal lookup: redis: %s",
               ctx->redis.errstr);
        gw_reply_problem(ctx, resp, 503, req->path, GW_503_LOOKUP_REDIS);
        return;
    }
    char first[32], last[32], ref[330];
    snprintf(ref, sizeof ref, "%s/%s", d.ns, d.name);
    if (d.kind == GW_DEDUP_NONE && (d.flips > 0 || d.flapping)) {
        /* no occurrence within dedup.ttl, but a flip history: idle */
        json_t *j = json_pack("{s:s,s:s,s:b,s:I}", "fingerprint", fp, "state", "idle",
                              "flapping", d.flapping > 0, "flips", (json_int_t)d.flips);
        if (d.name[0])
            json_object_set_new(j, "remediationRequestRef", json_string(ref));
        gw_reply_json(resp, 200, j);
        return;
    }
    if (d.kind == GW_DEDUP_NONE) {
        gw_reply_problem(ctx, resp, 404, req->path, "no signal with this fingerprint is known");
        return;
    }
    gw_rfc3339(d.first_ms, first);
    gw_rfc3339(d.last_ms, last);
    json_t *j = json_pack("{s:s,s:s,s:I,s:s,s:s,s:b}", "fingerprint", fp, "state",
                          d.kind == GW_DEDUP_PENDING ? "pending" : "active", "count",
                          (json_int_t)d.count, "firstSeen", first, "lastSeen", last, "resolved",
                          d.resolved_ms > 0);
    if (d.kind == GW_DEDUP_DUP)
        json_object_set_new(j, "remediationRequestRef", json_string(ref));
    if (d.resolved_ms > 0) {
        char rs[32];
        gw_rfc3339(d.resolved_ms, rs);
        json_object_set_new(j, "resolvedAt", json_string(rs));
    }
    json_object_set_new(j, "escalated", json_boolean(d.escalated));
    json_object_set_new(j, "flapping", json_boolean(d.flapping > 0));
    json_object_set_new(j, "flips", json_integer(d.flips));
    if (d.member)
        /* the names of the 202 aggregated answer; resources and
         * aggregateRef are the older names, kept as aliases */
        json_object_set_new(j, "storm", json_pack("{s:b,s:s,s:s,s:I,s:I,s:s}", "member", 1,
                                                  "type", d.storm_type, "remediationRequestRef",
                                                  ref, "resourceCount",
                                                  (json_int_t)d.storm_total, "resources",
                                                  (json_int_t)d.storm_total, "aggregateRef",
                                                  ref));
    else
        json_object_set_new(j, "storm", json_pack("{s:b}", "member", 0));
    gw_reply_json(resp, 200, j);
}

/* GET /metrics: the whole worker pool's counters (metrics.h). */
static void handle_metrics(gw_ctx *ctx, const gw_request *req, gw_response *resp)
{
    if (strcmp(req->method, "GET")) {
        resp->allow = "GET";
        gw_reply_problem(ctx, resp, 405, req->path, "this route accepts GET only");
        return;
    }
    gw_err rc = gw_metrics_write(ctx->metrics, PACKAGE_VERSION, &resp->body);
    gw_err edge = rc ? GW_OK : gw_metrics_write_edge(req->edge_refusals, &resp->body);
    if (edge == GW_EINVAL)
        gw_log(ctx->log_min, GW_LOG_WARN, resp->request_id, "the web server's "
               "GATEWAY_EDGE_REFUSALS is malformed: gateway_edge_refusals_total left out");
    if (rc || (edge && edge != GW_EINVAL)) {
        gw_reply_problem(ctx, resp, 500, req->path, "metrics did not fit the response buffer");
        return;
    }
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* An error the web server produced itself, re-dispatched to us.  A worker
 * that died mid-request may or may not have recorded the signal: 503 tells
 * the client to resend, and dedup makes the resend safe. */
static void handle_web_error(gw_ctx *ctx, const gw_request *req, gw_response *resp)
{
    int st = req->web_error;
    if (st == 413)
        gw_reply_problem(ctx, resp, 413, req->path,
                      "request body exceeds the web server's hard limit");
    else if (st == 500 || st == 502 || st == 504)
        gw_reply_problem(ctx, resp, 503, req->path, GW_503_WORKER_FAILED);
    else if (st >= 500)
        gw_reply_problem(ctx, resp, 503, req->path, GW_503_OVERLOADED);
    else if (st == 404 || st == 405)
        gw_reply_problem(ctx, resp, st, req->path, "no such route");
    else
        gw_reply_problem(ctx, resp, 400, req->path, "the web server rejected the request");
}

/* A client's X-Request-ID is echoed if it is short and plain.  Otherwise:
 * 8 hex of a random per-process prefix and 8 hex of a counter, unique
 * across workers without a trip to the RNG per request. */
static void pick_request_id(gw_ctx *ctx, const gw_request *req, gw_response *resp)
{
    const char *c = req->request_id;
    size_t n = c ? strlen(c) : 0;
    bool sane = n > 0 && n <= 64;
    for (size_t i = 0; sane && i < n; i++)
        sane = (c[i] >= 'a' && c[i] <= 'z') || (c[i] >= 'A' && c[i] <= 'Z') ||
               (c[i] >= '0' && c[i] <= '9') || c[i] == '-' || c[i] == '_' || c[i] == '.' ||
               c[i] == ':';
    if (sane) {
        memcpy(resp->request_id, c, n + 1);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    unsigned long long v = ((unsigned long long)ctx->rid_prefix << 32) | ++ctx->rid_seq;
    for (int i = 15; i >= 0; i--, v >>= 4)
        resp->request_id[i] = hex[v & 15];
    resp->request_id[16] = '\0';
}

#define KEEP_BUF_BYTES  (256u * 1024)
#define TRIM_PARSE_BYTES (1u * 1024 * 1024)

void gw_response_done(gw_ctx *ctx, gw_response *resp)
{
    bool big = gw_jsonmem_peak() - gw_jsonmem_live() > TRIM_PARSE_BYTES;
    big |= gw_buf_trim(&resp->body, KEEP_BUF_BYTES);
    big |= gw_buf_trim(&ctx->scratch, KEEP_BUF_BYTES);
    big |= gw_buf_trim(&ctx->kscratch, KEEP_BUF_BYTES);
    gw_jsonmem_reset_peak();
#ifdef __GLIBC__
    /* free() keeps what it got back in the heap; malloc_trim returns the
     * unused pages (madvise) also below the top of the heap */
    if (big)
        malloc_trim(0);
#endif
}

/* The IP allowlist (auth.allow_cidrs) refused the client's address. */
static const char *refuse_address(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                  gw_route route)
{
    gw_auth_result who;
    char addr[64];
    const char *ra = req->remote_addr ? req->remote_addr : "";
    gw_text_clean(ra, strlen(ra), addr, sizeof addr);
    memset(&who, 0, sizeof who);
    who.status = 403;
    who.mode = GW_AM_IP;
    who.reason = GW_AUTH_FORBIDDEN;
    snprintf(who.detail, sizeof who.detail, "client address %s is not allowed",
             *addr ? addr : "(unknown)");
    snprintf(who.why, sizeof who.why, "client address %s not in auth.allow_cidrs",
             *addr ? addr : "(unknown)");
    return gw_refuse_request(ctx, req, resp, route, &who);
}

/* GET /metrics and the signal state route: authenticated reads that a
 * namespace-scoped sender may not make.  Returns the refusal's decision,
 * NULL when served. */
static const char *serve_read(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                              gw_route route, const char *fp)
{
    gw_auth_result who;
    bool metrics = route == GW_ROUTE_METRICS;
    const char *refused = gw_authenticate(ctx, req, resp, metrics ? GW_AUTH_ROUTE_METRICS
                                                                  : GW_AUTH_ROUTE_SIGNALS,
                                          route, &who);
    if (!refused && who.scope) {
        /* a namespace-scoped sender's token reads nothing pool-wide */
        who.status = 403;
        who.reason = GW_AUTH_FORBIDDEN;
        snprintf(who.detail, sizeof who.detail, "a namespace-scoped token may only send "
                 "signals, not read %s", metrics ? "metrics" : "signal state");
        snprintf(who.why, sizeof who.why, "namespace-scoped token on a read route");
        refused = gw_refuse_request(ctx, req, resp, route, &who);
    }
    if (refused)
        return refused;
    if (metrics)
        handle_metrics(ctx, req, resp);
    else
        handle_signal_get(ctx, req, resp, fp);
    return NULL;
}

/* The request's duration in the metrics, and its log line. */
static void finish(gw_ctx *ctx, const gw_request *req, const gw_response *resp, gw_route route,
                   const char *decision, const char *fp, const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
    gw_metrics_observe(ctx->metrics, route, resp->status, ms / 1e3);
    if ((route == GW_ROUTE_HEALTHZ || route == GW_ROUTE_METRICS) && resp->status == 200 &&
        ctx->log_min > GW_LOG_DEBUG)
        return; /* probes and scrapes every few seconds would drown the log */
    gw_log_req line = {
        .request_id = resp->request_id,
        .route = gw_route_name(route),
        .method = strcmp(req->method, "GET") && strcmp(req->method, "POST") ? "other"
                                                                            : req->method,
        .path = req->path,
        .decision = decision,
        .fingerprint = fp,
        .detail = resp->status >= 400 ? resp->detail : NULL,
        .status = resp->status,
        .duration_ms = ms,
    };
    gw_log_request(ctx->log_min, resp->status >= 400 ? GW_LOG_WARN : GW_LOG_INFO, &line);
}

void gw_handle(gw_ctx *ctx, const gw_request *req, gw_response *resp)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gw_buf_reset(&resp->body);
    resp->status = 500;
    resp->content_type = "application/json";
    resp->retry_after = 0;
    resp->allow = NULL;
    resp->www_authenticate = NULL;
    resp->detail[0] = '\0';
    pick_request_id(ctx, req, resp);

    gw_request r = *req;
    r.path = req->path ? req->path : "";
    r.method = req->method ? req->method : "";
    const char *decision = "served", *signal_fp = NULL;
    char fp[65] = "";
    gw_route route = gw_route_of(&ctx->cfg, r.path, req->web_error, &signal_fp);

    /* the allowlist guards every route but the probes, which the kubelet
     * sends from the node's address */
    bool probe = route == GW_ROUTE_HEALTHZ || route == GW_ROUTE_READYZ;
    if (!probe && !gw_auth_ip_allowed(ctx->auth, req->remote_addr)) {
        decision = refuse_address(ctx, &r, resp, route);
    } else {
        switch (route) {
        case GW_ROUTE_WEB_ERROR:
            decision = "web-server-error";
            handle_web_error(ctx, &r, resp);
            break;
        case GW_ROUTE_PROMETHEUS:
        case GW_ROUTE_GRAFANA:
        case GW_ROUTE_K8S_EVENT:
            decision = gw_webhook_handle(ctx, &r, resp, route, fp);
            break;
        case GW_ROUTE_EXPLAIN:
            decision = gw_explain_handle(ctx, &r, resp);
            break;
        case GW_ROUTE_HEALTHZ:
            gw_reply_json(resp, 200, json_pack("{s:s}", "status", "ok"));
            break;
        case GW_ROUTE_READYZ:
            handle_readyz(ctx, &r, resp);
            break;
        case GW_ROUTE_METRICS:
        case GW_ROUTE_SIGNAL: {
            const char *refused = serve_read(ctx, &r, resp, route, signal_fp);
            if (refused)
                decision = refused;
            break;
        }
        default:
            gw_reply_problem(ctx, resp, 404, r.path, "no such route");
            break;
        }
    }
    finish(ctx, &r, resp, route, decision, fp, &t0);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* webhook.c - a webhook from admission to its answer; see gwctx.h.
 *
 * In order: the pool's in-flight cap, method and size, the route's
 * authentication, the replay cache, media type, parse (memoised per body),
 * the sender's namespace authority over every signal, then each signal
 * through the pipeline, the counters, the answer, and the replay cache
 * again for an accepted signed request. */
#include "gateway.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "am.h"
#include "classify.h"
#include "clock.h"
#include "gwctx.h"
#include "k8sevent.h"
#include "nonce.h"
#include "text.h"
#include "unavailable.h"


static bool json_content_type(const char *ct)
{
    if (!ct || !*ct)
        return true;
    size_t n = strcspn(ct, ";");
    while (n && ct[n - 1] == ' ')
        n--;
    return n == 16 && !strncasecmp(ct, "application/json", 16);
}

/* Folds a severity to the metric's label values (aliases as for priority). */
static gw_m_severity severity_label(const gw_config *cfg, const char *sev)
{
    char s[64];
    gw_severity_fold(cfg, sev, s);
    return !strcmp(s, "critical") ? GW_SEV_CRITICAL
           : !strcmp(s, "warning") ? GW_SEV_WARNING
           : !strcmp(s, "info")    ? GW_SEV_INFO : GW_SEV_OTHER;
}

/* One signal's outcome in the counters. */
static void count_result(gw_ctx *ctx, gw_route route, const gw_signal *s, const sig_result *r)
{
    gw_metrics *m = ctx->metrics;
    if (r->kind == R_REJECTED) {
        gw_metrics_rejected(m, GW_REJ_VALIDATION);
        return;
    }
    gw_metrics_received(m, route == GW_ROUTE_GRAFANA ? GW_SRC_GRAFANA
                           : route == GW_ROUTE_K8S_EVENT ? GW_SRC_K8S_EVENTS : GW_SRC_PROMETHEUS,
                        severity_label(&ctx->cfg, s->severity));
    if (r->storm_detected[0])
        gw_metrics_storm(m, strcmp(r->storm_detected, "rate") ? GW_STORM_PATTERN : GW_STORM_RATE);
    switch (r->kind) {
    case R_CREATED: gw_metrics_count(m, GW_C_CREATED); break;
    case R_DUP: gw_metrics_count(m, GW_C_DEDUPLICATED); break;
    case R_AGGREGATED: gw_metrics_count(m, GW_C_AGGREGATED); break;
    case R_IGNORED:
        if (r->heartbeat) {
            gw_metrics_heartbeat(m, gw_now_ms());
            break;
        }
        gw_metrics_count(m, GW_C_IGNORED);
        if (r->reason && !strcmp(r->reason, "namespace-not-found"))
            gw_metrics_rejected(m, GW_REJ_NAMESPACE_NOT_FOUND);
        else if (r->reason && !strcmp(r->reason, "no-target"))
            gw_metrics_rejected(m, GW_REJ_NO_TARGET);
        break;
    default: break;
    }
}

/* Runs every signal of b and writes the answer; returns the log decision. */
static const char *process_batch(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                 gw_route route, const gw_batch *b, const char *sender,
                                 char *fp_out)
{
    sig_result *res = calloc(b->n, sizeof *res);
    if (!res) {
        gw_reply_problem(ctx, resp, 500, req->path, "out of memory");
        return "error";
    }
    size_t done = 0;
    while (done < b->n) {
        gw_pipeline_signal(ctx, b, &b->signals[done], sender, resp->request_id, &res[done]);
        if (res[done].kind == R_FAILED && res[done].err == GW_EKUBE)
            gw_kube_last_refused(ctx->kube, &res[done].breaker_retry_s);
        count_result(ctx, route, &b->signals[done], &res[done]);
        done++;
        if (res[done - 1].kind == R_FAILED && gw_err_temporary(res[done - 1].err))
            break; /* the rest would fail the same way; the resend covers them */
    }
    snprintf(fp_out, 65, "%s", res[0].fp);
    gw_reply_batch(ctx, req, resp, b, res, done);
    const char *decision = b->n > 1 ? "batch"
                           : res[0].kind == R_CREATED ? "created"
                           : res[0].kind == R_DUP     ? "duplicate"
                           : res[0].kind == R_AGGREGATED ? "aggregated"
                           : res[0].heartbeat ? "heartbeat"
                           : res[0].kind == R_IGNORED ? "ignored"
                           : res[0].kind == R_REJECTED ? "rejected" : "failed";
    if (resp->status >= 500)
        decision = "failed";
    free(res);
    return decision;
}

/* A refused request: one security_event line (reason, mode, route, client
 * address - never a token, secret or signature), the counters, and the
 * problem answer.  Returns the decision for the request log line. */
const char *gw_refuse_request(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                  gw_route route, const gw_auth_result *a)
{
    char why[256], addr[64], who[192], msg[400];
    gw_text_clean(a->why, strlen(a->why), why, sizeof why);
    snprintf(msg, sizeof msg, "security_event: %s %s refused: %s", gw_route_name(route),
             gw_route_is_webhook(route) ? "webhook" : "request", why);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i}", "request_id", resp->request_id, "msg",
                          msg, "event", "security_event", "route", gw_route_name(route), "mode",
                          gw_metrics_auth_mode_name(a->mode), "reason",
                          gw_metrics_auth_reason_name(a->reason), "status", a->status);
    if (j && req->remote_addr) {
        gw_text_clean(req->remote_addr, strlen(req->remote_addr), addr, sizeof addr);
        json_object_set_new(j, "remote_addr", json_string(addr));
    }
    if (j && a->principal[0]) {
        gw_text_clean(a->principal, strlen(a->principal), who, sizeof who);
        json_object_set_new(j, "principal", json_string(who));
    }
    gw_log_json(ctx->log_min, a->status >= 500 ? GW_LOG_ERROR : GW_LOG_WARN, j);
    gw_metrics_auth_failure(ctx->metrics, a->mode, a->reason);
    if (a->status == 401 || a->status == 403)
        gw_metrics_rejected(ctx->metrics, a->status == 401 ? GW_REJ_UNAUTHORIZED
                                                           : GW_REJ_FORBIDDEN);
    gw_reply_problem(ctx, resp, a->status, req->path, a->detail);
    resp->www_authenticate = a->challenge;
    return a->status == 401 ? "unauthorized" : a->status == 403 ? "forbidden" : "failed";
}

/* The route's authentication (auth.h).  NULL when the request may go on
 * (res says who it is), else the decision for the log line. */
const char *gw_authenticate(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                gw_auth_route ar, gw_route route, gw_auth_result *res)
{
    gw_auth_check(ctx->auth, ar, req, gw_now_ms(), res);
    return res->status ? gw_refuse_request(ctx, req, resp, route, res) : NULL;
}

/* Whether an earlier signal of b (before index i) names the same
 * namespace: each namespace is authorised once per request. */
static bool namespace_seen(const gw_batch *b, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (!b->signals[j].error[0] &&
            !strcmp(b->signals[j].target.namespace_, b->signals[i].target.namespace_))
            return true;
    return false;
}

/* A sender limited to namespaces (a scoped bearer token, or a tokenreview
 * sender's RBAC, per namespace: auth.h) may only send signals about them:
 * every distinct namespace of the batch is authorised, and the first one
 * refused refuses the whole request (403 naming it; 503 when the apiserver
 * could not be asked) before anything is recorded.  NULL when every signal
 * is allowed. */
static const char *scope_refusal(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                 gw_route route, gw_auth_result *a, const gw_batch *b)
{
    if (!gw_auth_per_namespace(a))
        return NULL;
    long long now = gw_now_ms();
    for (size_t i = 0; i < b->n; i++) {
        const gw_signal *s = &b->signals[i];
        if (s->error[0] || namespace_seen(b, i) ||
            !gw_auth_authorize(ctx->auth, a, s->target.namespace_, now))
            continue;
        if (b->n > 1) {
            char d[sizeof a->detail + 32];
            snprintf(d, sizeof d, "alerts[%zu]: %s", i, a->detail);
            snprintf(a->detail, sizeof a->detail, "%.*s", (int)sizeof a->detail - 1, d);
        }
        return gw_refuse_request(ctx, req, resp, route, a);
    }
    return NULL;
}

/* A signed request whose signature the replay cache holds was accepted
 * before (nonce.h): 200 ignored, reason replay, naming the first answer's
 * request and fingerprint; nothing is counted again.  NULL when it is new,
 * or when Redis could not tell (the pipeline then meets Redis itself: a
 * request is never called a replay unseen). */
static const char *replay_check(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                gw_route route, const gw_auth_result *who, char *fp_out)
{
    bool seen = false;
    char first[160], ref[330] = "", msg[300], addr[64];
    if (!who->nonce[0])
        return NULL;
    if (gw_nonce_seen(&ctx->redis, ctx->cfg.redis_key_prefix, who->nonce, &seen, first,
                      sizeof first)) {
        gw_log(ctx->log_min, GW_LOG_WARN, resp->request_id, "replay check: redis: %s",
               ctx->redis.errstr);
        return NULL;
    }
    if (!seen)
        return NULL;
    /* "<request id> <fingerprint>", as remember_nonce wrote it */
    size_t idlen = strcspn(first, " ");
    const char *fp = first[idlen] ? first + idlen + 1 : "";
    first[idlen] = '\0';
    gw_dedup_result d;
    if (strlen(fp) == 64 && strspn(fp, "0123456789abcdef") == 64) {
        snprintf(fp_out, 65, "%s", fp);
        if (!gw_dedup_get(&ctx->dedup, fp, gw_now_ms(), &d) && d.kind == GW_DEDUP_DUP)
            snprintf(ref, sizeof ref, "%s/%s", d.ns, d.name);
    } else {
        fp = "";
    }
    snprintf(msg, sizeof msg, "security_event: %s webhook replayed: a signed request already "
             "accepted (as request %s) was sent again; not counted", gw_route_name(route), first);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i}", "request_id", resp->request_id, "msg",
                          msg, "event", "security_event", "route", gw_route_name(route), "mode", "hmac",
                          "reason", "replay", "status", 200);
    if (j && req->remote_addr) {
        gw_text_clean(req->remote_addr, strlen(req->remote_addr), addr, sizeof addr);
        json_object_set_new(j, "remote_addr", json_string(addr));
    }
    gw_log_json(ctx->log_min, GW_LOG_WARN, j);
    snprintf(msg, sizeof msg, "this signed request was already accepted (request %s) and is not "
             "counted again; a new occurrence needs a new signed timestamp", first);
    gw_reply_json(resp, 200, json_pack("{s:s,s:s,s:s,s:s,s:s}", "status", "ignored", "reason",
                                    "replay", "message", msg, "fingerprint", fp,
                                    "remediationRequestRef", ref));
    return "replay";
}

/* After a 2xx, an accepted signed request's signature goes into the replay
 * cache (nonce.h) for twice the replay window.  A failed write is logged:
 * a replay would then count as one more occurrence, never a new request. */
static void remember_nonce(gw_ctx *ctx, const gw_response *resp, const gw_auth_result *who,
                           const char *fp)
{
    if (!who->nonce[0] || resp->status < 200 || resp->status > 299)
        return;
    if (gw_nonce_remember(&ctx->redis, ctx->cfg.redis_key_prefix, who->nonce, resp->request_id,
                          fp, 2 * ctx->cfg.auth_hmac_replay_window_s + 1))
        gw_log(ctx->log_min, GW_LOG_WARN, resp->request_id, "replay cache: signature not "
               "remembered (a replay would count as an occurrence): redis: %s",
               ctx->redis.errstr);
}

/* Who a creation budget is counted against (limits.creates_per_sender_
 * per_minute): the admitted identity when the mode names one (bearer
 * token, TLS client CN, reviewed user), else the client address.  16 hex
 * of its SHA-256, so no client text reaches a Redis key; the last one is
 * kept in ctx (borrowed by the caller until the next request). */
const char *gw_webhook_sender_id(gw_ctx *ctx, const gw_request *req, const gw_auth_result *who)
{
    char id[sizeof ctx->sender_src];
    if (who->mode == GW_AM_BEARER || who->mode == GW_AM_MTLS || who->mode == GW_AM_TOKENREVIEW)
        snprintf(id, sizeof id, "%s", who->principal);
    else
        snprintf(id, sizeof id, "addr:%.200s", req->remote_addr ? req->remote_addr : "");
    if (ctx->sender_hex[0] && !strcmp(id, ctx->sender_src))
        return ctx->sender_hex;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(id, strlen(id), md, &n, EVP_sha256(), NULL) || n < 8)
        memset(md, 0, 8);
    gw_hex_encode(md, 8, ctx->sender_hex);
    memcpy(ctx->sender_src, id, sizeof id);
    return ctx->sender_hex;
}

const char *gw_webhook_admit(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                             const gw_admission *a, gw_auth_result *who, gw_batch *scratch,
                             const gw_batch **bp, char *fp_out)
{
    /* an explain request is no signal: it counts in no signal counter */
    gw_metrics *m = a->signal ? ctx->metrics : NULL;
    gw_route route = a->route;
    memset(scratch, 0, sizeof *scratch);
    *bp = scratch;
    if (strcmp(req->method, "POST")) {
        resp->allow = "POST";
        gw_metrics_rejected(m, GW_REJ_METHOD);
        gw_reply_problem(ctx, resp, 405, req->path, "this route accepts POST only");
        return "rejected";
    }
    long max = ctx->cfg.server_max_body_bytes;
    if (req->content_length > max || (long long)req->body_len > max) {
        char d[128];
        snprintf(d, sizeof d, "body of %lld bytes exceeds the limit of %ld bytes",
                 req->content_length > 0 ? req->content_length : (long long)req->body_len, max);
        gw_metrics_rejected(m, GW_REJ_TOO_LARGE);
        gw_reply_problem(ctx, resp, 413, req->path, d);
        return "rejected";
    }
    const char *refused = gw_authenticate(ctx, req, resp, a->auth, route, who);
    if (refused)
        return refused;
    if (a->signal && (refused = replay_check(ctx, req, resp, route, who, fp_out)))
        return refused;
    if (!json_content_type(req->content_type)) {
        gw_metrics_rejected(m, GW_REJ_MEDIA_TYPE);
        char d[200];
        snprintf(d, sizeof d, "Content-Type must be application/json, not \"%.100s\"",
                 req->content_type);
        gw_reply_problem(ctx, resp, 415, req->path, d);
        return "rejected";
    }
    if (!req->body || !req->body_len) {
        gw_metrics_rejected(m, GW_REJ_VALIDATION);
        gw_reply_problem(ctx, resp, 400, req->path,
                      a->adapter == GW_ROUTE_K8S_EVENT ? "empty body: expected a Kubernetes Event"
                                           : "empty body: expected an Alertmanager webhook");
        return "rejected";
    }
    char err[GW_ERRMSG];
    gw_err rc;
    if (a->adapter == GW_ROUTE_K8S_EVENT) /* freshness depends on the clock: no memo */
        rc = gw_k8sevent_parse(&ctx->cfg, req->body, req->body_len, gw_now_ms(), scratch, err,
                               sizeof err);
    else
        rc = gw_bodycache_parse(&ctx->bodies,
                                a->adapter == GW_ROUTE_GRAFANA ? gw_grafana_parse : gw_am_parse,
                                &ctx->cfg, req->body, req->body_len, scratch, bp, err,
                                sizeof err);
    if (rc) {
        if (rc == GW_ETOOBIG || rc == GW_EINVAL)
            gw_metrics_rejected(m, rc == GW_ETOOBIG ? GW_REJ_TOO_LARGE : GW_REJ_VALIDATION);
        gw_reply_problem(ctx, resp, gw_err_http_status(rc), req->path, err);
        return "rejected";
    }
    return scope_refusal(ctx, req, resp, route, who, *bp);
}

static const char *serve_webhook(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                 gw_route route, char *fp_out)
{
    const gw_admission a = {
        .route = route,
        .auth = route == GW_ROUTE_GRAFANA     ? GW_AUTH_ROUTE_GRAFANA
                : route == GW_ROUTE_K8S_EVENT ? GW_AUTH_ROUTE_EVENTS
                                              : GW_AUTH_ROUTE_PROMETHEUS,
        .adapter = route,
        .signal = true,
    };
    gw_auth_result who;
    memset(&who, 0, sizeof who);
    gw_batch scratch;
    const gw_batch *bp;
    const char *decision = gw_webhook_admit(ctx, req, resp, &a, &who, &scratch, &bp, fp_out);
    if (!decision)
        decision = process_batch(ctx, req, resp, route, bp, gw_webhook_sender_id(ctx, req, &who),
                                 fp_out);
    remember_nonce(ctx, resp, &who, fp_out);
    gw_batch_free(&scratch);
    return decision;
}

/* The pool-wide in-flight cap (server.max_in_flight) around one webhook: a
 * refused one is answered 503 + Retry-After before anything is read, so
 * Alertmanager resends it when the pool has room again. */
const char *gw_webhook_handle(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                  gw_route route, char *fp_out)
{
    long cap = ctx->cfg.server_max_in_flight;
    long busy = gw_metrics_enter(ctx->metrics, cap);
    const char *decision;
    if (cap > 0 && busy > cap) {
        char d[160];
        snprintf(d, sizeof d, GW_503_IN_FLIGHT, busy, cap);
        gw_reply_problem(ctx, resp, 503, req->path, d);
        decision = "busy";
    } else {
        decision = serve_webhook(ctx, req, resp, route, fp_out);
    }
    gw_metrics_leave(ctx->metrics);
    return decision;
}

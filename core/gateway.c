/* SPDX-License-Identifier: Apache-2.0 */
/* gateway.c - the request pipeline; see gateway.h.
 *
 * Per signal (spec section 3): adapter -> fingerprint -> dedup hit in Redis
 * (one EVALSHA) -> on a new fingerprint, look Kubernetes up by label, then
 * create -> activate the claim.  The rule everything here serves: a 2xx is
 * sent only when the signal is recorded in Redis and Kubernetes; every
 * temporary failure is a 503 with Retry-After so Alertmanager resends.
 *
 * The duplicate path touches no Kubernetes API except the coalesced status
 * patch (at most one per request per status_sync_interval). */
#include "gateway.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "am.h"
#include "auth.h"
#include "bodycache.h"
#include "classify.h"
#include "clock.h"
#include "dedup.h"
#include "fingerprint.h"
#include "k8sevent.h"
#include "k8sname.h"
#include "jsonmem.h"
#include "kcache.h"
#include "kinds.h"
#include "kube.h"
#include "log.h"
#include "metrics.h"
#include "nonce.h"
#include "owners.h"
#include "problem.h"
#include "redis.h"
#include "rr.h"
#include "rrstore.h"
#include "target.h"
#include "text.h"
#include "unavailable.h"

/* /readyz needs no authentication and passes the allowlist and the rate
 * limit, and a fresh answer costs a Redis PING and an apiserver LIST (with
 * retries): each worker reuses its answer for READYZ_REUSE_MS, so probe
 * traffic never multiplies into apiserver traffic.  A reused problem is
 * written again with this request's request_id and instance. */
#define READYZ_REUSE_MS 1000
typedef struct {
    long long until_ms;      /* gw_mono_ms(); reused while before it (0: none) */
    int       status;
    long      retry_after;
    char      text[640];     /* 200: the body; else the problem detail */
} readyz_memo;

struct gw_ctx {
    gw_config          cfg;
    gw_log_level       log_min;
    gw_redis           redis;
    gw_dedup           dedup;
    gw_kube           *kube;
    gw_buf             scratch;  /* apiserver answers */
    gw_bodycache       bodies;   /* parsed webhook bodies, by content */
    unsigned long long seq;      /* makes claim owners unique in this process */
    unsigned int       rid_prefix; /* random per process: request IDs */
    unsigned int       rid_seq;
    char               detail[512]; /* the last problem detail, for the log line */
    gw_auth           *auth;     /* per-route authentication (owned) */
    gw_kcache         *objects;  /* namespaces, ConfigMap, owners (owned) */
    gw_kinds          *kinds;    /* API discovery, on first need (owned) */
    gw_metrics        *metrics;  /* shared counters (owned mapping) */
    gw_buf             kscratch; /* the object cache's answers */
    char               cm_path[400]; /* the environment ConfigMap's path; "": none */
    char               sender_src[256]; /* the last sender identity hashed ... */
    char               sender_hex[17];  /* ... and its id: one sender sends most requests */
    long long          next_tick_ms;   /* when gw_tick next asks Redis */
    unsigned long long owner_failures; /* owner lookups that fell back */
    long               pid;
    bool               draining;
    readyz_memo        readyz;   /* the last /readyz answer, reused for 1 s */
};

typedef enum { R_CREATED, R_DUP, R_AGGREGATED, R_IGNORED, R_REJECTED, R_FAILED } result_kind;

typedef struct {
    result_kind kind;
    gw_err      err;              /* R_FAILED: why */
    const char *reason;           /* R_IGNORED: the answer's reason code */
    char        msg[GW_ERRMSG + 128];
    char        fp[65];           /* the fingerprint used (after owner resolution) */
    char        rr_name[254];
    char        rr_ns[64];
    long long   count, first_ms, last_ms;
    char        env[64];
    char        prio[8];
    bool        escalated;
    bool        storm_opened;     /* R_AGGREGATED: this signal created the storm's aggregate */
    long long   storm_total;
    char        storm_type[16];
    char        storm_detected[16]; /* this signal opened a storm of that type (it may be a
                                       duplicate: a rate storm); "" none */
    long        breaker_retry_s;  /* R_FAILED by the open circuit breaker: Retry-After */
    long        retry_s;          /* R_FAILED: the Retry-After it asks for; 0: the default */
} sig_result;

/* tokenreview's way to the apiserver (auth.h).  A review changes nothing,
 * so it may be repeated. */
static gw_err kube_post(void *arg, const char *path, const char *body, size_t len,
                        long *http_status, gw_buf *resp, char *err, size_t errlen)
{
    gw_buf_reset(resp);
    return gw_kube_request(arg, "POST", path, "application/json", body, len, GW_KUBE_REPEATABLE,
                           http_status, resp, err, errlen);
}

/* The object cache's way to the apiserver. */
static gw_err kube_fetch(void *arg, const char *path, long *http_status, gw_buf *resp, char *err,
                         size_t errlen)
{
    gw_buf_reset(resp);
    return gw_kube_request(arg, "GET", path, NULL, NULL, 0, GW_KUBE_REPEATABLE, http_status, resp,
                           err, errlen);
}

gw_err gw_ctx_new(gw_config *cfg, gw_ctx **out, char *err, size_t errlen)
{
    *out = NULL;
    gw_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return GW_ENOMEM;
    ctx->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    ctx->log_min = gw_log_level_parse(ctx->cfg.log_level);
    ctx->pid = (long)getpid();
    gw_buf_init(&ctx->scratch, 8u << 20);
    gw_bodycache_init(&ctx->bodies);
    if (RAND_bytes((unsigned char *)&ctx->rid_prefix, sizeof ctx->rid_prefix) != 1)
        ctx->rid_prefix = (unsigned int)ctx->pid * 2654435761u;
    gw_redis_opts ro = {
        .addr = ctx->cfg.redis_addr,
        .password_file = ctx->cfg.redis_password_file,
        .sentinels = ctx->cfg.redis_sentinels,
        .sentinel_master = ctx->cfg.redis_sentinel_master,
        .sentinel_password_file = ctx->cfg.redis_sentinel_password_file,
        .connect_timeout_ms = ctx->cfg.redis_connect_timeout_ms,
        .command_timeout_ms = ctx->cfg.redis_command_timeout_ms,
        .log_min = ctx->log_min,
    };
    gw_err rc = gw_redis_init(&ctx->redis, &ro, err, errlen);
    if (rc) {
        gw_ctx_free(ctx);
        return rc;
    }
    gw_dedup_init(&ctx->dedup, &ctx->redis, &ctx->cfg);
    const gw_config *c = &ctx->cfg;
    gw_kube_opts ko = {
        .api_url = *c->kube_api_url ? c->kube_api_url : NULL,
        .token_file = *c->kube_token_file ? c->kube_token_file : NULL,
        .ca_file = *c->kube_ca_file ? c->kube_ca_file : NULL,
        .client_cert_file = *c->kube_client_cert_file ? c->kube_client_cert_file : NULL,
        .client_key_file = *c->kube_client_key_file ? c->kube_client_key_file : NULL,
        .kubeconfig = *c->kube_kubeconfig ? c->kube_kubeconfig : NULL,
        .allow_insecure = c->kube_allow_insecure,
        .connect_timeout_ms = c->kube_connect_timeout_ms,
        .timeout_ms = c->kube_timeout_ms,
        .retries = c->kube_retries,
        .retry_base_ms = c->kube_retry_base_ms,
        .retry_max_delay_ms = c->kube_retry_max_delay_ms,
        .breaker_failures = c->kube_breaker_failures,
        .breaker_open_ms = c->kube_breaker_open_ms,
        .log_min = ctx->log_min,
    };
    if ((rc = gw_kube_new(&ko, &ctx->kube, err, errlen))) {
        gw_ctx_free(ctx);
        return rc;
    }
    if ((rc = gw_auth_new(&ctx->cfg, kube_post, ctx->kube, &ctx->auth, err, errlen))) {
        gw_ctx_free(ctx);
        return rc;
    }
    gw_buf_init(&ctx->kscratch, 4u << 20);
    if (!gw_k8s_path(ctx->cm_path, sizeof ctx->cm_path, "v1",
                     ctx->cfg.environment_configmap_namespace, "configmaps",
                     ctx->cfg.environment_configmap_name))
        gw_log(ctx->log_min, GW_LOG_WARN, NULL, "environment.configmap_namespace / "
               "configmap_name: not Kubernetes names; the override ConfigMap is not read");
    ctx->objects = gw_kcache_new((size_t)ctx->cfg.k8s_cache_entries, kube_fetch, ctx->kube,
                                 &ctx->kscratch);
    ctx->kinds = gw_kinds_new(kube_fetch, ctx->kube, ctx->cfg.kube_discovery_ttl_ms,
                              ctx->cfg.target_workload_kinds);
    if (!ctx->objects || !ctx->kinds) {
        gw_ctx_free(ctx);
        return GW_ENOMEM;
    }
    char mpath[1024], merr[512];
    const char *state = getenv("ALERTGW_STATE_DIR");
    if (*ctx->cfg.metrics_path)
        snprintf(mpath, sizeof mpath, "%s", ctx->cfg.metrics_path);
    else if (state && *state)
        snprintf(mpath, sizeof mpath, "%s/metrics.shm", state);
    else
        snprintf(mpath, sizeof mpath, "/run/alertgw/metrics.shm");
    rc = gw_metrics_open(mpath, &ctx->metrics, merr, sizeof merr);
    if (rc == GW_ENOMEM) {
        gw_ctx_free(ctx);
        return rc;
    }
    if (rc) /* metrics never stop alerts */
        gw_log(ctx->log_min, GW_LOG_WARN, NULL, "%s", merr);
    gw_metrics_set_in_flight_limit(ctx->metrics, ctx->cfg.server_max_in_flight);
    /* the pool's one circuit breaker lives in the shared mapping */
    gw_kube_attach_metrics(ctx->kube, ctx->metrics);
    *out = ctx;
    return GW_OK;
}

void gw_ctx_free(gw_ctx *ctx)
{
    if (!ctx)
        return;
    gw_auth_free(ctx->auth);
    gw_kcache_free(ctx->objects);
    gw_kinds_free(ctx->kinds);
    gw_metrics_close(ctx->metrics);
    gw_buf_free(&ctx->kscratch);
    gw_kube_free(ctx->kube);
    gw_redis_free(&ctx->redis);
    gw_buf_free(&ctx->scratch);
    gw_bodycache_free(&ctx->bodies);
    gw_config_free(&ctx->cfg);
    free(ctx);
}

const gw_config *gw_ctx_config(const gw_ctx *ctx)
{
    return &ctx->cfg;
}

void gw_ctx_set_draining(gw_ctx *ctx)
{
    ctx->draining = true;
}

void gw_response_init(gw_response *resp)
{
    memset(resp, 0, sizeof *resp);
    gw_buf_init(&resp->body, 16u << 20);
}

void gw_response_free(gw_response *resp)
{
    gw_buf_free(&resp->body);
}

static void fail(sig_result *r, gw_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ignore(sig_result *r, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A signal that could not be recorded.  By now the input was accepted, so
 * a GW_EINVAL or GW_ETOOBIG is of a call we made (a Redis key or an
 * apiserver path or answer), not the sender's: recorded as GW_EINTERNAL,
 * so that gw_err_http_status answers 500, not 400 or 413. */
static void fail(sig_result *r, gw_err e, const char *fmt, ...)
{
    r->kind = R_FAILED;
    r->err = e == GW_EINVAL || e == GW_ETOOBIG ? GW_EINTERNAL : e;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
}

/* Accepted but not acted on: 200 ignored with a reason code (the API's
 * contract) and a message for the human reading it. */
static void ignore(sig_result *r, const char *reason, const char *fmt, ...)
{
    r->kind = R_IGNORED;
    r->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
}

/* ---- the per-signal pipeline ------------------------------------------ */

/* Writes status.deduplication; tells whether the request has finished.
 * fp (NULL for a storm aggregate) has the landed count checked against
 * Redis afterwards (gw_dedup_synced). */
static bool sync_status(gw_ctx *ctx, const char *rid, const char *fp, const char *ns,
                        const char *name, long long count, long long first_ms, long long last_ms)
{
    char err[512];
    bool finished = false;
    gw_err rc = gw_rrstore_patch_dedup(ctx->kube, &ctx->cfg, ns, name, count, first_ms, last_ms,
                                       &ctx->scratch, &finished, err, sizeof err);
    gw_metrics_up(ctx->metrics, GW_UP_KUBE, rc != GW_EKUBE);
    gw_metrics_count(ctx->metrics, rid ? GW_C_SYNC_INLINE : GW_C_SYNC_FLUSH);
    if (rc)
        gw_log(ctx->log_min, GW_LOG_WARN, rid, "status sync of %s/%s failed: %s", ns, name, err);
    /* a failed patch (not a finished or deleted request) is queued again */
    if (fp && !finished && gw_dedup_synced(&ctx->dedup, fp, rc ? -1 : count, gw_now_ms()))
        gw_log(ctx->log_min, GW_LOG_DEBUG, rid, "status sync of %s/%s: recheck: redis: %s", ns,
               name, ctx->redis.errstr);
    return finished;
}

/* A storm aggregate's sync: the resource list and total on its
 * annotations, the folded occurrences on status.deduplication.  When the
 * aggregate has finished (or is gone) the storm is dropped from Redis and
 * true returned. */
static bool sync_storm(gw_ctx *ctx, const char *rid, const gw_flush_item *it)
{
    char err[512];
    json_t *ann = json_object();
    json_t *meta = json_pack("{s:o}", "annotations", ann);
    if (!meta)
        return false;
    gw_rr_storm_annotations(ann, it->storm_type, it->resources, it->storm_total);
    gw_err rc = gw_rrstore_patch_meta(ctx->kube, &ctx->cfg, it->ns, it->name, meta, &ctx->scratch,
                                      err, sizeof err);
    json_decref(meta);
    if (rc && rc != GW_ENOTFOUND)
        gw_log(ctx->log_min, GW_LOG_WARN, rid, "storm annotation of %s/%s failed: %s", it->ns,
               it->name, err);
    bool finished = rc == GW_ENOTFOUND ||
                    sync_status(ctx, rid, NULL, it->ns, it->name, it->count, it->first_ms,
                                it->last_ms);
    if (finished)
        gw_dedup_storm_forget(&ctx->dedup, it->id, it->name);
    return finished;
}

static void set_ref(sig_result *r, const char *ns, const char *name, const gw_dedup_result *d)
{
    snprintf(r->rr_ns, sizeof r->rr_ns, "%s", ns);
    snprintf(r->rr_name, sizeof r->rr_name, "%s", name);
    r->count = d->count;
    r->first_ms = d->first_ms;
    r->last_ms = d->last_ms;
}

/* spec.originalPayload: the signal's own part of the body.  An alert of a
 * webhook gets the group's fields and itself, never the other alerts of
 * the batch (a request about one namespace carries nothing about
 * another); an Event is the whole body.  *owned is freed by the caller. */
static void set_payload(gw_rr_input *in, const gw_batch *b, const gw_signal *s, char **owned)
{
    *owned = NULL;
    if (!s->item) {
        in->raw = b->raw;
        in->raw_len = b->raw_len;
        return;
    }
    *owned = gw_rr_alert_payload(b->root, s->item);
    in->raw = *owned; /* NULL (out of memory): no originalPayload, not the batch */
    in->raw_len = *owned ? strlen(*owned) : 0;
}

/* Creates obj's request under a fresh name for fp (three tries on a name
 * clash).  name receives it. */
static gw_err create_named(gw_ctx *ctx, const gw_rr_input *tmpl, char name[32], char *err,
                           size_t errlen)
{
    gw_err rc = GW_EINTERNAL;
    for (int attempt = 0; attempt < 3; attempt++) {
        unsigned char rnd[4];
        if (RAND_bytes(rnd, sizeof rnd) != 1)
            return gw_fail(GW_EINTERNAL, err, errlen, "no randomness for the request name");
        gw_rr_name(tmpl->sig->fingerprint, rnd, name);
        gw_rr_input in = *tmpl;
        in.name = name;
        json_t *obj = gw_rr_build(&ctx->cfg, &in);
        if (!obj)
            return GW_ENOMEM;
        rc = gw_rrstore_create(ctx->kube, &ctx->cfg, obj, &ctx->scratch, err, errlen);
        json_decref(obj);
        if (rc != GW_EBUSY)
            return rc;
    }
    return rc;
}

static void create_failed(gw_ctx *ctx, const char *rid, gw_err rc, const char *err, sig_result *r)
{
    if (!gw_err_temporary(rc) || rc == GW_EBUSY)
        gw_log(ctx->log_min, GW_LOG_ERROR, rid, "create failed: %s", err);
    gw_metrics_create_error(ctx->metrics, gw_err_temporary(rc) ? GW_CERR_UNAVAILABLE
                                          : rc == GW_EKUBECONF ? GW_CERR_REJECTED
                                                               : GW_CERR_INTERNAL);
    if (rc == GW_EKUBE)
        gw_metrics_up(ctx->metrics, GW_UP_KUBE, false);
    fail(r, rc == GW_EBUSY ? GW_EKUBE : rc, "kubernetes: %s", err);
}

static void over_budget(gw_ctx *ctx, const char *rid, const gw_dedup_result *d,
                        sig_result *r);

static void namespace_capped(gw_ctx *ctx, const gw_signal *s, sig_result *r)
{
    gw_metrics_count(ctx->metrics, GW_C_NS_CAPPED);
    fail(r, GW_EBUSY, GW_503_NAMESPACE_CAP, s->target.namespace_, ctx->cfg.storm_namespace_cap);
}

/* The fingerprint is ours (pending claim): adopt an open request from
 * Kubernetes, or create one (within the creation budgets).  Releases the
 * claim on failure. */
static void create_path(gw_ctx *ctx, const gw_batch *b, const gw_signal *s, const char *sender,
                        const char *rid, const char *rr_ns, const char *owner, long long now,
                        sig_result *r)
{
    char err[512];
    gw_rr_ref ref;
    gw_dedup_result d;
    gw_err rc = gw_rrstore_find_open(ctx->kube, &ctx->cfg, rr_ns, s->fingerprint, &ctx->scratch,
                                     &ref, err, sizeof err);
    if (rc == GW_OK) {
        /* Redis had forgotten an open request: Kubernetes is the authority */
        rc = gw_dedup_seed(&ctx->dedup, s->fingerprint, now, owner, ref.name, ref.ns,
                           ref.count + 1, ref.first_ms ? ref.first_ms : now, &d);
        if (rc) {
            fail(r, rc, "redis: %s", ctx->redis.errstr);
            return;
        }
        set_ref(r, ref.ns, ref.name, &d);
        r->kind = R_DUP;
        sync_status(ctx, rid, s->fingerprint, ref.ns, ref.name, d.count, d.first_ms, d.last_ms);
        return;
    }
    if (rc == GW_ENOTFOUND && *err) /* the fingerprint field fallback stopped at its cap */
        gw_log(ctx->log_min, GW_LOG_WARN, rid, "%s", err);
    if (rc != GW_ENOTFOUND) {
        gw_dedup_release(&ctx->dedup, s->fingerprint, NULL, owner);
        fail(r, rc, "kubernetes: %s", err);
        return;
    }
    if ((rc = gw_dedup_create_limits(&ctx->dedup, s->target.namespace_, sender, now, &d)) ||
        d.kind == GW_DEDUP_OVER_BUDGET || d.kind == GW_DEDUP_CAPPED) {
        gw_dedup_release(&ctx->dedup, s->fingerprint, NULL, owner);
        if (rc)
            fail(r, rc, "redis: %s", ctx->redis.errstr);
        else if (d.kind == GW_DEDUP_OVER_BUDGET)
            over_budget(ctx, rid, &d, r);
        else
            namespace_capped(ctx, s, r);
        return;
    }

    char name[32], *payload;
    gw_rr_input in = {
        .sig = s, .namespace_ = rr_ns, .environment = r->env, .priority = r->prio,
        .received_ms = now,
    };
    set_payload(&in, b, s, &payload);
    rc = create_named(ctx, &in, name, err, sizeof err);
    gw_json_free(payload);
    if (rc) {
        gw_dedup_release(&ctx->dedup, s->fingerprint, NULL, owner);
        gw_dedup_create_uncount(&ctx->dedup, s->target.namespace_, sender, now);
        create_failed(ctx, rid, rc, err, r);
        return;
    }
    rc = gw_dedup_activate(&ctx->dedup, s->fingerprint, now, owner, name, rr_ns, &d);
    if (rc) {
        /* The request exists; a lost claim or a Redis blip only costs the
         * next occurrence a lookup, which will find this request. */
        gw_log(ctx->log_min, GW_LOG_WARN, rid, "created %s/%s but could not activate claim: %s",
               rr_ns, name, rc == GW_EBUSY ? "claim taken over" : ctx->redis.errstr);
        d.count = 1;
        d.first_ms = d.last_ms = now;
    }
    gw_metrics_up(ctx->metrics, GW_UP_KUBE, true);
    set_ref(r, rr_ns, name, &d);
    r->kind = R_CREATED;
    sync_status(ctx, rid, s->fingerprint, rr_ns, name, d.count, d.first_ms, d.last_ms);
}

/* This signal opened a storm: create the one aggregated request for its
 * (namespace, alert name) and make the storm active.  The aggregate's
 * target is the namespace (the opener's own target when cluster-scoped);
 * its fingerprint is that of the storm, unique per opening. */
static void storm_create_path(gw_ctx *ctx, const gw_batch *b, const gw_signal *s,
                              const gw_dedup_signal *ds, const char *rid, const char *rr_ns,
                              const char *owner, long long now, sig_result *r)
{
    char err[512], name[32], seed[600];
    gw_flush_item info; /* the resources the opening recorded */
    gw_err rc = gw_dedup_storm_info(&ctx->dedup, ds->group, &info);
    if (rc == GW_ENOTFOUND) { /* gone already (flushed?): list the opener alone */
        memset(&info, 0, sizeof info);
        info.storm_total = r->storm_total;
        snprintf(info.storm_type, sizeof info.storm_type, "%s", r->storm_type);
        snprintf(info.resources, sizeof info.resources, "%s", ds->resource);
        rc = GW_OK;
    }
    gw_signal agg = *s;
    if (*s->target.namespace_) {
        agg.target.kind = "Namespace";
        agg.target.name = s->target.namespace_;
        agg.target.namespace_ = "";
        agg.target.api_version = "v1";
    }
    snprintf(seed, sizeof seed, "storm:%s:%lld", ds->group, now);
    gw_target st = { "Storm", seed, "", "" };
    if (rc == GW_OK)
        rc = gw_fingerprint(s->cluster, &st, NULL, agg.fingerprint);
    if (rc == GW_OK) {
        char *payload;
        gw_rr_input in = {
            .sig = &agg, .namespace_ = rr_ns, .environment = r->env, .priority = r->prio,
            .received_ms = now, .storm_type = r->storm_type, .storm_resources = info.resources,
            .storm_total = info.storm_total,
        };
        set_payload(&in, b, s, &payload);
        rc = create_named(ctx, &in, name, err, sizeof err);
        gw_json_free(payload);
    } else {
        snprintf(err, sizeof err, "storm: redis: %s", ctx->redis.errstr);
    }
    if (rc) {
        gw_dedup_release(&ctx->dedup, s->fingerprint, ds->group, owner);
        gw_dedup_create_uncount(&ctx->dedup, NULL, ds->sender, now);
        create_failed(ctx, rid, rc, err, r);
        return;
    }
    gw_dedup_result d;
    if ((rc = gw_dedup_storm_activate(&ctx->dedup, s->fingerprint, ds->group, now, owner, name,
                                      rr_ns, &d))) {
        gw_log(ctx->log_min, GW_LOG_WARN, rid, "created storm aggregate %s/%s but could not "
               "activate the storm: %s", rr_ns, name,
               rc == GW_EBUSY ? "claim taken over" : ctx->redis.errstr);
        d.count = 1;
        d.first_ms = d.last_ms = now;
        d.storm_total = info.storm_total;
    }
    set_ref(r, rr_ns, name, &d);
    r->kind = R_AGGREGATED;
    r->storm_opened = true;
    r->storm_total = d.storm_total;
    gw_log(ctx->log_min, GW_LOG_INFO, rid, "%s storm opened in namespace \"%s\" for %s: "
           "aggregated request %s/%s", r->storm_type, ds->ns, ds->alertname, rr_ns, name);
    sync_status(ctx, rid, NULL, rr_ns, name, 1, now, now);
}

/* This occurrence opened a storm (counted in gateway_storms_detected_total
 * whatever its answer).  A repeat of a known fingerprint opens a rate
 * storm without creating anything: it stays a duplicate, and the next new
 * signal of the group creates the aggregate (storm_create_path). */
static void note_storm_opened(gw_ctx *ctx, const char *rid, const gw_dedup_signal *ds,
                              const gw_dedup_result *d, sig_result *r)
{
    snprintf(r->storm_detected, sizeof r->storm_detected, "%s", d->storm_detected);
    if (d->kind != GW_DEDUP_STORM_NEW)
        gw_log(ctx->log_min, GW_LOG_INFO, rid, "%s storm opened in namespace \"%s\" for %s "
               "(more than %ld occurrences in a minute): the next new signal creates its "
               "aggregated request", d->storm_detected, ds->ns, ds->alertname,
               ctx->cfg.storm_rate_threshold);
}

/* Raises a request's priority label one step and annotates why. */
static void escalate(gw_ctx *ctx, const char *rid, const sig_result *r, const char *from,
                     long threshold)
{
    char err[512], ts[32], why[160];
    gw_rfc3339(gw_now_ms(), ts);
    snprintf(why, sizeof why, "%s -> %s after %ld occurrences in %s", from, r->prio, threshold,
             r->env);
    json_t *meta = json_pack("{s:{s:s},s:{s:s,s:s,s:s}}", "labels", "kubernaut.ai/priority",
                             r->prio, "annotations", "kubernaut.ai/escalated-at", ts,
                             "kubernaut.ai/escalated-from", from, "kubernaut.ai/escalation", why);
    if (!meta)
        return;
    if (gw_rrstore_patch_meta(ctx->kube, &ctx->cfg, r->rr_ns, r->rr_name, meta, &ctx->scratch,
                              err, sizeof err))
        gw_log(ctx->log_min, GW_LOG_WARN, rid, "escalation of %s/%s failed: %s", r->rr_ns,
               r->rr_name, err);
    else {
        gw_metrics_count(ctx->metrics, GW_C_ESCALATIONS);
        gw_log(ctx->log_min, GW_LOG_INFO, rid, "escalated %s/%s: %s", r->rr_ns, r->rr_name, why);
    }
    json_decref(meta);
}

/* A cached object: GW_OK with *obj, GW_ENOTFOUND, or an error (logged once
 * per fetch, not once per request). */
static gw_err cached(gw_ctx *ctx, const char *rid, const char *path, long ttl_ms, long long now,
                     json_t **obj)
{
    char err[256];
    int fetched;
    gw_err rc = gw_kcache_get(ctx->objects, path, now, ttl_ms, obj, &fetched, err, sizeof err);
    if (rc && rc != GW_ENOTFOUND && fetched)
        gw_log(ctx->log_min, GW_LOG_WARN, rid, "kubernetes read: %s", err);
    return rc;
}

/* Environment per spec 3.6 from the cached ConfigMap and namespace.  A
 * failed read falls through to the next source: classification never
 * fails a signal. */
static void classify(gw_ctx *ctx, const gw_signal *s, const char *ns_path, const char *rid,
                     long long now, sig_result *r)
{
    const gw_config *c = &ctx->cfg;
    const char *ns = s->target.namespace_;
    const char *override = NULL, *ns_label = NULL;
    char ov[64], nl[64];
    json_t *obj;
    if (c->environment_lookup && *ns) {
        if (*ctx->cm_path &&
            cached(ctx, rid, ctx->cm_path, c->environment_cache_ttl_ms, now, &obj) == GW_OK) {
            const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), ns));
            if (v && strlen(v) < sizeof ov)
                override = strcpy(ov, v);
        }
        if (*ns_path && cached(ctx, rid, ns_path, c->environment_cache_ttl_ms, now, &obj) == GW_OK) {
            const char *v = json_string_value(
                json_object_get(json_object_get(obj, "labels"), c->environment_namespace_label));
            if (v && strlen(v) < sizeof nl)
                ns_label = strcpy(nl, v);
        }
    }
    gw_classify_environment(c, override, ns_label, ns, s->labels, r->env);
    gw_classify_priority(c, s->severity, r->env, r->prio);
}

/* scope.require_label, first explicit answer wins: the resource the alert
 * names, then the owner it resolved to (when owners.resolve moved it), then
 * the namespace.  `<scope.label>: "false"` on a resource opts it out even
 * in a managed namespace; "true" opts it in anywhere.  A resource that
 * cannot be read for a configuration reason (404, or 403 where the RBAC
 * grants no `get` on its kind) has no say and the namespace decides; any
 * other failed read is an error (the signal is retried, never dropped).
 * GW_OK with why[0] == '\0' when in scope; otherwise why says how to opt
 * in. */
static gw_err scope_check(gw_ctx *ctx, const gw_target *named, const gw_signal *s,
                          const char *ns_path, const char *rid, long long now, char *why,
                          size_t whylen)
{
    const gw_config *c = &ctx->cfg;
    const gw_target *t[2] = { named, &s->target };
    char path[600];
    json_t *obj;
    gw_err rc;
    why[0] = '\0';
    for (int i = 0; i < 2; i++) {
        if (i == 1 && !strcmp(t[1]->kind, t[0]->kind) && !strcmp(t[1]->name, t[0]->name))
            break;
        if (!gw_object_path(ctx->kinds, t[i]->kind, t[i]->api_version, t[i]->namespace_,
                            t[i]->name, path, sizeof path))
            continue;
        rc = cached(ctx, rid, path, c->environment_cache_ttl_ms, now, &obj);
        if (rc && rc != GW_ENOTFOUND && rc != GW_EKUBECONF)
            return rc;
        int v = rc ? -1 : gw_scope_label(obj, c->scope_label);
        if (v == 1)
            return GW_OK;
        if (v == 0) {
            char kind[64];
            snprintf(kind, sizeof kind, "%s", t[i]->kind);
            for (char *k = kind; *k; k++)
                *k = (char)tolower((unsigned char)*k);
            snprintf(why, whylen, "out of scope: %s \"%s\" is labelled %s=false, which opts it "
                     "out (scope.require_label); to opt it in: kubectl label %s %s%s%s %s=true "
                     "--overwrite", t[i]->kind, t[i]->name, c->scope_label, kind, t[i]->name,
                     *t[i]->namespace_ ? " -n " : "", t[i]->namespace_, c->scope_label);
            return GW_OK;
        }
    }
    if (*ns_path) {
        rc = cached(ctx, rid, ns_path, c->environment_cache_ttl_ms, now, &obj);
        if (rc == GW_OK && gw_scope_label(obj, c->scope_label) == 1)
            return GW_OK;
        if (rc && rc != GW_ENOTFOUND)
            return rc;
        snprintf(why, whylen, "out of scope: neither namespace \"%s\" nor the resource is "
                 "labelled %s=true (scope.require_label); to opt the namespace in: kubectl "
                 "label namespace %s %s=true", s->target.namespace_, c->scope_label,
                 s->target.namespace_, c->scope_label);
        return GW_OK;
    }
    snprintf(why, whylen, "out of scope: the resource is not labelled %s=true "
             "(scope.require_label)", c->scope_label);
    return GW_OK;
}

/* owners.resolve: the signal's target becomes its top controller owner and
 * the fingerprint follows.  A failed lookup keeps the resource itself. */
static void resolve_owner(gw_ctx *ctx, gw_signal *s, gw_owned_target *owned, const char *rid,
                          long long now)
{
    char err[256];
    int hops = 0;
    if (!strcmp(s->target.kind, "Unknown"))
        return;
    gw_err rc = gw_owner_resolve(ctx->kinds, ctx->objects, &ctx->cfg, &s->target, now, owned,
                                 &hops, err, sizeof err);
    char fp[65];
    if (!rc && hops &&
        (rc = gw_signal_fingerprint(&ctx->cfg, s, &owned->t, fp)))
        snprintf(err, sizeof err, "fingerprint of the owner %s/%s", owned->t.kind,
                 owned->t.name);
    if (rc) {
        /* counted always, logged at 1, 2, 4, 8, ... so that a resource
         * that is gone for good does not flood the log */
        unsigned long long n = ++ctx->owner_failures;
        gw_metrics_count(ctx->metrics, GW_C_OWNER_FAILURES);
        gw_log(ctx->log_min, (n & (n - 1)) ? GW_LOG_DEBUG : GW_LOG_WARN, rid,
               "owner resolution failed (%llu so far), using the resource itself: %s", n, err);
        return;
    }
    if (!hops) {
        /* read at another version after an early discovery (owners.h) */
        if (strcmp(owned->api_version, s->target.api_version))
            s->target.api_version = owned->api_version;
        return;
    }
    s->target = owned->t;
    memcpy(s->fingerprint, fp, sizeof fp);
}

/* Whether the signal's namespace is in the cluster: a signal about a
 * namespace that does not exist is not acted on (it would let one webhook
 * create a request per invented namespace).  The cached namespace read
 * that classification uses (kcache: one GET per namespace per
 * environment.cache_ttl per worker, a stale answer when a refresh fails).
 * GW_OK: it exists, or the target is cluster-scoped; GW_ENOTFOUND; or the
 * error of a lookup that could not be made. */
static gw_err namespace_check(gw_ctx *ctx, const gw_signal *s, const char *ns_path,
                              const char *rid, long long now)
{
    json_t *obj;
    if (!*s->target.namespace_)
        return GW_OK;
    if (!*ns_path)
        return GW_ENOTFOUND; /* not a namespace name: none can exist (adapters refuse it) */
    return cached(ctx, rid, ns_path, ctx->cfg.environment_cache_ttl_ms, now, &obj);
}

/* The failure of a create that a creation budget refused (503). */
static void over_budget(gw_ctx *ctx, const char *rid, const gw_dedup_result *d, sig_result *r)
{
    const gw_config *c = &ctx->cfg;
    gw_metrics_rejected(ctx->metrics, GW_REJ_CREATION_BUDGET);
    if (d->over_sender)
        fail(r, GW_EBUSY, GW_503_SENDER_BUDGET, c->limits_creates_per_sender_per_minute);
    else
        fail(r, GW_EBUSY, GW_503_GATEWAY_BUDGET, c->limits_creates_per_minute);
    r->retry_s = d->budget_retry_s;
    gw_log(ctx->log_min, GW_LOG_WARN, rid, "creation budget: %s", r->msg);
}

/* The target with the cluster's kinds and versions (kinds.h, target.h):
 * discovery once per kubernetes.discovery_ttl per worker, on first need;
 * otherwise a lookup in the worker's table, no apiserver call. */
static void refine_target(gw_ctx *ctx, gw_signal *s, gw_signal_target_store *st, const char *rid,
                          long long now)
{
    char err[256];
    int fetched;
    gw_err rc = gw_kinds_ensure(ctx->kinds, now, &fetched, err, sizeof err);
    if (rc && fetched)
        gw_log(ctx->log_min, GW_LOG_WARN, rid, "API discovery failed, using %s: %s",
               gw_kinds_discovered(ctx->kinds) ? "the last good discovery"
                                               : "the built-in kinds table", err);
    else if (fetched) {
        size_t nw;
        gw_kinds_workloads(ctx->kinds, &nw);
        gw_log(ctx->log_min, GW_LOG_INFO, rid, "API discovery: %zu kinds, %zu workload custom "
               "resources", gw_kinds_count(ctx->kinds), nw);
    }
    gw_signal_refine_target(ctx->kinds, &ctx->cfg, s, st);
}

static void process_signal(gw_ctx *ctx, const gw_batch *b, const gw_signal *in,
                           const char *sender, const char *rid, sig_result *r)
{
    memset(r, 0, sizeof *r);
    long long now = gw_now_ms();
    gw_signal sig = *in;
    const gw_signal *s = &sig;
    gw_signal_target_store tstore;
    if (!sig.ignored && (!sig.error[0] || sig.label_target))
        refine_target(ctx, &sig, &tstore, rid, now);
    snprintf(r->fp, sizeof r->fp, "%s", sig.fingerprint);
    if (sig.error[0]) {
        r->kind = R_REJECTED;
        snprintf(r->msg, sizeof r->msg, "%s", sig.error);
        return;
    }
    /* an alert's clock check is per request: the parse is memoised */
    if (in->item && gw_am_check_clock(&ctx->cfg, in, (size_t)(in - b->signals), now, r->msg,
                                      sizeof r->msg)) {
        r->kind = R_REJECTED;
        return;
    }
    if (sig.ignored) {
        ignore(r, sig.ignored_reason ? sig.ignored_reason : "ignored", "%s", sig.ignored);
        return;
    }
    /* the namespace's path, for its existence, scope and environment */
    char ns_path[128] = "";
    if (*s->target.namespace_)
        gw_k8s_path(ns_path, sizeof ns_path, "v1", NULL, "namespaces", s->target.namespace_);
    /* An error here (apiserver down, nothing cached) does not stop a
     * duplicate, which creates nothing; a signal that would create is
     * answered 503 below. */
    gw_err ns_rc = namespace_check(ctx, s, ns_path, rid, now);
    if (ns_rc == GW_ENOTFOUND) {
        char ns[80];
        gw_text_clean(s->target.namespace_, strlen(s->target.namespace_), ns, sizeof ns);
        ignore(r, "namespace-not-found", "namespace \"%s\" does not exist in the cluster: "
               "nothing there to remediate", ns);
        return;
    }
    gw_owned_target owned;
    const gw_target named = sig.target; /* the resource the signal names */
    if (ctx->cfg.owners_resolve) {
        resolve_owner(ctx, &sig, &owned, rid, now);
        snprintf(r->fp, sizeof r->fp, "%s", sig.fingerprint);
        if (!*sig.target.namespace_) /* a cluster-scoped owner (a Node) */
            ns_path[0] = '\0';
    }
    gw_err rc;
    if (ctx->cfg.scope_require_label) {
        char why[400];
        if ((rc = scope_check(ctx, &named, s, ns_path, rid, now, why, sizeof why))) {
            fail(r, rc == GW_EKUBECONF ? GW_EKUBE : rc, "%s",
                 "scope check: namespace labels unreadable; retry");
            return;
        }
        if (*why) {
            ignore(r, "out-of-scope", "%s", why);
            return;
        }
    }
    classify(ctx, s, ns_path, rid, now, r);
    gw_dedup_result d;

    if (s->resolved) {
        if ((rc = gw_dedup_resolve(&ctx->dedup, s->fingerprint, now, &d))) {
            fail(r, rc, "redis: %s", ctx->redis.errstr);
            return;
        }
        ignore(r, "resolved", "resolved alert recorded; no request is created");
        if (d.kind == GW_DEDUP_DUP) {
            char ts[32], err[512];
            gw_rfc3339(now, ts);
            set_ref(r, d.ns, d.name, &d);
            /* a storm member's resolution does not resolve the storm */
            if (!d.member &&
                gw_rrstore_annotate(ctx->kube, &ctx->cfg, d.ns, d.name, "kubernaut.ai/resolved-at",
                                    ts, &ctx->scratch, err, sizeof err))
                gw_log(ctx->log_min, GW_LOG_WARN, rid, "resolved annotation failed: %s", err);
        }
        return;
    }

    const char *rr_ns = ctx->cfg.rr_namespace;
    if (!strcmp(ctx->cfg.rr_namespace_mode, "signal") && *s->target.namespace_)
        rr_ns = s->target.namespace_;
    char owner[48], group[17], resource[330];
    snprintf(owner, sizeof owner, "%ld-%llu", ctx->pid, ++ctx->seq);
    gw_dedup_group(s->target.namespace_, s->name, group);
    snprintf(resource, sizeof resource, "%s/%s", s->target.kind, s->target.name);
    long esc_at = gw_escalation_threshold(&ctx->cfg, r->env);
    gw_dedup_signal ds = { group, s->target.namespace_, s->name, resource, esc_at, sender, false };
    long long deadline = now + ctx->cfg.dedup_pending_wait_ms;
    int restarts = 0;
    for (;;) {
        rc = gw_dedup_hit(&ctx->dedup, s->fingerprint, &ds, now, owner, &d);
        gw_metrics_up(ctx->metrics, GW_UP_REDIS, rc != GW_EREDIS);
        if (rc) {
            fail(r, rc, "redis: %s", ctx->redis.errstr);
            return;
        }
        ds.counted = true; /* for rate storms: a retry is the same occurrence */
        if (d.storm_detected[0])
            note_storm_opened(ctx, rid, &ds, &d, r);
        if ((d.kind == GW_DEDUP_NEW || d.kind == GW_DEDUP_STORM_NEW) && ns_rc != GW_OK) {
            /* a create needs to know the namespace exists */
            gw_dedup_release(&ctx->dedup, s->fingerprint,
                             d.kind == GW_DEDUP_STORM_NEW ? group : NULL, owner);
            fail(r, GW_EKUBE, "namespace \"%.63s\" could "
                 "not be looked up (cause in the log above); retry", s->target.namespace_);
            return;
        }
        if (d.kind == GW_DEDUP_OVER_BUDGET) {
            over_budget(ctx, rid, &d, r);
            return;
        }
        if (d.kind == GW_DEDUP_NEW) {
            create_path(ctx, b, s, sender, rid, rr_ns, owner, now, r);
            return;
        }
        if (d.kind == GW_DEDUP_STORM_NEW) {
            r->storm_total = d.storm_total;
            snprintf(r->storm_type, sizeof r->storm_type, "%s", d.storm_type);
            storm_create_path(ctx, b, s, &ds, rid, rr_ns, owner, now, r);
            return;
        }
        if (d.kind == GW_DEDUP_DUP || d.kind == GW_DEDUP_AGGREGATED) {
            bool finished = false;
            if (d.sync_due && d.kind == GW_DEDUP_DUP) {
                finished = sync_status(ctx, rid, s->fingerprint, d.ns, d.name, d.count,
                                       d.first_ms, d.last_ms);
            } else if (d.sync_due) {
                gw_flush_item it;
                finished = gw_dedup_storm_info(&ctx->dedup, group, &it) == GW_OK &&
                           sync_storm(ctx, rid, &it);
            }
            if (finished && restarts++ == 0) {
                /* the request finished or was deleted: this occurrence
                 * starts a new one */
                if ((rc = gw_dedup_forget(&ctx->dedup, s->fingerprint, d.name))) {
                    fail(r, rc, "redis: %s", ctx->redis.errstr);
                    return;
                }
                continue;
            }
            set_ref(r, d.ns, d.name, &d);
            if (d.kind == GW_DEDUP_AGGREGATED) {
                r->kind = R_AGGREGATED;
                r->storm_total = d.storm_total;
                snprintf(r->storm_type, sizeof r->storm_type, "%s", d.storm_type);
                return;
            }
            r->kind = R_DUP;
            char from[8];
            snprintf(from, sizeof from, "%s", r->prio);
            if ((d.escalated || d.escalate) && gw_priority_raise(from, r->prio)) {
                r->escalated = true;
                if (d.escalate)
                    escalate(ctx, rid, r, from, esc_at);
            }
            return;
        }
        /* pending: another worker is creating it right now */
        if (gw_now_ms() >= deadline) {
            fail(r, GW_EBUSY, "%s", GW_503_PENDING);
            return;
        }
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        now = gw_now_ms();
    }
}

/* ---- the trailing flush ------------------------------------------------- */

long gw_tick(gw_ctx *ctx)
{
    long long now = gw_now_ms();
    /* how often an idle worker looks for queued syncs: often enough that
     * a count converges within status_sync_interval plus this */
    long poll = ctx->cfg.dedup_status_sync_interval_ms / 2;
    poll = poll < 250 ? 250 : poll > 1000 ? 1000 : poll;
    if (now < ctx->next_tick_ms)
        return (long)(ctx->next_tick_ms - now);
    gw_flush_item items[16];
    size_t n = 0;
    long long next_due = 0;
    if (gw_dedup_flush(&ctx->dedup, now, items, 16, &n, &next_due)) {
        gw_log(ctx->log_min, GW_LOG_DEBUG, NULL, "trailing flush: redis: %s", ctx->redis.errstr);
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        gw_flush_item *it = &items[i];
        if (it->storm)
            sync_storm(ctx, NULL, it);
        else if (sync_status(ctx, NULL, it->id, it->ns, it->name, it->count, it->first_ms,
                             it->last_ms)) {
            gw_dedup_forget(&ctx->dedup, it->id, it->name);
        }
    }
    long wait = poll;
    if (n == 16)
        wait = 0; /* more are due: go on at once */
    else if (next_due > now && next_due - now < wait)
        wait = (long)(next_due - now);
    ctx->next_tick_ms = now + wait;
    return wait;
}

/* ---- responses ---------------------------------------------------------- */

static void reply_json(gw_response *resp, int status, json_t *j)
{
    resp->status = status;
    resp->content_type = "application/json";
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!s || gw_buf_appends(&resp->body, s)) {
        gw_buf_reset(&resp->body);
        gw_buf_appends(&resp->body, "{\"status\":\"error\"}");
    }
    gw_json_free(s);
}

static void reply_problem(gw_ctx *ctx, gw_response *resp, int status, const char *path,
                          const char *detail)
{
    gw_buf_reset(&resp->body);
    resp->status = status;
    resp->content_type = "application/problem+json";
    snprintf(ctx->detail, sizeof ctx->detail, "%.511s", detail ? detail : "");
    if (status == 503)
        resp->retry_after = ctx->cfg.server_retry_after_s > 0 ? ctx->cfg.server_retry_after_s : 1;
    gw_problem_write(&resp->body, status, detail, path, resp->request_id);
}

static void ref_string(const sig_result *r, char *out, size_t outlen)
{
    if (r->rr_name[0])
        snprintf(out, outlen, "%s/%s", r->rr_ns, r->rr_name);
    else
        out[0] = '\0';
}

/* Appends key (a literal: ,"name": with its quotes and colon) and value as
 * a JSON string. */
static gw_err put_str(gw_buf *b, const char *key, const char *value)
{
    gw_err rc;
    if ((rc = gw_buf_appends(b, key)))
        return rc;
    return gw_json_str(b, value);
}

/* 201 and 202 are the hot answers: written directly.  Every value in them
 * is hex, a DNS name, a validated label value, a number or our own
 * timestamp; gw_json_str escapes anyway, so no input can break the JSON. */
static gw_err write_stored(gw_buf *b, const sig_result *r)
{
    static const char *const heads[] = {
        [R_CREATED] = "{\"status\":\"created\",\"message\":\"RemediationRequest created\","
                      "\"fingerprint\":",
        [R_DUP] = "{\"status\":\"duplicate\",\"message\":\"duplicate signal; occurrence "
                  "counted\",\"fingerprint\":",
        [R_AGGREGATED] = "{\"status\":\"aggregated\",\"message\":\"alert storm: signal "
                         "added to the aggregated RemediationRequest\",\"fingerprint\":",
    };
    bool created = r->kind == R_CREATED;
    bool duplicate = r->kind == R_DUP || (r->kind == R_AGGREGATED && r->count > 1);
    gw_err rc;
    if ((rc = put_str(b, heads[r->kind], r->fp)))
        return rc;
    if ((rc = gw_buf_appends(b, duplicate ? ",\"duplicate\":true" : ",\"duplicate\":false")))
        return rc;
    if ((rc = put_str(b, ",\"remediationRequestName\":", r->rr_name)))
        return rc;
    if ((rc = put_str(b, ",\"remediationRequestNamespace\":", r->rr_ns)))
        return rc;
    if ((rc = put_str(b, ",\"environment\":", r->env)))
        return rc;
    if ((rc = put_str(b, ",\"priority\":", r->prio)))
        return rc;
    if (r->escalated && (rc = gw_buf_appends(b, ",\"escalated\":true")))
        return rc;
    if (r->kind == R_AGGREGATED) {
        /* the spec's type, remediationRequestRef, resourceCount; resources
         * is resourceCount's older name, kept as an alias */
        char ref[330];
        ref_string(r, ref, sizeof ref);
        if ((rc = put_str(b, ",\"storm\":{\"type\":", r->storm_type)))
            return rc;
        if ((rc = put_str(b, ",\"remediationRequestRef\":", ref)))
            return rc;
        if ((rc = gw_buf_printf(b, ",\"resourceCount\":%lld,\"resources\":%lld,\"opened\":%s}",
                                r->storm_total, r->storm_total,
                                r->storm_opened ? "true" : "false")))
            return rc;
    }
    if (!created) {
        char ref[330], first[32], last[32];
        ref_string(r, ref, sizeof ref);
        gw_rfc3339(r->first_ms, first);
        gw_rfc3339(r->last_ms, last);
        if ((rc = gw_buf_printf(b, ",\"metadata\":{\"count\":%lld", r->count)))
            return rc;
        if ((rc = put_str(b, ",\"remediationRequestRef\":", ref)))
            return rc;
        if ((rc = gw_buf_printf(b, ",\"firstOccurrence\":\"%s\",\"lastOccurrence\":\"%s\"}",
                                first, last)))
            return rc;
    }
    return gw_buf_appends(b, "}");
}

static void reply_single(gw_response *resp, const sig_result *r)
{
    if (r->kind == R_CREATED || r->kind == R_DUP || r->kind == R_AGGREGATED) {
        resp->status = r->kind == R_CREATED ? 201 : 202;
        resp->content_type = "application/json";
        if (write_stored(&resp->body, r)) {
            gw_buf_reset(&resp->body);
            gw_buf_appends(&resp->body, "{\"status\":\"error\"}");
        }
        return;
    }
    char ref[330];
    ref_string(r, ref, sizeof ref);
    reply_json(resp, 200, json_pack("{s:s,s:s,s:s,s:s,s:s}", "status", "ignored", "reason",
                                    r->reason ? r->reason : "ignored", "message", r->msg,
                                    "fingerprint", r->fp, "remediationRequestRef", ref));
}

/* What a client may read about a failure: no hostnames, no URLs. */
static const char *client_detail(const sig_result *r)
{
    switch (r->err) {
    case GW_EREDIS:
        return GW_503_REDIS;
    case GW_EKUBE:
        return r->breaker_retry_s > 0 ? GW_503_KUBE_BREAKER : GW_503_KUBE;
    case GW_EBUSY:
        return r->msg; /* our own text: a GW_503_* of unavailable.h */
    case GW_EKUBECONF:
        /* The apiserver's Status message names users, verbs and resources
         * ("User system:serviceaccount:... cannot create ..."): it goes to
         * the log under this request_id, never to the sender. */
        return "the Kubernetes API refused the gateway's request (permissions, CRD or "
               "namespace): a configuration problem on the gateway's side; the cause is in the "
               "gateway's log under this request_id";
    default:
        return "internal error: the signal was not recorded";
    }
}

static void reply_batch(gw_ctx *ctx, const gw_request *req, gw_response *resp, const gw_batch *b,
                        const sig_result *res, size_t done)
{
    /* any failure decides the whole answer: 503 makes Alertmanager resend,
     * and what was stored counts as a duplicate on the resend */
    for (size_t i = 0; i < done; i++) {
        if (res[i].kind == R_FAILED) {
            /* the full cause (with internal addresses) goes to the log;
             * the client learns what failed and that it should retry */
            gw_log(ctx->log_min, GW_LOG_WARN, resp->request_id, "alerts[%zu] %s: %s", i,
                   res[i].fp, res[i].msg);
            const char *what = client_detail(&res[i]);
            char detail[GW_ERRMSG + 200];
            if (b->n > 1)
                snprintf(detail, sizeof detail, "alerts[%zu]: %s", i, what);
            else
                snprintf(detail, sizeof detail, "%s", what);
            reply_problem(ctx, resp, gw_err_http_status(res[i].err), req->path, detail);
            if (res[i].breaker_retry_s > 0) /* when the next probe may succeed */
                resp->retry_after = res[i].breaker_retry_s;
            else if (res[i].retry_s > 0 && resp->status == 503)
                resp->retry_after = res[i].retry_s;
            return;
        }
    }
    if (b->n == 1) {
        const sig_result *r = &res[0];
        if (r->kind == R_REJECTED) {
            reply_problem(ctx, resp, 400, req->path, r->msg);
            return;
        }
        reply_single(resp, r);
        return;
    }
    static const char *const names[] = { "created", "duplicate", "aggregated", "ignored",
                                         "rejected", "failed" };
    long counts[6] = { 0 };
    json_t *results = json_array();
    for (size_t i = 0; i < b->n; i++) {
        const sig_result *r = &res[i];
        char ref[330];
        ref_string(r, ref, sizeof ref);
        counts[r->kind]++;
        json_t *e = json_pack("{s:I,s:s,s:s}", "index", (json_int_t)i, "status", names[r->kind],
                              "fingerprint", r->fp);
        if (ref[0])
            json_object_set_new(e, "remediationRequestRef", json_string(ref));
        if (r->kind == R_IGNORED)
            json_object_set_new(e, "reason", json_string(r->reason ? r->reason : "ignored"));
        if (r->kind == R_REJECTED)
            json_object_set_new(e, "error", json_string(r->msg));
        else
            json_object_set_new(e, "message", json_string(r->kind == R_CREATED ? "created"
                                                        : r->kind == R_DUP ? "deduplicated"
                                                        : r->kind == R_AGGREGATED ? "aggregated"
                                                        : r->msg));
        if (r->kind == R_CREATED || r->kind == R_DUP || r->kind == R_AGGREGATED) {
            json_object_set_new(e, "environment", json_string(r->env));
            json_object_set_new(e, "priority", json_string(r->prio));
        }
        if (r->kind == R_AGGREGATED) /* as in the single answer */
            json_object_set_new(e, "storm", json_pack("{s:s,s:s,s:I,s:I,s:b}", "type",
                                                      r->storm_type, "remediationRequestRef", ref,
                                                      "resourceCount", (json_int_t)r->storm_total,
                                                      "resources", (json_int_t)r->storm_total,
                                                      "opened", r->storm_opened));
        json_array_append_new(results, e);
    }
    json_t *j = json_pack("{s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I}}", "results", results, "summary",
                          "total", (json_int_t)b->n, "created", (json_int_t)counts[R_CREATED],
                          "deduplicated", (json_int_t)counts[R_DUP], "aggregated", (json_int_t)counts[R_AGGREGATED],
                          "ignored", (json_int_t)counts[R_IGNORED], "rejected",
                          (json_int_t)counts[R_REJECTED], "failed", (json_int_t)0);
    reply_json(resp, 207, j);
}

/* ---- routes ------------------------------------------------------------- */

static bool json_content_type(const char *ct)
{
    if (!ct || !*ct)
        return true;
    size_t n = strcspn(ct, ";");
    while (n && ct[n - 1] == ' ')
        n--;
    return n == 16 && !strncasecmp(ct, "application/json", 16);
}

typedef enum { SRC_ALERTMANAGER, SRC_K8S_EVENT, SRC_GRAFANA } webhook_source;

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
static void count_result(gw_ctx *ctx, webhook_source src, const gw_signal *s, const sig_result *r)
{
    gw_metrics *m = ctx->metrics;
    if (r->kind == R_REJECTED) {
        gw_metrics_rejected(m, GW_REJ_VALIDATION);
        return;
    }
    gw_metrics_received(m, src == SRC_GRAFANA ? GW_SRC_GRAFANA
                           : src == SRC_K8S_EVENT ? GW_SRC_K8S_EVENTS : GW_SRC_PROMETHEUS,
                        severity_label(&ctx->cfg, s->severity));
    if (r->storm_detected[0])
        gw_metrics_storm(m, strcmp(r->storm_detected, "rate") ? GW_STORM_PATTERN : GW_STORM_RATE);
    switch (r->kind) {
    case R_CREATED: gw_metrics_count(m, GW_C_CREATED); break;
    case R_DUP: gw_metrics_count(m, GW_C_DEDUPLICATED); break;
    case R_AGGREGATED: gw_metrics_count(m, GW_C_AGGREGATED); break;
    case R_IGNORED:
        gw_metrics_count(m, GW_C_IGNORED);
        if (r->reason && !strcmp(r->reason, "namespace-not-found"))
            gw_metrics_rejected(m, GW_REJ_NAMESPACE_NOT_FOUND);
        break;
    default: break;
    }
}

/* Runs every signal of b and writes the answer; returns the log decision. */
static const char *process_batch(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                 webhook_source src, const gw_batch *b, const char *sender,
                                 char *fp_out)
{
    sig_result *res = calloc(b->n, sizeof *res);
    if (!res) {
        reply_problem(ctx, resp, 500, req->path, "out of memory");
        return "error";
    }
    size_t done = 0;
    while (done < b->n) {
        process_signal(ctx, b, &b->signals[done], sender, resp->request_id, &res[done]);
        if (res[done].kind == R_FAILED && res[done].err == GW_EKUBE)
            gw_kube_last_refused(ctx->kube, &res[done].breaker_retry_s);
        count_result(ctx, src, &b->signals[done], &res[done]);
        done++;
        if (res[done - 1].kind == R_FAILED && gw_err_temporary(res[done - 1].err))
            break; /* the rest would fail the same way; the resend covers them */
    }
    snprintf(fp_out, 65, "%s", res[0].fp);
    reply_batch(ctx, req, resp, b, res, done);
    const char *decision = b->n > 1 ? "batch"
                           : res[0].kind == R_CREATED ? "created"
                           : res[0].kind == R_DUP     ? "duplicate"
                           : res[0].kind == R_AGGREGATED ? "aggregated"
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
static const char *refuse_request(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                  const char *route, const gw_auth_result *a)
{
    char why[256], addr[64], who[192], msg[400];
    gw_text_clean(a->why, strlen(a->why), why, sizeof why);
    bool webhook = !strcmp(route, "prometheus") || !strcmp(route, "grafana") ||
                   !strcmp(route, "kubernetes-event");
    snprintf(msg, sizeof msg, "security_event: %s %s refused: %s", route,
             webhook ? "webhook" : "request", why);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i}", "request_id", resp->request_id, "msg",
                          msg, "event", "security_event", "route", route, "mode",
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
    reply_problem(ctx, resp, a->status, req->path, a->detail);
    resp->www_authenticate = a->challenge;
    return a->status == 401 ? "unauthorized" : a->status == 403 ? "forbidden" : "failed";
}

/* The route's authentication (auth.h).  NULL when the request may go on
 * (res says who it is), else the decision for the log line. */
static const char *authenticate(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                gw_auth_route ar, const char *route, gw_auth_result *res)
{
    gw_auth_check(ctx->auth, ar, req, gw_now_ms(), res);
    return res->status ? refuse_request(ctx, req, resp, route, res) : NULL;
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
                                 const char *route, gw_auth_result *a, const gw_batch *b)
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
        return refuse_request(ctx, req, resp, route, a);
    }
    return NULL;
}

/* A signed request whose signature the replay cache holds was accepted
 * before (nonce.h): 200 ignored, reason replay, naming the first answer's
 * request and fingerprint; nothing is counted again.  NULL when it is new,
 * or when Redis could not tell (the pipeline then meets Redis itself: a
 * request is never called a replay unseen). */
static const char *replay_check(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                const char *route, const gw_auth_result *who, char *fp_out)
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
        if (!gw_dedup_get(&ctx->dedup, fp, &d) && d.kind == GW_DEDUP_DUP)
            snprintf(ref, sizeof ref, "%s/%s", d.ns, d.name);
    } else {
        fp = "";
    }
    snprintf(msg, sizeof msg, "security_event: %s webhook replayed: a signed request already "
             "accepted (as request %s) was sent again; not counted", route, first);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i}", "request_id", resp->request_id, "msg",
                          msg, "event", "security_event", "route", route, "mode", "hmac",
                          "reason", "replay", "status", 200);
    if (j && req->remote_addr) {
        gw_text_clean(req->remote_addr, strlen(req->remote_addr), addr, sizeof addr);
        json_object_set_new(j, "remote_addr", json_string(addr));
    }
    gw_log_json(ctx->log_min, GW_LOG_WARN, j);
    snprintf(msg, sizeof msg, "this signed request was already accepted (request %s) and is not "
             "counted again; a new occurrence needs a new signed timestamp", first);
    reply_json(resp, 200, json_pack("{s:s,s:s,s:s,s:s,s:s}", "status", "ignored", "reason",
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
static const char *sender_id(gw_ctx *ctx, const gw_request *req, const gw_auth_result *who)
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

static const char *serve_webhook(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                 webhook_source src, const char *route, char *fp_out)
{
    if (strcmp(req->method, "POST")) {
        resp->allow = "POST";
        gw_metrics_rejected(ctx->metrics, GW_REJ_METHOD);
        reply_problem(ctx, resp, 405, req->path, "this route accepts POST only");
        return "rejected";
    }
    long max = ctx->cfg.server_max_body_bytes;
    if (req->content_length > max || (long long)req->body_len > max) {
        char d[128];
        snprintf(d, sizeof d, "body of %lld bytes exceeds the limit of %ld bytes",
                 req->content_length > 0 ? req->content_length : (long long)req->body_len, max);
        gw_metrics_rejected(ctx->metrics, GW_REJ_TOO_LARGE);
        reply_problem(ctx, resp, 413, req->path, d);
        return "rejected";
    }
    gw_auth_result who;
    const char *refused = authenticate(ctx, req, resp,
                                       src == SRC_GRAFANA     ? GW_AUTH_ROUTE_GRAFANA
                                       : src == SRC_K8S_EVENT ? GW_AUTH_ROUTE_EVENTS
                                                              : GW_AUTH_ROUTE_PROMETHEUS,
                                       route, &who);
    if (refused)
        return refused;
    if ((refused = replay_check(ctx, req, resp, route, &who, fp_out)))
        return refused;
    if (!json_content_type(req->content_type)) {
        gw_metrics_rejected(ctx->metrics, GW_REJ_MEDIA_TYPE);
        char d[200];
        snprintf(d, sizeof d, "Content-Type must be application/json, not \"%.100s\"",
                 req->content_type);
        reply_problem(ctx, resp, 415, req->path, d);
        return "rejected";
    }
    if (!req->body || !req->body_len) {
        gw_metrics_rejected(ctx->metrics, GW_REJ_VALIDATION);
        reply_problem(ctx, resp, 400, req->path,
                      src == SRC_K8S_EVENT ? "empty body: expected a Kubernetes Event"
                                           : "empty body: expected an Alertmanager webhook");
        return "rejected";
    }
    char err[GW_ERRMSG];
    gw_batch scratch;
    const gw_batch *bp = &scratch;
    gw_err rc;
    if (src == SRC_K8S_EVENT) /* freshness depends on the clock: no memo */
        rc = gw_k8sevent_parse(&ctx->cfg, req->body, req->body_len, gw_now_ms(), &scratch, err,
                               sizeof err);
    else
        rc = gw_bodycache_parse(&ctx->bodies, src == SRC_GRAFANA ? gw_grafana_parse : gw_am_parse,
                                &ctx->cfg, req->body, req->body_len, &scratch, &bp, err,
                                sizeof err);
    if (rc) {
        if (rc == GW_ETOOBIG || rc == GW_EINVAL)
            gw_metrics_rejected(ctx->metrics, rc == GW_ETOOBIG ? GW_REJ_TOO_LARGE
                                                               : GW_REJ_VALIDATION);
        reply_problem(ctx, resp, gw_err_http_status(rc), req->path, err);
        return "rejected";
    }
    const char *decision = scope_refusal(ctx, req, resp, route, &who, bp);
    if (!decision) {
        decision = process_batch(ctx, req, resp, src, bp, sender_id(ctx, req, &who), fp_out);
    }
    remember_nonce(ctx, resp, &who, fp_out);
    gw_batch_free(&scratch);
    return decision;
}

static void probe_readyz(gw_ctx *ctx, const gw_request *req, gw_response *resp)
{
    bool redis_ok = gw_redis_ping(&ctx->redis) == GW_OK;
    gw_metrics_up(ctx->metrics, GW_UP_REDIS, redis_ok);
    if (!redis_ok) {
        gw_log(ctx->log_min, GW_LOG_WARN, resp->request_id, "readyz: redis: %s",
               ctx->redis.errstr);
        reply_problem(ctx, resp, 503, req->path, GW_503_READY_REDIS);
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
            reply_problem(ctx, resp, 503, req->path, d);
            resp->retry_after = retry_s;
            return;
        }
        if (rc) {
            gw_log(ctx->log_min, GW_LOG_WARN, resp->request_id, "readyz: %s", err);
            snprintf(d, sizeof d, "%s", GW_503_READY_KUBE);
        } else
            snprintf(d, sizeof d, GW_503_READY_REFUSED, status, ctx->cfg.rr_plural);
        reply_problem(ctx, resp, 503, req->path, d);
        return;
    }
    reply_json(resp, 200, json_pack("{s:s,s:s,s:s,s:s}", "status", "ready", "redis", "ok",
                                     "kubernetes", "ok", "circuit_breaker",
                                     gw_breaker_state_name(gw_kube_breaker_state(ctx->kube,
                                                                                 NULL))));
}

/* A stop signal shows at once (never reused); anything else is the memo's
 * answer while it is fresh. */
static void handle_readyz(gw_ctx *ctx, const gw_request *req, gw_response *resp)
{
    if (ctx->draining) {
        reply_problem(ctx, resp, 503, req->path, GW_503_SHUTTING_DOWN);
        return;
    }
    readyz_memo *m = &ctx->readyz;
    if (gw_mono_ms() < m->until_ms) {
        if (m->status == 200) {
            resp->status = 200;
            resp->content_type = "application/json";
            gw_buf_appends(&resp->body, m->text);
        } else {
            reply_problem(ctx, resp, m->status, req->path, m->text);
        }
        resp->retry_after = m->retry_after;
        return;
    }
    probe_readyz(ctx, req, resp);
    const char *text = resp->status == 200 ? resp->body.data : ctx->detail;
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
        reply_problem(ctx, resp, 404, req->path, "no such route");
        return;
    }
    if (strcmp(req->method, "GET")) {
        resp->allow = "GET";
        reply_problem(ctx, resp, 405, req->path, "this route accepts GET only");
        return;
    }
    gw_dedup_result d;
    if (gw_dedup_get(&ctx->dedup, fp, &d)) {
        gw_log(ctx->log_min, GW_LOG_WARN, resp->request_id, "signal lookup: redis: %s",
               ctx->redis.errstr);
        reply_problem(ctx, resp, 503, req->path, GW_503_LOOKUP_REDIS);
        return;
    }
    if (d.kind == GW_DEDUP_NONE) {
        reply_problem(ctx, resp, 404, req->path, "no signal with this fingerprint is known");
        return;
    }
    char first[32], last[32], ref[330];
    gw_rfc3339(d.first_ms, first);
    gw_rfc3339(d.last_ms, last);
    snprintf(ref, sizeof ref, "%s/%s", d.ns, d.name);
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
    reply_json(resp, 200, j);
}

/* GET /metrics: the whole worker pool's counters (metrics.h). */
static void handle_metrics(gw_ctx *ctx, const gw_request *req, gw_response *resp)
{
    if (strcmp(req->method, "GET")) {
        resp->allow = "GET";
        reply_problem(ctx, resp, 405, req->path, "this route accepts GET only");
        return;
    }
    gw_err rc = gw_metrics_write(ctx->metrics, PACKAGE_VERSION, &resp->body);
    gw_err edge = rc ? GW_OK : gw_metrics_write_edge(req->edge_refusals, &resp->body);
    if (edge == GW_EINVAL)
        gw_log(ctx->log_min, GW_LOG_WARN, resp->request_id, "the web server's "
               "GATEWAY_EDGE_REFUSALS is malformed: gateway_edge_refusals_total left out");
    if (rc || (edge && edge != GW_EINVAL)) {
        reply_problem(ctx, resp, 500, req->path, "metrics did not fit the response buffer");
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
        reply_problem(ctx, resp, 413, req->path,
                      "request body exceeds the web server's hard limit");
    else if (st == 500 || st == 502 || st == 504)
        reply_problem(ctx, resp, 503, req->path, GW_503_WORKER_FAILED);
    else if (st >= 500)
        reply_problem(ctx, resp, 503, req->path, GW_503_OVERLOADED);
    else if (st == 404 || st == 405)
        reply_problem(ctx, resp, st, req->path, "no such route");
    else
        reply_problem(ctx, resp, 400, req->path, "the web server rejected the request");
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

/* The pool-wide in-flight cap (server.max_in_flight) around one webhook: a
 * refused one is answered 503 + Retry-After before anything is read, so
 * Alertmanager resends it when the pool has room again. */
static const char *handle_webhook(gw_ctx *ctx, const gw_request *req, gw_response *resp,
                                  webhook_source src, const char *route, char *fp_out)
{
    long cap = ctx->cfg.server_max_in_flight;
    long busy = gw_metrics_enter(ctx->metrics, cap);
    const char *decision;
    if (cap > 0 && busy > cap) {
        char d[160];
        snprintf(d, sizeof d, GW_503_IN_FLIGHT, busy, cap);
        reply_problem(ctx, resp, 503, req->path, d);
        decision = "busy";
    } else {
        decision = serve_webhook(ctx, req, resp, src, route, fp_out);
    }
    gw_metrics_leave(ctx->metrics);
    return decision;
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

void gw_handle(gw_ctx *ctx, const gw_request *req, gw_response *resp)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gw_buf_reset(&resp->body);
    resp->status = 500;
    resp->content_type = "application/json";
    resp->retry_after = 0;
    resp->allow = NULL;
    resp->www_authenticate = NULL;
    ctx->detail[0] = '\0';
    pick_request_id(ctx, req, resp);

    const char *path = req->path ? req->path : "";
    const char *method = req->method ? req->method : "";
    gw_request r = *req;
    r.path = path;
    r.method = method;
    const char *decision = "served";
    char fp[65] = "";
    const char *route = "other";
    size_t plen = strlen(ctx->cfg.server_signals_prefix);

    if (req->web_error)
        route = "web-error";
    else if (!strcmp(path, ctx->cfg.server_prometheus_path))
        route = "prometheus";
    else if (!strcmp(path, ctx->cfg.server_grafana_path))
        route = "grafana";
    else if (!strcmp(path, ctx->cfg.server_events_path))
        route = "kubernetes-event";
    else if (!strcmp(path, "/healthz"))
        route = "healthz";
    else if (!strcmp(path, "/readyz"))
        route = "readyz";
    else if (!strcmp(path, "/metrics"))
        route = "metrics";
    else if (!strncmp(path, ctx->cfg.server_signals_prefix, plen) && path[plen] == '/' &&
             !strchr(path + plen + 1, '/'))
        route = "signal";

    gw_auth_result who;
    /* the allowlist guards every route but the probes, which the kubelet
     * sends from the node's address */
    bool probe = !strcmp(route, "healthz") || !strcmp(route, "readyz");
    if (!probe && !gw_auth_ip_allowed(ctx->auth, req->remote_addr)) {
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
        decision = refuse_request(ctx, &r, resp, route, &who);
    } else if (req->web_error) {
        decision = "web-server-error";
        handle_web_error(ctx, &r, resp);
    } else if (!strcmp(route, "prometheus")) {
        decision = handle_webhook(ctx, &r, resp, SRC_ALERTMANAGER, route, fp);
    } else if (!strcmp(route, "grafana")) {
        decision = handle_webhook(ctx, &r, resp, SRC_GRAFANA, route, fp);
    } else if (!strcmp(route, "kubernetes-event")) {
        decision = handle_webhook(ctx, &r, resp, SRC_K8S_EVENT, route, fp);
    } else if (!strcmp(route, "healthz")) {
        reply_json(resp, 200, json_pack("{s:s}", "status", "ok"));
    } else if (!strcmp(route, "readyz")) {
        handle_readyz(ctx, &r, resp);
    } else if (!strcmp(route, "metrics") || !strcmp(route, "signal")) {
        bool metrics = !strcmp(route, "metrics");
        const char *refused = authenticate(ctx, &r, resp, metrics ? GW_AUTH_ROUTE_METRICS
                                                                  : GW_AUTH_ROUTE_SIGNALS,
                                           route, &who);
        if (!refused && who.scope) {
            /* a namespace-scoped sender's token reads nothing pool-wide */
            who.status = 403;
            who.reason = GW_AUTH_FORBIDDEN;
            snprintf(who.detail, sizeof who.detail, "a namespace-scoped token may only send "
                     "signals, not read %s", metrics ? "metrics" : "signal state");
            snprintf(who.why, sizeof who.why, "namespace-scoped token on a read route");
            refused = refuse_request(ctx, &r, resp, route, &who);
        }
        if (refused)
            decision = refused;
        else if (metrics)
            handle_metrics(ctx, &r, resp);
        else
            handle_signal_get(ctx, &r, resp, path + plen + 1);
    } else {
        reply_problem(ctx, resp, 404, path, "no such route");
    }

    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    static const char *const routes[GW_ROUTE_N] = {
        [GW_ROUTE_PROMETHEUS] = "prometheus", [GW_ROUTE_GRAFANA] = "grafana",
        [GW_ROUTE_K8S_EVENT] = "kubernetes-event", [GW_ROUTE_SIGNAL] = "signal",
        [GW_ROUTE_HEALTHZ] = "healthz", [GW_ROUTE_READYZ] = "readyz",
        [GW_ROUTE_METRICS] = "metrics", [GW_ROUTE_WEB_ERROR] = "web-error",
        [GW_ROUTE_OTHER] = "other",
    };
    int ri = GW_ROUTE_OTHER;
    for (int i = 0; i < GW_ROUTE_N; i++)
        if (!strcmp(route, routes[i]))
            ri = i;
    gw_metrics_observe(ctx->metrics, (gw_m_route)ri, resp->status, ms / 1e3);
    if ((ri == GW_ROUTE_HEALTHZ || ri == GW_ROUTE_METRICS) && resp->status == 200 &&
        ctx->log_min > GW_LOG_DEBUG)
        return; /* probes and scrapes every few seconds would drown the log */
    gw_log_req line = {
        .request_id = resp->request_id,
        .route = route,
        .method = strcmp(method, "GET") && strcmp(method, "POST") ? "other" : method,
        .path = path,
        .decision = decision,
        .fingerprint = fp,
        .detail = resp->status >= 400 ? ctx->detail : NULL,
        .status = resp->status,
        .duration_ms = ms,
    };
    gw_log_request(ctx->log_min, resp->status >= 400 ? GW_LOG_WARN : GW_LOG_INFO, &line);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* gateway.c - the per-process context of the request pipeline; see
 * gateway.h (the API) and gwctx.h (how the pipeline's files divide the
 * work).
 *
 * The rule everything in the pipeline serves: a 2xx is sent only when the
 * signal is recorded in Redis and Kubernetes; every temporary failure is a
 * 503 with Retry-After so Alertmanager resends. */
#include "gateway.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gwctx.h"
#include "k8sname.h"

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

/* Redis from redis.*, or the connection the caller handed over. */
static gw_err open_redis(gw_ctx *ctx, gw_redis *given, char *err, size_t errlen)
{
    if (given) {
        ctx->redis = *given; /* moved in: the caller's copy is emptied */
        memset(given, 0, sizeof *given);
        return GW_OK;
    }
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
    return gw_redis_init(&ctx->redis, &ro, err, errlen);
}

/* The Kubernetes client from kubernetes.*, or the one handed over. */
static gw_err open_kube(gw_ctx *ctx, gw_kube *given, char *err, size_t errlen)
{
    if (given) {
        ctx->kube = given;
        return GW_OK;
    }
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
    return gw_kube_new(&ko, &ctx->kube, err, errlen);
}

/* The pool's shared counters at metrics.path (default: the state
 * directory's metrics.shm), or the mapping handed over.  Only running out
 * of memory fails: metrics never stop alerts. */
static gw_err open_metrics(gw_ctx *ctx, gw_metrics *given)
{
    if (given) {
        ctx->metrics = given;
        return GW_OK;
    }
    char mpath[1024], merr[512];
    const char *state = getenv("ALERTGW_STATE_DIR");
    if (*ctx->cfg.metrics_path)
        snprintf(mpath, sizeof mpath, "%s", ctx->cfg.metrics_path);
    else if (state && *state)
        snprintf(mpath, sizeof mpath, "%s/metrics.shm", state);
    else
        snprintf(mpath, sizeof mpath, "/run/alertgw/metrics.shm");
    gw_err rc = gw_metrics_open(mpath, &ctx->metrics, merr, sizeof merr);
    if (rc == GW_ENOMEM)
        return rc;
    if (rc)
        gw_log(ctx->log_min, GW_LOG_WARN, NULL, "%s", merr);
    return GW_OK;
}

gw_err gw_ctx_new(gw_config *cfg, gw_ctx **out, char *err, size_t errlen)
{
    return gw_ctx_new_with(cfg, NULL, out, err, errlen);
}

gw_err gw_ctx_new_with(gw_config *cfg, gw_ctx_deps *deps, gw_ctx **out, char *err,
                       size_t errlen)
{
    static gw_ctx_deps none;
    *out = NULL;
    if (!deps)
        deps = &none;
    gw_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return GW_ENOMEM;
    ctx->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    ctx->log_min = gw_log_level_parse(ctx->cfg.log_level);
    ctx->pid = (long)getpid();
    gw_buf_init(&ctx->scratch, 8u << 20);
    gw_buf_init(&ctx->kscratch, 4u << 20);
    gw_bodycache_init(&ctx->bodies);
    if (RAND_bytes((unsigned char *)&ctx->rid_prefix, sizeof ctx->rid_prefix) != 1)
        ctx->rid_prefix = (unsigned int)ctx->pid * 2654435761u;
    /* adopted before anything can fail, so gw_ctx_free releases them */
    gw_kube *kube = deps->kube;
    gw_metrics *metrics = deps->metrics;
    deps->kube = NULL;
    deps->metrics = NULL;
    gw_err rc = open_redis(ctx, deps->redis, err, errlen);
    if (!rc)
        rc = open_kube(ctx, kube, err, errlen);
    else
        gw_kube_free(kube);
    if (!rc)
        rc = open_metrics(ctx, metrics);
    else
        gw_metrics_close(metrics);
    if (!rc)
        rc = gw_auth_new(&ctx->cfg, kube_post, ctx->kube, &ctx->auth, err, errlen);
    if (rc) {
        gw_ctx_free(ctx);
        return rc;
    }
    gw_dedup_init(&ctx->dedup, &ctx->redis, &ctx->cfg);
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
    gw_metrics_set_in_flight_limit(ctx->metrics, ctx->cfg.server_max_in_flight);
    /* the pool's one circuit breaker lives in the shared mapping */
    gw_kube_attach_metrics(ctx->kube, ctx->metrics);
    gw_recorder_init(&ctx->events, &ctx->cfg, ctx->kube, ctx->metrics, &ctx->scratch,
                     ctx->log_min);
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

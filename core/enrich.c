/* SPDX-License-Identifier: Apache-2.0 */
/* enrich.c - what the pipeline asks the cluster about a signal; see
 * gwctx.h.  Every read goes through the worker's object cache (kcache.h)
 * or its API discovery (kinds.h), so a signal costs an apiserver call only
 * when the cache has nothing fresh. */
#include "gateway.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "fingerprint.h"
#include "gwctx.h"

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
void gw_enrich_classify(gw_ctx *ctx, const gw_signal *s, const char *ns_path, const char *rid,
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
    r->env_src = gw_classify_environment(c, override, ns_label, ns, s->labels, r->env);
    r->prio_src = gw_classify_priority(c, s->severity, r->env, r->prio);
}

/* The command that opts resource t in: `kubectl label <kind> <name>
 * [-n <ns>] <label>=true`, the kind in lower case (kubectl's name for it).
 * The kind, name and namespace passed the Kubernetes syntax checks, so
 * they are shell words as they are. */
static void optin_command(const gw_target *t, const char *label, char *out, size_t outlen)
{
    char kind[64];
    snprintf(kind, sizeof kind, "%s", t->kind);
    for (char *k = kind; *k; k++)
        *k = (char)tolower((unsigned char)*k);
    snprintf(out, outlen, "kubectl label %s %s%s%s %s=true", kind, t->name,
             *t->namespace_ ? " -n " : "", t->namespace_, label);
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
gw_err gw_enrich_scope(gw_ctx *ctx, const gw_target *named, const gw_signal *s,
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
            char cmd[300];
            optin_command(t[i], c->scope_label, cmd, sizeof cmd);
            snprintf(why, whylen, "out of scope: %s \"%s\" is labelled %s=false, which opts it "
                     "out (scope.require_label); to opt it in: %s --overwrite", t[i]->kind,
                     t[i]->name, c->scope_label, cmd);
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
    /* a cluster-scoped target (a Node): only its own label can opt it in;
     * a kind the gateway cannot read (Unknown) gets no command */
    if (gw_object_path(ctx->kinds, s->target.kind, s->target.api_version, "", s->target.name,
                       path, sizeof path)) {
        char cmd[300];
        optin_command(&s->target, c->scope_label, cmd, sizeof cmd);
        snprintf(why, whylen, "out of scope: %s \"%s\" is not labelled %s=true "
                 "(scope.require_label); to opt it in: %s", s->target.kind, s->target.name,
                 c->scope_label, cmd);
        return GW_OK;
    }
    snprintf(why, whylen, "out of scope: the resource is not labelled %s=true "
             "(scope.require_label)", c->scope_label);
    return GW_OK;
}

/* owners.resolve: the signal's target becomes its top controller owner and
 * the fingerprint follows.  A failed lookup keeps the resource itself. */
void gw_enrich_owner(gw_ctx *ctx, gw_signal *s, gw_owned_target *owned, const char *rid,
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
gw_err gw_enrich_namespace(gw_ctx *ctx, const gw_signal *s, const char *ns_path,
                              const char *rid, long long now)
{
    json_t *obj;
    if (!*s->target.namespace_)
        return GW_OK;
    if (!*ns_path)
        return GW_ENOTFOUND; /* not a namespace name: none can exist (adapters refuse it) */
    return cached(ctx, rid, ns_path, ctx->cfg.environment_cache_ttl_ms, now, &obj);
}

/* The target with the cluster's kinds and versions (kinds.h, target.h):
 * discovery once per kubernetes.discovery_ttl per worker, on first need;
 * otherwise a lookup in the worker's table, no apiserver call. */
void gw_enrich_target(gw_ctx *ctx, gw_signal *s, gw_signal_target_store *st, const char *rid,
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

/* SPDX-License-Identifier: Apache-2.0 */
/* pipeline.c - one signal through the pipeline; see gwctx.h.
 *
 * Per signal: the target refined with the cluster's kinds, the namespace,
 * owners, scope and classification (enrich.c), then the dedup verdict in
 * Redis (one EVALSHA) -> on a new fingerprint, look Kubernetes up by
 * label, then create -> activate the claim.  The duplicate path touches no
 * Kubernetes API except the coalesced status patch (at most one per
 * request per status_sync_interval).  The trailing flush (gw_tick) is
 * here too: it finishes the syncs duplicates queued. */
#include "gateway.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "am.h"
#include "classify.h"
#include "clock.h"
#include "fingerprint.h"
#include "gwctx.h"
#include "jsonmem.h"
#include "k8sname.h"
#include "rr.h"
#include "rrstore.h"
#include "text.h"
#include "unavailable.h"

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
 * Of fp's request, or (fp NULL) of the storm group's aggregate: either way
 * the landed count is checked against Redis afterwards (gw_dedup_synced);
 * fp's Deduplicated Event is written too.  After a successful patch the
 * answer (the request) is left in ctx->scratch. */
static bool sync_status(gw_ctx *ctx, const char *rid, const char *fp, const char *group,
                        const char *ns, const char *name, long long count, long long first_ms,
                        long long last_ms)
{
    char err[512];
    bool finished = false;
    gw_err rc = gw_rrstore_patch_dedup(ctx->kube, &ctx->cfg, ns, name, count, first_ms, last_ms,
                                       &ctx->scratch, &finished, err, sizeof err);
    gw_metrics_up(ctx->metrics, GW_UP_KUBE, rc != GW_EKUBE);
    gw_metrics_count(ctx->metrics, rid ? GW_C_SYNC_INLINE : GW_C_SYNC_FLUSH);
    if (rc)
        gw_log(ctx->log_min, GW_LOG_WARN, rid, "status sync of %s/%s failed: %s", ns, name, err);
    char uid[64] = ""; /* the request's, for its Events: the patch answered with it */
    if (fp && !rc && !finished)
        gw_recorder_uid(&ctx->events, &ctx->scratch, uid);
    /* a failed patch (not a finished or deleted request) is queued again */
    if (!finished && gw_dedup_synced(&ctx->dedup, !fp, fp ? fp : group, rc ? -1 : count,
                                     gw_now_ms()))
        gw_log(ctx->log_min, GW_LOG_DEBUG, rid, "status sync of %s/%s: recheck: redis: %s", ns,
               name, ctx->redis.errstr);
    /* the Deduplicated Event rides on the status sync: one write per sync */
    if (fp)
        gw_record_duplicates(&ctx->events, rid, ns, name, uid, count, first_ms, last_ms);
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
                    sync_status(ctx, rid, NULL, it->id, it->ns, it->name, it->count,
                                it->first_ms, it->last_ms);
    /* a failed annotation patch is queued again like a failed status patch
     * (the count alone would not show it) */
    if (!finished && rc && gw_dedup_synced(&ctx->dedup, true, it->id, -1, gw_now_ms()))
        gw_log(ctx->log_min, GW_LOG_DEBUG, rid, "storm annotation of %s/%s: requeue: redis: %s",
               it->ns, it->name, ctx->redis.errstr);
    char uid[64]; /* "" unless the status patch answered with the aggregate */
    gw_recorder_uid(&ctx->events, &ctx->scratch, uid);
    if (finished)
        gw_dedup_storm_forget(&ctx->dedup, it->id, it->name);
    else
        gw_record_storm_members(&ctx->events, rid, it->ns, it->name, uid, it->storm_type,
                                it->storm_total, it->count, it->resources, it->last_ms);
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

/* The fingerprint is ours (pending claim; hit: the answer that gave it):
 * adopt an open request from Kubernetes, or the request of a flapping
 * fingerprint even when finished (absorbed), or create one (within the
 * creation budgets).  Releases the claim on failure. */
static void create_path(gw_ctx *ctx, const gw_batch *b, const gw_signal *s, const char *sender,
                        const char *rid, const char *rr_ns, const char *owner, long long now,
                        const gw_dedup_result *hit, sig_result *r)
{
    char err[512];
    gw_rr_ref ref;
    gw_dedup_result d;
    bool absorbed = false;
    gw_err rc = gw_rrstore_find_open(ctx->kube, &ctx->cfg, rr_ns, s->fingerprint, &ctx->scratch,
                                     &ref, err, sizeof err);
    if (rc == GW_ENOTFOUND && *err) /* the fingerprint field fallback stopped at its cap */
        gw_log(ctx->log_min, GW_LOG_WARN, rid, "%s", err);
    if (rc == GW_ENOTFOUND)
        rc = gw_flap_request(ctx, hit, rid, &ref, &absorbed, err, sizeof err);
    if (rc == GW_OK) {
        /* Redis had forgotten an open request: Kubernetes is the authority */
        rc = gw_dedup_seed(&ctx->dedup, s->fingerprint, now, owner, ref.name, ref.ns,
                           ref.count + 1, ref.first_ms ? ref.first_ms : now, &d);
        if (rc == GW_EBUSY) {
            /* another worker took the expired claim over: it records the
             * occurrence; the sender sees the pending answer, never the
             * Redis error text (which may name an address) */
            fail(r, rc, "%s", GW_503_PENDING);
            return;
        }
        if (rc) {
            fail(r, rc, "redis: %s", ctx->redis.errstr);
            return;
        }
        set_ref(r, ref.ns, ref.name, &d);
        r->kind = R_DUP;
        if ((r->flap_absorbed = absorbed)) {
            char uid[64]; /* ctx->scratch still holds the request read */
            gw_recorder_uid(&ctx->events, &ctx->scratch, uid);
            gw_flap_absorbed(ctx, rid, s, uid, r);
        }
        sync_status(ctx, rid, s->fingerprint, NULL, ref.ns, ref.name, d.count, d.first_ms,
                    d.last_ms);
        return;
    }
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
    char uid[64];
    gw_recorder_uid(&ctx->events, &ctx->scratch, uid);
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
    sync_status(ctx, rid, s->fingerprint, NULL, rr_ns, name, d.count, d.first_ms, d.last_ms);
    /* Reopened when the lookup saw the fingerprint's finished request */
    gw_record_created(&ctx->events, rid, rr_ns, name, uid, s, r->env, r->prio, ref.finished,
                      ref.finished_phase);
}

/* This signal opened a storm: create the one aggregated request for its
 * (namespace, alert name) and make the storm active.  The aggregate's
 * target is the namespace (the opener's own target when cluster-scoped);
 * its fingerprint is that of the storm, unique per opening. */
static void storm_create_path(gw_ctx *ctx, const gw_batch *b, const gw_signal *s,
                              const gw_dedup_signal *ds, const char *rid, const char *rr_ns,
                              const char *owner, long long now, sig_result *r)
{
    char err[512], name[32], seed[600], uid[64] = "";
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
        gw_recorder_uid(&ctx->events, &ctx->scratch, uid);
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
    sync_status(ctx, rid, NULL, ds->group, rr_ns, name, 1, now, now);
    gw_record_storm_created(&ctx->events, rid, rr_ns, name, uid, r->storm_type, ds->alertname,
                            ds->ns, d.storm_total);
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
        char uid[64];
        gw_recorder_uid(&ctx->events, &ctx->scratch, uid);
        gw_record_escalated(&ctx->events, rid, r->rr_ns, r->rr_name, uid, why, gw_now_ms());
    }
    json_decref(meta);
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

/* A signal whose labels name no target resource (the Watchdog, a host or
 * cluster-wide alert): Alertmanager counts every 4xx as a failed
 * notification, so it is not an error.  A firing heartbeat alert
 * (signals.heartbeat_alerts) is a heartbeat; anything else is 200 ignored,
 * reason no-target, with the detail naming the labels looked for - or,
 * with signals.reject_without_target, false: the caller answers 400. */
static bool workload_less(const gw_ctx *ctx, const gw_signal *sig, sig_result *r)
{
    if (!sig->resolved && gw_list_has(ctx->cfg.signals_heartbeat_alerts, sig->name)) {
        ignore(r, "heartbeat", "heartbeat recorded");
        r->heartbeat = true;
        return true;
    }
    if (ctx->cfg.signals_reject_without_target)
        return false;
    ignore(r, "no-target", "%s", sig->error);
    return true;
}

/* Everything before the dedup verdict: the target with the cluster's
 * kinds, the adapter's rejection, the clock, an ignored signal, the
 * namespace, owners, scope and classification.  sig is the caller's copy
 * of in (its strings may end up in *tstore or *owned, which live in the
 * caller's frame).  false when r is already the outcome; otherwise
 * ns_path is the namespace's path ("" for a cluster-scoped target) and
 * *ns_rc what its lookup said. */
static bool prepare(gw_ctx *ctx, const gw_batch *b, const gw_signal *in, gw_signal *sig,
                    gw_signal_target_store *tstore, gw_owned_target *owned, const char *rid,
                    long long now, char ns_path[128], gw_err *ns_rc, sig_result *r)
{
    if (!sig->ignored && (!sig->error[0] || sig->label_target))
        gw_enrich_target(ctx, sig, tstore, rid, now);
    snprintf(r->fp, sizeof r->fp, "%s", sig->fingerprint);
    if (sig->error[0] && sig->no_target && workload_less(ctx, sig, r))
        return false;
    if (sig->error[0]) {
        r->kind = R_REJECTED;
        snprintf(r->msg, sizeof r->msg, "%s", sig->error);
        return false;
    }
    /* an alert's clock check is per request: the parse is memoised */
    if (in->item && gw_am_check_clock(&ctx->cfg, in, (size_t)(in - b->signals), now, r->msg,
                                      sizeof r->msg)) {
        r->kind = R_REJECTED;
        return false;
    }
    if (sig->ignored) {
        ignore(r, sig->ignored_reason ? sig->ignored_reason : "ignored", "%s", sig->ignored);
        return false;
    }
    /* the namespace's path, for its existence, scope and environment */
    ns_path[0] = '\0';
    if (*sig->target.namespace_)
        gw_k8s_path(ns_path, 128, "v1", NULL, "namespaces", sig->target.namespace_);
    /* An error here (apiserver down, nothing cached) does not stop a
     * duplicate, which creates nothing; a signal that would create is
     * answered 503 (gw_pipeline_signal). */
    *ns_rc = gw_enrich_namespace(ctx, sig, ns_path, rid, now);
    if (*ns_rc == GW_ENOTFOUND) {
        char ns[80];
        gw_text_clean(sig->target.namespace_, strlen(sig->target.namespace_), ns, sizeof ns);
        ignore(r, "namespace-not-found", "namespace \"%s\" does not exist in the cluster: "
               "nothing there to remediate", ns);
        return false;
    }
    const gw_target named = sig->target; /* the resource the signal names */
    if (ctx->cfg.owners_resolve) {
        gw_enrich_owner(ctx, sig, owned, rid, now);
        snprintf(r->fp, sizeof r->fp, "%s", sig->fingerprint);
        if (!*sig->target.namespace_) /* a cluster-scoped owner (a Node) */
            ns_path[0] = '\0';
    }
    if (ctx->cfg.scope_require_label) {
        char why[400];
        gw_err rc = gw_enrich_scope(ctx, &named, sig, ns_path, rid, now, why, sizeof why);
        if (rc) {
            fail(r, rc == GW_EKUBECONF ? GW_EKUBE : rc, "%s",
                 "scope check: namespace labels unreadable; retry");
            return false;
        }
        if (*why) {
            ignore(r, "out-of-scope", "%s", why);
            return false;
        }
    }
    gw_enrich_classify(ctx, sig, ns_path, rid, now, r);
    return true;
}

/* A resolved alert is recorded (the request it belongs to gets a
 * resolved-at annotation), never a new request. */
static void resolved(gw_ctx *ctx, const gw_signal *s, const char *rid, long long now,
                     sig_result *r)
{
    gw_dedup_result d;
    gw_err rc = gw_dedup_resolve(&ctx->dedup, s->fingerprint, now, &d);
    if (rc) {
        fail(r, rc, "redis: %s", ctx->redis.errstr);
        return;
    }
    ignore(r, "resolved", "resolved alert recorded; no request is created");
    if (d.kind != GW_DEDUP_DUP)
        return;
    char ts[32], err[512];
    gw_rfc3339(now, ts);
    set_ref(r, d.ns, d.name, &d);
    /* a storm member's resolution does not resolve the storm */
    if (d.member)
        return;
    if (gw_rrstore_annotate(ctx->kube, &ctx->cfg, d.ns, d.name, "kubernaut.ai/resolved-at", ts,
                            &ctx->scratch, err, sizeof err)) {
        gw_log(ctx->log_min, GW_LOG_WARN, rid, "resolved annotation failed: %s", err);
        return;
    }
    char uid[64];
    gw_recorder_uid(&ctx->events, &ctx->scratch, uid);
    gw_record_resolved(&ctx->events, rid, d.ns, d.name, uid, s->name, now);
}

/* An occurrence of a request that exists (d: GW_DEDUP_DUP, or
 * GW_DEDUP_AGGREGATED for a storm member): the coalesced status sync when
 * due, then the answer, with an escalation when the count crossed the
 * environment's threshold.  true when the request had finished (or was
 * deleted) and was forgotten, so this occurrence must start a new one; at
 * most once per signal (*restarts). */
static bool known_request(gw_ctx *ctx, const gw_signal *s, const char *group, long esc_at,
                          const gw_dedup_result *d, const char *rid, int *restarts,
                          sig_result *r)
{
    bool finished = false;
    if (d->sync_due && d->kind == GW_DEDUP_DUP) {
        finished = sync_status(ctx, rid, s->fingerprint, NULL, d->ns, d->name, d->count,
                               d->first_ms, d->last_ms);
    } else if (d->sync_due) {
        gw_flush_item it;
        finished = gw_dedup_storm_info(&ctx->dedup, group, &it) == GW_OK &&
                   sync_storm(ctx, rid, &it);
    }
    if (finished && (*restarts)++ == 0) {
        gw_err rc = gw_dedup_forget(&ctx->dedup, s->fingerprint, d->name);
        if (!rc)
            return true;
        fail(r, rc, "redis: %s", ctx->redis.errstr);
        return false;
    }
    set_ref(r, d->ns, d->name, d);
    if (d->kind == GW_DEDUP_AGGREGATED) {
        r->kind = R_AGGREGATED;
        r->storm_total = d->storm_total;
        snprintf(r->storm_type, sizeof r->storm_type, "%s", d->storm_type);
        return false;
    }
    r->kind = R_DUP;
    char from[8];
    snprintf(from, sizeof from, "%s", r->prio);
    if ((d->escalated || d->escalate) && gw_priority_raise(from, r->prio)) {
        r->escalated = true;
        if (d->escalate)
            escalate(ctx, rid, r, from, esc_at);
    }
    return false;
}

/* gw_pipeline_signal but the flapping label. */
static void one_signal(gw_ctx *ctx, const gw_batch *b, const gw_signal *in, const char *sender,
                       const char *rid, sig_result *r)
{
    long long now = gw_now_ms();
    gw_signal sig = *in;
    const gw_signal *s = &sig;
    gw_signal_target_store tstore;
    gw_owned_target owned;
    char ns_path[128];
    gw_err ns_rc = GW_OK, rc;
    if (!prepare(ctx, b, in, &sig, &tstore, &owned, rid, now, ns_path, &ns_rc, r))
        return;
    if (s->resolved) {
        resolved(ctx, s, rid, now, r);
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
    gw_dedup_result d;
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
        gw_flap_note(&d, r);
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
        switch (d.kind) {
        case GW_DEDUP_OVER_BUDGET:
            over_budget(ctx, rid, &d, r);
            return;
        case GW_DEDUP_NEW:
            create_path(ctx, b, s, sender, rid, rr_ns, owner, now, &d, r);
            return;
        case GW_DEDUP_STORM_NEW:
            r->storm_total = d.storm_total;
            snprintf(r->storm_type, sizeof r->storm_type, "%s", d.storm_type);
            storm_create_path(ctx, b, s, &ds, rid, rr_ns, owner, now, r);
            return;
        case GW_DEDUP_DUP:
        case GW_DEDUP_AGGREGATED:
            if (known_request(ctx, s, group, esc_at, &d, rid, &restarts, r))
                continue;
            return;
        default: /* pending: another worker is creating it right now */
            break;
        }
        if (gw_now_ms() >= deadline) {
            fail(r, GW_EBUSY, "%s", GW_503_PENDING);
            return;
        }
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        now = gw_now_ms();
    }
}

void gw_pipeline_signal(gw_ctx *ctx, const gw_batch *b, const gw_signal *in,
                        const char *sender, const char *rid, sig_result *r)
{
    memset(r, 0, sizeof *r);
    one_signal(ctx, b, in, sender, rid, r);
    gw_flap_mark(ctx, rid, r);
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
    gw_log_flush(); /* held request lines go out before any slow work */
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
        else if (sync_status(ctx, NULL, it->id, NULL, it->ns, it->name, it->count, it->first_ms,
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

bool gw_pipeline_prepare(gw_ctx *ctx, const gw_batch *b, const gw_signal *in, gw_signal *sig,
                         gw_signal_target_store *tstore, gw_owned_target *owned,
                         const char *rid, long long now, char ns_path[128], gw_err *ns_rc,
                         sig_result *r)
{
    return prepare(ctx, b, in, sig, tstore, owned, rid, now, ns_path, ns_rc, r);
}

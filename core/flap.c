/* SPDX-License-Identifier: Apache-2.0 */
/* flap.c - what the pipeline does about a flapping fingerprint; see gwctx.h.
 *
 * The rule itself (what a flip is, when a fingerprint flaps, when it
 * stops) is the Lua script's, core/dedup.lua "THE FLAPPING RULE": its hit
 * answers with the flips and the flapping state.  Here: the label and the
 * flip-count annotation on the request, and the absorbed firing - a firing
 * of a flapping fingerprint whose request has finished counts on that
 * request instead of starting a new remediation. */
#include "gateway.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "gwctx.h"
#include "rrstore.h"

void gw_flap_note(const gw_dedup_result *d, sig_result *r)
{
    if (d->flips > 0)
        r->flips = d->flips;
    if (d->flapping > r->flapping)
        r->flapping = d->flapping;
}

gw_err gw_flap_request(gw_ctx *ctx, const gw_dedup_result *hit, const char *rid, gw_rr_ref *ref,
                       bool *finished, char *err, size_t errlen)
{
    *finished = false;
    if (hit->kind != GW_DEDUP_NEW || !hit->flapping || !hit->name[0])
        return GW_ENOTFOUND;
    gw_rr_open state;
    gw_err rc = gw_rrstore_get(ctx->kube, &ctx->cfg, hit->ns, hit->name, &ctx->scratch, ref,
                               &state, err, errlen);
    if (rc == GW_ENOTFOUND) {
        /* deleted: the fingerprint gets a new request (it keeps flapping) */
        gw_log(ctx->log_min, GW_LOG_DEBUG, rid, "flapping request %s/%s: %s; a new one is made",
               hit->ns, hit->name, err);
        *err = '\0';
        return GW_ENOTFOUND;
    }
    if (rc == GW_OK)
        *finished = state == GW_RR_CLOSED;
    return rc;
}

void gw_flap_absorbed(gw_ctx *ctx, const char *rid, const gw_signal *s, const char *uid,
                      const sig_result *r)
{
    const char *fp = s->fingerprint;
    gw_metrics_count(ctx->metrics, GW_C_FLAPS_ABSORBED);
    /* the Event's count: the flips in the window (this firing is no flip) */
    gw_dedup_result h;
    long long now = gw_now_ms();
    long long flips = ctx->cfg.recording_events &&
                      gw_dedup_get(&ctx->dedup, fp, now, &h) == GW_OK ? h.flips : 0;
    gw_record_flap_absorbed(&ctx->events, rid, r->rr_ns, r->rr_name, uid, s->name, flips,
                            r->count, now);
    gw_log(ctx->log_min, GW_LOG_INFO, rid, "flap absorbed: fingerprint %.16s is flapping; this "
           "firing counts on its finished request %s/%s (occurrence %lld) instead of starting "
           "a new one", fp, r->rr_ns, r->rr_name, r->count);
}

void gw_flap_mark(gw_ctx *ctx, const char *rid, const sig_result *r)
{
    if (r->flapping == 2)
        gw_metrics_count(ctx->metrics, GW_C_FLAPPING_DETECTED);
    if (!r->flapping || r->flips <= 0 || !r->rr_name[0] ||
        (r->kind != R_DUP && r->kind != R_CREATED))
        return;
    char err[512], n[24];
    snprintf(n, sizeof n, "%lld", r->flips);
    json_t *meta = json_pack("{s:{s:s},s:{s:s}}", "labels", "kubernaut.ai/flapping", "true",
                             "annotations", "kubernaut.ai/flap-count", n);
    if (!meta)
        return;
    if (r->flapping == 2) {
        char ts[32];
        gw_rfc3339(gw_now_ms(), ts);
        json_object_set_new(json_object_get(meta, "annotations"), "kubernaut.ai/flapping-since",
                            json_string(ts));
    }
    if (gw_rrstore_patch_meta(ctx->kube, &ctx->cfg, r->rr_ns, r->rr_name, meta, &ctx->scratch,
                              err, sizeof err))
        gw_log(ctx->log_min, GW_LOG_WARN, rid, "flapping label of %s/%s failed: %s", r->rr_ns,
               r->rr_name, err);
    else if (r->flapping == 2)
        gw_log(ctx->log_min, GW_LOG_INFO, rid, "fingerprint %.16s is flapping: %lld flips "
               "within flapping.window (threshold %ld); %s/%s labelled kubernaut.ai/flapping",
               r->fp, r->flips, ctx->cfg.flapping_threshold, r->rr_ns, r->rr_name);
    json_decref(meta);
}

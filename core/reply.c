/* SPDX-License-Identifier: Apache-2.0 */
/* reply.c - the answers the pipeline writes; see gwctx.h. */
#include "gateway.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "gwctx.h"
#include "jsonmem.h"
#include "problem.h"
#include "text.h"
#include "unavailable.h"

/* ---- responses ---------------------------------------------------------- */

void gw_reply_json(gw_response *resp, int status, json_t *j)
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

void gw_reply_problem(gw_ctx *ctx, gw_response *resp, int status, const char *path,
                          const char *detail)
{
    gw_buf_reset(&resp->body);
    resp->status = status;
    resp->content_type = "application/problem+json";
    snprintf(resp->detail, sizeof resp->detail, "%.511s", detail ? detail : "");
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
    if (r->heartbeat) {
        gw_reply_json(resp, 200, json_pack("{s:s,s:s}", "status", "heartbeat", "message", r->msg));
        return;
    }
    char ref[330];
    ref_string(r, ref, sizeof ref);
    gw_reply_json(resp, 200, json_pack("{s:s,s:s,s:s,s:s,s:s}", "status", "ignored", "reason",
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

void gw_reply_batch(gw_ctx *ctx, const gw_request *req, gw_response *resp, const gw_batch *b,
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
            gw_reply_problem(ctx, resp, gw_err_http_status(res[i].err), req->path, detail);
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
            gw_reply_problem(ctx, resp, 400, req->path, r->msg);
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
        /* a heartbeat counts as ignored in the summary, whose keys are fixed */
        json_t *e = json_pack("{s:I,s:s,s:s}", "index", (json_int_t)i, "status",
                              r->heartbeat ? "heartbeat" : names[r->kind], "fingerprint", r->fp);
        if (ref[0])
            json_object_set_new(e, "remediationRequestRef", json_string(ref));
        if (r->kind == R_IGNORED && !r->heartbeat)
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
    gw_reply_json(resp, 207, j);
}

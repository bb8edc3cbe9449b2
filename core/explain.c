/* SPDX-License-Identifier: Apache-2.0 */
/* explain.c - POST /api/v1/explain?source=prometheus|grafana|kubernetes-event:
 * what the gateway would do with a webhook, and why, without doing it.
 *
 * The body is admitted as the source's route admits it (size, media type,
 * the adapter's parse, the sender's namespace authority), under auth.explain
 * (default: auth.prometheus's modes).  Every signal then goes through the
 * pipeline's reads (gw_pipeline_prepare: target, namespace, owners, scope,
 * environment, priority), one read-only script call for the state a hit
 * would meet in Redis (gw_dedup_peek), and for a known request one GET of
 * it (its phase).  Nothing is written: no Redis key, no Kubernetes object,
 * and no counter but the request's own (the route's histogram); the
 * pipeline's counters are muted by running it with no metrics handle.
 *
 * The verdict follows dedup.lua's order (a known fingerprint, then a storm,
 * then the creation budgets); what other senders do between this answer and
 * a real webhook can change the outcome. */
#include "gateway.h"

#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "clock.h"
#include "gwctx.h"
#include "owners.h"
#include "rrstore.h"
#include "text.h"

static const char *env_rule(gw_env_source s)
{
    switch (s) {
    case GW_ENV_CONFIGMAP: return "configmap";
    case GW_ENV_NAMESPACE_LABEL: return "namespace-label";
    case GW_ENV_PATTERN: return "pattern";
    case GW_ENV_ALERT_LABEL: return "alert-label";
    default: return "default";
    }
}

static json_t *target_json(const gw_target *t)
{
    json_t *j = json_pack("{s:s,s:s,s:s}", "kind", t->kind ? t->kind : "", "name",
                          t->name ? t->name : "", "apiVersion",
                          t->api_version ? t->api_version : "");
    if (t->namespace_ && *t->namespace_)
        json_object_set_new(j, "namespace", json_string(t->namespace_));
    return j;
}

/* The owner chain from the resource the alert names, one hop at a time
 * (owners.max_depth hops at most), each read from the cache the pipeline
 * fills. */
static json_t *owner_chain(gw_ctx *ctx, const gw_target *named, long long now)
{
    json_t *chain = json_array();
    json_array_append_new(chain, target_json(named));
    if (!ctx->cfg.owners_resolve || !strcmp(named->kind, "Unknown"))
        return chain;
    gw_config one = ctx->cfg;
    one.owners_max_depth = 1;
    gw_owned_target hop[2];
    const gw_target *at = named;
    for (long i = 0; i < ctx->cfg.owners_max_depth; i++) {
        gw_owned_target *o = &hop[i % 2];
        int hops = 0;
        char err[256];
        if (gw_owner_resolve(ctx->kinds, ctx->objects, &one, at, now, o, &hops, err,
                             sizeof err) || !hops)
            break;
        json_array_append_new(chain, target_json(&o->t));
        at = &o->t;
    }
    return chain;
}

static json_t *fingerprint_inputs(const gw_config *cfg, const gw_signal *s)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "cluster", s->cluster, "namespace",
                          s->target.namespace_ ? s->target.namespace_ : "", "kind",
                          s->target.kind ? s->target.kind : "", "name",
                          s->target.name ? s->target.name : "");
    if (cfg->fp_include_signal_name)
        json_object_set_new(j, "signalName", json_string(s->name));
    return j;
}

static json_t *priority_json(const gw_config *cfg, const gw_signal *s, const sig_result *r,
                             long esc_at)
{
    char sev[64], rule[200];
    gw_severity_fold(cfg, s->severity, sev);
    switch (r->prio_src) {
    case GW_PRIO_TABLE:
        snprintf(rule, sizeof rule, "priority.table %s/%s", sev, r->env);
        break;
    case GW_PRIO_TABLE_SEVERITY:
        snprintf(rule, sizeof rule, "priority.table %s/*", sev);
        break;
    case GW_PRIO_TABLE_ENVIRONMENT:
        snprintf(rule, sizeof rule, "priority.table */%s", r->env);
        break;
    default:
        snprintf(rule, sizeof rule, "priority.default");
        break;
    }
    json_t *esc = esc_at > 0
        ? json_pack("{s:I,s:I}", "occurrences", (json_int_t)esc_at, "withinMs",
                    (json_int_t)(cfg->priority_escalation_window_ms > 0
                                     ? cfg->priority_escalation_window_ms
                                     : cfg->dedup_ttl_s * 1000))
        : json_null();
    return json_pack("{s:s,s:s,s:o}", "value", r->prio, "rule", rule, "escalation", esc);
}

typedef struct {
    const char *decision, *reason;
    char        text[600];
} verdict;

/* The storm a new signal of the group would meet (dedup.lua's
 * storm_new_signal, read only); NULL when none. */
static const char *storm_verdict(const gw_config *c, const gw_dedup_peek_result *p,
                                 long long now, json_t *storm)
{
    bool open = p->storm_state[0] && now - p->storm_joined_ms < c->storm_aggregation_window_ms &&
                now - p->storm_opened_ms < c->storm_max_window_ms;
    json_object_set_new(storm, "open", json_boolean(open));
    if (open) {
        json_object_set_new(storm, "type", json_string(p->storm_type));
        json_object_set_new(storm, "resourceCount", json_integer(p->storm_resources));
        return p->storm_type;
    }
    long long recent = p->recent + (p->recent_mine ? 0 : 1);
    json_object_set_new(storm, "recentResources", json_integer(recent));
    json_object_set_new(storm, "rate", json_integer(p->rate + 1));
    if (recent >= c->storm_pattern_threshold)
        return "pattern";
    if (p->rate + 1 > c->storm_rate_threshold)
        return "rate";
    return NULL;
}

/* The creation budgets and the namespace cap a create would meet. */
static const char *limits_verdict(const gw_config *c, const gw_dedup_peek_result *p, bool storm,
                                  json_t *limits)
{
    const char *why = NULL;
    if (c->limits_creates_per_minute > 0 && p->budget + 1 > c->limits_creates_per_minute)
        why = "creation budget of the gateway (limits.creates_per_minute) used up this minute";
    else if (c->limits_creates_per_sender_per_minute > 0 &&
             p->sender_budget + 1 > c->limits_creates_per_sender_per_minute)
        why = "this sender's creation budget (limits.creates_per_sender_per_minute) used up "
              "this minute";
    else if (!storm && c->storm_namespace_cap > 0 && p->nscap + 1 > c->storm_namespace_cap)
        why = "the namespace's cap (storm.namespace_cap) reached this minute";
    json_object_set_new(limits, "createsThisMinute", json_integer(p->budget));
    json_object_set_new(limits, "senderCreatesThisMinute", json_integer(p->sender_budget));
    json_object_set_new(limits, "namespaceCreatesThisMinute", json_integer(p->nscap));
    json_object_set_new(limits, "verdict", json_string(why ? "exceeded" : "within"));
    return why;
}

/* A known request ns/name: its phase decides (rrphase.h), and a firing of
 * a flapping fingerprint counts on it even when it has finished. */
static void known(gw_ctx *ctx, const char *ns, const char *name, bool member, bool flapping,
                  long long now, json_t *dedup, verdict *v)
{
    gw_rr_open st;
    char phase[32], err[256];
    gw_err rc = gw_rrstore_state(ctx->kube, &ctx->cfg, ns, name, now, &ctx->scratch, &st, phase,
                                 err, sizeof err);
    json_object_set_new(dedup, "phase", json_string(rc ? "" : phase));
    if (!rc && st == GW_RR_CLOSED && flapping) {
        json_object_set_new(dedup, "phaseRule",
                            json_string("finished, but the fingerprint is flapping: the firing "
                                        "counts on it instead of a new remediation"));
        v->decision = "duplicate";
        return;
    }
    if (rc == GW_ENOTFOUND || (!rc && st == GW_RR_CLOSED)) {
        json_object_set_new(dedup, "phaseRule",
                            json_string(rc ? "the request is gone: a new one is made"
                                           : "the request has finished: a new one is made"));
        v->decision = "created";
        return;
    }
    json_object_set_new(dedup, "phaseRule",
                        json_string(rc ? "the request could not be read: it is taken as open"
                                    : st == GW_RR_ACTIVE ? "not finished: occurrences count on it"
                                    : st == GW_RR_MANUAL_REVIEW
                                        ? "finished, awaiting manual review: occurrences count on it"
                                        : "finished, in the orchestrator's backoff: occurrences "
                                          "count on it"));
    v->decision = member ? "aggregated" : "duplicate";
}

/* After the pipeline's reads: the dedup, storm and limit verdicts. */
static void verdicts(gw_ctx *ctx, const gw_signal *s, const char *sender, long long now,
                     json_t *out, verdict *v)
{
    char group[17], resource[330];
    gw_dedup_group(s->target.namespace_, s->name, group);
    snprintf(resource, sizeof resource, "%s/%s", s->target.kind, s->target.name);
    gw_dedup_signal ds = { group, s->target.namespace_, s->name, resource, 0, sender, false };
    gw_dedup_peek_result p;
    json_t *dedup = json_object(), *storm = json_object(), *limits = json_object();
    json_object_set_new(out, "dedup", dedup);
    json_object_set_new(out, "storm", storm);
    json_object_set_new(out, "limits", limits);
    if (gw_dedup_peek(&ctx->dedup, s->fingerprint, &ds, now, &p)) {
        v->decision = "rejected";
        snprintf(v->text, sizeof v->text, "Redis unavailable: the signal would not be "
                 "recorded (503); retry later");
        v->reason = v->text;
        return;
    }
    json_object_set_new(dedup, "state", json_string(p.state[0] ? p.state : "none"));
    if (p.name[0]) {
        char ref[330];
        snprintf(ref, sizeof ref, "%s/%s", p.ns, p.name);
        json_object_set_new(dedup, "remediationRequestRef", json_string(ref));
        json_object_set_new(dedup, "count", json_integer(p.count));
    }
    /* the flip history (a read, as GET /api/v1/signals/{fp} does) */
    gw_dedup_result g;
    bool flapping = false;
    if (gw_dedup_get(&ctx->dedup, s->fingerprint, now, &g) == GW_OK) {
        flapping = g.flapping > 0;
        json_object_set_new(dedup, "flapping", json_boolean(flapping));
        json_object_set_new(dedup, "flips", json_integer(g.flips));
    }
    if (!p.state[0] && flapping && g.name[0]) {
        /* the entry is gone, the history names the flapping request */
        char ref[330];
        snprintf(ref, sizeof ref, "%s/%s", g.ns, g.name);
        json_object_set_new(dedup, "remediationRequestRef", json_string(ref));
        known(ctx, g.ns, g.name, false, true, now, dedup, v);
        if (!strcmp(v->decision, "duplicate")) {
            snprintf(v->text, sizeof v->text, "the fingerprint is flapping: counted on %s/%s",
                     g.ns, g.name);
            v->reason = v->text;
            return;
        }
        v->decision = NULL; /* gone: a new request, as for a new fingerprint */
    }
    if (!strcmp(p.state, "active")) {
        known(ctx, p.ns, p.name, p.member, flapping, now, dedup, v);
        if (!strcmp(v->decision, "created"))
            snprintf(v->text, sizeof v->text, "the fingerprint's request %s/%s has finished",
                     p.ns, p.name);
        else
            snprintf(v->text, sizeof v->text, "occurrence %lld of %s/%s", p.count + 1, p.ns,
                     p.name);
        v->reason = v->text;
        if (strcmp(v->decision, "created"))
            return;
    } else if (!strcmp(p.state, "pending")) {
        v->decision = "duplicate";
        v->reason = "another signal of this fingerprint is creating its request now";
        return;
    }
    const char *typ = ctx->cfg.storm_enabled ? storm_verdict(&ctx->cfg, &p, now, storm) : NULL;
    if (!ctx->cfg.storm_enabled)
        json_object_set_new(storm, "open", json_false());
    bool joins = typ && !strcmp(p.storm_state, "active") &&
                 now - p.storm_joined_ms < ctx->cfg.storm_aggregation_window_ms;
    const char *over = joins ? NULL : limits_verdict(&ctx->cfg, &p, typ != NULL, limits);
    if (over) {
        v->decision = "rejected";
        snprintf(v->text, sizeof v->text, "%s: answered 503 with Retry-After", over);
        v->reason = v->text;
        return;
    }
    if (typ) {
        v->decision = "aggregated";
        snprintf(v->text, sizeof v->text, joins ? "joins the open %s storm's aggregated request"
                 : "a %s storm: the signal opens or completes its aggregated request", typ);
        v->reason = v->text;
        return;
    }
    if (v->decision) /* created: the known request had finished (known()) */
        return;
    v->decision = "created";
    v->reason = "a new fingerprint: a RemediationRequest is created";
}

static json_t *explain_signal(gw_ctx *ctx, const gw_batch *b, size_t i, const char *sender,
                              const char *rid, long long now)
{
    const gw_signal *in = &b->signals[i];
    gw_signal sig = *in;
    gw_signal_target_store tstore;
    gw_owned_target owned;
    char ns_path[128];
    gw_err ns_rc = GW_OK;
    sig_result r;
    memset(&r, 0, sizeof r);
    json_t *o = json_pack("{s:I}", "index", (json_int_t)i);
    verdict v = { .decision = NULL, .reason = NULL };

    /* the resource the alert names, before owner resolution */
    gw_signal named = *in;
    gw_signal_target_store nstore;
    if (!named.ignored && (!named.error[0] || named.label_target))
        gw_enrich_target(ctx, &named, &nstore, rid, now);

    bool go = gw_pipeline_prepare(ctx, b, in, &sig, &tstore, &owned, rid, now, ns_path, &ns_rc,
                                  &r);
    json_object_set_new(o, "fingerprint", json_string(r.fp));
    if (!sig.error[0] && sig.target.kind) {
        json_object_set_new(o, "fingerprintInputs", fingerprint_inputs(&ctx->cfg, &sig));
        json_object_set_new(o, "target", target_json(&sig.target));
        json_object_set_new(o, "ownerChain", owner_chain(ctx, &named.target, now));
    }
    if (!go) {
        v.decision = r.kind == R_IGNORED ? "ignored" : "rejected";
        v.reason = r.kind == R_IGNORED && r.reason ? r.reason : r.msg;
        if (r.kind == R_IGNORED)
            json_object_set_new(o, "message", json_string(r.msg));
        json_object_set_new(o, "decision", json_string(v.decision));
        json_object_set_new(o, "reason", json_string(v.reason));
        return o;
    }
    json_object_set_new(o, "environment", json_pack("{s:s,s:s}", "value", r.env, "rule",
                                                    env_rule(r.env_src)));
    json_object_set_new(o, "priority", priority_json(&ctx->cfg, &sig, &r,
                                                     gw_escalation_threshold(&ctx->cfg, r.env)));
    /* out of scope was an ignored outcome of the reads above */
    json_object_set_new(o, "scope", json_pack("{s:b,s:s}", "required",
                                              ctx->cfg.scope_require_label, "verdict",
                                              ctx->cfg.scope_require_label ? "in-scope"
                                                                           : "not-required"));
    if (sig.resolved) {
        v.decision = "ignored";
        v.reason = "resolved";
    } else if (ns_rc != GW_OK) {
        v.decision = "rejected";
        v.reason = "the namespace could not be looked up: the signal would be answered 503";
    } else {
        verdicts(ctx, &sig, sender, now, o, &v);
    }
    json_object_set_new(o, "decision", json_string(v.decision));
    json_object_set_new(o, "reason", json_string(v.reason ? v.reason : ""));
    return o;
}

/* ?source=prometheus|grafana|kubernetes-event (default prometheus). */
static bool source_of(const char *query, gw_route *out)
{
    *out = GW_ROUTE_PROMETHEUS;
    const char *q = query ? query : "";
    while (*q) {
        size_t n = strcspn(q, "&");
        if (n > 7 && !strncmp(q, "source=", 7)) {
            const char *v = q + 7;
            size_t vl = n - 7;
            if (vl == 10 && !strncmp(v, "prometheus", vl))
                *out = GW_ROUTE_PROMETHEUS;
            else if (vl == 7 && !strncmp(v, "grafana", vl))
                *out = GW_ROUTE_GRAFANA;
            else if (vl == 16 && !strncmp(v, "kubernetes-event", vl))
                *out = GW_ROUTE_K8S_EVENT;
            else
                return false;
        }
        q += n + (q[n] == '&');
    }
    return true;
}

const char *gw_explain_handle(gw_ctx *ctx, const gw_request *req, gw_response *resp)
{
    gw_route source;
    if (!source_of(req->query, &source)) {
        gw_reply_problem(ctx, resp, 400, req->path, "query parameter source must be "
                         "prometheus, grafana or kubernetes-event");
        return "rejected";
    }
    const gw_admission a = { .route = GW_ROUTE_EXPLAIN, .auth = GW_AUTH_ROUTE_EXPLAIN,
                             .adapter = source, .signal = false };
    gw_auth_result who;
    memset(&who, 0, sizeof who);
    gw_batch scratch;
    const gw_batch *bp;
    char fp[65] = "";
    const char *decision = gw_webhook_admit(ctx, req, resp, &a, &who, &scratch, &bp, fp);
    if (!decision) {
        /* the pipeline's reads, with its counters muted */
        gw_metrics *m = ctx->metrics;
        ctx->metrics = NULL;
        long long now = gw_now_ms();
        json_t *list = json_array();
        for (size_t i = 0; i < bp->n; i++)
            json_array_append_new(list, explain_signal(ctx, bp, i,
                                                       gw_webhook_sender_id(ctx, req, &who),
                                                       resp->request_id, now));
        ctx->metrics = m;
        gw_reply_json(resp, 200, json_pack("{s:o}", "signals", list));
        decision = "served";
    }
    gw_batch_free(&scratch);
    return decision;
}

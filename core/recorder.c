/* SPDX-License-Identifier: Apache-2.0 */
/* recorder.c - see recorder.h.
 *
 * Why core/v1 Events with count and lastTimestamp, not events.k8s.io/v1
 * with series: every apiserver alertgw supports serves core/v1 Events
 * (Kubernetes 1.20 and current ones), and `kubectl describe` of any
 * version lists them by a field selector on involvedObject (name,
 * namespace, kind, uid).  So the Event lives in the request's namespace
 * and carries the request's uid, taken from the answer of the write that
 * preceded the decision (the create, the status or metadata patch): no
 * extra read, nothing more in Redis.
 *
 * Create or patch.  The name is fixed by (request, reason), so the state
 * "does this Event exist" is the apiserver's, not ours.  Reasons that
 * usually repeat (Deduplicated, StormMember, Resolved) try the patch first
 * and create on 404; the others create first and patch on 409.  A create
 * that loses a race to another worker's create gets 409 and patches; a
 * patch sets absolute values, so two writers converge on the later one.
 * Each call is GW_KUBE_BEST_EFFORT: one attempt, a short budget, not
 * counted by the circuit breaker. */
#include "recorder.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "jsonmem.h"
#include "k8sname.h"
#include "text.h"

static const struct {
    const char *reason; /* Event.reason */
    const char *suffix; /* of the Event name */
    bool        repeats; /* usually exists already: patch first */
} reasons[GW_EV_N] = {
    [GW_EV_CREATED] = { "Created", "created", false },
    [GW_EV_DEDUPLICATED] = { "Deduplicated", "deduplicated", true },
    [GW_EV_STORM_MEMBER] = { "StormMember", "stormmember", true },
    [GW_EV_ESCALATED] = { "Escalated", "escalated", false },
    [GW_EV_RESOLVED] = { "Resolved", "resolved", true },
    [GW_EV_REOPENED] = { "Reopened", "reopened", false },
    [GW_EV_FLAP_ABSORBED] = { "FlapAbsorbed", "flapabsorbed", true },
};

#define COMPONENT "alertgw"

void gw_recorder_init(gw_recorder *r, const gw_config *cfg, gw_kube *k, gw_metrics *m,
                      gw_buf *scratch, gw_log_level log_min)
{
    memset(r, 0, sizeof *r);
    r->kube = k;
    r->metrics = m;
    r->cfg = cfg;
    r->scratch = scratch;
    r->log_min = log_min;
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        host[0] = '\0';
    host[sizeof host - 1] = '\0';
    gw_text_clean(host, strlen(host), r->host, sizeof r->host);
}

const char *gw_event_reason_name(gw_ev_reason reason)
{
    return (unsigned)reason < GW_EV_N ? reasons[reason].reason : "";
}

void gw_event_name(const char *rr_name, gw_ev_reason reason, char out[GW_EV_NAME_MAX])
{
    const char *suffix = (unsigned)reason < GW_EV_N ? reasons[reason].suffix : "event";
    size_t n = strlen(rr_name), sl = strlen(suffix);
    if (n && n + 1 + sl <= GW_EV_NAME_MAX - 1) {
        memcpy(out, rr_name, n);
        out[n] = '.';
        memcpy(out + n + 1, suffix, sl + 1);
        return;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[33];
    if (EVP_Digest(rr_name, n, md, &mdlen, EVP_sha256(), NULL) && mdlen >= 16)
        gw_hex_encode(md, 16, hex);
    else
        snprintf(hex, sizeof hex, "%s", "0");
    snprintf(out, GW_EV_NAME_MAX, "alertgw-%s.%s", hex, suffix);
}

/* The message as the apiserver may store it: valid UTF-8, no control
 * characters, at most GW_EV_MESSAGE_MAX bytes. */
static void clean_message(const char *msg, char out[GW_EV_MESSAGE_MAX + 1])
{
    gw_text_clean(msg ? msg : "", msg ? strlen(msg) : 0, out, GW_EV_MESSAGE_MAX + 1);
}

json_t *gw_event_object(const gw_config *cfg, const char *host, const gw_event *ev)
{
    char name[GW_EV_NAME_MAX], av[300], ts[32], msg[GW_EV_MESSAGE_MAX + 1];
    gw_event_name(ev->name, ev->reason, name);
    snprintf(av, sizeof av, "%s/%s", cfg->rr_group, cfg->rr_version);
    gw_rfc3339(ev->at_ms, ts);
    clean_message(ev->message, msg);
    json_t *involved = json_pack("{s:s,s:s,s:s,s:s}", "apiVersion", av, "kind", cfg->rr_kind,
                                 "name", ev->name, "namespace", ev->ns);
    if (involved && ev->uid && *ev->uid &&
        json_object_set_new(involved, "uid", json_string(ev->uid))) {
        json_decref(involved);
        return NULL;
    }
    if (!involved)
        return NULL;
    json_t *source = json_pack("{s:s}", "component", COMPONENT);
    if (source && *host)
        json_object_set_new(source, "host", json_string(host));
    json_t *obj = json_pack(
        "{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:o,s:s,s:s,s:s,s:o*,s:s,s:s,s:s,s:s,s:I}", "apiVersion",
        "v1", "kind", "Event", "metadata", "name", name, "namespace", ev->ns, "labels",
        "app.kubernetes.io/managed-by", COMPONENT, "involvedObject", involved, "reason",
        gw_event_reason_name(ev->reason), "message", msg, "type", "Normal", "source", source,
        "reportingComponent", COMPONENT, "reportingInstance", *host ? host : COMPONENT,
        "firstTimestamp", ts, "lastTimestamp", ts, "count",
        (json_int_t)(ev->count > 0 ? ev->count : 1));
    return obj;
}

json_t *gw_event_patch(const gw_event *ev)
{
    char ts[32], msg[GW_EV_MESSAGE_MAX + 1];
    gw_rfc3339(ev->at_ms, ts);
    clean_message(ev->message, msg);
    return json_pack("{s:I,s:s,s:s}", "count", (json_int_t)(ev->count > 0 ? ev->count : 1),
                     "lastTimestamp", ts, "message", msg);
}

long long gw_event_duplicates(long long occurrences)
{
    return occurrences > 1 ? occurrences - 1 : 0;
}

bool gw_event_uid_of(const char *json, size_t len, char out[64])
{
    out[0] = '\0';
    if (!json || !len)
        return false;
    json_t *obj = json_loadb(json, len, 0, NULL);
    const char *uid = json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
    size_t n = uid ? strlen(uid) : 0;
    bool ok = n > 0 && n < 64 && strspn(uid, "0123456789abcdefABCDEF-") == n;
    if (ok)
        memcpy(out, uid, n + 1);
    json_decref(obj);
    return ok;
}

/* One call; *status the HTTP status (0: none). */
static gw_err call(gw_recorder *r, const char *method, const char *path, const char *type,
                   json_t *body, long *status, char *err, size_t errlen)
{
    *status = 0;
    if (!body)
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory building the Event");
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return gw_fail(GW_ENOMEM, err, errlen, "out of memory building the Event");
    gw_buf_reset(r->scratch);
    gw_err rc = gw_kube_request(r->kube, method, path, type, text, strlen(text),
                                GW_KUBE_BEST_EFFORT, status, r->scratch, err, errlen);
    gw_json_free(text);
    return rc == GW_ETOOBIG ? GW_OK : rc; /* the write was answered; we only lost the echo */
}

/* Creates or patches the Event (see the top of this file). */
static gw_err write_event(gw_recorder *r, const gw_event *ev, char *err, size_t errlen)
{
    char name[GW_EV_NAME_MAX], coll[400], one[700];
    gw_event_name(ev->name, ev->reason, name);
    if (!gw_k8s_path(coll, sizeof coll, "v1", ev->ns, "events", NULL) ||
        !gw_k8s_path(one, sizeof one, "v1", ev->ns, "events", name))
        return gw_fail(GW_EINVAL, err, errlen, "no Event path for %.63s/%.253s", ev->ns, name);
    json_t *obj = gw_event_object(r->cfg, r->host, ev), *patch = gw_event_patch(ev);
    bool patch_first = reasons[ev->reason].repeats;
    long status = 0;
    gw_err rc = GW_OK;
    for (int step = 0; step < 3 && rc == GW_OK; step++) {
        if (patch_first) {
            rc = call(r, "PATCH", one, "application/merge-patch+json", patch, &status, err,
                      errlen);
            if (rc || status != 404)
                break;
        } else {
            rc = call(r, "POST", coll, "application/json", obj, &status, err, errlen);
            if (rc || status != 409)
                break;
        }
        patch_first = !patch_first; /* 404: create it; 409: it exists, patch it */
    }
    json_decref(obj);
    json_decref(patch);
    if (rc)
        return rc;
    if (status >= 200 && status < 300)
        return GW_OK;
    /* the apiserver's own words (RBAC, validation) go to the log */
    json_t *j = json_loadb(r->scratch->data, r->scratch->len, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "message"));
    gw_err why = gw_err_from_http(status);
    gw_fail(why ? why : GW_EKUBE, err, errlen, "apiserver answered %ld: %.300s", status,
            msg ? msg : "");
    json_decref(j);
    return why ? why : GW_EKUBE;
}

gw_err gw_record(gw_recorder *r, const char *rid, const gw_event *ev)
{
    if (!r->cfg || !r->cfg->recording_events || (unsigned)ev->reason >= GW_EV_N || !ev->ns ||
        !*ev->ns || !ev->name || !*ev->name)
        return GW_OK;
    char err[512];
    gw_err rc = write_event(r, ev, err, sizeof err);
    if (rc == GW_OK) {
        gw_metrics_count(r->metrics, GW_C_EVENTS_RECORDED);
        return GW_OK;
    }
    gw_metrics_count(r->metrics, GW_C_EVENT_FAILURES);
    gw_log(r->log_min, GW_LOG_WARN, rid, "event %s on %s/%s not written: %s",
           gw_event_reason_name(ev->reason), ev->ns, ev->name, err);
    return rc;
}

/* ---- the decisions ------------------------------------------------------- */

void gw_recorder_uid(const gw_recorder *r, const gw_buf *answer, char out[64])
{
    out[0] = '\0';
    if (r->cfg && r->cfg->recording_events && answer)
        gw_event_uid_of(answer->data, answer->len, out);
}

static void record(gw_recorder *r, const char *rid, gw_ev_reason reason, const char *ns,
                   const char *name, const char *uid, long long count, long long at_ms,
                   const char *msg)
{
    if (!uid || !*uid)
        return;
    gw_event ev = { reason, ns, name, uid, count, at_ms, msg };
    gw_record(r, rid, &ev);
}

void gw_record_created(gw_recorder *r, const char *rid, const char *ns, const char *name,
                       const char *uid, const gw_signal *s, const char *env, const char *prio,
                       const char *replaced, const char *replaced_phase)
{
    if (!uid || !*uid)
        return;
    char msg[GW_EV_MESSAGE_MAX + 1], target[400], was[400] = "";
    const gw_target *t = &s->target;
    snprintf(target, sizeof target, "%s %s%s%s", t->kind, t->namespace_,
             *t->namespace_ ? "/" : "", t->name);
    bool reopened = replaced && *replaced;
    if (reopened)
        snprintf(was, sizeof was, "; follows %s, which has finished%s%s%s", replaced,
                 replaced_phase && *replaced_phase ? " (phase " : "",
                 replaced_phase ? replaced_phase : "",
                 replaced_phase && *replaced_phase ? ")" : "");
    snprintf(msg, sizeof msg, "new request for alert %s (severity %s) on %s: fingerprint %.12s, "
             "environment %s, priority %s%s", s->name, s->severity, target, s->fingerprint, env,
             prio, was);
    record(r, rid, reopened ? GW_EV_REOPENED : GW_EV_CREATED, ns, name, uid, 1, gw_now_ms(), msg);
}

void gw_record_storm_created(gw_recorder *r, const char *rid, const char *ns, const char *name,
                             const char *uid, const char *storm_type, const char *alertname,
                             const char *signal_ns, long long resources)
{
    char msg[GW_EV_MESSAGE_MAX + 1];
    snprintf(msg, sizeof msg, "aggregate of a %s storm of alert %s in namespace %s: %lld "
             "resources so far; the storm's further resources are added here, not made into "
             "requests of their own", storm_type, alertname, *signal_ns ? signal_ns : "(none)",
             resources);
    record(r, rid, GW_EV_CREATED, ns, name, uid, 1, gw_now_ms(), msg);
}

void gw_record_duplicates(gw_recorder *r, const char *rid, const char *ns, const char *name,
                          const char *uid, long long occurrences, long long first_ms,
                          long long last_ms)
{
    long long dups = gw_event_duplicates(occurrences);
    if (!dups)
        return;
    char msg[GW_EV_MESSAGE_MAX + 1], first[32], last[32];
    gw_rfc3339(first_ms, first);
    gw_rfc3339(last_ms, last);
    snprintf(msg, sizeof msg, "%lld duplicate%s counted on this request instead of new ones: "
             "%lld occurrences from %s to %s", dups, dups == 1 ? "" : "s", occurrences, first,
             last);
    record(r, rid, GW_EV_DEDUPLICATED, ns, name, uid, dups, last_ms, msg);
}

void gw_record_storm_members(gw_recorder *r, const char *rid, const char *ns, const char *name,
                             const char *uid, const char *storm_type, long long total,
                             long long occurrences, const char *listed, long long last_ms)
{
    char msg[GW_EV_MESSAGE_MAX + 1];
    snprintf(msg, sizeof msg, "%lld resource%s in this %s storm aggregate (%lld occurrences): %s",
             total, total == 1 ? "" : "s", storm_type, occurrences, listed);
    record(r, rid, GW_EV_STORM_MEMBER, ns, name, uid, total, last_ms, msg);
}

void gw_record_escalated(gw_recorder *r, const char *rid, const char *ns, const char *name,
                         const char *uid, const char *why, long long at_ms)
{
    char msg[GW_EV_MESSAGE_MAX + 1];
    snprintf(msg, sizeof msg, "priority raised: %s", why);
    record(r, rid, GW_EV_ESCALATED, ns, name, uid, 1, at_ms, msg);
}

void gw_record_resolved(gw_recorder *r, const char *rid, const char *ns, const char *name,
                        const char *uid, const char *alertname, long long at_ms)
{
    char msg[GW_EV_MESSAGE_MAX + 1], ts[32];
    gw_rfc3339(at_ms, ts);
    snprintf(msg, sizeof msg, "alert %s resolved at %s (annotation kubernaut.ai/resolved-at); "
             "the request itself is left to its controller", alertname, ts);
    record(r, rid, GW_EV_RESOLVED, ns, name, uid, 1, at_ms, msg);
}

void gw_record_flap_absorbed(gw_recorder *r, const char *rid, const char *ns, const char *name,
                             const char *uid, const char *alertname, long long flips,
                             long long count, long long at_ms)
{
    char msg[GW_EV_MESSAGE_MAX + 1];
    snprintf(msg, sizeof msg, "alert %s fired again while flapping (%lld flips within "
             "flapping.window): occurrence %lld counted on this request although it had "
             "finished, instead of starting a new remediation", alertname, flips, count);
    record(r, rid, GW_EV_FLAP_ABSORBED, ns, name, uid, flips > 0 ? flips : 1, at_ms, msg);
}

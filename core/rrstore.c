/* SPDX-License-Identifier: Apache-2.0 */
/* rrstore.c - see rrstore.h.
 *
 * Which calls kube.c may repeat after a failure whose outcome it cannot
 * know (timeout, 5xx): lookups and probes are reads; status and metadata
 * patches are merge patches of absolute values (counts, timestamps,
 * labels), so a second application changes nothing.  The create is the one
 * that needs care.  Its name is chosen before the first attempt and every
 * attempt posts the same object, so if an attempt that "failed" was in fact
 * stored, the repeat gets 409 AlreadyExists for our own name.  We then read
 * that object back (a quorum read) and, if it carries our fingerprint, the
 * create has succeeded - once.  The spec's rule "409 AlreadyExists counts
 * as success for the same fingerprint" is exactly that check.  Choosing a
 * new name on every 409, as a plain retry would, could make two objects
 * for one fingerprint.
 *
 * Finding the open request of a fingerprint: the label lookup (one read
 * of the watch cache) and, when configured and that finds none open, the
 * list-and-filter on spec.signalFingerprint (paged quorum reads; see
 * find_by_field).  Which request is open, and which of several is taken,
 * is rrphase.c's decision, the same one the status sync applies to its
 * patch answer. */
#include "rrstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jsonmem.h"
#include "k8sname.h"

/* The path of the requests in ns, or of the request name in ns (name not
 * NULL).  Built by gw_k8s_path, which checks every part: a namespace or a
 * name read back from Redis goes into the URL only when it is valid
 * Kubernetes syntax (otherwise the path is "" and gw_kube_request refuses
 * it as bad input). */
static void rr_path(const gw_config *cfg, const char *ns, const char *name, char *out,
                    size_t outlen)
{
    char av[300];
    snprintf(av, sizeof av, "%s/%s", cfg->rr_group, cfg->rr_version);
    gw_k8s_path(out, outlen, av, ns, cfg->rr_plural, name);
}

/* Classifies an answer the caller could not use (gw_err_from_http), with
 * the apiserver's own message.  A 404 that gets here is of the collection
 * or its namespace (no CRD, the group/version not served, no namespace),
 * and a 2xx other than the one expected is no answer we understand: both
 * are the operator's to fix, GW_EKUBECONF. */
static gw_err classify(long status, const gw_buf *body, const char *what, char *err, size_t errlen)
{
    const char *msg = "";
    json_t *j = body->len ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    if (j)
        msg = json_string_value(json_object_get(j, "message"));
    gw_err rc = gw_err_from_http(status);
    if (rc == GW_OK || rc == GW_ENOTFOUND)
        rc = GW_EKUBECONF;
    gw_fail(rc, err, errlen, "%s: apiserver answered %ld: %.300s", what, status, msg ? msg : "");
    if (j)
        json_decref(j);
    return rc;
}

static void read_dedup(json_t *obj, long long *count, long long *first_ms)
{
    json_t *d = json_object_get(json_object_get(obj, "status"), "deduplication");
    json_t *c = json_object_get(d, "occurrenceCount");
    *count = json_is_integer(c) ? json_integer_value(c) : 0;
    const char *f = json_string_value(json_object_get(d, "firstSeenAt"));
    if (!f || !gw_parse_rfc3339(f, first_ms))
        *first_ms = 0;
}

static void ref_of(json_t *item, const char *ns, gw_rr_ref *out)
{
    snprintf(out->name, sizeof out->name, "%s",
             json_string_value(json_object_get(json_object_get(item, "metadata"), "name")));
    snprintf(out->ns, sizeof out->ns, "%s", ns);
    read_dedup(item, &out->count, &out->first_ms);
}

/* When no request of the list is open: the newest (by creationTimestamp,
 * RFC 3339 in UTC, which sorts as text) that is fp's, into out->finished. */
static void newest_finished(json_t *items, const char *fp, gw_rr_ref *out)
{
    const char *best = NULL;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        json_t *meta = json_object_get(item, "metadata");
        const char *theirs = json_string_value(
            json_object_get(json_object_get(item, "spec"), "signalFingerprint"));
        const char *name = json_string_value(json_object_get(meta, "name"));
        const char *at = json_string_value(json_object_get(meta, "creationTimestamp"));
        if (!name || (theirs && strcmp(theirs, fp)))
            continue;
        if (best && (!at || strcmp(at, best) <= 0))
            continue;
        best = at ? at : "";
        snprintf(out->finished, sizeof out->finished, "%s", name);
        const char *phase = json_string_value(
            json_object_get(json_object_get(item, "status"), "overallPhase"));
        snprintf(out->finished_phase, sizeof out->finished_phase, "%s", phase ? phase : "");
    }
}

/* The lookup by label: one GET from the watch cache. */
static gw_err find_by_label(gw_kube *k, const gw_config *cfg, const char *ns, const char *fp,
                            long long now, gw_buf *scratch, gw_rr_ref *out, char *err,
                            size_t errlen)
{
    char path[600], coll[400];
    rr_path(cfg, ns, NULL, coll, sizeof coll);
    /* resourceVersion=0: served from the apiserver's watch cache.  A quorum
     * read is an etcd range over every request in the namespace, decoded
     * one by one (60-100 ms at 300 objects, growing without bound as
     * finished requests accumulate); the cache answers in ~10 ms and lags
     * by milliseconds, which matters only if Redis loses a key within that
     * time of a create (docs/architecture.md). */
    snprintf(path, sizeof path,
             "%s?labelSelector=kubernaut.ai%%2Ffingerprint%%3D%.63s&resourceVersion=0", coll, fp);
    long status;
    gw_buf_reset(scratch);
    gw_err rc = gw_kube_request(k, "GET", path, NULL, NULL, 0, GW_KUBE_REPEATABLE, &status,
                                scratch, err, errlen);
    if (rc)
        return rc == GW_ETOOBIG ? gw_fail(GW_EKUBE, err, errlen, "lookup: answer too large") : rc;
    if (status != 200)
        return classify(status, scratch, "lookup by fingerprint", err, errlen);
    json_t *list = json_loadb(scratch->data, scratch->len, 0, NULL);
    if (!list)
        return gw_fail(GW_EKUBE, err, errlen, "lookup: apiserver answer is not JSON");
    gw_rr_open state;
    long long until;
    /* the label holds 63 of 64 hex: gw_rr_pick confirms the whole
     * fingerprint where the spec has one */
    json_t *item = gw_rr_pick(json_object_get(list, "items"), fp, false, now, &state, &until);
    if (item)
        ref_of(item, ns, out);
    else
        newest_finished(json_object_get(list, "items"), fp, out);
    json_decref(list);
    return item ? GW_OK : GW_ENOTFOUND;
}

/* Percent-encodes a continue token (opaque, base64 in practice) for the
 * query string.  false when it does not fit. */
static bool query_escape(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        if (n + (plain ? 1 : 3) >= outlen)
            return false;
        if (plain) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
    return true;
}

/* The lookup by spec.signalFingerprint, for requests that other producers
 * made without our label (remediation.fingerprint_field_fallback).  The
 * apiserver of a custom resource has no field selector on spec, so the
 * namespace is listed and filtered here, in pages of
 * fingerprint_field_fallback_page_size (limit/continue), at most
 * fingerprint_field_fallback_max_items requests in all.  These are quorum
 * reads: the watch cache ignores limit (resourceVersion=0 would send the
 * whole namespace in one answer), while an etcd read is paged, so no
 * answer holds more than one page.  A page too large for the buffer
 * (requests carry payloads) is asked for again with half the limit.  An
 * active request ends the walk; otherwise every page is read, so that the
 * preference among open requests (rrphase.h) sees them all.  GW_ENOTFOUND
 * with err set ("stopped after ...") when the cap cut the walk short. */
static gw_err find_by_field(gw_kube *k, const gw_config *cfg, const char *ns, const char *fp,
                            long long now, gw_buf *scratch, gw_rr_ref *out, char *err,
                            size_t errlen)
{
    char coll[400], path[4600], cont[4096] = "";
    rr_path(cfg, ns, NULL, coll, sizeof coll);
    long limit = cfg->rr_field_fallback_page, budget = cfg->rr_field_fallback_max;
    gw_rr_open best = GW_RR_CLOSED;
    long long best_until = 0;
    for (;;) {
        if (budget <= 0) {
            gw_fail(GW_ENOTFOUND, err, errlen, "lookup by spec.signalFingerprint stopped after "
                    "%ld requests in namespace %s (remediation.fingerprint_field_fallback_max_items)",
                    cfg->rr_field_fallback_max, ns);
            break;
        }
        long want = limit < budget ? limit : budget;
        snprintf(path, sizeof path, "%s?limit=%ld%s%s", coll, want, *cont ? "&continue=" : "",
                 cont);
        long status;
        gw_buf_reset(scratch);
        gw_err rc = gw_kube_request(k, "GET", path, NULL, NULL, 0, GW_KUBE_REPEATABLE, &status,
                                    scratch, err, errlen);
        if (rc == GW_ETOOBIG && want > 1) {
            limit = want / 2;
            continue;
        }
        if (rc)
            return rc == GW_ETOOBIG ? gw_fail(GW_EKUBE, err, errlen, "lookup by "
                                              "spec.signalFingerprint: one request is larger "
                                              "than the buffer") : rc;
        if (status == 410) /* the continue token outlived etcd's compaction: retry later */
            return gw_fail(GW_EKUBE, err, errlen, "lookup by spec.signalFingerprint: the list "
                           "expired between pages (410)");
        if (status != 200)
            return classify(status, scratch, "lookup by spec.signalFingerprint", err, errlen);
        json_t *list = json_loadb(scratch->data, scratch->len, 0, NULL);
        if (!list)
            return gw_fail(GW_EKUBE, err, errlen, "lookup: apiserver answer is not JSON");
        json_t *items = json_object_get(list, "items");
        gw_rr_open state;
        long long until;
        json_t *item = gw_rr_pick(items, fp, true, now, &state, &until);
        if (item && gw_rr_prefer(state, until, best, best_until)) {
            ref_of(item, ns, out);
            best = state;
            best_until = until;
        }
        size_t n = json_array_size(items);
        budget -= n ? (long)n : 1; /* an empty page still counts: the walk ends */
        const char *next = json_string_value(
            json_object_get(json_object_get(list, "metadata"), "continue"));
        bool more = next && *next && best != GW_RR_ACTIVE;
        bool fits = !more || query_escape(next, cont, sizeof cont);
        json_decref(list);
        if (!fits)
            return gw_fail(GW_EKUBE, err, errlen, "lookup by spec.signalFingerprint: "
                           "continue token too long");
        if (!more)
            break;
    }
    return best != GW_RR_CLOSED ? GW_OK : GW_ENOTFOUND;
}

gw_err gw_rrstore_find_open(gw_kube *k, const gw_config *cfg, const char *ns, const char *fp,
                            gw_buf *scratch, gw_rr_ref *out, char *err, size_t errlen)
{
    if (errlen)
        *err = '\0';
    out->finished[0] = out->finished_phase[0] = '\0';
    long long now = gw_now_ms();
    gw_err rc = find_by_label(k, cfg, ns, fp, now, scratch, out, err, errlen);
    if (rc != GW_ENOTFOUND || !cfg->rr_field_fallback)
        return rc;
    return find_by_field(k, cfg, ns, fp, now, scratch, out, err, errlen);
}

gw_err gw_rrstore_get(gw_kube *k, const gw_config *cfg, const char *ns, const char *name,
                      gw_buf *scratch, gw_rr_ref *out, gw_rr_open *state, char *err,
                      size_t errlen)
{
    char path[700], obj[600];
    rr_path(cfg, ns, name, obj, sizeof obj);
    /* resourceVersion=0: from the watch cache, as the lookup by label */
    snprintf(path, sizeof path, "%s?resourceVersion=0", obj);
    long status;
    gw_buf_reset(scratch);
    gw_err rc = gw_kube_request(k, "GET", *obj ? path : "", NULL, NULL, 0, GW_KUBE_REPEATABLE,
                                &status, scratch, err, errlen);
    if (rc)
        return rc == GW_ETOOBIG ? gw_fail(GW_EKUBE, err, errlen, "read: answer too large") : rc;
    if (status == 404)
        return gw_fail(GW_ENOTFOUND, err, errlen, "%s/%s is gone", ns, name);
    if (status != 200)
        return classify(status, scratch, "read RemediationRequest", err, errlen);
    json_t *o = json_loadb(scratch->data, scratch->len, 0, NULL);
    if (!o)
        return gw_fail(GW_EKUBE, err, errlen, "read: apiserver answer is not JSON");
    bool deleting = json_object_get(json_object_get(o, "metadata"), "deletionTimestamp") != NULL;
    if (!deleting) {
        ref_of(o, ns, out);
        *state = gw_rr_state(o, gw_now_ms(), NULL);
    }
    json_decref(o);
    return deleting ? gw_fail(GW_ENOTFOUND, err, errlen, "%s/%s is being deleted", ns, name)
                    : GW_OK;
}

/* After 409 AlreadyExists on a create of `name`: is the object under that
 * name ours?  Ours means it carries our fingerprint and is not being
 * deleted; then an earlier attempt of this very create (repeated by
 * kube.c after a timeout or 5xx whose request had in fact been stored)
 * made it, and it counts as created.  Otherwise the random suffix clashed
 * with another fingerprint's request and the caller picks a new name. */
static gw_err claimed_by(gw_kube *k, const gw_config *cfg, const char *ns, const char *name,
                         const char *fp, gw_buf *scratch, char *err, size_t errlen)
{
    if (!name || !fp)
        return gw_fail(GW_EBUSY, err, errlen, "create: name already taken");
    char path[700];
    rr_path(cfg, ns, name, path, sizeof path);
    long status;
    gw_buf_reset(scratch);
    /* no resourceVersion: a quorum read, so it sees the create that just
     * answered 409 */
    gw_err rc = gw_kube_request(k, "GET", path, NULL, NULL, 0, GW_KUBE_REPEATABLE, &status,
                                scratch, err, errlen);
    if (rc)
        return rc == GW_ETOOBIG ? gw_fail(GW_EKUBE, err, errlen, "create: 409, and the "
                                          "object is too large to read back") : rc;
    if (status == 404) /* deleted right after: nothing of ours stands */
        return gw_fail(GW_EKUBE, err, errlen, "create: 409 for %s, then 404 reading it", name);
    if (status != 200)
        return classify(status, scratch, "create: reading back the existing object", err, errlen);
    json_t *o = json_loadb(scratch->data, scratch->len, 0, NULL);
    const char *theirs = json_string_value(
        json_object_get(json_object_get(o, "spec"), "signalFingerprint"));
    bool ours = theirs && !strcmp(theirs, fp) &&
                !json_object_get(json_object_get(o, "metadata"), "deletionTimestamp");
    json_decref(o);
    if (ours)
        return GW_OK;
    return gw_fail(GW_EBUSY, err, errlen, "create: name already taken");
}

gw_err gw_rrstore_create(gw_kube *k, const gw_config *cfg, json_t *obj, gw_buf *scratch,
                         char *err, size_t errlen)
{
    const char *ns = json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
    char path[400];
    rr_path(cfg, ns ? ns : "", NULL, path, sizeof path);
    char *body = json_dumps(obj, JSON_COMPACT);
    if (!body)
        return GW_ENOMEM;
    long status;
    gw_buf_reset(scratch);
    /* Repeatable because the name is fixed and 409 is checked below: see
     * the top of this file. */
    gw_err rc = gw_kube_request(k, "POST", path, "application/json", body, strlen(body),
                                GW_KUBE_REPEATABLE, &status, scratch, err, errlen);
    gw_json_free(body);
    if (rc)
        return rc == GW_ETOOBIG ? GW_OK : rc; /* created; we only lost the echo */
    if (status == 201 || status == 200)
        return GW_OK;
    if (status == 409) {
        json_t *meta = json_object_get(obj, "metadata");
        return claimed_by(k, cfg, ns ? ns : "", json_string_value(json_object_get(meta, "name")),
                          json_string_value(json_object_get(json_object_get(obj, "spec"),
                                                            "signalFingerprint")),
                          scratch, err, errlen);
    }
    return classify(status, scratch, "create RemediationRequest", err, errlen);
}

/* Sends patch (not consumed) as a JSON merge patch to ns/name, plus
 * suffix ("" or "/status"); the answer goes to scratch. */
static gw_err merge_patch(gw_kube *k, const gw_config *cfg, const char *ns, const char *name,
                          const char *suffix, json_t *patch, gw_buf *scratch, long *status,
                          char *err, size_t errlen)
{
    char path[700], obj[600];
    rr_path(cfg, ns, name, obj, sizeof obj);
    snprintf(path, sizeof path, "%s%s", obj, *obj ? suffix : "");
    char *body = patch ? json_dumps(patch, JSON_COMPACT) : NULL;
    if (!body)
        return GW_ENOMEM;
    gw_buf_reset(scratch);
    /* a merge patch of absolute values: applying it twice is applying it once */
    gw_err rc = gw_kube_request(k, "PATCH", path, "application/merge-patch+json", body,
                                strlen(body), GW_KUBE_REPEATABLE, status, scratch, err, errlen);
    gw_json_free(body);
    return rc;
}

gw_err gw_rrstore_patch_dedup(gw_kube *k, const gw_config *cfg, const char *ns, const char *name,
                              long long count, long long first_ms, long long last_ms,
                              gw_buf *scratch, bool *finished, char *err, size_t errlen)
{
    *finished = false;
    char first[32], last[32];
    gw_rfc3339(first_ms, first);
    gw_rfc3339(last_ms, last);
    json_t *patch = json_pack("{s:{s:{s:s,s:s,s:I}}}", "status", "deduplication", "firstSeenAt",
                              first, "lastSeenAt", last, "occurrenceCount", (json_int_t)count);
    long status;
    gw_err rc = merge_patch(k, cfg, ns, name, "/status", patch, scratch, &status, err, errlen);
    json_decref(patch);
    if (rc)
        return rc;
    if (status == 404) {
        *finished = true;
        return GW_OK;
    }
    if (status != 200)
        return classify(status, scratch, "patch status", err, errlen);
    json_t *obj = json_loadb(scratch->data, scratch->len, 0, NULL);
    if (obj) {
        /* re-evaluated on every sync, so a backoff that has run out
         * (nextAllowedExecution passed) closes the request here */
        *finished = gw_rr_state(obj, gw_now_ms(), NULL) == GW_RR_CLOSED;
        json_decref(obj);
    }
    return GW_OK;
}

gw_err gw_rrstore_state(gw_kube *k, const gw_config *cfg, const char *ns, const char *name,
                        long long now_ms, gw_buf *scratch, gw_rr_open *state, char phase[32],
                        char *err, size_t errlen)
{
    char path[600];
    *state = GW_RR_CLOSED;
    phase[0] = '\0';
    rr_path(cfg, ns, name, path, sizeof path);
    if (!*path)
        return gw_fail(GW_EINTERNAL, err, errlen, "no path for %s/%s", ns, name);
    long status;
    gw_buf_reset(scratch);
    gw_err rc = gw_kube_request(k, "GET", path, NULL, NULL, 0, GW_KUBE_REPEATABLE, &status,
                                scratch, err, errlen);
    if (rc)
        return rc;
    if (status == 404)
        return GW_ENOTFOUND;
    if (status != 200)
        return classify(status, scratch, "read", err, errlen);
    json_t *obj = json_loadb(scratch->data, scratch->len, 0, NULL);
    if (!obj)
        return gw_fail(GW_EKUBE, err, errlen, "read %s/%s: the answer is not JSON", ns, name);
    *state = gw_rr_state(obj, now_ms, NULL);
    const char *p = json_string_value(json_object_get(json_object_get(obj, "status"),
                                                      "overallPhase"));
    snprintf(phase, 32, "%s", p ? p : "");
    json_decref(obj);
    return GW_OK;
}

gw_err gw_rrstore_patch_meta(gw_kube *k, const gw_config *cfg, const char *ns, const char *name,
                             json_t *meta, gw_buf *scratch, char *err, size_t errlen)
{
    json_t *patch = json_pack("{s:O}", "metadata", meta);
    long status;
    gw_err rc = merge_patch(k, cfg, ns, name, "", patch, scratch, &status, err, errlen);
    json_decref(patch);
    if (rc)
        return rc;
    if (status == 404)
        return gw_fail(GW_ENOTFOUND, err, errlen, "patch metadata: %s/%s is gone", ns, name);
    if (status != 200)
        return classify(status, scratch, "patch metadata", err, errlen);
    return GW_OK;
}

gw_err gw_rrstore_annotate(gw_kube *k, const gw_config *cfg, const char *ns, const char *name,
                           const char *key, const char *value, gw_buf *scratch, char *err,
                           size_t errlen)
{
    json_t *meta = json_pack("{s:{s:s}}", "annotations", key, value);
    if (!meta)
        return GW_ENOMEM;
    gw_err rc = gw_rrstore_patch_meta(k, cfg, ns, name, meta, scratch, err, errlen);
    json_decref(meta);
    return rc;
}

gw_err gw_rrstore_probe(gw_kube *k, const gw_config *cfg, gw_buf *scratch, long *http_status,
                        char *err, size_t errlen)
{
    char path[420], coll[400];
    rr_path(cfg, cfg->rr_namespace, NULL, coll, sizeof coll);
    snprintf(path, sizeof path, "%s?limit=1", coll);
    gw_buf_reset(scratch);
    return gw_kube_request(k, "GET", path, NULL, NULL, 0, GW_KUBE_REPEATABLE, http_status, scratch,
                           err, errlen);
}

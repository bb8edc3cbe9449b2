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
 * for one fingerprint. */
#include "rrstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jsonmem.h"
#include "k8sname.h"

bool gw_rr_phase_terminal(const char *phase)
{
    static const char *const terminal[] = { "Completed", "Failed", "TimedOut", "Skipped",
                                            "Cancelled" };
    if (!phase)
        return false;
    for (size_t i = 0; i < sizeof terminal / sizeof terminal[0]; i++)
        if (!strcmp(phase, terminal[i]))
            return true;
    return false;
}

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

/* Classifies a non-2xx answer, with the apiserver's own message. */
static gw_err classify(long status, const gw_buf *body, const char *what, char *err, size_t errlen)
{
    const char *msg = "";
    json_t *j = body->len ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    if (j)
        msg = json_string_value(json_object_get(j, "message"));
    gw_err rc = (status == 429 || status >= 500) ? GW_EKUBE : GW_EKUBECONF;
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

static const char *phase_of(json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "status"), "overallPhase"));
}

gw_err gw_rrstore_find_open(gw_kube *k, const gw_config *cfg, const char *ns, const char *fp,
                            gw_buf *scratch, gw_rr_ref *out, char *err, size_t errlen)
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
    rc = GW_ENOTFOUND;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(list, "items"), i, item) {
        json_t *meta = json_object_get(item, "metadata");
        const char *name = json_string_value(json_object_get(meta, "name"));
        const char *sfp = json_string_value(
            json_object_get(json_object_get(item, "spec"), "signalFingerprint"));
        if (!name || json_object_get(meta, "deletionTimestamp") || gw_rr_phase_terminal(phase_of(item)))
            continue;
        if (sfp && strcmp(sfp, fp))
            continue; /* the label holds 63 of 64 hex: confirm the whole fingerprint */
        snprintf(out->name, sizeof out->name, "%s", name);
        snprintf(out->ns, sizeof out->ns, "%s", ns);
        read_dedup(item, &out->count, &out->first_ms);
        rc = GW_OK;
        break;
    }
    json_decref(list);
    return rc;
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
        *finished = gw_rr_phase_terminal(phase_of(obj)) ||
                    json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp");
        json_decref(obj);
    }
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

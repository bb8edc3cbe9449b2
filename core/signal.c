/* SPDX-License-Identifier: Apache-2.0 */
/* signal.c - batch ownership and the adapter-independent signal checks. */
#include "signal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fingerprint.h"
#include "jsonmem.h"
#include "target.h"

void gw_batch_free(gw_batch *b)
{
    if (b->root)
        json_decref(b->root);
    if (b->extra)
        json_decref(b->extra);
    free(b->signals);
    memset(b, 0, sizeof *b);
}

/* True when v nests deeper than max levels (v itself is level 1).  The
 * recursion is bounded by max, and jansson has already refused anything
 * deeper than its own compiled-in limit (2048). */
static bool too_deep(json_t *v, long max)
{
    if (!json_is_object(v) && !json_is_array(v))
        return false;
    if (max < 1)
        return true;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            if (too_deep(e, max - 1))
                return true;
    } else {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
            if (too_deep(e, max - 1))
                return true;
    }
    return false;
}

gw_err gw_batch_load(const gw_config *cfg, gw_batch *out, const char *body, size_t len,
                     const char *what, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    /* the parse's memory is bounded, not only the body's bytes (jsonmem.h) */
    gw_jsonmem_arm((size_t)cfg->server_max_parse_bytes);
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    gw_jsonmem_disarm();
    if (!root && gw_jsonmem_tripped())
        return gw_fail(GW_ETOOBIG, err, errlen, "body needs more than server.max_parse_bytes "
                       "(%ld bytes) of memory to parse", cfg->server_max_parse_bytes);
    if (!root)
        return gw_fail(GW_EINVAL, err, errlen, "invalid JSON at line %d column %d: %s", jerr.line,
                       jerr.column, jerr.text);
    out->root = root;
    out->raw = body;
    out->raw_len = len;
    if (!json_is_object(root)) {
        gw_batch_free(out);
        return gw_fail(GW_EINVAL, err, errlen, "body must be %s", what);
    }
    if (too_deep(root, cfg->server_max_json_depth)) {
        gw_batch_free(out);
        return gw_fail(GW_EINVAL, err, errlen,
                       "JSON nested deeper than the limit of %ld levels (server.max_json_depth)",
                       cfg->server_max_json_depth);
    }
    return GW_OK;
}

static gw_err check_map(const gw_config *cfg, gw_signal *s, json_t *obj, const char *what,
                        const char *where)
{
    if (json_object_size(obj) > (size_t)cfg->server_max_labels)
        return gw_fail(GW_EINVAL, s->error, sizeof s->error, "%s: %zu %s, more than the limit %ld",
                       where, json_object_size(obj), what, cfg->server_max_labels);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (!json_is_string(v))
            return gw_fail(GW_EINVAL, s->error, sizeof s->error,
                           "%s: %s \"%.64s\" must have a string value", where, what, k);
        if (strlen(k) > (size_t)cfg->server_max_label_bytes ||
            json_string_length(v) > (size_t)cfg->server_max_label_bytes)
            return gw_fail(GW_EINVAL, s->error, sizeof s->error,
                           "%s: %s \"%.64s\" is longer than the limit %ld bytes", where, what, k,
                           cfg->server_max_label_bytes);
    }
    return GW_OK;
}

gw_err gw_signal_finish(const gw_config *cfg, gw_signal *s, json_t *common_labels,
                        const char *where)
{
    gw_err rc;
    char msg[GW_ERRMSG - 32];
    if ((rc = check_map(cfg, s, s->labels, "labels", where)))
        return rc;
    if ((rc = check_map(cfg, s, s->annotations, "annotations", where)))
        return rc;
    if (strlen(s->name) > 253)
        return gw_fail(GW_EINVAL, s->error, sizeof s->error,
                       "%s: signal name is longer than 253 bytes", where);
    if (strlen(s->severity) > 50)
        return gw_fail(GW_EINVAL, s->error, sizeof s->error,
                       "%s: severity is longer than 50 bytes", where);
    /* the cluster first: a signal the gateway targets again needs it */
    const char *cl = json_string_value(json_object_get(s->labels, cfg->fp_cluster_label));
    if (!cl && common_labels)
        cl = json_string_value(json_object_get(common_labels, cfg->fp_cluster_label));
    s->cluster = cl && strlen(cl) <= 253 ? cl : "";
    if (!s->target.kind) {
        s->label_target = true;
        if ((rc = gw_target_from_labels(s->labels, cfg->signals_allow_unknown_target, s->name,
                                        NULL, 0, &s->target, msg, sizeof msg))) {
            s->no_target = rc == GW_ENOTFOUND;
            return gw_fail(GW_EINVAL, s->error, sizeof s->error, "%s: %s", where, msg);
        }
    }
    if ((rc = gw_signal_fingerprint(cfg, s, NULL, s->fingerprint)))
        return gw_fail(rc, s->error, sizeof s->error, "%s: cannot fingerprint", where);
    return GW_OK;
}

gw_err gw_signal_fingerprint(const gw_config *cfg, const gw_signal *s, const gw_target *t,
                             char out[65])
{
    return gw_fingerprint(s->cluster, t ? t : &s->target,
                          cfg->fp_include_signal_name ? s->name : NULL, out);
}

void gw_signal_refine_target(const gw_kinds *k, const gw_config *cfg, gw_signal *s, gw_signal_target_store *st)
{
    size_t nw;
    const gw_kind *const *w = gw_kinds_workloads(k, &nw);
    if (s->label_target && nw) {
        bool named = false;
        for (size_t i = 0; i < nw && !named; i++)
            named = json_is_string(json_object_get(s->labels, w[i]->label));
        gw_target t;
        char msg[GW_ERRMSG];
        if (named &&
            gw_target_from_labels(s->labels, cfg->signals_allow_unknown_target, s->name, w, nw,
                                  &t, msg, sizeof msg) == GW_OK &&
            (s->error[0] || strcmp(t.kind, s->target.kind))) {
            snprintf(st->kind, sizeof st->kind, "%s", t.kind);
            t.kind = st->kind;
            s->target = t;
            s->error[0] = '\0';
            s->no_target = false;
            if (gw_signal_fingerprint(cfg, s, NULL, s->fingerprint))
                snprintf(s->error, sizeof s->error, "cannot fingerprint");
        }
    }
    if (s->error[0] || !s->target.kind || !strcmp(s->target.kind, "Unknown") ||
        (!s->label_target && *s->target.api_version))
        return;
    gw_kind d;
    if (gw_kinds_find_av(k, s->target.kind, s->target.api_version, &d)) {
        gw_kind_api_version(&d, st->api_version, sizeof st->api_version);
        s->target.api_version = st->api_version;
    }
}

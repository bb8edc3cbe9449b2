/* SPDX-License-Identifier: Apache-2.0 */
/* rr.c - RemediationRequest JSON builder; see rr.h. */
#include "rr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jsonmem.h"
#include "text.h"

void gw_rr_name(const char *fingerprint, const unsigned char rnd[4], char *out)
{
    snprintf(out, 25, "rr-%.12s-%02x%02x%02x%02x", fingerprint, rnd[0], rnd[1], rnd[2], rnd[3]);
}

/* json_object_set_new that skips NULL and "" (and frees nothing: values are
 * created here only when they will be set). */
static void set_str(json_t *obj, const char *key, const char *v)
{
    if (v && *v)
        json_object_set_new(obj, key, json_string(v));
}

static json_t *string_map(json_t *src, size_t cut)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    char buf[4096 + 1];
    json_object_foreach(src, k, v) {
        const char *s = json_string_value(v);
        if (!s || !*s || !*k)
            continue;
        size_t len = json_string_length(v);
        size_t max = cut && cut < sizeof buf - 1 ? cut : sizeof buf - 1;
        if (len > max) {
            gw_utf8_cut(s, len, max, buf);
            json_object_set_new(out, k, json_string(buf));
        } else {
            json_object_set_new(out, k, json_stringn(s, len));
        }
    }
    return out;
}

void gw_rr_storm_annotations(json_t *ann, const char *type, const char *resources,
                             long long total)
{
    char n[24];
    snprintf(n, sizeof n, "%lld", total);
    json_object_set_new(ann, "kubernaut.ai/storm-type", json_string(type));
    json_object_set_new(ann, "kubernaut.ai/storm-resources", json_string(resources ? resources : ""));
    json_object_set_new(ann, "kubernaut.ai/storm-resource-count", json_string(n));
}

char *gw_rr_alert_payload(json_t *root, json_t *item)
{
    static const char *const group_fields[] = {
        "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
        "commonLabels", "commonAnnotations", "externalURL", "orgId", "state", "title", "message",
    };
    json_t *p = json_object();
    json_t *alerts = json_array();
    if (!p || !alerts || json_array_append(alerts, item)) {
        json_decref(p);
        json_decref(alerts);
        return NULL;
    }
    for (size_t i = 0; i < sizeof group_fields / sizeof group_fields[0]; i++) {
        json_t *v = json_object_get(root, group_fields[i]);
        if (v)
            json_object_set(p, group_fields[i], v);
    }
    json_object_set_new(p, "alerts", alerts);
    char *out = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(p);
    return out;
}

/* metadata: name, namespace, our labels and annotations; *ann is the
 * annotations object (borrowed from the result). */
static json_t *metadata(const gw_rr_input *in, const char *created, json_t **ann)
{
    const gw_signal *s = in->sig;
    char lv[64];
    json_t *meta = json_object();
    json_object_set_new(meta, "name", json_string(in->name));
    json_object_set_new(meta, "namespace", json_string(in->namespace_));
    json_t *labels = json_object();
    json_object_set_new(labels, "app.kubernetes.io/managed-by", json_string("alertgw"));
    json_object_set_new(labels, "app.kubernetes.io/component", json_string("remediation"));
    json_object_set_new(labels, "kubernaut.ai/fingerprint", json_stringn(s->fingerprint, 63));
    if (gw_label_value(in->environment, lv))
        json_object_set_new(labels, "kubernaut.ai/environment", json_string(lv));
    if (gw_label_value(in->priority, lv))
        json_object_set_new(labels, "kubernaut.ai/priority", json_string(lv));
    if (gw_label_value(s->severity, lv))
        json_object_set_new(labels, "kubernaut.ai/severity", json_string(lv));
    if (in->storm_type)
        json_object_set_new(labels, "kubernaut.ai/storm", json_string("true"));
    json_object_set_new(meta, "labels", labels);
    *ann = json_object();
    json_object_set_new(*ann, "kubernaut.ai/created-at", json_string(created));
    if (in->storm_type)
        gw_rr_storm_annotations(*ann, in->storm_type, in->storm_resources, in->storm_total);
    json_object_set_new(meta, "annotations", *ann);
    return meta;
}

/* The signal's own fields of spec, up to priority. */
static void spec_signal(json_t *spec, const gw_rr_input *in, const char *firing,
                        const char *received)
{
    const gw_signal *s = in->sig;
    json_object_set_new(spec, "signalFingerprint", json_string(s->fingerprint));
    json_object_set_new(spec, "signalName", json_string(s->name));
    json_object_set_new(spec, "severity", json_string(s->severity));
    json_object_set_new(spec, "signalType", json_string("alert"));
    set_str(spec, "signalSource", s->source);
    json_object_set_new(spec, "targetType", json_string("kubernetes"));
    json_t *tr = json_object();
    set_str(tr, "kind", s->target.kind);
    set_str(tr, "name", s->target.name);
    set_str(tr, "namespace", s->target.namespace_);
    set_str(tr, "apiVersion", s->target.api_version);
    json_object_set_new(spec, "targetResource", tr);
    json_object_set_new(spec, "firingTime", json_string(firing));
    json_object_set_new(spec, "receivedTime", json_string(received));
    set_str(spec, "clusterID", s->cluster);
    set_str(spec, "environment", in->environment);
    set_str(spec, "priority", in->priority);
}

/* signalLabels, signalAnnotations and providerData (a JSON string). */
static void spec_labels(json_t *spec, const gw_rr_input *in)
{
    const gw_signal *s = in->sig;
    json_t *sl = s->labels ? string_map(s->labels, 63) : json_object();
    if (json_object_size(sl))
        json_object_set(spec, "signalLabels", sl);
    if (s->annotations) {
        json_t *sa = string_map(s->annotations, 0);
        if (json_object_size(sa))
            json_object_set(spec, "signalAnnotations", sa);
        json_decref(sa);
    }

    json_t *pd = json_object();
    set_str(pd, "namespace", s->target.namespace_);
    json_object_set(pd, "labels", sl);
    set_str(pd, "environment", in->environment);
    set_str(pd, "priority", in->priority);
    char *pds = json_dumps(pd, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(pd);
    json_decref(sl);
    if (pds) {
        json_object_set_new(spec, "providerData", json_string(pds));
        gw_json_free(pds);
    }
}

/* spec.originalPayload, cut to remediation.original_payload_max and then
 * marked in the annotations ann. */
static void spec_payload(json_t *spec, json_t *ann, const gw_config *cfg, const gw_rr_input *in)
{
    if (!in->raw || !in->raw_len)
        return;
    size_t max = (size_t)cfg->rr_original_payload_max;
    if (in->raw_len <= max) {
        json_object_set_new(spec, "originalPayload", json_stringn(in->raw, in->raw_len));
        return;
    }
    static const char mark[] = "...[truncated]";
    char *cut = malloc(max + sizeof mark);
    if (cut) {
        size_t n = gw_utf8_cut(in->raw, in->raw_len, max, cut);
        memcpy(cut + n, mark, sizeof mark);
        json_object_set_new(spec, "originalPayload", json_string(cut));
        free(cut);
    }
    json_object_set_new(ann, "kubernaut.ai/original-payload-truncated", json_string("true"));
}

json_t *gw_rr_build(const gw_config *cfg, const gw_rr_input *in)
{
    const gw_signal *s = in->sig;
    char received[32], created[32];
    gw_rfc3339(in->received_ms, received);
    memcpy(created, received, sizeof created);

    long long fms;
    char firing[32];
    if (s->firing_time && gw_parse_rfc3339(s->firing_time, &fms) && fms > 0)
        gw_rfc3339(fms, firing);
    else
        memcpy(firing, received, sizeof firing);

    json_t *root = json_object();
    char api_version[256];
    snprintf(api_version, sizeof api_version, "%s/%s", cfg->rr_group, cfg->rr_version);
    json_object_set_new(root, "apiVersion", json_string(api_version));
    json_object_set_new(root, "kind", json_string(cfg->rr_kind));
    json_t *ann;
    json_object_set_new(root, "metadata", metadata(in, created, &ann));

    json_t *spec = json_object();
    spec_signal(spec, in, firing, received);
    spec_labels(spec, in);
    spec_payload(spec, ann, cfg, in);
    json_object_set_new(root, "spec", spec);
    return root;
}

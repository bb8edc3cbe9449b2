/* SPDX-License-Identifier: Apache-2.0 */
/* k8sevent.c - Kubernetes Event adapter; see k8sevent.h. */
#include "k8sevent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "k8sname.h"
#include "target.h"
#include "text.h"

static const char *str(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v && *v ? v : NULL;
}

/* events.severity_overrides: "Reason=severity,Reason2=severity2". */
static const char *severity_for(const gw_config *cfg, const char *reason, char *buf, size_t buflen)
{
    if (gw_pairs_get(cfg->events_severity_overrides, reason, buf, buflen) && *buf)
        return buf;
    return "warning";
}

/* The newest timestamp the event carries, by shape. */
static const char *event_time(json_t *ev, bool v1)
{
    const char *t = NULL;
    if (v1) {
        t = str(json_object_get(ev, "series"), "lastObservedTime");
        if (!t)
            t = str(ev, "eventTime");
        if (!t)
            t = str(ev, "deprecatedLastTimestamp");
    } else {
        t = str(ev, "lastTimestamp");
        if (!t)
            t = str(ev, "eventTime");
        if (!t)
            t = str(ev, "firstTimestamp");
    }
    if (!t)
        t = str(json_object_get(ev, "metadata"), "creationTimestamp");
    return t;
}

static gw_err fill(const gw_config *cfg, gw_batch *b, json_t *ev, long long now_ms, char *err,
                   size_t errlen)
{
    gw_signal *s = &b->signals[0];
    s->source = "kubernetes-events";
    /* events.k8s.io/v1 names the object `regarding`; core/v1 `involvedObject` */
    json_t *obj = json_object_get(ev, "regarding");
    bool v1 = json_is_object(obj);
    if (!v1)
        obj = json_object_get(ev, "involvedObject");
    if (!json_is_object(obj))
        return gw_fail(GW_EINVAL, err, errlen, "involvedObject (or regarding): missing or not an object");

    const char *type = str(ev, "type");
    if (!type)
        return gw_fail(GW_EINVAL, err, errlen, "type: missing (Normal, Warning or Error)");
    const char *reason = str(ev, "reason");
    if (!reason)
        return gw_fail(GW_EINVAL, err, errlen, "reason: missing or empty");
    if (strlen(reason) > 253)
        return gw_fail(GW_EINVAL, err, errlen, "reason: longer than 253 bytes");

    const char *when = event_time(ev, v1);
    long long ts;
    if (!when)
        return gw_fail(GW_EINVAL, err, errlen,
                       "no timestamp: expected lastTimestamp, eventTime or series.lastObservedTime");
    if (!gw_parse_rfc3339(when, &ts))
        return gw_fail(GW_EINVAL, err, errlen, "timestamp \"%.40s\" is not RFC 3339", when);
    if (now_ms - ts > cfg->events_max_age_s * 1000)
        return gw_fail(GW_EINVAL, err, errlen,
                       "event is stale: last seen %.40s, %lld s ago, older than events.max_age "
                       "(%ld s)", when, (now_ms - ts) / 1000, cfg->events_max_age_s);
    if (ts - now_ms > cfg->events_max_future_s * 1000)
        return gw_fail(GW_EINVAL, err, errlen,
                       "event timestamp %.40s is %lld s in the future, more than events.max_future "
                       "(%ld s): check the sender's clock", when, (ts - now_ms) / 1000,
                       cfg->events_max_future_s);

    const char *kind = str(obj, "kind"), *name = str(obj, "name"), *ns = str(obj, "namespace");
    if (!kind || !gw_is_kind(kind))
        return gw_fail(GW_EINVAL, err, errlen, "involvedObject.kind: missing or not a Kubernetes kind");
    if (!name || !gw_is_dns_subdomain(name))
        return gw_fail(GW_EINVAL, err, errlen, "involvedObject.name: missing or not a valid name");
    if (ns && !gw_is_dns_label(ns))
        return gw_fail(GW_EINVAL, err, errlen, "involvedObject.namespace: not a valid namespace name");

    s->name = reason;
    s->resolved = false;
    s->firing_time = when;
    s->target.kind = kind;
    s->target.name = name;
    s->target.namespace_ = ns ? ns : "";
    /* it goes into apiserver paths (scope check, owner walk) */
    const char *av = str(obj, "apiVersion");
    if (av && !gw_is_api_version(av))
        return gw_fail(GW_EINVAL, err, errlen, "involvedObject.apiVersion: not a Kubernetes "
                       "apiVersion ([group/]version, e.g. apps/v1)");
    s->target.api_version = av ? av : "";

    /* labels and annotations for the request, made here, owned by the batch */
    b->extra = json_object();
    json_t *labels = json_object(), *ann = json_object();
    json_object_set_new(b->extra, "labels", labels);
    json_object_set_new(b->extra, "annotations", ann);
    json_object_set_new(labels, "reason", json_string(reason));
    json_object_set_new(labels, "type", json_string(type));
    json_object_set_new(labels, "kind", json_string(kind));
    json_object_set_new(labels, "name", json_string(name));
    if (ns)
        json_object_set_new(labels, "namespace", json_string(ns));
    const char *component = v1 ? str(ev, "reportingController")
                               : str(json_object_get(ev, "source"), "component");
    if (component)
        json_object_set_new(labels, "source", json_string(component));
    const char *msg = str(ev, v1 ? "note" : "message");
    if (msg)
        json_object_set_new(ann, "message", json_string(msg));
    s->labels = labels;
    s->annotations = ann;

    if (!strcmp(type, "Normal")) {
        s->severity = "info";
        s->ignored = "Normal event: informational, nothing to remediate";
        s->ignored_reason = "normal-event";
    } else if (!strcmp(type, "Warning") || !strcmp(type, "Error")) {
        s->severity = NULL; /* set by the caller from events.severity_overrides */
    } else {
        return gw_fail(GW_EINVAL, err, errlen, "type: \"%.32s\" is not Normal, Warning or Error",
                       type);
    }
    return GW_OK;
}

gw_err gw_k8sevent_parse(const gw_config *cfg, const char *body, size_t len, long long now_ms,
                         gw_batch *out, char *err, size_t errlen)
{
    gw_err rc = gw_batch_load(cfg, out, body, len, "one Event (a JSON object)", err, errlen);
    if (rc)
        return rc;
    json_t *root = out->root;
    out->signals = calloc(1, sizeof *out->signals);
    if (!out->signals) {
        gw_batch_free(out);
        return GW_ENOMEM;
    }
    out->n = 1;
    rc = fill(cfg, out, root, now_ms, err, errlen);
    if (rc) {
        gw_batch_free(out);
        return rc;
    }
    gw_signal *s = &out->signals[0];
    if (!s->severity) {
        /* the override value lives in the batch, like every other string */
        char sev[51];
        const char *v = severity_for(cfg, s->name, sev, sizeof sev);
        json_object_set_new(out->extra, "severity", json_string(v));
        s->severity = json_string_value(json_object_get(out->extra, "severity"));
    }
    if (gw_signal_finish(cfg, s, NULL, "event")) {
        snprintf(err, errlen, "%s", s->error);
        gw_batch_free(out);
        return GW_EINVAL;
    }
    return GW_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* am.c - Alertmanager v4 webhook adapter; see am.h.
 *
 * Strings in the signals point into the jansson document owned by the
 * batch; nothing is copied.  Alertmanager always sends `labels` with an
 * `alertname`; we reject alerts without one rather than invent a name,
 * because the name is what a human reads on the RemediationRequest. */
#include "am.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str_or(json_t *obj, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v && *v ? v : dflt;
}

static void parse_alert(const gw_config *cfg, json_t *alert, size_t i, const char *group_status,
                        json_t *common_labels, const char *source, gw_signal *s)
{
    char where[32];
    snprintf(where, sizeof where, "alerts[%zu]", i);
    s->source = source;
    s->item = alert;
    if (!json_is_object(alert)) {
        gw_fail(GW_EINVAL, s->error, sizeof s->error, "%s: must be an object", where);
        return;
    }
    json_t *labels = json_object_get(alert, "labels");
    if (!json_is_object(labels)) {
        gw_fail(GW_EINVAL, s->error, sizeof s->error, "%s.labels: missing or not an object", where);
        return;
    }
    s->labels = labels;
    json_t *ann = json_object_get(alert, "annotations");
    if (ann && !json_is_object(ann) && !json_is_null(ann)) {
        gw_fail(GW_EINVAL, s->error, sizeof s->error, "%s.annotations: must be an object", where);
        return;
    }
    s->annotations = json_is_object(ann) ? ann : NULL;
    s->name = str_or(labels, "alertname", NULL);
    if (!s->name) {
        gw_fail(GW_EINVAL, s->error, sizeof s->error,
                "%s.labels.alertname: missing or empty", where);
        return;
    }
    s->severity = str_or(labels, "severity", "unknown");
    const char *st = str_or(alert, "status", group_status);
    if (!st || (strcmp(st, "firing") && strcmp(st, "resolved"))) {
        gw_fail(GW_EINVAL, s->error, sizeof s->error,
                "%s.status: must be \"firing\" or \"resolved\"", where);
        return;
    }
    s->resolved = !strcmp(st, "resolved");
    s->firing_time = str_or(alert, "startsAt", "");
    gw_signal_finish(cfg, s, common_labels, where);
}

static gw_err parse_webhook(const gw_config *cfg, const char *body, size_t len,
                            const char *source, gw_batch *out, char *err, size_t errlen)
{
    gw_err rc = gw_batch_load(cfg, out, body, len, "a JSON object", err, errlen);
    if (rc)
        return rc;
    json_t *root = out->root;
    json_t *alerts = json_object_get(root, "alerts");
    if (!json_is_array(alerts)) {
        gw_batch_free(out);
        return gw_fail(GW_EINVAL, err, errlen, "alerts: missing or not an array");
    }
    size_t n = json_array_size(alerts);
    if (n == 0) {
        gw_batch_free(out);
        return gw_fail(GW_EINVAL, err, errlen, "alerts: empty, nothing to do");
    }
    if (n > (size_t)cfg->server_max_alerts) {
        gw_batch_free(out);
        return gw_fail(GW_ETOOBIG, err, errlen, "alerts: %zu alerts, more than the limit %ld", n,
                       cfg->server_max_alerts);
    }
    const char *group_status = str_or(root, "status", NULL);
    json_t *common = json_object_get(root, "commonLabels");
    if (!json_is_object(common))
        common = NULL;
    out->signals = calloc(n, sizeof *out->signals);
    if (!out->signals) {
        gw_batch_free(out);
        return GW_ENOMEM;
    }
    out->n = n;
    for (size_t i = 0; i < n; i++)
        parse_alert(cfg, json_array_get(alerts, i), i, group_status, common, source,
                    &out->signals[i]);
    return GW_OK;
}

gw_err gw_am_parse(const gw_config *cfg, const char *body, size_t len, gw_batch *out,
                   char *err, size_t errlen)
{
    return parse_webhook(cfg, body, len, "prometheus", out, err, errlen);
}

gw_err gw_grafana_parse(const gw_config *cfg, const char *body, size_t len, gw_batch *out,
                        char *err, size_t errlen)
{
    return parse_webhook(cfg, body, len, "grafana", out, err, errlen);
}

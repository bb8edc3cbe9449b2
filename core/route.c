/* SPDX-License-Identifier: Apache-2.0 */
/* route.c - see route.h. */
#include "route.h"

#include <string.h>

static const char *const names[GW_ROUTE_N] = {
    [GW_ROUTE_PROMETHEUS] = "prometheus", [GW_ROUTE_GRAFANA] = "grafana",
    [GW_ROUTE_K8S_EVENT] = "kubernetes-event", [GW_ROUTE_SIGNAL] = "signal",
    [GW_ROUTE_HEALTHZ] = "healthz", [GW_ROUTE_READYZ] = "readyz",
    [GW_ROUTE_METRICS] = "metrics", [GW_ROUTE_WEB_ERROR] = "web-error",
    [GW_ROUTE_EXPLAIN] = "explain",
    [GW_ROUTE_OTHER] = "other",
};

const char *gw_route_name(gw_route r)
{
    return r < GW_ROUTE_N ? names[r] : names[GW_ROUTE_OTHER];
}

bool gw_route_is_webhook(gw_route r)
{
    return r == GW_ROUTE_PROMETHEUS || r == GW_ROUTE_GRAFANA || r == GW_ROUTE_K8S_EVENT;
}

gw_route gw_route_of(const gw_config *cfg, const char *path, int web_error, const char **fp)
{
    size_t plen = strlen(cfg->server_signals_prefix);
    if (web_error)
        return GW_ROUTE_WEB_ERROR;
    if (!strcmp(path, cfg->server_prometheus_path))
        return GW_ROUTE_PROMETHEUS;
    if (!strcmp(path, cfg->server_grafana_path))
        return GW_ROUTE_GRAFANA;
    if (!strcmp(path, cfg->server_events_path))
        return GW_ROUTE_K8S_EVENT;
    if (!strcmp(path, "/healthz"))
        return GW_ROUTE_HEALTHZ;
    if (!strcmp(path, "/readyz"))
        return GW_ROUTE_READYZ;
    if (!strcmp(path, "/metrics"))
        return GW_ROUTE_METRICS;
    if (!strcmp(path, GW_EXPLAIN_PATH))
        return GW_ROUTE_EXPLAIN;
    if (!strncmp(path, cfg->server_signals_prefix, plen) && path[plen] == '/' &&
        !strchr(path + plen + 1, '/')) {
        if (fp)
            *fp = path + plen + 1;
        return GW_ROUTE_SIGNAL;
    }
    return GW_ROUTE_OTHER;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* route.h - the gateway's routes: one enum, one table of names, one
 * matcher.
 *
 * The name is the route's label in gateway_request_duration_seconds and
 * its "route" field in the request log line, so the two always agree.
 * Paths of the webhook routes and the signal-state prefix come from the
 * configuration (server.*_path, server.signals_prefix). */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

/* POST: what the gateway would do with a webhook, and why (explain.h). */
#define GW_EXPLAIN_PATH "/api/v1/explain"

#include <stdbool.h>

#include "config.h"

typedef enum {
    GW_ROUTE_PROMETHEUS, GW_ROUTE_GRAFANA, GW_ROUTE_K8S_EVENT, GW_ROUTE_SIGNAL, GW_ROUTE_HEALTHZ,
    GW_ROUTE_READYZ, GW_ROUTE_METRICS, GW_ROUTE_WEB_ERROR, GW_ROUTE_EXPLAIN, GW_ROUTE_OTHER,
    GW_ROUTE_N
} gw_route;

/* "prometheus", "grafana", "kubernetes-event", "signal", "healthz",
 * "readyz", "metrics", "web-error", "other" (static strings). */
const char *gw_route_name(gw_route r);

/* The three routes that take webhooks (POST, authenticated per route). */
bool gw_route_is_webhook(gw_route r);

/* The route of path (web_error != 0: the web server's own error page,
 * whatever the path).  For GW_ROUTE_SIGNAL, *fp (may be NULL) points into
 * path at what follows the prefix. */
gw_route gw_route_of(const gw_config *cfg, const char *path, int web_error, const char **fp);

#endif

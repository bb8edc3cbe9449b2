/* SPDX-License-Identifier: Apache-2.0 */
/* exposure.c - see exposure.h. */
#include "exposure.h"

#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "text.h"

/* The routes that create things; the GET routes only read. */
static const struct {
    gw_auth_route route;
    const char   *key;
} signal_routes[] = {
    { GW_AUTH_ROUTE_PROMETHEUS, "auth.prometheus" },
    { GW_AUTH_ROUTE_GRAFANA, "auth.grafana" },
    { GW_AUTH_ROUTE_EVENTS, "auth.events" },
    { GW_AUTH_ROUTE_EXPLAIN, "auth.explain" }, /* reads what the cluster holds */
};

int gw_exposure_config_errors(const gw_config *c, const char *listen_addr, char *errs,
                              size_t errlen)
{
    const char *addr = listen_addr && *listen_addr ? listen_addr : "127.0.0.1";
    if (c->auth_allow_anonymous || gw_is_loopback_host(addr, strlen(addr)))
        return 0;
    char open[96] = "";
    size_t n = 0;
    for (size_t i = 0; i < sizeof signal_routes / sizeof signal_routes[0]; i++) {
        if (!gw_auth_route_anonymous(c, signal_routes[i].route))
            continue;
        /* explain unset follows auth.prometheus, which is named already */
        if (signal_routes[i].route == GW_AUTH_ROUTE_EXPLAIN && !*c->auth_explain)
            continue;
        int w = snprintf(open + n, sizeof open - n, "%s%s", n ? ", " : "", signal_routes[i].key);
        if (w > 0 && (size_t)w < sizeof open - n)
            n += (size_t)w;
    }
    if (!n)
        return 0;
    char shown[80];
    gw_text_clean(addr, strlen(addr), shown, sizeof shown);
    gw_errs_add(errs, errlen, "%s: signal route%s at auth none while the gateway listens on "
                "\"%s\" (ALERTGW_LISTEN_ADDR), which is not loopback: anyone who can reach it "
                "could create RemediationRequests.  Give each route a mode (bearer, hmac, mtls "
                "or tokenreview; docs/security.md), listen on 127.0.0.1, or set "
                "auth.allow_anonymous: true if anonymous senders are meant",
                open, strchr(open, ',') ? "s" : "", shown);
    return 1;
}

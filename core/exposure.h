/* SPDX-License-Identifier: Apache-2.0 */
/* exposure.h - who can reach the signal routes: the listen address against
 * routes that admit anyone.
 *
 * A signal route (auth.prometheus, auth.grafana, auth.events) at auth
 * `none` lets whoever can connect create RemediationRequests.  On loopback
 * that is the host's own processes; on any other address it is the
 * network.  So a non-loopback listen address with such a route is a
 * configuration error unless auth.allow_anonymous says it is meant.  The
 * read-only routes (auth.signals, auth.metrics) are not signal routes.
 *
 * The listen address is the web server's, which the workers do not bind:
 * it is ALERTGW_LISTEN_ADDR, the variable lighttpd.conf, 50-alertgw.conf,
 * the Apache config and the units use (unset or empty: lighttpd.conf's
 * default, 127.0.0.1).  Loopback: gw_is_loopback_host (text.h). */
#ifndef GW_EXPOSURE_H
#define GW_EXPOSURE_H

#include <stddef.h>

#include "config.h"

/* Appends at most one line to errs naming every signal route open to
 * anyone, the address, and the two ways out (a mode, or
 * auth.allow_anonymous: true); returns the number of lines (0 or 1).
 * listen_addr is ALERTGW_LISTEN_ADDR's value (NULL: unset). */
int gw_exposure_config_errors(const gw_config *c, const char *listen_addr, char *errs,
                              size_t errlen);

#endif

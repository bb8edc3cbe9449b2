/* SPDX-License-Identifier: Apache-2.0 */
/* am.h - the Prometheus Alertmanager webhook adapter (payload version 4).
 *
 * Parses one webhook body with jansson (duplicate keys rejected) into a
 * gw_batch: one gw_signal per alert.  Problems with the envelope (not JSON,
 * no alerts array, too many alerts) fail the whole call; problems with one
 * alert (no alertname, no target label, ...) only mark that signal, so a
 * multi-alert webhook still delivers its good alerts. */
#ifndef GW_AM_H
#define GW_AM_H

#include "config.h"
#include "err.h"
#include "signal.h"

/* body is borrowed and must outlive out (originalPayload points into it).
 * On GW_OK the caller frees out with gw_batch_free().  Returns GW_EINVAL or
 * GW_ETOOBIG with err saying what is wrong. */
gw_err gw_am_parse(const gw_config *cfg, const char *body, size_t len, gw_batch *out,
                   char *err, size_t errlen);

/* Grafana Alerting's webhook (payload version 1) carries Alertmanager's
 * alerts[] plus Grafana's own fields (orgId, state, title, values,
 * dashboardURL, ...): the same parser, with source "grafana". */
gw_err gw_grafana_parse(const gw_config *cfg, const char *body, size_t len, gw_batch *out,
                        char *err, size_t errlen);

#endif

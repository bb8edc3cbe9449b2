/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-event.c - one Kubernetes Event in any of its shapes (core/v1,
 * events.k8s.io/v1, the exporter's) through gw_k8sevent_parse, then the
 * RemediationRequest when it is accepted (gw_rr_build).
 * Input: one request body.  Corpus: tests/fuzz/event/. */
#include "fuzz.h"

#include "k8sevent.h"

/* 2026-11-23T10:00:30Z: the seeds are fresh at this instant */
#define EVENT_NOW_MS 1795428030000LL

GW_FUZZ_TARGET(event)
{
    const gw_config *cfg = gw_fuzz_parser_config();
    gw_batch b;
    char err[GW_ERRMSG];
    if (gw_k8sevent_parse(cfg, (const char *)data, size, EVENT_NOW_MS, &b, err, sizeof err) ==
        GW_OK) {
        gw_fuzz_build_requests(cfg, &b);
        gw_batch_free(&b);
    }
    return 0;
}

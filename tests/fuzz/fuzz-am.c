/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-am.c - the Alertmanager webhook (gw_am_parse), then the
 * RemediationRequest of every accepted alert (gw_rr_build).
 * Input: one request body.  Corpus: tests/fuzz/am/. */
#include "fuzz.h"

#include "am.h"

GW_FUZZ_TARGET(am)
{
    const gw_config *cfg = gw_fuzz_parser_config();
    gw_batch b;
    char err[GW_ERRMSG];
    if (gw_am_parse(cfg, (const char *)data, size, &b, err, sizeof err) == GW_OK) {
        gw_fuzz_build_requests(cfg, &b);
        gw_batch_free(&b);
    }
    return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* retry.c - see retry.h. */
#include "retry.h"

bool gw_retry_failed(gw_err rc, long http_status)
{
    if (rc == GW_EKUBE)
        return true;
    return rc == GW_OK && gw_err_from_http(http_status) == GW_EKUBE;
}

long gw_retry_delay_ms(const gw_retry_policy *p, int retry, long long retry_after_ms,
                       long long left_ms, uint64_t rnd)
{
    if (retry < 0 || retry >= p->retries)
        return -1;
    long max = p->max_delay_ms > 0 ? p->max_delay_ms : 0;
    if (retry_after_ms > max)
        return -1;
    long long ceiling = p->base_ms > 0 ? p->base_ms : 0;
    for (int i = 0; i < retry && ceiling < max; i++)
        ceiling *= 2;
    if (ceiling > max)
        ceiling = max;
    long long delay = ceiling > 0 ? (long long)(rnd % (uint64_t)(ceiling + 1)) : 0;
    if (delay < retry_after_ms)
        delay = retry_after_ms;
    if (left_ms - delay < GW_RETRY_MIN_ATTEMPT_MS)
        return -1;
    return (long)delay;
}

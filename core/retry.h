/* SPDX-License-Identifier: Apache-2.0 */
/* retry.h - when and how long to wait before repeating a Kubernetes call.
 *
 * Pure functions (no clock, no randomness of their own) so that the policy
 * is unit-tested exactly: the caller passes the time left and a random
 * number.  kube.c applies them; which calls may be repeated at all is the
 * caller's decision (kube.h, gw_kube_retry). */
#ifndef GW_RETRY_H
#define GW_RETRY_H

#include <stdbool.h>
#include <stdint.h>
#include "err.h"

/* An attempt is not started with less than this left of the budget. */
#define GW_RETRY_MIN_ATTEMPT_MS 100

typedef struct {
    long retries;       /* repeats after the first attempt; 0: none */
    long base_ms;       /* backoff ceiling of the first repeat; doubles per repeat */
    long max_delay_ms;  /* longest single wait; also the largest Retry-After honoured */
} gw_retry_policy;

/* Whether an outcome is a failure worth repeating (and, for the circuit
 * breaker, a failure of the apiserver): a transport error (rc GW_EKUBE),
 * or an answer that gw_err_from_http calls temporary (429, 5xx).  rc GW_OK
 * with any other status is an answer. */
bool gw_retry_failed(gw_err rc, long http_status);

/* Milliseconds to wait before repeat number `retry` (0 = the first
 * repeat), or -1 when the call must not be repeated: the repeats are used
 * up, the server's Retry-After (retry_after_ms > 0) exceeds max_delay_ms
 * (repeating earlier than asked would only add load), or the wait would
 * leave less than GW_RETRY_MIN_ATTEMPT_MS of left_ms, the call's remaining
 * time budget.
 *
 * The wait is "full jitter": uniform in [0, min(max_delay, base * 2^retry)]
 * from rnd, so workers that failed together do not retry together; with a
 * Retry-After it is at least that long. */
long gw_retry_delay_ms(const gw_retry_policy *p, int retry, long long retry_after_ms,
                       long long left_ms, uint64_t rnd);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* unavailable.c - the list of unavailable.h (see unavailable_int.h). */
#include "unavailable_int.h"

#include "unavailable.h"

static const char *const causes[] = {
    GW_503_REDIS,          GW_503_KUBE,          GW_503_KUBE_BREAKER,  GW_503_NAMESPACE_CAP,
    GW_503_SENDER_BUDGET,  GW_503_GATEWAY_BUDGET, GW_503_PENDING,      GW_503_IN_FLIGHT,
    GW_503_REVIEW_DOWN,    GW_503_REVIEW_RATE,   GW_503_LOOKUP_REDIS,  GW_503_READY_REDIS,
    GW_503_READY_KUBE,     GW_503_READY_REFUSED, GW_503_READY_BREAKER, GW_503_SHUTTING_DOWN,
    GW_503_WORKER_FAILED,  GW_503_OVERLOADED,
};

const char *const *gw_unavailable_causes(size_t *n)
{
    *n = sizeof causes / sizeof causes[0];
    return causes;
}

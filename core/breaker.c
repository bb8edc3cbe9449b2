/* SPDX-License-Identifier: Apache-2.0 */
/* breaker.c - see breaker.h.
 *
 * Every transition is one compare-and-swap on `word`, made by whichever
 * process gets there first; the losers re-read and act on what they find.
 * The failure count is a separate counter: it only matters while closed,
 * and a stale increment after a transition is harmless (the next success
 * resets it; a transition to open needs the word to still say closed). */
#include "breaker.h"

#include <stddef.h>

#define STATE_BITS 2u
#define STATE_MASK 3ull

static uint64_t pack(gw_breaker_state s, long long deadline_ms)
{
    if (deadline_ms < 0)
        deadline_ms = 0;
    return ((uint64_t)deadline_ms << STATE_BITS) | (uint64_t)s;
}

static gw_breaker_state state_of(uint64_t w)
{
    return (gw_breaker_state)(w & STATE_MASK);
}

static long long deadline_of(uint64_t w)
{
    return (long long)(w >> STATE_BITS);
}

void gw_breaker_init(gw_breaker *b)
{
    atomic_store(&b->word, pack(GW_BREAKER_CLOSED, 0));
    atomic_store(&b->failures, 0);
    b->reserved = 0;
}

const char *gw_breaker_state_name(gw_breaker_state s)
{
    switch (s) {
    case GW_BREAKER_CLOSED: return "closed";
    case GW_BREAKER_OPEN: return "open";
    case GW_BREAKER_HALF_OPEN: return "half-open";
    }
    return "unknown";
}

gw_breaker_state gw_breaker_get(const gw_breaker *b, long long *deadline_ms)
{
    uint64_t w = atomic_load_explicit(&((gw_breaker *)b)->word, memory_order_acquire);
    if (deadline_ms)
        *deadline_ms = deadline_of(w);
    gw_breaker_state s = state_of(w);
    return s <= GW_BREAKER_HALF_OPEN ? s : GW_BREAKER_CLOSED;
}

/* A deadline more than `span` ahead cannot have been set by this boot's
 * clock with this policy: treat it as passed (see breaker.h). */
static bool passed(long long deadline, long long now, long span)
{
    return now >= deadline || deadline - now > (long long)span;
}

gw_breaker_verdict gw_breaker_admit(gw_breaker *b, const gw_breaker_policy *p, long long now_ms,
                                    long long *retry_in_ms, gw_breaker_transition *transition)
{
    if (transition)
        *transition = GW_BREAKER_NO_CHANGE;
    uint64_t w = atomic_load_explicit(&b->word, memory_order_acquire);
    for (;;) {
        gw_breaker_state s = state_of(w);
        long long deadline = deadline_of(w);
        if (s == GW_BREAKER_CLOSED || s > GW_BREAKER_HALF_OPEN)
            return GW_BREAKER_ALLOW;
        long span = s == GW_BREAKER_OPEN ? p->open_ms : p->probe_ms;
        if (!passed(deadline, now_ms, span)) {
            if (retry_in_ms) {
                long long in = deadline - now_ms;
                *retry_in_ms = in < 1 ? 1 : in;
            }
            return GW_BREAKER_REJECT;
        }
        /* open long enough, or the probe was given up: take the probe */
        uint64_t next = pack(GW_BREAKER_HALF_OPEN, now_ms + p->probe_ms);
        if (atomic_compare_exchange_weak_explicit(&b->word, &w, next, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            if (transition)
                *transition = GW_BREAKER_PROBING;
            return GW_BREAKER_PROBE;
        }
        /* w was reloaded by the failed CAS: decide again */
    }
}

gw_breaker_transition gw_breaker_report(gw_breaker *b, const gw_breaker_policy *p,
                                        long long now_ms, bool probe, bool failed)
{
    uint64_t w = atomic_load_explicit(&b->word, memory_order_acquire);
    if (!failed) {
        atomic_store_explicit(&b->failures, 0, memory_order_relaxed);
        /* Only the probe closes: a call admitted before the breaker opened
         * that happens to succeed late proves little, and letting it close
         * the breaker would make it flap. */
        if (probe && state_of(w) == GW_BREAKER_HALF_OPEN &&
            atomic_compare_exchange_strong_explicit(&b->word, &w, pack(GW_BREAKER_CLOSED, 0),
                                                    memory_order_acq_rel, memory_order_acquire))
            return GW_BREAKER_RECLOSED;
        return GW_BREAKER_NO_CHANGE;
    }
    if (probe) {
        if (state_of(w) == GW_BREAKER_HALF_OPEN &&
            atomic_compare_exchange_strong_explicit(&b->word, &w,
                                                    pack(GW_BREAKER_OPEN, now_ms + p->open_ms),
                                                    memory_order_acq_rel, memory_order_acquire))
            return GW_BREAKER_REOPENED;
        return GW_BREAKER_NO_CHANGE;
    }
    if (p->failures <= 0)
        return GW_BREAKER_NO_CHANGE;
    uint32_t n = atomic_fetch_add_explicit(&b->failures, 1, memory_order_relaxed) + 1;
    if ((long)n < p->failures || state_of(w) != GW_BREAKER_CLOSED)
        return GW_BREAKER_NO_CHANGE;
    if (atomic_compare_exchange_strong_explicit(&b->word, &w,
                                                pack(GW_BREAKER_OPEN, now_ms + p->open_ms),
                                                memory_order_acq_rel, memory_order_acquire)) {
        atomic_store_explicit(&b->failures, 0, memory_order_relaxed);
        return GW_BREAKER_OPENED;
    }
    return GW_BREAKER_NO_CHANGE;
}

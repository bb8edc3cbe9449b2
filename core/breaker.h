/* SPDX-License-Identifier: Apache-2.0 */
/* breaker.h - a circuit breaker shared by every worker of a pool.
 *
 * Workers are separate processes, so the breaker's state is a small struct
 * of atomics that lives in shared memory (the metrics file, metrics.h) and
 * is changed only by compare-and-swap; no locks, no syscalls.  The
 * functions here are pure apart from those atomics: the caller passes the
 * time, so the unit tests drive the state machine with a fake clock.  The
 * time must come from one clock for all processes: CLOCK_MONOTONIC
 * milliseconds (system-wide on Linux).
 *
 *   closed ──N consecutive failures──► open ──open_ms passed──► half-open
 *     ▲                                 ▲                          │
 *     └────────── probe succeeded ──────┼──── probe failed ────────┘
 *
 * closed: every call is admitted; a failed call (transport error, 5xx, 429)
 * adds one to the consecutive-failure count, any other answer resets it.
 * open: every call is refused at once (the caller answers 503 with the
 * remaining time as Retry-After) until open_ms have passed.  Then exactly
 * one caller wins the CAS to half-open and makes the probe; everybody else
 * is still refused.  The probe's outcome closes or re-opens the breaker.
 * A probe that never reports (its worker was killed) is given up after
 * probe_ms and the next caller probes instead.
 *
 * State and deadline share one 64-bit word so a transition changes both in
 * one CAS: no caller can see "half-open" with the deadline of "open".
 * Deadlines further ahead than the policy allows are treated as expired:
 * the file may outlive a reboot, after which CLOCK_MONOTONIC restarts near
 * zero and an old deadline would otherwise hold the breaker open for days. */
#ifndef GW_BREAKER_H
#define GW_BREAKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    GW_BREAKER_CLOSED = 0,
    GW_BREAKER_OPEN = 1,
    GW_BREAKER_HALF_OPEN = 2,
} gw_breaker_state;

/* The shared part.  All zero is a valid closed breaker. */
typedef struct {
    _Atomic uint64_t word;      /* state | deadline_ms << 2 */
    _Atomic uint32_t failures;  /* consecutive failed calls while closed */
    uint32_t         reserved;
} gw_breaker;

typedef struct {
    long failures;   /* consecutive failures that open it; <= 0: never opens */
    long open_ms;    /* how long it stays open before a probe */
    long probe_ms;   /* how long a probe may take before another caller probes */
} gw_breaker_policy;

typedef enum {
    GW_BREAKER_ALLOW,   /* make the call, then report its outcome */
    GW_BREAKER_PROBE,   /* make the call as the half-open probe, then report */
    GW_BREAKER_REJECT,  /* do not call; *retry_in_ms says when to try again */
} gw_breaker_verdict;

/* What a call changed, for the one log line per transition (only the
 * process whose CAS won sees a transition). */
typedef enum {
    GW_BREAKER_NO_CHANGE,
    GW_BREAKER_OPENED,     /* closed -> open */
    GW_BREAKER_PROBING,    /* open -> half-open (from gw_breaker_admit) */
    GW_BREAKER_RECLOSED,   /* half-open -> closed */
    GW_BREAKER_REOPENED,   /* half-open -> open */
} gw_breaker_transition;

void gw_breaker_init(gw_breaker *b);

/* May a call be made at now_ms?  *retry_in_ms (may be NULL) is set on
 * REJECT (at least 1); *transition (may be NULL) to PROBING when this
 * caller took the probe. */
gw_breaker_verdict gw_breaker_admit(gw_breaker *b, const gw_breaker_policy *p, long long now_ms,
                                    long long *retry_in_ms, gw_breaker_transition *transition);

/* Reports the outcome of an admitted call.  probe: it was admitted as
 * GW_BREAKER_PROBE.  failed: a transport error, 5xx or 429 (any other HTTP
 * answer proves the apiserver works and is a success). */
gw_breaker_transition gw_breaker_report(gw_breaker *b, const gw_breaker_policy *p,
                                        long long now_ms, bool probe, bool failed);

/* The current state; *deadline_ms (may be NULL) is when an open breaker
 * lets a probe through or a half-open probe is given up. */
gw_breaker_state gw_breaker_get(const gw_breaker *b, long long *deadline_ms);

/* "closed", "open", "half-open". */
const char *gw_breaker_state_name(gw_breaker_state s);

#endif

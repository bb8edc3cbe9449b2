/* SPDX-License-Identifier: Apache-2.0 */
/* test_breaker.c - unit tests for core/breaker.c (the circuit breaker state
 * machine) and core/retry.c (when and how long to wait before a repeat).
 *
 * Both are pure functions of their arguments and the breaker's atomics, so
 * the clock here is a plain number the tests move by hand.  Two workers
 * sharing one breaker are two mappings of one metrics file, as in the
 * worker pool. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "breaker.h"
#include "metrics.h"
#include "retry.h"
#include "testutil.h"

static const gw_breaker_policy P = { .failures = 3, .open_ms = 10000, .probe_ms = 6000 };

static gw_breaker_verdict admit(gw_breaker *b, long long now, long long *in,
                                gw_breaker_transition *t)
{
    return gw_breaker_admit(b, &P, now, in, t);
}

/* -------------------------------------------------------------- breaker */

static void closed_counts_consecutive_failures(void **state)
{
    (void)state;
    gw_breaker b;
    gw_breaker_init(&b);
    long long now = 1000000;
    assert_int_equal(gw_breaker_get(&b, NULL), GW_BREAKER_CLOSED);
    assert_int_equal(admit(&b, now, NULL, NULL), GW_BREAKER_ALLOW);
    /* two failures, a success resets, two more: still closed */
    assert_int_equal(gw_breaker_report(&b, &P, now, false, true), GW_BREAKER_NO_CHANGE);
    assert_int_equal(gw_breaker_report(&b, &P, now, false, true), GW_BREAKER_NO_CHANGE);
    assert_int_equal(gw_breaker_report(&b, &P, now, false, false), GW_BREAKER_NO_CHANGE);
    assert_int_equal(gw_breaker_report(&b, &P, now, false, true), GW_BREAKER_NO_CHANGE);
    assert_int_equal(gw_breaker_report(&b, &P, now, false, true), GW_BREAKER_NO_CHANGE);
    assert_int_equal(gw_breaker_get(&b, NULL), GW_BREAKER_CLOSED);
    /* the third in a row opens it, until now + open_ms */
    assert_int_equal(gw_breaker_report(&b, &P, now, false, true), GW_BREAKER_OPENED);
    long long deadline;
    assert_int_equal(gw_breaker_get(&b, &deadline), GW_BREAKER_OPEN);
    assert_int_equal(deadline, now + 10000);
    /* late failures of calls admitted before do not re-open or extend it */
    assert_int_equal(gw_breaker_report(&b, &P, now + 5, false, true), GW_BREAKER_NO_CHANGE);
    assert_int_equal(gw_breaker_get(&b, &deadline), GW_BREAKER_OPEN);
    assert_int_equal(deadline, now + 10000);
}

static void open_rejects_then_one_probe(void **state)
{
    (void)state;
    gw_breaker b;
    gw_breaker_init(&b);
    long long now = 5000, in = 0;
    for (int i = 0; i < 3; i++)
        gw_breaker_report(&b, &P, now, false, true);
    gw_breaker_transition t;
    /* open: refused, with the time to the probe */
    assert_int_equal(admit(&b, now + 1, &in, &t), GW_BREAKER_REJECT);
    assert_int_equal(in, 9999);
    assert_int_equal(t, GW_BREAKER_NO_CHANGE);
    assert_int_equal(admit(&b, now + 9999, &in, NULL), GW_BREAKER_REJECT);
    assert_int_equal(in, 1);
    /* a late success of a non-probe call does not close it */
    assert_int_equal(gw_breaker_report(&b, &P, now + 100, false, false), GW_BREAKER_NO_CHANGE);
    assert_int_equal(gw_breaker_get(&b, NULL), GW_BREAKER_OPEN);
    /* after open_ms the first caller probes, everybody else is refused */
    assert_int_equal(admit(&b, now + 10000, &in, &t), GW_BREAKER_PROBE);
    assert_int_equal(t, GW_BREAKER_PROBING);
    long long deadline;
    assert_int_equal(gw_breaker_get(&b, &deadline), GW_BREAKER_HALF_OPEN);
    assert_int_equal(deadline, now + 10000 + 6000);
    assert_int_equal(admit(&b, now + 10001, &in, &t), GW_BREAKER_REJECT);
    assert_int_equal(t, GW_BREAKER_NO_CHANGE);
    assert_int_equal(in, 5999);
    /* the probe succeeds: closed, and the count starts from zero */
    assert_int_equal(gw_breaker_report(&b, &P, now + 10200, true, false), GW_BREAKER_RECLOSED);
    assert_int_equal(gw_breaker_get(&b, NULL), GW_BREAKER_CLOSED);
    assert_int_equal(admit(&b, now + 10201, NULL, NULL), GW_BREAKER_ALLOW);
    gw_breaker_report(&b, &P, now + 10300, false, true);
    gw_breaker_report(&b, &P, now + 10300, false, true);
    assert_int_equal(gw_breaker_get(&b, NULL), GW_BREAKER_CLOSED);
}

static void failed_probe_reopens(void **state)
{
    (void)state;
    gw_breaker b;
    gw_breaker_init(&b);
    long long now = 70000;
    for (int i = 0; i < 3; i++)
        gw_breaker_report(&b, &P, now, false, true);
    assert_int_equal(admit(&b, now + 10000, NULL, NULL), GW_BREAKER_PROBE);
    assert_int_equal(gw_breaker_report(&b, &P, now + 12000, true, true), GW_BREAKER_REOPENED);
    long long deadline, in;
    assert_int_equal(gw_breaker_get(&b, &deadline), GW_BREAKER_OPEN);
    assert_int_equal(deadline, now + 22000);
    assert_int_equal(admit(&b, now + 12001, &in, NULL), GW_BREAKER_REJECT);
    assert_int_equal(in, 9999);
    /* a second report of the same probe changes nothing */
    assert_int_equal(gw_breaker_report(&b, &P, now + 12002, true, true), GW_BREAKER_NO_CHANGE);
    assert_int_equal(gw_breaker_get(&b, &deadline), GW_BREAKER_OPEN);
    assert_int_equal(deadline, now + 22000);
}

static void lost_probe_is_taken_over(void **state)
{
    (void)state;
    gw_breaker b;
    gw_breaker_init(&b);
    long long now = 100;
    for (int i = 0; i < 3; i++)
        gw_breaker_report(&b, &P, now, false, true);
    assert_int_equal(admit(&b, now + 10000, NULL, NULL), GW_BREAKER_PROBE);
    /* the prober was killed and never reports: after probe_ms another
     * caller probes */
    assert_int_equal(admit(&b, now + 15999, NULL, NULL), GW_BREAKER_REJECT);
    gw_breaker_transition t;
    assert_int_equal(admit(&b, now + 16000, NULL, &t), GW_BREAKER_PROBE);
    assert_int_equal(t, GW_BREAKER_PROBING);
    assert_int_equal(gw_breaker_report(&b, &P, now + 16100, true, false), GW_BREAKER_RECLOSED);
}

static void deadline_from_another_boot_is_ignored(void **state)
{
    (void)state;
    gw_breaker b;
    gw_breaker_init(&b);
    /* opened at monotonic 11 days; the file outlived a reboot and now the
     * clock says 60 s: the deadline cannot be ours, the next call probes */
    long long then = 11LL * 86400 * 1000;
    for (int i = 0; i < 3; i++)
        gw_breaker_report(&b, &P, then, false, true);
    assert_int_equal(gw_breaker_get(&b, NULL), GW_BREAKER_OPEN);
    assert_int_equal(admit(&b, 60000, NULL, NULL), GW_BREAKER_PROBE);
    /* the same for a half-open probe deadline */
    assert_int_equal(gw_breaker_report(&b, &P, 60001, true, true), GW_BREAKER_REOPENED);
    assert_int_equal(admit(&b, 70001, NULL, NULL), GW_BREAKER_PROBE);
    assert_int_equal(admit(&b, 1000, NULL, NULL), GW_BREAKER_PROBE); /* clock went back */
}

static void disabled_never_opens(void **state)
{
    (void)state;
    gw_breaker_policy off = { .failures = 0, .open_ms = 10000, .probe_ms = 6000 };
    gw_breaker b;
    gw_breaker_init(&b);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(gw_breaker_admit(&b, &off, i, NULL, NULL), GW_BREAKER_ALLOW);
        assert_int_equal(gw_breaker_report(&b, &off, i, false, true), GW_BREAKER_NO_CHANGE);
    }
    assert_int_equal(gw_breaker_get(&b, NULL), GW_BREAKER_CLOSED);
}

/* Two workers = two mappings of one metrics file: one opens the breaker,
 * the other is refused; only one of them gets the probe; the gauge is in
 * the exposition. */
static void shared_between_workers(void **state)
{
    (void)state;
    char path[128], err[256];
    snprintf(path, sizeof path, "/tmp/alertgw-breaker-test.%ld", (long)getpid());
    unlink(path);
    gw_metrics *ma, *mb;
    assert_int_equal(gw_metrics_open(path, &ma, err, sizeof err), GW_OK);
    assert_int_equal(gw_metrics_open(path, &mb, err, sizeof err), GW_OK);
    gw_breaker *a = gw_metrics_breaker(ma), *b = gw_metrics_breaker(mb);
    assert_ptr_not_equal(a, b);
    long long now = 1000;
    gw_breaker_report(a, &P, now, false, true);
    gw_breaker_report(b, &P, now, false, true);
    assert_int_equal(gw_breaker_report(a, &P, now, false, true), GW_BREAKER_OPENED);
    assert_int_equal(gw_breaker_admit(b, &P, now + 1, NULL, NULL), GW_BREAKER_REJECT);

    gw_buf out;
    gw_buf_init(&out, 1 << 20);
    assert_int_equal(gw_metrics_write(mb, "t", &out), GW_OK);
    assert_contains(out.data, "# TYPE gateway_circuit_breaker_state gauge\n");
    assert_contains(out.data, "\ngateway_circuit_breaker_state 1\n");

    assert_int_equal(gw_breaker_admit(b, &P, now + 10000, NULL, NULL), GW_BREAKER_PROBE);
    assert_int_equal(gw_breaker_admit(a, &P, now + 10000, NULL, NULL), GW_BREAKER_REJECT);
    gw_buf_reset(&out);
    assert_int_equal(gw_metrics_write(ma, "t", &out), GW_OK);
    assert_contains(out.data, "\ngateway_circuit_breaker_state 2\n");
    assert_int_equal(gw_breaker_report(b, &P, now + 10001, true, false), GW_BREAKER_RECLOSED);
    assert_int_equal(gw_breaker_admit(a, &P, now + 10002, NULL, NULL), GW_BREAKER_ALLOW);
    gw_buf_reset(&out);
    assert_int_equal(gw_metrics_write(ma, "t", &out), GW_OK);
    assert_contains(out.data, "\ngateway_circuit_breaker_state 0\n");
    gw_buf_free(&out);
    gw_metrics_close(ma);
    gw_metrics_close(mb);
    unlink(path);
}

/* ---------------------------------------------------------------- retry */

static const gw_retry_policy R = { .retries = 3, .base_ms = 100, .max_delay_ms = 1000 };

static void retry_classification(void **state)
{
    (void)state;
    assert_true(gw_retry_failed(GW_EKUBE, 0));
    assert_true(gw_retry_failed(GW_OK, 429));
    assert_true(gw_retry_failed(GW_OK, 500));
    assert_true(gw_retry_failed(GW_OK, 503));
    assert_true(gw_retry_failed(GW_OK, 504));
    assert_false(gw_retry_failed(GW_OK, 200));
    assert_false(gw_retry_failed(GW_OK, 201));
    assert_false(gw_retry_failed(GW_OK, 401));
    assert_false(gw_retry_failed(GW_OK, 403));
    assert_false(gw_retry_failed(GW_OK, 404));
    assert_false(gw_retry_failed(GW_OK, 409));
    assert_false(gw_retry_failed(GW_OK, 422));
    assert_false(gw_retry_failed(GW_ETOOBIG, 0));
    assert_false(gw_retry_failed(GW_ENOMEM, 0));
}

static void full_jitter_doubles_up_to_the_cap(void **state)
{
    (void)state;
    /* the random number picks a point in [0, ceiling]; ceiling doubles */
    assert_int_equal(gw_retry_delay_ms(&R, 0, 0, 5000, 0), 0);
    assert_int_equal(gw_retry_delay_ms(&R, 0, 0, 5000, 100), 100);
    assert_int_equal(gw_retry_delay_ms(&R, 0, 0, 5000, 101), 0);     /* 101 % 101 */
    assert_int_equal(gw_retry_delay_ms(&R, 0, 0, 5000, UINT64_MAX), (long)(UINT64_MAX % 101));
    assert_int_equal(gw_retry_delay_ms(&R, 1, 0, 5000, 200), 200);
    assert_int_equal(gw_retry_delay_ms(&R, 1, 0, 5000, 201), 0);
    assert_int_equal(gw_retry_delay_ms(&R, 2, 0, 5000, 400), 400);
    /* every draw stays within [0, ceiling] */
    for (uint64_t rnd = 0; rnd < 5000; rnd += 7) {
        long d0 = gw_retry_delay_ms(&R, 0, 0, 5000, rnd * 2654435761u);
        long d2 = gw_retry_delay_ms(&R, 2, 0, 5000, rnd * 2654435761u);
        assert_true(d0 >= 0 && d0 <= 100);
        assert_true(d2 >= 0 && d2 <= 400);
    }
    /* capped by max_delay */
    gw_retry_policy many = { .retries = 10, .base_ms = 100, .max_delay_ms = 1000 };
    assert_int_equal(gw_retry_delay_ms(&many, 9, 0, 50000, 1000), 1000);
    assert_int_equal(gw_retry_delay_ms(&many, 9, 0, 50000, 1001), 0);
}

static void repeats_are_bounded(void **state)
{
    (void)state;
    assert_true(gw_retry_delay_ms(&R, 2, 0, 5000, 1) >= 0);
    assert_int_equal(gw_retry_delay_ms(&R, 3, 0, 5000, 1), -1);
    assert_int_equal(gw_retry_delay_ms(&R, -1, 0, 5000, 1), -1);
    gw_retry_policy none = { .retries = 0, .base_ms = 100, .max_delay_ms = 1000 };
    assert_int_equal(gw_retry_delay_ms(&none, 0, 0, 5000, 1), -1);
}

static void retry_after_is_honoured_up_to_the_cap(void **state)
{
    (void)state;
    /* at least what the server asked for */
    assert_int_equal(gw_retry_delay_ms(&R, 0, 800, 5000, 0), 800);
    assert_int_equal(gw_retry_delay_ms(&R, 0, 1000, 5000, 50), 1000);
    /* the jitter may be longer than a short Retry-After */
    assert_int_equal(gw_retry_delay_ms(&R, 2, 10, 5000, 300), 300);
    /* more than the cap: do not repeat (never earlier than asked) */
    assert_int_equal(gw_retry_delay_ms(&R, 0, 1001, 5000, 0), -1);
    assert_int_equal(gw_retry_delay_ms(&R, 0, 60000, 500000, 0), -1);
}

static void the_budget_is_kept(void **state)
{
    (void)state;
    /* a wait must leave GW_RETRY_MIN_ATTEMPT_MS for the attempt */
    assert_int_equal(gw_retry_delay_ms(&R, 0, 0, GW_RETRY_MIN_ATTEMPT_MS, 0), 0);
    assert_int_equal(gw_retry_delay_ms(&R, 0, 0, GW_RETRY_MIN_ATTEMPT_MS - 1, 0), -1);
    assert_int_equal(gw_retry_delay_ms(&R, 0, 0, GW_RETRY_MIN_ATTEMPT_MS + 50, 50), 50);
    assert_int_equal(gw_retry_delay_ms(&R, 0, 0, GW_RETRY_MIN_ATTEMPT_MS + 50, 51), -1);
    assert_int_equal(gw_retry_delay_ms(&R, 0, 900, 950, 0), -1);
    assert_int_equal(gw_retry_delay_ms(&R, 0, 0, -5, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(closed_counts_consecutive_failures),
        cmocka_unit_test(open_rejects_then_one_probe),
        cmocka_unit_test(failed_probe_reopens),
        cmocka_unit_test(lost_probe_is_taken_over),
        cmocka_unit_test(deadline_from_another_boot_is_ignored),
        cmocka_unit_test(disabled_never_opens),
        cmocka_unit_test(shared_between_workers),
        cmocka_unit_test(retry_classification),
        cmocka_unit_test(full_jitter_doubles_up_to_the_cap),
        cmocka_unit_test(repeats_are_bounded),
        cmocka_unit_test(retry_after_is_honoured_up_to_the_cap),
        cmocka_unit_test(the_budget_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

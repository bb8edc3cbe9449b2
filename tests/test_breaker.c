/* SPDX-License-Identifier: Apache-2.0 */
/* test_breaker.c - unit tests for core/breaker.c (the circuit breaker state
 * machine).
 *
 * A pure function of its arguments and the breaker's atomics, so the clock
 * here is a plain number the tests move by hand.  Two workers sharing one
 * breaker are two mappings of one metrics file, as in the worker pool. */
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* test_retry.c - unit tests for core/retry.c: which failures are repeated,
 * the full-jitter delays up to their cap, Retry-After, and the budget.
 * Pure functions of their arguments: the clock is a plain number. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "retry.h"

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
        cmocka_unit_test(retry_classification),
        cmocka_unit_test(full_jitter_doubles_up_to_the_cap),
        cmocka_unit_test(repeats_are_bounded),
        cmocka_unit_test(retry_after_is_honoured_up_to_the_cap),
        cmocka_unit_test(the_budget_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* test_clock.c - unit tests for core/clock.c: RFC 3339 parsing (offsets,
 * fractions, the calendar's edges, everything else refused) and
 * formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "clock.h"

static void rfc3339_parse_valid(void **state)
{
    (void)state;
    long long ms = -1;
    assert_true(gw_parse_rfc3339("1970-01-01T00:00:00Z", &ms));
    assert_int_equal(ms, 0);
    assert_true(gw_parse_rfc3339("2026-11-23T10:41:30Z", &ms));
    assert_int_equal(ms, 1795430490000LL);
    assert_true(gw_parse_rfc3339("2026-11-23T10:41:30.123Z", &ms));
    assert_int_equal(ms, 1795430490123LL);
    /* offsets */
    assert_true(gw_parse_rfc3339("2026-11-23T11:41:30.123+01:00", &ms));
    assert_int_equal(ms, 1795430490123LL);
    assert_true(gw_parse_rfc3339("2026-11-23T05:11:30.123-05:30", &ms));
    assert_int_equal(ms, 1795430490123LL);
    assert_true(gw_parse_rfc3339("2026-11-23T10:41:30.123+00:00", &ms));
    assert_int_equal(ms, 1795430490123LL);
    /* fractions: shorter are scaled, longer truncated to ms */
    assert_true(gw_parse_rfc3339("2026-11-23T10:41:30.5Z", &ms));
    assert_int_equal(ms, 1795430490500LL);
    assert_true(gw_parse_rfc3339("2026-11-23T10:41:30.05Z", &ms));
    assert_int_equal(ms, 1795430490050LL);
    assert_true(gw_parse_rfc3339("2026-11-23T10:41:30.123456789Z", &ms));
    assert_int_equal(ms, 1795430490123LL);
    /* lower-case t and z are allowed by RFC 3339 */
    assert_true(gw_parse_rfc3339("2026-11-23t10:41:30z", &ms));
    assert_int_equal(ms, 1795430490000LL);
    /* leap day, end of range */
    assert_true(gw_parse_rfc3339("2024-02-29T12:00:00Z", &ms));
    assert_int_equal(ms, 1709208000000LL);
    assert_true(gw_parse_rfc3339("2000-02-29T23:59:59.999Z", &ms));
    assert_int_equal(ms, 951868799999LL);
    assert_true(gw_parse_rfc3339("9999-12-31T23:59:59Z", &ms));
    assert_int_equal(ms, 253402300799000LL);
}

static void rfc3339_parse_invalid(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "2026-11-23",
        "2026-11-23T10:41:30",        /* no zone */
        "2026-11-23T10:41Z",
        "2026-11-23X10:41:30Z",
        "2026/11/23T10:41:30Z",
        "2026-11-23T10:41:30+0100",   /* offset needs a colon */
        "2026-11-23T10:41:30+01",
        "2026-11-23T10:41:30+24:00",
        "2026-11-23T10:41:30.Z",      /* fraction without digits */
        "2026-11-23T10:41:30.1234567890Z",
        "2026-11-23T10:41:30Zjunk",
        "2026-11-23T10:41:30Z ",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-31T00:00:00Z",       /* November has 30 days */
        "2026-02-29T00:00:00Z",       /* not a leap year */
        "1900-02-29T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T10:60:00Z",
        "2026-11-23T10:41:61Z",
        "1969-12-31T23:59:59Z",       /* before 1970 */
        "0001-01-01T00:00:00Z",       /* Alertmanager's zero endsAt */
        "+2026-11-23T10:41:30Z",
        "2026-1a-23T10:41:30Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long long ms = 42;
        if (gw_parse_rfc3339(bad[i], &ms))
            fail_msg("accepted \"%s\" as %lld", bad[i], ms);
    }
}

static void rfc3339_format(void **state)
{
    (void)state;
    char out[32];
    gw_rfc3339(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    gw_rfc3339(1795430490123LL, out);
    assert_string_equal(out, "2026-11-23T10:41:30.123Z");
    gw_rfc3339(951868799999LL, out);
    assert_string_equal(out, "2000-02-29T23:59:59.999Z");
    gw_rfc3339(1795430490007LL, out);
    assert_string_equal(out, "2026-11-23T10:41:30.007Z");

    /* format then parse is the identity */
    long long now = gw_now_ms(), back = 0;
    assert_true(now > 1700000000000LL);
    gw_rfc3339(now, out);
    assert_true(gw_parse_rfc3339(out, &back));
    assert_int_equal(back, now);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc3339_parse_valid),
        cmocka_unit_test(rfc3339_parse_invalid),
        cmocka_unit_test(rfc3339_format),
    };
    return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}

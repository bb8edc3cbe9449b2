/* SPDX-License-Identifier: Apache-2.0 */
/* test_text.c - unit tests for core/text.c: label values, UTF-8 cutting
 * and cleaning, hex, JSON string literals and key=value lists. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "text.h"

/* ------------------------------------------------------- gw_label_value */

static void label_value_passes_valid(void **state)
{
    (void)state;
    char out[64];
    assert_true(gw_label_value("critical", out));
    assert_string_equal(out, "critical");
    assert_true(gw_label_value("P0", out));
    assert_string_equal(out, "P0");
    assert_true(gw_label_value("a.b-c_d", out));
    assert_string_equal(out, "a.b-c_d");
    assert_true(gw_label_value("x", out));
    assert_string_equal(out, "x");
}

static void is_label_value_agrees_with_sanitising(void **state)
{
    (void)state;
    static const char *const cases[] = { "production", "P0", "a.b-c_d", "x", "-lead", "trail.",
                                         "has space", "Sev 1!", "", "\xc3\xa9t\xc3\xa9" };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* valid exactly when sanitising would change nothing */
        bool same = gw_label_value(cases[i], out) && !strcmp(out, cases[i]);
        assert_int_equal(gw_is_label_value(cases[i], strlen(cases[i])), same);
    }
    char long_value[65];
    memset(long_value, 'a', 64);
    long_value[64] = '\0';
    assert_false(gw_is_label_value(long_value, 64));
    assert_true(gw_is_label_value(long_value, 63));
}

static void label_value_replaces_invalid(void **state)
{
    (void)state;
    char out[64];
    assert_true(gw_label_value("Sev 1!", out));
    assert_string_equal(out, "Sev_1");
    assert_true(gw_label_value("a/b:c d", out));
    assert_string_equal(out, "a_b_c_d");
    /* each byte of a multibyte character becomes one '_' */
    assert_true(gw_label_value("caf\xc3\xa9-bar", out));
    assert_string_equal(out, "caf__-bar");
    assert_true(gw_label_value("a\nb", out));
    assert_string_equal(out, "a_b");
}

static void label_value_trims_ends(void **state)
{
    (void)state;
    char out[64];
    assert_true(gw_label_value("  prod  ", out));
    assert_string_equal(out, "prod");
    assert_true(gw_label_value("-_.abc.-_", out));
    assert_string_equal(out, "abc");
    assert_true(gw_label_value("\xc3\xa9t\xc3\xa9", out));
    assert_string_equal(out, "t");
}

static void label_value_caps_at_63(void **state)
{
    (void)state;
    char in[200], out[64];
    memset(in, 'a', 100);
    in[100] = '\0';
    memset(out, 'Z', sizeof out);
    assert_true(gw_label_value(in, out));
    assert_int_equal(strlen(out), 63);
    assert_int_equal(strspn(out, "a"), 63);

    /* the 63rd byte is a '-': cut, then trimmed to end alphanumeric */
    memset(in, 'a', 62);
    in[62] = '-';
    memset(in + 63, 'b', 10);
    in[73] = '\0';
    assert_true(gw_label_value(in, out));
    assert_int_equal(strlen(out), 62);
    assert_int_equal(out[61], 'a');

    memset(in, 'a', 63);
    in[63] = '\0';
    assert_true(gw_label_value(in, out));
    assert_int_equal(strlen(out), 63);
}

static void label_value_nothing_left(void **state)
{
    (void)state;
    char out[64];
    memset(out, 'Z', sizeof out);
    assert_false(gw_label_value("", out));
    assert_string_equal(out, "");
    assert_false(gw_label_value("!!!", out));
    assert_string_equal(out, "");
    assert_false(gw_label_value("-._", out));
    assert_false(gw_label_value("\xe2\x82\xac", out));
    assert_string_equal(out, "");
}

/* ---------------------------------------------------------- gw_utf8_cut */

static void utf8_cut_ascii(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(gw_utf8_cut("hello", 5, 10, out), 5);
    assert_string_equal(out, "hello");
    assert_int_equal(gw_utf8_cut("hello", 5, 5, out), 5);
    assert_string_equal(out, "hello");
    assert_int_equal(gw_utf8_cut("hello", 5, 3, out), 3);
    assert_string_equal(out, "hel");
    assert_int_equal(gw_utf8_cut("hello", 5, 0, out), 0);
    assert_string_equal(out, "");
    /* len, not the NUL, bounds the input */
    assert_int_equal(gw_utf8_cut("hello world", 5, 8, out), 5);
    assert_string_equal(out, "hello");
}

static void utf8_cut_never_splits(void **state)
{
    (void)state;
    char out[32];
    const char *s = "h\xc3\xa9llo"; /* h é l l o: 6 bytes */
    assert_int_equal(gw_utf8_cut(s, 6, 1, out), 1);
    assert_string_equal(out, "h");
    assert_int_equal(gw_utf8_cut(s, 6, 2, out), 1);
    assert_string_equal(out, "h");
    assert_int_equal(gw_utf8_cut(s, 6, 3, out), 3);
    assert_string_equal(out, "h\xc3\xa9");

    const char *euro = "\xe2\x82\xac\xe2\x82\xac"; /* €€ */
    assert_int_equal(gw_utf8_cut(euro, 6, 1, out), 0);
    assert_int_equal(gw_utf8_cut(euro, 6, 2, out), 0);
    assert_int_equal(gw_utf8_cut(euro, 6, 3, out), 3);
    assert_int_equal(gw_utf8_cut(euro, 6, 4, out), 3);
    assert_int_equal(gw_utf8_cut(euro, 6, 5, out), 3);
    assert_string_equal(out, "\xe2\x82\xac");
    assert_int_equal(gw_utf8_cut(euro, 6, 6, out), 6);

    const char *emoji = "a\xf0\x9f\x98\x80" "b"; /* a 😀 b: 6 bytes */
    for (size_t max = 1; max <= 4; max++) {
        assert_int_equal(gw_utf8_cut(emoji, 6, max, out), 1);
        assert_string_equal(out, "a");
    }
    assert_int_equal(gw_utf8_cut(emoji, 6, 5, out), 5);
    assert_memory_equal(out, "a\xf0\x9f\x98\x80", 6);
}

/* -------------------------------------------------------- gw_text_clean */

static void text_clean_keeps_valid(void **state)
{
    (void)state;
    char out[64];
    const char *s = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 ok";
    assert_int_equal(gw_text_clean(s, strlen(s), out, sizeof out), strlen(s));
    assert_string_equal(out, s);
    /* edge code points: U+007E, U+0080, U+D7FF, U+E000, U+FFFF, U+10FFFF */
    const char *edges = "~\xc2\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf";
    assert_int_equal(gw_text_clean(edges, strlen(edges), out, sizeof out), strlen(edges));
    assert_string_equal(out, edges);
}

static void text_clean_control_chars(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(gw_text_clean("a\nb\tc\rd\x1b[0m\x7f", 12, out, sizeof out), 12);
    assert_string_equal(out, "a?b?c?d?[0m?");
    /* an embedded NUL is a control character too */
    assert_int_equal(gw_text_clean("a\0b", 3, out, sizeof out), 3);
    assert_string_equal(out, "a?b");
}

static void check_clean(const char *in, size_t len, const char *want)
{
    char out[64];
    size_t n = gw_text_clean(in, len, out, sizeof out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void text_clean_invalid_utf8(void **state)
{
    (void)state;
    check_clean("\xff", 1, "?");
    check_clean("a\xfe" "b", 3, "a?b");
    check_clean("\x80", 1, "?");                /* lone continuation */
    check_clean("\xc3", 1, "?");                /* truncated at the end */
    check_clean("\xc3(", 2, "?(");              /* bad continuation */
    check_clean("\xe2\x82", 2, "??");           /* truncated 3-byte */
    /* len, not the NUL, ends the input: a sequence cut by len is invalid */
    check_clean("\xc3\xa9", 1, "?");
    check_clean("a\xe2\x82\xac", 3, "a??");
    check_clean("\xf5\x80\x80\x80", 4, "????"); /* lead byte never valid */
    check_clean("\xf4\x90\x80\x80", 4, "????"); /* above U+10FFFF */
}

static void text_clean_overlong_and_surrogates(void **state)
{
    (void)state;
    check_clean("\xc0\x80", 2, "??");             /* overlong NUL */
    check_clean("\xc1\xbf", 2, "??");             /* overlong U+007F */
    check_clean("\xe0\x80\xaf", 3, "???");        /* overlong '/' */
    check_clean("\xe0\x9f\xbf", 3, "???");        /* overlong U+07FF */
    check_clean("\xf0\x80\x80\xaf", 4, "????");   /* overlong '/' */
    check_clean("\xf0\x8f\xbf\xbf", 4, "????");   /* overlong U+FFFF */
    check_clean("\xed\xa0\x80", 3, "???");        /* U+D800 */
    check_clean("\xed\xbf\xbf", 3, "???");        /* U+DFFF */
    check_clean("\xed\xa0\xbd\xed\xb8\x80", 6, "??????"); /* CESU-8 pair */
}

static void text_clean_output_limit(void **state)
{
    (void)state;
    char out[16];
    const char *s = "ab\xe2\x82\xac" "cd"; /* a b € c d: 7 bytes */
    memset(out, 'Z', sizeof out);
    /* room for 4 bytes: € does not fit whole, so it is left out */
    assert_int_equal(gw_text_clean(s, 7, out, 5), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(gw_text_clean(s, 7, out, 6), 5);
    assert_string_equal(out, "ab\xe2\x82\xac");
    assert_int_equal(gw_text_clean(s, 7, out, 7), 6);
    assert_string_equal(out, "ab\xe2\x82\xac" "c");
    assert_int_equal(gw_text_clean(s, 7, out, sizeof out), 7);

    assert_int_equal(gw_text_clean("\x01\x01\x01", 3, out, 3), 2);
    assert_string_equal(out, "??");
    assert_int_equal(gw_text_clean("abc", 3, out, 1), 0);
    assert_string_equal(out, "");
    out[0] = 'Z';
    assert_int_equal(gw_text_clean("abc", 3, out, 0), 0);
    assert_int_equal(out[0], 'Z'); /* outlen 0: nothing written */

    const char *emoji = "\xf0\x9f\x98\x80";
    for (size_t outlen = 1; outlen <= 4; outlen++) {
        assert_int_equal(gw_text_clean(emoji, 4, out, outlen), 0);
        assert_string_equal(out, "");
    }
}

/* Hex both ways: encode is lowercase, decode takes either case and refuses
 * a non-hex character anywhere. */
static void hex_round_trips(void **state)
{
    (void)state;
    const unsigned char in[4] = { 0x00, 0x9f, 0xa0, 0xff };
    char hex[9];
    gw_hex_encode(in, sizeof in, hex);
    assert_string_equal(hex, "009fa0ff");
    unsigned char out[4];
    assert_true(gw_hex_decode("009FA0ff", out, sizeof out));
    assert_memory_equal(out, in, sizeof in);
    assert_false(gw_hex_decode("009fa0fg", out, sizeof out));
    assert_false(gw_hex_decode("0x9fa0ff", out, sizeof out));
}

/* gw_dec: what snprintf("%lld") writes, for the edges of long long too. */
static void dec_matches_printf(void **state)
{
    (void)state;
    static const long long values[] = { 0, 7, -7, 10, 99, 1796675791932LL, 29944596,
                                        LLONG_MAX, LLONG_MIN, -1000000 };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char got[21], want[32];
        snprintf(want, sizeof want, "%lld", values[i]);
        assert_int_equal(gw_dec(values[i], got), strlen(want));
        assert_string_equal(got, want);
    }
}

/* gw_json_str: whatever the input, the output parses back to it. */
static void json_str_round_trips(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        "plain", "", "quote\" back\\slash", "tab\there\nnewline\r\x01\x1f",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5", "</script>",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        gw_buf b;
        gw_buf_init(&b, 4096);
        assert_int_equal(gw_json_str(&b, inputs[i]), GW_OK);
        json_error_t jerr;
        json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, &jerr);
        assert_non_null(j);
        assert_true(json_is_string(j));
        assert_string_equal(json_string_value(j), inputs[i]);
        /* no raw control character survives */
        for (size_t k = 0; k < b.len; k++)
            assert_true((unsigned char)b.data[k] >= 0x20);
        json_decref(j);
        gw_buf_free(&b);
    }
}

static void json_str_respects_the_buffer_limit(void **state)
{
    (void)state;
    gw_buf b;
    gw_buf_init(&b, 8);
    assert_int_equal(gw_json_str(&b, "\"\"\"\"\"\""), GW_ETOOBIG);
    gw_buf_free(&b);
}

/* ------------------------------------------------------- key=value lists */

static void pairs_walk_and_lookup(void **state)
{
    (void)state;
    const char *p = " a = 1 ,,b=2,c, d=", *k, *v;
    size_t kl, vl;
    assert_true(gw_pairs_next(&p, &k, &kl, &v, &vl));
    assert_int_equal(kl, 1);
    assert_memory_equal(k, "a", 1);
    assert_int_equal(vl, 1);
    assert_memory_equal(v, "1", 1);
    assert_true(gw_pairs_next(&p, &k, &kl, &v, &vl));
    assert_memory_equal(k, "b", 1);
    assert_true(gw_pairs_next(&p, &k, &kl, &v, &vl));
    assert_memory_equal(k, "c", 1);
    assert_null(v);
    assert_true(gw_pairs_next(&p, &k, &kl, &v, &vl));
    assert_memory_equal(k, "d", 1);
    assert_non_null(v);
    assert_int_equal(vl, 0);
    assert_false(gw_pairs_next(&p, &k, &kl, &v, &vl));

    char out[8];
    assert_true(gw_pairs_get("x=1,yy=22", "yy", out, sizeof out));
    assert_string_equal(out, "22");
    assert_false(gw_pairs_get("x=1,yy=22", "y", out, sizeof out));
    assert_false(gw_pairs_get("x=12345678", "x", out, sizeof out)); /* does not fit */
    assert_false(gw_pairs_get("", "x", out, sizeof out));
}

static void list_walk(void **state)
{
    (void)state;
    const char *p = " a ,,\tbb\t, ,c", *it;
    size_t n;
    assert_true(gw_list_next(&p, &it, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(it, "a", 1);
    assert_true(gw_list_next(&p, &it, &n));
    assert_int_equal(n, 2);
    assert_memory_equal(it, "bb", 2);
    assert_true(gw_list_next(&p, &it, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(it, "c", 1);
    assert_false(gw_list_next(&p, &it, &n));
    p = "";
    assert_false(gw_list_next(&p, &it, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(label_value_passes_valid),
        cmocka_unit_test(label_value_replaces_invalid),
        cmocka_unit_test(is_label_value_agrees_with_sanitising),
        cmocka_unit_test(label_value_trims_ends),
        cmocka_unit_test(label_value_caps_at_63),
        cmocka_unit_test(label_value_nothing_left),
        cmocka_unit_test(utf8_cut_ascii),
        cmocka_unit_test(utf8_cut_never_splits),
        cmocka_unit_test(text_clean_keeps_valid),
        cmocka_unit_test(text_clean_control_chars),
        cmocka_unit_test(text_clean_invalid_utf8),
        cmocka_unit_test(text_clean_overlong_and_surrogates),
        cmocka_unit_test(text_clean_output_limit),
        cmocka_unit_test(hex_round_trips),
        cmocka_unit_test(dec_matches_printf),
        cmocka_unit_test(json_str_round_trips),
        cmocka_unit_test(json_str_respects_the_buffer_limit),
        cmocka_unit_test(pairs_walk_and_lookup),
        cmocka_unit_test(list_walk),
    };
    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}

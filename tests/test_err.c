/* SPDX-License-Identifier: Apache-2.0 */
/* test_err.c - the one HTTP<->error mapping (err.c) and the one list of
 * 503 reasons (unavailable.c), checked against docs/api.md's table of 503
 * reasons in both directions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../core/err.h"
#include "../core/unavailable.h"
#include "../core/unavailable_int.h"

#ifndef TOP_SRCDIR
#error "TOP_SRCDIR must name the source tree (Makefile.am)"
#endif

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, the docs' mark of a variable part */

static void from_http(void **state)
{
    (void)state;
    static const long ok[] = { 200, 201, 202, 204, 299 };
    static const long temporary[] = { 0, 429, 500, 502, 503, 504, 599, 600 };
    static const long refused[] = { 100, 301, 400, 401, 403, 405, 408, 409, 410, 413, 422, 499 };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(gw_err_from_http(ok[i]), GW_OK);
    assert_int_equal(gw_err_from_http(404), GW_ENOTFOUND);
    for (size_t i = 0; i < sizeof temporary / sizeof temporary[0]; i++)
        assert_int_equal(gw_err_from_http(temporary[i]), GW_EKUBE);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_int_equal(gw_err_from_http(refused[i]), GW_EKUBECONF);
}

static void http_status(void **state)
{
    (void)state;
    assert_int_equal(gw_err_http_status(GW_EINVAL), 400);
    assert_int_equal(gw_err_http_status(GW_ETOOBIG), 413);
    assert_int_equal(gw_err_http_status(GW_EREDIS), 503);
    assert_int_equal(gw_err_http_status(GW_EKUBE), 503);
    assert_int_equal(gw_err_http_status(GW_EBUSY), 503);
    assert_int_equal(gw_err_http_status(GW_ENOMEM), 500);
    assert_int_equal(gw_err_http_status(GW_EKUBECONF), 500);
    assert_int_equal(gw_err_http_status(GW_ENOTFOUND), 500);
    assert_int_equal(gw_err_http_status(GW_ECONFIG), 500);
    assert_int_equal(gw_err_http_status(GW_EINTERNAL), 500);
    for (gw_err e = GW_OK; e <= GW_EINTERNAL; e++)
        assert_int_equal(gw_err_temporary(e), e == GW_EREDIS || e == GW_EKUBE || e == GW_EBUSY);
    /* the two directions agree: what an apiserver answer means, the
     * gateway passes on */
    assert_int_equal(gw_err_http_status(gw_err_from_http(503)), 503);
    assert_int_equal(gw_err_http_status(gw_err_from_http(429)), 503);
    assert_int_equal(gw_err_http_status(gw_err_from_http(403)), 500);
}

/* A GW_503_* as the docs write it: every printf conversion is "…". */
static void as_documented(const char *fmt, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = fmt; *p && o + 4 < outlen; p++) {
        if (*p != '%') {
            out[o++] = *p;
            continue;
        }
        if (p[1] == '%') {
            out[o++] = *++p;
            continue;
        }
        p++;
        while (*p && strchr("-+ #0123456789.*hlzjt", *p))
            p++;
        if (!*p)
            break;
        memcpy(out + o, ELLIPSIS, 3);
        o += 3;
    }
    out[o] = '\0';
}

typedef struct {
    char detail[64][512];
    bool lighttpd[64];
    size_t n;
} doc_table;

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n'))
        s[--n] = '\0';
    size_t lead = strspn(s, " ");
    memmove(s, s + lead, strlen(s + lead) + 1);
}

/* The rows between <!-- 503-reasons --> and <!-- /503-reasons -->: the
 * first cell's `detail`, and whether the last cell says lighttpd alone
 * sends it. */
static void read_table(doc_table *t)
{
    FILE *f = fopen(TOP_SRCDIR "/docs/api.md", "r");
    assert_non_null(f);
    char line[4096];
    int in = 0, rows = 0;
    t->n = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "<!-- 503-reasons -->")) {
            in++;
            continue;
        }
        if (strstr(line, "<!-- /503-reasons -->")) {
            in = in ? -1 : 0;
            continue;
        }
        if (in != 1 || line[0] != '|')
            continue;
        if (rows++ < 2) /* the header and its rule */
            continue;
        const char *open = strchr(line, '`');
        const char *close = open ? strchr(open + 1, '`') : NULL;
        if (!open || !close || strchr(line + 1, '|') < open)
            fail_msg("docs/api.md 503 table: the first cell is not one `detail`: %s", line);
        assert_true(t->n < sizeof t->detail / sizeof t->detail[0]);
        snprintf(t->detail[t->n], sizeof t->detail[0], "%.*s", (int)(close - open - 1), open + 1);
        char *last = line + strlen(line) - 1;
        while (last > line && (*last == '\n' || *last == ' ' || *last == '|'))
            *last-- = '\0';
        char *cell = strrchr(line, '|');
        assert_non_null(cell);
        trim(++cell);
        t->lighttpd[t->n] = !strcmp(cell, "lighttpd");
        t->n++;
    }
    fclose(f);
    if (in != -1)
        fail_msg("docs/api.md: no <!-- 503-reasons --> ... <!-- /503-reasons --> table");
}

static void unavailable_table(void **state)
{
    (void)state;
    doc_table t;
    read_table(&t);
    size_t n;
    const char *const *causes = gw_unavailable_causes(&n);
    assert_true(n > 0);
    bool documented[64] = { false };
    int missing = 0;
    for (size_t i = 0; i < n; i++) {
        char want[512];
        as_documented(causes[i], want, sizeof want);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(causes[i], causes[j]))
                fail_msg("listed twice: %s", causes[i]);
        bool found = false;
        for (size_t j = 0; j < t.n; j++) {
            if (!t.lighttpd[j] && !strcmp(t.detail[j], want)) {
                found = documented[j] = true;
            }
        }
        if (!found) {
            print_error("in unavailable.h, not in docs/api.md's 503 table: `%s`\n", want);
            missing++;
        }
    }
    for (size_t j = 0; j < t.n; j++) {
        if (!t.lighttpd[j] && !documented[j]) {
            print_error("in docs/api.md's 503 table, not in unavailable.h: `%s`\n", t.detail[j]);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(from_http),
        cmocka_unit_test(http_status),
        cmocka_unit_test(unavailable_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

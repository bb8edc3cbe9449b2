/* SPDX-License-Identifier: Apache-2.0 */
/* test_log.c - unit tests for core/log.c: one JSON object per line on
 * stderr, with time and level; the request line's fields in their order;
 * hostile strings (quotes, backslashes, control bytes, invalid UTF-8)
 * escaped or replaced so the line always parses, long values cut; and the
 * level filter (nothing is written below the minimum).
 *
 * stderr (fd 2) is pointed at a temporary file around each call and the
 * file read back; the terminal sees nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "testutil.h"

/* ------------------------------------------------------ capturing fd 2 */

typedef struct {
    char path[64];
    int  fd;      /* the temporary file */
    int  saved;   /* the real stderr */
} capture;

static void capture_start(capture *c)
{
    snprintf(c->path, sizeof c->path, "/tmp/gw-test-log.XXXXXX");
    c->fd = mkstemp(c->path);
    assert_true(c->fd >= 0);
    fflush(stderr);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    assert_true(dup2(c->fd, 2) == 2);
}

/* Restores stderr; returns what was written (the caller frees it). */
static char *capture_end(capture *c)
{
    fflush(stderr);
    assert_true(dup2(c->saved, 2) == 2);
    close(c->saved);
    off_t n = lseek(c->fd, 0, SEEK_END);
    assert_true(n >= 0);
    char *out = malloc((size_t)n + 1);
    assert_non_null(out);
    assert_int_equal(pread(c->fd, out, (size_t)n, 0), n);
    out[n] = '\0';
    close(c->fd);
    unlink(c->path);
    return out;
}

/* The one line in out: ends in '\n', no other newline, no raw control
 * byte, parses as a JSON object (no duplicate keys).  The caller decrefs. */
static json_t *one_line(const char *out)
{
    size_t n = strlen(out);
    if (n == 0 || out[n - 1] != '\n')
        fail_msg("not one terminated line: \"%s\"", out);
    for (size_t i = 0; i + 1 < n; i++)
        if ((unsigned char)out[i] < 0x20)
            fail_msg("raw control byte 0x%02x at %zu in: %s", (unsigned char)out[i], i, out);
    json_error_t jerr;
    json_t *j = json_loadb(out, n - 1, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j))
        fail_msg("not a JSON object (%s): %s", jerr.text, out);
    return j;
}

static const char *str(json_t *j, const char *key)
{
    const char *v = json_string_value(json_object_get(j, key));
    if (!v)
        fail_msg("no string \"%s\"", key);
    return v;
}

/* "time" is RFC 3339 and now (within a minute); "level" is the level. */
static void check_time_and_level(json_t *j, const char *level)
{
    long long ms;
    assert_true(gw_parse_rfc3339(str(j, "time"), &ms));
    long long d = gw_now_ms() - ms;
    assert_true(d >= -60000 && d <= 60000);
    assert_string_equal(str(j, "level"), level);
}

/* --------------------------------------------------------------- levels */

static void level_names(void **state)
{
    (void)state;
    assert_int_equal(gw_log_level_parse("debug"), GW_LOG_DEBUG);
    assert_int_equal(gw_log_level_parse("info"), GW_LOG_INFO);
    assert_int_equal(gw_log_level_parse("warn"), GW_LOG_WARN);
    assert_int_equal(gw_log_level_parse("error"), GW_LOG_ERROR);
    /* info for anything else */
    assert_int_equal(gw_log_level_parse(""), GW_LOG_INFO);
    assert_int_equal(gw_log_level_parse("warning"), GW_LOG_INFO);
    assert_int_equal(gw_log_level_parse("DEBUG"), GW_LOG_INFO);
}

static void below_the_minimum_nothing_is_written(void **state)
{
    (void)state;
    static const gw_log_req r = { "r", "prometheus", "POST", "/", "created", "", "", 202, 1.0 };
    capture c;
    capture_start(&c);
    gw_log_json(GW_LOG_INFO, GW_LOG_DEBUG, json_pack("{s:s}", "msg", "dropped"));
    gw_log_json(GW_LOG_ERROR, GW_LOG_WARN, json_pack("{s:s}", "msg", "dropped"));
    gw_log_json(GW_LOG_INFO, GW_LOG_INFO, NULL);
    gw_log(GW_LOG_WARN, GW_LOG_INFO, "r", "dropped %d", 1);
    gw_log_request(GW_LOG_ERROR, GW_LOG_INFO, &r);
    char *out = capture_end(&c);
    assert_string_equal(out, "");
    free(out);

    /* at and above it, each call is one line */
    capture_start(&c);
    gw_log_json(GW_LOG_WARN, GW_LOG_WARN, json_pack("{s:s}", "msg", "kept"));
    gw_log(GW_LOG_WARN, GW_LOG_ERROR, NULL, "kept");
    gw_log_request(GW_LOG_DEBUG, GW_LOG_DEBUG, &r);
    out = capture_end(&c);
    int lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3);
    free(out);
}

/* ----------------------------------------------------------- gw_log_json */

static void json_line_has_the_fields_time_and_level(void **state)
{
    (void)state;
    capture c;
    capture_start(&c);
    gw_log_json(GW_LOG_INFO, GW_LOG_WARN,
                json_pack("{s:s,s:i,s:b}", "msg", "redis down", "attempt", 3, "fatal", 0));
    char *out = capture_end(&c);
    json_t *j = one_line(out);
    assert_string_equal(str(j, "msg"), "redis down");
    assert_int_equal(json_integer_value(json_object_get(j, "attempt")), 3);
    assert_true(json_is_false(json_object_get(j, "fatal")));
    check_time_and_level(j, "warn");
    assert_int_equal(json_object_size(j), 5);
    /* the caller's fields first, as given */
    static const char head[] = "{\"msg\":\"redis down\",\"attempt\":3,\"fatal\":false,";
    assert_true(!strncmp(out, head, sizeof head - 1));
    json_decref(j);
    free(out);
}

static void json_line_escapes_hostile_strings(void **state)
{
    (void)state;
    static const char *const hostile[] = {
        "quote\" and \\backslash",   "new\nline\r\ttab",      "\x01\x02\x1b[31m\x7f",
        "}{\"level\":\"error\"}",      "caf\xc3\xa9 \xf0\x9f\x94\xa5", "</script>",
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        capture c;
        capture_start(&c);
        gw_log_json(GW_LOG_DEBUG, GW_LOG_INFO, json_pack("{s:s}", "value", hostile[i]));
        char *out = capture_end(&c);
        json_t *j = one_line(out);
        assert_string_equal(str(j, "value"), hostile[i]); /* escaped, not changed */
        check_time_and_level(j, "info");                  /* not overridden */
        json_decref(j);
        free(out);
    }
}

/* --------------------------------------------------------------- gw_log */

static void msg_line(void **state)
{
    (void)state;
    capture c;
    capture_start(&c);
    gw_log(GW_LOG_INFO, GW_LOG_ERROR, "req-7", "kube: %s (%d)", "403 Forbidden", 2);
    char *out = capture_end(&c);
    json_t *j = one_line(out);
    assert_string_equal(str(j, "msg"), "kube: 403 Forbidden (2)");
    assert_string_equal(str(j, "request_id"), "req-7");
    check_time_and_level(j, "error");
    assert_int_equal(json_object_size(j), 4);
    json_decref(j);
    free(out);

    capture_start(&c);
    gw_log(GW_LOG_INFO, GW_LOG_INFO, NULL, "no request");
    out = capture_end(&c);
    j = one_line(out);
    assert_null(json_object_get(j, "request_id"));
    assert_string_equal(str(j, "msg"), "no request");
    json_decref(j);
    free(out);
}

static void msg_hostile_bytes_are_replaced(void **state)
{
    (void)state;
    capture c;
    capture_start(&c);
    /* quotes and backslashes are escaped; control bytes and invalid UTF-8
     * become '?'; valid UTF-8 stays */
    gw_log(GW_LOG_INFO, GW_LOG_INFO, NULL, "%s", "a\"b\\c\nd\x01" "e\xff\xfe" "f caf\xc3\xa9");
    char *out = capture_end(&c);
    json_t *j = one_line(out);
    assert_string_equal(str(j, "msg"), "a\"b\\c?d?e??f caf\xc3\xa9");
    json_decref(j);
    free(out);
}

static void msg_long_values_are_cut(void **state)
{
    (void)state;
    char big[5000];
    /* two-byte characters, so the cut falls inside one */
    for (size_t i = 0; i + 2 < sizeof big; i += 2)
        memcpy(big + i, "\xc3\xa9", 2);
    big[sizeof big - 2] = '\0';
    capture c;
    capture_start(&c);
    gw_log(GW_LOG_INFO, GW_LOG_INFO, NULL, "x=%s", big);
    char *out = capture_end(&c);
    json_t *j = one_line(out);
    const char *msg = str(j, "msg");
    assert_true(strlen(msg) < 1024);
    assert_true(strlen(msg) > 1000);
    assert_true(!strncmp(msg, "x=\xc3\xa9\xc3\xa9", 6));
    json_decref(j);
    free(out);
}

/* ------------------------------------------------------- gw_log_request */

static void request_line_fields_in_order(void **state)
{
    (void)state;
    gw_log_req r = { .request_id = "req-1", .route = "prometheus", .method = "POST",
                     .path = "/api/v1/signals/prometheus", .decision = "created",
                     .fingerprint = "abc123", .detail = "1 alert", .status = 201,
                     .duration_ms = 1.5 };
    capture c;
    capture_start(&c);
    gw_log_request(GW_LOG_INFO, GW_LOG_INFO, &r);
    char *out = capture_end(&c);
    static const char want[] =
        "{\"request_id\":\"req-1\",\"route\":\"prometheus\",\"method\":\"POST\","
        "\"path\":\"/api/v1/signals/prometheus\",\"status\":201,\"decision\":\"created\","
        "\"duration_ms\":1.500,\"fingerprint\":\"abc123\",\"detail\":\"1 alert\",\"time\":\"";
    if (strncmp(out, want, sizeof want - 1))
        fail_msg("got %s", out);
    json_t *j = one_line(out);
    check_time_and_level(j, "info");
    assert_int_equal(json_object_size(j), 11);
    json_decref(j);
    free(out);

    /* an empty or absent fingerprint and detail are left out */
    r.fingerprint = "";
    r.detail = NULL;
    r.status = 400;
    capture_start(&c);
    gw_log_request(GW_LOG_INFO, GW_LOG_WARN, &r);
    out = capture_end(&c);
    j = one_line(out);
    assert_null(json_object_get(j, "fingerprint"));
    assert_null(json_object_get(j, "detail"));
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 400);
    check_time_and_level(j, "warn");
    assert_int_equal(json_object_size(j), 9);
    json_decref(j);
    free(out);
}

/* duration_ms is written by hand: the same text as printf("%.3f") */
static void request_line_duration_as_printf(void **state)
{
    (void)state;
    static const double durations[] = { 0, 0.0004, 0.25, 1.5, 3, 12.3456, 999.9996, 86400000.125 };
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        gw_log_req r = { .request_id = "req-d", .route = "web", .method = "GET", .path = "/",
                         .decision = "ok", .status = 200, .duration_ms = durations[i] };
        capture c;
        capture_start(&c);
        gw_log_request(GW_LOG_INFO, GW_LOG_INFO, &r);
        char *out = capture_end(&c);
        char want[64];
        snprintf(want, sizeof want, "\"duration_ms\":%.3f,", durations[i]);
        if (!strstr(out, want))
            fail_msg("duration %g: want %s in %s", durations[i], want, out);
        free(out);
    }
}

static void request_line_path_and_detail_may_be_any_bytes(void **state)
{
    (void)state;
    gw_log_req r = { .request_id = "req-2", .route = "web", .method = "GET",
                     .path = "/p\"a\\th\x01\xff\n", .decision = "rejected",
                     .detail = "bad \"label\"\r\n\x80 value\\", .status = 404,
                     .duration_ms = 0.25 };
    capture c;
    capture_start(&c);
    gw_log_request(GW_LOG_INFO, GW_LOG_INFO, &r);
    char *out = capture_end(&c);
    json_t *j = one_line(out);
    assert_string_equal(str(j, "path"), "/p\"a\\th???");
    assert_string_equal(str(j, "detail"), "bad \"label\"??? value\\");
    assert_string_equal(str(j, "request_id"), "req-2");
    json_decref(j);
    free(out);
}

static void request_line_long_values_are_cut(void **state)
{
    (void)state;
    /* the worst case for the path: every byte needs escaping */
    char path[4000];
    memset(path, '"', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    char detail[4000];
    memset(detail, 'd', sizeof detail - 1);
    detail[sizeof detail - 1] = '\0';
    gw_log_req r = { .request_id = "req-3", .route = "web", .method = "GET", .path = path,
                     .decision = "rejected", .detail = detail, .status = 414,
                     .duration_ms = 3 };
    capture c;
    capture_start(&c);
    gw_log_request(GW_LOG_INFO, GW_LOG_INFO, &r);
    char *out = capture_end(&c);
    json_t *j = one_line(out);
    size_t pl = strlen(str(j, "path")), dl = strlen(str(j, "detail"));
    assert_true(pl > 400 && pl < 512);
    assert_true(dl > 400 && dl < 512);
    assert_int_equal(strspn(str(j, "path"), "\""), pl);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 414);
    json_decref(j);
    free(out);
}

/* A client that controls both the path and the detail (every byte one that
 * needs escaping, in both) must not be able to make its request's line
 * disappear: the line is still written, both values cut. */
static void request_line_worst_case_path_and_detail_still_written(void **state)
{
    (void)state;
    char path[4000], detail[4000], rid[65];
    memset(path, '"', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    memset(detail, '\\', sizeof detail - 1);
    detail[sizeof detail - 1] = '\0';
    memset(rid, 'r', sizeof rid - 1);
    rid[sizeof rid - 1] = '\0';
    gw_log_req r = { .request_id = rid, .route = "kubernetes-event", .method = "other",
                     .path = path, .decision = "web-server-error", .detail = detail,
                     .fingerprint = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                     .status = 400, .duration_ms = 123456.789 };
    capture c;
    capture_start(&c);
    gw_log_request(GW_LOG_INFO, GW_LOG_INFO, &r);
    char *out = capture_end(&c);
    json_t *j = one_line(out);
    assert_true(strlen(str(j, "path")) > 400);
    assert_true(strlen(str(j, "detail")) > 400);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 400);
    json_decref(j);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(level_names),
        cmocka_unit_test(below_the_minimum_nothing_is_written),
        cmocka_unit_test(json_line_has_the_fields_time_and_level),
        cmocka_unit_test(json_line_escapes_hostile_strings),
        cmocka_unit_test(msg_line),
        cmocka_unit_test(msg_hostile_bytes_are_replaced),
        cmocka_unit_test(msg_long_values_are_cut),
        cmocka_unit_test(request_line_fields_in_order),
        cmocka_unit_test(request_line_duration_as_printf),
        cmocka_unit_test(request_line_path_and_detail_may_be_any_bytes),
        cmocka_unit_test(request_line_long_values_are_cut),
        cmocka_unit_test(request_line_worst_case_path_and_detail_still_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

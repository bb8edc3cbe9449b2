/* SPDX-License-Identifier: Apache-2.0 */
/* test_log.c - unit tests for core/log.c: one JSON object per line on
 * stderr, with time and level; the request line's fields in their order;
 * hostile strings (quotes, backslashes, control bytes, invalid UTF-8)
 * escaped or replaced so the line always parses, long values cut; and the
 * level filter (nothing is written below the minimum); and batching
 * (held info request lines, written in order, whole, 4 KiB at most).
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

/* ------------------------------------------------------------ batching */

/* The length of the first n lines of s. */
static size_t lines_len(const char *s, int n)
{
    const char *p = s;
    for (int i = 0; i < n; i++) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        p = nl + 1;
    }
    return (size_t)(p - s);
}

/* With gw_log_batch (the FastCGI worker turns it on): info request lines
 * are held; a warn request line, any other line and gw_log_flush write
 * what is held first, in order; a batch never passes 4 KiB (PIPE_BUF) and
 * never ends inside a line; gw_log_unbatch makes stderr unbuffered again. */
static void batched_request_lines_keep_order_and_stay_whole(void **state)
{
    (void)state;
    capture c;
    capture_start(&c);
    char *buf = malloc(GW_LOG_BATCH_BUF);
    assert_true(gw_log_batch(buf));
    gw_log_req r = { .route = "prometheus", .method = "POST", .path = "/api/v1/signals/prometheus",
                     .decision = "duplicate", .status = 202, .duration_ms = 0.5 };
    /* glibc sets a new buffer up fully only with its first write, when the
     * stream was used before (setvbuf after output is outside C's
     * contract; the worker's first line may go out one line late): one
     * line written first */
    r.request_id = "first";
    gw_log_request(GW_LOG_INFO, GW_LOG_INFO, &r);
    gw_log_flush();
    off_t start = lseek(c.fd, 0, SEEK_END);
    assert_true(start > 0);
    r.request_id = "held-1";
    gw_log_request(GW_LOG_INFO, GW_LOG_INFO, &r);
    r.request_id = "held-2";
    gw_log_request(GW_LOG_INFO, GW_LOG_INFO, &r);
    assert_int_equal(lseek(c.fd, 0, SEEK_END), start); /* held */
    gw_log(GW_LOG_INFO, GW_LOG_INFO, "other", "a line that is no request line");
    r.request_id = "held-3";
    gw_log_request(GW_LOG_INFO, GW_LOG_INFO, &r);
    off_t before_warn = lseek(c.fd, 0, SEEK_END);
    r.request_id = "warn-4";
    r.status = 503;
    r.decision = "failed";
    gw_log_request(GW_LOG_INFO, GW_LOG_WARN, &r); /* goes out at once, held-3 first */
    off_t after_warn = lseek(c.fd, 0, SEEK_END);
    assert_true(after_warn > before_warn);
    r.request_id = "held-5";
    r.status = 202;
    r.decision = "duplicate";
    gw_log_request(GW_LOG_INFO, GW_LOG_INFO, &r);
    assert_int_equal(lseek(c.fd, 0, SEEK_END), after_warn);
    gw_log_flush();
    /* then many: every write the file sees is whole lines, at most 4 KiB */
    off_t last = lseek(c.fd, 0, SEEK_END);
    int writes = 0;
    for (int i = 0; i < 200; i++) {
        char id[32];
        snprintf(id, sizeof id, "many-%03d", i);
        r.request_id = id;
        gw_log_request(GW_LOG_INFO, GW_LOG_INFO, &r);
        off_t now = lseek(c.fd, 0, SEEK_END);
        if (now != last) {
            writes++;
            assert_true(now - last <= 4096);
            char tail;
            assert_int_equal(pread(c.fd, &tail, 1, now - 1), 1);
            assert_int_equal(tail, '\n');
            last = now;
        }
    }
    assert_true(writes >= 2 && writes < 200); /* batched, not one per line */
    gw_log_unbatch();
    free(buf);
    char *out = capture_end(&c);
    static const char *const order[] = { "first", "held-1", "held-2", "other", "held-3", "warn-4", "held-5",
                                         "many-000", "many-199" };
    const char *p = out;
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        char want[48];
        snprintf(want, sizeof want, "\"request_id\":\"%s\"", order[i]);
        const char *at = strstr(p, want);
        if (!at)
            fail_msg("%s missing or out of order in:\n%s", order[i], out);
        p = at;
    }
    /* every line parses */
    int n = 0;
    for (const char *q = out; *q; q = strchr(q, '\n') + 1, n++) {
        size_t len = lines_len(q, 1);
        char *line = strndup(q, len);
        json_decref(one_line(line));
        free(line);
    }
    assert_int_equal(n, 207);
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
        cmocka_unit_test(batched_request_lines_keep_order_and_stay_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

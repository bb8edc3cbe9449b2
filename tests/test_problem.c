/* SPDX-License-Identifier: Apache-2.0 */
/* test_problem.c - unit tests for core/problem.c: RFC 7807 problem+json
 * bodies, the type slug and title of each status, and hostile text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>

#include "buf.h"
#include "problem.h"

static json_t *problem(int status, const char *detail, const char *instance, const char *rid)
{
    gw_buf b;
    gw_buf_init(&b, 4096);
    assert_int_equal(gw_problem_write(&b, status, detail, instance, rid), GW_OK);
    json_error_t jerr;
    json_t *j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        fail_msg("not JSON (%s): %s", jerr.text, b.data);
    gw_buf_free(&b);
    return j;
}

static const char *jstr(json_t *j, const char *key)
{
    const char *v = json_string_value(json_object_get(j, key));
    if (!v)
        fail_msg("no string \"%s\"", key);
    return v;
}

static void problem_bodies(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *slug, *title;
    } cases[] = {
        { 400, "validation-error", "Bad Request" },
        { 404, "not-found", "Not Found" },
        { 405, "method-not-allowed", "Method Not Allowed" },
        { 413, "payload-too-large", "Payload Too Large" },
        { 415, "unsupported-media-type", "Unsupported Media Type" },
        { 503, "service-unavailable", "Service Unavailable" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = problem(cases[i].status, "alerts[0].labels.alertname: missing or empty",
                            "/api/v1/signals/prometheus", "req-123");
        char type[128];
        snprintf(type, sizeof type, "https://kubernaut.ai/problems/%s", cases[i].slug);
        assert_string_equal(jstr(j, "type"), type);
        assert_string_equal(jstr(j, "title"), cases[i].title);
        assert_int_equal(json_integer_value(json_object_get(j, "status")), cases[i].status);
        assert_string_equal(jstr(j, "detail"), "alerts[0].labels.alertname: missing or empty");
        assert_string_equal(jstr(j, "instance"), "/api/v1/signals/prometheus");
        assert_string_equal(jstr(j, "request_id"), "req-123");
        assert_int_equal(json_object_size(j), 6);
        json_decref(j);
    }
}

/* The slug of status: what its problem's type says after .../problems/. */
static void assert_slug(int status, const char *slug)
{
    json_t *j = problem(status, "d", "/", "r");
    char type[128];
    snprintf(type, sizeof type, "https://kubernaut.ai/problems/%s", slug);
    assert_string_equal(jstr(j, "type"), type);
    json_decref(j);
}

static void problem_unknown_status_is_internal(void **state)
{
    (void)state;
    assert_slug(418, "internal-error");
    assert_slug(500, "internal-error");
    assert_slug(429, "too-many-requests");
    assert_slug(504, "gateway-timeout");
}

static void problem_hostile_text(void **state)
{
    (void)state;
    /* control characters and invalid UTF-8 from the client never break the
     * JSON; NULL fields become empty strings */
    json_t *j = problem(400, "bad \xff\xfe label\n\"x\"", "/p\x01th", NULL);
    assert_string_equal(jstr(j, "detail"), "bad ?? label?\"x\"");
    assert_string_equal(jstr(j, "instance"), "/p?th");
    assert_string_equal(jstr(j, "request_id"), "");
    json_decref(j);

    gw_buf b;
    gw_buf_init(&b, 16); /* too small for any body */
    assert_int_equal(gw_problem_write(&b, 400, "x", "/", "r"), GW_ETOOBIG);
    gw_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(problem_bodies),
        cmocka_unit_test(problem_unknown_status_is_internal),
        cmocka_unit_test(problem_hostile_text),
    };
    return cmocka_run_group_tests_name("problem", tests, NULL, NULL);
}

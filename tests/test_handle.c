/* SPDX-License-Identifier: Apache-2.0 */
/* test_handle.c - unit tests for core/handle.c (gw_handle): the
 * /readyz answer each worker reuses for a second, a draining context
 * (a stop signal arrived), and the web-error route against lighttpd's own
 * copy of it (lighttpd-problem.lua, run with lua5.4).
 *
 * A context needs Redis and an apiserver to answer /readyz 200, so two tiny
 * doubles run in threads: a "Redis" on a unix socket that answers +PONG to
 * each PING (and an error to anything else), and an "apiserver" on a
 * loopback port that answers every request with a configurable status.
 * Both count what they were asked, which is what the readyz reuse is
 * about.  Each test gets its own temp directory (the sockets and the
 * metrics file) and configuration from ALERTGW_* variables. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fakeserver.h"
#include "gateway.h"
#include "testutil.h"

/* ------------------------------------------------------------- doubles */

/* Redis: one RESP command per read is enough for PING (hiredis writes each
 * command whole); PING gets +PONG, anything else an error. */
static void serve_redis(fake_server *f, int fd)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n <= 0)
            return;
        buf[n] = '\0';
        bool ping = strstr(buf, "PING") != NULL;
        pthread_mutex_lock(&f->mu);
        if (ping)
            f->count++;
        pthread_mutex_unlock(&f->mu);
        const char *r = ping ? "+PONG\r\n" : "-ERR not in this double\r\n";
        if (send(fd, r, strlen(r), MSG_NOSIGNAL) < 0)
            return;
    }
}

/* apiserver: every request answered with f->status and an empty list,
 * keep-alive. */
static void serve_http(fake_server *f, int fd)
{
    char buf[8192], method[16], path[2048];
    size_t have = 0;
    buf[0] = '\0';
    while (fake_http_read(fd, buf, sizeof buf, &have, method, path)) {
        pthread_mutex_lock(&f->mu);
        f->count++;
        int status = f->status;
        pthread_mutex_unlock(&f->mu);
        if (!fake_http_reply(fd, status, "{\"kind\":\"List\",\"items\":[]}"))
            return;
    }
}

static void fake_status(fake_server *f, int status)
{
    pthread_mutex_lock(&f->mu);
    f->status = status;
    pthread_mutex_unlock(&f->mu);
}

/* --------------------------------------------------------------- fixture */

typedef struct {
    char        dir[64];
    fake_server redis, api;
    gw_ctx     *ctx;
    gw_response resp;
} fx;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/gw-test-handle.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char sock[128], url[64], mpath[128];
    snprintf(sock, sizeof sock, "%s/redis.sock", f->dir);
    snprintf(mpath, sizeof mpath, "%s/metrics.shm", f->dir);
    fake_server_start(&f->redis, sock, serve_redis, NULL);
    fake_server_start(&f->api, NULL, serve_http, NULL);
    unsigned short port = f->api.port;
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    char addr[160];
    snprintf(addr, sizeof addr, "unix:%s", sock);
    clear_alertgw_env();
    setenv("ALERTGW_REDIS_ADDR", addr, 1);
    setenv("ALERTGW_KUBERNETES_API_URL", url, 1);
    setenv("ALERTGW_METRICS_PATH", mpath, 1);
    setenv("ALERTGW_LOG_LEVEL", "error", 1);
    gw_config cfg;
    char errs[4096] = "";
    if (gw_config_load(&cfg, NULL, errs, sizeof errs)) {
        fprintf(stderr, "config: %s\n", errs);
        gw_config_free(&cfg);
        return -1;
    }
    char err[512] = "";
    if (gw_ctx_new(&cfg, &f->ctx, err, sizeof err)) {
        fprintf(stderr, "gw_ctx_new: %s\n", err);
        gw_config_free(&cfg);
        return -1;
    }
    gw_response_init(&f->resp);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    gw_response_free(&f->resp);
    gw_ctx_free(f->ctx);
    fake_server_stop(&f->redis);
    fake_server_stop(&f->api);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    clear_alertgw_env();
    free(f);
    return 0;
}

/* One request through the pipeline; the body is NUL-terminated (gw_buf). */
static void request(fx *f, const char *method, const char *path, const char *rid,
                    const char *body)
{
    gw_request req = {
        .method = method,
        .path = path,
        .request_id = rid,
        .content_type = body ? "application/json" : NULL,
        .content_length = body ? (long long)strlen(body) : 0,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .remote_addr = "127.0.0.1",
    };
    gw_handle(f->ctx, &req, &f->resp);
}

/* The string field key of the last response body (a JSON object). */
static const char *field(fx *f, const char *key, char *out, size_t outlen)
{
    json_t *j = json_loads(f->resp.body.data, 0, NULL);
    if (!j)
        fail_msg("body is not JSON: %s", f->resp.body.data);
    const char *v = json_string_value(json_object_get(j, key));
    snprintf(out, outlen, "%s", v ? v : "(absent)");
    json_decref(j);
    return out;
}

static void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ----------------------------------------------------------------- tests */

static void test_readyz_answer_reused_for_a_second(void **state)
{
    fx *f = *state;
    char v[256];
    request(f, "GET", "/readyz", NULL, NULL);
    assert_int_equal(f->resp.status, 200);
    assert_string_equal(field(f, "status", v, sizeof v), "ready");
    assert_int_equal(fake_server_count(&f->redis), 1);
    assert_int_equal(fake_server_count(&f->api), 1);
    char first[256];
    snprintf(first, sizeof first, "%s", f->resp.body.data);
    /* a burst within the second: the same answer, no PING, no LIST */
    for (int i = 0; i < 50; i++) {
        request(f, "GET", "/readyz", NULL, NULL);
        assert_int_equal(f->resp.status, 200);
        assert_string_equal(f->resp.body.data, first);
        assert_string_equal(f->resp.content_type, "application/json");
    }
    assert_int_equal(fake_server_count(&f->redis), 1);
    assert_int_equal(fake_server_count(&f->api), 1);
    /* a second later the next probe asks again */
    pause_ms(1100);
    request(f, "GET", "/readyz", NULL, NULL);
    assert_int_equal(f->resp.status, 200);
    assert_int_equal(fake_server_count(&f->redis), 2);
    assert_int_equal(fake_server_count(&f->api), 2);

    /* a 503 is reused as well, with the status, detail and Retry-After, but
     * request_id and instance are each request's own */
    fake_status(&f->api, 404);
    pause_ms(1100);
    request(f, "GET", "/readyz", "probe-a", NULL);
    assert_int_equal(f->resp.status, 503);
    assert_string_equal(f->resp.content_type, "application/problem+json");
    assert_string_equal(field(f, "request_id", v, sizeof v), "probe-a");
    assert_string_equal(f->resp.request_id, "probe-a");
    char detail[256];
    field(f, "detail", detail, sizeof detail);
    assert_contains(detail, "404");
    long retry = f->resp.retry_after;
    assert_true(retry > 0);
    int lists = fake_server_count(&f->api);
    assert_int_equal(lists, 3);
    request(f, "GET", "/readyz", "probe-b", NULL);
    assert_int_equal(f->resp.status, 503);
    assert_string_equal(f->resp.content_type, "application/problem+json");
    assert_string_equal(field(f, "request_id", v, sizeof v), "probe-b");
    assert_string_equal(f->resp.request_id, "probe-b");
    assert_string_equal(field(f, "instance", v, sizeof v), "/readyz");
    assert_string_equal(field(f, "detail", v, sizeof v), detail);
    assert_int_equal(f->resp.retry_after, retry);
    assert_int_equal(fake_server_count(&f->api), lists);
    assert_int_equal(fake_server_count(&f->redis), 3);
}

static void test_draining_readyz_503_webhooks_still_served(void **state)
{
    fx *f = *state;
    char v[256];
    /* a fresh 200 is in the memo when the stop signal arrives ... */
    request(f, "GET", "/readyz", NULL, NULL);
    assert_int_equal(f->resp.status, 200);
    gw_ctx_set_draining(f->ctx);
    /* ... and is not reused: shutting down shows at once, without a call */
    request(f, "GET", "/readyz", "stopping", NULL);
    assert_int_equal(f->resp.status, 503);
    assert_string_equal(f->resp.content_type, "application/problem+json");
    assert_string_equal(field(f, "detail", v, sizeof v), "shutting down");
    assert_string_equal(field(f, "request_id", v, sizeof v), "stopping");
    assert_string_equal(field(f, "type", v, sizeof v),
                        "https://kubernaut.ai/problems/service-unavailable");
    assert_true(f->resp.retry_after > 0);
    assert_int_equal(fake_server_count(&f->redis), 1);
    assert_int_equal(fake_server_count(&f->api), 1);
    /* the process still answers, and still serves webhooks: a Normal event
     * is answered 200 ignored, a malformed webhook 400, not 503 */
    request(f, "GET", "/healthz", NULL, NULL);
    assert_int_equal(f->resp.status, 200);
    char ev[512], now[32];
    time_t t = time(NULL);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    snprintf(ev, sizeof ev, "{\"type\":\"Normal\",\"reason\":\"Pulled\",\"message\":\"pulled\","
             "\"lastTimestamp\":\"%s\",\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\","
             "\"namespace\":\"prod\"}}", now);
    request(f, "POST", "/api/v1/signals/kubernetes-event", NULL, ev);
    assert_int_equal(f->resp.status, 200);
    assert_string_equal(field(f, "status", v, sizeof v), "ignored");
    request(f, "POST", "/api/v1/signals/prometheus", NULL, "{\"alerts\":");
    assert_int_equal(f->resp.status, 400);
}

/* lighttpd answers its own errors itself when no worker can (lighttpd-
 * errors.lua, through lighttpd-problem.lua's web_error_answer); otherwise a
 * worker's web-error route does.  Both must give the same status and
 * detail for every status lighttpd can have: the Lua mapping is run with
 * lua5.4 and compared with the worker's answer for 400-599. */
static void test_web_error_answers_match_lighttpd_lua(void **state)
{
    fx *f = *state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "lua5.4 -e 'local P = dofile(\"%s/../../lighttpd-problem.lua\") "
             "for st = 400, 599 do local s, d = P.web_error_answer(st) "
             "print(st .. \" \" .. s .. \" \" .. d) end'", TEST_DATA_DIR);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512], v[256];
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        int st, status, off = 0;
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "%d %d %n", &st, &status, &off) != 2 || !off)
            fail_msg("lua printed \"%s\"", line);
        gw_request req = { .method = "GET", .path = "/api/v1/signals/prometheus",
                           .content_length = 0, .web_error = st,
                           .remote_addr = "127.0.0.1" };
        gw_handle(f->ctx, &req, &f->resp);
        if (f->resp.status != status || strcmp(field(f, "detail", v, sizeof v), line + off))
            fail_msg("lighttpd status %d: the worker answers %d \"%s\", "
                     "lighttpd-problem.lua %d \"%s\"", st, f->resp.status, v, status,
                     line + off);
        assert_int_equal(f->resp.retry_after > 0, status == 503);
        n++;
    }
    assert_int_equal(pclose(p), 0);
    assert_int_equal(n, 200);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_readyz_answer_reused_for_a_second, setup, teardown),
        cmocka_unit_test_setup_teardown(test_draining_readyz_503_webhooks_still_served, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_web_error_answers_match_lighttpd_lua, setup,
                                        teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* test_pipeline.c - the request pipeline (gw_handle down to Redis and the
 * apiserver) without FastCGI: a context made with gw_ctx_new_with, its
 * seams given a real redis-server (redisrv.h), a Kubernetes client and a
 * metrics mapping of the test's own.  The apiserver is a small HTTP double
 * in a thread that answers what the pipeline asks for a new signal: the
 * namespace (200, or 404 for "ghost"), discovery (404: the built-in
 * kinds), the lookup by fingerprint label (an empty list), the create
 * (201) and the status patch (200, or a refusal the test asks for); it
 * counts the creates.
 *
 * What is checked is the pipeline's contract: a new alert is created once
 * and its repeat counted in Redis, never created again; an alert about a
 * namespace that does not exist is ignored and leaves Redis untouched; and
 * with Redis down the answer is 503 + Retry-After (nothing lost), and the
 * resend after Redis is back is recorded; a storm member's 202 (and its
 * 207 result) names its aggregate with the spec's storm fields; a storm
 * aggregate whose status patch failed is queued again for the trailing
 * flush, as a request of one fingerprint is. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "clock.h"
#include "dedup.h"
#include "fakeserver.h"
#include "gateway.h"
#include "kube.h"
#include "metrics.h"
#include "redis.h"
#include "redisrv.h"
#include "testutil.h"

/* ------------------------------------------------------ the apiserver */

static const char *answer(fake_server *a, const char *method, const char *path, int *status)
{
    if (!strcmp(method, "POST") && strstr(path, "/remediationrequests")) {
        pthread_mutex_lock(&a->mu);
        a->count++; /* a create */
        pthread_mutex_unlock(&a->mu);
        *status = 201;
        return "{\"kind\":\"RemediationRequest\"}";
    }
    if (!strcmp(method, "PATCH")) {
        /* a->status > 0: status patches fail with it (a refused patch);
         * < 0: the other patches (metadata) fail with -a->status */
        pthread_mutex_lock(&a->mu);
        int refuse = a->status;
        pthread_mutex_unlock(&a->mu);
        size_t n = strlen(path);
        bool is_status = n > 7 && !strcmp(path + n - 7, "/status");
        if ((refuse > 0 && is_status) || (refuse < 0 && !is_status)) {
            *status = refuse > 0 ? refuse : -refuse;
            return "{\"kind\":\"Status\",\"code\":422}";
        }
        *status = 200;
        return "{\"kind\":\"RemediationRequest\",\"status\":{}}";
    }
    if (!strncmp(path, "/api/v1/namespaces/ghost", 24)) {
        *status = 404;
        return "{\"kind\":\"Status\",\"code\":404}";
    }
    if (!strncmp(path, "/api/v1/namespaces/", 19) && !strchr(path + 19, '/')) {
        *status = 200;
        return "{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"prod\",\"labels\":{}}}";
    }
    if (strstr(path, "/remediationrequests?")) {
        *status = 200;
        return "{\"kind\":\"List\",\"metadata\":{},\"items\":[]}";
    }
    *status = 404;
    return "{\"kind\":\"Status\",\"code\":404}";
}

/* One connection, keep-alive. */
static void serve(fake_server *a, int fd)
{
    static char buf[1 << 16];
    size_t have = 0;
    char method[16], path[2048];
    buf[0] = '\0';
    while (fake_http_read(fd, buf, sizeof buf, &have, method, path)) {
        int status;
        const char *b = answer(a, method, path, &status);
        if (!fake_http_reply(fd, status, b))
            return;
    }
}

/* --------------------------------------------------------------- fixture */

typedef struct {
    test_redis  srv;
    fake_server api;
    gw_ctx     *ctx;
    gw_response resp;
    char        mpath[200];
} fx;

/* sync_interval: dedup.status_sync_interval (NULL: the default). */
static int setup_with(void **state, const char *sync_interval)
{
    fx *f = calloc(1, sizeof *f);
    *state = f;
    test_redis_open(&f->srv, "gw-test-pipeline", NULL);
    fake_server_start(&f->api, NULL, serve, NULL);
    clear_alertgw_env();
    setenv("ALERTGW_LOG_LEVEL", "error", 1);
    if (sync_interval)
        setenv("ALERTGW_DEDUP_STATUS_SYNC_INTERVAL", sync_interval, 1);
    setenv("ALERTGW_REDIS_ADDR", "unix:/nonexistent/not-used", 1); /* the seam's wins */
    gw_config cfg;
    char errs[4096] = "", err[512] = "", url[64];
    if (gw_config_load(&cfg, NULL, errs, sizeof errs)) {
        fprintf(stderr, "config: %s\n", errs);
        return -1;
    }
    /* the seams: a Redis connection, a Kubernetes client and a metrics
     * mapping made here, handed over */
    gw_redis redis;
    gw_redis_opts ro = { .addr = f->srv.addr, .connect_timeout_ms = 1000,
                         .command_timeout_ms = 2000, .log_min = GW_LOG_ERROR };
    snprintf(url, sizeof url, "http://127.0.0.1:%u", f->api.port);
    gw_kube_opts ko = { .api_url = url, .timeout_ms = 2000, .log_min = GW_LOG_ERROR };
    gw_ctx_deps deps = { .redis = &redis };
    snprintf(f->mpath, sizeof f->mpath, "%s/metrics.shm", f->srv.dir);
    if (gw_redis_init(&redis, &ro, err, sizeof err) ||
        gw_kube_new(&ko, &deps.kube, err, sizeof err) ||
        gw_metrics_open(f->mpath, &deps.metrics, err, sizeof err) ||
        gw_ctx_new_with(&cfg, &deps, &f->ctx, err, sizeof err)) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    /* adopted: the context frees them */
    assert_null(deps.kube);
    assert_null(deps.metrics);
    gw_response_init(&f->resp);
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, NULL);
}

static int setup_sync_1s(void **state)
{
    return setup_with(state, "1s");
}

static int teardown(void **state)
{
    fx *f = *state;
    gw_response_free(&f->resp);
    gw_ctx_free(f->ctx);
    fake_server_stop(&f->api);
    test_redis_close(&f->srv);
    clear_alertgw_env();
    free(f);
    return 0;
}

static void post_body(fx *f, const char *body)
{
    gw_request req = {
        .method = "POST", .path = "/api/v1/signals/prometheus",
        .content_type = "application/json", .content_length = (long long)strlen(body),
        .body = body, .body_len = strlen(body), .remote_addr = "127.0.0.1",
    };
    gw_handle(f->ctx, &req, &f->resp);
}

static void post_alert(fx *f, const char *ns, const char *pod)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":"
             "\"firing\",\"labels\":{\"alertname\":\"PodCrashLooping\",\"severity\":"
             "\"critical\",\"namespace\":\"%s\",\"pod\":\"%s\"},\"annotations\":{}}]}", ns, pod);
    post_body(f, body);
}

/* One alert with no target label: alertname and status as given. */
static void post_workload_less(fx *f, const char *alertname, const char *status)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"version\":\"4\",\"status\":\"%s\",\"alerts\":[{\"status\":"
             "\"%s\",\"labels\":{\"alertname\":\"%s\",\"severity\":\"none\","
             "\"namespace\":\"monitoring\",\"instance\":\"10.0.0.1:9100\"},"
             "\"annotations\":{}}]}", status, status, alertname);
    post_body(f, body);
}

/* The value of the sample named exactly `series` in GET /metrics. */
static double metric(fx *f, const char *series)
{
    gw_request req = { .method = "GET", .path = "/metrics", .remote_addr = "127.0.0.1" };
    gw_handle(f->ctx, &req, &f->resp);
    assert_int_equal(f->resp.status, 200);
    char want[256];
    snprintf(want, sizeof want, "\n%s ", series);
    const char *at = strstr(f->resp.body.data, want);
    if (!at)
        fail_msg("no %s in /metrics", series);
    return strtod(at + strlen(want), NULL);
}

static json_t *body_json(fx *f)
{
    json_t *j = json_loads(f->resp.body.data, 0, NULL);
    if (!j)
        fail_msg("not JSON: %s", f->resp.body.data);
    return j;
}

static long long redis_dbsize(fx *f)
{
    redisContext *c = redisConnectUnix(f->srv.sock);
    assert_true(c && !c->err);
    redisReply *r = redisCommand(c, "DBSIZE");
    assert_non_null(r);
    long long n = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* ------------------------------------------------------------------ tests */

static void new_alert_created_once_then_counted(void **state)
{
    fx *f = *state;
    post_alert(f, "prod", "api-1");
    assert_int_equal(f->resp.status, 201);
    json_t *j = body_json(f);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "created");
    char fp[65];
    snprintf(fp, sizeof fp, "%s", json_string_value(json_object_get(j, "fingerprint")));
    json_decref(j);
    assert_int_equal(fake_server_count(&f->api), 1);

    post_alert(f, "prod", "api-1");
    assert_int_equal(f->resp.status, 202);
    j = body_json(f);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "duplicate");
    assert_string_equal(json_string_value(json_object_get(j, "fingerprint")), fp);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "metadata"),
                                                        "count")), 2);
    json_decref(j);
    assert_int_equal(fake_server_count(&f->api), 1); /* counted, never created again */
}

static void unknown_namespace_ignored_and_nothing_stored(void **state)
{
    fx *f = *state;
    post_alert(f, "ghost", "api-1");
    assert_int_equal(f->resp.status, 200);
    json_t *j = body_json(f);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ignored");
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "namespace-not-found");
    json_decref(j);
    assert_int_equal(fake_server_count(&f->api), 0);
    assert_int_equal(redis_dbsize(f), 0);
}

/* Alertmanager counts a 4xx as a failed notification: an alert that names
 * no resource is 200, a heartbeat when it is the Watchdog, else ignored
 * with the labels looked for; neither touches Redis nor the apiserver. */
static void workload_less_alerts_200_and_nothing_stored(void **state)
{
    fx *f = *state;
    long long before_s = gw_now_ms() / 1000;
    assert_true(metric(f, "gateway_heartbeat_last_seen_timestamp_seconds") >= (double)before_s - 1);
    assert_true(metric(f, "gateway_heartbeats_total") == 0);

    post_workload_less(f, "Watchdog", "firing");
    assert_int_equal(f->resp.status, 200);
    json_t *j = body_json(f);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "heartbeat");
    json_decref(j);
    assert_true(metric(f, "gateway_heartbeats_total") == 1);
    assert_true(metric(f, "gateway_heartbeat_last_seen_timestamp_seconds") >= (double)before_s);

    post_workload_less(f, "NodeDiskFull", "firing");
    assert_int_equal(f->resp.status, 200);
    j = body_json(f);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ignored");
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "no-target");
    assert_contains(json_string_value(json_object_get(j, "message")), "deployment");
    json_decref(j);
    /* a resolved Watchdog is no heartbeat */
    post_workload_less(f, "Watchdog", "resolved");
    assert_int_equal(f->resp.status, 200);
    j = body_json(f);
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "no-target");
    json_decref(j);
    assert_true(metric(f, "gateway_heartbeats_total") == 1);
    assert_true(metric(f, "gateway_signals_rejected_total{reason=\"no_target\"}") == 2);
    assert_int_equal(fake_server_count(&f->api), 0);
    assert_int_equal(redis_dbsize(f), 0);
}

/* The 202 of a storm member names its aggregate as the spec's storm
 * member answer does: storm.type ("pattern" here: the fifth distinct pod
 * of one alert name in a namespace), storm.remediationRequestRef
 * ("<namespace>/<name>" of the aggregated request) and storm.resourceCount;
 * resources is resourceCount's older name and opened says whether this
 * signal created the aggregate.  A 207 result carries the same object. */
static void storm_member_answer_names_its_aggregate(void **state)
{
    fx *f = *state;
    char pod[16], ref[330];
    for (int i = 1; i <= 4; i++) {
        snprintf(pod, sizeof pod, "web-%d", i);
        post_alert(f, "prod", pod);
        assert_int_equal(f->resp.status, 201);
    }
    post_alert(f, "prod", "web-5"); /* pattern_threshold (5) distinct pods */
    assert_int_equal(f->resp.status, 202);
    json_t *j = body_json(f);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "aggregated");
    const char *name = json_string_value(json_object_get(j, "remediationRequestName"));
    const char *ns = json_string_value(json_object_get(j, "remediationRequestNamespace"));
    assert_non_null(name);
    assert_non_null(ns);
    assert_true(*name && *ns);
    snprintf(ref, sizeof ref, "%s/%s", ns, name);
    json_t *st = json_object_get(j, "storm");
    assert_true(json_is_object(st));
    assert_string_equal(json_string_value(json_object_get(st, "type")), "pattern");
    assert_string_equal(json_string_value(json_object_get(st, "remediationRequestRef")), ref);
    assert_true(json_is_integer(json_object_get(st, "resourceCount")));
    assert_int_equal(json_integer_value(json_object_get(st, "resourceCount")), 5);
    assert_int_equal(json_integer_value(json_object_get(st, "resources")), 5);
    assert_true(json_is_true(json_object_get(st, "opened")));
    assert_int_equal(json_object_size(st), 5); /* no other names */
    json_decref(j);

    /* the sixth joins the same aggregate */
    post_alert(f, "prod", "web-6");
    assert_int_equal(f->resp.status, 202);
    j = body_json(f);
    st = json_object_get(j, "storm");
    assert_string_equal(json_string_value(json_object_get(st, "type")), "pattern");
    assert_string_equal(json_string_value(json_object_get(st, "remediationRequestRef")), ref);
    assert_int_equal(json_integer_value(json_object_get(st, "resourceCount")), 6);
    assert_int_equal(json_integer_value(json_object_get(st, "resources")), 6);
    assert_true(json_is_false(json_object_get(st, "opened")));
    json_decref(j);

    /* two members in one webhook: each 207 result has the storm object */
    post_body(f, "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":["
                 "{\"status\":\"firing\",\"labels\":{\"alertname\":\"PodCrashLooping\","
                 "\"severity\":\"critical\",\"namespace\":\"prod\",\"pod\":\"web-7\"}},"
                 "{\"status\":\"firing\",\"labels\":{\"alertname\":\"PodCrashLooping\","
                 "\"severity\":\"critical\",\"namespace\":\"prod\",\"pod\":\"web-8\"}}]}");
    assert_int_equal(f->resp.status, 207);
    j = body_json(f);
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(json_object_get(j, "results"), i);
        assert_string_equal(json_string_value(json_object_get(e, "status")), "aggregated");
        st = json_object_get(e, "storm");
        assert_string_equal(json_string_value(json_object_get(st, "type")), "pattern");
        assert_string_equal(json_string_value(json_object_get(st, "remediationRequestRef")),
                            ref);
        assert_int_equal(json_integer_value(json_object_get(st, "resourceCount")), 7 + (int)i);
        assert_int_equal(json_integer_value(json_object_get(st, "resources")), 7 + (int)i);
        assert_true(json_is_false(json_object_get(st, "opened")));
    }
    json_decref(j);
    /* four own requests and one aggregate */
    assert_int_equal(fake_server_count(&f->api), 5);
}

/* A storm opens and a member joins within the sync interval (queued on
 * the dirty queue as s:<group>); then the apiserver refuses patches
 * (refuse, as fake answer() takes it) and the trailing flush claims the
 * aggregate: it must be back on the queue for a retry after the back-off,
 * max(dedup.status_sync_interval, 1 s). */
static void storm_flush_refused_requeued(fx *f, int refuse)
{
    char pod[16], g[17], sk[64], member[24];
    gw_dedup_group("prod", "PodCrashLooping", g);
    snprintf(sk, sizeof sk, "alertgw:storm:%s", g);
    snprintf(member, sizeof member, "s:%s", g);
    for (int i = 1; i <= 5; i++) { /* the fifth opens a pattern storm */
        snprintf(pod, sizeof pod, "web-%d", i);
        post_alert(f, "prod", pod);
        assert_int_equal(f->resp.status, i < 5 ? 201 : 202);
    }
    assert_int_equal(test_redis_num(&f->srv, "HGET", sk, "count"), 1);
    assert_int_equal(test_redis_num(&f->srv, "ZSCORE", "alertgw:dirty", member), -1);
    post_alert(f, "prod", "web-6"); /* joins within the interval: queued */
    assert_int_equal(f->resp.status, 202);
    assert_int_equal(test_redis_num(&f->srv, "HGET", sk, "count"), 2);
    assert_true(test_redis_num(&f->srv, "ZSCORE", "alertgw:dirty", member) > 0);

    pthread_mutex_lock(&f->api.mu);
    f->api.status = refuse;
    pthread_mutex_unlock(&f->api.mu);
    usleep(1100 * 1000); /* the join's sync is due */
    long long before = gw_now_ms();
    gw_tick(f->ctx);
    long long due = test_redis_num(&f->srv, "ZSCORE", "alertgw:dirty", member);
    assert_true(due >= before + 1000);
    assert_true(due <= gw_now_ms() + 1000);
    assert_int_equal(test_redis_num(&f->srv, "HGET", sk, "dirty"), 1);
}

/* A storm aggregate's status patch is rechecked against Redis as a
 * request's own is: a refused status patch is queued again. */
static void storm_aggregate_sync_rechecked(void **state)
{
    storm_flush_refused_requeued(*state, 422);
}

/* The aggregate's annotations (resource list and total) are patched apart
 * from its status: when only that patch is refused, the count landed but
 * the storm is queued again all the same. */
static void storm_annotation_failure_requeued(void **state)
{
    storm_flush_refused_requeued(*state, -422);
}

/* A storm that opens while status patches are refused: the opener's
 * patch of count 1 is queued again too. */
static void storm_opener_sync_rechecked(void **state)
{
    fx *f = *state;
    char pod[16], g[17], member[24];
    gw_dedup_group("prod", "PodCrashLooping", g);
    snprintf(member, sizeof member, "s:%s", g);
    pthread_mutex_lock(&f->api.mu);
    f->api.status = 422;
    pthread_mutex_unlock(&f->api.mu);
    for (int i = 1; i <= 4; i++) {
        snprintf(pod, sizeof pod, "web-%d", i);
        post_alert(f, "prod", pod);
        assert_int_equal(f->resp.status, 201);
    }
    long long before = gw_now_ms();
    post_alert(f, "prod", "web-5");
    assert_int_equal(f->resp.status, 202);
    long long due = test_redis_num(&f->srv, "ZSCORE", "alertgw:dirty", member);
    assert_true(due >= before + 5000); /* the default interval, 5 s */
    assert_true(due <= gw_now_ms() + 5000);
}

static void redis_down_503_then_recorded_on_resend(void **state)
{
    fx *f = *state;
    test_redis_stop(&f->srv);
    post_alert(f, "prod", "api-2");
    assert_int_equal(f->resp.status, 503);
    assert_true(f->resp.retry_after > 0);
    assert_string_equal(f->resp.content_type, "application/problem+json");
    assert_contains(f->resp.detail, "Redis");
    assert_int_equal(fake_server_count(&f->api), 0);

    test_redis_start(&f->srv);
    post_alert(f, "prod", "api-2");
    assert_int_equal(f->resp.status, 201);
    assert_int_equal(fake_server_count(&f->api), 1);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(new_alert_created_once_then_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_namespace_ignored_and_nothing_stored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(workload_less_alerts_200_and_nothing_stored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(redis_down_503_then_recorded_on_resend, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(storm_member_answer_names_its_aggregate, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(storm_aggregate_sync_rechecked, setup_sync_1s,
                                        teardown),
        cmocka_unit_test_setup_teardown(storm_annotation_failure_requeued, setup_sync_1s,
                                        teardown),
        cmocka_unit_test_setup_teardown(storm_opener_sync_rechecked, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* test_metrics.c - unit tests for core/metrics.c: two mappings of one file
 * share their counters (as the workers of a pool do), a file of another
 * layout is replaced rather than misread, an unusable path falls back to
 * private counters, and the exposition is well-formed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"
#include "testutil.h"

static char *scrape(gw_metrics *m)
{
    gw_buf b;
    gw_buf_init(&b, 1 << 20);
    assert_int_equal(gw_metrics_write(m, "9.9.9", &b), GW_OK);
    char *s = strdup(b.data);
    gw_buf_free(&b);
    return s;
}

static void tmp_path(char *out, size_t n)
{
    snprintf(out, n, "/tmp/alertgw-metrics-test.%ld.%d", (long)getpid(), rand());
}

static void two_mappings_share_counters(void **state)
{
    (void)state;
    char path[128], err[256];
    tmp_path(path, sizeof path);
    gw_metrics *a, *b;
    assert_int_equal(gw_metrics_open(path, &a, err, sizeof err), GW_OK);
    assert_int_equal(gw_metrics_open(path, &b, err, sizeof err), GW_OK);
    gw_metrics_count(a, GW_C_CREATED);
    gw_metrics_count(b, GW_C_CREATED);
    gw_metrics_received(a, GW_SRC_GRAFANA, GW_SEV_WARNING);
    gw_metrics_observe(b, GW_ROUTE_PROMETHEUS, 202, 0.004);
    gw_metrics_observe(a, GW_ROUTE_PROMETHEUS, 202, 0.2);
    gw_metrics_observe(a, GW_ROUTE_PROMETHEUS, 299, 20); /* other code, beyond the last bound */
    gw_metrics_up(a, GW_UP_REDIS, true);
    char *s = scrape(b);
    assert_contains(s, "\ngateway_crds_created_total 2\n");
    assert_contains(s, "gateway_signals_received_total{source=\"grafana\",severity=\"warning\"} 1\n");
    assert_contains(s, "gateway_http_request_duration_seconds_bucket{route=\"prometheus\",code=\"202\",le=\"0.0025\"} 0\n");
    assert_contains(s, "gateway_http_request_duration_seconds_bucket{route=\"prometheus\",code=\"202\",le=\"0.005\"} 1\n");
    assert_contains(s, "gateway_http_request_duration_seconds_bucket{route=\"prometheus\",code=\"202\",le=\"+Inf\"} 2\n");
    assert_contains(s, "gateway_http_request_duration_seconds_sum{route=\"prometheus\",code=\"202\"} 0.204000\n");
    assert_contains(s, "gateway_http_request_duration_seconds_count{route=\"prometheus\",code=\"other\"} 1\n");
    assert_contains(s, "gateway_http_request_duration_seconds_bucket{route=\"prometheus\",code=\"other\",le=\"10\"} 0\n");
    assert_contains(s, "\ngateway_redis_up 1\n");
    assert_null(strstr(s, "\ngateway_kube_api_up ")); /* unknown yet: no sample */
    assert_contains(s, "gateway_build_info{version=\"9.9.9\"} 1\n");
    assert_contains(s, "\ngateway_metrics_shared 1\n");
    assert_null(strstr(s, "route=\"grafana\"")); /* unused series are not listed */
    free(s);
    gw_metrics_close(a);
    /* a restarted worker finds the totals */
    assert_int_equal(gw_metrics_open(path, &a, err, sizeof err), GW_OK);
    s = scrape(a);
    assert_contains(s, "\ngateway_crds_created_total 2\n");
    free(s);
    gw_metrics_close(a);
    gw_metrics_close(b);
    unlink(path);
}

/* Two workers of a pool see each other's webhooks in flight; a slot of a
 * worker that died busy is not counted against the cap and is taken over. */
static void in_flight_across_workers(void **state)
{
    (void)state;
    char path[128], err[256];
    tmp_path(path, sizeof path);
    gw_metrics *a, *b;
    assert_int_equal(gw_metrics_open(path, &a, err, sizeof err), GW_OK);
    assert_int_equal(gw_metrics_enter(a, 0), 1);
    /* another worker: a child process, so it gets its own slot */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        gw_metrics *c;
        gw_metrics_open(path, &c, err, sizeof err);
        long n = gw_metrics_enter(c, 0);
        char ch = (char)('0' + n);
        _exit(write(fds[1], &ch, 1) == 1 ? 0 : 1); /* dies busy */
    }
    char ch = 0;
    assert_int_equal(read(fds[0], &ch, 1), 1);
    assert_int_equal(ch, '2');
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    close(fds[0]);
    close(fds[1]);
    /* the dead worker's busy slot: counted without a cap, not against one */
    gw_metrics_leave(a);
    assert_int_equal(gw_metrics_enter(a, 0), 2);
    gw_metrics_leave(a);
    assert_int_equal(gw_metrics_enter(a, 1), 1);
    char *s = scrape(a);
    assert_contains(s, "\ngateway_requests_in_flight 1\n");
    assert_contains(s, "\ngateway_requests_in_flight_limit 0\n"); /* not set: no cap */
    free(s);
    gw_metrics_set_in_flight_limit(a, 8);
    s = scrape(a);
    assert_contains(s, "# TYPE gateway_requests_in_flight_limit gauge\n");
    assert_contains(s, "\ngateway_requests_in_flight_limit 8\n");
    free(s);
    gw_metrics_set_in_flight_limit(a, -3);
    s = scrape(a);
    assert_contains(s, "\ngateway_requests_in_flight_limit 0\n");
    free(s);
    gw_metrics_leave(a);
    s = scrape(a);
    assert_contains(s, "\ngateway_requests_in_flight 0\n");
    free(s);
    /* a new worker (same process here, a fresh mapping) takes a free slot */
    assert_int_equal(gw_metrics_open(path, &b, err, sizeof err), GW_OK);
    assert_int_equal(gw_metrics_enter(b, 0), 2); /* same pid: same slot as a, plus the dead one */
    gw_metrics_leave(b);
    gw_metrics_close(b);
    gw_metrics_close(a);
    unlink(path);
}

static void another_layout_is_replaced(void **state)
{
    (void)state;
    char path[128], err[256];
    tmp_path(path, sizeof path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a metrics file at all", f);
    fclose(f);
    gw_metrics *m;
    assert_int_equal(gw_metrics_open(path, &m, err, sizeof err), GW_OK);
    gw_metrics_count(m, GW_C_AGGREGATED);
    char *s = scrape(m);
    assert_contains(s, "\ngateway_signals_aggregated_total 1\n");
    assert_contains(s, "\ngateway_metrics_shared 1\n");
    free(s);
    gw_metrics_close(m);
    unlink(path);
}

static void unusable_path_counts_privately(void **state)
{
    (void)state;
    char err[256] = "";
    gw_metrics *m;
    assert_int_equal(gw_metrics_open("/nonexistent-dir/x/metrics.shm", &m, err, sizeof err),
                     GW_ECONFIG);
    assert_contains(err, "/nonexistent-dir/x/metrics.shm");
    assert_non_null(m);
    gw_metrics_count(m, GW_C_CREATED);
    char *s = scrape(m);
    assert_contains(s, "\ngateway_crds_created_total 1\n");
    assert_contains(s, "\ngateway_metrics_shared 0\n");
    free(s);
    gw_metrics_close(m);
    /* out-of-range labels are ignored, never written out of bounds */
    gw_metrics_count(NULL, GW_C_CREATED);
}

static void every_family_has_help_and_type(void **state)
{
    (void)state;
    char path[128], err[256];
    tmp_path(path, sizeof path);
    gw_metrics *m;
    assert_int_equal(gw_metrics_open(path, &m, err, sizeof err), GW_OK);
    char *s = scrape(m);
    static const char *const families[] = {
        "gateway_signals_received_total", "gateway_signals_deduplicated_total",
        "gateway_signals_aggregated_total", "gateway_crds_created_total",
        "gateway_crd_creation_errors_total", "gateway_storms_detected_total",
        "gateway_signals_rejected_total", "gateway_http_request_duration_seconds",
        "gateway_redis_up", "gateway_kube_api_up", "gateway_auth_failures_total",
        "gateway_build_info", "gateway_owner_resolution_failures_total",
        "gateway_status_syncs_flushed_total",
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        char want[160];
        snprintf(want, sizeof want, "# HELP %s ", families[i]);
        assert_contains(s, want);
        snprintf(want, sizeof want, "# TYPE %s ", families[i]);
        assert_contains(s, want);
    }
    free(s);
    gw_metrics_close(m);
    unlink(path);
}

/* gateway_edge_refusals_total: rendered from the web server's exact
 * "rate_limited=<n>,no_worker=<n>", nothing for an absent parameter, and
 * nothing (GW_EINVAL) for anything else, so no value can inject a label or
 * a line. */
static void edge_refusals_parsed_strictly(void **state)
{
    (void)state;
    gw_buf b;
    gw_buf_init(&b, 4096);
    assert_int_equal(gw_metrics_write_edge(NULL, &b), GW_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(gw_metrics_write_edge("rate_limited=12,no_worker=0", &b), GW_OK);
    assert_string_equal(b.data,
        "# HELP gateway_edge_refusals_total Requests the web server answered itself, before "
        "any worker saw them, by reason: rate_limited (the per-client rate limit), no_worker "
        "(no worker could answer); since the web server started.\n"
        "# TYPE gateway_edge_refusals_total counter\n"
        "gateway_edge_refusals_total{reason=\"rate_limited\"} 12\n"
        "gateway_edge_refusals_total{reason=\"no_worker\"} 0\n");
    gw_buf_reset(&b);
    assert_int_equal(gw_metrics_write_edge("rate_limited=9999999999999999999,no_worker=2147483647",
                                           &b), GW_OK);
    assert_contains(b.data, "{reason=\"rate_limited\"} 9999999999999999999\n");
    static const char *const bad[] = {
        "", "rate_limited=1", "no_worker=1,rate_limited=1", "rate_limited=1,no_worker=1,",
        "rate_limited=1,no_worker=1 ", " rate_limited=1,no_worker=1", "rate_limited=-1,no_worker=1",
        "rate_limited=+1,no_worker=1", "rate_limited=01,no_worker=1", "rate_limited=,no_worker=1",
        "rate_limited=1;no_worker=1", "rate_limited=1,no_worker=1\nx 1",
        "rate_limited=1,no_worker=1,other=3", "rate_limited=10000000000000000000,no_worker=1",
        "rate_limited=1.5,no_worker=1", "RATE_LIMITED=1,no_worker=1", "rate_limited=1,no_worker",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gw_buf_reset(&b);
        if (gw_metrics_write_edge(bad[i], &b) != GW_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(b.len, 0);
    }
    gw_buf_free(&b);
}

/* gateway_auth_failures_total: one series per (mode, reason) pair that
 * can occur, each counted apart; out-of-range labels are ignored. */
static void auth_failures_by_mode_and_reason(void **state)
{
    (void)state;
    char path[128], err[256];
    tmp_path(path, sizeof path);
    gw_metrics *m;
    assert_int_equal(gw_metrics_open(path, &m, err, sizeof err), GW_OK);
    gw_metrics_auth_failure(m, GW_AM_BEARER, GW_AUTH_MISMATCH);
    gw_metrics_auth_failure(m, GW_AM_BEARER, GW_AUTH_MISMATCH);
    gw_metrics_auth_failure(m, GW_AM_TOKENREVIEW, GW_AUTH_ERROR);
    gw_metrics_auth_failure(m, GW_AM_IP, GW_AUTH_FORBIDDEN);
    gw_metrics_auth_failure(m, GW_AM_N, GW_AUTH_MISSING);
    gw_metrics_auth_failure(m, GW_AM_HMAC, GW_AUTH_N);
    gw_metrics_rejected(m, GW_REJ_FORBIDDEN);
    char *s = scrape(m);
    assert_contains(s, "\ngateway_auth_failures_total{mode=\"bearer\",reason=\"mismatch\"} 2\n");
    assert_contains(s, "\ngateway_auth_failures_total{mode=\"bearer\",reason=\"missing\"} 0\n");
    assert_contains(s, "\ngateway_auth_failures_total{mode=\"tokenreview\",reason=\"error\"} 1\n");
    assert_contains(s, "\ngateway_auth_failures_total{mode=\"ip\",reason=\"forbidden\"} 1\n");
    assert_contains(s, "\ngateway_auth_failures_total{mode=\"hmac\",reason=\"expired\"} 0\n");
    assert_contains(s, "\ngateway_signals_rejected_total{reason=\"forbidden\"} 1\n");
    assert_null(strstr(s, "mode=\"none\""));
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, "\ngateway_auth_failures_total{")); p++)
        n++;
    assert_int_equal(n, 14);
    assert_string_equal(gw_metrics_auth_mode_name(GW_AM_MTLS), "mtls");
    assert_string_equal(gw_metrics_auth_reason_name(GW_AUTH_EXPIRED), "expired");
    free(s);
    gw_metrics_close(m);
    unlink(path);
}

int main(void)
{
    srand((unsigned)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_mappings_share_counters),
        cmocka_unit_test(in_flight_across_workers),
        cmocka_unit_test(another_layout_is_replaced),
        cmocka_unit_test(unusable_path_counts_privately),
        cmocka_unit_test(every_family_has_help_and_type),
        cmocka_unit_test(auth_failures_by_mode_and_reason),
        cmocka_unit_test(edge_refusals_parsed_strictly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* test_k8sevent.c - the Kubernetes Event adapter: the three shapes, the
 * type rule, freshness, severity overrides and the shared fingerprint. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fingerprint.h"
#include "k8sevent.h"
#include "testutil.h"

/* 2026-11-23T10:00:00Z */
#define NOW_MS 1795428000000LL

static const char core_v1[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"api.1\",\"namespace\":\"prod\"},"
    "\"type\":\"Warning\",\"reason\":\"BackOff\",\"message\":\"Back-off restarting failed container\","
    "\"involvedObject\":{\"kind\":\"Deployment\",\"name\":\"api\",\"namespace\":\"prod\","
    "\"apiVersion\":\"apps/v1\",\"uid\":\"u1\"},\"source\":{\"component\":\"kubelet\"},"
    "\"firstTimestamp\":\"2026-11-23T09:50:00Z\",\"lastTimestamp\":\"2026-11-23T09:59:00Z\",\"count\":7}";

static const char events_v1[] =
    "{\"apiVersion\":\"events.k8s.io/v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"n1.2\"},"
    "\"type\":\"Warning\",\"reason\":\"NodeNotReady\",\"note\":\"Node n1 status is now: NodeNotReady\","
    "\"regarding\":{\"kind\":\"Node\",\"name\":\"n1\",\"apiVersion\":\"v1\"},"
    "\"reportingController\":\"node-controller\",\"eventTime\":\"2026-11-23T09:58:00.000000Z\","
    "\"series\":{\"count\":3,\"lastObservedTime\":\"2026-11-23T09:59:30.123456Z\"}}";

/* kubernetes-event-exporter: core/v1 plus its own fields */
static const char exporter[] =
    "{\"metadata\":{\"name\":\"w.3\",\"namespace\":\"shop\"},\"reason\":\"OOMKilled\",\"message\":\"x\","
    "\"type\":\"Warning\",\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"web-7c9d-abcde\","
    "\"namespace\":\"shop\",\"labels\":{\"app\":\"web\"},\"ownerReferences\":[]},"
    "\"lastTimestamp\":\"2026-11-23T09:59:59Z\",\"clusterName\":\"c1\",\"count\":1}";

typedef struct {
    gw_config cfg;
    gw_batch  b;
    char      err[256];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (!f || gw_config_defaults(&f->cfg))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    gw_batch_free(&f->b);
    gw_config_free(&f->cfg);
    free(f);
    return 0;
}

static gw_err parse(fx *f, const char *body, long long now)
{
    gw_batch_free(&f->b);
    f->err[0] = '\0';
    return gw_k8sevent_parse(&f->cfg, body, strlen(body), now, &f->b, f->err, sizeof f->err);
}

static void core_v1_warning_is_a_signal(void **state)
{
    fx *f = *state;
    assert_int_equal(parse(f, core_v1, NOW_MS), GW_OK);
    assert_int_equal(f->b.n, 1);
    gw_signal *s = &f->b.signals[0];
    assert_string_equal(s->error, "");
    assert_null(s->ignored);
    assert_string_equal(s->name, "BackOff");
    assert_string_equal(s->severity, "warning");
    assert_string_equal(s->source, "kubernetes-events");
    assert_string_equal(s->target.kind, "Deployment");
    assert_string_equal(s->target.name, "api");
    assert_string_equal(s->target.namespace_, "prod");
    assert_string_equal(s->target.api_version, "apps/v1");
    assert_string_equal(s->firing_time, "2026-11-23T09:59:00Z");
    assert_string_equal(json_string_value(json_object_get(s->labels, "source")), "kubelet");
    assert_string_equal(json_string_value(json_object_get(s->annotations, "message")),
                        "Back-off restarting failed container");
}

static void event_and_alert_share_a_fingerprint(void **state)
{
    fx *f = *state;
    assert_int_equal(parse(f, core_v1, NOW_MS), GW_OK);
    gw_target t = { "Deployment", "api", "prod", "apps/v1" };
    char fp[65];
    assert_int_equal(gw_fingerprint("", &t, NULL, fp), GW_OK);
    assert_string_equal(f->b.signals[0].fingerprint, fp);
}

static void a_repeat_with_higher_count_has_the_same_fingerprint(void **state)
{
    fx *f = *state;
    assert_int_equal(parse(f, core_v1, NOW_MS), GW_OK);
    char first[65];
    memcpy(first, f->b.signals[0].fingerprint, sizeof first);
    char *again = strdup(core_v1);
    char *c = strstr(again, "\"count\":7");
    c[8] = '9';
    assert_int_equal(parse(f, again, NOW_MS), GW_OK);
    assert_string_equal(f->b.signals[0].fingerprint, first);
    free(again);
}

static void events_k8s_io_v1_shape(void **state)
{
    fx *f = *state;
    assert_int_equal(parse(f, events_v1, NOW_MS), GW_OK);
    gw_signal *s = &f->b.signals[0];
    assert_string_equal(s->name, "NodeNotReady");
    assert_string_equal(s->target.kind, "Node");
    assert_string_equal(s->target.namespace_, "");
    /* the newest time: series.lastObservedTime */
    assert_string_equal(s->firing_time, "2026-11-23T09:59:30.123456Z");
    assert_string_equal(json_string_value(json_object_get(s->labels, "source")), "node-controller");
    assert_string_equal(json_string_value(json_object_get(s->annotations, "message")),
                        "Node n1 status is now: NodeNotReady");
}

static void exporter_shape_and_severity_override(void **state)
{
    fx *f = *state;
    free(f->cfg.events_severity_overrides);
    f->cfg.events_severity_overrides = strdup("Evicted=critical,OOMKilled=critical");
    assert_int_equal(parse(f, exporter, NOW_MS), GW_OK);
    gw_signal *s = &f->b.signals[0];
    assert_string_equal(s->target.kind, "Pod");
    assert_string_equal(s->severity, "critical");
}

static void normal_events_are_ignored(void **state)
{
    fx *f = *state;
    char *normal = strdup(core_v1);
    memcpy(strstr(normal, "\"Warning\""), "\"Normal\" ", 9);
    assert_int_equal(parse(f, normal, NOW_MS), GW_OK);
    assert_non_null(f->b.signals[0].ignored);
    assert_contains(f->b.signals[0].ignored, "Normal");
    free(normal);
}

static void stale_and_future_events_are_refused(void **state)
{
    fx *f = *state;
    /* lastTimestamp 09:59:00; now 10:05:01 is more than 5 min later */
    assert_int_equal(parse(f, core_v1, NOW_MS + 301000), GW_EINVAL);
    assert_contains(f->err, "stale");
    assert_contains(f->err, "events.max_age");
    /* now 09:56:59 puts it more than 2 min ahead */
    assert_int_equal(parse(f, core_v1, NOW_MS - 181000), GW_EINVAL);
    assert_contains(f->err, "future");
    /* within bounds on both sides */
    assert_int_equal(parse(f, core_v1, NOW_MS + 239000), GW_OK);
    assert_int_equal(parse(f, core_v1, NOW_MS - 119000), GW_OK);
}

static void bad_events_name_the_field(void **state)
{
    fx *f = *state;
    static const struct { const char *body, *want; } cases[] = {
        { "[]", "one Event" },
        { "{\"type\":\"Warning\",\"reason\":\"X\",\"lastTimestamp\":\"2026-11-23T09:59:00Z\"}",
          "involvedObject" },
        { "{\"type\":\"Warning\",\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\"},"
          "\"lastTimestamp\":\"2026-11-23T09:59:00Z\"}", "reason" },
        { "{\"type\":\"Warning\",\"reason\":\"X\",\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\"}}",
          "timestamp" },
        { "{\"type\":\"Warning\",\"reason\":\"X\",\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"P_Q\"},"
          "\"lastTimestamp\":\"2026-11-23T09:59:00Z\"}", "involvedObject.name" },
        { "{\"type\":\"Warning\",\"reason\":\"X\",\"involvedObject\":{\"kind\":\"pod\",\"name\":\"p\"},"
          "\"lastTimestamp\":\"2026-11-23T09:59:00Z\"}", "involvedObject.kind" },
        { "{\"type\":\"Fatal\",\"reason\":\"X\",\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\"},"
          "\"lastTimestamp\":\"2026-11-23T09:59:00Z\"}", "type" },
        { "{\"type\":\"Warning\",\"reason\":\"X\",\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\"},"
          "\"lastTimestamp\":\"yesterday\"}", "RFC 3339" },
        { "{\"type\":\"Warning\",\"type\":\"Normal\"}", "duplicate" },
        /* it would go into the GET paths of the scope check and owner walk */
        { "{\"type\":\"Warning\",\"reason\":\"X\",\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\","
          "\"namespace\":\"prod\",\"apiVersion\":\"../api/v1/namespaces/kube-system/secrets/"
          "admin-token#\"},\"lastTimestamp\":\"2026-11-23T09:59:00Z\"}", "involvedObject.apiVersion" },
        { "{\"type\":\"Warning\",\"reason\":\"X\",\"regarding\":{\"kind\":\"Pod\",\"name\":\"p\","
          "\"namespace\":\"prod\",\"apiVersion\":\"v1?watch=true\"},"
          "\"eventTime\":\"2026-11-23T09:59:00.000000Z\"}", "apiVersion" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(parse(f, cases[i].body, NOW_MS), GW_EINVAL);
        assert_contains(f->err, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(core_v1_warning_is_a_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(event_and_alert_share_a_fingerprint, setup, teardown),
        cmocka_unit_test_setup_teardown(a_repeat_with_higher_count_has_the_same_fingerprint, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(events_k8s_io_v1_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(exporter_shape_and_severity_override, setup, teardown),
        cmocka_unit_test_setup_teardown(normal_events_are_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_and_future_events_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_events_name_the_field, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

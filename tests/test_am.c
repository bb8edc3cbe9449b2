/* SPDX-License-Identifier: Apache-2.0 */
/* test_am.c - unit tests for core/am.c (and the shared signal tail in
 * core/signal.c) on real Alertmanager v4 webhook bodies.
 *
 * The realistic payloads live in tests/data/am_*.json (shapes as
 * kube-prometheus-stack's rules and Alertmanager 0.2x send them); the limit
 * cases are generated here because they are only interesting for their
 * size.  Expected fingerprints were computed independently with
 * `printf '%s' '<ns>:<Kind>:<name>' | sha256sum` when the tests were
 * written, so a change in the fingerprint input shows up here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am.h"
#include "config.h"
#include "signal.h"

#define FP_PAYMENTS_CHECKOUT  "5fd21205f2898c4d4d98671782ecab6fbbc14932881a17398c05fc7b0d06c331"
#define FP_PRODEU_CHECKOUT    "80bdc2443600ac3d095f3ad6367628d2ae4c4feef258313f70c2ab1753701f95"
#define FP_CALERT_CHECKOUT    "2748c019184a4e28fcafe5f5bf6aef37d05f110965262169ca10ed2c0e21889f"
#define FP_POD_X2K4Q          "3a3687ef621b9c9c79bb29c394e7e4bd90b630d5c468a357253f4a3df5cfcb25"
#define FP_POD_P8M2N          "e8d9f419f064673aaa29718d6fa63de2676ccd581714706ceda4a1baac9beea7"
#define FP_DEPLOY_LEDGER      "642c5245d9868cb31d3a8eba122a031605e3322358d81b8994853ca5993c7614"
#define FP_NODE_IP_10_0_1_23  "a6ab427e920e7cfbe4014c82e9524e99e42ab61d0644b32b703261d596c0b31b"
#define FP_SHOP_REDIS         "47999995f7d9d08aa02c06385f16e23ef6df3e226d011753cf043c2e5c52936d"
#define FP_SHOP_JOB_NIGHTLY   "cc3ab8f6966bb92ab3e9ce2847fe5e9b4c4aeaa707039dd1d4f7760ca6a8007d"
#define FP_CHECKOUT_WITH_NAME "eb72e2a95f52feb69fd4398693dad072258285ddea4fc564dd1174b52d5d02cb"

#include "testutil.h"

/* ----------------------------------------------------------------- helpers */

typedef struct {
    gw_config cfg;
    gw_batch  batch;
    char     *body;
    size_t    len;
    char      err[512];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || gw_config_defaults(&f->cfg))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    gw_batch_free(&f->batch);
    free(f->body);
    gw_config_free(&f->cfg);
    free(f);
    return 0;
}

/* Reads tests/data/<name> into f->body (owned by the fixture). */
static void load(fixture *f, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", TEST_DATA_DIR, name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    assert_true(n > 0);
    free(f->body);
    f->body = malloc((size_t)n + 1);
    assert_non_null(f->body);
    assert_int_equal(fread(f->body, 1, (size_t)n, fp), (size_t)n);
    f->body[n] = '\0';
    f->len = (size_t)n;
    fclose(fp);
}

static void use_text(fixture *f, const char *text)
{
    free(f->body);
    f->body = strdup(text);
    assert_non_null(f->body);
    f->len = strlen(text);
}

static gw_err parse(fixture *f)
{
    gw_batch_free(&f->batch);
    f->err[0] = '\0';
    return gw_am_parse(&f->cfg, f->body, f->len, &f->batch, f->err, sizeof f->err);
}

static const char *label(const gw_signal *s, const char *key)
{
    return json_string_value(json_object_get(s->labels, key));
}

/* A webhook with n alerts, each on its own deployment, and nlabels extra
 * labels on the first alert whose values are vlen bytes long. */
static char *make_webhook(size_t n, size_t nlabels, size_t vlen)
{
    json_t *alerts = json_array();
    for (size_t i = 0; i < n; i++) {
        char dep[32];
        snprintf(dep, sizeof dep, "api-%zu", i);
        json_t *labels = json_pack("{s:s,s:s,s:s,s:s}", "alertname", "HighErrorRate",
                                   "namespace", "prod", "deployment", dep, "severity", "critical");
        if (i == 0) {
            char *v = malloc(vlen + 1);
            memset(v, 'v', vlen);
            v[vlen] = '\0';
            for (size_t k = 0; k < nlabels; k++) {
                char key[32];
                snprintf(key, sizeof key, "extra_%zu", k);
                json_object_set_new(labels, key, json_string(v));
            }
            free(v);
        }
        json_array_append_new(alerts,
                              json_pack("{s:s,s:o,s:{},s:s,s:s}", "status", "firing", "labels",
                                        labels, "annotations", "startsAt",
                                        "2026-11-23T10:00:00Z", "endsAt",
                                        "0001-01-01T00:00:00Z"));
    }
    json_t *root = json_pack("{s:s,s:s,s:i,s:s,s:s,s:{},s:{},s:{},s:s,s:o}", "version", "4",
                             "groupKey", "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts", 0,
                             "status", "firing", "receiver", "alertgw", "groupLabels",
                             "commonLabels", "commonAnnotations", "externalURL",
                             "http://alertmanager:9093", "alerts", alerts);
    assert_non_null(root);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    assert_non_null(s);
    return s;
}

static void use_generated(fixture *f, char *body)
{
    free(f->body);
    f->body = body;
    f->len = strlen(body);
}

/* ------------------------------------------------------------ good bodies */

static void single_firing_deployment(void **state)
{
    fixture *f = *state;
    load(f, "am_single_deployment.json");
    assert_int_equal(parse(f), GW_OK);
    assert_int_equal(f->batch.n, 1);
    assert_ptr_equal(f->batch.raw, f->body);
    assert_int_equal(f->batch.raw_len, f->len);

    const gw_signal *s = &f->batch.signals[0];
    assert_string_equal(s->error, "");
    assert_string_equal(s->name, "KubeDeploymentReplicasMismatch");
    assert_string_equal(s->severity, "critical");
    assert_false(s->resolved);
    assert_string_equal(s->source, "prometheus");
    /* not on the alert itself: taken from commonLabels */
    assert_string_equal(s->cluster, "prod-eu");
    assert_string_equal(s->target.kind, "Deployment");
    assert_string_equal(s->target.name, "checkout");
    assert_string_equal(s->target.namespace_, "payments");
    assert_string_equal(s->target.api_version, "apps/v1");
    assert_string_equal(s->firing_time, "2026-11-23T10:41:30.123Z");
    assert_string_equal(s->fingerprint, FP_PRODEU_CHECKOUT);
    assert_int_equal(json_object_size(s->labels), 10);
    assert_string_equal(label(s, "job"), "kube-state-metrics");
    assert_non_null(s->annotations);
    assert_string_equal(json_string_value(json_object_get(s->annotations, "summary")),
                        "Deployment has not matched the expected number of replicas.");
}

static void group_of_three(void **state)
{
    fixture *f = *state;
    load(f, "am_group3.json");
    assert_int_equal(parse(f), GW_OK);
    assert_int_equal(f->batch.n, 3);
    static const struct {
        const char *kind, *name, *fp, *firing;
    } want[] = {
        { "Pod", "checkout-7d9f8b6c5-x2k4q", FP_POD_X2K4Q, "2026-11-23T10:50:00Z" },
        { "Pod", "checkout-7d9f8b6c5-p8m2n", FP_POD_P8M2N, "2026-11-23T10:51:15.5+01:00" },
        /* carries both pod and deployment: the workload wins */
        { "Deployment", "ledger", FP_DEPLOY_LEDGER, "2026-11-23T10:52:45.000Z" },
    };
    for (size_t i = 0; i < 3; i++) {
        const gw_signal *s = &f->batch.signals[i];
        assert_string_equal(s->error, "");
        assert_string_equal(s->name, "KubePodCrashLooping");
        assert_string_equal(s->severity, "warning");
        assert_string_equal(s->cluster, "");
        assert_string_equal(s->target.kind, want[i].kind);
        assert_string_equal(s->target.name, want[i].name);
        assert_string_equal(s->target.namespace_, "payments");
        assert_string_equal(s->fingerprint, want[i].fp);
        assert_string_equal(s->firing_time, want[i].firing);
    }
    /* each signal borrows its own alert's labels, not a shared object */
    assert_string_equal(label(&f->batch.signals[1], "uid"),
                        "7e21d0c4-1b9a-4f3e-8c77-5a2e9d0f6b13");
    assert_null(label(&f->batch.signals[2], "uid"));
}

static void resolved_alert(void **state)
{
    fixture *f = *state;
    load(f, "am_resolved.json");
    assert_int_equal(parse(f), GW_OK);
    assert_int_equal(f->batch.n, 1);
    const gw_signal *s = &f->batch.signals[0];
    assert_string_equal(s->error, "");
    assert_true(s->resolved);
    assert_string_equal(s->name, "KubeDeploymentReplicasMismatch");
    assert_string_equal(s->firing_time, "2026-11-23T10:41:30.123Z");
    /* same problem as the firing alert: resolution is not part of identity */
    assert_string_equal(s->fingerprint, FP_PAYMENTS_CHECKOUT);
}

static void alert_status_falls_back_to_group_status(void **state)
{
    fixture *f = *state;
    use_text(f, "{\"version\":\"4\",\"status\":\"resolved\",\"alerts\":[{\"labels\":"
                "{\"alertname\":\"A\",\"namespace\":\"prod\",\"deployment\":\"api\"}}]}");
    assert_int_equal(parse(f), GW_OK);
    assert_string_equal(f->batch.signals[0].error, "");
    assert_true(f->batch.signals[0].resolved);
}

static void bad_alert_status_rejected(void **state)
{
    fixture *f = *state;
    use_text(f, "{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[{\"status\":\"pending\","
                "\"labels\":{\"alertname\":\"A\",\"namespace\":\"prod\",\"deployment\":\"api\"}}]}");
    assert_int_equal(parse(f), GW_OK);
    assert_contains(f->batch.signals[0].error, "alerts[0].status");
}

static void node_alert(void **state)
{
    fixture *f = *state;
    load(f, "am_node.json");
    assert_int_equal(parse(f), GW_OK);
    assert_int_equal(f->batch.n, 1);
    const gw_signal *s = &f->batch.signals[0];
    assert_string_equal(s->error, "");
    assert_string_equal(s->name, "KubeNodeNotReady");
    /* the `pod` label is kube-state-metrics' own pod, added by target
     * discovery; the node is what the alert is about */
    assert_string_equal(s->target.kind, "Node");
    assert_string_equal(s->target.name, "ip-10-0-1-23.eu-west-1.compute.internal");
    assert_string_equal(s->target.namespace_, "");
    assert_string_equal(s->target.api_version, "v1");
    assert_string_equal(s->fingerprint, FP_NODE_IP_10_0_1_23);
}

static void missing_alertname_marks_only_that_alert(void **state)
{
    fixture *f = *state;
    load(f, "am_missing_alertname.json");
    assert_int_equal(parse(f), GW_OK);
    assert_int_equal(f->batch.n, 3);

    const gw_signal *ok = &f->batch.signals[0];
    assert_string_equal(ok->error, "");
    assert_string_equal(ok->target.kind, "StatefulSet");
    assert_string_equal(ok->fingerprint, FP_SHOP_REDIS);

    const gw_signal *bad = &f->batch.signals[1];
    assert_string_not_equal(bad->error, "");
    assert_contains(bad->error, "alerts[1].labels.alertname");
    assert_contains(bad->error, "missing");

    /* KubeJobFailed: `job` is the scrape job, `job_name` the Job */
    const gw_signal *job = &f->batch.signals[2];
    assert_string_equal(job->error, "");
    assert_string_equal(job->target.kind, "Job");
    assert_string_equal(job->target.name, "nightly-report");
    assert_string_equal(job->target.api_version, "batch/v1");
    assert_string_equal(job->fingerprint, FP_SHOP_JOB_NIGHTLY);
}

static void empty_alertname_rejected(void **state)
{
    fixture *f = *state;
    use_text(f, "{\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\",\"labels\":"
                "{\"alertname\":\"\",\"namespace\":\"prod\",\"deployment\":\"api\"}}]}");
    assert_int_equal(parse(f), GW_OK);
    assert_contains(f->batch.signals[0].error, "alerts[0].labels.alertname");
}

static void alert_not_an_object_or_no_labels(void **state)
{
    fixture *f = *state;
    use_text(f, "{\"alerts\":[42,{\"status\":\"firing\"},{\"status\":\"firing\",\"labels\":"
                "{\"alertname\":\"A\",\"namespace\":\"prod\",\"deployment\":\"api\"},"
                "\"annotations\":\"oops\"}]}");
    assert_int_equal(parse(f), GW_OK);
    assert_int_equal(f->batch.n, 3);
    assert_contains(f->batch.signals[0].error, "alerts[0]: must be an object");
    assert_contains(f->batch.signals[1].error, "alerts[1].labels");
    assert_contains(f->batch.signals[2].error, "alerts[2].annotations");
}

static void no_target_label_rejected_with_index(void **state)
{
    fixture *f = *state;
    use_text(f, "{\"status\":\"firing\",\"alerts\":[{\"status\":\"firing\",\"labels\":"
                "{\"alertname\":\"Watchdog\",\"job\":\"prometheus\",\"instance\":\"x:9090\"}}]}");
    assert_int_equal(parse(f), GW_OK);
    assert_contains(f->batch.signals[0].error, "alerts[0]: no target resource");
    assert_true(f->batch.signals[0].no_target); /* the gateway answers it 200, not 400 */

    f->cfg.signals_allow_unknown_target = true;
    assert_int_equal(parse(f), GW_OK);
    const gw_signal *s = &f->batch.signals[0];
    assert_string_equal(s->error, "");
    assert_string_equal(s->target.kind, "Unknown");
    assert_string_equal(s->target.name, "Watchdog");
    assert_int_equal(strlen(s->fingerprint), 64);
}

/* ------------------------------------------------------ envelope failures */

static void not_json(void **state)
{
    fixture *f = *state;
    load(f, "am_not_json.txt");
    assert_int_equal(parse(f), GW_EINVAL);
    assert_contains(f->err, "invalid JSON");
    assert_null(f->batch.root);
    assert_null(f->batch.signals);
}

static void truncated_json(void **state)
{
    fixture *f = *state;
    load(f, "am_single_deployment.json");
    f->len /= 2; /* a body cut in the middle */
    assert_int_equal(parse(f), GW_EINVAL);
    assert_contains(f->err, "invalid JSON");
}

static void array_top_level(void **state)
{
    fixture *f = *state;
    load(f, "am_array.json");
    assert_int_equal(parse(f), GW_EINVAL);
    assert_contains(f->err, "JSON object");
    assert_null(f->batch.root);
}

static void missing_alerts(void **state)
{
    fixture *f = *state;
    load(f, "am_no_alerts.json");
    assert_int_equal(parse(f), GW_EINVAL);
    assert_contains(f->err, "alerts");
    assert_contains(f->err, "missing");
}

static void alerts_not_array(void **state)
{
    fixture *f = *state;
    use_text(f, "{\"version\":\"4\",\"alerts\":{\"labels\":{}}}");
    assert_int_equal(parse(f), GW_EINVAL);
    assert_contains(f->err, "alerts");
    assert_contains(f->err, "not an array");
}

static void empty_alerts(void **state)
{
    fixture *f = *state;
    load(f, "am_empty_alerts.json");
    assert_int_equal(parse(f), GW_EINVAL);
    assert_contains(f->err, "alerts");
    assert_contains(f->err, "empty");
}

static void duplicate_keys_rejected(void **state)
{
    fixture *f = *state;
    load(f, "am_duplicate_keys.json");
    assert_int_equal(parse(f), GW_EINVAL);
    assert_contains(f->err, "duplicate");
    assert_contains(f->err, "namespace");
}

static void too_many_alerts(void **state)
{
    fixture *f = *state;
    f->cfg.server_max_alerts = 5;
    use_generated(f, make_webhook(5, 0, 1));
    assert_int_equal(parse(f), GW_OK);
    assert_int_equal(f->batch.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(f->batch.signals[i].error, "");

    use_generated(f, make_webhook(6, 0, 1));
    assert_int_equal(parse(f), GW_ETOOBIG);
    assert_contains(f->err, "6 alerts");
    assert_contains(f->err, "limit 5");
    assert_null(f->batch.signals);
}

/* A real webhook nests 4 levels (root, alerts, alert, labels); extra
 * nesting in an annotation-like field beyond server.max_json_depth is a 400
 * naming the key, and exactly at the limit it parses. */
static void json_depth_limit(void **state)
{
    fixture *f = *state;
    f->cfg.server_max_json_depth = 6;
    /* root(1) extra(2) [3] [4] [5] [6] */
    use_text(f, "{\"version\":\"4\",\"extra\":[[[[[1]]]]],\"alerts\":[]}");
    assert_int_equal(parse(f), GW_EINVAL);
    assert_null(strstr(f->err, "server.max_json_depth")); /* fails later: no alerts */
    use_text(f, "{\"version\":\"4\",\"extra\":[[[[[[1]]]]]],\"alerts\":[]}");
    assert_int_equal(parse(f), GW_EINVAL);
    assert_contains(f->err, "deeper than the limit of 6 levels (server.max_json_depth)");
    assert_null(f->batch.root);
    use_text(f, "{\"alerts\":[{\"labels\":{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}}]}");
    assert_int_equal(parse(f), GW_EINVAL);
    assert_contains(f->err, "server.max_json_depth");
}

/* ------------------------------------------------------- per-alert limits */

static void too_many_labels(void **state)
{
    fixture *f = *state;
    f->cfg.server_max_labels = 10;
    /* 4 base labels + 6 extra = 10: at the limit */
    use_generated(f, make_webhook(2, 6, 8));
    assert_int_equal(parse(f), GW_OK);
    assert_string_equal(f->batch.signals[0].error, "");

    /* 11 labels on alert 0; alert 1 is unaffected */
    use_generated(f, make_webhook(2, 7, 8));
    assert_int_equal(parse(f), GW_OK);
    assert_contains(f->batch.signals[0].error, "alerts[0]");
    assert_contains(f->batch.signals[0].error, "11 labels");
    assert_contains(f->batch.signals[0].error, "limit 10");
    assert_string_equal(f->batch.signals[1].error, "");
    assert_string_equal(f->batch.signals[1].target.name, "api-1");
}

static void label_value_too_long(void **state)
{
    fixture *f = *state;
    f->cfg.server_max_label_bytes = 64;
    use_generated(f, make_webhook(1, 1, 64));
    assert_int_equal(parse(f), GW_OK);
    assert_string_equal(f->batch.signals[0].error, "");

    use_generated(f, make_webhook(1, 1, 65));
    assert_int_equal(parse(f), GW_OK);
    assert_contains(f->batch.signals[0].error, "extra_0");
    assert_contains(f->batch.signals[0].error, "limit 64 bytes");
}

static void label_value_not_string(void **state)
{
    fixture *f = *state;
    use_text(f, "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\","
                "\"namespace\":\"prod\",\"deployment\":\"api\",\"replicas\":3}}]}");
    assert_int_equal(parse(f), GW_OK);
    assert_contains(f->batch.signals[0].error, "replicas");
    assert_contains(f->batch.signals[0].error, "string");
}

static void too_many_annotations(void **state)
{
    fixture *f = *state;
    f->cfg.server_max_labels = 2;
    use_text(f, "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\","
                "\"deployment\":\"api\"},\"annotations\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}}]}");
    assert_int_equal(parse(f), GW_OK);
    assert_contains(f->batch.signals[0].error, "3 annotations");
    assert_contains(f->batch.signals[0].error, "limit 2");
}

/* ------------------------------------------------------------ timestamps */

/* startsAt and endsAt are RFC 3339 strings; a number, a bool, an object or
 * null is not a timestamp and is named with its alert index (it was taken
 * as absent once).  Alertmanager's "unset" endsAt, the zero time of Go
 * (year 1), stays accepted. */
static void timestamps_of_the_wrong_type_are_rejected(void **state)
{
    fixture *f = *state;
    static const struct { const char *alert, *want; } cases[] = {
        { "\"startsAt\":1700000000", "alerts[1].startsAt" },
        { "\"startsAt\":true", "alerts[1].startsAt" },
        { "\"startsAt\":null", "alerts[1].startsAt" },
        { "\"startsAt\":{\"t\":\"2026-11-23T10:00:00Z\"}", "alerts[1].startsAt" },
        { "\"startsAt\":\"yesterday\"", "alerts[1].startsAt" },
        { "\"startsAt\":\"2026-11-23 10:00:00\"", "alerts[1].startsAt" },
        { "\"startsAt\":\"\"", "alerts[1].startsAt" },
        { "\"endsAt\":1700000000", "alerts[1].endsAt" },
        { "\"endsAt\":[]", "alerts[1].endsAt" },
        { "\"endsAt\":\"2026-13-01T00:00:00Z\"", "alerts[1].endsAt" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body,
                 "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\","
                 "\"namespace\":\"prod\",\"deployment\":\"ok\"},"
                 "\"startsAt\":\"2026-11-23T10:00:00Z\",\"endsAt\":\"0001-01-01T00:00:00Z\"},"
                 "{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\",\"namespace\":\"prod\","
                 "\"deployment\":\"api\"},%s}]}", cases[i].alert);
        use_text(f, body);
        assert_int_equal(parse(f), GW_OK);
        assert_string_equal(f->batch.signals[0].error, "");
        assert_contains(f->batch.signals[1].error, cases[i].want);
        assert_contains(f->batch.signals[1].error, "RFC 3339");
        /* Grafana's alerts are Alertmanager's */
        gw_batch_free(&f->batch);
        assert_int_equal(gw_grafana_parse(&f->cfg, f->body, f->len, &f->batch, f->err,
                                          sizeof f->err), GW_OK);
        assert_contains(f->batch.signals[1].error, cases[i].want);
    }
}

static void alertmanager_timestamps_are_accepted(void **state)
{
    fixture *f = *state;
    use_text(f, "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\","
                "\"namespace\":\"prod\",\"deployment\":\"api\"},"
                "\"startsAt\":\"2026-11-23T10:51:15.5+01:00\",\"endsAt\":\"0001-01-01T00:00:00Z\"},"
                "{\"status\":\"resolved\",\"labels\":{\"alertname\":\"A\",\"namespace\":\"prod\","
                "\"deployment\":\"web\"},\"startsAt\":\"2026-11-23T10:00:00.123456789Z\","
                "\"endsAt\":\"2026-11-23T10:05:00Z\"},"
                "{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\",\"namespace\":\"prod\","
                "\"deployment\":\"db\"}}]}");
    assert_int_equal(parse(f), GW_OK);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(f->batch.signals[i].error, "");
    /* 2026-11-23T09:51:15.500Z */
    assert_true(f->batch.signals[0].firing_ms == 1795427475500LL);
    assert_true(f->batch.signals[1].firing_ms == 1795428000123LL);
    assert_true(f->batch.signals[2].firing_ms == 0); /* absent */
}

/* The clock check is made per request, not in the (memoised) parse:
 * startsAt more than events.max_future ahead is refused, endsAt in the
 * future is normal (Alertmanager sends now + resolve_timeout). */
static void starts_at_in_the_future_is_refused(void **state)
{
    fixture *f = *state;
    const long long now = 1795428000000LL; /* 2026-11-23T10:00:00Z */
    use_text(f, "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\","
                "\"namespace\":\"prod\",\"deployment\":\"api\"},"
                "\"startsAt\":\"2026-11-23T10:10:00Z\",\"endsAt\":\"2026-11-23T11:00:00Z\"},"
                "{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\",\"namespace\":\"prod\","
                "\"deployment\":\"web\"},\"startsAt\":\"2026-11-23T10:01:59Z\","
                "\"endsAt\":\"2026-11-24T10:00:00Z\"}]}");
    assert_int_equal(parse(f), GW_OK);
    char err[256] = "";
    assert_int_equal(gw_am_check_clock(&f->cfg, &f->batch.signals[0], 0, now, err, sizeof err),
                     GW_EINVAL);
    assert_contains(err, "alerts[0].startsAt");
    assert_contains(err, "future");
    assert_contains(err, "events.max_future");
    err[0] = '\0';
    assert_int_equal(gw_am_check_clock(&f->cfg, &f->batch.signals[1], 1, now, err, sizeof err),
                     GW_OK);
    assert_string_equal(err, "");
    /* the same alert later is fine: the memo may hand it out again */
    assert_int_equal(gw_am_check_clock(&f->cfg, &f->batch.signals[0], 0, now + 480000, err,
                                       sizeof err), GW_OK);
    /* the bound is configurable */
    f->cfg.events_max_future_s = 30;
    assert_int_equal(gw_am_check_clock(&f->cfg, &f->batch.signals[1], 1, now, err, sizeof err),
                     GW_EINVAL);
    assert_contains(err, "alerts[1].startsAt");
}

/* ------------------------------------------------ cluster and defaults */

static void cluster_from_alert_or_common_labels(void **state)
{
    fixture *f = *state;
    load(f, "am_cluster.json");
    assert_int_equal(parse(f), GW_OK);
    assert_int_equal(f->batch.n, 2);
    assert_string_equal(f->batch.signals[0].cluster, "c-alert");
    assert_string_equal(f->batch.signals[0].fingerprint, FP_CALERT_CHECKOUT);
    assert_string_equal(f->batch.signals[1].cluster, "");
    assert_string_equal(f->batch.signals[1].fingerprint, FP_PAYMENTS_CHECKOUT);

    /* the alert's own label beats commonLabels */
    use_text(f, "{\"commonLabels\":{\"cluster\":\"c-common\"},\"alerts\":[{\"status\":\"firing\","
                "\"labels\":{\"alertname\":\"A\",\"cluster\":\"c-alert\",\"namespace\":"
                "\"payments\",\"deployment\":\"checkout\"}},{\"status\":\"firing\",\"labels\":"
                "{\"alertname\":\"A\",\"namespace\":\"payments\",\"deployment\":\"checkout\"}}]}");
    assert_int_equal(parse(f), GW_OK);
    assert_string_equal(f->batch.signals[0].cluster, "c-alert");
    assert_string_equal(f->batch.signals[0].fingerprint, FP_CALERT_CHECKOUT);
    assert_string_equal(f->batch.signals[1].cluster, "c-common");
}

static void cluster_label_configurable(void **state)
{
    fixture *f = *state;
    free(f->cfg.fp_cluster_label);
    f->cfg.fp_cluster_label = strdup("k8s_cluster");
    use_text(f, "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\","
                "\"cluster\":\"ignored\",\"k8s_cluster\":\"c-alert\",\"namespace\":\"payments\","
                "\"deployment\":\"checkout\"}}]}");
    assert_int_equal(parse(f), GW_OK);
    assert_string_equal(f->batch.signals[0].cluster, "c-alert");
    assert_string_equal(f->batch.signals[0].fingerprint, FP_CALERT_CHECKOUT);
}

static void severity_defaults_to_unknown(void **state)
{
    fixture *f = *state;
    use_text(f, "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"A\","
                "\"namespace\":\"payments\",\"deployment\":\"checkout\"}}]}");
    assert_int_equal(parse(f), GW_OK);
    const gw_signal *s = &f->batch.signals[0];
    assert_string_equal(s->error, "");
    assert_string_equal(s->severity, "unknown");
    /* no startsAt: empty, not invented */
    assert_string_equal(s->firing_time, "");
    /* no annotations object at all is fine */
    assert_null(s->annotations);
}

static void include_signal_name(void **state)
{
    fixture *f = *state;
    f->cfg.fp_include_signal_name = true;
    load(f, "am_resolved.json");
    assert_int_equal(parse(f), GW_OK);
    assert_string_equal(f->batch.signals[0].fingerprint, FP_CHECKOUT_WITH_NAME);
}

static void long_signal_name_and_severity(void **state)
{
    fixture *f = *state;
    char name[300], body[1024];
    memset(name, 'A', 254);
    name[254] = '\0';
    snprintf(body, sizeof body,
             "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"%s\","
             "\"namespace\":\"p\",\"deployment\":\"d\"}},{\"status\":\"firing\",\"labels\":"
             "{\"alertname\":\"B\",\"severity\":\"%.51s\",\"namespace\":\"p\","
             "\"deployment\":\"d\"}}]}",
             name, name);
    use_text(f, body);
    assert_int_equal(parse(f), GW_OK);
    assert_contains(f->batch.signals[0].error, "253");
    assert_contains(f->batch.signals[1].error, "severity");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(single_firing_deployment, setup, teardown),
        cmocka_unit_test_setup_teardown(group_of_three, setup, teardown),
        cmocka_unit_test_setup_teardown(resolved_alert, setup, teardown),
        cmocka_unit_test_setup_teardown(alert_status_falls_back_to_group_status, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_alert_status_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(node_alert, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_alertname_marks_only_that_alert, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_alertname_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(alert_not_an_object_or_no_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(no_target_label_rejected_with_index, setup, teardown),
        cmocka_unit_test_setup_teardown(not_json, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_json, setup, teardown),
        cmocka_unit_test_setup_teardown(array_top_level, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_alerts, setup, teardown),
        cmocka_unit_test_setup_teardown(alerts_not_array, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_alerts, setup, teardown),
        cmocka_unit_test_setup_teardown(duplicate_keys_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(too_many_alerts, setup, teardown),
        cmocka_unit_test_setup_teardown(json_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(too_many_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(label_value_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(label_value_not_string, setup, teardown),
        cmocka_unit_test_setup_teardown(too_many_annotations, setup, teardown),
        cmocka_unit_test_setup_teardown(cluster_from_alert_or_common_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(cluster_label_configurable, setup, teardown),
        cmocka_unit_test_setup_teardown(severity_defaults_to_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(include_signal_name, setup, teardown),
        cmocka_unit_test_setup_teardown(long_signal_name_and_severity, setup, teardown),
        cmocka_unit_test_setup_teardown(timestamps_of_the_wrong_type_are_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(alertmanager_timestamps_are_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(starts_at_in_the_future_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests_name("am", tests, NULL, NULL);
}

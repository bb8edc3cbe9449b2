/* SPDX-License-Identifier: Apache-2.0 */
/* test_rr.c - unit tests for core/rr.c: the RemediationRequest object as
 * the Kubernaut CRD (and alertgw's own) expects it, spec section 4. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "jsonmem.h"
#include "rr.h"
#include "target.h"

#define FP "80bdc2443600ac3d095f3ad6367628d2ae4c4feef258313f70c2ab1753701f95"
#define RECEIVED_MS 1795430500000LL /* 2026-11-23T10:41:40.000Z */
#define RAW "{\"version\":\"4\",\"alerts\":[]}"

typedef struct {
    gw_config   cfg;
    gw_signal   sig;
    gw_rr_input in;
    json_t     *labels;
    json_t     *annotations;
    json_t     *rr;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || gw_config_defaults(&f->cfg))
        return -1;
    f->labels = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "alertname", "KubeDeploymentReplicasMismatch",
                          "namespace", "payments", "deployment", "checkout", "severity", "Sev 1!",
                          "team", "", "job", "kube-state-metrics");
    f->annotations = json_pack("{s:s,s:s}", "summary", "Deployment has not matched replicas.",
                               "runbook_url", "");
    if (!f->labels || !f->annotations)
        return -1;
    gw_signal *s = &f->sig;
    s->name = "KubeDeploymentReplicasMismatch";
    s->severity = "Sev 1!";
    s->source = "prometheus";
    s->cluster = "prod-eu";
    s->target = (gw_target){ "Deployment", "checkout", "payments", "apps/v1" };
    s->labels = f->labels;
    s->annotations = f->annotations;
    s->firing_time = "2026-11-23T10:41:30.123Z";
    memcpy(s->fingerprint, FP, 65);
    f->in = (gw_rr_input){ .sig = s,
                           .name = "rr-80bdc2443600-0a1b2c3d",
                           .namespace_ = "kubernaut-system",
                           .environment = "production",
                           .priority = "P0",
                           .received_ms = RECEIVED_MS,
                           .raw = RAW,
                           .raw_len = strlen(RAW) };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    json_decref(f->rr);
    json_decref(f->labels);
    json_decref(f->annotations);
    gw_config_free(&f->cfg);
    free(f);
    return 0;
}

static json_t *build(fixture *f)
{
    json_decref(f->rr);
    f->rr = gw_rr_build(&f->cfg, &f->in);
    assert_non_null(f->rr);
    return f->rr;
}

/* The value at a dotted path ("spec.targetResource.kind"); keys containing
 * dots (labels) are looked up with at(). */
static json_t *path(json_t *j, const char *p)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", p);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k && j; k = strtok_r(NULL, ".", &save))
        j = json_object_get(j, k);
    return j;
}

static const char *str_at(json_t *j, const char *p)
{
    const char *v = json_string_value(path(j, p));
    if (!v)
        fail_msg("no string at %s", p);
    return v;
}

static const char *member(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    if (!v)
        fail_msg("no string member \"%s\"", key);
    return v;
}

/* Fails if any string anywhere in j is empty: the apiserver answers 422 to
 * "" in constrained fields, so the builder must omit instead. */
static void assert_no_empty_strings(json_t *j, const char *where)
{
    if (json_is_string(j)) {
        if (json_string_length(j) == 0)
            fail_msg("empty string at %s", where);
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            if (!*k)
                fail_msg("empty key in %s", where);
            assert_no_empty_strings(v, k);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) assert_no_empty_strings(v, where);
    }
}

/* ------------------------------------------------------------------ tests */

static void envelope_and_metadata(void **state)
{
    fixture *f = *state;
    json_t *rr = build(f);
    assert_string_equal(str_at(rr, "apiVersion"), "kubernaut.ai/v1alpha1");
    assert_string_equal(str_at(rr, "kind"), "RemediationRequest");
    assert_string_equal(str_at(rr, "metadata.name"), "rr-80bdc2443600-0a1b2c3d");
    assert_string_equal(str_at(rr, "metadata.namespace"), "kubernaut-system");

    json_t *labels = path(rr, "metadata.labels");
    assert_true(json_is_object(labels));
    assert_string_equal(member(labels, "app.kubernetes.io/managed-by"), "alertgw");
    assert_string_equal(member(labels, "app.kubernetes.io/component"), "remediation");
    assert_string_equal(member(labels, "kubernaut.ai/fingerprint"),
                        "80bdc2443600ac3d095f3ad6367628d2ae4c4feef258313f70c2ab1753701f9");
    assert_int_equal(strlen(member(labels, "kubernaut.ai/fingerprint")), 63);
    assert_string_equal(member(labels, "kubernaut.ai/environment"), "production");
    assert_string_equal(member(labels, "kubernaut.ai/priority"), "P0");
    assert_string_equal(member(labels, "kubernaut.ai/severity"), "Sev_1");
    assert_null(json_object_get(labels, "kubernaut.ai/storm"));
    assert_int_equal(json_object_size(labels), 6);

    json_t *ann = path(rr, "metadata.annotations");
    assert_string_equal(member(ann, "kubernaut.ai/created-at"), "2026-11-23T10:41:40.000Z");
    assert_null(json_object_get(ann, "kubernaut.ai/original-payload-truncated"));
    assert_no_empty_strings(rr, "rr");
}

static void required_spec_fields(void **state)
{
    fixture *f = *state;
    json_t *rr = build(f);
    json_t *spec = path(rr, "spec");
    assert_string_equal(member(spec, "signalFingerprint"), FP);
    assert_string_equal(member(spec, "signalName"), "KubeDeploymentReplicasMismatch");
    /* the raw severity; only the label is sanitised */
    assert_string_equal(member(spec, "severity"), "Sev 1!");
    assert_string_equal(member(spec, "signalType"), "alert");
    assert_string_equal(member(spec, "signalSource"), "prometheus");
    assert_string_equal(member(spec, "targetType"), "kubernetes");
    assert_string_equal(member(spec, "firingTime"), "2026-11-23T10:41:30.123Z");
    assert_string_equal(member(spec, "receivedTime"), "2026-11-23T10:41:40.000Z");
    assert_string_equal(member(spec, "clusterID"), "prod-eu");
    assert_string_equal(member(spec, "environment"), "production");
    assert_string_equal(member(spec, "priority"), "P0");
    long long ms;
    assert_true(gw_parse_rfc3339(member(spec, "receivedTime"), &ms));
    assert_int_equal(ms, RECEIVED_MS);
    assert_true(gw_parse_rfc3339(member(spec, "firingTime"), &ms));

    json_t *tr = json_object_get(spec, "targetResource");
    assert_string_equal(member(tr, "kind"), "Deployment");
    assert_string_equal(member(tr, "name"), "checkout");
    assert_string_equal(member(tr, "namespace"), "payments");
    assert_string_equal(member(tr, "apiVersion"), "apps/v1");
    assert_int_equal(json_object_size(tr), 4);
}

static void node_target_has_no_namespace(void **state)
{
    fixture *f = *state;
    f->sig.target = (gw_target){ "Node", "worker-1", "", "v1" };
    json_t *rr = build(f);
    json_t *tr = path(rr, "spec.targetResource");
    assert_string_equal(member(tr, "kind"), "Node");
    assert_string_equal(member(tr, "name"), "worker-1");
    assert_null(json_object_get(tr, "namespace"));
    assert_int_equal(json_object_size(tr), 3);

    json_t *pd = json_loads(str_at(rr, "spec.providerData"), 0, NULL);
    assert_non_null(pd);
    assert_null(json_object_get(pd, "namespace"));
    json_decref(pd);
    assert_no_empty_strings(rr, "rr");
}

static void empty_values_omitted(void **state)
{
    fixture *f = *state;
    json_t *empty = json_object();
    f->sig.cluster = "";
    f->sig.source = NULL;
    f->sig.target = (gw_target){ "Unknown", "Watchdog", "", "" };
    f->sig.firing_time = "";
    f->sig.labels = empty;
    f->sig.annotations = NULL;
    f->in.environment = "";
    f->in.priority = "";
    f->in.raw = NULL;
    f->in.raw_len = 0;
    json_t *rr = build(f);
    json_decref(empty);
    json_t *spec = path(rr, "spec");
    assert_null(json_object_get(spec, "clusterID"));
    assert_null(json_object_get(spec, "signalSource"));
    assert_null(json_object_get(spec, "signalLabels"));
    assert_null(json_object_get(spec, "signalAnnotations"));
    assert_null(json_object_get(spec, "originalPayload"));
    assert_null(json_object_get(spec, "environment"));
    assert_null(json_object_get(spec, "priority"));
    assert_null(path(spec, "targetResource.apiVersion"));
    assert_null(path(spec, "targetResource.namespace"));
    assert_null(json_object_get(path(rr, "metadata.labels"), "kubernaut.ai/environment"));
    assert_null(json_object_get(path(rr, "metadata.labels"), "kubernaut.ai/priority"));
    /* no firing time: the received time stands in (firingTime is required) */
    assert_string_equal(member(spec, "firingTime"), "2026-11-23T10:41:40.000Z");
    assert_no_empty_strings(rr, "rr");
}

static void unparseable_firing_time_falls_back(void **state)
{
    fixture *f = *state;
    f->sig.firing_time = "yesterday";
    json_t *rr = build(f);
    assert_string_equal(str_at(rr, "spec.firingTime"), "2026-11-23T10:41:40.000Z");
    /* an offset is normalised to UTC */
    f->sig.firing_time = "2026-11-23T11:41:30.5+01:00";
    rr = build(f);
    assert_string_equal(str_at(rr, "spec.firingTime"), "2026-11-23T10:41:30.500Z");
}

static void severity_label_sanitised_or_dropped(void **state)
{
    fixture *f = *state;
    f->sig.severity = "critical";
    json_t *rr = build(f);
    assert_string_equal(member(path(rr, "metadata.labels"), "kubernaut.ai/severity"), "critical");
    f->sig.severity = " P1 / page ";
    rr = build(f);
    assert_string_equal(member(path(rr, "metadata.labels"), "kubernaut.ai/severity"), "P1___page");
    f->sig.severity = "!!!";
    rr = build(f);
    assert_null(json_object_get(path(rr, "metadata.labels"), "kubernaut.ai/severity"));
    assert_string_equal(str_at(rr, "spec.severity"), "!!!");
}

static void signal_labels_and_annotations(void **state)
{
    fixture *f = *state;
    json_t *rr = build(f);
    json_t *sl = path(rr, "spec.signalLabels");
    assert_true(json_is_object(sl));
    assert_string_equal(member(sl, "alertname"), "KubeDeploymentReplicasMismatch");
    assert_string_equal(member(sl, "deployment"), "checkout");
    assert_string_equal(member(sl, "severity"), "Sev 1!");
    assert_null(json_object_get(sl, "team")); /* "" dropped */
    assert_int_equal(json_object_size(sl), 5);

    json_t *sa = path(rr, "spec.signalAnnotations");
    assert_string_equal(member(sa, "summary"), "Deployment has not matched replicas.");
    assert_null(json_object_get(sa, "runbook_url"));
    assert_int_equal(json_object_size(sa), 1);
}

static void signal_labels_cut_at_utf8_boundary(void **state)
{
    fixture *f = *state;
    char e64[65 * 2], euro[128], exact[64], ascii[101];
    /* 32 x "é" = 64 bytes: the 63-byte cut would split the last one */
    e64[0] = '\0';
    for (int i = 0; i < 32; i++)
        strcat(e64, "\xc3\xa9");
    /* "a" + 21 x "€" = 64 bytes: cut lands inside the last euro sign */
    strcpy(euro, "a");
    for (int i = 0; i < 21; i++)
        strcat(euro, "\xe2\x82\xac");
    /* 21 x "€" = 63 bytes exactly: kept whole */
    exact[0] = '\0';
    for (int i = 0; i < 21; i++)
        strcat(exact, "\xe2\x82\xac");
    memset(ascii, 'x', 100);
    ascii[100] = '\0';
    json_object_set_new(f->labels, "e64", json_string(e64));
    json_object_set_new(f->labels, "euro", json_string(euro));
    json_object_set_new(f->labels, "exact", json_string(exact));
    json_object_set_new(f->labels, "ascii", json_string(ascii));

    json_t *rr = build(f);
    json_t *sl = path(rr, "spec.signalLabels");
    const char *v = member(sl, "e64");
    assert_int_equal(strlen(v), 62);
    assert_memory_equal(v, e64, 62);
    v = member(sl, "euro");
    assert_int_equal(strlen(v), 61);
    assert_memory_equal(v, euro, 61);
    assert_string_equal(member(sl, "exact"), exact);
    v = member(sl, "ascii");
    assert_int_equal(strlen(v), 63);

    /* annotations are not cut to 63 */
    json_object_set_new(f->annotations, "description", json_string(ascii));
    rr = build(f);
    assert_int_equal(strlen(member(path(rr, "spec.signalAnnotations"), "description")), 100);
}

static void provider_data_is_a_json_string(void **state)
{
    fixture *f = *state;
    json_t *rr = build(f);
    json_t *pds = path(rr, "spec.providerData");
    assert_true(json_is_string(pds));
    json_error_t jerr;
    json_t *pd = json_loads(json_string_value(pds), JSON_REJECT_DUPLICATES, &jerr);
    if (!pd)
        fail_msg("providerData is not JSON: %s", jerr.text);
    assert_string_equal(member(pd, "namespace"), "payments");
    assert_string_equal(member(pd, "environment"), "production");
    assert_string_equal(member(pd, "priority"), "P0");
    json_t *labels = json_object_get(pd, "labels");
    assert_true(json_is_object(labels));
    assert_string_equal(member(labels, "deployment"), "checkout");
    assert_null(json_object_get(labels, "team"));
    assert_true(json_equal(labels, path(rr, "spec.signalLabels")));
    json_decref(pd);
}

static void original_payload_small(void **state)
{
    fixture *f = *state;
    json_t *rr = build(f);
    json_t *op = path(rr, "spec.originalPayload");
    assert_true(json_is_string(op));
    assert_int_equal(json_string_length(op), strlen(RAW));
    assert_string_equal(json_string_value(op), RAW);

    /* exactly at the cap: not cut */
    f->cfg.rr_original_payload_max = (long)strlen(RAW);
    rr = build(f);
    assert_string_equal(str_at(rr, "spec.originalPayload"), RAW);
    assert_null(json_object_get(path(rr, "metadata.annotations"),
                                "kubernaut.ai/original-payload-truncated"));
}

static void original_payload_cut_and_marked(void **state)
{
    fixture *f = *state;
    /* 10 ASCII bytes then euro signs: a cap of 64 lands inside one */
    char raw[256] = "{\"x\":\"abc";
    while (strlen(raw) < 200)
        strcat(raw, "\xe2\x82\xac");
    strcat(raw, "\"}");
    f->in.raw = raw;
    f->in.raw_len = strlen(raw);
    f->cfg.rr_original_payload_max = 64;
    json_t *rr = build(f);

    const char *op = str_at(rr, "spec.originalPayload");
    static const char mark[] = "...[truncated]";
    size_t n = strlen(op);
    assert_true(n > strlen(mark));
    size_t kept = n - strlen(mark);
    assert_true(kept <= 64);
    assert_true(kept >= 62); /* backs off at most one partial character */
    assert_string_equal(op + kept, mark);
    assert_memory_equal(op, raw, kept);
    /* ends on a whole euro sign */
    assert_int_equal((kept - 9) % 3, 0);
    assert_string_equal(member(path(rr, "metadata.annotations"),
                               "kubernaut.ai/original-payload-truncated"),
                        "true");
    /* the rest of the object is unaffected */
    assert_string_equal(str_at(rr, "spec.signalFingerprint"), FP);
}

/* One alert's originalPayload: the group's known fields and that alert,
 * nothing of the batch's other alerts and nothing alertgw does not know. */
static void alert_payload_is_the_alerts_own_part(void **state)
{
    (void)state;
    json_t *root = json_loads(
        "{\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"A\\\"}\",\"status\":\"firing\","
        "\"receiver\":\"r\",\"groupLabels\":{\"alertname\":\"A\"},\"commonLabels\":{},"
        "\"externalURL\":\"http://am\",\"junk\":[1,2,3],"
        "\"alerts\":[{\"labels\":{\"namespace\":\"team-a\",\"pod\":\"p1\"}},"
        "{\"labels\":{\"namespace\":\"team-b\",\"pod\":\"secret-b\"}}]}", 0, NULL);
    assert_non_null(root);
    json_t *second = json_array_get(json_object_get(root, "alerts"), 1);
    char *p = gw_rr_alert_payload(root, second);
    assert_non_null(p);
    json_t *got = json_loads(p, 0, NULL);
    assert_non_null(got);
    assert_int_equal(json_array_size(json_object_get(got, "alerts")), 1);
    assert_true(json_equal(json_array_get(json_object_get(got, "alerts"), 0), second));
    assert_string_equal(json_string_value(json_object_get(got, "receiver")), "r");
    assert_string_equal(json_string_value(json_object_get(got, "groupKey")), "{}:{alertname=\"A\"}");
    assert_null(json_object_get(got, "junk"));
    assert_null(strstr(p, "team-a"));
    assert_null(strstr(p, "p1"));
    json_decref(got);
    gw_json_free(p);
    json_decref(root);
}

static void group_version_kind_from_config(void **state)
{
    fixture *f = *state;
    free(f->cfg.rr_group);
    free(f->cfg.rr_version);
    free(f->cfg.rr_kind);
    f->cfg.rr_group = strdup("remediation.kubernaut.io");
    f->cfg.rr_version = strdup("v1");
    f->cfg.rr_kind = strdup("Remediation");
    json_t *rr = build(f);
    assert_string_equal(str_at(rr, "apiVersion"), "remediation.kubernaut.io/v1");
    assert_string_equal(str_at(rr, "kind"), "Remediation");
}

static void namespace_from_input(void **state)
{
    fixture *f = *state;
    f->in.namespace_ = "payments"; /* namespace_mode: signal */
    json_t *rr = build(f);
    assert_string_equal(str_at(rr, "metadata.namespace"), "payments");
}

static void name_format(void **state)
{
    (void)state;
    char out[64];
    memset(out, 'Z', sizeof out);
    const unsigned char rnd[4] = { 0x0a, 0x1b, 0xc2, 0xff };
    gw_rr_name(FP, rnd, out);
    assert_string_equal(out, "rr-80bdc2443600-0a1bc2ff");
    assert_int_equal(strlen(out), 24);
    assert_int_equal(out[25], 'Z'); /* writes 25 bytes, no more */
    assert_true(gw_is_dns_subdomain(out));

    const unsigned char zero[4] = { 0, 0, 0, 0 };
    gw_rr_name("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", zero, out);
    assert_string_equal(out, "rr-0123456789ab-00000000");
}

/* An aggregate: the storm label and annotations; ordinary requests have none. */
static void storm_aggregate_marks(void **state)
{
    fixture *f = *state;
    json_t *meta = json_object_get(build(f), "metadata");
    assert_null(json_object_get(json_object_get(meta, "labels"), "kubernaut.ai/storm"));
    assert_null(json_object_get(json_object_get(meta, "annotations"), "kubernaut.ai/storm-type"));
    f->in.storm_type = "pattern";
    f->in.storm_resources = "Pod/a,Pod/b";
    f->in.storm_total = 140;
    meta = json_object_get(build(f), "metadata");
    json_t *ann = json_object_get(meta, "annotations");
    assert_string_equal(json_string_value(json_object_get(json_object_get(meta, "labels"),
                                                          "kubernaut.ai/storm")), "true");
    assert_string_equal(json_string_value(json_object_get(ann, "kubernaut.ai/storm-type")),
                        "pattern");
    assert_string_equal(json_string_value(json_object_get(ann, "kubernaut.ai/storm-resources")),
                        "Pod/a,Pod/b");
    /* annotation values are strings, the total included */
    assert_string_equal(json_string_value(json_object_get(ann,
                                                          "kubernaut.ai/storm-resource-count")),
                        "140");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(envelope_and_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(storm_aggregate_marks, setup, teardown),
        cmocka_unit_test_setup_teardown(required_spec_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(node_target_has_no_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_values_omitted, setup, teardown),
        cmocka_unit_test_setup_teardown(unparseable_firing_time_falls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(severity_label_sanitised_or_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(signal_labels_and_annotations, setup, teardown),
        cmocka_unit_test_setup_teardown(signal_labels_cut_at_utf8_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(provider_data_is_a_json_string, setup, teardown),
        cmocka_unit_test_setup_teardown(original_payload_small, setup, teardown),
        cmocka_unit_test_setup_teardown(original_payload_cut_and_marked, setup, teardown),
        cmocka_unit_test_setup_teardown(group_version_kind_from_config, setup, teardown),
        cmocka_unit_test(alert_payload_is_the_alerts_own_part),
        cmocka_unit_test_setup_teardown(namespace_from_input, setup, teardown),
        cmocka_unit_test(name_format),
    };
    return cmocka_run_group_tests_name("rr", tests, NULL, NULL);
}

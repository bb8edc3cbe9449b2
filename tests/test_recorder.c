/* SPDX-License-Identifier: Apache-2.0 */
/* test_recorder.c - unit tests for the pure parts of core/recorder.c: the
 * Event names, the Event a POST sends and the patch of an existing one,
 * the Deduplicated count, the uid read from an apiserver answer, and that
 * recording.events: false writes nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "recorder.h"
#include "testutil.h"

#define UID "6f1c2d3e-0a1b-4c5d-8e9f-0123456789ab"
#define AT 1795430500000LL /* 2026-11-23T10:41:40.000Z */

static gw_config cfg;

static int setup(void **state)
{
    (void)state;
    clear_alertgw_env();
    return gw_config_defaults(&cfg) == GW_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    gw_config_free(&cfg);
    return 0;
}

static void test_reason_names(void **state)
{
    (void)state;
    assert_string_equal(gw_event_reason_name(GW_EV_CREATED), "Created");
    assert_string_equal(gw_event_reason_name(GW_EV_DEDUPLICATED), "Deduplicated");
    assert_string_equal(gw_event_reason_name(GW_EV_STORM_MEMBER), "StormMember");
    assert_string_equal(gw_event_reason_name(GW_EV_ESCALATED), "Escalated");
    assert_string_equal(gw_event_reason_name(GW_EV_RESOLVED), "Resolved");
    assert_string_equal(gw_event_reason_name(GW_EV_REOPENED), "Reopened");
    assert_string_equal(gw_event_reason_name(GW_EV_FLAP_ABSORBED), "FlapAbsorbed");
    assert_string_equal(gw_event_reason_name(GW_EV_N), "");
}

static void test_event_names(void **state)
{
    (void)state;
    char name[GW_EV_NAME_MAX];
    gw_event_name("rr-80bdc2443600-0a1b2c3d", GW_EV_DEDUPLICATED, name);
    assert_string_equal(name, "rr-80bdc2443600-0a1b2c3d.deduplicated");
    gw_event_name("rr-80bdc2443600-0a1b2c3d", GW_EV_STORM_MEMBER, name);
    assert_string_equal(name, "rr-80bdc2443600-0a1b2c3d.stormmember");
    /* deterministic: the same request and reason, the same name */
    char again[GW_EV_NAME_MAX];
    gw_event_name("rr-80bdc2443600-0a1b2c3d", GW_EV_STORM_MEMBER, again);
    assert_string_equal(name, again);

    /* a request name of another producer, too long for ".<reason>": hashed */
    char longname[254];
    memset(longname, 'a', 253);
    longname[253] = '\0';
    gw_event_name(longname, GW_EV_REOPENED, name);
    assert_int_equal(strlen(name), strlen("alertgw-") + 32 + strlen(".reopened"));
    assert_memory_equal(name, "alertgw-", 8);
    assert_contains(name, ".reopened");
    assert_true(strlen(name) <= 253);
    longname[252] = 'b'; /* another request: another name */
    gw_event_name(longname, GW_EV_REOPENED, again);
    assert_string_not_equal(name, again);
    /* the longest name that still fits as is */
    memset(longname, 'a', 253);
    longname[253 - strlen(".created")] = '\0';
    gw_event_name(longname, GW_EV_CREATED, name);
    assert_int_equal(strlen(name), 253);
    assert_memory_equal(name, longname, strlen(longname));
}

static void test_event_object(void **state)
{
    (void)state;
    gw_event ev = { GW_EV_DEDUPLICATED, "kubernaut-system", "rr-80bdc2443600-0a1b2c3d", UID, 41,
                    AT, "41 duplicates" };
    json_t *o = gw_event_object(&cfg, "gw-host-1", &ev);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "apiVersion")), "v1");
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "Event");
    json_t *meta = json_object_get(o, "metadata");
    assert_string_equal(json_string_value(json_object_get(meta, "name")),
                        "rr-80bdc2443600-0a1b2c3d.deduplicated");
    assert_string_equal(json_string_value(json_object_get(meta, "namespace")), "kubernaut-system");
    json_t *inv = json_object_get(o, "involvedObject");
    assert_string_equal(json_string_value(json_object_get(inv, "apiVersion")),
                        "kubernaut.ai/v1alpha1");
    assert_string_equal(json_string_value(json_object_get(inv, "kind")), "RemediationRequest");
    assert_string_equal(json_string_value(json_object_get(inv, "name")),
                        "rr-80bdc2443600-0a1b2c3d");
    assert_string_equal(json_string_value(json_object_get(inv, "namespace")), "kubernaut-system");
    assert_string_equal(json_string_value(json_object_get(inv, "uid")), UID);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "Deduplicated");
    assert_string_equal(json_string_value(json_object_get(o, "message")), "41 duplicates");
    assert_string_equal(json_string_value(json_object_get(o, "type")), "Normal");
    assert_int_equal(json_integer_value(json_object_get(o, "count")), 41);
    assert_string_equal(json_string_value(json_object_get(o, "firstTimestamp")),
                        json_string_value(json_object_get(o, "lastTimestamp")));
    assert_memory_equal(json_string_value(json_object_get(o, "lastTimestamp")),
                        "2026-11-23T10:41:40", 19);
    json_t *src = json_object_get(o, "source");
    assert_string_equal(json_string_value(json_object_get(src, "component")), "alertgw");
    assert_string_equal(json_string_value(json_object_get(src, "host")), "gw-host-1");
    assert_string_equal(json_string_value(json_object_get(o, "reportingComponent")), "alertgw");
    assert_string_equal(json_string_value(json_object_get(o, "reportingInstance")), "gw-host-1");
    /* no eventTime: a core/v1 Event of the count/lastTimestamp kind */
    assert_null(json_object_get(o, "eventTime"));
    json_decref(o);
}

static void test_event_object_configured_kind_and_unknown_uid(void **state)
{
    (void)state;
    gw_config c;
    assert_int_equal(gw_config_defaults(&c), GW_OK);
    free(c.rr_group);
    c.rr_group = strdup("remediation.kubernaut.io");
    free(c.rr_version);
    c.rr_version = strdup("v1");
    gw_event ev = { GW_EV_CREATED, "prod", "rr-1", NULL, 0, AT, "made" };
    json_t *o = gw_event_object(&c, "", &ev);
    assert_non_null(o);
    json_t *inv = json_object_get(o, "involvedObject");
    assert_string_equal(json_string_value(json_object_get(inv, "apiVersion")),
                        "remediation.kubernaut.io/v1");
    assert_null(json_object_get(inv, "uid")); /* unknown: left out, never "" */
    assert_int_equal(json_integer_value(json_object_get(o, "count")), 1); /* at least 1 */
    /* no host name: the component stands in for the instance */
    assert_string_equal(json_string_value(json_object_get(o, "reportingInstance")), "alertgw");
    assert_null(json_object_get(json_object_get(o, "source"), "host"));
    json_decref(o);
    gw_config_free(&c);
}

static void test_message_is_cleaned_and_capped(void **state)
{
    (void)state;
    char msg[3000];
    memset(msg, 'x', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    msg[5] = '\n';
    msg[6] = (char)0xff; /* not UTF-8 */
    gw_event ev = { GW_EV_RESOLVED, "prod", "rr-1", UID, 1, AT, msg };
    json_t *o = gw_event_object(&cfg, "h", &ev);
    assert_non_null(o);
    const char *m = json_string_value(json_object_get(o, "message"));
    assert_non_null(m);
    assert_true(strlen(m) <= GW_EV_MESSAGE_MAX);
    assert_null(strchr(m, '\n'));
    json_decref(o);
    json_t *p = gw_event_patch(&ev);
    assert_non_null(p);
    assert_true(strlen(json_string_value(json_object_get(p, "message"))) <= GW_EV_MESSAGE_MAX);
    json_decref(p);
}

static void test_event_patch(void **state)
{
    (void)state;
    gw_event ev = { GW_EV_DEDUPLICATED, "prod", "rr-1", UID, 199, AT + 5000, "199 duplicates" };
    json_t *p = gw_event_patch(&ev);
    assert_non_null(p);
    /* absolute values only: applying it twice is applying it once */
    assert_int_equal(json_object_size(p), 3);
    assert_int_equal(json_integer_value(json_object_get(p, "count")), 199);
    assert_memory_equal(json_string_value(json_object_get(p, "lastTimestamp")),
                        "2026-11-23T10:41:45", 19);
    assert_string_equal(json_string_value(json_object_get(p, "message")), "199 duplicates");
    assert_null(json_object_get(p, "firstTimestamp"));
    json_decref(p);
}

static void test_duplicates_of_a_sync(void **state)
{
    (void)state;
    /* the create's own sync (one occurrence) records nothing */
    assert_int_equal(gw_event_duplicates(1), 0);
    assert_int_equal(gw_event_duplicates(0), 0);
    assert_int_equal(gw_event_duplicates(-1), 0);
    assert_int_equal(gw_event_duplicates(2), 1);
    assert_int_equal(gw_event_duplicates(201), 200);
}

static void test_uid_of(void **state)
{
    (void)state;
    char uid[64];
    const char *obj = "{\"kind\":\"RemediationRequest\",\"metadata\":{\"name\":\"rr-1\","
                      "\"uid\":\"" UID "\",\"ownerReferences\":[{\"uid\":\"other\"}]}}";
    assert_true(gw_event_uid_of(obj, strlen(obj), uid));
    assert_string_equal(uid, UID);
    const char *none = "{\"metadata\":{\"name\":\"rr-1\"}}";
    assert_false(gw_event_uid_of(none, strlen(none), uid));
    assert_string_equal(uid, "");
    const char *bad = "{\"metadata\":{\"uid\":\"../../x\"}}";
    assert_false(gw_event_uid_of(bad, strlen(bad), uid));
    assert_false(gw_event_uid_of("{not json", 9, uid));
    assert_false(gw_event_uid_of(NULL, 0, uid));
    const char *num = "{\"metadata\":{\"uid\":42}}";
    assert_false(gw_event_uid_of(num, strlen(num), uid));
}

static void test_disabled_writes_nothing(void **state)
{
    (void)state;
    gw_config c;
    assert_int_equal(gw_config_defaults(&c), GW_OK);
    assert_true(c.recording_events); /* on by default */
    c.recording_events = false;
    gw_recorder r;
    /* no kube client at all: a write would crash, so none may happen */
    gw_recorder_init(&r, &c, NULL, NULL, NULL, GW_LOG_ERROR);
    gw_event ev = { GW_EV_CREATED, "prod", "rr-1", UID, 1, AT, "made" };
    assert_int_equal(gw_record(&r, NULL, &ev), GW_OK);
    gw_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_event_names),
        cmocka_unit_test(test_event_object),
        cmocka_unit_test(test_event_object_configured_kind_and_unknown_uid),
        cmocka_unit_test(test_message_is_cleaned_and_capped),
        cmocka_unit_test(test_event_patch),
        cmocka_unit_test(test_duplicates_of_a_sync),
        cmocka_unit_test(test_uid_of),
        cmocka_unit_test(test_disabled_writes_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

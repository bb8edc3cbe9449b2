/* SPDX-License-Identifier: Apache-2.0 */
/* test_rrphase.c - unit tests for core/rrphase.c: when an existing
 * RemediationRequest still takes its fingerprint's signals (upstream
 * Kubernaut's rules: a non-terminal phase, ManualReviewRequired, a
 * nextAllowedExecution ahead), and which of several is chosen. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "rrphase.h"

#define FP  "80bdc2443600ac3d095f3ad6367628d2ae4c4feef258313f70c2ab1753701f95"
#define FP2 "0000000000000000000000000000000000000000000000000000000000000000"
#define NOW 1795430500000LL /* 2026-11-23T10:41:40.000Z */
#define AHEAD "2026-11-23T10:51:40Z"  /* NOW + 10 min */
#define LATER "2026-11-23T11:41:40Z"  /* NOW + 1 h */
#define PAST  "2026-11-23T10:41:39Z"  /* NOW - 1 s */

/* A request named name with fingerprint fp (NULL: none) and the status
 * given as JSON text (NULL: no status). */
static json_t *rr(const char *name, const char *fp, const char *status)
{
    json_t *o = json_pack("{s:{s:s},s:{}}", "metadata", "name", name, "spec");
    assert_non_null(o);
    if (fp)
        json_object_set_new(json_object_get(o, "spec"), "signalFingerprint", json_string(fp));
    if (status) {
        json_t *st = json_loads(status, 0, NULL);
        assert_non_null(st);
        json_object_set_new(o, "status", st);
    }
    return o;
}

static gw_rr_open state_of(const char *status, long long *until)
{
    json_t *o = rr("a", FP, status);
    gw_rr_open s = gw_rr_state(o, NOW, until);
    json_decref(o);
    return s;
}

static void test_terminal_phases(void **state)
{
    (void)state;
    const char *terminal[] = { "Completed", "Failed", "TimedOut", "Skipped", "Cancelled" };
    const char *open[] = { "Pending", "Processing", "Analyzing", "AwaitingApproval", "Executing",
                           "Verifying", "Blocked", "", "completed" };
    char status[64];
    /* a terminal phase alone closes the request; any other keeps it open */
    for (size_t i = 0; i < sizeof terminal / sizeof *terminal; i++) {
        snprintf(status, sizeof status, "{\"overallPhase\":\"%s\"}", terminal[i]);
        assert_int_equal(state_of(status, NULL), GW_RR_CLOSED);
    }
    for (size_t i = 0; i < sizeof open / sizeof *open; i++) {
        snprintf(status, sizeof status, "{\"overallPhase\":\"%s\"}", open[i]);
        assert_int_equal(state_of(status, NULL), GW_RR_ACTIVE);
    }
    assert_int_equal(state_of("{}", NULL), GW_RR_ACTIVE); /* no phase yet */
}

static void test_non_terminal_is_active(void **state)
{
    (void)state;
    long long until = -1;
    assert_int_equal(state_of(NULL, &until), GW_RR_ACTIVE); /* no status yet */
    assert_int_equal(until, 0);
    assert_int_equal(state_of("{\"overallPhase\":\"Executing\"}", NULL), GW_RR_ACTIVE);
    assert_int_equal(state_of("{\"overallPhase\":\"Blocked\"}", NULL), GW_RR_ACTIVE);
    /* a phase of the wrong type is no phase */
    assert_int_equal(state_of("{\"overallPhase\":7}", NULL), GW_RR_ACTIVE);
}

static void test_plain_terminal_is_closed(void **state)
{
    (void)state;
    assert_int_equal(state_of("{\"overallPhase\":\"Completed\"}", NULL), GW_RR_CLOSED);
    assert_int_equal(state_of("{\"overallPhase\":\"Failed\",\"completionStatus\":"
                              "{\"outcome\":\"Remediated\"}}", NULL), GW_RR_CLOSED);
}

static void test_manual_review(void **state)
{
    (void)state;
    assert_int_equal(state_of("{\"overallPhase\":\"Failed\",\"completionStatus\":"
                              "{\"outcome\":\"ManualReviewRequired\"}}", NULL),
                     GW_RR_MANUAL_REVIEW);
    assert_int_equal(state_of("{\"overallPhase\":\"Completed\",\"completionStatus\":"
                              "{\"outcome\":\"ManualReviewRequired\"}}", NULL),
                     GW_RR_MANUAL_REVIEW);
    /* upstream's older flat field is not the rule's */
    assert_int_equal(state_of("{\"overallPhase\":\"Failed\",\"outcome\":\"ManualReviewRequired\"}",
                              NULL), GW_RR_CLOSED);
    assert_int_equal(state_of("{\"overallPhase\":\"Failed\",\"completionStatus\":"
                              "{\"outcome\":\"manualreviewrequired\"}}", NULL), GW_RR_CLOSED);
}

static void test_backoff(void **state)
{
    (void)state;
    long long until = 0;
    assert_int_equal(state_of("{\"overallPhase\":\"Failed\",\"routingStatus\":"
                              "{\"nextAllowedExecution\":\"" AHEAD "\"}}", &until),
                     GW_RR_BACKOFF);
    assert_int_equal(until, NOW + 600000);
    /* passed, or exactly now: closed */
    assert_int_equal(state_of("{\"overallPhase\":\"Failed\",\"routingStatus\":"
                              "{\"nextAllowedExecution\":\"" PAST "\"}}", &until), GW_RR_CLOSED);
    assert_int_equal(until, 0);
    assert_int_equal(state_of("{\"overallPhase\":\"Skipped\",\"routingStatus\":"
                              "{\"nextAllowedExecution\":\"2026-11-23T10:41:40Z\"}}", NULL),
                     GW_RR_CLOSED);
    /* garbage, or the wrong type, never holds a request open */
    assert_int_equal(state_of("{\"overallPhase\":\"Failed\",\"routingStatus\":"
                              "{\"nextAllowedExecution\":\"tomorrow\"}}", NULL), GW_RR_CLOSED);
    assert_int_equal(state_of("{\"overallPhase\":\"Failed\",\"routingStatus\":"
                              "{\"nextAllowedExecution\":1895430500}}", NULL), GW_RR_CLOSED);
    assert_int_equal(state_of("{\"overallPhase\":\"Failed\",\"routingStatus\":\"" AHEAD "\"}",
                              NULL), GW_RR_CLOSED);
    /* an offset is honoured: 10:51:40+01:00 is 09:51:40Z, passed */
    assert_int_equal(state_of("{\"overallPhase\":\"Failed\",\"routingStatus\":"
                              "{\"nextAllowedExecution\":\"2026-11-23T10:51:40+01:00\"}}", NULL),
                     GW_RR_CLOSED);
    /* a non-terminal request is active whatever its backoff says */
    assert_int_equal(state_of("{\"overallPhase\":\"Blocked\",\"routingStatus\":"
                              "{\"nextAllowedExecution\":\"" AHEAD "\"}}", &until), GW_RR_ACTIVE);
    assert_int_equal(until, 0);
}

static void test_being_deleted_is_closed(void **state)
{
    (void)state;
    json_t *o = rr("a", FP, "{\"overallPhase\":\"Executing\"}");
    json_object_set_new(json_object_get(o, "metadata"), "deletionTimestamp",
                        json_string("2026-11-23T10:41:00Z"));
    assert_int_equal(gw_rr_state(o, NOW, NULL), GW_RR_CLOSED);
    json_decref(o);
    assert_int_equal(gw_rr_state(NULL, NOW, NULL), GW_RR_CLOSED);
    json_t *s = json_string("x");
    assert_int_equal(gw_rr_state(s, NOW, NULL), GW_RR_CLOSED);
    json_decref(s);
}

static void test_prefer(void **state)
{
    (void)state;
    assert_true(gw_rr_prefer(GW_RR_ACTIVE, 0, GW_RR_MANUAL_REVIEW, 0));
    assert_true(gw_rr_prefer(GW_RR_MANUAL_REVIEW, 0, GW_RR_BACKOFF, NOW + 1));
    assert_true(gw_rr_prefer(GW_RR_BACKOFF, NOW + 1, GW_RR_CLOSED, 0));
    assert_false(gw_rr_prefer(GW_RR_BACKOFF, NOW + 9, GW_RR_ACTIVE, 0));
    assert_true(gw_rr_prefer(GW_RR_BACKOFF, NOW + 2, GW_RR_BACKOFF, NOW + 1));
    assert_false(gw_rr_prefer(GW_RR_BACKOFF, NOW + 1, GW_RR_BACKOFF, NOW + 1)); /* first stays */
    assert_false(gw_rr_prefer(GW_RR_ACTIVE, 0, GW_RR_ACTIVE, 0));
    assert_false(gw_rr_prefer(GW_RR_CLOSED, 0, GW_RR_CLOSED, 0));
}

static const char *pick_name(json_t *items, const char *fp, bool need_fp, gw_rr_open *s,
                             long long *until)
{
    json_t *it = gw_rr_pick(items, fp, need_fp, NOW, s, until);
    return it ? json_string_value(json_object_get(json_object_get(it, "metadata"), "name")) : NULL;
}

static void test_pick_latest_backoff(void **state)
{
    (void)state;
    gw_rr_open s;
    long long until;
    /* in both orders: the latest nextAllowedExecution wins */
    json_t *items = json_pack("[o,o,o]",
        rr("done", FP, "{\"overallPhase\":\"Completed\"}"),
        rr("soon", FP, "{\"overallPhase\":\"Failed\",\"routingStatus\":{\"nextAllowedExecution\":\"" AHEAD "\"}}"),
        rr("late", FP, "{\"overallPhase\":\"Failed\",\"routingStatus\":{\"nextAllowedExecution\":\"" LATER "\"}}"));
    assert_string_equal(pick_name(items, FP, false, &s, &until), "late");
    assert_int_equal(s, GW_RR_BACKOFF);
    assert_int_equal(until, NOW + 3600000);
    json_t *rev = json_pack("[O,O,O]", json_array_get(items, 2), json_array_get(items, 1),
                            json_array_get(items, 0));
    assert_string_equal(pick_name(rev, FP, false, &s, &until), "late");
    json_decref(rev);
    json_decref(items);
}

static void test_pick_order_of_states(void **state)
{
    (void)state;
    gw_rr_open s;
    long long until;
    json_t *items = json_pack("[o,o,o,o]",
        rr("backoff", FP, "{\"overallPhase\":\"Failed\",\"routingStatus\":{\"nextAllowedExecution\":\"" LATER "\"}}"),
        rr("review", FP, "{\"overallPhase\":\"Failed\",\"completionStatus\":{\"outcome\":\"ManualReviewRequired\"}}"),
        rr("running", FP, "{\"overallPhase\":\"Executing\"}"),
        rr("running2", FP, "{\"overallPhase\":\"Analyzing\"}"));
    assert_string_equal(pick_name(items, FP, false, &s, &until), "running");
    assert_int_equal(s, GW_RR_ACTIVE);
    assert_int_equal(until, 0);
    json_array_remove(items, 3);
    json_array_remove(items, 2);
    assert_string_equal(pick_name(items, FP, false, &s, &until), "review");
    assert_int_equal(s, GW_RR_MANUAL_REVIEW);
    json_array_remove(items, 1);
    assert_string_equal(pick_name(items, FP, false, &s, &until), "backoff");
    json_decref(items);
}

static void test_pick_none_and_fingerprints(void **state)
{
    (void)state;
    gw_rr_open s = GW_RR_ACTIVE;
    long long until = 5;
    json_t *items = json_pack("[o,o,o]",
        rr("closed", FP, "{\"overallPhase\":\"Cancelled\"}"),
        rr("other", FP2, "{\"overallPhase\":\"Executing\"}"),
        rr("nofp", NULL, "{\"overallPhase\":\"Executing\"}"));
    /* the label lookup: an item without spec.signalFingerprint matched by label counts */
    assert_string_equal(pick_name(items, FP, false, &s, &until), "nofp");
    /* the field lookup needs the fingerprint itself */
    assert_null(pick_name(items, FP, true, &s, &until));
    assert_int_equal(s, GW_RR_CLOSED);
    assert_int_equal(until, 0);
    assert_string_equal(pick_name(items, FP2, true, &s, &until), "other");
    json_decref(items);
    /* not an array, an item without a name */
    assert_null(gw_rr_pick(NULL, FP, false, NOW, &s, &until));
    items = json_pack("[{s:{s:s}}]", "spec", "signalFingerprint", FP);
    assert_null(gw_rr_pick(items, FP, false, NOW, &s, &until));
    json_decref(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_terminal_phases),
        cmocka_unit_test(test_non_terminal_is_active),
        cmocka_unit_test(test_plain_terminal_is_closed),
        cmocka_unit_test(test_manual_review),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_being_deleted_is_closed),
        cmocka_unit_test(test_prefer),
        cmocka_unit_test(test_pick_latest_backoff),
        cmocka_unit_test(test_pick_order_of_states),
        cmocka_unit_test(test_pick_none_and_fingerprints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

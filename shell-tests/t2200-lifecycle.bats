#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t2200-lifecycle: a RemediationRequest that has finished (terminal
# status.overallPhase, written through the status subresource as a
# controller would) or that was deleted no longer collects occurrences: the
# next occurrence creates a new request.  The suite runs with
# status_sync_interval 0s, so every occurrence reads the phase back.

load helpers

setup_file() {
    gw_setup_stack || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod
}
teardown_file() { gw_teardown_stack; }
teardown()      { gw_teardown_test; }

@test "a Completed request: the next occurrence creates a new request" {
    local name fp body first second
    name=$(gw_uniq done)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body Lifecycle deployment="$name" namespace=prod severity=critical)
    gw_post_alert "$body"
    assert_status 201
    first=$(gw_body_jq .remediationRequestName)
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(kube_rr_set_phase "$first" Completed)" 200

    gw_post_alert "$body"
    assert_new_request "$first" "$fp" 2
    # and the new one collects the following repeats
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$second"
}

@test "a request still in progress keeps collecting occurrences" {
    local name body first
    name=$(gw_uniq busy)
    body=$(am_body Lifecycle deployment="$name" namespace=prod severity=critical)
    gw_post_alert "$body"
    assert_status 201
    first=$(gw_body_jq .remediationRequestName)
    assert_equal "$(kube_rr_set_phase "$first" Executing)" 200
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
}

@test "a deleted request: the next occurrence creates a new request" {
    local name fp body first second
    name=$(gw_uniq gone)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body Lifecycle deployment="$name" namespace=prod severity=critical)
    gw_post_alert "$body"
    assert_status 201
    first=$(gw_body_jq .remediationRequestName)
    kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests/$first" -X DELETE -o /dev/null
    gw_wait_for 10 kube_rr_gone "$first" || fail "$first not deleted"

    gw_post_alert "$body"
    assert_new_request "$first" "$fp" 1
}

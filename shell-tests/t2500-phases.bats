#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t2500-phases: when an existing RemediationRequest still absorbs its
# fingerprint's signals, as upstream Kubernaut decides it.  A request is
# open while its status.overallPhase is not terminal, and also, once
# terminal, while status.completionStatus.outcome is ManualReviewRequired
# or status.routingStatus.nextAllowedExecution lies in the future (the
# orchestrator's backoff; the latest such request wins).  The statuses are
# written through the status subresource, as the orchestrator writes them.
# Each rule is checked on both paths that decide it: the status sync's
# patch answer (Redis holds the fingerprint) and the lookup in Kubernetes
# (Redis flushed).
#
# Then requests made by another producer (upstream's gateway), which carry
# spec.signalFingerprint but not alertgw's kubernaut.ai/fingerprint label:
# found only with remediation.fingerprint_field_fallback on, by a paged
# list of the request namespace.

load helpers

setup_file() {
    gw_setup_stack || return 1
    kube_namespace phases
}
teardown_file() { gw_teardown_stack; }
setup()         { gw_reload_url; }
teardown()      { gw_teardown_test; }

RRS="$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests"

# set_status NAME JSON: merge-patches status (as admin, like a controller).
set_status() {
    kube_merge "$RRS/$1/status" "{\"status\":$2}"
}

# rrs_by_field FP: names of the requests whose spec.signalFingerprint is FP
# (labelled or not), one a line.
rrs_by_field() {
    kube_api "$RRS" | jq -r --arg fp "$1" '.items[] | select(.spec.signalFingerprint == $fp) | .metadata.name'
}

# post BODY EXPECTED_STATUS: posts the alert and checks the answer code.
post() {
    gw_post_alert "$1"
    assert_status "$2"
}

# flush: Redis forgets everything; the next signal looks Kubernetes up.
flush() { assert_equal "$(gw_redis_cli FLUSHALL)" OK; }

# handmade NAME FP [STATUS_JSON]: a RemediationRequest as another producer
# creates it: spec.signalFingerprint, no kubernaut.ai/fingerprint label;
# optionally with a status.
handmade() {
    local obj now
    now=$(gw_now)
    obj=$(jq -cn --arg n "$1" --arg fp "$2" --arg now "$now" '{
        apiVersion: "kubernaut.ai/v1alpha1", kind: "RemediationRequest",
        metadata: {name: $n, labels: {"app.kubernetes.io/managed-by": "gateway"}},
        spec: {signalFingerprint: $fp, signalName: "Upstream", severity: "critical",
               signalType: "alert", targetType: "kubernetes",
               targetResource: {kind: "Deployment", name: "x", namespace: "phases"},
               firingTime: $now, receivedTime: $now}}')
    kube_create "$RRS" "$obj" >/dev/null || return 1
    [[ -z ${3:-} ]] || set_status "$1" "$3"
}

# restart_gw NAME=VALUE...: the gateway again, with these settings.
restart_gw() {
    gw_stop_lighttpd
    gw_start_lighttpd "$@"
}

## --- the phase rules -------------------------------------------------------

@test "terminal + ManualReviewRequired: still a duplicate (status sync path)" {
    local name body first
    name=$(gw_uniq mrr)
    body=$(am_body "Mrr$BATS_TEST_NUMBER" deployment="$name" namespace=phases severity=critical)
    post "$body" 201
    first=$(gw_body_jq .remediationRequestName)
    set_status "$first" '{"overallPhase":"Failed","completionStatus":{"outcome":"ManualReviewRequired"}}'

    post "$body" 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
    post "$body" 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
    assert_equal "$(rrs_by_field "$(fp_of "phases:Deployment:$name")" | wc -l)" 1
}

@test "terminal + ManualReviewRequired: still a duplicate (Redis flushed, lookup path)" {
    local name body first
    name=$(gw_uniq mrrf)
    body=$(am_body "Mrr$BATS_TEST_NUMBER" deployment="$name" namespace=phases severity=critical)
    post "$body" 201
    first=$(gw_body_jq .remediationRequestName)
    set_status "$first" '{"overallPhase":"Completed","completionStatus":{"outcome":"ManualReviewRequired"}}'
    flush

    post "$body" 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
    assert_equal "$(gw_body_jq .metadata.remediationRequestRef)" "$GW_RR_NAMESPACE/$first"
}

@test "terminal + another outcome: a new request (both paths)" {
    local name body first second
    name=$(gw_uniq rem)
    body=$(am_body "Rem$BATS_TEST_NUMBER" deployment="$name" namespace=phases severity=critical)
    post "$body" 201
    first=$(gw_body_jq .remediationRequestName)
    set_status "$first" '{"overallPhase":"Completed","completionStatus":{"outcome":"Remediated"}}'
    post "$body" 201
    second=$(gw_body_jq .remediationRequestName)
    [[ $second != "$first" ]] || fail "the finished request $first was reused"

    set_status "$second" '{"overallPhase":"Failed"}'
    flush
    post "$body" 201
    [[ $(gw_body_jq .remediationRequestName) != "$second" ]] || fail "the failed request was reused"
    assert_equal "$(rrs_by_field "$(fp_of "phases:Deployment:$name")" | wc -l)" 3
}

@test "terminal + nextAllowedExecution ahead: a duplicate (status sync path)" {
    local name body first
    name=$(gw_uniq nae)
    body=$(am_body "Nae$BATS_TEST_NUMBER" deployment="$name" namespace=phases severity=critical)
    post "$body" 201
    first=$(gw_body_jq .remediationRequestName)
    set_status "$first" "{\"overallPhase\":\"Failed\",\"routingStatus\":{\"nextAllowedExecution\":\"$(gw_now 600)\"}}"
    post "$body" 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
    post "$body" 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
}

@test "terminal + nextAllowedExecution passed: a new request (both paths)" {
    local name body first second
    name=$(gw_uniq past)
    body=$(am_body "Past$BATS_TEST_NUMBER" deployment="$name" namespace=phases severity=critical)
    post "$body" 201
    first=$(gw_body_jq .remediationRequestName)
    set_status "$first" "{\"overallPhase\":\"Failed\",\"routingStatus\":{\"nextAllowedExecution\":\"$(gw_now -60)\"}}"
    post "$body" 201
    second=$(gw_body_jq .remediationRequestName)
    [[ $second != "$first" ]] || fail "a request whose backoff is over was reused"

    set_status "$second" "{\"overallPhase\":\"TimedOut\",\"routingStatus\":{\"nextAllowedExecution\":\"$(gw_now -1)\"}}"
    flush
    post "$body" 201
    [[ $(gw_body_jq .remediationRequestName) != "$second" ]] || fail "the timed-out request was reused"
}

@test "the backoff ends while Redis holds the fingerprint: the status sync notices" {
    local name body first
    name=$(gw_uniq ends)
    body=$(am_body "Ends$BATS_TEST_NUMBER" deployment="$name" namespace=phases severity=critical)
    post "$body" 201
    first=$(gw_body_jq .remediationRequestName)
    set_status "$first" "{\"overallPhase\":\"Failed\",\"routingStatus\":{\"nextAllowedExecution\":\"$(gw_now 4)\"}}"
    post "$body" 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
    sleep 6
    # the suite syncs on every occurrence (status_sync_interval 0s): this
    # occurrence's patch answer shows the backoff over
    post "$body" 201
    [[ $(gw_body_jq .remediationRequestName) != "$first" ]] || fail "backoff over, $first still reused"
}

@test "two requests in backoff (Redis flushed): the one with the latest nextAllowedExecution wins" {
    local name body r1 r2
    name=$(gw_uniq two)
    body=$(am_body "Two$BATS_TEST_NUMBER" deployment="$name" namespace=phases severity=critical)
    post "$body" 201
    r1=$(gw_body_jq .remediationRequestName)
    set_status "$r1" '{"overallPhase":"Failed"}'
    post "$body" 201
    r2=$(gw_body_jq .remediationRequestName)
    [[ $r2 != "$r1" ]] || fail "no second request"

    # r1 backs off longer than r2
    set_status "$r1" "{\"routingStatus\":{\"nextAllowedExecution\":\"$(gw_now 1200)\"}}"
    set_status "$r2" "{\"overallPhase\":\"Skipped\",\"routingStatus\":{\"nextAllowedExecution\":\"$(gw_now 600)\"}}"
    flush
    post "$body" 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$r1"

    # now r2 does (whichever comes first in the list)
    set_status "$r2" "{\"routingStatus\":{\"nextAllowedExecution\":\"$(gw_now 1800)\"}}"
    flush
    post "$body" 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$r2"
    assert_equal "$(rrs_by_field "$(fp_of "phases:Deployment:$name")" | wc -l)" 2
}

@test "a non-terminal request wins over a terminal one in backoff (Redis flushed)" {
    local name body r1 r2
    name=$(gw_uniq live)
    body=$(am_body "Live$BATS_TEST_NUMBER" deployment="$name" namespace=phases severity=critical)
    post "$body" 201
    r1=$(gw_body_jq .remediationRequestName)
    set_status "$r1" '{"overallPhase":"Completed"}'
    post "$body" 201
    r2=$(gw_body_jq .remediationRequestName)
    set_status "$r2" '{"overallPhase":"Executing"}'
    set_status "$r1" "{\"routingStatus\":{\"nextAllowedExecution\":\"$(gw_now 600)\"}}"
    flush
    post "$body" 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$r2"
}

@test "the CRD declares the orchestrator's status fields the rules read" {
    local schema name
    schema=$(kube_api apis/apiextensions.k8s.io/v1/customresourcedefinitions/remediationrequests.kubernaut.ai |
        jq -c '.spec.versions[] | select(.name == "v1alpha1") | .schema.openAPIV3Schema.properties.status.properties')
    assert_equal "$(jq -r '.completionStatus.properties.outcome.type' <<<"$schema")" string
    assert_equal "$(jq -r '.routingStatus.properties.nextAllowedExecution.format' <<<"$schema")" date-time
    # so the apiserver refuses a backoff time that is not one
    name=$(gw_uniq schema)
    handmade "$name" "$(fp_of "phases:Deployment:$name")"
    assert_equal "$(kube_api "$RRS/$name/status" -o /dev/null -w '%{http_code}' -X PATCH \
        -H 'Content-Type: application/merge-patch+json' \
        --data '{"status":{"routingStatus":{"nextAllowedExecution":"tomorrow"}}}')" 422
}

## --- requests from other producers -----------------------------------------

@test "fallback off (default): a request without the label is not found; a new one is made" {
    local name fp other
    name=$(gw_uniq off)
    fp=$(fp_of "phases:Deployment:$name")
    other=$(gw_uniq upstream-off)
    handmade "$other" "$fp" '{"overallPhase":"Processing"}'
    post "$(am_body "Off$BATS_TEST_NUMBER" deployment="$name" namespace=phases severity=critical)" 201
    [[ $(gw_body_jq .remediationRequestName) != "$other" ]] || fail "found $other with the fallback off"
    assert_equal "$(rrs_by_field "$fp" | wc -l)" 2
}

@test "fallback on: another producer's open request takes the signal, then Redis does" {
    local name fp other body
    restart_gw ALERTGW_REMEDIATION_FINGERPRINT_FIELD_FALLBACK=true
    name=$(gw_uniq on)
    fp=$(fp_of "phases:Deployment:$name")
    other=$(gw_uniq upstream-on)
    handmade "$other" "$fp"
    body=$(am_body "On$BATS_TEST_NUMBER" deployment="$name" namespace=phases severity=critical)
    post "$body" 202
    assert_equal "$(gw_body_jq .status)" duplicate
    assert_equal "$(gw_body_jq .remediationRequestName)" "$other"
    assert_equal "$(gw_body_jq .metadata.remediationRequestRef)" "$GW_RR_NAMESPACE/$other"
    # cached in Redis like any other hit
    assert_equal "$(gw_redis_cli HGET "alertgw:fp:$fp" name)" "$other"
    post "$body" 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$other"
    assert_equal "$(gw_body_jq .metadata.count)" 2
    assert_equal "$(rrs_by_field "$fp")" "$other"
}

@test "fallback on: the phase rules apply to the requests it finds" {
    local name fp fin review body
    restart_gw ALERTGW_REMEDIATION_FINGERPRINT_FIELD_FALLBACK=true
    name=$(gw_uniq rules)
    fp=$(fp_of "phases:Deployment:$name")
    body=$(am_body "Rules$BATS_TEST_NUMBER" deployment="$name" namespace=phases severity=critical)
    fin=$(gw_uniq upstream-done)
    handmade "$fin" "$fp" '{"overallPhase":"Completed"}'
    post "$body" 201
    [[ $(gw_body_jq .remediationRequestName) != "$fin" ]] || fail "the Completed request was reused"
    # the request alertgw made finishes; another producer's needs review
    set_status "$(gw_body_jq .remediationRequestName)" '{"overallPhase":"Completed"}'
    review=$(gw_uniq upstream-review)
    handmade "$review" "$fp" '{"overallPhase":"Failed","completionStatus":{"outcome":"ManualReviewRequired"}}'
    flush
    post "$body" 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$review"
}

@test "fallback on: paged by the configured page size, bounded by the item cap" {
    local name fp body target i
    name=$(gw_uniq page)
    fp=$(fp_of "phases:Deployment:$name")
    body=$(am_body "Page$BATS_TEST_NUMBER" deployment="$name" namespace=phases severity=critical)
    # five others' requests come first in the list (names sort before
    # alertgw's rr-...), the one of this fingerprint last
    for i in 1 2 3 4 5; do
        handmade "aaa-$name-$i" "$(fp_of "phases:Deployment:filler-$name-$i")" || fail "filler $i"
    done
    target="zzz-$name"
    handmade "$target" "$fp"

    # a cap below the position of the target: not found, a new request
    restart_gw ALERTGW_REMEDIATION_FINGERPRINT_FIELD_FALLBACK=true \
        ALERTGW_REMEDIATION_FINGERPRINT_FIELD_FALLBACK_PAGE_SIZE=2 \
        ALERTGW_REMEDIATION_FINGERPRINT_FIELD_FALLBACK_MAX_ITEMS=4
    post "$body" 201
    [[ $(gw_body_jq .remediationRequestName) != "$target" ]] || fail "found beyond the item cap"
    grep -q 'stopped after 4 requests.*fingerprint_field_fallback_max_items' "$GW_TMP/lighttpd/stderr.log" ||
        fail "the cut-short lookup was not logged"
    set_status "$(gw_body_jq .remediationRequestName)" '{"overallPhase":"Completed"}'
    flush

    # pages of 2, through every page: found
    restart_gw ALERTGW_REMEDIATION_FINGERPRINT_FIELD_FALLBACK=true \
        ALERTGW_REMEDIATION_FINGERPRINT_FIELD_FALLBACK_PAGE_SIZE=2
    post "$body" 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$target"
}

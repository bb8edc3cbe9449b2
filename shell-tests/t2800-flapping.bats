#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t2800-flapping: a fingerprint that resolves and fires again more than
# flapping.threshold times within flapping.window is flapping: its request
# is labelled kubernaut.ai/flapping with the flip count annotated, and a
# firing after that request finished counts on it (202 duplicate naming
# it) instead of starting a new remediation - also once Redis has forgotten
# the fingerprint.  Below the threshold a finished request still leads to a
# new one.  Through lighttpd, Redis and the real apiserver; the suite runs
# with threshold 2 and status_sync_interval 0s (every occurrence reads the
# phase back).  The window's end is tested in tests/test_dedup.c with a
# fake clock.

load helpers

setup_file() {
    gw_setup_stack ALERTGW_FLAPPING_THRESHOLD=2 ALERTGW_FLAPPING_WINDOW=10m || return 1
    kube_namespaces prod
}
teardown_file() { gw_teardown_stack; }
teardown()      { gw_teardown_test; }

# Each test has its own alert name (so that the occurrences of the suite
# never make a rate storm of one (namespace, alert name)) and deployment.
# fire NAME: the alert fires.
fire() { gw_post_alert "$(am_body "Flap$1" deployment="$1" namespace=prod severity=warning)"; }

# flip NAME: a resolved notification, then the alert fires again (202).
flip() {
    gw_post_alert "$(am_body --status resolved "Flap$1" deployment="$1" namespace=prod severity=warning)"
    assert_status 200
    assert_equal "$(gw_body_jq .reason)" resolved
    fire "$1"
    assert_status 202
}

# start NAME N: the alert's first firing (201: its request's name in the
# caller's $first), then N flips.
start() {
    fire "$1"
    assert_status 201
    first=$(gw_body_jq .remediationRequestName)
    local i
    for ((i = 0; i < $2; i++)); do flip "$1"; done
}

label_of()      { kube_get_rr "$1" | jq -r '.metadata.labels["kubernaut.ai/flapping"] // "none"'; }
flap_count_of() { kube_get_rr "$1" | jq -r '.metadata.annotations["kubernaut.ai/flap-count"] // "none"'; }

@test "more flips than the threshold label the request flapping, with the flip count" {
    local name fp first
    name=$(gw_uniq flap)
    fp=$(fp_of "prod:Deployment:$name")
    start "$name" 0
    gw_request GET "/api/v1/signals/$fp"
    assert_status 200
    assert_equal "$(gw_body_jq .flapping)" false
    assert_equal "$(gw_body_jq .flips)" 0

    flip "$name"
    flip "$name"
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
    # at the threshold: not yet
    assert_equal "$(label_of "$first")" none
    gw_request GET "/api/v1/signals/$fp"
    assert_equal "$(gw_body_jq .flips)" 2
    assert_equal "$(gw_body_jq .flapping)" false

    gw_scrape; local before
    before=$(gw_metric gateway_flapping_detected_total)
    flip "$name"
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
    assert_equal "$(label_of "$first")" true
    assert_equal "$(flap_count_of "$first")" 3
    kube_get_rr "$first" | jq -e '.metadata.annotations["kubernaut.ai/flapping-since"] | test("^20")' >/dev/null ||
        fail "no kubernaut.ai/flapping-since annotation"
    gw_scrape
    assert_equal "$(gw_metric gateway_flapping_detected_total)" "$((before + 1))"
    gw_request GET "/api/v1/signals/$fp"
    assert_status 200
    assert_equal "$(gw_body_jq .flapping)" true
    assert_equal "$(gw_body_jq .flips)" 3
    # each later flip updates the count; the detection is counted once
    flip "$name"
    assert_equal "$(flap_count_of "$first")" 4
    gw_scrape
    assert_equal "$(gw_metric gateway_flapping_detected_total)" "$((before + 1))"
}

# flap_event RR: the FlapAbsorbed Event of request RR ("null" when none).
flap_event() {
    kube_api "api/v1/namespaces/$GW_RR_NAMESPACE/events?fieldSelector=involvedObject.name%3D$1" |
        jq -c '[.items[] | select(.reason == "FlapAbsorbed")] | .[0]'
}
_flap_event() { [[ $(flap_event "$1") != null ]]; }

@test "while it flaps, a firing after its request finished counts on that request, also after Redis forgot it" {
    local name fp first occ absorbed
    name=$(gw_uniq absorb)
    fp=$(fp_of "prod:Deployment:$name")
    start "$name" 3
    assert_equal "$(label_of "$first")" true
    assert_equal "$(kube_rr_set_phase "$first" Completed)" 200
    occ=$(kube_rr_occurrences "$first")
    gw_scrape
    absorbed=$(gw_metric gateway_flaps_absorbed_total)

    fire "$name"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" duplicate
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
    assert_equal "$(kube_rr_count "$fp")" 1
    (( $(kube_rr_occurrences "$first") > occ )) || fail "the occurrence was not counted on $first"
    gw_scrape
    (( $(gw_metric gateway_flaps_absorbed_total) > absorbed )) || fail "gateway_flaps_absorbed_total did not move"
    grep -q "flap absorbed: fingerprint ${fp:0:16}" "$GW_TMP/lighttpd/stderr.log" ||
        fail "no 'flap absorbed' log line"
    # and in the request's history (kubectl describe selects on the uid)
    local ev
    gw_wait_for 5 _flap_event "$first" || fail "no FlapAbsorbed Event on $first"
    ev=$(flap_event "$first")
    assert_equal "$(jq -r .involvedObject.uid <<<"$ev")" "$(kube_get_rr "$first" | jq -r .metadata.uid)"
    assert_equal "$(jq -r .count <<<"$ev")" 3
    assert_equal "$(jq -r .type <<<"$ev")" Normal
    assert_regex "$(jq -r .message <<<"$ev")" 'while flapping \(3 flips'

    # the fingerprint's Redis entry expires (dedup.ttl): the history alone
    # names the request
    assert_equal "$(gw_redis_cli DEL "alertgw:fp:$fp")" 1
    gw_request GET "/api/v1/signals/$fp"
    assert_status 200
    assert_equal "$(gw_body_jq .state)" idle
    assert_equal "$(gw_body_jq .flapping)" true
    assert_equal "$(gw_body_jq .flips)" 3
    assert_equal "$(gw_body_jq .remediationRequestRef)" "$GW_RR_NAMESPACE/$first"
    assert_equal "$(gw_body_jq 'keys | join(",")')" "fingerprint,flapping,flips,remediationRequestRef,state"
    # explain says so before the firing, and writes nothing
    gw_post /api/v1/explain "$(am_body "Flap$name" deployment="$name" namespace=prod severity=warning)"
    assert_status 200
    assert_equal "$(gw_body_jq '.signals[0].decision')" duplicate
    assert_equal "$(gw_body_jq '.signals[0].dedup.flapping')" true
    assert_equal "$(gw_body_jq '.signals[0].dedup.flips')" 3
    assert_equal "$(gw_body_jq '.signals[0].dedup.remediationRequestRef')" "$GW_RR_NAMESPACE/$first"
    assert_regex "$(gw_body_jq '.signals[0].reason')" 'flapping'
    assert_equal "$(gw_redis_cli EXISTS "alertgw:fp:$fp")" 0
    fire "$name"
    assert_status 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
    assert_equal "$(kube_rr_count "$fp")" 1

    # a flip of the finished request: absorbed too, and the count goes on
    flip "$name"
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
    assert_equal "$(flap_count_of "$first")" 4
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "a fingerprint at the threshold does not flap: its finished request leads to a new one" {
    local name fp first second
    name=$(gw_uniq calm)
    fp=$(fp_of "prod:Deployment:$name")
    start "$name" 2
    assert_equal "$(kube_rr_set_phase "$first" Completed)" 200

    fire "$name"
    assert_new_request "$first" "$fp" 2
    assert_equal "$(label_of "$second")" none
    gw_request GET "/api/v1/signals/$fp"
    assert_equal "$(gw_body_jq .flapping)" false
    assert_equal "$(gw_body_jq .remediationRequestRef)" "$GW_RR_NAMESPACE/$second"
}

@test "a flapping fingerprint whose request was deleted gets a new one" {
    local name fp first second
    name=$(gw_uniq gone)
    fp=$(fp_of "prod:Deployment:$name")
    start "$name" 3
    kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests/$first" -X DELETE -o /dev/null
    gw_wait_for 10 kube_rr_gone "$first" || fail "$first not deleted"
    fire "$name"
    assert_new_request "$first" "$fp" 1
    # it keeps flapping: the next flip labels the new request
    flip "$name"
    assert_equal "$(gw_body_jq .remediationRequestName)" "$second"
    assert_equal "$(label_of "$second")" true
    assert_equal "$(flap_count_of "$second")" 4
}

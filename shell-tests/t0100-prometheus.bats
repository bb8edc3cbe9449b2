#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t0100-prometheus: the Alertmanager route end to end, through lighttpd, the
# workers, Redis and a real kube-apiserver: health, a new alert becomes one
# RemediationRequest with the right fields, repeats count on it, a
# multi-alert webhook answers 207, a Node target is cluster-scoped, and
# resolved alerts create nothing.

load helpers

setup_file() {
    gw_setup_stack || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod staging dev shop ops
}
teardown_file() { gw_teardown_stack; }
teardown()      { gw_teardown_test; }

@test "GET /healthz answers 200" {
    gw_request GET /healthz
    assert_status 200
    [[ -n $(gw_header X-Request-ID) ]] || fail "no X-Request-ID: $HTTP_HEADERS"
}

@test "GET /readyz answers 200 with Redis and the apiserver up" {
    gw_request GET /readyz
    assert_status 200
}

@test "a new alert answers 201 and creates one RemediationRequest with the right fields" {
    local name fp rr obj
    name=$(gw_uniq api)
    fp=$(fp_of "prod:Deployment:$name")
    gw_post_alert "$(am_body KubePodCrashLooping deployment="$name" namespace=prod \
        severity=critical environment=production team=payments)"
    assert_status 201
    assert_equal "$(gw_header Content-Type | cut -d';' -f1)" application/json
    assert_equal "$(gw_body_jq .status)" created
    assert_equal "$(gw_body_jq .duplicate)" false
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    assert_equal "$(gw_body_jq .remediationRequestNamespace)" kubernaut-system
    assert_equal "$(gw_body_jq .environment)" production
    assert_equal "$(gw_body_jq .priority)" P0
    rr=$(gw_body_jq .remediationRequestName)
    assert_regex "$rr" "^rr-${fp:0:12}-[0-9a-f]{8}\$"

    assert_equal "$(kube_rr_count "$fp")" 1
    obj=$(kube_get_rr "$rr")
    run jq -r '.metadata.labels["app.kubernetes.io/managed-by"],
               .metadata.labels["kubernaut.ai/fingerprint"],
               .metadata.labels["kubernaut.ai/environment"],
               .metadata.labels["kubernaut.ai/priority"],
               .metadata.labels["kubernaut.ai/severity"],
               .spec.signalFingerprint, .spec.signalName, .spec.severity,
               .spec.signalType, .spec.targetType,
               (.spec.targetResource | "\(.kind) \(.namespace) \(.name)"),
               .spec.signalLabels.team' <<<"$obj"
    assert_success
    assert_equal "${lines[0]}" alertgw
    assert_equal "${lines[1]}" "${fp:0:63}"
    assert_equal "${lines[2]}" production
    assert_equal "${lines[3]}" P0
    assert_equal "${lines[4]}" critical
    assert_equal "${lines[5]}" "$fp"
    assert_equal "${lines[6]}" KubePodCrashLooping
    assert_equal "${lines[7]}" critical
    assert_equal "${lines[8]}" alert
    assert_equal "${lines[9]}" kubernetes
    assert_equal "${lines[10]}" "Deployment prod $name"
    assert_equal "${lines[11]}" payments
    # RFC 3339 times, and the raw body and provider data kept as strings
    jq -e '(.spec.firingTime | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"))
           and (.spec.receivedTime | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"))
           and (.spec.providerData | type == "string" and (fromjson | type == "object"))
           and (.spec.originalPayload | type == "string" and contains("KubePodCrashLooping"))' \
        <<<"$obj" >/dev/null || fail "spec times/providerData/originalPayload wrong: $(jq -c .spec <<<"$obj")"
}

@test "repeats answer 202 with a rising count on the same request, also in its status" {
    local name fp rr
    name=$(gw_uniq web)
    fp=$(fp_of "staging:StatefulSet:$name")
    local body
    body=$(am_body HighLatency statefulset="$name" namespace=staging severity=warning)

    gw_post_alert "$body"
    assert_status 201
    rr=$(gw_body_jq .remediationRequestName)

    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" duplicate
    assert_equal "$(gw_body_jq .duplicate)" true
    assert_equal "$(gw_body_jq .metadata.count)" 2
    assert_equal "$(gw_body_jq .metadata.remediationRequestRef)" "kubernaut-system/$rr"
    [[ $(gw_body_jq '.metadata.firstOccurrence // ""') != "" ]] || fail "no firstOccurrence: $HTTP_BODY"
    [[ $(gw_body_jq '.metadata.lastOccurrence // ""') != "" ]] || fail "no lastOccurrence: $HTTP_BODY"

    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .metadata.count)" 3
    assert_equal "$(gw_body_jq .metadata.remediationRequestRef)" "kubernaut-system/$rr"

    assert_equal "$(kube_rr_count "$fp")" 1
    # status.deduplication is coalesced; the suite runs with a 0s interval,
    # so it must reach 3 promptly.
    gw_wait_for 15 _count_is "$rr" 3 ||
        fail "status.deduplication never reached 3: $(kube_get_rr "$rr" | jq -c .status)"
    kube_get_rr "$rr" | jq -e '.status.deduplication.firstSeenAt and .status.deduplication.lastSeenAt' >/dev/null ||
        fail "status.deduplication lacks firstSeenAt/lastSeenAt: $(kube_get_rr "$rr" | jq -c .status)"
}
_count_is() { [[ $(kube_rr_occurrences "$1") == "$2" ]]; }

@test "a webhook with three alerts answers 207 and creates three requests" {
    local a b c fa fb fc
    a=$(gw_uniq pa); b=$(gw_uniq pb); c=$(gw_uniq pc)
    fa=$(fp_of "dev:Deployment:$a"); fb=$(fp_of "dev:Deployment:$b"); fc=$(fp_of "dev:Deployment:$c")
    gw_post_alert "$(am_webhook \
        "$(am_alert PodNotReady deployment="$a" namespace=dev severity=warning)" \
        "$(am_alert PodNotReady deployment="$b" namespace=dev severity=warning)" \
        "$(am_alert PodNotReady deployment="$c" namespace=dev severity=warning)")"
    assert_status 207
    assert_equal "$(gw_body_jq '.results | length')" 3
    assert_equal "$(gw_body_jq '[.results[].status] | unique | join(",")')" created
    assert_equal "$(gw_body_jq '[.results[].fingerprint] | sort | join(",")')" \
        "$(printf '%s\n' "$fa" "$fb" "$fc" | sort | paste -sd,)"
    assert_equal "$(gw_body_jq '.summary | "\(.total) \(.created) \(.deduplicated) \(.failed) \(.rejected)"')" "3 3 0 0 0"
    local f
    for f in "$fa" "$fb" "$fc"; do
        assert_equal "$(kube_rr_count "$f")" 1
    done
}

@test "a workload label beats the pod label in the target" {
    local dep pod fp
    dep=$(gw_uniq checkout); pod="$dep-7d9f8-x2x4q"
    fp=$(fp_of "shop:Deployment:$dep")
    gw_post_alert "$(am_body ContainerOOM pod="$pod" deployment="$dep" namespace=shop severity=warning)"
    assert_status 201
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    assert_equal "$(kube_get_rr "$(gw_body_jq .remediationRequestName)" | jq -r .spec.targetResource.kind)" Deployment
}

@test "a node alert is cluster-scoped: targetResource has no namespace key" {
    local node fp rr target
    node=$(gw_uniq worker)
    fp=$(fp_of ":Node:$node")
    gw_post_alert "$(am_body NodeDiskPressure node="$node" severity=critical)"
    assert_status 201
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    rr=$(gw_body_jq .remediationRequestName)
    target=$(kube_get_rr "$rr" | jq -c .spec.targetResource)
    assert_equal "$(jq -r .kind <<<"$target")" Node
    assert_equal "$(jq -r .name <<<"$target")" "$node"
    assert_equal "$(jq -r 'has("namespace")' <<<"$target")" false
}

@test "a resolved alert answers 200 ignored and creates nothing" {
    local name fp
    name=$(gw_uniq batch)
    fp=$(fp_of "ops:CronJob:$name")
    gw_post_alert "$(am_body --status resolved JobLate cronjob="$name" namespace=ops severity=warning)"
    assert_status 200
    assert_equal "$(gw_body_jq .status)" ignored
    assert_equal "$(gw_body_jq .reason)" resolved
    [[ -n $(gw_body_jq '.message // ""') ]] || fail "no message: $HTTP_BODY"
    assert_equal "$(kube_rr_count "$fp")" 0
}

@test "a sane client X-Request-ID is echoed, an unsafe one is replaced" {
    gw_request GET /healthz -H 'X-Request-ID: am-test-0123456789abcdef'
    assert_status 200
    assert_equal "$(gw_header X-Request-ID)" am-test-0123456789abcdef

    gw_request GET /healthz -H 'X-Request-ID: bad"id<script>'
    assert_status 200
    local rid
    rid=$(gw_header X-Request-ID)
    [[ -n $rid && $rid != *'"'* && $rid != *'<'* ]] || fail "unsafe X-Request-ID echoed: '$rid'"
}

@test "GET /api/v1/signals/<fingerprint> reports the count and the request" {
    local name fp body rr
    name=$(gw_uniq lookup)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body LookupTest deployment="$name" namespace=prod severity=warning)
    gw_post_alert "$body"
    assert_status 201
    rr=$(gw_body_jq .remediationRequestName)
    gw_post_alert "$body"
    assert_status 202

    gw_request GET "/api/v1/signals/$fp"
    assert_status 200
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    assert_equal "$(gw_body_jq .count)" 2
    assert_equal "$(gw_body_jq .remediationRequestRef)" "kubernaut-system/$rr"

    local unknown
    unknown=$(fp_of "prod:Deployment:$(gw_uniq never-sent)")
    gw_request GET "/api/v1/signals/$unknown"
    assert_problem 404 not-found "/api/v1/signals/$unknown"
}

@test "explicit credentials (api_url + token_file + ca_file) work without a kubeconfig" {
    # Last in this file: it restarts lighttpd with other worker settings.
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_KUBERNETES_KUBECONFIG= \
        ALERTGW_KUBERNETES_API_URL="$KUBE_API_URL" \
        ALERTGW_KUBERNETES_TOKEN_FILE="$KUBE_GATEWAY_TOKEN_FILE" \
        ALERTGW_KUBERNETES_CA_FILE="$KUBE_CA_FILE"
    local name fp
    name=$(gw_uniq explicit)
    fp=$(fp_of "prod:Deployment:$name")
    gw_post_alert "$(am_body ExplicitCreds deployment="$name" namespace=prod severity=critical)"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1
    gw_request GET /readyz
    assert_status 200
}

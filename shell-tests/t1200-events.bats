#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t1200-events: POST /api/v1/signals/kubernetes-event with real-shaped
# Events (core/v1, events.k8s.io/v1, kubernetes-event-exporter), through
# lighttpd into the real apiserver.

load helpers

setup_file() {
    gw_setup_stack || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod shop
}
teardown_file() { gw_teardown_stack; }
teardown()      { gw_teardown_test; }

ROUTE=/api/v1/signals/kubernetes-event

# core_event TYPE REASON KIND NAME NAMESPACE COUNT [AGE_SECONDS]
core_event() {
    jq -cn --arg type "$1" --arg reason "$2" --arg kind "$3" --arg name "$4" --arg ns "$5" \
        --argjson count "$6" --arg last "$(gw_now "-${7:-5}")" --arg first "$(gw_now -120)" '
        {apiVersion: "v1", kind: "Event",
         metadata: {name: ($name + ".17a"), namespace: $ns},
         type: $type, reason: $reason, message: ("test event " + $reason),
         involvedObject: ({kind: $kind, name: $name} + (if $ns == "" then {} else {namespace: $ns} end)),
         source: {component: "kubelet"},
         firstTimestamp: $first, lastTimestamp: $last, count: $count}'
}

@test "a Warning event creates a request for its object; a repeat with a higher count is a duplicate" {
    local name fp rr
    name=$(gw_uniq evt)
    fp=$(fp_of "prod:Deployment:$name")
    gw_post "$ROUTE" "$(core_event Warning ProgressDeadlineExceeded Deployment "$name" prod 1)"
    assert_status 201
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    rr=$(gw_body_jq .remediationRequestName)
    local obj
    obj=$(kube_get_rr "$rr")
    assert_equal "$(jq -r .spec.signalName <<<"$obj")" ProgressDeadlineExceeded
    assert_equal "$(jq -r .spec.signalSource <<<"$obj")" kubernetes-events
    assert_equal "$(jq -r .spec.severity <<<"$obj")" warning
    # the event names no apiVersion: the one the cluster serves Deployments at
    assert_equal "$(jq -cS .spec.targetResource <<<"$obj")" \
        "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"$name\",\"namespace\":\"prod\"}"

    gw_post "$ROUTE" "$(core_event Warning ProgressDeadlineExceeded Deployment "$name" prod 5)"
    assert_status 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$rr"
    assert_equal "$(gw_body_jq .metadata.count)" 2
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "an event and an Alertmanager alert on the same workload share one request" {
    local name fp rr
    name=$(gw_uniq shared)
    fp=$(fp_of "prod:Deployment:$name")
    gw_post_alert "$(am_body KubeDeploymentReplicasMismatch deployment="$name" namespace=prod severity=warning)"
    assert_status 201
    rr=$(gw_body_jq .remediationRequestName)
    gw_post "$ROUTE" "$(core_event Warning FailedCreate Deployment "$name" prod 1)"
    assert_status 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$rr"
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "events.k8s.io/v1: a node event is cluster-scoped" {
    local node body fp rr
    node=$(gw_uniq node)
    fp=$(fp_of ":Node:$node")
    body=$(jq -cn --arg n "$node" --arg t "$(gw_now -3)" '
        {apiVersion: "events.k8s.io/v1", kind: "Event", metadata: {name: ($n + ".1")},
         type: "Warning", reason: "NodeNotReady", note: "status is now: NodeNotReady",
         regarding: {kind: "Node", name: $n, apiVersion: "v1"},
         reportingController: "node-controller", eventTime: $t,
         series: {count: 2, lastObservedTime: $t}}')
    gw_post "$ROUTE" "$body"
    assert_status 201
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    rr=$(gw_body_jq .remediationRequestName)
    assert_equal "$(kube_get_rr "$rr" | jq -c .spec.targetResource)" \
        "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"$node\"}"
}

@test "kubernetes-event-exporter's shape (core/v1 plus its fields) is accepted" {
    local name body
    name=$(gw_uniq exp)
    body=$(core_event Warning BackOff Pod "$name-7c9d-x1" shop 3 |
        jq -c '. + {clusterName: "c1"} | .involvedObject += {labels: {app: "web"}, ownerReferences: []}')
    gw_post "$ROUTE" "$body"
    assert_status 201
}

@test "a Normal event is answered 200 ignored and creates nothing" {
    local name fp
    name=$(gw_uniq normal)
    fp=$(fp_of "prod:Deployment:$name")
    gw_post "$ROUTE" "$(core_event Normal ScalingReplicaSet Deployment "$name" prod 1)"
    assert_status 200
    assert_equal "$(gw_body_jq .status)" ignored
    # the reason is a code for machines, the message says why to a human
    assert_equal "$(gw_body_jq .reason)" normal-event
    [[ $(gw_body_jq .message) == *Normal* ]] || fail "message does not say why: $HTTP_BODY"
    assert_equal "$(kube_rr_count "$fp")" 0
}

@test "a stale event and one from the future are 400 with a clear detail" {
    local name
    name=$(gw_uniq stale)
    gw_post "$ROUTE" "$(core_event Warning BackOff Deployment "$name" prod 1 400)"
    assert_problem 400 validation-error "$ROUTE"
    [[ $(gw_body_jq .detail) == *stale*events.max_age* ]] || fail "detail: $(gw_body_jq .detail)"
    gw_post "$ROUTE" "$(core_event Warning BackOff Deployment "$name" prod 1 -300)"
    assert_problem 400 validation-error "$ROUTE"
    [[ $(gw_body_jq .detail) == *future* ]] || fail "detail: $(gw_body_jq .detail)"
    assert_equal "$(kube_rr_count "$(fp_of "prod:Deployment:$name")")" 0
}

@test "an event without reason or object is 400 naming the field" {
    gw_post "$ROUTE" '{"type":"Warning","involvedObject":{"kind":"Pod","name":"p"},"lastTimestamp":"'"$(gw_now)"'"}'
    assert_problem 400 validation-error "$ROUTE"
    [[ $(gw_body_jq .detail) == *reason* ]] || fail "detail: $(gw_body_jq .detail)"
    gw_post "$ROUTE" '{"type":"Warning","reason":"X","lastTimestamp":"'"$(gw_now)"'"}'
    assert_problem 400 validation-error "$ROUTE"
    [[ $(gw_body_jq .detail) == *involvedObject* ]] || fail "detail: $(gw_body_jq .detail)"
    gw_request GET "$ROUTE"
    assert_problem 405 method-not-allowed "$ROUTE"
}

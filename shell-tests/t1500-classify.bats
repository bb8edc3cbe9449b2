#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t1500-classify: environment (ConfigMap > namespace label > namespace
# pattern > alert label > unknown), the priority table and escalation,
# owner resolution and the scope label, through lighttpd against the real
# Redis and kube-apiserver.  One worker, so that what one request cached is
# what the next one sees (the per-worker cache is the thing under test), and
# a 3 s cache TTL so that a label change can be watched taking effect.

load helpers

setup_file() {
    GW_WORKERS=1 gw_setup_stack ALERTGW_ENVIRONMENT_CACHE_TTL=3s \
        ALERTGW_OWNERS_RESOLVE=true ALERTGW_PRIORITY_ESCALATION=production=3 \
        ALERTGW_PRIORITY_ESCALATION_WINDOW=3s
}
teardown_file() { gw_teardown_stack; }
teardown()      { gw_teardown_test; }

CM_PATH=api/v1/namespaces/kubernaut-system/configmaps

# rr_of: the request named in the last answer.
rr_of() { kube_get_rr "$(gw_body_jq '.remediationRequestName // (.metadata.remediationRequestRef | split("/")[1])')"; }

@test "namespace label: beats the alert's own label; environment and priority everywhere" {
    local ns rr
    ns=$(gw_uniq team)
    kube_namespace "$ns" environment=staging
    gw_post_alert "$(am_body EnvTest deployment=api namespace="$ns" severity=critical environment=production)"
    assert_status 201
    assert_equal "$(gw_body_jq .environment)" staging
    assert_equal "$(gw_body_jq .priority)" P1
    rr=$(rr_of)
    assert_equal "$(jq -r '.metadata.labels["kubernaut.ai/environment"]' <<<"$rr")" staging
    assert_equal "$(jq -r '.metadata.labels["kubernaut.ai/priority"]' <<<"$rr")" P1
    assert_equal "$(jq -r .spec.environment <<<"$rr")" staging
    assert_equal "$(jq -r .spec.priority <<<"$rr")" P1
    assert_equal "$(jq -r '.spec.providerData | fromjson | .environment + "/" + .priority' <<<"$rr")" staging/P1
}

@test "ConfigMap override: beats the namespace label (after the cache TTL)" {
    local ns
    ns=$(gw_uniq team)
    kube_namespace "$ns" environment=development
    gw_post_alert "$(am_body EnvTest deployment=a namespace="$ns" severity=critical)"
    assert_status 201
    assert_equal "$(gw_body_jq .environment)" development
    assert_equal "$(gw_body_jq .priority)" P2
    kube_create "$CM_PATH" "$(jq -cn --arg ns "$ns" '{apiVersion:"v1",kind:"ConfigMap",
        metadata:{name:"kubernaut-environment-overrides"},data:{($ns):"production"}}')" >/dev/null ||
        kube_merge "$CM_PATH/kubernaut-environment-overrides" \
            "$(jq -cn --arg ns "$ns" '{data:{($ns):"production"}}')"
    sleep 4 # past the 3 s TTL
    gw_post_alert "$(am_body EnvTest deployment=b namespace="$ns" severity=critical)"
    assert_status 201
    assert_equal "$(gw_body_jq .environment)" production
    assert_equal "$(gw_body_jq .priority)" P0
}

@test "a namespace label change: cached within the TTL, in effect after it" {
    local ns
    ns=$(gw_uniq team)
    kube_namespace "$ns" environment=development
    gw_post_alert "$(am_body EnvTest deployment=a namespace="$ns" severity=warning)"
    assert_status 201
    assert_equal "$(gw_body_jq .environment)" development
    kube_merge "api/v1/namespaces/$ns" '{"metadata":{"labels":{"environment":"production"}}}'
    # the worker read the namespace less than 3 s ago: no Kubernetes call
    gw_post_alert "$(am_body EnvTest deployment=b namespace="$ns" severity=warning)"
    assert_status 201
    assert_equal "$(gw_body_jq .environment)" development
    sleep 4
    gw_post_alert "$(am_body EnvTest deployment=c namespace="$ns" severity=warning)"
    assert_status 201
    assert_equal "$(gw_body_jq .environment)" production
    assert_equal "$(gw_body_jq .priority)" P1
}

@test "namespace-name pattern beats the alert label; the alert label beats unknown" {
    local u
    u=$(gw_uniq x)
    # both namespaces exist, without an environment label (a signal about
    # a namespace the cluster does not have is ignored)
    kube_namespaces "prod-$u" "apps-$u"
    gw_post_alert "$(am_body EnvTest deployment=a namespace="prod-$u" severity=critical environment=staging)"
    assert_status 201
    assert_equal "$(gw_body_jq .environment)" production
    assert_equal "$(gw_body_jq .priority)" P0
    gw_post_alert "$(am_body EnvTest deployment=a namespace="apps-$u" severity=critical environment=Stage)"
    assert_status 201
    assert_equal "$(gw_body_jq .environment)" staging   # alias and case folded
    assert_equal "$(gw_body_jq .priority)" P1
    gw_post_alert "$(am_body EnvTest deployment=b namespace="apps-$u" severity=critical)"
    assert_status 201
    assert_equal "$(gw_body_jq .environment)" unknown
    assert_equal "$(gw_body_jq .priority)" P3
}

@test "escalation: the 3rd occurrence in production raises P1 to P0 and annotates, once" {
    local ns body rr
    ns=prod-$(gw_uniq esc)
    kube_namespaces "$ns"
    body=$(am_body Escalate deployment=api namespace="$ns" severity=warning)
    gw_post_alert "$body"
    assert_status 201
    assert_equal "$(gw_body_jq .priority)" P1
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .priority)" P1
    assert_equal "$(gw_body_jq '.escalated // false')" false
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .priority)" P0
    assert_equal "$(gw_body_jq .escalated)" true
    rr=$(rr_of)
    assert_equal "$(jq -r '.metadata.labels["kubernaut.ai/priority"]' <<<"$rr")" P0
    assert_equal "$(jq -r '.metadata.annotations["kubernaut.ai/escalated-from"]' <<<"$rr")" P1
    [[ $(jq -r '.metadata.annotations["kubernaut.ai/escalation"]' <<<"$rr") == "P1 -> P0 after 3 occurrences in production" ]] ||
        fail "annotation: $(jq .metadata.annotations <<<"$rr")"
    assert_equal "$(jq -r .spec.priority <<<"$rr")" P1 # spec is immutable
    local at
    at=$(jq -r '.metadata.annotations["kubernaut.ai/escalated-at"]' <<<"$rr")
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .priority)" P0
    # not escalated again
    assert_equal "$(rr_of | jq -r '.metadata.annotations["kubernaut.ai/escalated-at"]')" "$at"
    gw_request GET "/api/v1/signals/$(gw_body_jq .fingerprint)"
    assert_status 200
    assert_equal "$(gw_body_jq .escalated)" true
}

@test "escalation window: 3 occurrences spread over more than 3 s do not escalate; 3 within it do" {
    local ns body
    ns=prod-$(gw_uniq escw)
    kube_namespaces "$ns"
    body=$(am_body EscalateWindow deployment=api namespace="$ns" severity=warning)
    gw_post_alert "$body"
    assert_status 201
    sleep 1.6
    gw_post_alert "$body"
    assert_status 202
    sleep 1.6
    # the 3rd occurrence, but the 1st is over 3 s old: 2 in the window
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .metadata.count)" 3
    assert_equal "$(gw_body_jq .priority)" P1
    assert_equal "$(gw_body_jq '.escalated // false')" false
    assert_equal "$(rr_of | jq -r '.metadata.labels["kubernaut.ai/priority"]')" P1
    # at once again: the 2nd, 3rd and this one are within 3 s
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .priority)" P0
    assert_equal "$(gw_body_jq .escalated)" true
    assert_equal "$(rr_of | jq -r '.metadata.labels["kubernaut.ai/priority"]')" P0
}


@test "owner resolution: alerts on two pods of one Deployment are one request" {
    local ns fp rr first
    ns=$(gw_uniq own)
    kube_namespace "$ns"
    kube_make_deployment "$ns" web web-5d8f7-aaaaa web-5d8f7-bbbbb
    fp=$(fp_of "$ns:Deployment:web")
    gw_post_alert "$(am_body PodCrash pod=web-5d8f7-aaaaa namespace="$ns" severity=critical)"
    assert_status 201
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    first=$(gw_body_jq .remediationRequestName)
    rr=$(rr_of)
    assert_equal "$(jq -cS .spec.targetResource <<<"$rr")" \
        "$(jq -cSn --arg ns "$ns" '{kind:"Deployment",name:"web",namespace:$ns,apiVersion:"apps/v1"}')"
    gw_post_alert "$(am_body PodCrash pod=web-5d8f7-bbbbb namespace="$ns" severity=critical)"
    assert_status 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "owner resolution: a pod that cannot be read falls back to the pod itself" {
    local ns
    ns=$(gw_uniq own)
    # the namespace exists, the pod does not (its read is a 404)
    kube_namespaces "$ns"
    gw_post_alert "$(am_body PodCrash pod=ghost-1 namespace="$ns" severity=critical)"
    assert_status 201
    assert_equal "$(gw_body_jq .fingerprint)" "$(fp_of "$ns:Pod:ghost-1")"
    assert_equal "$(rr_of | jq -r .spec.targetResource.kind)" Pod
    # the fallbacks are counted in the log line (logged at 1, 2, 4, 8, ...)
    grep -q '"owner resolution failed (1 so far), using the resource itself' \
        "$GW_TMP/lighttpd/stderr.log" || fail "the first fallback was not logged"
}

@test "priority table and scope from the config (gateway restarted with them)" {
    local ns managed other
    gw_stop_lighttpd
    GW_WORKERS=1 gw_start_lighttpd ALERTGW_SCOPE_REQUIRE_LABEL=true \
        ALERTGW_PRIORITY_TABLE='critical/*=P1,*/production=P2' ALERTGW_PRIORITY_DEFAULT=P2 \
        ALERTGW_OWNERS_RESOLVE=true
    managed=$(gw_uniq managed)
    kube_namespace "$managed" kubernaut.ai/managed=true environment=production
    gw_post_alert "$(am_body ScopeTest deployment=a namespace="$managed" severity=critical)"
    assert_status 201
    assert_equal "$(gw_body_jq .priority)" P1     # critical/* from the configured table
    gw_post_alert "$(am_body ScopeTest deployment=b namespace="$managed" severity=info)"
    assert_status 201
    assert_equal "$(gw_body_jq .priority)" P2     # */production

    # an unlabelled namespace: 200 ignored with the reason, nothing created
    other=$(gw_uniq other)
    kube_namespace "$other"
    gw_post_alert "$(am_body ScopeTest deployment=c namespace="$other" severity=critical)"
    assert_status 200
    assert_equal "$(gw_body_jq .status)" ignored
    # the reason is a code for machines, the message says why to a human
    assert_equal "$(gw_body_jq .reason)" out-of-scope
    [[ $(gw_body_jq .message) == *scope.require_label* ]] || fail "message: $HTTP_BODY"
    assert_equal "$(kube_rr_count "$(fp_of "$other:Deployment:c")")" 0
    # ... unless the resource itself is labelled
    kube_make_deployment "$other" labelled
    kube_merge "apis/apps/v1/namespaces/$other/deployments/labelled" \
        '{"metadata":{"labels":{"kubernaut.ai/managed":"true"}}}'
    gw_post_alert "$(am_body ScopeTest deployment=labelled namespace="$other" severity=critical)"
    assert_status 201
}

@test "scope precedence: the resource's own label decides first, then the namespace's; the ignored answer says how to opt in" {
    local managed other
    gw_stop_lighttpd
    GW_WORKERS=1 gw_start_lighttpd ALERTGW_SCOPE_REQUIRE_LABEL=true
    managed=$(gw_uniq managed)
    other=$(gw_uniq other)
    kube_namespace "$managed" kubernaut.ai/managed=true
    kube_namespace "$other"
    # a pod labelled false in a managed namespace: opted out
    kube_create "api/v1/namespaces/$managed/pods" '{"apiVersion":"v1","kind":"Pod",
        "metadata":{"name":"batch-1","labels":{"kubernaut.ai/managed":"false"}},
        "spec":{"containers":[{"name":"c","image":"busybox"}]}}' >/dev/null
    gw_post_alert "$(am_body ScopePrecedence pod=batch-1 namespace="$managed" severity=critical)"
    assert_status 200
    assert_equal "$(gw_body_jq .status)" ignored
    assert_equal "$(gw_body_jq .reason)" out-of-scope
    assert_equal "$(kube_rr_count "$(fp_of "$managed:Pod:batch-1")")" 0
    [[ $(gw_body_jq .message) == *"kubectl label pod batch-1 -n $managed kubernaut.ai/managed=true --overwrite"* ]] ||
        fail "the answer does not say how to opt the pod in: $HTTP_BODY"
    # an unlabelled pod in the same namespace: the namespace decides (in)
    gw_post_alert "$(am_body ScopePrecedence pod=web-1 namespace="$managed" severity=critical)"
    assert_status 201
    # a pod labelled true in an unmanaged namespace: opted in
    kube_create "api/v1/namespaces/$other/pods" '{"apiVersion":"v1","kind":"Pod",
        "metadata":{"name":"db-0","labels":{"kubernaut.ai/managed":"true"}},
        "spec":{"containers":[{"name":"c","image":"busybox"}]}}' >/dev/null
    gw_post_alert "$(am_body ScopePrecedence pod=db-0 namespace="$other" severity=critical)"
    assert_status 201
    # an unlabelled pod there: out, and the answer names the namespace command
    gw_post_alert "$(am_body ScopePrecedence pod=db-1 namespace="$other" severity=critical)"
    assert_status 200
    assert_equal "$(gw_body_jq .reason)" out-of-scope
    [[ $(gw_body_jq .message) == *"kubectl label namespace $other kubernaut.ai/managed=true"* ]] ||
        fail "the answer does not say how to opt the namespace in: $HTTP_BODY"
}

@test "scope of a cluster-scoped target: only the Node's own label decides, and the ignored answer gives its kubectl label command" {
    local node off fp
    gw_stop_lighttpd
    GW_WORKERS=1 gw_start_lighttpd ALERTGW_SCOPE_REQUIRE_LABEL=true ALERTGW_ENVIRONMENT_CACHE_TTL=3s
    node=$(gw_uniq worker)
    off=$(gw_uniq worker)
    fp=$(fp_of ":Node:$node")
    kube_create api/v1/nodes "$(jq -cn --arg n "$node" '{apiVersion:"v1",kind:"Node",metadata:{name:$n}}')" >/dev/null
    kube_create api/v1/nodes "$(jq -cn --arg n "$off" \
        '{apiVersion:"v1",kind:"Node",metadata:{name:$n,labels:{"kubernaut.ai/managed":"false"}}}')" >/dev/null
    # an unlabelled node: out, and the answer names the node's own command
    # (a node has no namespace to opt in)
    gw_post_alert "$(am_body ScopeNode node="$node" severity=critical)"
    assert_status 200
    assert_equal "$(gw_body_jq .status)" ignored
    assert_equal "$(gw_body_jq .reason)" out-of-scope
    [[ $(gw_body_jq .message) == *"to opt it in: kubectl label node $node kubernaut.ai/managed=true" ]] ||
        fail "the answer does not say how to opt the node in: $HTTP_BODY"
    [[ $(gw_body_jq .message) != *namespace* ]] || fail "a node has no namespace: $HTTP_BODY"
    assert_equal "$(kube_rr_count "$fp")" 0
    # a node labelled false: out, with the --overwrite command
    gw_post_alert "$(am_body ScopeNode node="$off" severity=critical)"
    assert_status 200
    assert_equal "$(gw_body_jq .reason)" out-of-scope
    [[ $(gw_body_jq .message) == *"to opt it in: kubectl label node $off kubernaut.ai/managed=true --overwrite" ]] ||
        fail "the answer does not say how to opt the node in: $HTTP_BODY"
    # what the command does: the label, seen once the 3 s cache expires
    kube_merge "api/v1/nodes/$node" '{"metadata":{"labels":{"kubernaut.ai/managed":"true"}}}'
    _node_in() { gw_post_alert "$(am_body ScopeNode node="$node" severity=critical)"; [[ $HTTP_STATUS == 201 ]]; }
    gw_wait_for 10 _node_in || fail "the labelled node is still out of scope: $HTTP_BODY"
    assert_equal "$(kube_rr_count "$fp")" 1
}

#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t1400-discovery: kinds and versions from the cluster's API discovery,
# through lighttpd against the real Redis and the v1.20 kube-apiserver: a
# workload kind defined by a CRD (an Argo-like Rollout with a scale
# subresource) is a label target and an owner like the built-in kinds,
# CronJob gets the version this cluster serves (batch/v1beta1; the built-in
# table says batch/v1), and a discovery the gateway may not make falls back
# to the built-in table.  One worker, so that what it discovered is what
# the next request sees.

load helpers

ROLLOUTS=apis/argoproj.io/v1alpha1

# crd KIND PLURAL GROUP: a namespaced CRD at v1alpha1 with status and scale
# subresources; waits until the apiserver serves it.
crd() {
    local kind=$1 plural=$2 group=$3
    kube_create apis/apiextensions.k8s.io/v1/customresourcedefinitions "$(jq -cn \
        --arg k "$kind" --arg p "$plural" --arg g "$group" '{
        apiVersion:"apiextensions.k8s.io/v1",kind:"CustomResourceDefinition",
        metadata:{name:($p + "." + $g)},
        spec:{group:$g,scope:"Namespaced",
              names:{kind:$k,plural:$p,singular:($k|ascii_downcase),listKind:($k + "List")},
              versions:[{name:"v1alpha1",served:true,storage:true,
                  subresources:{status:{},scale:{specReplicasPath:".spec.replicas",
                                                 statusReplicasPath:".status.replicas"}},
                  schema:{openAPIV3Schema:{type:"object",properties:{
                      spec:{type:"object","x-kubernetes-preserve-unknown-fields":true,
                            properties:{replicas:{type:"integer"}}},
                      status:{type:"object","x-kubernetes-preserve-unknown-fields":true,
                              properties:{replicas:{type:"integer"}}}}}}}]}}')" >/dev/null || return 1
    gw_wait_for 30 _served "$group" "$plural" || { echo "CRD $plural.$group not served" >&2; return 1; }
}
_served() { kube_api "apis/$1/v1alpha1" | jq -e --arg p "$2" '.resources | any(.name == $p)' >/dev/null; }

# grant_get GROUP PLURAL: what an operator adds for the owner walk of a CRD
# kind (docs/security.md): get on it for the gateway's identity.
grant_get() {
    kube_create apis/rbac.authorization.k8s.io/v1/clusterroles "$(jq -cn --arg g "$1" --arg p "$2" '{
        apiVersion:"rbac.authorization.k8s.io/v1",kind:"ClusterRole",
        metadata:{name:("alertgw-owners-" + $p)},
        rules:[{apiGroups:[$g],resources:[$p],verbs:["get"]}]}')" >/dev/null || return 1
    kube_create apis/rbac.authorization.k8s.io/v1/clusterrolebindings "$(jq -cn --arg p "$2" '{
        apiVersion:"rbac.authorization.k8s.io/v1",kind:"ClusterRoleBinding",
        metadata:{name:("alertgw-owners-" + $p)},
        roleRef:{apiGroup:"rbac.authorization.k8s.io",kind:"ClusterRole",name:("alertgw-owners-" + $p)},
        subjects:[{apiGroup:"rbac.authorization.k8s.io",kind:"User",name:"alertgw"}]}')" >/dev/null
}

# rollout NS NAME: a Rollout object; prints it.
rollout() {
    kube_create "$ROLLOUTS/namespaces/$1/rollouts" "$(jq -cn --arg n "$2" '{
        apiVersion:"argoproj.io/v1alpha1",kind:"Rollout",metadata:{name:$n},spec:{replicas:2}}')"
}

# owned_pod NS POD APIVERSION KIND NAME UID: a pod whose controller is that object.
owned_pod() {
    kube_create "api/v1/namespaces/$1/pods" "$(jq -cn --arg p "$2" --arg av "$3" --arg k "$4" \
        --arg n "$5" --arg uid "$6" '{
        apiVersion:"v1",kind:"Pod",
        metadata:{name:$p,ownerReferences:[{apiVersion:$av,kind:$k,name:$n,uid:$uid,controller:true}]},
        spec:{containers:[{name:"c",image:"busybox"}]}}')" >/dev/null
}

# apiserver_reads RESOURCE: reads the apiserver served on RESOURCE (its
# metrics).  v1.20 counts a GET of one custom resource as verb LIST, so
# both are counted; nothing here lists rollouts.
apiserver_reads() {
    kube_api metrics | awk -v r="resource=\"$1\"" '
        /^apiserver_request_total\{/ && index($0, r) &&
        (index($0, "verb=\"GET\"") || index($0, "verb=\"LIST\"")) { n += $NF }
        END { print n + 0 }'
}

# discoveries: the worker's "API discovery:" log lines so far.
discoveries() { grep -c '"API discovery: ' "$GW_TMP/lighttpd/stderr.log" || true; }

# rr_of: the request named in the last answer.
rr_of() { kube_get_rr "$(gw_body_jq '.remediationRequestName // (.metadata.remediationRequestRef | split("/")[1])')"; }

setup_file() {
    GW_WORKERS=1 gw_setup_stack ALERTGW_OWNERS_RESOLVE=true
    crd Rollout rollouts argoproj.io
    grant_get argoproj.io rollouts
    export NS=disc-a
    kube_namespace "$NS"
}
teardown_file() { gw_teardown_stack; }
teardown() {
    # a test that took discovery away gives it back, whatever happened
    if [[ -f $GW_TMP/discovery.subjects ]]; then
        kube_merge apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:discovery \
            "$(<"$GW_TMP/discovery.subjects")"
        rm -f "$GW_TMP/discovery.subjects"
    fi
    gw_teardown_test
}

@test "a CRD workload kind is a label target: rollout=NAME -> Rollout argoproj.io/v1alpha1" {
    rollout "$NS" web >/dev/null
    gw_post_alert "$(am_body RolloutDegraded rollout=web namespace="$NS" severity=critical)"
    assert_status 201
    assert_equal "$(gw_body_jq .fingerprint)" "$(fp_of "$NS:Rollout:web")"
    assert_equal "$(rr_of | jq -cS .spec.targetResource)" \
        "$(jq -cSn --arg ns "$NS" '{kind:"Rollout",name:"web",namespace:$ns,apiVersion:"argoproj.io/v1alpha1"}')"
    # same rank as the built-in workloads: it beats a pod label, a
    # built-in workload wins the tie
    gw_post_alert "$(am_body RolloutDegraded rollout=web pod=web-abc namespace="$NS" severity=critical)"
    assert_status 202
    assert_equal "$(gw_body_jq .fingerprint)" "$(fp_of "$NS:Rollout:web")"
    kube_create "apis/apps/v1/namespaces/$NS/deployments" '{"apiVersion":"apps/v1","kind":"Deployment",
        "metadata":{"name":"api"},"spec":{"selector":{"matchLabels":{"app":"api"}},
        "template":{"metadata":{"labels":{"app":"api"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}' >/dev/null
    gw_post_alert "$(am_body RolloutDegraded rollout=web deployment=api namespace="$NS" severity=critical)"
    assert_status 201
    assert_equal "$(gw_body_jq .fingerprint)" "$(fp_of "$NS:Deployment:api")"
    # never-candidates stay so
    gw_post_alert "$(am_body RolloutDegraded rollout=web job=batch service=svc namespace="$NS" severity=critical)"
    assert_status 202
    assert_equal "$(gw_body_jq .fingerprint)" "$(fp_of "$NS:Rollout:web")"
}

@test "CronJob gets the version this cluster serves (batch/v1beta1 on v1.20)" {
    local failed
    failed=$(grep -c 'owner resolution failed' "$GW_TMP/lighttpd/stderr.log" || true)
    kube_create "apis/batch/v1beta1/namespaces/$NS/cronjobs" '{
        "apiVersion":"batch/v1beta1","kind":"CronJob","metadata":{"name":"backup"},
        "spec":{"schedule":"0 * * * *","jobTemplate":{"spec":{"template":{"spec":{
            "restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}}}' >/dev/null
    gw_post_alert "$(am_body BackupFailed cronjob=backup namespace="$NS" severity=warning)"
    assert_status 201
    assert_equal "$(rr_of | jq -cS .spec.targetResource)" \
        "$(jq -cSn --arg ns "$NS" '{kind:"CronJob",name:"backup",namespace:$ns,apiVersion:"batch/v1beta1"}')"
    # it was read there (owner resolution), not at a version this cluster lacks
    assert_equal "$(grep -c 'owner resolution failed' "$GW_TMP/lighttpd/stderr.log" || true)" "$failed"
}

@test "owner walk: a Pod owned by a Rollout is read at its ownerReference's version" {
    local uid before
    uid=$(rollout "$NS" canary | jq -r .metadata.uid)
    owned_pod "$NS" canary-7f9c-x1 argoproj.io/v1alpha1 Rollout canary "$uid"
    before=$(apiserver_reads rollouts)
    gw_post_alert "$(am_body PodCrash pod=canary-7f9c-x1 namespace="$NS" severity=critical)"
    assert_status 201
    assert_equal "$(gw_body_jq .fingerprint)" "$(fp_of "$NS:Rollout:canary")"
    assert_equal "$(rr_of | jq -cS .spec.targetResource)" \
        "$(jq -cSn --arg ns "$NS" '{kind:"Rollout",name:"canary",namespace:$ns,apiVersion:"argoproj.io/v1alpha1"}')"
    # the walk read the Rollout (to follow its own owner, if any)
    (( $(apiserver_reads rollouts) > before )) || fail "the Rollout was not read"
}

@test "discovery is one call per TTL per worker: duplicates make none" {
    local n
    n=$(discoveries)
    (( n == 1 )) || fail "expected one discovery so far, saw $n"
    for i in 1 2 3 4 5; do
        gw_post_alert "$(am_body RolloutDegraded rollout=web namespace="$NS" severity=critical)"
        assert_status 202
    done
    assert_equal "$(discoveries)" 1
}

@test "a CRD installed after the first discovery: its kind is found by an early refresh (<= 30 s)" {
    local uid at wait before
    crd Widget widgets example.com
    grant_get example.com widgets
    uid=$(kube_create "apis/example.com/v1alpha1/namespaces/$NS/widgets" \
        '{"apiVersion":"example.com/v1alpha1","kind":"Widget","metadata":{"name":"w1"}}' | jq -r .metadata.uid)
    owned_pod "$NS" w1-pod example.com/v1alpha1 Widget w1 "$uid"
    # an early refresh is at most one per 30 s: wait until the first
    # discovery is that old
    at=$(grep '"API discovery: ' "$GW_TMP/lighttpd/stderr.log" | head -n1 | jq -r .time)
    wait=$(( $(date -d "$at" +%s) + 31 - $(date +%s) ))
    (( wait > 0 )) && sleep "$wait"
    before=$(apiserver_reads widgets)
    gw_post_alert "$(am_body PodCrash pod=w1-pod namespace="$NS" severity=critical)"
    assert_status 201
    assert_equal "$(rr_of | jq -cS .spec.targetResource)" \
        "$(jq -cSn --arg ns "$NS" '{kind:"Widget",name:"w1",namespace:$ns,apiVersion:"example.com/v1alpha1"}')"
    # the new kind was known, so the owner was read (to follow it further)
    (( $(apiserver_reads widgets) > before )) || fail "the Widget was not read"
}

@test "discovery refused (RBAC): the built-in table, CronJob batch/v1, no CRD kinds" {
    local ns
    # the gateway's user loses the discovery documents (system:discovery is
    # bound to every authenticated user); the admin keeps them
    kube_api apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:discovery |
        jq -c '{subjects: .subjects}' >"$GW_TMP/discovery.subjects"
    kube_merge apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:discovery \
        '{"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"system:masters"}]}'
    gw_stop_lighttpd
    GW_WORKERS=1 gw_start_lighttpd ALERTGW_OWNERS_RESOLVE=true
    ns=$(gw_uniq fallback)
    kube_namespace "$ns"
    gw_post_alert "$(am_body BackupFailed cronjob=nightly namespace="$ns" severity=warning)"
    assert_status 201
    assert_equal "$(rr_of | jq -r .spec.targetResource.apiVersion)" batch/v1
    grep -q '"API discovery failed, using the built-in kinds table: .*403' \
        "$GW_TMP/lighttpd/stderr.log" || fail "the fallback was not logged"
    # a CRD kind is unknown without discovery: no target (200 ignored, not
    # an error Alertmanager would count as a failed notification)
    gw_post_alert "$(am_body RolloutDegraded rollout=web namespace="$ns" severity=critical)"
    assert_status 200
    assert_equal "$(gw_body_jq .reason)" no-target
}

#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t0600-explain: POST /api/v1/explain answers what the gateway would do with
# a webhook, and why - fingerprint and its inputs, target and owner chain,
# environment and priority with the rule that gave each, the dedup state and
# the phase rule, the storm, the limits, the decision - and writes nothing:
# Redis holds the same keys, the apiserver's list the same resourceVersion,
# and no signal counter moves.  Its authentication is auth.explain (here:
# auth.prometheus's, bearer), with the namespace scope of the caller's token.

load helpers

TOKEN=t0600-prod-sender-token-3c9e
ADMIN_TOKEN=t0600-any-namespace-token-7a1d

setup_file() {
    local scoped any
    scoped=$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)
    any=$(printf '%s' "$ADMIN_TOKEN" | sha256sum | cut -d' ' -f1)
    gw_setup_stack ALERTGW_AUTH_PROMETHEUS=bearer ALERTGW_AUTH_GRAFANA=bearer \
        ALERTGW_AUTH_EVENTS=bearer "ALERTGW_AUTH_BEARER_TOKENS=$scoped=prod,$any" \
        ALERTGW_STORM_PATTERN_THRESHOLD=3 ALERTGW_OWNERS_RESOLVE=true || return 1
    kube_namespaces prod staging
}
teardown_file() { gw_teardown_stack; }
teardown()      { gw_teardown_test; }

ROUTE=/api/v1/signals/prometheus

# explain BODY [QUERY [CURL ARGS...]]: POST /api/v1/explain, with the
# token scoped to prod unless the arguments bring another Authorization.
explain() {
    local body=$1 query=${2:-}
    shift $(( $# < 2 ? $# : 2 ))
    local auth=(-H "Authorization: Bearer $TOKEN")
    [[ " $* " == *"Authorization:"* ]] && auth=()
    gw_post "/api/v1/explain${query:+?$query}" "$body" "${auth[@]}" "$@"
}
send() { gw_post_alert "$1" -H "Authorization: Bearer $TOKEN"; }

# the state explain must leave alone: Redis' keys with their values' digests
# (DUMP), the requests with their resourceVersions (the list's own moves
# with any write anywhere in etcd, leases included), the signal counters
snapshot() {
    local k
    {
        gw_redis_cli DBSIZE
        for k in $(gw_redis_cli --scan | sort); do
            printf '%s %s\n' "$k" "$(gw_redis_cli --no-raw DUMP "$k" | sha256sum | cut -c1-16)"
        done
        kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests" |
            jq -r '.items[] | .metadata.name + " " + .metadata.resourceVersion' | sort
        gw_scrape -H "Authorization: Bearer $ADMIN_TOKEN" &&
            grep -E '^gateway_(signals|crds|storms|escalations|owner)[a-z_]*(\{[^}]*\})? ' "$GW_TMP/scrape"
    } >"$1"
}

# set_phase NAME PHASE: merge-patch status.overallPhase as admin.
set_phase() {
    kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests/$1/status" \
        -X PATCH -H 'Content-Type: application/merge-patch+json' \
        --data "{\"status\":{\"overallPhase\":\"$2\"}}" -o /dev/null -w '%{http_code}'
}

@test "a new alert: created, with every input and rule; nothing written to Redis, the apiserver or the counters" {
    local name fp
    name=$(gw_uniq new)
    fp=$(fp_of "prod:Deployment:$name")
    send "$(am_body Warmup deployment=warm namespace=prod severity=warning)" # caches, keys exist
    snapshot "$GW_TMP/before"
    explain "$(am_body ExplainNew deployment="$name" namespace=prod severity=critical)"
    assert_status 200
    assert_equal "$(gw_header Content-Type | cut -d';' -f1)" application/json
    assert_equal "$(gw_body_jq '.signals | length')" 1
    assert_equal "$(gw_body_jq '.signals[0].index')" 0
    assert_equal "$(gw_body_jq '.signals[0].decision')" created
    assert_equal "$(gw_body_jq '.signals[0].fingerprint')" "$fp"
    assert_equal "$(jq -c '.signals[0].fingerprintInputs' <<<"$HTTP_BODY")" \
        "{\"cluster\":\"\",\"namespace\":\"prod\",\"kind\":\"Deployment\",\"name\":\"$name\"}"
    assert_equal "$(gw_body_jq '.signals[0].target.kind')" Deployment
    assert_equal "$(gw_body_jq '.signals[0].target.apiVersion')" apps/v1
    assert_equal "$(gw_body_jq '.signals[0].ownerChain | length')" 1
    assert_equal "$(gw_body_jq '.signals[0].environment.value')" unknown
    assert_equal "$(gw_body_jq '.signals[0].environment.rule')" default
    assert_regex "$(gw_body_jq '.signals[0].priority.value')" '^P[0-3]$'
    assert_regex "$(gw_body_jq '.signals[0].priority.rule')" '^priority\.(table|default)'
    assert_equal "$(gw_body_jq '.signals[0].scope.verdict')" not-required
    assert_equal "$(gw_body_jq '.signals[0].dedup.state')" none
    assert_equal "$(gw_body_jq '.signals[0].storm.open')" false
    assert_equal "$(gw_body_jq '.signals[0].limits.verdict')" within
    snapshot "$GW_TMP/after"
    run diff "$GW_TMP/before" "$GW_TMP/after"
    assert_success
    assert_equal "$(kube_rr_count "$fp")" 0
}

@test "a known fingerprint: duplicate of its open request; once it is Completed, a new one would be created" {
    local name fp rr
    name=$(gw_uniq dup)
    fp=$(fp_of "prod:Deployment:$name")
    send "$(am_body ExplainDup deployment="$name" namespace=prod severity=warning)"
    assert_status 201
    rr=$(gw_body_jq .remediationRequestName)
    explain "$(am_body ExplainDup deployment="$name" namespace=prod severity=warning)"
    assert_status 200
    assert_equal "$(gw_body_jq '.signals[0].decision')" duplicate
    assert_equal "$(gw_body_jq '.signals[0].dedup.state')" active
    assert_equal "$(gw_body_jq '.signals[0].dedup.remediationRequestRef')" "$GW_RR_NAMESPACE/$rr"
    assert_equal "$(gw_body_jq '.signals[0].dedup.count')" 1
    assert_regex "$(gw_body_jq '.signals[0].dedup.phaseRule')" '^not finished'
    assert_equal "$(set_phase "$rr" Completed)" 200
    explain "$(am_body ExplainDup deployment="$name" namespace=prod severity=warning)"
    assert_equal "$(gw_body_jq '.signals[0].decision')" created
    assert_equal "$(gw_body_jq '.signals[0].dedup.phase')" Completed
    assert_regex "$(gw_body_jq '.signals[0].dedup.phaseRule')" 'finished: a new one is made'
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "ignored and rejected, with their reasons: no namespace, no target, the Watchdog, resolved, a bad label" {
    explain "$(am_webhook "$(am_alert ExplainMix deployment=api namespace=no-such-ns-t0600)" \
        "$(am_alert NodeDown severity=critical instance=10.0.0.1:9100)" \
        "$(am_alert Watchdog severity=none)" \
        "$(am_alert --status resolved ExplainMix deployment=api namespace=prod)" \
        "$(am_alert ExplainMix deployment=api namespace='Not A Namespace')")" "" \
        -H "Authorization: Bearer $ADMIN_TOKEN"
    assert_status 200
    assert_equal "$(gw_body_jq '[.signals[].decision] | join(",")')" ignored,ignored,ignored,ignored,rejected
    assert_equal "$(gw_body_jq '[.signals[0,1,2,3].reason] | join(",")')" \
        namespace-not-found,no-target,heartbeat,resolved
    assert_regex "$(gw_body_jq '.signals[4].reason')" 'label namespace'
    assert_regex "$(gw_body_jq '.signals[1].message')" 'no target resource'
}

@test "a storm: the third resource of one alert in one namespace would be aggregated" {
    local an
    an=ExplainStorm$BATS_TEST_NUMBER
    send "$(am_body "$an" deployment="$(gw_uniq s1)" namespace=prod severity=warning)"
    assert_status 201
    send "$(am_body "$an" deployment="$(gw_uniq s2)" namespace=prod severity=warning)"
    assert_status 201
    explain "$(am_body "$an" deployment="$(gw_uniq s3)" namespace=prod severity=warning)"
    assert_status 200
    assert_equal "$(gw_body_jq '.signals[0].decision')" aggregated
    assert_equal "$(gw_body_jq '.signals[0].storm.open')" false
    assert_equal "$(gw_body_jq '.signals[0].storm.recentResources')" 3
    assert_regex "$(gw_body_jq '.signals[0].reason')" 'pattern storm'
}

@test "the owner chain: a pod's alert walks to its Deployment, and the fingerprint is the Deployment's" {
    local d pod fp
    d=$(gw_uniq own)
    pod=$d-5d8f7-x1
    kube_make_deployment prod "$d" "$pod"
    fp=$(fp_of "prod:Deployment:$d")
    explain "$(am_body ExplainOwner pod="$pod" namespace=prod severity=warning)"
    assert_status 200
    assert_equal "$(gw_body_jq '[.signals[0].ownerChain[].kind] | join(",")')" Pod,ReplicaSet,Deployment
    assert_equal "$(gw_body_jq '.signals[0].ownerChain[2].name')" "$d"
    assert_equal "$(gw_body_jq '.signals[0].target.kind')" Deployment
    assert_equal "$(gw_body_jq '.signals[0].fingerprint')" "$fp"
}

@test "auth and scope: no token 401; a token scoped to prod may not ask about staging (403); the unscoped one may" {
    local body
    body=$(am_body ExplainScope deployment=api namespace=staging severity=warning)
    gw_post /api/v1/explain "$body"
    assert_problem 401 unauthorized /api/v1/explain
    explain "$body"
    assert_problem 403 forbidden /api/v1/explain
    gw_post /api/v1/explain "$body" -H "Authorization: Bearer $ADMIN_TOKEN"
    assert_status 200
    assert_equal "$(gw_body_jq '.signals[0].fingerprintInputs.namespace')" staging
}

@test "the source parameter: grafana and kubernetes-event bodies; anything else 400; GET 405" {
    local d
    d=$(gw_uniq src)
    explain "$(am_body ExplainGrafana deployment="$d" namespace=prod severity=critical)" source=grafana
    assert_status 200
    assert_equal "$(gw_body_jq '.signals[0].fingerprint')" "$(fp_of "prod:Deployment:$d")"
    explain "$(k8s_event Warning "$d" prod)" source=kubernetes-event
    assert_status 200
    assert_equal "$(gw_body_jq '.signals[0].decision')" created
    explain "$(am_body X deployment=a namespace=prod)" source=nagios
    assert_problem 400 validation-error /api/v1/explain
    assert_regex "$(gw_body_jq .detail)" 'source'
    gw_request GET /api/v1/explain -H "Authorization: Bearer $TOKEN"
    assert_problem 405 method-not-allowed /api/v1/explain
    assert_equal "$(gw_header Allow)" POST
}

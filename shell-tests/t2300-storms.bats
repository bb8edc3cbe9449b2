#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t2300-storms: alert storms are detected in Redis atomically with dedup and
# folded into one aggregated RemediationRequest; the per-namespace cap stops
# a runaway rule.  Defaults for the thresholds (pattern 5 resources in 2 min,
# rate more than 10 occurrences of one alert name a minute); a 3 s
# aggregation window so that closing can be seen, and a namespace cap of 8
# new requests a minute.

load helpers

setup_file() {
    # The creation budgets keep their defaults (120 new requests a minute
    # per sender; every client here is the one sender 127.0.0.1): about
    # 45 creates in all (the first four pods of each storm and its
    # aggregate; members are never budgeted), at most 20 in a minute, so
    # the cap test's 503 is the cap's.
    gw_setup_stack ALERTGW_STORM_AGGREGATION_WINDOW=3s ALERTGW_STORM_NAMESPACE_CAP=8
}
teardown_file() { gw_teardown_stack; }
setup()         { gw_reload_url; }
teardown()      { gw_teardown_test; }

# storm_rrs NS: the aggregated requests whose storm namespace is NS.
storm_rrs() {
    kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests?labelSelector=kubernaut.ai/storm=true" |
        jq -c --arg ns "$1" '[.items[] | select(.spec.targetResource.name == $ns)]'
}

@test "12 alerts on 12 pods in one namespace: 4 requests and 1 aggregate, every alert accounted for" {
    local ns i codes="" agg aggname
    ns=$(gw_uniq storm)
    kube_namespaces "$ns"
    for i in $(seq 1 12); do
        gw_post_alert "$(am_body PodCrashLooping pod="web-$i" namespace="$ns" severity=critical)"
        codes+="$HTTP_STATUS "
        case $i in
        [1-4])
            assert_status 201 ;;
        5)
            assert_status 202
            assert_equal "$(gw_body_jq .status)" aggregated
            assert_equal "$(gw_body_jq .storm.type)" pattern
            assert_equal "$(gw_body_jq .storm.opened)" true
            aggname=$(gw_body_jq .remediationRequestName)
            assert_equal "$(gw_body_jq .storm.remediationRequestRef)" "$GW_RR_NAMESPACE/$aggname"
            assert_equal "$(gw_body_jq .storm.resourceCount)" 5 ;;
        *)
            assert_status 202
            assert_equal "$(gw_body_jq .status)" aggregated
            assert_equal "$(gw_body_jq .storm.opened)" false
            assert_equal "$(gw_body_jq .remediationRequestName)" "$aggname"
            assert_equal "$(gw_body_jq .storm.remediationRequestRef)" "$GW_RR_NAMESPACE/$aggname"
            assert_equal "$(gw_body_jq .storm.resourceCount)" "$i" ;;
        esac
    done
    echo "# answers: $codes" >&3
    # a handful of requests, not 12
    for i in 1 2 3 4; do assert_equal "$(kube_rr_count "$(fp_of "$ns:Pod:web-$i")")" 1; done
    for i in $(seq 5 12); do assert_equal "$(kube_rr_count "$(fp_of "$ns:Pod:web-$i")")" 0; done
    agg=$(storm_rrs "$ns")
    assert_equal "$(jq length <<<"$agg")" 1
    assert_equal "$(jq -r '.[0].metadata.name' <<<"$agg")" "$aggname"
    assert_equal "$(jq -r '.[0].metadata.labels["kubernaut.ai/storm"]' <<<"$agg")" true
    assert_equal "$(jq -r '.[0].metadata.annotations["kubernaut.ai/storm-type"]' <<<"$agg")" pattern
    assert_equal "$(jq -r '.[0].spec.targetResource.kind' <<<"$agg")" Namespace
    assert_equal "$(jq -r '.[0].spec.signalName' <<<"$agg")" PodCrashLooping
    # every one of the 12 is listed on the aggregate (the first four too)
    assert_equal "$(jq -r '.[0].metadata.annotations["kubernaut.ai/storm-resource-count"]' <<<"$agg")" 12
    assert_equal "$(jq -r '.[0].metadata.annotations["kubernaut.ai/storm-resources"] | split(",") | sort | join(" ")' <<<"$agg")" \
        "$(for i in $(seq 1 12); do echo "Pod/web-$i"; done | sort | xargs)"
    assert_equal "$(jq -r '.[0].status.deduplication.occurrenceCount' <<<"$agg")" 8
}

@test "a storm member's repeat counts on the aggregate; GET shows the membership" {
    local ns i fp aggname
    ns=$(gw_uniq storm)
    kube_namespaces "$ns"
    for i in $(seq 1 6); do
        gw_post_alert "$(am_body NodeDown pod="db-$i" namespace="$ns" severity=warning)"
    done
    assert_equal "$(gw_body_jq .status)" aggregated
    aggname=$(gw_body_jq .remediationRequestName)
    fp=$(fp_of "$ns:Pod:db-6")
    gw_post_alert "$(am_body NodeDown pod=db-6 namespace="$ns" severity=warning)"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" aggregated
    assert_equal "$(gw_body_jq .duplicate)" true
    assert_equal "$(gw_body_jq .metadata.count)" 2
    assert_equal "$(gw_body_jq .remediationRequestName)" "$aggname"
    assert_equal "$(kube_rr_count "$fp")" 0
    # opener (db-5), db-6 twice: three occurrences folded
    assert_equal "$(kube_rr_occurrences "$aggname")" 3

    gw_request GET "/api/v1/signals/$fp"
    assert_status 200
    assert_equal "$(gw_body_jq .storm.member)" true
    assert_equal "$(gw_body_jq .storm.type)" pattern
    assert_equal "$(gw_body_jq .storm.resourceCount)" 6
    assert_equal "$(gw_body_jq .storm.remediationRequestRef)" "$GW_RR_NAMESPACE/$aggname"
    # the older names, kept as aliases
    assert_equal "$(gw_body_jq .storm.resources)" 6
    assert_equal "$(gw_body_jq .storm.aggregateRef)" "$GW_RR_NAMESPACE/$aggname"
    assert_equal "$(gw_body_jq .count)" 2
    gw_request GET "/api/v1/signals/$(fp_of "$ns:Pod:db-1")"
    assert_status 200
    assert_equal "$(gw_body_jq .storm.member)" false
}

@test "other namespaces and other alert names do not join a storm" {
    local a b i
    a=$(gw_uniq calm); b=$(gw_uniq calm)
    kube_namespaces "$a" "$b"
    for i in 1 2 3 4; do
        gw_post_alert "$(am_body DiskFull pod="p-$i" namespace="$a" severity=warning)"
        assert_status 201
        gw_post_alert "$(am_body DiskFull pod="p-$i" namespace="$b" severity=warning)"
        assert_status 201
    done
    # a fifth resource in a, under another alert name: still no storm
    gw_post_alert "$(am_body MemoryHigh pod=p-5 namespace="$a" severity=warning)"
    assert_status 201
    assert_equal "$(storm_rrs "$a" | jq length)" 0
}

@test "the window closes after quiet; members keep counting on their aggregate" {
    local ns i first second
    ns=$(gw_uniq storm)
    kube_namespaces "$ns"
    for i in $(seq 1 5); do
        gw_post_alert "$(am_body Flapping pod="f-$i" namespace="$ns" severity=warning)"
    done
    assert_equal "$(gw_body_jq .storm.opened)" true
    first=$(gw_body_jq .remediationRequestName)
    sleep 4 # past the 3 s aggregation window
    # the resources are still within the 2 min pattern window: a new storm
    gw_post_alert "$(am_body Flapping pod=f-6 namespace="$ns" severity=warning)"
    assert_status 202
    assert_equal "$(gw_body_jq .storm.opened)" true
    second=$(gw_body_jq .remediationRequestName)
    [[ $second != "$first" ]] || fail "the closed storm's aggregate was reused"
    # a member of the first storm still counts on the first aggregate
    gw_post_alert "$(am_body Flapping pod=f-5 namespace="$ns" severity=warning)"
    assert_status 202
    assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
    assert_equal "$(storm_rrs "$ns" | jq length)" 2
}

@test "a busy storm still closes after max_window (gateway restarted with 8 s)" {
    local ns i first t0 left
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_STORM_AGGREGATION_WINDOW=3s ALERTGW_STORM_MAX_WINDOW=8s
    ns=$(gw_uniq long)
    kube_namespaces "$ns"
    for i in $(seq 1 5); do
        gw_post_alert "$(am_body Endless pod="e-$i" namespace="$ns" severity=warning)"
    done
    t0=$(date +%s%N) # the storm opened during the last post
    assert_equal "$(gw_body_jq .storm.opened)" true
    first=$(gw_body_jq .remediationRequestName)
    # a new member every second: never 3 s of quiet (well inside the 8 s,
    # also with slow sanitizer workers)
    for i in 6 7 8; do
        sleep 1
        gw_post_alert "$(am_body Endless pod="e-$i" namespace="$ns" severity=warning)"
        assert_equal "$(gw_body_jq .remediationRequestName)" "$first"
    done
    # now until more than 8 s after the opening, still never 3 s quiet
    while left=$(( 8600 - ($(date +%s%N) - t0) / 1000000 )); (( left > 0 )); do
        sleep "$(printf '%d.%03d' $(( (left < 1500 ? left : 1500) / 1000 )) $(( (left < 1500 ? left : 1500) % 1000 )))"
        (( left > 1500 )) &&
            gw_post_alert "$(am_body Endless pod="e-$((++i))" namespace="$ns" severity=warning)"
    done
    gw_post_alert "$(am_body Endless pod=e-99 namespace="$ns" severity=warning)"
    assert_status 202
    assert_equal "$(gw_body_jq .storm.opened)" true
    [[ $(gw_body_jq .remediationRequestName) != "$first" ]] || fail "max_window did not close the storm"
}

# rate_storms: gateway_storms_detected_total{type="rate"} now (0 when absent).
rate_storms() {
    local v
    gw_scrape || fail "GET /metrics failed"
    v=$(gw_metric 'gateway_storms_detected_total{type="rate"}')
    [[ $v == absent ]] && v=0
    echo "$v"
}

@test "rate storm, default thresholds: one resource firing 11 times in a minute opens it; the next new resource creates the aggregate" {
    local ns other i name fp before aggname agg
    # every storm setting at its default (1 min aggregation window)
    gw_stop_lighttpd
    gw_start_lighttpd
    ns=$(gw_uniq rate); other=$(gw_uniq rate)
    kube_namespaces "$ns" "$other"
    before=$(rate_storms)
    gw_post_alert "$(am_body Burst pod=r-1 namespace="$ns" severity=warning)"
    assert_status 201
    name=$(gw_body_jq .remediationRequestName)
    fp=$(fp_of "$ns:Pod:r-1")
    for i in $(seq 2 10); do
        gw_post_alert "$(am_body Burst pod=r-1 namespace="$ns" severity=warning)"
        assert_status 202
        assert_equal "$(gw_body_jq .status)" duplicate
        assert_equal "$(gw_body_jq .metadata.count)" "$i"
    done
    # ten occurrences in a minute: no storm yet
    assert_equal "$(rate_storms)" "$before"
    # the eleventh opens the rate storm and keeps its own answer
    gw_post_alert "$(am_body Burst pod=r-1 namespace="$ns" severity=warning)"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" duplicate
    assert_equal "$(gw_body_jq .duplicate)" true
    assert_equal "$(gw_body_jq .metadata.count)" 11
    assert_equal "$(gw_body_jq .remediationRequestName)" "$name"
    assert_equal "$(gw_body_jq '.storm // "none"')" none
    assert_equal "$(rate_storms)" "$((before + 1))"
    assert_equal "$(storm_rrs "$ns" | jq length)" 0 # no aggregate before a new signal

    # another alert name in that namespace, and that alert name in another
    # namespace, are not in the storm
    gw_post_alert "$(am_body Calm pod=c-1 namespace="$ns" severity=warning)"
    assert_status 201
    gw_post_alert "$(am_body Burst pod=r-2 namespace="$other" severity=warning)"
    assert_status 201

    # the first new resource of the storm creates the aggregate
    gw_post_alert "$(am_body Burst pod=r-2 namespace="$ns" severity=warning)"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" aggregated
    assert_equal "$(gw_body_jq .duplicate)" false
    assert_equal "$(gw_body_jq .storm.type)" rate
    assert_equal "$(gw_body_jq .storm.opened)" true
    aggname=$(gw_body_jq .remediationRequestName)
    [[ $aggname != "$name" ]] || fail "the storm took over r-1's request"
    # a second one joins it
    gw_post_alert "$(am_body Burst pod=r-3 namespace="$ns" severity=warning)"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" aggregated
    assert_equal "$(gw_body_jq .storm.type)" rate
    assert_equal "$(gw_body_jq .storm.opened)" false
    assert_equal "$(gw_body_jq .remediationRequestName)" "$aggname"
    # the resource that fired stays a plain duplicate on its own request
    gw_post_alert "$(am_body Burst pod=r-1 namespace="$ns" severity=warning)"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" duplicate
    assert_equal "$(gw_body_jq .metadata.count)" 12
    assert_equal "$(gw_body_jq .remediationRequestName)" "$name"
    gw_request GET "/api/v1/signals/$fp"
    assert_status 200
    assert_equal "$(gw_body_jq .storm.member)" false
    assert_equal "$(gw_body_jq .count)" 12

    # one storm: the aggregate's creation is not a second one
    assert_equal "$(rate_storms)" "$((before + 1))"
    assert_equal "$(kube_rr_count "$fp")" 1
    assert_equal "$(kube_rr_count "$(fp_of "$ns:Pod:r-2")")" 0
    assert_equal "$(kube_rr_count "$(fp_of "$ns:Pod:r-3")")" 0
    assert_equal "$(kube_rr_count "$(fp_of "$other:Pod:r-2")")" 1
    agg=$(storm_rrs "$ns")
    assert_equal "$(jq length <<<"$agg")" 1
    assert_equal "$(jq -r '.[0].metadata.name' <<<"$agg")" "$aggname"
    assert_equal "$(jq -r '.[0].metadata.annotations["kubernaut.ai/storm-type"]' <<<"$agg")" rate
    # the resource that fired is listed with the members
    assert_equal "$(jq -r '.[0].metadata.annotations["kubernaut.ai/storm-resources"] | split(",") | sort | join(" ")' <<<"$agg")" \
        "Pod/r-1 Pod/r-2 Pod/r-3"
    assert_equal "$(jq -r '.[0].status.deduplication.occurrenceCount' <<<"$agg")" 2
}

@test "rate storm, default thresholds: a new signal that is the eleventh occurrence opens it itself" {
    local ns i before
    ns=$(gw_uniq rate)
    kube_namespaces "$ns"
    before=$(rate_storms)
    # eight occurrences of one resource, then new resources: the fourth
    # resource is the eleventh occurrence (and too few resources for a
    # pattern storm)
    for i in $(seq 1 8); do
        gw_post_alert "$(am_body Spike pod=s-1 namespace="$ns" severity=warning)"
    done
    assert_equal "$(gw_body_jq .metadata.count)" 8
    for i in 2 3; do
        gw_post_alert "$(am_body Spike pod="s-$i" namespace="$ns" severity=warning)"
        assert_status 201
    done
    gw_post_alert "$(am_body Spike pod=s-4 namespace="$ns" severity=warning)"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" aggregated
    assert_equal "$(gw_body_jq .storm.type)" rate
    assert_equal "$(gw_body_jq .storm.opened)" true
    assert_equal "$(rate_storms)" "$((before + 1))"
    assert_equal "$(storm_rrs "$ns" | jq -r '.[0].metadata.annotations["kubernaut.ai/storm-type"]')" rate
}

@test "namespace cap: the 9th new request in a minute is a 503 naming the cap; nothing is lost" {
    local ns i
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_STORM_NAMESPACE_CAP=8
    ns=$(gw_uniq cap)
    kube_namespaces "$ns"
    # the cap counts per clock minute: start well inside one
    (( 10#$(date +%S) < 45 )) || sleep $(( 62 - 10#$(date +%S) ))
    # distinct alert names: no storm rule applies, only the cap
    for i in $(seq 1 8); do
        gw_post_alert "$(am_body "Rule$i" deployment="d-$i" namespace="$ns" severity=warning)"
        assert_status 201
    done
    gw_post_alert "$(am_body Rule9 deployment=d-9 namespace="$ns" severity=warning)"
    assert_problem 503 service-unavailable /api/v1/signals/prometheus
    [[ $(gw_body_jq .detail) == *storm.namespace_cap* ]] || fail "detail: $HTTP_BODY"
    [[ -n $(gw_header Retry-After) ]] || fail "no Retry-After"
    assert_equal "$(kube_rr_count "$(fp_of "$ns:Deployment:d-9")")" 0
    # a duplicate is not a new request: never capped
    gw_post_alert "$(am_body Rule1 deployment=d-1 namespace="$ns" severity=warning)"
    assert_status 202
    # other namespaces are not affected
    ns=$(gw_uniq cap)
    kube_namespaces "$ns"
    gw_post_alert "$(am_body Rule9 deployment=d-9 namespace="$ns" severity=warning)"
    assert_status 201
}

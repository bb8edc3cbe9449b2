#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t4200-breaker: the Kubernetes circuit breaker, shared by the worker pool.
# With the apiserver stopped, new alerts are answered 503 + Retry-After;
# after kubernetes.breaker_failures consecutive failed calls (each after its
# retries) the breaker opens for the whole pool (one log line, gauge 1 in
# /metrics, /readyz says so) and further alerts get a fast 503 without a
# call.  Once the apiserver is back, the first request after the open time
# probes, the breaker closes, and every alert resent like Alertmanager
# exists exactly once.

load helpers

# A shorter open time keeps the test quick; 5 failures (the default) open it.
# The creation budgets keep their defaults (120 new requests a minute per
# sender; every client here is the one sender 127.0.0.1): about 20 creates
# in all, the ones the apiserver refuses included.
setup_file() {
    gw_setup_stack ALERTGW_KUBERNETES_BREAKER_OPEN_TIME=8s ALERTGW_SERVER_RETRY_AFTER=30s
}
teardown_file() { gw_teardown_stack; }

teardown() {
    gw_teardown_test
    # a test that took RBAC away gives it back, whatever happened
    if [[ -f $GW_TMP/rbac.rules ]]; then
        kube_merge apis/rbac.authorization.k8s.io/v1/clusterroles/alertgw "$(<"$GW_TMP/rbac.rules")"
        rm -f "$GW_TMP/rbac.rules"
    fi
    if ! curl -s -o /dev/null --max-time 2 --cacert "$KUBE_CA_FILE" "$KUBE_API_URL/readyz"; then
        gw_start_apiserver
    fi
}

metric() {
    curl -sS --max-time 10 "$GW_URL/metrics" |
        awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "absent" }'
}


_state_is() { [[ $(metric gateway_circuit_breaker_state) == "$1" ]]; }
_readyz_closed() { gw_request GET /readyz; _state_is 0; }

@test "apiserver down: breaker opens for the pool, fast 503s; back up: each alert exactly once" {
    local ns i n=8 t0 ms rejected_before opened_lines
    ns=$(gw_uniq brk)
    # Each alert names a namespace of its own, which exists (signals about
    # a namespace that does not exist are ignored): with the apiserver down
    # each post's namespace read is then one failed call.  A worker keeps a
    # failed read for a few seconds, and the breaker counts calls, so eight
    # alerts about one namespace would be at most one call per worker.
    for i in $(seq 1 $n); do
        kube_namespace "$ns-$i"
        am_body "BreakerTest$i" deployment="d-$i" namespace="$ns-$i" severity=critical >"$GW_TMP/b.$i.json"
    done
    # and two that nothing reads before the breaker is open (a namespace
    # read that failed is kept for a few seconds: a second post about b.1's
    # namespace would be refused by that without asking the breaker)
    for i in 1 2; do
        kube_namespace "$ns-open-$i"
        am_body "BreakerOpen$i" deployment=o namespace="$ns-open-$i" severity=critical >"$GW_TMP/o.$i.json"
    done
    gw_wait_for 10 _state_is 0 || fail "breaker not closed at the start: $(metric gateway_circuit_breaker_state)"

    gw_stop_apiserver || fail "kube-local.sh stop-apiserver failed: $(tail -n 5 "$GW_TMP/kube-fault.log")"

    # every alert is refused with 503 + Retry-After; nothing is created
    for i in $(seq 1 $n); do
        gw_post_alert "@$GW_TMP/b.$i.json"
        assert_503_retry_after
    done
    # 8 failed calls (each a namespace read whose 3 attempts hit a closed
    # port): more than the 5 failed calls in a row that open it
    gw_wait_for 5 _state_is 1 || fail "breaker state $(metric gateway_circuit_breaker_state), expected 1 (open)"
    # exactly one worker made the transition, and logged it
    opened_lines=$(grep -c 'circuit breaker opened after 5 consecutive failed calls' "$GW_TMP/lighttpd/stderr.log")
    assert_equal "$opened_lines" 1
    [[ $(metric gateway_circuit_breaker_opened_total) -ge 1 ]] || fail "opened_total not counted"

    # open: an alert gets a fast 503 that names the breaker, with the time
    # to the next probe as Retry-After (not server.retry_after's 30 s), and
    # the call is counted as refused, not sent
    # (if the open time ran out meanwhile, this post was the half-open
    # probe, which failed and re-opened the breaker: the next one is refused)
    rejected_before=$(metric gateway_circuit_breaker_rejections_total)
    for i in 1 2; do
        t0=$(date +%s%N)
        gw_post_alert "@$GW_TMP/o.$i.json"
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        assert_503_retry_after
        [[ $(gw_body_jq .detail) == *"circuit breaker open"* ]] && break
    done
    [[ $(gw_body_jq .detail) == *"circuit breaker open"* ]] || fail "detail: $(gw_body_jq .detail)"
    (( $(gw_header Retry-After) >= 1 && $(gw_header Retry-After) <= 8 )) ||
        fail "Retry-After $(gw_header Retry-After), expected 1..8 (the open time)"
    (( ms < 500 )) || fail "the open breaker's 503 took $ms ms"
    (( $(metric gateway_circuit_breaker_rejections_total) > rejected_before )) ||
        fail "no refused call counted"

    # /readyz reports the breaker
    gw_request GET /readyz
    assert_problem 503 service-unavailable /readyz
    [[ $(gw_body_jq .detail) == *"circuit breaker"* ]] || fail "readyz detail: $(gw_body_jq .detail)"

    gw_start_apiserver || fail "kube-local.sh start-apiserver failed: $(tail -n 5 "$GW_TMP/kube-fault.log")"
    # nothing was created while it was down
    for i in $(seq 1 $n); do
        assert_equal "$(kube_rr_count "$(fp_of "$ns-$i:Deployment:d-$i")")" 0
    done

    # resent like Alertmanager: after the open time a probe closes the
    # breaker and every alert is created, once
    for i in $(seq 1 $n); do
        gw_post_until_not_503 40 "@$GW_TMP/b.$i.json" || fail "alert $i still 503 40 s after the apiserver came back: $HTTP_BODY"
        assert_status 201
    done
    assert_equal "$(metric gateway_circuit_breaker_state)" 0
    grep -q 'circuit breaker closed: the probe succeeded' "$GW_TMP/lighttpd/stderr.log" ||
        fail "no 'closed' transition in the worker log"

    # a second round is counted on the same requests
    for i in $(seq 1 $n); do
        gw_post_alert "@$GW_TMP/b.$i.json"
        assert_status 202
        assert_equal "$(gw_body_jq .status)" duplicate
        assert_equal "$(kube_rr_count "$(fp_of "$ns-$i:Deployment:d-$i")")" 1
    done

    gw_request GET /readyz
    assert_status 200
    assert_equal "$(gw_body_jq .circuit_breaker)" closed
}

# Two kinds of 4xx, each more often than breaker_failures (5) in a row:
# the apiserver's 404 for a namespace it does not have (the signal is then
# 200 ignored, namespace-not-found: no create is tried, so that read is the
# only call), and a create it refuses (403: the gateway's RBAC lost
# "create" on remediationrequests; a configuration error, 500).
@test "a 4xx from the apiserver is an answer: it never opens the breaker" {
    local i name ns rules rejected_before path=apis/rbac.authorization.k8s.io/v1/clusterroles/alertgw
    # closed at the start (/readyz makes a call: after a failed test that
    # left the breaker open, that call is the probe that closes it)
    gw_wait_for 20 _readyz_closed || fail "breaker not closed at the start: $(metric gateway_circuit_breaker_state)"
    rejected_before=$(metric 'gateway_signals_rejected_total{reason="namespace_not_found"}')
    [[ $rejected_before == absent ]] && rejected_before=0
    for i in $(seq 1 7); do
        name=$(gw_uniq nons)
        gw_post_alert "$(am_body NoNamespace$i deployment="$name" namespace="missing-$name" severity=warning)"
        assert_status 200
        assert_equal "$(gw_body_jq .status)" ignored
        assert_equal "$(gw_body_jq .reason)" namespace-not-found
        assert_equal "$(kube_rr_count "$(fp_of "missing-$name:Deployment:$name")")" 0
    done
    assert_equal "$(metric gateway_circuit_breaker_state)" 0
    assert_equal "$(( $(metric 'gateway_signals_rejected_total{reason="namespace_not_found"}') - rejected_before ))" 7

    ns=$(gw_uniq rbac)
    kube_namespaces "$ns"
    rules=$(kube_api "$path" | jq -c '{rules: .rules}')
    echo "$rules" >"$GW_TMP/rbac.rules"
    kube_merge "$path" "$(jq -c '.rules |= map(if .resources == ["remediationrequests"]
                                               then .verbs -= ["create"] else . end)' <<<"$rules")"
    # the RBAC change reaches the apiserver's authorizer within a moment
    for i in $(seq 1 20); do
        gw_post_alert "$(am_body NoCreate deployment="$(gw_uniq first)" namespace="$ns" severity=warning)"
        [[ $HTTP_STATUS == 500 ]] && break
        sleep 0.5
    done
    assert_problem 500 internal-error /api/v1/signals/prometheus
    for i in $(seq 1 6); do
        name=$(gw_uniq nocreate)
        gw_post_alert "$(am_body NoCreate$i deployment="$name" namespace="$ns" severity=warning)"
        assert_status 500
    done
    assert_equal "$(metric gateway_circuit_breaker_state)" 0
}

#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t4300-sentinel: Redis HA through Sentinel with real processes - a primary
# and a replica redis-server and three sentinels (the same binary with
# --sentinel) on free loopback ports, with passwords on both.  The gateway
# finds the primary through the sentinels; the primary is SIGKILLed; the
# sentinels promote the replica; Alertmanager-style resends (again on 503,
# bounded) land on the new primary, a duplicate is counted there and never
# becomes a second RemediationRequest.

load helpers
load redis-ha

setup_file() {
    GW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/alertgw-bats.XXXXXX")
    export GW_TMP
    gw_start_redis_ha 127.0.0.1 || return 1
    gw_start_kube || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod || return 1
    local env
    mapfile -t env < <(gw_redis_ha_env)
    gw_start_lighttpd "${env[@]}" || return 1
}

teardown_file() { gw_teardown_stack "$GW_TMP/ha"; }

teardown() {
    if [[ -z ${BATS_TEST_COMPLETED:-} ]]; then
        gw_dump_logs
        tail -n 15 "$GW_TMP"/ha/*/log
    fi
}

@test "the gateway finds the primary through the sentinels and follows a failover" {
    local primary replica name i fps=() bodies=() t0
    primary=$(<"$GW_TMP/ha/primary-port")
    replica=$(<"$GW_TMP/ha/replica-port")
    assert_equal "$(_master_port)" "$primary"

    # three alerts, created; their dedup keys are on the primary
    for i in 1 2 3; do
        name=$(gw_uniq ha$i)
        fps[i]=$(fp_of "prod:Deployment:$name")
        bodies[i]=$(am_body SentinelTest$i deployment="$name" namespace=prod severity=critical)
        gw_post_alert "${bodies[i]}"
        assert_status 201
        assert_equal "$(_rcli "$primary" EXISTS "alertgw:fp:${fps[i]}")" 1
    done
    gw_request GET /readyz
    assert_status 200
    # the replica has them too before the primary dies (replication is
    # asynchronous; a write lost in a failover is the next test's case)
    [[ $(_rcli "$primary" WAIT 1 5000) == 1 ]] || fail "the replica did not acknowledge"

    kill -KILL "$(<"$GW_TMP/ha/primary.pid")"
    t0=$SECONDS

    # resent like Alertmanager: 503 until the sentinels have promoted the
    # replica, then a duplicate counted on the new primary
    gw_post_until_not_503 40 "${bodies[1]}" 0.3 || fail "still 503 after 40 s: $HTTP_BODY"
    echo "# first answer after the kill: $(( SECONDS - t0 )) s, after $N503 x 503" >&3
    assert_status 202
    assert_equal "$(gw_body_jq .status)" duplicate
    assert_equal "$(gw_body_jq .metadata.count)" 2
    assert_equal "$(_master_port)" "$replica"
    assert_equal "$(_rcli "$replica" HGET "alertgw:fp:${fps[1]}" count)" 2
    for i in 2 3; do
        gw_post_alert "${bodies[i]}"
        assert_status 202
        assert_equal "$(gw_body_jq .metadata.count)" 2
    done
    for i in 1 2 3; do
        assert_equal "$(kube_rr_count "${fps[i]}")" 1
    done

    # a new alert after the failover is created and recorded on the new primary
    name=$(gw_uniq after)
    gw_post_alert "$(am_body SentinelAfter deployment="$name" namespace=prod severity=warning)"
    assert_status 201
    assert_equal "$(_rcli "$replica" EXISTS "alertgw:fp:$(fp_of "prod:Deployment:$name")")" 1

    # the workers that reconnected said where they went
    grep -q "names master \\\\\"$SENTINEL_MASTER\\\\\" at 127.0.0.1:$replica (was " \
        "$GW_TMP/lighttpd/stderr.log" || fail "no 'names master ... (was ...)' line in the worker log"
    gw_request GET /readyz
    assert_status 200
}

@test "a fingerprint lost in the failover is found in Kubernetes: counted, not a second request" {
    local master name fp body
    master=$(_master_port)
    name=$(gw_uniq lost)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body SentinelLost deployment="$name" namespace=prod severity=critical)
    gw_post_alert "$body"
    assert_status 201
    # what an asynchronous replica that had not received the write yet
    # looks like after its promotion: the key is not there
    assert_equal "$(_rcli "$master" DEL "alertgw:fp:$fp")" 1
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" duplicate
    assert_equal "$(kube_rr_count "$fp")" 1
    assert_equal "$(_rcli "$master" EXISTS "alertgw:fp:$fp")" 1
}

@test "sentinels that name no reachable master: 503 + Retry-After, nothing created" {
    local name fp body s
    name=$(gw_uniq nomaster)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body SentinelNone deployment="$name" namespace=prod severity=critical)
    # pause every sentinel: the gateway cannot learn where the master is
    # (its open connections keep working, so restart the workers first)
    for s in 1 2 3; do kill -STOP "$(<"$GW_TMP/ha/sentinel$s.pid")"; done
    local w
    for w in $(gw_worker_pids); do kill -KILL "$w"; done
    gw_wait_for 15 _workers_back || { for s in 1 2 3; do kill -CONT "$(<"$GW_TMP/ha/sentinel$s.pid")"; done; fail "workers not restarted"; }
    gw_post_alert "$body"
    for s in 1 2 3; do kill -CONT "$(<"$GW_TMP/ha/sentinel$s.pid")"; done
    assert_problem 503 service-unavailable /api/v1/signals/prometheus
    [[ $(gw_header Retry-After) =~ ^[0-9]+$ ]] || fail "no Retry-After: $HTTP_HEADERS"
    grep -q 'no master found through 3 sentinel(s)' "$GW_TMP/lighttpd/stderr.log" ||
        fail "no 'no master found' line in the worker log"
    gw_post_until_not_503 20 "$body" 0.3 || fail "still 503 after the sentinels resumed: $HTTP_BODY"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1
}
_workers_back() { (( $(gw_worker_pids | wc -l) == ${GW_WORKERS:-4} )) && curl -sf -o /dev/null "$GW_URL/healthz"; }

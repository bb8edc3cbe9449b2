#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t4500-two-hosts: two gateway hosts active-active behind one Redis primary.
# Each host is a network namespace on a private bridge (two-hosts.bash) with
# its own lighttpd and workers; Redis (a primary, a replica, three
# sentinels, redis-ha.bash) on the bridge and the one apiserver (forwarded
# into the namespaces) are shared.  A client (fault-stream.py) sends an
# alert stream round robin to both hosts - new alerts, repeats and a storm
# (12 new pods with one alert name in one namespace) - and resends every
# non-2xx like Alertmanager.  While it runs, the Redis primary is SIGKILLed
# (the sentinels promote the replica), then one host's lighttpd and its
# workers are SIGKILLed and lighttpd is started again.  Then, from the
# ledger and the apiserver: lost = 0, doubled = 0 (one request per
# fingerprint; exactly one aggregate for the storm, listing every member),
# undercounted = 0 (single requests and the storm aggregate, agg-under),
# never a 4xx; printed, not failed: the recovery times, from the fault until
# the first 2xx to a request sent after it:
#   hosts | sent | 2xx | 503 | other | lost | doubled | undercounted |
#   agg-under | failover recovery a / b (s) | lighttpd recovery (s)
# (test-logs/two-hosts-table.txt).  Skips, saying why, only when this
# machine cannot make network namespaces.

load helpers
load redis-ha
load fault-stream
load two-hosts

# the stream stops 4 s after host a is back (a stop file), at the latest
# after 60 s (fault-stream.bash's 10 s is too short for both faults)
SECONDS_PER_RUN=60
STORM_ALERT=TwoHostStorm
STORM_PODS=12

setup_file() {
    GW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/alertgw-bats.XXXXXX")
    export GW_TMP
    local why
    if ! why=$(th_netns_possible); then
        echo "$why" >"$GW_TMP/no-netns"
        return 0
    fi
    th_clean_stale
    th_up || return 1
    gw_start_redis_ha "$TH_NET.1" || return 1
    gw_start_kube || return 1
    th_kube_forward || return 1
    kube_namespaces $STREAM_NAMESPACES fs2h-storm prod || return 1
    # Both hosts: the sentinels; a non-loopback address, so anonymous signal
    # routes must be allowed explicitly; the stream is one sender creating
    # hundreds of requests a minute, so no creation budgets and no
    # per-namespace cap (the 503s are the faults'); storms on (defaults).
    local env
    mapfile -t env < <(gw_redis_ha_env)
    env+=(ALERTGW_AUTH_ALLOW_ANONYMOUS=true ALERTGW_STORM_NAMESPACE_CAP=0
          ALERTGW_LIMITS_CREATES_PER_MINUTE=0 ALERTGW_LIMITS_CREATES_PER_SENDER_PER_MINUTE=0)
    printf '%s\n' "${env[@]}" >"$GW_TMP/2h/host-env"
    GW_WORKERS=${GW_WORKERS:-2} th_start_host a "${env[@]}" || return 1
    GW_WORKERS=${GW_WORKERS:-2} th_start_host b "${env[@]}" || return 1
    printf '%-5s %6s %6s %5s %5s %4s %7s %12s %11s %16s %9s\n' hosts sent 2xx 503 other lost \
        doubled undercounted agg-under failover-a/b-s lighttpd-s >"$GW_TMP/two-hosts-table"
}

teardown_file() {
    [[ -n ${GW_TMP:-} && -d $GW_TMP ]] || return 0
    if [[ -s $GW_TMP/two-hosts-table ]]; then
        sed 's/^/# /' "$GW_TMP/two-hosts-table" >&3
        mkdir -p "$GW_ROOT/test-logs" && cp "$GW_TMP/two-hosts-table" "$GW_ROOT/test-logs/two-hosts-table.txt"
    fi
    th_stop_host a
    th_stop_host b
    local f
    for f in "$GW_TMP"/2h/*.pid; do
        [[ -f $f ]] && gw_kill_pid "$(<"$f")" 5
    done
    th_down
    gw_teardown_stack "$GW_TMP/ha"
}

setup() {
    [[ -f $GW_TMP/no-netns ]] && skip "network namespaces are impossible here: $(<"$GW_TMP/no-netns")"
    th_load
}

teardown() {
    [[ -n ${STREAM_PID:-} ]] && alive "$STREAM_PID" && gw_kill_pid "$STREAM_PID" 9
    if [[ -z ${BATS_TEST_COMPLETED:-} ]]; then
        local f
        for f in "$GW_TMP"/host-?/stderr.log "$GW_TMP"/2h/*.log "$GW_TMP"/ha/*/log; do
            [[ -s $f ]] && { echo "--- tail $f"; tail -n 15 "$f"; }
        done
    fi
}

@test "topology: two namespaces on a bridge with no way out, each reaching Redis, the sentinels and the apiserver" {
    local ns
    for ns in "$TH_NS_A" "$TH_NS_B"; do
        assert_equal "$(ip -n "$ns" route show default)" ""
        run ip netns exec "$ns" curl -s --max-time 2 -o /dev/null http://192.0.2.1/
        assert_failure
        assert_equal "$(ip netns exec "$ns" redis-cli -h "$TH_NET.1" -p "$(<"$GW_TMP/ha/primary-port")" \
            -a "$REDIS_PW" --no-auth-warning ping)" PONG
        _th_kube_reachable "$ns" || fail "no apiserver from $ns"
    done
    assert_equal "$(_master_port)" "$(<"$GW_TMP/ha/primary-port")"
}

@test "both hosts share one state: created on host a, a duplicate on host b" {
    local name fp body
    name=$(gw_uniq shared)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body TwoHostShared deployment="$name" namespace=prod severity=critical)
    GW_URL=$(th_url a) gw_post_alert "$body"
    assert_status 201
    GW_URL=$(th_url b) gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" duplicate
    assert_equal "$(gw_body_jq .metadata.count)" 2
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "a stream over both hosts through a primary failover and a lighttpd crash: 0 lost, 0 doubled" {
    local replica t_redis t_lighttpd lpid w workers rec_a rec_b rec_l row agg env
    local sent ok n503 other lost doubled under sunder
    replica=$(<"$GW_TMP/ha/replica-port")
    STREAM_URLS="$(th_url a)/api/v1/signals/prometheus,$(th_url b)/api/v1/signals/prometheus"
    stream_start two-hosts --alert-per-pod --storm "fs2h-storm:$STORM_ALERT:$STORM_PODS:1" \
        --stop-file "$GW_TMP/stop-stream"
    # the storm first, with every member answered (a storm across a failover
    # is not this test's question), then the faults
    gw_wait_for 30 test -f "$GW_TMP/ledger-two-hosts.json.storm-done" || fail "the storm burst did not finish in 30 s"
    sleep 1

    t_redis=$(date +%s.%N)
    kill -KILL "$(<"$GW_TMP/ha/primary.pid")"
    _promoted() { [[ $(_master_port) == "$1" ]]; }
    gw_wait_for 30 _promoted "$replica" || fail "the sentinels did not promote the replica in 30 s"
    echo "# sentinels name the replica $(awk -v a="$t_redis" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s after the kill" >&3
    sleep 4

    # a lighttpd crash on host a: lighttpd SIGKILLed and its workers with it
    # (as systemd's control-group kill does when it restarts the unit), then
    # lighttpd started again at once on the same address
    lpid=$(<"$GW_TMP/host-a/pid")
    workers=$(gw_worker_pids "$lpid")
    t_lighttpd=$(date +%s.%N)
    kill -KILL "$lpid"
    for w in $workers; do kill -KILL "$w" 2>/dev/null || true; done
    gw_wait_for 5 _gw_pid_gone "$lpid" || fail "lighttpd $lpid still there"
    mapfile -t env <"$GW_TMP/2h/host-env"
    GW_WORKERS=${GW_WORKERS:-2} th_start_host a "${env[@]}" || fail "host a did not start again"
    sleep 4
    touch "$GW_TMP/stop-stream"

    stream_check
    rec_a=$(stream_recovery two-hosts "$t_redis" 0)
    rec_b=$(stream_recovery two-hosts "$t_redis" 1)
    rec_l=$(stream_recovery two-hosts "$t_lighttpd" 0)
    [[ $rec_a != none && $rec_b != none ]] || fail "a host never answered 2xx after the failover: a $rec_a, b $rec_b"
    [[ $rec_l != none ]] || fail "host a never answered 2xx after its restart"
    read -r _ sent ok n503 other lost doubled under <<<"$(tail -n 1 "$GW_TMP/fault-table")"
    sunder=$(<"$GW_TMP/storm-undercounted-two-hosts")
    row=$(printf '%-5s %6s %6s %5s %5s %4s %7s %12s %11s %16s %9s' 2 "$sent" "$ok" "$n503" "$other" \
        "$lost" "$doubled" "$under" "$sunder" "$rec_a / $rec_b" "$rec_l")
    echo "$row" >>"$GW_TMP/two-hosts-table"
    echo "# per host: $(jq -c .hosts "$GW_TMP/ledger-two-hosts.json")" >&3
    # agg-under: the storm aggregate's occurrenceCount below the 2xx answers
    # that named it.  Its status patches are rechecked against Redis after
    # they land, as single requests' are, so two workers' patches landing
    # in the opposite order leave it short only until the correcting flush
    # (one such run, before the recheck covered aggregates, ended 15 for 16)
    (( sunder == 0 )) || fail "storm aggregate undercounted: $sunder"
    # the shared primary's own account of the dedup script (calls since the
    # promotion, CPU per call), quoted in docs/performance.md
    echo "new primary: $(_rcli "$replica" INFO commandstats | tr -d '\r' | grep -E '^cmdstat_(evalsha|eval):' | xargs)" |
        tee -a "$GW_TMP/two-hosts-table" | sed 's/^/# /' >&3

    # both hosts answered 2xx in the stream
    for w in 0 1; do
        jq -e --argjson i "$w" '[.events[] | select(.[2] == $i and .[3] >= 200 and .[3] < 300)] | length > 0' \
            "$GW_TMP/ledger-two-hosts.json" >/dev/null || fail "host $w never answered 2xx"
    done
    # the storm: exactly one aggregate, every member listed on it
    agg=$(jq -c --arg a "$STORM_ALERT" '[.items[] | select(.metadata.labels["kubernaut.ai/storm"] == "true"
            and .spec.targetResource.name == "fs2h-storm" and .spec.signalName == $a)]' "$GW_TMP/rrs.json")
    assert_equal "$(jq length <<<"$agg")" 1
    assert_equal "$(jq -r '.[0].metadata.annotations["kubernaut.ai/storm-resources"] | split(",") | sort | join(" ")' <<<"$agg")" \
        "$(for w in $(seq 1 "$STORM_PODS"); do echo "Pod/fs-two-hosts-storm-$w"; done | sort | xargs)"
}

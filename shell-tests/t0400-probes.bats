#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t0400-probes: /readyz under probe traffic and a worker's graceful stop.
#
# /readyz needs no authentication and is exempt from the allowlist and the
# rate limit, and a fresh answer costs a Redis PING and an apiserver LIST
# (with retries).  Each worker reuses its answer for 1 s, so a flood of
# probes costs the apiserver at most one LIST per worker and second; the
# apiserver's own apiserver_request_total says how many it served.
#
# A worker told to stop (SIGTERM, SIGINT, SIGUSR1) answers /readyz 503
# "shutting down" from then on, serves the connections already queued on
# its socket, and exits when none is waiting: a stop never drops an
# accepted webhook.

load helpers

setup_file() {
    export GW_WORKERS=2
    gw_setup_stack || return 1
    NS=$(gw_uniq probes)
    kube_namespace "$NS" || return 1
    echo "$NS" >"$GW_TMP/probes-ns"
}
teardown_file() { gw_teardown_stack; }
setup() {
    NS=$(<"$GW_TMP/probes-ns")
    if [[ -f $GW_TMP/gw-url ]]; then GW_URL=$(<"$GW_TMP/gw-url"); export GW_URL; fi
}
teardown() {
    gw_teardown_test
    if [[ ! -f $GW_TMP/redis/pid ]]; then gw_start_redis unix; fi
    if [[ -f $GW_TMP/lighttpd-custom ]]; then
        gw_stop_lighttpd
        rm -f "$GW_TMP/lighttpd-custom"
        gw_start_lighttpd
        echo "$GW_URL" >"$GW_TMP/gw-url"
    fi
}

# rr_lists: LIST requests the apiserver has served on the RemediationRequest
# resource (kube-apiserver 1.20 labels; every code and content type).
rr_lists() {
    kube_api metrics | awk '
        /^apiserver_request_total\{/ && /verb="LIST"/ && /group="kubernaut\.ai"/ &&
        /resource="remediationrequests"/ && /subresource=""/ { n += $NF }
        END { printf "%d\n", n }'
}

@test "a burst of 300 GET /readyz costs the apiserver at most one LIST per worker and second" {
    local before after t0 t1 secs bound i codes
    gw_request GET /readyz
    assert_status 200
    before=$(rr_lists)
    t0=$(date +%s%N)
    # 6 rounds of 50 probes over 4 connections, half a second apart (3-5 s;
    # the bound below follows the time it really took)
    for i in 1 2 3 4 5 6; do
        (( i == 1 )) || sleep 0.5
        curl -s --max-time 30 --parallel --parallel-max 4 -w '%{http_code}\n' \
            $(for _ in $(seq 1 50); do printf -- '-o /dev/null %s/readyz ' "$GW_URL"; done)
    done >"$GW_TMP/readyz-codes"
    t1=$(date +%s%N)
    after=$(rr_lists)
    codes=$(sort "$GW_TMP/readyz-codes" | uniq -c | xargs)
    assert_equal "$codes" "300 200"
    secs=$(( (t1 - t0 + 999999999) / 1000000000 ))
    bound=$(( GW_WORKERS * (secs + 1) + 2 ))
    echo "# 300 probes in ${secs} s: $(( after - before )) LISTs (bound $bound)" >&3
    (( after - before <= bound )) ||
        fail "300 probes in $secs s made $(( after - before )) LISTs, more than $bound"
}

@test "a reused /readyz problem carries this request's own request_id and instance" {
    gw_stop_redis
    # (a worker may reuse its last 200 for up to a second)
    gw_wait_for 5 _readyz_503 || fail "/readyz still $HTTP_STATUS with Redis stopped"
    gw_request GET /readyz -H 'X-Request-ID: readyz-reuse-1'
    assert_problem 503 service-unavailable /readyz
    assert_regex "$(gw_header Retry-After)" '^[1-9][0-9]*$'
    local detail
    detail=$(gw_body_jq .detail)
    # at once again (the answer is reused): its own request_id
    gw_request GET /readyz -H 'X-Request-ID: readyz-reuse-2'
    assert_problem 503 service-unavailable /readyz
    assert_equal "$(gw_body_jq .request_id)" readyz-reuse-2
    assert_regex "$(gw_header Retry-After)" '^[1-9][0-9]*$'
    assert_equal "$(gw_body_jq .detail)" "$detail"
    gw_start_redis unix
    # at most a second later every worker probes again
    gw_wait_for 10 gw_readyz_200 || fail "/readyz not 200 after Redis came back: $HTTP_BODY"
}
_readyz_503() { gw_request GET /readyz && [[ $HTTP_STATUS == 503 ]]; }

# queued_on_socket SOCKET: connections waiting in the accept queue of the
# listening unix socket (ss shows them as its Recv-Q).
queued_on_socket() {
    ss -xlH 2>/dev/null | awk -v s="$1" '$5 == s { print $3; found = 1 } END { if (!found) print -1 }'
}
_queued_is() { [[ $(queued_on_socket "$1") == "$2" ]]; }

@test "SIGTERM: a stopped worker serves the connections queued on its socket, /readyz says shutting down, nothing is dropped" {
    local w sock i name out="$GW_TMP/drain" pids=() n=4
    # one worker, so that every request queues on its socket
    gw_stop_lighttpd
    touch "$GW_TMP/lighttpd-custom"
    GW_WORKERS=1 gw_start_lighttpd || fail "lighttpd did not start"
    w=$(gw_worker_pids)
    [[ $w =~ ^[0-9]+$ ]] || fail "expected one worker, got [$w]"
    sock=$(ls "$GW_TMP"/lighttpd/alertgw.sock-*)
    mkdir -p "$out"
    name=$(gw_uniq drain)
    kill -STOP "$w"
    for i in $(seq 1 $n); do
        curl -s --max-time 30 -o "$out/body.$i" -w '%{http_code}' \
            -H 'Content-Type: application/json' -H "X-Request-ID: drain-$i-$name" \
            --data-binary "$(am_body DrainTest deployment="$name-$i" namespace="$NS" severity=warning)" \
            "$GW_URL/api/v1/signals/prometheus" >"$out/code.$i" 2>/dev/null 3>&- &
        pids+=($!)
    done
    curl -s --max-time 30 -o "$out/body.readyz" -w '%{http_code}' -D "$out/hdr.readyz" \
        -H "X-Request-ID: drain-readyz-$name" "$GW_URL/readyz" >"$out/code.readyz" 2>/dev/null 3>&- &
    pids+=($!)
    if ! gw_wait_for 10 _queued_is "$sock" $(( n + 1 )); then
        kill -CONT "$w"
        fail "expected $(( n + 1 )) connections queued on $sock, found $(queued_on_socket "$sock")"
    fi
    kill -TERM "$w"
    kill -CONT "$w"
    for i in "${pids[@]}"; do wait "$i" || true; done
    gw_wait_for 10 _gw_pid_gone "$w" || fail "worker $w still running 10 s after SIGTERM"

    for i in $(seq 1 $n); do
        [[ $(<"$out/code.$i") == 201 ]] ||
            fail "webhook $i answered $(<"$out/code.$i"): $(cat "$out/body.$i")"
        assert_equal "$(kube_rr_count "$(fp_of "$NS:Deployment:$name-$i")")" 1
        # answered by the stopping worker itself
        grep -q "\"request_id\":\"drain-$i-$name\".*\"status\":201" "$GW_TMP/lighttpd/stderr.log" ||
            fail "no worker log line for drain-$i-$name"
    done
    HTTP_STATUS=$(<"$out/code.readyz") HTTP_BODY=$(<"$out/body.readyz")
    HTTP_HEADERS=$(tr -d '\r' <"$out/hdr.readyz")
    assert_problem 503 service-unavailable /readyz
    assert_equal "$(gw_body_jq .detail)" "shutting down"
    assert_regex "$(gw_header Retry-After)" '^[1-9][0-9]*$'
    # lighttpd starts a new worker, which is ready
    gw_wait_for 15 gw_readyz_200 || fail "/readyz not 200 after the restart: $HTTP_BODY"
}

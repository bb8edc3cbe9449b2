#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t3300-hostile: the catalogue of hostile bodies and headers (issue 6).  Each
# gets a clean 4xx problem naming what is wrong, or a correct 2xx whose
# RemediationRequest the apiserver accepted; no worker crashes (the same
# worker PIDs answer throughout), memory stays bounded (worker RSS checked at
# the end), and every worker log line stays one valid JSON object.  Then the
# pool-wide in-flight cap: a burst over server.max_in_flight gets 503 +
# Retry-After, and resending like Alertmanager stores every alert once.

load helpers

setup_file() {
    # The creation budgets keep their defaults (120 new requests a minute
    # per sender; every client here is the one sender 127.0.0.1): the
    # in-flight burst creates 24, the rest of the file a handful.
    gw_setup_stack || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces hostile || return 1
    gw_worker_pids >"$GW_TMP/workers.before"
}
teardown_file() { gw_teardown_stack; }
teardown() { gw_teardown_test; }

ROUTE=/api/v1/signals/prometheus
EVENTS=/api/v1/signals/kubernetes-event

# gen FILE PYTHON: writes the bytes the Python expression prints to FILE.
gen() {
    python3 -c "import sys; sys.stdout.buffer.write($2)" >"$1"
}

# post_file FILE [CURL ARGS...]: POSTs FILE as the Alertmanager webhook.
post_file() { local f=$1; shift; gw_post "$ROUTE" "@$f" "$@"; }

# assert_4xx_problem: a 4xx with a problem body that has a detail.
assert_4xx_problem() {
    [[ $HTTP_STATUS =~ ^4[0-9][0-9]$ ]] || fail "expected a 4xx, got $HTTP_STATUS: $HTTP_BODY"
    assert_problem "$HTTP_STATUS" "$(gw_body_jq .type | sed 's|.*/||')" "${1:-$ROUTE}"
}

@test "10k-deep nesting: 400 naming the nesting, not a crash" {
    gen "$GW_TMP/deep.json" "b'{\"alerts\":' + b'[' * 10000 + b']' * 10000 + b'}'"
    post_file "$GW_TMP/deep.json"
    assert_4xx_problem
    assert_status 400
    [[ $(gw_body_jq .detail) == *depth* ]] || fail "detail does not name the depth: $HTTP_BODY"
    # just over the configured limit (32): named with its config key
    gen "$GW_TMP/deep33.json" "b'{\"alerts\":[],\"x\":' + b'[' * 32 + b']' * 32 + b'}'"
    post_file "$GW_TMP/deep33.json"
    assert_status 400
    [[ $(gw_body_jq .detail) == *server.max_json_depth* ]] || fail "$HTTP_BODY"
    # the same nesting in a Kubernetes event
    gen "$GW_TMP/deep-ev.json" "b'{\"kind\":\"Event\",\"x\":' + b'{\"a\":' * 5000 + b'1' + b'}' * 5000 + b'}'"
    gw_post "$EVENTS" "@$GW_TMP/deep-ev.json"
    assert_4xx_problem "$EVENTS"
}

@test "100k labels: refused by size, nothing created" {
    gen "$GW_TMP/labels.json" "(lambda: __import__('json').dumps({'alerts':[{'status':'firing','labels':dict([('alertname','ManyLabels'),('namespace','hostile'),('pod','p')]+[('l%d'%i,'v') for i in range(100000)])}]}).encode())()"
    post_file "$GW_TMP/labels.json"
    assert_4xx_problem
    [[ $HTTP_STATUS == 413 || $HTTP_STATUS == 400 ]] || fail "$HTTP_STATUS"
    # under the body cap but over server.max_labels (128): 400 naming the limit
    gen "$GW_TMP/labels2.json" "(lambda: __import__('json').dumps({'alerts':[{'status':'firing','labels':dict([('alertname','ManyLabels'),('namespace','hostile'),('pod','p')]+[('l%d'%i,'v') for i in range(2000)])}]}).encode())()"
    post_file "$GW_TMP/labels2.json"
    assert_status 400
    [[ $(gw_body_jq .detail) == *limit* ]] || fail "$HTTP_BODY"
    run kube_rr_count "$(fp_of hostile:Pod:p)"
    assert_output 0
}

@test "NUL bytes, raw and escaped: 400" {
    gen "$GW_TMP/nul-raw.json" "b'{\"alerts\":[{\"labels\":{\"alertname\":\"A\x00B\"}}]}'"
    post_file "$GW_TMP/nul-raw.json"
    assert_4xx_problem
    assert_status 400
    gen "$GW_TMP/nul-esc.json" "b'{\"alerts\":[{\"labels\":{\"alertname\":\"A\\\\u0000B\",\"namespace\":\"hostile\",\"pod\":\"nul\"}}]}'"
    post_file "$GW_TMP/nul-esc.json"
    assert_4xx_problem
    assert_status 400
}

@test "invalid UTF-8 and a lone surrogate: 400" {
    gen "$GW_TMP/utf8.json" "b'{\"alerts\":[{\"labels\":{\"alertname\":\"\xc3\x28\xff\",\"namespace\":\"hostile\",\"pod\":\"u\"}}]}'"
    post_file "$GW_TMP/utf8.json"
    assert_4xx_problem
    assert_status 400
    gen "$GW_TMP/surrogate.json" "b'{\"alerts\":[{\"labels\":{\"alertname\":\"\\\\ud800\",\"namespace\":\"hostile\",\"pod\":\"u\"}}]}'"
    post_file "$GW_TMP/surrogate.json"
    assert_4xx_problem
    assert_status 400
}

@test "overlong numbers and duplicate keys: 400" {
    gen "$GW_TMP/num1.json" "b'{\"truncatedAlerts\":1e999999,\"alerts\":[]}'"
    post_file "$GW_TMP/num1.json"
    assert_4xx_problem
    assert_status 400
    gen "$GW_TMP/num2.json" "b'{\"truncatedAlerts\":' + b'9' * 5000 + b',\"alerts\":[]}'"
    post_file "$GW_TMP/num2.json"
    assert_4xx_problem
    assert_status 400
    gen "$GW_TMP/dup.json" "b'{\"alerts\":[{\"labels\":{\"alertname\":\"A\",\"namespace\":\"x\",\"namespace\":\"y\",\"pod\":\"p\"}}]}'"
    post_file "$GW_TMP/dup.json"
    assert_status 400
    [[ $(gw_body_jq .detail) == *duplicate* ]] || fail "$HTTP_BODY"
}

@test "huge header values: a clean 4xx, and a hostile X-Request-ID is not echoed" {
    local big
    big=$(head -c 20000 /dev/zero | tr '\0' a)
    gw_post_alert "$(am_body HugeHeader namespace=hostile pod=h)" -H "X-Junk: $big"
    [[ $HTTP_STATUS =~ ^4[0-9][0-9]$ ]] || fail "expected 4xx for a 20 kB header, got $HTTP_STATUS"
    # a request id with characters that would break a log line or a header
    gw_post_alert "$(am_body HostileRid namespace=hostile pod=rid)" -H $'X-Request-ID: abc"}\t{"x":1'
    assert_status 201
    local rid
    rid=$(gw_header X-Request-ID)
    [[ $rid =~ ^[A-Za-z0-9._:-]+$ ]] || fail "request id echoed unsanitised: '$rid'"
}

@test "CRLF and control characters in values reach neither a raw log line nor a label" {
    local body
    body=$(am_body $'Crlf\r\nInjected' namespace=hostile pod=crlf \
        $'severity=crit\r\nical' $'environment=prod\nuction' $'note=line1\r\n{"level":"error"}')
    gw_post_alert "$body"
    assert_status 201
    local name
    name=$(gw_body_jq '.results[0].remediationRequest // .remediationRequest // empty')
    [[ -n $name ]] || name=$(kube_get_rrs "$(fp_of hostile:Pod:crlf)" | jq -r '.items[0].metadata.name')
    local rr
    rr=$(kube_get_rr "$name")
    # every label the apiserver stored is label syntax (it would have 422'd)
    run jq -r '.metadata.labels | to_entries[] | .value' <<<"$rr"
    assert_success
    local v
    while IFS= read -r v; do
        [[ $v =~ ^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$ ]] || fail "bad label value '$v'"
    done <<<"$output"
    # the worker log: one JSON object per line, whatever the input held
    run jq -c . "$GW_TMP/lighttpd/stderr.log"
    assert_success
    ! grep -q $'\r' "$GW_TMP/lighttpd/stderr.log" || fail "raw CR in the worker log"
}

@test "label values Kubernetes would refuse are sanitised, never a 422" {
    local long
    long=$(head -c 300 /dev/zero | tr '\0' x)
    gw_post_alert "$(am_body 'Bad Label/Value!' namespace=hostile pod=labels \
        "severity=--CRITICAL--/ünïcödé" 'environment=Prod Env!' "team=a b/c $long")"
    assert_status 201
    run kube_rr_count "$(fp_of hostile:Pod:labels)"
    assert_output 1
    run bash -c "grep -c '\"status\":422' '$GW_TMP/lighttpd/stderr.log'"
    assert_output 0
}

@test "invalid Kubernetes names in the target: 400 per alert, the valid alert still stored" {
    gw_post_alert "$(am_webhook "$(am_alert BadTarget namespace='Kube System' pod=p1)" \
        "$(am_alert BadTarget namespace=hostile pod=good-target)")"
    [[ $HTTP_STATUS == 207 ]] || fail "expected 207 (one bad, one good), got $HTTP_STATUS: $HTTP_BODY"
    run kube_rr_count "$(fp_of hostile:Pod:good-target)"
    assert_output 1
}

# A peer other than lighttpd on a worker's own socket (only the gateway's
# user can connect: the socket is 0600).  The worker accepts connections
# itself and hands them to libfcgi, which reads the request: a connection
# that closes without a byte, or that sends something that is no FastCGI,
# is closed and the worker goes on serving (the next test checks that the
# same worker PIDs are still there).
@test "worker sockets: a peer that sends nothing or no FastCGI is dropped, every worker still answers FastCGI, on a kept connection too" {
    local s n=0 out
    for s in "$GW_TMP"/lighttpd/alertgw.sock-*; do
        [[ -S $s ]] || continue
        n=$((n + 1))
        python3 "$BATS_TEST_DIRNAME/fcgi-probe.py" "$s" silent || fail "$s: connect failed"
        python3 "$BATS_TEST_DIRNAME/fcgi-probe.py" "$s" garbage ||
            fail "$s: a connection that sent no FastCGI was not closed within 5 s"
        out=$(python3 "$BATS_TEST_DIRNAME/fcgi-probe.py" "$s" healthz) || fail "$s: no answer to FastCGI after the bad peers"
        assert_equal "$out" "Status: 200 OK"
        # a web server that keeps the connection (FCGI_KEEP_CONN) sends the
        # next request on it, and gets it answered there
        out=$(python3 "$BATS_TEST_DIRNAME/fcgi-probe.py" "$s" keepconn) || fail "$s: no answer on a kept connection"
        assert_equal "$out" $'Status: 200 OK\nStatus: 200 OK'
    done
    (( n == ${GW_WORKERS:-4} )) || fail "found $n worker sockets, expected ${GW_WORKERS:-4}"
    gw_post "$ROUTE" "$(am_body ProbeAfter deployment="$(gw_uniq probe)" namespace=hostile)"
    [[ $HTTP_STATUS == 201 || $HTTP_STATUS == 202 ]] || fail "through lighttpd: $HTTP_STATUS: $HTTP_BODY"
}

@test "no worker crashed and memory stayed bounded" {
    gw_worker_pids >"$GW_TMP/workers.after"
    diff <(sort "$GW_TMP/workers.before") <(sort "$GW_TMP/workers.after") ||
        fail "the worker set changed: a worker died"
    # a sanitizer build carries shadow memory and a quarantine
    local w rss limit=$(( ${GW_SANITIZED:-0} == 1 ? 262144 : 65536 ))
    for w in $(cat "$GW_TMP/workers.after"); do
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$w/status")
        echo "# worker $w RSS ${rss} kB" >&3
        (( rss < limit )) || fail "worker $w RSS ${rss} kB over $(( limit / 1024 )) MiB"
    done
}

# resend_until_2xx FILE: POSTs like Alertmanager (resend on 503, bounded);
# prints each status on one line.
resend_until_2xx() {
    local i code
    for i in $(seq 1 40); do
        code=$(curl -s -o /dev/null -D "$1.hdr" -w '%{http_code}' --max-time 30 \
            -H 'Content-Type: application/json' --data-binary "@$1" "$GW_URL$ROUTE")
        if [[ $code == 503 ]] && ! grep -qi '^retry-after: [0-9]' "$1.hdr"; then
            code=503-without-retry-after
        fi
        echo "$code"
        [[ $code == 2* ]] && return 0
        sleep 0.2
    done
    return 1
}

@test "in-flight cap: a burst over server.max_in_flight gets 503 + Retry-After, resends store each alert once" {
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_SERVER_MAX_IN_FLIGHT=1
    local i n=24
    for i in $(seq 1 $n); do
        # one namespace each: 24 pods in one namespace would be a storm
        am_body InFlight "namespace=inflight-$i" pod=p >"$GW_TMP/if-$i.json"
        kube_namespaces "inflight-$i"
    done
    local pids=()
    for i in $(seq 1 $n); do
        resend_until_2xx "$GW_TMP/if-$i.json" >"$GW_TMP/if-$i.codes" &
        pids+=($!)
    done
    wait "${pids[@]}" # not a bare wait: lighttpd is a job of this shell too
    local refused=0 c
    for i in $(seq 1 $n); do
        tail -n 1 "$GW_TMP/if-$i.codes" | grep -q '^2' || fail "alert $i never stored: $(cat "$GW_TMP/if-$i.codes")"
        c=$(grep -c '^503$' "$GW_TMP/if-$i.codes" || true)
        refused=$(( refused + c ))
        run kube_rr_count "$(fp_of "inflight-$i:Pod:p")"
        assert_output 1
    done
    echo "# $refused 503s over $n alerts with max_in_flight=1 and 4 workers" >&3
    (( refused > 0 )) || fail "no request was refused: the cap did not act"
    grep -q 'server.max_in_flight' "$GW_TMP/lighttpd/stderr.log" || fail "refusal not logged"
    run bash -c "curl -s '$GW_URL/metrics' | grep '^gateway_requests_in_flight '"
    assert_output "gateway_requests_in_flight 0"
}

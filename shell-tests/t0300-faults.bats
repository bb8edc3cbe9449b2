#!/usr/bin/env bats
# t0300-faults: the rule that a 2xx means "recorded".  With Redis or the
# apiserver down the gateway answers 503 + Retry-After (Alertmanager
# retries 5xx), creates nothing and holds no claim; once the dependency is
# back the same alert creates exactly one request.  Redis is a cache of
# Kubernetes: after a FLUSHALL an open request is found again by label.

load helpers

setup_file()    { gw_setup_stack; }
teardown_file() { gw_teardown_stack; }

# Whatever a test broke, the next one starts with everything up.
teardown() {
    gw_teardown_test
    if [[ ! -f $GW_TMP/redis/pid ]]; then gw_start_redis; fi
    if ! curl -s -o /dev/null --max-time 2 --cacert "$KUBE_CA_FILE" "$KUBE_API_URL/readyz"; then
        gw_start_apiserver
    fi
}

ROUTE=/api/v1/signals/prometheus

# post_until_not_503 SECONDS BODY: resends like Alertmanager until the answer
# is not 503 (a circuit breaker may hold for a moment after recovery).
post_until_not_503() {
    local deadline=$(( SECONDS + $1 ))
    while :; do
        gw_post_alert "$2"
        [[ $HTTP_STATUS != 503 ]] && return 0
        (( SECONDS >= deadline )) && return 1
        sleep 0.5
    done
}

assert_503_retry_after() {
    assert_problem 503 service-unavailable "$ROUTE"
    local ra
    ra=$(gw_header Retry-After)
    [[ $ra =~ ^[0-9]+$ ]] || fail "503 without a numeric Retry-After: '$ra' ($HTTP_HEADERS)"
}

@test "Redis stopped: /readyz 503, webhook 503 + Retry-After, nothing created; after restart exactly one request" {
    local name fp body
    name=$(gw_uniq redisdown)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body RedisDownTest deployment="$name" namespace=prod severity=critical)

    gw_stop_redis

    gw_request GET /readyz
    assert_problem 503 service-unavailable /readyz

    gw_post_alert "$body"
    assert_503_retry_after
    assert_equal "$(kube_rr_count "$fp")" 0

    gw_start_redis
    gw_wait_for 15 _readyz_200 || fail "/readyz not 200 within 15 s after Redis came back: $HTTP_BODY"

    post_until_not_503 20 "$body" || fail "still 503 20 s after Redis came back: $HTTP_BODY"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1

    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(kube_rr_count "$fp")" 1
}
_readyz_200() { gw_request GET /readyz && [[ $HTTP_STATUS == 200 ]]; }

@test "apiserver stopped: webhook 503 and the claim is released; after restart exactly one request" {
    local name fp body
    name=$(gw_uniq kubedown)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body KubeDownTest deployment="$name" namespace=prod severity=critical)

    gw_stop_apiserver || fail "kube-local.sh stop-apiserver failed: $(tail -n 5 "$GW_TMP/kube-fault.log")"

    gw_request GET /readyz
    assert_problem 503 service-unavailable /readyz

    gw_post_alert "$body"
    assert_503_retry_after
    # A resend while the apiserver is still down must not be taken for a
    # duplicate of a claim left behind: it is 503 again.
    gw_post_alert "$body"
    assert_503_retry_after

    gw_start_apiserver || fail "kube-local.sh start-apiserver failed: $(tail -n 5 "$GW_TMP/kube-fault.log")"

    post_until_not_503 30 "$body" || fail "still 503 30 s after the apiserver came back: $HTTP_BODY"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1

    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "Redis FLUSHALL with a request open: the next repeat is still 202 on the same request" {
    local name fp body ref
    name=$(gw_uniq flushed)
    fp=$(fp_of "prod:DaemonSet:$name")
    body=$(am_body FlushTest daemonset="$name" namespace=prod severity=warning)

    gw_post_alert "$body"
    assert_status 201
    ref="kubernaut-system/$(gw_body_jq .remediationRequestName)"

    assert_equal "$(gw_redis_cli FLUSHALL)" OK
    assert_equal "$(gw_redis_cli DBSIZE)" 0

    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" duplicate
    assert_equal "$(gw_body_jq .metadata.remediationRequestRef)" "$ref"
    assert_equal "$(kube_rr_count "$fp")" 1

    # and Redis was re-seeded: the one after that is an ordinary duplicate
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .metadata.remediationRequestRef)" "$ref"
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "Redis paused (SIGSTOP): a bounded 503, and after SIGCONT exactly one request" {
    local name fp body pid t0
    name=$(gw_uniq paused)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body RedisPausedTest deployment="$name" namespace=prod severity=critical)
    pid=$(<"$GW_TMP/redis/pid")

    kill -STOP "$pid"
    t0=$SECONDS
    gw_post_alert "$body"
    kill -CONT "$pid"
    assert_503_retry_after
    (( SECONDS - t0 <= 10 )) || fail "the 503 took $(( SECONDS - t0 )) s with Redis paused"
    assert_equal "$(kube_rr_count "$fp")" 0

    # Whatever the paused Redis executes late (a claim, say) must not
    # block the resend for longer than a lease, nor double the request.
    post_until_not_503 30 "$body" || fail "still 503 30 s after SIGCONT: $HTTP_BODY"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "workers killed during a burst: every alert that got a 2xx is recorded exactly once" {
    local out="$GW_TMP/killburst" ns prefix i w
    # distinct names and namespaces: no storm rule or per-namespace cap may
    # fold or refuse them
    ns=$(gw_uniq kill); prefix=$(gw_uniq victim)
    mkdir -p "$out"
    for i in $(seq 1 40); do
        am_body "KillTest$i" deployment="$prefix-$i" namespace="$ns-$i" severity=warning >"$out/in.$i.json"
    done
    seq 1 40 | xargs -P 40 -I{} \
        curl -s --max-time 60 -o "$out/{}.json" -w '{} %{http_code}\n' \
            -H 'Content-Type: application/json' --data-binary "@$out/in.{}.json" \
            "$GW_URL/api/v1/signals/prometheus" >"$out/codes" 2>/dev/null 3>&- &
    local burst=$!
    # kill the workers once the first answers are back, with the rest of
    # the burst queued or in flight
    gw_wait_for 20 _answers_at_least "$out/codes" 2
    for w in $(gw_worker_pids); do kill -KILL "$w"; done
    wait "$burst" || true
    echo "# burst answers: $(awk '{print $2}' "$out/codes" | sort | uniq -c | xargs)" >&3

    # A request whose worker died is answered 503 + Retry-After (lighttpd's
    # error goes through the worker error route), never a 2xx or a 4xx.
    run awk '$2 !~ /^(201|202|503)$/' "$out/codes"
    assert_output ""

    # lighttpd restarts its workers
    gw_wait_for 15 _workers_back || fail "workers not restarted: $(gw_worker_pids | wc -l) running"

    # The ones that got a 2xx are in Kubernetes exactly once; the others are
    # resent (as Alertmanager would) until they get a 2xx, and then too.
    local n code
    while read -r n code; do
        if [[ $code == 2?? ]]; then
            assert_equal "$(kube_rr_count "$(fp_of "$ns-$n:Deployment:$prefix-$n")")" 1
        fi
    done <"$out/codes"
    for i in $(seq 1 40); do
        post_until_not_503 30 "$(<"$out/in.$i.json")" || fail "alert $i: still 503: $HTTP_BODY"
        [[ $HTTP_STATUS == 201 || $HTTP_STATUS == 202 ]] || fail "alert $i: resend answered $HTTP_STATUS: $HTTP_BODY"
        assert_equal "$(kube_rr_count "$(fp_of "$ns-$i:Deployment:$prefix-$i")")" 1
    done
}
_answers_at_least() { [[ -f $1 ]] && (( $(wc -l <"$1") >= $2 )); }
_workers_back() { (( $(gw_worker_pids | wc -l) == ${GW_WORKERS:-4} )); }

@test "SIGTERM: a worker finishes the request in hand (201), then exits" {
    local name fp out workers w
    name=$(gw_uniq sigterm)
    fp=$(fp_of "prod:Deployment:$name")
    out=$GW_TMP/sigterm.code
    # an earlier test may have restarted the apiserver: take its current PID
    _gw_source_env "$(<"$GW_TMP/kube-dir")/kube.env"
    # Hold the request inside a worker: the apiserver is paused, so the
    # worker sits in its lookup.  The pause stays under 2 s: a fresh
    # worker's first call includes the TLS handshake, which counts against
    # kubernetes.connect_timeout (2 s).
    kill -STOP "$APISERVER_PID"
    curl -s --max-time 30 -o "$GW_TMP/sigterm.body" -w '%{http_code}' \
        -H 'Content-Type: application/json' \
        --data-binary "$(am_body SigTerm deployment="$name" namespace=prod severity=critical)" \
        "$GW_URL/api/v1/signals/prometheus" >"$out" 2>/dev/null 3>&- &
    local client=$!
    sleep 0.5
    workers=$(gw_worker_pids)
    for w in $workers; do kill -TERM "$w"; done
    sleep 0.5
    kill -CONT "$APISERVER_PID"
    wait "$client" || true
    assert_equal "$(<"$out")" 201
    # every worker that got SIGTERM is gone (lighttpd starts new ones)
    for w in $workers; do
        gw_wait_for 10 _gw_pid_gone "$w" || fail "worker $w still running 10 s after SIGTERM"
    done
    assert_equal "$(kube_rr_count "$fp")" 1
    gw_wait_for 15 _workers_back || fail "workers not restarted"
}

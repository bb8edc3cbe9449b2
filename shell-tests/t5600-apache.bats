#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t5600-apache: alertgw behind Debian's real Apache httpd with mod_fcgid and
# deploy/apache/alertgw-fcgid.conf.in (generated as make does, included unchanged; gw_start_apache
# only Defines its parameters), against real Redis and kube-apiserver: the
# core cases of the lighttpd suites (t0100, t0200, t4100, t0500) through
# Apache - created / deduplicated, the problem+json errors, the body caps,
# Redis down and back, a worker killed mid-request, /metrics summed over the
# mod_fcgid processes - plus what only the Apache configuration does
# (Authorization passed to the worker, security headers, Apache's own
# errors rendered by a worker).

load helpers

# /metrics takes a bearer token here: that the worker sees Authorization at
# all is CGIPassAuth's doing (Apache withholds it from FastCGI otherwise).
METRICS_TOKEN=t5600-metrics-token-5f0c2a

# The workers get their settings as FcgidInitialEnv lines (the arguments of
# gw_setup_apache_stack), not from lighttpd's environment.  The creation
# budgets keep their defaults (120 new requests a minute per sender; every
# client here is the one sender 127.0.0.1): the file creates about 17.
setup_file() {
    gw_setup_apache_stack ALERTGW_AUTH_METRICS=bearer \
        "ALERTGW_AUTH_BEARER_TOKENS=$(printf '%s' "$METRICS_TOKEN" | sha256sum | cut -d' ' -f1)" || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod staging
}
teardown_file() { gw_teardown_apache_stack; }

# Whatever a test broke, the next one starts with everything up.
teardown() {
    if [[ -z ${BATS_TEST_COMPLETED:-} ]]; then gw_dump_apache_logs; fi
    if [[ ! -f $GW_TMP/redis/pid ]]; then gw_start_redis; fi
    if [[ -f $GW_TMP/good.yaml ]]; then
        cp -p "$GW_TMP/good.yaml" "$GW_TMP/apache/worker/alertgw.yaml" && rm -f "$GW_TMP/good.yaml"
    fi
    if [[ -n ${KUBE_API_URL:-} ]]; then
        _gw_source_env "$(<"$GW_TMP/kube-dir")/kube.env"
        kill -CONT "$APISERVER_PID" 2>/dev/null || true
    fi
}

ROUTE=/api/v1/signals/prometheus
WORKER_LOG() { echo "$GW_TMP/apache/logs/server-error.log"; }

# the worker's JSON log line for request id $1 (it goes to Apache's main
# ErrorLog: mod_fcgid's process manager hands the workers that stderr)
_logged() { grep -q "\"request_id\":\"$1\"" "$(WORKER_LOG)"; }

@test "apache: GET /healthz answers 200 through mod_fcgid, with the security headers once each" {
    gw_request GET /healthz -H 'X-Request-ID: apache-health-1'
    assert_status 200
    assert_equal "$(gw_body_jq .status)" ok
    assert_equal "$(gw_header X-Request-ID)" apache-health-1
    assert_equal "$(gw_header X-Content-Type-Options)" nosniff
    assert_equal "$(gw_header X-Frame-Options)" DENY
    assert_equal "$(gw_header Content-Security-Policy)" "default-src 'none'; frame-ancestors 'none'"
    # the worker sends Cache-Control too: it must not be doubled
    assert_equal "$(grep -ci '^cache-control:' <<<"$HTTP_HEADERS")" 1
    assert_equal "$(gw_header Cache-Control)" no-store
    [[ -n $(gw_apache_worker_pids) ]] || fail "no alertgw-fcgi process under apache2"
}

@test "apache: GET /readyz answers 200 with Redis and the apiserver up" {
    gw_request GET /readyz
    assert_status 200
}

@test "apache: a new alert answers 201 and creates one RemediationRequest" {
    local name fp rr obj
    name=$(gw_uniq api)
    fp=$(fp_of "prod:Deployment:$name")
    gw_post_alert "$(am_body KubePodCrashLooping deployment="$name" namespace=prod \
        severity=critical environment=production team=payments)" -H "X-Request-ID: $name"
    assert_status 201
    assert_equal "$(gw_header Content-Type | cut -d';' -f1)" application/json
    assert_equal "$(gw_header X-Request-ID)" "$name"
    assert_equal "$(gw_body_jq .status)" created
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    assert_equal "$(gw_body_jq .priority)" P0
    rr=$(gw_body_jq .remediationRequestName)
    assert_regex "$rr" "^rr-${fp:0:12}-[0-9a-f]{8}\$"
    assert_equal "$(kube_rr_count "$fp")" 1
    obj=$(kube_get_rr "$rr")
    assert_equal "$(jq -r .spec.signalFingerprint <<<"$obj")" "$fp"
    assert_equal "$(jq -r .spec.signalName <<<"$obj")" KubePodCrashLooping
    assert_equal "$(jq -r '.spec.targetResource | "\(.kind) \(.namespace) \(.name)"' <<<"$obj")" \
        "Deployment prod $name"
    # the worker's log line and Apache's access-log line for the same id
    gw_wait_for 5 _logged "$name" || fail "no worker log line for $name in $(WORKER_LOG)"
    grep -q "\"POST $ROUTE HTTP/1.1\" 201 .* $name\$" "$GW_TMP/apache/logs/alertgw-access.log" ||
        fail "no access-log line for $name: $(tail -n 3 "$GW_TMP/apache/logs/alertgw-access.log")"
}

@test "apache: repeats answer 202 with a rising count on the same request, also in its status" {
    local name fp rr body
    name=$(gw_uniq web)
    fp=$(fp_of "staging:StatefulSet:$name")
    body=$(am_body HighLatency statefulset="$name" namespace=staging severity=warning)
    gw_post_alert "$body"
    assert_status 201
    rr=$(gw_body_jq .remediationRequestName)
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" duplicate
    assert_equal "$(gw_body_jq .metadata.count)" 2
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .metadata.count)" 3
    assert_equal "$(gw_body_jq .metadata.remediationRequestRef)" "kubernaut-system/$rr"
    assert_equal "$(kube_rr_count "$fp")" 1
    gw_wait_for 15 _count_is "$rr" 3 ||
        fail "status.deduplication never reached 3: $(kube_get_rr "$rr" | jq -c .status)"
}
_count_is() { [[ $(kube_rr_occurrences "$1") == "$2" ]]; }

@test "apache: malformed JSON answers 400 validation-error with the client's X-Request-ID" {
    gw_post_alert '{"version":"4","alerts":[{"labels":{"alertname":"X"' -H 'X-Request-ID: apache-err-42'
    assert_problem 400 validation-error "$ROUTE"
    assert_equal "$(gw_header X-Request-ID)" apache-err-42
    assert_equal "$(gw_body_jq .request_id)" apache-err-42
}

@test "apache: text/plain answers 415 and creates nothing" {
    local name
    name=$(gw_uniq plain)
    gw_post_alert "$(am_body Plain deployment="$name" namespace=prod)" -H 'Content-Type: text/plain'
    assert_problem 415 unsupported-media-type "$ROUTE"
    assert_equal "$(kube_rr_count "$(fp_of "prod:Deployment:$name")")" 0
}

@test "apache: a body over 1 MiB answers 413 payload-too-large from the worker" {
    local big="$GW_TMP/big.json"
    head -c 1572864 /dev/zero | tr '\0' x >"$GW_TMP/pad"
    am_body Big deployment=big namespace=prod |
        jq -c --rawfile pad "$GW_TMP/pad" '.commonAnnotations.pad = $pad' >"$big"
    gw_post_alert "@$big"
    assert_problem 413 payload-too-large "$ROUTE"
    assert_regex "$(gw_body_jq .detail)" 'exceeds the limit of 1048576 bytes'
}

@test "apache: a Content-Length over Apache's hard cap is refused with a 413 problem that a worker renders" {
    # 5 MiB: over ALERTGW_MAX_REQUEST_BYTES (4 MiB).  Apache refuses it
    # before reading it (the RewriteRule) and its ErrorDocument has a worker
    # render the problem: a web-server-error log line with no body read.
    head -c $(( 5 * 1024 * 1024 )) /dev/zero | tr '\0' x >"$GW_TMP/huge"
    gw_post_alert "@$GW_TMP/huge" -H 'X-Request-ID: apache-huge-1'
    assert_problem 413 payload-too-large "$ROUTE"
    assert_equal "$(gw_body_jq .detail)" "request body exceeds the web server's hard limit"
    assert_equal "$(gw_header X-Request-ID)" apache-huge-1
    gw_wait_for 5 grep -q '"request_id":"apache-huge-1","route":"web-error".*"status":413,"decision":"web-server-error"' \
        "$(WORKER_LOG)" || fail "no worker log line for Apache's 413"
}

@test "apache: a chunked body over the hard cap is cut off and answered 413, not a failed-worker 503" {
    head -c $(( 5 * 1024 * 1024 )) /dev/zero | tr '\0' x >"$GW_TMP/huge"
    gw_post_alert "@$GW_TMP/huge" -H 'Transfer-Encoding: chunked'
    assert_problem 413 payload-too-large "$ROUTE"
}

@test "apache: GET and DELETE on the POST route answer 405 with Allow: POST" {
    gw_request GET "$ROUTE"
    assert_problem 405 method-not-allowed "$ROUTE"
    assert_equal "$(gw_header Allow)" POST
    # an error answer of the worker's: Cache-Control once, headers set
    assert_equal "$(grep -ci '^cache-control:' <<<"$HTTP_HEADERS")" 1
    assert_equal "$(gw_header X-Content-Type-Options)" nosniff
    gw_request DELETE "$ROUTE?x=1"
    assert_problem 405 method-not-allowed "$ROUTE"
    assert_equal "$(gw_header Allow)" POST
}

@test "apache: unknown paths answer 404 not-found from the worker" {
    gw_request POST /api/v2/signals/prometheus -H 'Content-Type: application/json' --data '{}'
    assert_problem 404 not-found /api/v2/signals/prometheus
    gw_request GET /no/such/thing
    assert_problem 404 not-found /no/such/thing
    # a path that would be a file under the document root is not served from disk
    gw_request GET /metrics.shm
    assert_problem 404 not-found /metrics.shm
}

@test "apache: Authorization reaches the worker (CGIPassAuth): /metrics 401 without the token, 200 with it" {
    gw_request GET /metrics
    assert_problem 401 unauthorized /metrics
    [[ -n $(gw_header WWW-Authenticate) ]] || fail "401 without WWW-Authenticate: $HTTP_HEADERS"
    gw_request GET /metrics -H "Authorization: Bearer wrong-$METRICS_TOKEN"
    assert_status 401
    gw_request GET /metrics -H "Authorization: Bearer $METRICS_TOKEN"
    assert_status 200
    assert_regex "$(gw_header Content-Type)" '^text/plain; version=0.0.4'
}

@test "apache: Redis stopped: /readyz 503 naming redis, webhook 503 + Retry-After, nothing created; after restart exactly one request" {
    local name fp body
    name=$(gw_uniq redisdown)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body RedisDownTest deployment="$name" namespace=prod severity=critical)

    gw_stop_redis
    gw_request GET /readyz
    assert_problem 503 service-unavailable /readyz
    assert_regex "$(gw_body_jq .detail)" '[Rr]edis'
    gw_post_alert "$body"
    assert_503_retry_after
    assert_equal "$(kube_rr_count "$fp")" 0

    gw_start_redis
    assert_redis_came_back "$body" "$fp"
}

# scrape: GET /metrics (with the token) into $GW_TMP/scrape; prints the status.
scrape() {
    curl -sS --max-time 10 -H "Authorization: Bearer $METRICS_TOKEN" \
        -o "$GW_TMP/scrape" -w '%{http_code}' "$GW_URL/metrics"
}
metric() {
    awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "absent" }' "$GW_TMP/scrape"
}

@test "apache: /metrics is the sum over the mod_fcgid processes, passes promtool and counts what was sent" {
    local ns i before_created before_dup before_400 before_415 before_405 before_recv n
    assert_equal "$(scrape)" 200
    before_created=$(metric gateway_crds_created_total)
    before_dup=$(metric gateway_signals_deduplicated_total)
    before_recv=$(metric 'gateway_signals_received_total{source="prometheus",severity="critical"}')
    before_400=$(metric 'gateway_signals_rejected_total{reason="validation"}')
    before_415=$(metric 'gateway_signals_rejected_total{reason="unsupported_media_type"}')
    before_405=$(metric 'gateway_signals_rejected_total{reason="method_not_allowed"}')
    [[ $before_400 == absent ]] && before_400=0
    [[ $before_415 == absent ]] && before_415=0
    [[ $before_405 == absent ]] && before_405=0
    ns=$(gw_uniq met)
    kube_namespaces "$ns"
    for i in $(seq 1 10); do
        am_body "MetricTest$i" deployment="d-$i" namespace="$ns" severity=critical >"$GW_TMP/m.$i.json"
    done
    # in parallel, so that mod_fcgid runs several processes
    seq 1 10 | xargs -P 10 -I{} curl -s -o /dev/null -H 'Content-Type: application/json' \
        --data-binary "@$GW_TMP/m.{}.json" "$GW_URL$ROUTE"
    seq 1 30 | xargs -P 10 -I{} sh -c 'curl -s -o /dev/null -H "Content-Type: application/json" \
        --data-binary "@$1/m.$(( ($2 % 10) + 1 )).json" "$3/api/v1/signals/prometheus"' _ "$GW_TMP" {} "$GW_URL"
    gw_post_alert '{"version":"4"'; assert_status 400
    gw_post_alert "$(am_body X deployment=a namespace=b)" -H 'Content-Type: text/plain'; assert_status 415
    gw_request PUT "$ROUTE"; assert_status 405

    n=$(gw_apache_worker_pids | wc -l)
    (( n >= 2 )) || fail "only $n alertgw-fcgi process(es): the sum over a pool was not exercised"
    echo "# $n mod_fcgid worker processes" >&3

    assert_equal "$(scrape)" 200
    run promtool check metrics <"$GW_TMP/scrape"
    assert_success
    assert_equal "$(( $(metric gateway_crds_created_total) - before_created ))" 10
    assert_equal "$(( $(metric gateway_signals_deduplicated_total) - before_dup ))" 30
    assert_equal "$(( $(metric 'gateway_signals_received_total{source="prometheus",severity="critical"}') - before_recv ))" 40
    assert_equal "$(( $(metric 'gateway_signals_rejected_total{reason="validation"}') - before_400 ))" 1
    assert_equal "$(( $(metric 'gateway_signals_rejected_total{reason="unsupported_media_type"}') - before_415 ))" 1
    assert_equal "$(( $(metric 'gateway_signals_rejected_total{reason="method_not_allowed"}') - before_405 ))" 1
    assert_equal "$(metric gateway_metrics_shared)" 1
    assert_equal "$(metric gateway_redis_up)" 1
    assert_equal "$(metric gateway_kube_api_up)" 1
}

# busy_worker (for failure messages): the PID of the alertgw-fcgi process
# that holds an accepted FastCGI connection (mod_fcgid's sockets are in
# $GW_TMP/apache/run/fcgid; an idle worker has only its listening socket).
busy_worker() {
    ss -xpH state established 2>/dev/null |
        awk -v s="$GW_TMP/apache/run/fcgid/" 'index($0, s) && /alertgw-fcgi/ && match($0, /pid=[0-9]+/) {
            print substr($0, RSTART + 4, RLENGTH - 4) }' | sort -u
}

@test "apache: one worker killed mid-request: a 503 problem with Retry-After, and the resend is recorded once" {
    local name fp rid w out="$GW_TMP/killone" body
    name=$(gw_uniq killone)
    fp=$(fp_of "prod:Deployment:$name")
    rid=$name
    body=$(am_body KillOne deployment="$name" namespace=prod severity=critical)
    mkdir -p "$out"
    # the request waits in a worker's Kubernetes lookup (apiserver paused,
    # for well under kubernetes.connect_timeout)
    gw_hold_request_in_worker "$out" "$rid" "$body" ||
        fail "no single worker waits on the apiserver: [$(gw_kube_waiting_workers | xargs)]; FastCGI connections: [$(busy_worker | xargs)]"
    w=$GW_HELD_WORKER
    [[ " $(gw_apache_worker_pids | xargs) " == *" $w "* ]] || fail "busy pid $w is not an apache worker"
    gw_kill_held_worker "$out"
    assert_503_retry_after
    assert_equal "$(gw_header X-Request-ID)" "$rid"
    assert_equal "$(gw_header X-Content-Type-Options)" nosniff
    # Usually the killed worker's request fails and a live worker renders
    # Apache's ErrorDocument.  On a loaded machine the paused apiserver can
    # take seconds to answer again after SIGCONT, and then the answer may be
    # the pipeline's own "Kubernetes API unavailable" 503 (seen in CI, with
    # the request logged by a worker other than the killed one, for reasons
    # in mod_fcgid not pinned down).  Either way the sender gets a 503
    # problem with Retry-After and its request id, and the resend below
    # must be recorded exactly once.
    case $(gw_body_jq .detail) in
    "a gateway worker failed while handling this request"*)
        gw_wait_for 5 grep -q "\"request_id\":\"$rid\",\"route\":\"web-error\"" "$(WORKER_LOG)" ||
            fail "no worker rendered the 503 for $rid"
        echo "# answered by a live worker (ErrorDocument)" >&3 ;;
    "Kubernetes API unavailable"*)
        echo "# answered by the pipeline: the apiserver was slow to come back" >&3 ;;
    *) fail "unexpected 503 detail: $(gw_body_jq .detail)" ;;
    esac
    gw_wait_for 5 grep -q "\"POST $ROUTE HTTP/1.1\" 503 .* $rid\$" "$GW_TMP/apache/logs/alertgw-access.log" ||
        fail "no access-log 503 line for $rid"
    gw_wait_for 5 _gw_pid_gone "$w" || fail "killed worker $w still there"
    # the resend: recorded exactly once (the killed worker may or may not
    # have created it)
    gw_post_until_not_503 30 "$body" || fail "still 503: $HTTP_BODY"
    [[ $HTTP_STATUS == 201 || $HTTP_STATUS == 202 ]] || fail "resend answered $HTTP_STATUS: $HTTP_BODY"
    assert_equal "$(kube_rr_count "$fp")" 1
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "apache: every worker killed: the next alert is served by a fresh mod_fcgid process and recorded" {
    local name fp w before
    name=$(gw_uniq respawn)
    fp=$(fp_of "prod:Deployment:$name")
    before=$(gw_apache_worker_pids | xargs)
    [[ -n $before ]] || fail "no workers to kill"
    for w in $before; do kill -KILL "$w"; done
    gw_post_until_not_503 30 "$(am_body Respawn deployment="$name" namespace=prod severity=critical)" ||
        fail "still 503: $HTTP_BODY"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1
    for w in $(gw_apache_worker_pids); do
        [[ " $before " != *" $w "* ]] || fail "worker $w survived SIGKILL"
    done
}

# Where Apache differs from lighttpd (lighttpd-errors.lua): with no worker
# able to start, the ErrorDocument pass fails too and Apache sends its own
# HTML page with the original 500 (docs/apache.md, "What differs").
# Alertmanager resends on any 5xx, so nothing is lost: once the
# configuration is repaired the resend creates the request.
@test "apache: no worker can start: a 5xx (Apache's own page), nothing recorded; after the repair the resend is 201" {
    local conf="$GW_TMP/apache/worker/alertgw.yaml" name fp body w i
    name=$(gw_uniq crashloop)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body CrashLoop deployment="$name" namespace=prod severity=critical)
    cp -p "$conf" "$GW_TMP/good.yaml"
    printf 'auth:\n  prometheus: bogus\n' >>"$conf"
    for w in $(gw_apache_worker_pids); do kill -KILL "$w"; done
    for i in 1 2; do
        gw_post_alert "$body"
        [[ $HTTP_STATUS == 5?? ]] || fail "answered $HTTP_STATUS with no worker able to start: $HTTP_BODY"
    done
    grep -q 'alertgw-fcgi: configuration errors' "$(WORKER_LOG)" ||
        fail "the workers' configuration error is not in $(WORKER_LOG)"
    assert_equal "$(kube_rr_count "$fp")" 0

    cp -p "$GW_TMP/good.yaml" "$conf" && rm -f "$GW_TMP/good.yaml"
    for (( i = 0; i < 30; i++ )); do
        gw_post_alert "$body"
        [[ $HTTP_STATUS == 5?? ]] || break
        sleep 1
    done
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1
}

# apache2ctl graceful (SIGUSR1 to the parent, by PID): mod_fcgid's process
# manager restarts and replaces the workers; the metrics file outlives them,
# so the counters carry on.
@test "apache: graceful restart replaces the workers and keeps serving; counters carry on" {
    local top old w before name
    top=$(<"$GW_TMP/apache/pid")
    gw_request GET /healthz; assert_status 200
    old=$(gw_apache_worker_pids | xargs)
    [[ -n $old ]] || fail "no workers before the restart"
    assert_equal "$(scrape)" 200
    before=$(metric 'gateway_signals_received_total{source="prometheus",severity="critical"}')
    kill -USR1 "$top"
    for w in $old; do
        gw_wait_for 20 _gw_pid_gone "$w" || fail "worker $w survived the graceful restart"
    done
    alive "$top" || fail "apache2 ($top) exited on a graceful restart"
    name=$(gw_uniq graceful)
    gw_wait_for 15 _gw_healthz_or_dead "$top" || fail "no /healthz 200 after the graceful restart"
    gw_post_alert "$(am_body Graceful deployment="$name" namespace=prod severity=critical)"
    assert_status 201
    assert_equal "$(kube_rr_count "$(fp_of "prod:Deployment:$name")")" 1
    assert_equal "$(scrape)" 200
    assert_equal "$(metric 'gateway_signals_received_total{source="prometheus",severity="critical"}')" \
        "$(( before + 1 ))"
}

# Last: Apache stops its workers with SIGTERM (they finish the request in
# hand and exit 0), and with the sanitizer worker no report was written
# (leaks are reported at exit, so only now).
@test "apache: stopping apache2 stops every worker; no sanitizer report" {
    local workers w
    workers=$(gw_apache_worker_pids)
    [[ -n $workers ]] || fail "no workers running"
    gw_stop_apache
    for w in $workers; do
        alive "$w" && fail "worker $w still running after apache2 stopped"
    done
    grep -q 'mod_fcgid: process .*alertgw-fcgi.* exit(shutting down), terminated by calling exit(), return code: 0' \
        "$(WORKER_LOG)" || fail "no worker exited cleanly: $(grep 'mod_fcgid: process' "$(WORKER_LOG)" | tail -n 3)"
    run gw_apache_san_reports
    assert_output ""
}

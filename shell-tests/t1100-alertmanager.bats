#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t1100-alertmanager: a real Prometheus Alertmanager (Debian's
# prometheus-alertmanager) delivers the webhooks.  Alerts are injected
# through its v2 API; Alertmanager groups them, resends unchanged groups every
# repeat_interval, sends resolved notifications, and retries after a 5xx.
# Short intervals keep the file fast: group_wait 1s, group_interval 2s,
# repeat_interval 4s.  Each test uses its own alert name, so its group is its
# own (group_by: alertname).

load helpers

setup_file() {
    gw_setup_stack || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod || return 1
    command -v prometheus-alertmanager >/dev/null ||
        { echo "prometheus-alertmanager missing: deploy/install-deps.sh" >&2; return 1; }
    local dir=$GW_TMP/alertmanager port attempt
    mkdir -p "$dir/data"
    cat >"$dir/alertmanager.yml" <<YAML
route:
  receiver: alertgw
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 4s
receivers:
  - name: alertgw
    webhook_configs:
      - url: $GW_URL/api/v1/signals/prometheus
        send_resolved: true
YAML
    for attempt in 1 2 3; do
        port=$(gw_free_port) || return 1
        # no --cluster.listen-address: a single instance, no gossip port
        prometheus-alertmanager --config.file="$dir/alertmanager.yml" \
            --storage.path="$dir/data" --web.listen-address="127.0.0.1:$port" \
            --cluster.listen-address= --log.level=info \
            >>"$dir/alertmanager.log" 2>&1 3>&- &
        echo $! >"$dir/pid"
        export AM_URL="http://127.0.0.1:$port"
        gw_wait_for 20 _am_ready && return 0
        gw_kill_pid "$(<"$dir/pid")" 5
    done
    echo "alertmanager did not become ready:" >&2
    tail -n 20 "$dir/alertmanager.log" >&2
    return 1
}
_am_ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$AM_URL/-/ready") == 200 ]]; }

teardown_file() {
    [[ -f ${GW_TMP:-/nonexistent}/alertmanager/pid ]] && gw_kill_pid "$(<"$GW_TMP/alertmanager/pid")" 10
    gw_teardown_stack
}

teardown() {
    gw_teardown_test
    [[ -f $GW_TMP/redis/pid ]] || gw_start_redis
}

# am_inject ALERTNAME ENDS_IN_SECONDS LABEL=VALUE...: posts one alert to
# Alertmanager's v2 API (ENDS_IN_SECONDS <= 0: already resolved).
am_inject() {
    local name=$1 ends=$2; shift 2
    local body
    body=$(jq -cn --arg name "$name" --arg s "$(gw_now -60)" --arg e "$(gw_now "$ends")" '
        [{labels: ({alertname: $name} + ($ARGS.positional | map(split("=") | {(.[0]): .[1]}) | add)),
          annotations: {summary: "injected by t1100"},
          startsAt: $s, endsAt: $e, generatorURL: "http://prometheus.test/graph"}]' \
        --args "$@")
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
        --data-binary "$body" "$AM_URL/api/v2/alerts") == 200 ]]
}

# signal_field FP JQ: a field of GET /api/v1/signals/FP (empty if unknown).
signal_field() {
    curl -s --max-time 5 "$GW_URL/api/v1/signals/$1" | jq -r "$2 // empty" 2>/dev/null
}
_count_at_least() { local c; c=$(signal_field "$1" .count); [[ -n $c ]] && (( c >= $2 )); }
_rr_count_is() { [[ $(kube_rr_count "$1" 2>/dev/null) == "$2" ]]; }
_resolved() { [[ $(signal_field "$1" .resolved) == true ]]; }

@test "repeated notifications of one group: exactly one request, its count rises" {
    local name fp
    name=$(gw_uniq am-repeat)
    fp=$(fp_of "prod:Deployment:$name")
    am_inject AmRepeat$BATS_TEST_NUMBER 300 deployment="$name" namespace=prod severity=critical
    gw_wait_for 20 _rr_count_is "$fp" 1 || fail "no request 20 s after injection"
    # repeat_interval is 4 s: within 20 s Alertmanager resends at least twice
    gw_wait_for 20 _count_at_least "$fp" 3 || fail "count still $(signal_field "$fp" .count) after 20 s"
    assert_equal "$(kube_rr_count "$fp")" 1
    # the 207/202 answers went to Alertmanager; the object counts too
    local rr
    rr=$(kube_get_rrs "$fp" | jq -r '.items[0].metadata.name')
    gw_wait_for 10 _rr_status_at_least "$rr" 2 || fail "status.deduplication did not follow"
}
_rr_status_at_least() { local c; c=$(kube_rr_occurrences "$1"); [[ -n $c ]] && (( c >= $2 )); }

@test "one group with three alerts: one request per resource" {
    local an d fps=() i
    an=AmGroup$BATS_TEST_NUMBER
    for i in 1 2 3; do
        d=$(gw_uniq am-group-$i)
        fps+=("$(fp_of "prod:Deployment:$d")")
        am_inject "$an" 300 deployment="$d" namespace=prod severity=warning
    done
    for i in 0 1 2; do
        gw_wait_for 20 _rr_count_is "${fps[$i]}" 1 || fail "alert $i: no request"
    done
    # Alertmanager delivered them as one webhook: the gateway answered 207
    grep -q "\"status\":207,\"decision\":\"batch\"" "$GW_TMP/lighttpd/stderr.log" ||
        fail "no 207 batch answer logged"
    # a few resends later, still one each
    gw_wait_for 20 _count_at_least "${fps[0]}" 2 || fail "group was not resent"
    for i in 0 1 2; do assert_equal "$(kube_rr_count "${fps[$i]}")" 1; done
}

@test "a resolved notification creates nothing and marks the request resolved" {
    local an name fp rr
    an=AmResolve$BATS_TEST_NUMBER
    name=$(gw_uniq am-resolve)
    fp=$(fp_of "prod:Deployment:$name")
    am_inject "$an" 300 deployment="$name" namespace=prod severity=critical
    gw_wait_for 20 _rr_count_is "$fp" 1 || fail "no request"
    am_inject "$an" -1 deployment="$name" namespace=prod severity=critical
    gw_wait_for 20 _resolved "$fp" || fail "resolved notification not recorded"
    assert_equal "$(kube_rr_count "$fp")" 1
    rr=$(kube_get_rrs "$fp" | jq -r '.items[0].metadata.name')
    [[ -n $(kube_get_rr "$rr" | jq -r '.metadata.annotations["kubernaut.ai/resolved-at"] // empty') ]] ||
        fail "no kubernaut.ai/resolved-at annotation on $rr"
}

@test "Alertmanager retries after a 503 (Redis down) and the alert arrives once Redis is back" {
    local an name fp
    an=AmRetry$BATS_TEST_NUMBER
    name=$(gw_uniq am-retry)
    fp=$(fp_of "prod:Deployment:$name")
    gw_stop_redis
    am_inject "$an" 300 deployment="$name" namespace=prod severity=critical
    # the gateway answered Alertmanager 503 at least once for this alert
    gw_wait_for 20 grep -q "\"status\":503,\"decision\":\"failed\",\"duration_ms\":[0-9.]*,\"fingerprint\":\"$fp\"" \
        "$GW_TMP/lighttpd/stderr.log" || fail "no 503 logged for $fp"
    assert_equal "$(kube_rr_count "$fp")" 0
    gw_start_redis
    gw_wait_for 30 _rr_count_is "$fp" 1 || fail "no request 30 s after Redis came back"
    sleep 5 # more resends: still exactly one
    assert_equal "$(kube_rr_count "$fp")" 1
}

# am_failed_notifications: Alertmanager's own count of failed webhook
# notifications (what kube-prometheus' AlertmanagerFailedToSendAlerts uses).
am_failed_notifications() {
    curl -s --max-time 5 "$AM_URL/metrics" |
        awk '/^alertmanager_notifications_failed_total\{/ && /integration="webhook"/ { s += $2; f = 1 }
             END { if (f) print s }'
}
_heartbeats_above() { gw_scrape && (( $(gw_metric gateway_heartbeats_total) > $1 )); }
_no_target_above() {
    gw_scrape && (( $(gw_metric 'gateway_signals_rejected_total{reason="no_target"}') > $1 ))
}

@test "Alertmanager's Watchdog arrives as a heartbeat and a workload-less alert as 200 ignored: no failed notification" {
    local failed_before hb_before nt_before t0
    t0=$(date +%s)
    failed_before=$(am_failed_notifications)
    [[ -n $failed_before ]] || fail "no alertmanager_notifications_failed_total for webhook"
    gw_scrape
    hb_before=$(gw_metric gateway_heartbeats_total)
    nt_before=$(gw_metric 'gateway_signals_rejected_total{reason="no_target"}')
    # as kube-prometheus defines it: no resource label at all
    am_inject Watchdog 300 severity=none prometheus=monitoring/k8s
    am_inject AmNodeDown$BATS_TEST_NUMBER 300 severity=critical instance=10.0.0.7:9100 job=node-exporter
    gw_wait_for 20 _heartbeats_above "$hb_before" || fail "no heartbeat within 20 s"
    awk -v t="$t0" '$1 == "gateway_heartbeat_last_seen_timestamp_seconds" { exit !($2 >= t) }' \
        "$GW_TMP/scrape" || fail "heartbeat gauge not moved past $t0"
    # the node alert: 200 ignored, no-target
    gw_wait_for 20 _no_target_above "$nt_before" || fail "the workload-less alert was not counted"
    # a few repeat_intervals later Alertmanager has resent both: still no failure
    sleep 6
    assert_equal "$(am_failed_notifications)" "$failed_before"
    gw_scrape
    (( $(gw_metric gateway_heartbeats_total) >= hb_before + 2 )) ||
        fail "the Watchdog was not resent as a heartbeat: $(gw_metric gateway_heartbeats_total)"
}

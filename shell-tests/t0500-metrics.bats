#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t0500-metrics: GET /metrics is the whole worker pool's counters (a shared
# memory file every worker maps), valid for promtool, with counts equal to
# the requests sent - including requests spread over four workers, and
# across a worker being killed and restarted.

load helpers

setup_file() {
    gw_setup_stack || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod
}
teardown_file() { gw_teardown_stack; }
teardown()      { gw_teardown_test; }

# metric NAME_WITH_LABELS: the value of one sample of the last scrape.
metric() {
    awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "absent" }' "$GW_TMP/scrape"
}
scrape() {
    curl -sS --max-time 10 -o "$GW_TMP/scrape" -w '%{http_code}' "$GW_URL/metrics"
}

@test "/metrics passes promtool and counts what was sent, over all workers" {
    local ns i before_created before_dup
    assert_equal "$(scrape)" 200
    before_created=$(metric gateway_crds_created_total)
    before_dup=$(metric gateway_signals_deduplicated_total)
    ns=$(gw_uniq met)
    kube_namespaces "$ns"
    # 10 new alerts (distinct alert names: no storm) and 30 duplicates, in
    # parallel so that every worker takes some
    for i in $(seq 1 10); do
        am_body "MetricTest$i" deployment="d-$i" namespace="$ns" severity=critical >"$GW_TMP/m.$i.json"
    done
    seq 1 10 | xargs -P 10 -I{} curl -s -o /dev/null -H 'Content-Type: application/json' \
        --data-binary "@$GW_TMP/m.{}.json" "$GW_URL/api/v1/signals/prometheus"
    seq 1 30 | xargs -P 30 -I{} sh -c 'curl -s -o /dev/null -H "Content-Type: application/json" \
        --data-binary "@$1/m.$(( ($2 % 10) + 1 )).json" "$3/api/v1/signals/prometheus"' _ "$GW_TMP" {} "$GW_URL"
    gw_post_alert '{"version":"4"' ; assert_status 400
    gw_post_alert "$(am_body X deployment=a namespace=b)" -H 'Content-Type: text/plain'
    assert_status 415
    gw_request PUT /api/v1/signals/prometheus; assert_status 405

    assert_equal "$(scrape)" 200
    run promtool check metrics <"$GW_TMP/scrape"
    assert_success
    assert_equal "$(( $(metric gateway_crds_created_total) - before_created ))" 10
    assert_equal "$(( $(metric gateway_signals_deduplicated_total) - before_dup ))" 30
    assert_equal "$(metric 'gateway_signals_rejected_total{reason="validation"}')" 1
    assert_equal "$(metric 'gateway_signals_rejected_total{reason="unsupported_media_type"}')" 1
    assert_equal "$(metric 'gateway_signals_rejected_total{reason="method_not_allowed"}')" 1
    assert_equal "$(metric 'gateway_signals_received_total{source="prometheus",severity="critical"}')" 40
    assert_equal "$(metric 'gateway_http_request_duration_seconds_count{route="prometheus",code="201"}')" 10
    assert_equal "$(metric 'gateway_http_request_duration_seconds_count{route="prometheus",code="202"}')" 30
    assert_equal "$(metric 'gateway_http_request_duration_seconds_bucket{route="prometheus",code="202",le="+Inf"}')" 30
    assert_equal "$(metric gateway_redis_up)" 1
    assert_equal "$(metric gateway_kube_api_up)" 1
    assert_equal "$(metric gateway_metrics_shared)" 1
    grep -q '^gateway_build_info{version="[0-9.]*"} 1$' "$GW_TMP/scrape" || fail "no build info"
    # bounded cardinality: no label value outside the fixed lists
    run grep -c '^gateway_' "$GW_TMP/scrape"
    (( output < 200 )) || fail "$output samples"
}

@test "counters survive a worker killed and restarted; /metrics answers 405 to POST" {
    local before w
    assert_equal "$(scrape)" 200
    before=$(metric 'gateway_signals_received_total{source="prometheus",severity="critical"}')
    for w in $(gw_worker_pids); do kill -KILL "$w"; done
    gw_wait_for 15 _workers_back || fail "workers not restarted"
    gw_post_alert "$(am_body AfterKill deployment="$(gw_uniq k)" namespace=prod severity=critical)"
    assert_status 201
    assert_equal "$(scrape)" 200
    assert_equal "$(metric 'gateway_signals_received_total{source="prometheus",severity="critical"}')" \
        "$(( before + 1 ))"
    gw_request POST /metrics -d x
    assert_status 405
}
_workers_back() { (( $(gw_worker_pids | wc -l) == ${GW_WORKERS:-4} )) && curl -sf -o /dev/null "$GW_URL/healthz"; }

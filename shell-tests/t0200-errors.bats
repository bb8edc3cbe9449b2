#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t0200-errors: every way a client can get it wrong is answered with the
# right status and an RFC 7807 problem body (type, title, status, detail,
# instance = the path, request_id = the X-Request-ID header), and nothing is
# created in Kubernetes.

load helpers

setup_file() {
    gw_setup_stack || return 1
    # a real namespace, so that "nothing is created" is the refusal's doing
    # and not the namespace check's (signals about a namespace the cluster
    # does not have are 200 ignored)
    kube_namespaces prod
}
teardown_file() { gw_teardown_stack; }
teardown()      { gw_teardown_test; }

ROUTE=/api/v1/signals/prometheus

@test "malformed JSON answers 400 validation-error" {
    gw_post_alert '{"version":"4","alerts":[{"labels":{"alertname":"X"'
    assert_problem 400 validation-error "$ROUTE"
}

@test "an alert without alertname answers 400 naming the field" {
    local name body
    name=$(gw_uniq noname)
    body=$(am_body Placeholder deployment="$name" namespace=prod |
        jq -c 'del(.alerts[0].labels.alertname) | del(.commonLabels.alertname) | del(.groupLabels.alertname)')
    gw_post_alert "$body"
    assert_problem 400 validation-error "$ROUTE"
    assert_regex "$(gw_body_jq .detail)" 'alertname'
    assert_equal "$(kube_rr_count "$(fp_of "prod:Deployment:$name")")" 0
}

# Not an error: Alertmanager counts every 4xx as a failed notification (and
# kube-prometheus pages on those), so an alert that names no resource is
# 200 ignored, reason no-target, with the labels looked for in the message.
@test "an alert with no target label answers 200 ignored no-target, naming the labels looked for; nothing stored" {
    local before keys
    gw_scrape; before=$(gw_metric 'gateway_signals_rejected_total{reason="no_target"}')
    keys=$(gw_redis_cli DBSIZE)
    gw_post_alert "$(am_body NoTarget severity=warning job=node-exporter instance=10.0.0.1:9100)"
    assert_status 200
    assert_equal "$(gw_header Content-Type | cut -d';' -f1)" application/json
    assert_equal "$(gw_body_jq .status)" ignored
    assert_equal "$(gw_body_jq .reason)" no-target
    assert_regex "$(gw_body_jq .message)" 'no target resource: expected a label naming the resource \(deployment, .*job_name\)'
    assert_equal "$(gw_redis_cli DBSIZE)" "$keys"
    gw_scrape
    assert_equal "$(gw_metric 'gateway_signals_rejected_total{reason="no_target"}')" "$(( before + 1 ))"
    # a label that names a resource badly is still the sender's error
    gw_post_alert "$(am_body BadNs deployment=api namespace='Not A Namespace')"
    assert_problem 400 validation-error "$ROUTE"
}

@test "Alertmanager's Watchdog is a heartbeat: 200 heartbeat, the gauge moves forward, nothing stored" {
    local t0 keys before
    t0=$(date +%s)
    gw_scrape
    before=$(gw_metric gateway_heartbeats_total)
    keys=$(gw_redis_cli DBSIZE)
    gw_post_alert "$(am_body Watchdog severity=none prometheus=monitoring/k8s)"
    assert_status 200
    assert_equal "$(gw_body_jq .status)" heartbeat
    assert_equal "$(gw_redis_cli DBSIZE)" "$keys"
    gw_scrape
    assert_equal "$(gw_metric gateway_heartbeats_total)" "$(( before + 1 ))"
    awk -v t="$t0" '$1 == "gateway_heartbeat_last_seen_timestamp_seconds" { exit !($2 >= t) }' \
        "$GW_TMP/scrape" || fail "heartbeat gauge $(gw_metric gateway_heartbeat_last_seen_timestamp_seconds) before $t0"
    # in a webhook with other alerts: its own status, counted as ignored
    gw_post_alert "$(am_webhook "$(am_alert Watchdog severity=none)" \
        "$(am_alert NodeDown severity=critical instance=10.0.0.9:9100)")"
    assert_status 207
    assert_equal "$(gw_body_jq '.results[0].status')" heartbeat
    assert_equal "$(gw_body_jq '.results[1].status')" ignored
    assert_equal "$(gw_body_jq '.results[1].reason')" no-target
    assert_equal "$(gw_body_jq '.summary.ignored')" 2
    assert_equal "$(gw_body_jq '.summary.rejected')" 0
}

@test "a JSON array instead of a webhook object answers 400" {
    gw_post_alert '[1,2,3]'
    assert_problem 400 validation-error "$ROUTE"
}

@test "text/plain answers 415 unsupported-media-type" {
    local name
    name=$(gw_uniq plain)
    gw_post_alert "$(am_body Plain deployment="$name" namespace=prod)" -H 'Content-Type: text/plain'
    assert_problem 415 unsupported-media-type "$ROUTE"
    assert_equal "$(kube_rr_count "$(fp_of "prod:Deployment:$name")")" 0
}

@test "a body over 1 MiB answers 413 payload-too-large from the worker" {
    local big="$GW_TMP/big.json"
    # 1.5 MiB: over the worker's 1 MiB cap, under lighttpd's hard cap, so
    # the worker's own problem body must come back.
    head -c 1572864 /dev/zero | tr '\0' x >"$GW_TMP/pad"
    am_body Big deployment=big namespace=prod |
        jq -c --rawfile pad "$GW_TMP/pad" '.commonAnnotations.pad = $pad' >"$big"
    (( $(stat -c %s "$big") > 1572864 )) || fail "test body too small"
    gw_post_alert "@$big"
    assert_problem 413 payload-too-large "$ROUTE"
}

@test "a body over lighttpd's hard cap is refused with a 413 problem before any worker reads it" {
    # lighttpd.conf's cap (ALERTGW_MAX_REQUEST_KB, 4 MiB here) stops absurd
    # bodies at the door; its error-handler has a worker render the problem.
    head -c $(( 5 * 1024 * 1024 )) /dev/zero | tr '\0' x >"$GW_TMP/huge"
    gw_post_alert "@$GW_TMP/huge"
    assert_problem 413 payload-too-large "$ROUTE"
    assert_equal "$(gw_body_jq .detail)" "request body exceeds the web server's hard limit"
    # the worker that rendered it saw no body: it logged a web-server-error
    sleep 0.2
    grep -q '"status":413,"decision":"web-server-error"' "$GW_TMP/lighttpd/stderr.log" ||
        fail "no worker log line for the web server's 413"
}

@test "GET on the POST route answers 405 with Allow: POST" {
    gw_request GET "$ROUTE"
    assert_problem 405 method-not-allowed "$ROUTE"
    assert_equal "$(gw_header Allow)" POST
}

@test "DELETE on the POST route answers 405 with Allow: POST" {
    gw_request DELETE "$ROUTE"
    assert_problem 405 method-not-allowed "$ROUTE"
    assert_equal "$(gw_header Allow)" POST
}

@test "an unknown path answers 404 not-found" {
    gw_request POST /api/v2/signals/prometheus -H 'Content-Type: application/json' --data '{}'
    assert_problem 404 not-found /api/v2/signals/prometheus
    gw_request GET /no/such/thing
    assert_problem 404 not-found /no/such/thing
}

@test "instance is the path without the query string" {
    gw_request GET "$ROUTE?x=1"
    assert_problem 405 method-not-allowed "$ROUTE"
}

@test "a problem carries the client's X-Request-ID in header and body" {
    gw_post_alert 'not json' -H 'X-Request-ID: err-test-42'
    assert_problem 400 validation-error "$ROUTE"
    assert_equal "$(gw_header X-Request-ID)" err-test-42
    assert_equal "$(gw_body_jq .request_id)" err-test-42
}

# last in the file: it restarts lighttpd with a setting the others do not use
@test "signals.reject_without_target: true restores the 400; the Watchdog stays a heartbeat" {
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_SIGNALS_REJECT_WITHOUT_TARGET=true
    gw_post_alert "$(am_body NoTarget severity=warning job=node-exporter instance=10.0.0.1:9100)"
    assert_problem 400 validation-error "$ROUTE"
    assert_regex "$(gw_body_jq .detail)" 'no target resource'
    gw_post_alert "$(am_body Watchdog severity=none)"
    assert_status 200
    assert_equal "$(gw_body_jq .status)" heartbeat
    gw_stop_lighttpd
    gw_start_lighttpd
}

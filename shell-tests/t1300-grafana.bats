#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t1300-grafana: POST /api/v1/signals/grafana with Grafana Alerting's
# payload (version 1), HMAC-SHA256 signed with X-Grafana-Alerting-Signature.
# The workers hold two secrets (current and previous: rotation).

load helpers

setup_file() {
    GW_SECRETS=$(mktemp -d "${TMPDIR:-/tmp}/alertgw-secrets.XXXXXX")
    export GW_SECRETS
    printf 'current-secret\n' >"$GW_SECRETS/current"
    printf 'previous-secret' >"$GW_SECRETS/previous"
    gw_setup_stack ALERTGW_GRAFANA_SECRET_FILES="$GW_SECRETS/current,$GW_SECRETS/previous" || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod
}
teardown_file() { gw_teardown_stack; rm -rf "$GW_SECRETS"; }
teardown()      { gw_teardown_test; }

ROUTE=/api/v1/signals/grafana

# grafana_body NAME DEPLOYMENT [NAMESPACE]: a Grafana 11/12 contact-point
# webhook body (namespace prod unless given).
grafana_body() {
    jq -cn --arg an "$1" --arg d "$2" --arg ns "${3:-prod}" --arg s "$(gw_now -60)" '
        {receiver: "alertgw", status: "firing", orgId: 1, version: "1",
         groupKey: ("{}:{alertname=\"" + $an + "\"}"), truncatedAlerts: 0,
         title: ("[FIRING:1] " + $an), state: "alerting", message: "…",
         groupLabels: {alertname: $an}, commonLabels: {alertname: $an},
         commonAnnotations: {}, externalURL: "http://grafana.test/",
         alerts: [{status: "firing",
                   labels: {alertname: $an, deployment: $d, namespace: $ns,
                            severity: "critical", grafana_folder: "Kubernetes"},
                   annotations: {summary: "from grafana"},
                   startsAt: $s, endsAt: "0001-01-01T00:00:00Z",
                   generatorURL: "http://grafana.test/alerting/grafana/abc/view",
                   fingerprint: "0f1e2d3c4b5a6978", silenceURL: "http://grafana.test/s",
                   dashboardURL: "", panelURL: "", values: {A: 97.5}}]}'
}

# post_exact BODY [CURL ARGS...]: posts exactly these bytes (gw_post's
# here-string would add a newline, which a signature rightly refuses).
post_exact() {
    local body=$1; shift
    printf '%s' "$body" >"$GW_TMP/grafana.json"
    gw_post "$ROUTE" "@$GW_TMP/grafana.json" "$@"
}

# sign SECRET BODY [TIMESTAMP]: lowercase hex HMAC-SHA256.
sign() {
    if [[ -n ${3:-} ]]; then
        printf '%s:%s' "$3" "$2" | openssl dgst -sha256 -hmac "$1" -r | cut -d' ' -f1
    else
        printf '%s' "$2" | openssl dgst -sha256 -hmac "$1" -r | cut -d' ' -f1
    fi
}

@test "a correctly signed Grafana webhook creates a request with source grafana" {
    local d body fp rr
    d=$(gw_uniq graf)
    fp=$(fp_of "prod:Deployment:$d")
    body=$(grafana_body GrafanaHighCPU "$d")
    post_exact "$body" -H "X-Grafana-Alerting-Signature: $(sign current-secret "$body")"
    assert_status 201
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    rr=$(gw_body_jq .remediationRequestName)
    assert_equal "$(kube_get_rr "$rr" | jq -r .spec.signalSource)" grafana
    # the same signed body again is a duplicate
    post_exact "$body" -H "X-Grafana-Alerting-Signature: $(sign current-secret "$body")"
    assert_status 202
}

@test "the previous secret is still accepted (rotation)" {
    local d body
    d=$(gw_uniq rot)
    body=$(grafana_body GrafanaRotation "$d")
    post_exact "$body" -H "X-Grafana-Alerting-Signature: $(sign previous-secret "$body")"
    assert_status 201
}

@test "unsigned, wrongly signed and tampered webhooks are 401 and create nothing" {
    local d body fp
    d=$(gw_uniq bad)
    fp=$(fp_of "prod:Deployment:$d")
    body=$(grafana_body GrafanaBad "$d")
    post_exact "$body"
    assert_problem 401 unauthorized "$ROUTE"
    post_exact "$body" -H "X-Grafana-Alerting-Signature: $(sign wrong-secret "$body")"
    assert_problem 401 unauthorized "$ROUTE"
    post_exact "${body/97.5/12.5}" -H "X-Grafana-Alerting-Signature: $(sign current-secret "$body")"
    assert_problem 401 unauthorized "$ROUTE"
    assert_equal "$(kube_rr_count "$fp")" 0
    # a security_event line with the reason, never a secret
    grep -q 'security_event: grafana webhook refused: signature mismatch' "$GW_TMP/lighttpd/stderr.log" ||
        fail "no security_event logged"
    ! grep -q 'current-secret\|previous-secret' "$GW_TMP/lighttpd/stderr.log" ||
        fail "a secret reached the log"
}

@test "with a timestamp header configured, \"<timestamp>:<body>\" is what is signed" {
    # Last in this file: it restarts lighttpd with another worker setting.
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_GRAFANA_SECRET_FILES="$GW_SECRETS/current" \
        ALERTGW_GRAFANA_TIMESTAMP_HEADER=X-Grafana-Alerting-Signature-Timestamp
    local d body ts
    d=$(gw_uniq ts)
    body=$(grafana_body GrafanaTimestamp "$d")
    ts=$(date +%s)
    post_exact "$body" -H "X-Grafana-Alerting-Signature: $(sign current-secret "$body")" \
        -H "X-Grafana-Alerting-Signature-Timestamp: $ts"
    assert_problem 401 unauthorized "$ROUTE"
    post_exact "$body" -H "X-Grafana-Alerting-Signature: $(sign current-secret "$body" "$ts")"
    assert_problem 401 unauthorized "$ROUTE"
    post_exact "$body" -H "X-Grafana-Alerting-Signature: $(sign current-secret "$body" "$ts")" \
        -H "X-Grafana-Alerting-Signature-Timestamp: $ts"
    assert_status 201
}

@test "with a timestamp header, a signed Grafana webhook sent again inside the window is 200 ignored (reason replay) and counts nothing" {
    # the timestamp header, as in the test before
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_GRAFANA_SECRET_FILES="$GW_SECRETS/current" \
        ALERTGW_GRAFANA_TIMESTAMP_HEADER=X-Grafana-Alerting-Signature-Timestamp
    local ns d fp body ts sig rr
    ns=$(gw_uniq graf-replay)
    kube_namespace "$ns"
    d=$(gw_uniq dep)
    fp=$(fp_of "$ns:Deployment:$d")
    body=$(grafana_body GrafanaReplay "$d" "$ns")
    ts=$(date +%s)
    sig=$(sign current-secret "$body" "$ts")
    post_exact "$body" -H "X-Grafana-Alerting-Signature: $sig" \
        -H "X-Grafana-Alerting-Signature-Timestamp: $ts"
    assert_status 201
    rr=$(gw_body_jq .remediationRequestName)
    post_exact "$body" -H "X-Grafana-Alerting-Signature: $sig" \
        -H "X-Grafana-Alerting-Signature-Timestamp: $ts"
    assert_status 200
    assert_equal "$(gw_body_jq .status)" ignored
    assert_equal "$(gw_body_jq .reason)" replay
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    assert_equal "$(gw_body_jq .remediationRequestRef)" "$GW_RR_NAMESPACE/$rr"
    gw_request GET "/api/v1/signals/$fp"
    assert_equal "$(gw_body_jq .count)" 1
    assert_equal "$(kube_rr_count "$fp")" 1
    # Grafana's next notification carries a new timestamp: counted
    post_exact "$body" -H "X-Grafana-Alerting-Signature: $(sign current-secret "$body" "$(( ts + 1 ))")" \
        -H "X-Grafana-Alerting-Signature-Timestamp: $(( ts + 1 ))"
    assert_status 202
    assert_equal "$(gw_body_jq .metadata.count)" 2
}

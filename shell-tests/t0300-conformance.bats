#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t0300-conformance: the answers as the spec and docs/api.md give them, on
# the real stack.  The storm member's answer names its aggregate
# (storm.remediationRequestRef, storm.resourceCount) in the 202, in a 207
# result and in GET /api/v1/signals/{fp}; timestamps are RFC 3339 strings
# (a wrong JSON type, a string that is not RFC 3339 or a startsAt too far
# ahead is a 400 naming the field and the alert); and every example answer
# of docs/api.md (a ```json block after `<!-- answer: NAME STATUS -->`) is
# produced here and compared with the real answer: the same field names
# recursively, the same JSON types, the same constant values
# (shell-tests/api-examples.py).

load helpers

DOC="$BATS_TEST_DIRNAME/../docs/api.md"
EXAMPLES="$BATS_TEST_DIRNAME/api-examples.py"
GRAFANA_SECRET=conformance-grafana-secret

setup_file() {
    printf '%s\n' "$GRAFANA_SECRET" >"$BATS_FILE_TMPDIR/grafana.secret"
    printf 'conformance-hmac-%s\n' "$(openssl rand -hex 8)" >"$BATS_FILE_TMPDIR/hmac.secret"
    : >"$BATS_FILE_TMPDIR/checked"
    # one sender (127.0.0.1), some 60 creates in all: the default budgets hold
    gw_setup_stack ALERTGW_GRAFANA_SECRET_FILES="$BATS_FILE_TMPDIR/grafana.secret" || return 1
    NS=$(gw_uniq conf)
    echo "$NS" >"$BATS_FILE_TMPDIR/ns"
    kube_namespace "$NS"
}
teardown_file() { gw_teardown_stack; }
teardown()      { gw_teardown_test; }

ns() { cat "$BATS_FILE_TMPDIR/ns"; }

# check_example NAME: the last answer is docs/api.md's example NAME: its
# status, field names, JSON types and constant values.
check_example() {
    local want diffs
    want=$(python3 "$EXAMPLES" names "$DOC" | awk -v n="$1" '$1 == n { print $2 }')
    [[ -n $want ]] || fail "docs/api.md has no example named $1"
    [[ $HTTP_STATUS == "$want" ]] ||
        fail "example $1 is documented as HTTP $want, the gateway answered $HTTP_STATUS: $HTTP_BODY"
    diffs=$(python3 "$EXAMPLES" compare "$DOC" "$1" <<<"$HTTP_BODY") ||
        fail "$(printf 'the real answer differs from the example %s of docs/api.md:\n%s\nreal: %s' \
            "$1" "$diffs" "$HTTP_BODY")"
    echo "$1" >>"$BATS_FILE_TMPDIR/checked"
}

# post_exact ROUTE BODY [CURL ARGS...]: exactly these bytes (signatures).
post_exact() {
    local route=$1 body=$2; shift 2
    printf '%s' "$body" >"$GW_TMP/exact.json"
    gw_post "$route" "@$GW_TMP/exact.json" "$@"
}

# with_alert JQ BODY: the webhook BODY with JQ applied to its alerts[0].
with_alert() { jq -c ".alerts[0] |= ($1)" <<<"$2"; }

# grafana_post BODY: signed like Grafana (lowercase hex HMAC-SHA256).
grafana_post() {
    post_exact /api/v1/signals/grafana "$1" -H "X-Grafana-Alerting-Signature: $(printf '%s' "$1" |
        openssl dgst -sha256 -hmac "$GRAFANA_SECRET" -r | cut -d' ' -f1)"
}

## --- storm answers ---------------------------------------------------------

@test "a storm member's 202 names its aggregate: storm.remediationRequestRef and storm.resourceCount (also in a 207 result and in GET)" {
    local sns i agg ref fp body
    sns=$(gw_uniq storm)
    kube_namespace "$sns"
    for i in 1 2 3 4; do
        gw_post_alert "$(am_body CrashLoop pod="web-$i" namespace="$sns" severity=critical)"
        assert_status 201
    done
    # the 5th distinct pod opens the pattern storm
    gw_post_alert "$(am_body CrashLoop pod=web-5 namespace="$sns" severity=critical)"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" aggregated
    agg=$(gw_body_jq .remediationRequestName)
    ref="$GW_RR_NAMESPACE/$agg"
    assert_equal "$(gw_body_jq .storm.type)" pattern
    assert_equal "$(gw_body_jq .storm.remediationRequestRef)" "$ref"
    assert_equal "$(gw_body_jq .storm.resourceCount)" 5
    assert_equal "$(gw_body_jq .storm.opened)" true
    # the 6th joins it
    gw_post_alert "$(am_body CrashLoop pod=web-6 namespace="$sns" severity=critical)"
    assert_status 202
    assert_equal "$(gw_body_jq .storm.remediationRequestRef)" "$ref"
    assert_equal "$(gw_body_jq .storm.resourceCount)" 6
    assert_equal "$(gw_body_jq .storm.resources)" 6 # the older name, an alias
    assert_equal "$(gw_body_jq .storm.opened)" false
    assert_equal "$(gw_body_jq .metadata.remediationRequestRef)" "$ref"
    check_example aggregated

    # a webhook with two more members: each 207 result carries the storm
    body=$(am_webhook "$(am_alert CrashLoop pod=web-7 namespace="$sns" severity=critical)" \
        "$(am_alert CrashLoop pod=web-8 namespace="$sns" severity=critical)")
    gw_post_alert "$body"
    assert_status 207
    for i in 0 1; do
        assert_equal "$(gw_body_jq ".results[$i].status")" aggregated
        assert_equal "$(gw_body_jq ".results[$i].storm.type")" pattern
        assert_equal "$(gw_body_jq ".results[$i].storm.remediationRequestRef")" "$ref"
        assert_equal "$(gw_body_jq ".results[$i].storm.resourceCount")" "$(( 7 + i ))"
    done
    check_example multi-status-storm

    # GET: the same names
    fp=$(fp_of "$sns:Pod:web-6")
    gw_request GET "/api/v1/signals/$fp"
    assert_status 200
    assert_equal "$(gw_body_jq .storm.member)" true
    assert_equal "$(gw_body_jq .storm.type)" pattern
    assert_equal "$(gw_body_jq .storm.remediationRequestRef)" "$ref"
    [[ $(gw_body_jq .storm.resourceCount) =~ ^[0-9]+$ ]] || fail "no storm.resourceCount: $HTTP_BODY"
    assert_equal "$(gw_body_jq .storm.resourceCount)" "$(gw_body_jq .storm.resources)"
    check_example signal-storm-member
}

## --- timestamps ------------------------------------------------------------

@test "startsAt as a number is a 400 naming alerts[0].startsAt; nothing is created" {
    local d body
    d=$(gw_uniq num)
    body=$(with_alert '.startsAt = 1700000000' "$(am_body NumTime deployment="$d" namespace="$(ns)")")
    gw_post_alert "$body"
    assert_problem 400 validation-error /api/v1/signals/prometheus
    [[ $(gw_body_jq .detail) == *"alerts[0].startsAt"* ]] || fail "detail does not name the field: $HTTP_BODY"
    check_example problem-400-starts-at
    assert_equal "$(kube_rr_count "$(fp_of "$(ns):Deployment:$d")")" 0
    gw_request GET "/api/v1/signals/$(fp_of "$(ns):Deployment:$d")"
    assert_status 404
}

@test "in a webhook, only the alert with the bad timestamp is rejected, by its index" {
    local a b body
    a=$(gw_uniq good); b=$(gw_uniq bad)
    body=$(am_webhook "$(am_alert MixedTime deployment="$a" namespace="$(ns)" severity=warning)" \
        "$(am_alert MixedTime deployment="$b" namespace="$(ns)" severity=warning | jq -c '.endsAt = false')")
    gw_post_alert "$body"
    assert_status 207
    assert_equal "$(gw_body_jq .results[0].status)" created
    assert_equal "$(gw_body_jq .results[1].status)" rejected
    [[ $(gw_body_jq .results[1].error) == *"alerts[1].endsAt"* ]] || fail "error does not name alerts[1].endsAt: $HTTP_BODY"
    assert_equal "$(gw_body_jq .summary.rejected)" 1
    assert_equal "$(kube_rr_count "$(fp_of "$(ns):Deployment:$b")")" 0
}

@test "timestamps: other JSON types and non-RFC-3339 strings are 400; Go's zero endsAt and a future endsAt are accepted" {
    local d body jqf
    for jqf in '.startsAt = null' '.startsAt = true' '.startsAt = {"seconds": 1700000000}' \
        '.startsAt = "1700000000"' '.startsAt = "2026-11-23 10:00:00"' '.startsAt = "yesterday"' \
        '.endsAt = 1700000000' '.endsAt = ["0001-01-01T00:00:00Z"]' '.endsAt = "2026-02-30T00:00:00Z"'; do
        d=$(gw_uniq ts)
        body=$(with_alert "$jqf" "$(am_body BadTime deployment="$d" namespace="$(ns)")")
        gw_post_alert "$body"
        assert_problem 400 validation-error /api/v1/signals/prometheus
        [[ $(gw_body_jq .detail) == "alerts[0].${jqf:1:6}"* || $(gw_body_jq .detail) == "alerts[0].${jqf:1:8}"* ]] ||
            fail "$jqf: detail does not name the field: $HTTP_BODY"
        assert_equal "$(kube_rr_count "$(fp_of "$(ns):Deployment:$d")")" 0
    done
    # what Alertmanager really sends: endsAt unset (Go's zero time), or in
    # the future for a firing alert (now + resolve_timeout)
    d=$(gw_uniq zero)
    gw_post_alert "$(with_alert '.endsAt = "0001-01-01T00:00:00Z"' "$(am_body GoodTime deployment="$d" namespace="$(ns)")")"
    assert_status 201
    d=$(gw_uniq later)
    gw_post_alert "$(with_alert ".endsAt = \"$(gw_now 300)\" | .startsAt = \"$(gw_now -10)\"" \
        "$(am_body GoodTime deployment="$d" namespace="$(ns)")")"
    assert_status 201
    # no startsAt at all is still accepted
    d=$(gw_uniq none)
    gw_post_alert "$(with_alert 'del(.startsAt) | del(.endsAt)' "$(am_body GoodTime deployment="$d" namespace="$(ns)")")"
    assert_status 201
}

@test "a startsAt more than events.max_future (2 min) ahead is 400; 60 s ahead is accepted; the same body is judged again on a resend" {
    local d body
    d=$(gw_uniq future)
    body=$(with_alert ".startsAt = \"$(gw_now 600)\"" "$(am_body FutureTime deployment="$d" namespace="$(ns)")")
    gw_post_alert "$body"
    assert_problem 400 validation-error /api/v1/signals/prometheus
    [[ $(gw_body_jq .detail) == "alerts[0].startsAt: "*"in the future"*"events.max_future"* ]] ||
        fail "detail: $HTTP_BODY"
    # the parsed-body memo must not turn the second try into a 201
    gw_post_alert "$body"
    assert_status 400
    assert_equal "$(kube_rr_count "$(fp_of "$(ns):Deployment:$d")")" 0
    d=$(gw_uniq soon)
    gw_post_alert "$(with_alert ".startsAt = \"$(gw_now 60)\"" "$(am_body FutureTime deployment="$d" namespace="$(ns)")")"
    assert_status 201
}

@test "Grafana: the same timestamp rules (a number, a bad string, a startsAt 10 min ahead: 400)" {
    local d body jqf
    for jqf in '.startsAt = 1700000000' '.endsAt = 0' '.startsAt = "now"' ".startsAt = \"$(gw_now 600)\""; do
        d=$(gw_uniq graf)
        body=$(with_alert "$jqf" "$(am_body GrafanaTime deployment="$d" namespace="$(ns)" |
            jq -c '. + {orgId: 1, state: "alerting", title: "[FIRING:1] GrafanaTime", message: "…"}')")
        grafana_post "$body"
        assert_problem 400 validation-error /api/v1/signals/grafana
        [[ $(gw_body_jq .detail) == "alerts[0]."*"At"* ]] || fail "$jqf: detail: $HTTP_BODY"
        assert_equal "$(kube_rr_count "$(fp_of "$(ns):Deployment:$d")")" 0
    done
}

@test "Kubernetes events: a timestamp field of another JSON type is 400 naming it; null is unset" {
    local d jqf field
    for jqf in 'lastTimestamp|.lastTimestamp = 1795427940' \
        'lastTimestamp|.lastTimestamp = 1795427940 | .firstTimestamp = "'"$(gw_now -5)"'"' \
        'firstTimestamp|.firstTimestamp = true' 'eventTime|.eventTime = 5' \
        'eventTime|.eventTime = "5 minutes ago"' \
        'series.lastObservedTime|.series = {count: 2, lastObservedTime: 12}'; do
        field=${jqf%%|*}
        d=$(gw_uniq ev)
        gw_post /api/v1/signals/kubernetes-event "$(k8s_event Warning "$d" "$(ns)" "${jqf#*|}")"
        assert_problem 400 validation-error /api/v1/signals/kubernetes-event
        [[ $(gw_body_jq .detail) == "$field: "* ]] || fail "$field: detail: $HTTP_BODY"
        assert_equal "$(kube_rr_count "$(fp_of "$(ns):Deployment:$d")")" 0
    done
    # events.k8s.io/v1 with series.lastObservedTime as a number
    d=$(gw_uniq ev)
    gw_post /api/v1/signals/kubernetes-event "$(jq -cn --arg n "$d" --arg ns "$(ns)" --arg t "$(gw_now -5)" '
        {apiVersion: "events.k8s.io/v1", kind: "Event", metadata: {name: "x.1", namespace: $ns},
         type: "Warning", reason: "BackOff", note: "x", reportingController: "kubelet",
         regarding: {kind: "Deployment", name: $n, namespace: $ns, apiVersion: "apps/v1"},
         eventTime: $t, series: {count: 3, lastObservedTime: 1795427940}}')"
    assert_problem 400 validation-error /api/v1/signals/kubernetes-event
    [[ $(gw_body_jq .detail) == "series.lastObservedTime: "* ]] || fail "detail: $HTTP_BODY"
    # null, as Kubernetes writes an unset time, is fine
    d=$(gw_uniq ev)
    gw_post /api/v1/signals/kubernetes-event "$(k8s_event Warning "$d" "$(ns)" '.eventTime = null | .series = null')"
    assert_status 201
}

## --- docs/api.md's examples ----------------------------------------------

@test "docs/api.md: 201 created, 202 duplicate, GET signal, 200 resolved" {
    local d fp
    d=$(gw_uniq doc)
    fp=$(fp_of "$(ns):Deployment:$d")
    gw_post_alert "$(am_body DocCreated deployment="$d" namespace="$(ns)" severity=critical)"
    check_example created
    gw_post_alert "$(am_body DocCreated deployment="$d" namespace="$(ns)" severity=critical)"
    check_example duplicate
    gw_request GET "/api/v1/signals/$fp"
    check_example signal
    gw_post_alert "$(am_body --status resolved DocCreated deployment="$d" namespace="$(ns)" severity=critical)"
    check_example ignored-resolved
    # it fires again: a flip; once its entry is gone (dedup.ttl), the flip
    # history alone answers: idle
    gw_post_alert "$(am_body DocCreated deployment="$d" namespace="$(ns)" severity=critical)"
    assert_status 202
    assert_equal "$(gw_redis_cli DEL "alertgw:fp:$fp")" 1
    gw_request GET "/api/v1/signals/$fp"
    assert_equal "$(gw_body_jq .state)" idle
    assert_equal "$(gw_body_jq .flips)" 1
    check_example signal-idle
}

@test "docs/api.md: 200 namespace-not-found, 207 mixed, 200 no-target and heartbeat, 400 bad namespace" {
    local a b body missing
    missing=$(gw_uniq nowhere)
    gw_post_alert "$(am_body DocMixed deployment=api namespace="$missing" severity=critical)"
    check_example ignored-namespace-not-found
    a=$(gw_uniq mixa); b=$(gw_uniq mixb)
    gw_post_alert "$(am_body DocMixed deployment="$b" namespace="$(ns)" severity=critical)"
    assert_status 201
    body=$(am_webhook "$(am_alert DocMixed deployment="$a" namespace="$(ns)" severity=critical)" \
        "$(am_alert DocMixed deployment="$b" namespace="$(ns)" severity=critical)" \
        "$(am_alert DocMixed deployment=c namespace="$(ns)" | jq -c 'del(.labels.alertname)')" \
        "$(am_alert DocMixed deployment=api namespace="$missing" severity=critical)")
    gw_post_alert "$body"
    check_example multi-status
    gw_post_alert "$(am_body NoTarget namespace="$(ns)" severity=warning)"
    check_example ignored-no-target
    gw_post_alert "$(am_body Watchdog severity=none)"
    check_example heartbeat
    gw_post_alert "$(am_body NoTarget deployment=api namespace='Not A Namespace')"
    check_example problem-400-bad-namespace
}

@test "docs/api.md: 413, 415, 401 (Grafana)" {
    head -c 1153434 /dev/zero | tr '\0' ' ' >"$GW_TMP/big.json"
    gw_post_alert "@$GW_TMP/big.json"
    check_example problem-413
    gw_post_alert "$(am_body HighCPU deployment=api namespace="$(ns)")" -H 'Content-Type: text/plain'
    check_example problem-415
    post_exact /api/v1/signals/grafana "$(am_body HighCPU deployment=api namespace="$(ns)")" \
        -H 'X-Grafana-Alerting-Signature: 00'
    check_example problem-401-grafana
}

@test "docs/api.md: the event route's 201 and 200 normal-event" {
    local d
    d=$(gw_uniq evdoc)
    gw_post /api/v1/signals/kubernetes-event "$(k8s_event Warning "$d" "$(ns)")"
    check_example event-created
    gw_post /api/v1/signals/kubernetes-event "$(k8s_event Normal "$d" "$(ns)")"
    check_example ignored-normal-event
}

@test "docs/api.md: /healthz and /readyz" {
    gw_request GET /healthz
    check_example healthz
    gw_request GET /readyz
    check_example readyz
}

@test "docs/api.md: POST /api/v1/explain after the request finished, through the owner chain (gateway restarted with owners.resolve)" {
    local ens d pod fp rr
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_OWNERS_RESOLVE=true
    ens=$(gw_uniq explain)
    kube_namespace "$ens" environment=production
    d=$(gw_uniq web)
    pod="$d-5d8f7-x1"
    kube_make_deployment "$ens" "$d" "$pod"
    fp=$(fp_of "$ens:Deployment:$d")
    gw_post_alert "$(am_body DocExplain pod="$pod" namespace="$ens" severity=critical)"
    assert_status 201
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    rr=$(gw_body_jq .remediationRequestName)
    assert_equal "$(kube_rr_set_phase "$rr" Completed)" 200
    gw_post /api/v1/explain "$(am_body DocExplain pod="$pod" namespace="$ens" severity=critical)"
    assert_equal "$(gw_body_jq '.signals[0].decision')" created
    assert_equal "$(gw_body_jq '.signals[0].fingerprint')" "$fp"
    assert_equal "$(gw_body_jq '[.signals[0].ownerChain[].kind] | join(",")')" Pod,ReplicaSet,Deployment
    assert_equal "$(gw_body_jq '.signals[0].dedup.remediationRequestRef')" "$GW_RR_NAMESPACE/$rr"
    assert_equal "$(gw_body_jq '.signals[0].dedup.phase')" Completed
    assert_equal "$(gw_body_jq '.signals[0].dedup.flapping')" false
    check_example explain
    # and what the doc says of an open request: a duplicate, storm and
    # limits empty
    assert_equal "$(kube_rr_set_phase "$rr" Executing)" 200
    _explained_duplicate() {
        gw_post /api/v1/explain "$(am_body DocExplain pod="$pod" namespace="$ens" severity=critical)"
        [[ $(gw_body_jq '.signals[0].decision') == duplicate ]]
    }
    gw_wait_for 10 _explained_duplicate || fail "an open request is not explained as a duplicate: $HTTP_BODY"
    assert_equal "$(gw_body_jq '.signals[0].dedup.phaseRule')" "not finished: occurrences count on it"
    assert_regex "$(gw_body_jq '.signals[0].reason')" "^occurrence 2 of $GW_RR_NAMESPACE/$rr\$"
    assert_equal "$(jq -c '.signals[0] | [.storm, .limits]' <<<"$HTTP_BODY")" '[{},{}]'
}

@test "docs/api.md: out-of-scope, replay and 503 (gateway restarted with scope.require_label, hmac and a namespace cap of 1)" {
    local managed plain body ts sig d
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_SCOPE_REQUIRE_LABEL=true ALERTGW_STORM_NAMESPACE_CAP=1 \
        ALERTGW_AUTH_PROMETHEUS=hmac ALERTGW_AUTH_HMAC_SECRET_FILES="$BATS_FILE_TMPDIR/hmac.secret"
    managed=$(gw_uniq managed); plain=$(gw_uniq plain)
    kube_namespace "$managed" kubernaut.ai/managed=true
    kube_namespace "$plain"
    # signed_post BODY: X-Signature-256 over "<ts>:<body>" with a fresh ts
    signed_post() {
        ts=$(date +%s)
        sig=$(printf '%s:%s' "$ts" "$1" | openssl dgst -sha256 -hmac "$(tr -d '\n' <"$BATS_FILE_TMPDIR/hmac.secret")" -r | cut -d' ' -f1)
        post_exact /api/v1/signals/prometheus "$1" -H "X-Signature-256: sha256=$sig" -H "X-Signature-Timestamp: $ts"
    }
    signed_post "$(am_body HighCPU deployment=api namespace="$plain" severity=critical)"
    check_example ignored-out-of-scope
    # a pod labelled false in a managed namespace opts itself out
    kube_create "api/v1/namespaces/$managed/pods" '{"apiVersion":"v1","kind":"Pod",
        "metadata":{"name":"batch-1","labels":{"kubernaut.ai/managed":"false"}},
        "spec":{"containers":[{"name":"c","image":"busybox"}]}}' >/dev/null
    signed_post "$(am_body BatchFailed pod=batch-1 namespace="$managed" severity=critical)"
    [[ $(gw_body_jq .message) == *"kubectl label pod batch-1 -n $managed kubernaut.ai/managed=true --overwrite" ]] ||
        fail "the answer does not say how to opt the pod in: $HTTP_BODY"
    check_example ignored-out-of-scope-resource
    d=$(gw_uniq rp)
    body=$(am_body HighCPU deployment="$d" namespace="$managed" severity=critical)
    signed_post "$body"
    assert_status 201
    # the very same signed request again
    post_exact /api/v1/signals/prometheus "$body" -H "X-Signature-256: sha256=$sig" -H "X-Signature-Timestamp: $ts"
    check_example ignored-replay
    # a second new request in the namespace this minute: over the cap of 1
    # (the cap counts per clock minute: the first one may have been in the
    # previous minute, so a third try is in this one for sure)
    signed_post "$(am_body OtherRule deployment="$(gw_uniq cap)" namespace="$managed" severity=critical)"
    if [[ $HTTP_STATUS == 201 ]]; then
        signed_post "$(am_body ThirdRule deployment="$(gw_uniq cap)" namespace="$managed" severity=critical)"
    fi
    check_example problem-503
    [[ $(gw_header Retry-After) =~ ^[0-9]+$ ]] || fail "503 without Retry-After: $HTTP_HEADERS"
}

@test "every example answer in docs/api.md was checked against a real answer" {
    local missing
    missing=$(python3 "$EXAMPLES" names "$DOC" | awk '{ print $1 }' | sort |
        comm -23 - <(sort -u "$BATS_FILE_TMPDIR/checked"))
    [[ -z $missing ]] || fail "examples in docs/api.md that no test produced: $missing"
}

#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t2700-events-recording: the request history.  Each decision about a
# RemediationRequest is a core/v1 Event whose involvedObject is the request
# (kind, apiVersion, name, namespace and uid), so `kubectl describe rr`
# (the v1.20 kubectl, which selects events on involvedObject including the
# uid) lists it: Created, Deduplicated (one Event whose count follows the
# duplicates, written with the status sync: a burst of 200 duplicates is a
# handful of Event writes, counted in the apiserver with a watch),
# StormMember, Escalated, Resolved and Reopened (naming the finished
# request).  recording.events: false writes none; an apiserver that refuses
# Event writes (the gateway's RBAC without events) changes no answer and
# is counted in gateway_event_write_failures_total.

load helpers

setup_file() {
    gw_setup_stack ALERTGW_DEDUP_STATUS_SYNC_INTERVAL=2s ALERTGW_PRIORITY_ESCALATION=production=3 ||
        return 1
    kube_namespaces prod
}
teardown_file() { gw_teardown_stack; }
setup()         { gw_reload_url; }
teardown()      { gw_teardown_test; }

EVENTS="api/v1/namespaces/$GW_RR_NAMESPACE/events"

# events_of RR: the EventList of the request RR (by involvedObject.name).
events_of() { kube_api "$EVENTS?fieldSelector=involvedObject.name%3D$1"; }
# event_of RR REASON: its Event of that reason ("null" when none).
event_of() { events_of "$1" | jq -c --arg r "$2" '[.items[] | select(.reason == $r)] | .[0]'; }
# n_events RR [REASON]: how many Events RR has (of that reason).
n_events() { events_of "$1" | jq --arg r "${2:-}" '[.items[] | select($r == "" or .reason == $r)] | length'; }
_has_event() { [[ $(event_of "$1" "$2") != null ]]; }
_event_count_is() { [[ $(event_of "$1" "$2" | jq -r '.count // empty') == "$3" ]]; }

# watch_events RR SECONDS OUT: the request's Event writes (ADDED and
# MODIFIED, each one a write) for SECONDS, in the background; WATCH_PID.
watch_events() {
    local rv
    rv=$(kube_api "$EVENTS?limit=1" | jq -r .metadata.resourceVersion)
    kube_api "$EVENTS?watch=1&fieldSelector=involvedObject.name%3D$1&resourceVersion=$rv&timeoutSeconds=$2" \
        --max-time $(( $2 + 5 )) >"$3" 2>/dev/null &
    WATCH_PID=$!
}

kubectl_admin() { "$KUBECTL" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# new_rr ALERT DEPLOYMENT [NAMESPACE]: a new alert (severity warning, in
# prod by default) answered 201; sets BODY (the webhook) and RR (the
# request made).
new_rr() {
    BODY=$(am_body "$1" deployment="$2" namespace="${3:-prod}" severity=warning)
    gw_post_alert "$BODY"
    assert_status 201
    RR=$(gw_body_jq .remediationRequestName)
}

restart_gw() {
    gw_stop_lighttpd
    gw_start_lighttpd "$@"
}

@test "a new request: a Created Event about it (kind, apiVersion, name, namespace, uid)" {
    local name rr obj ev
    name=$(gw_uniq created)
    new_rr EvCreated "$name"
    rr=$RR
    obj=$(kube_get_rr "$rr")
    # written before the answer
    ev=$(event_of "$rr" Created)
    [[ $ev != null ]] || fail "no Created Event: $(events_of "$rr")"
    assert_equal "$(jq -r .involvedObject.kind <<<"$ev")" RemediationRequest
    assert_equal "$(jq -r .involvedObject.apiVersion <<<"$ev")" kubernaut.ai/v1alpha1
    assert_equal "$(jq -r .involvedObject.name <<<"$ev")" "$rr"
    assert_equal "$(jq -r .involvedObject.namespace <<<"$ev")" "$GW_RR_NAMESPACE"
    assert_equal "$(jq -r .involvedObject.uid <<<"$ev")" "$(jq -r .metadata.uid <<<"$obj")"
    assert_equal "$(jq -r .metadata.namespace <<<"$ev")" "$GW_RR_NAMESPACE"
    assert_equal "$(jq -r .metadata.name <<<"$ev")" "$rr.created"
    assert_equal "$(jq -r .type <<<"$ev")" Normal
    assert_equal "$(jq -r .count <<<"$ev")" 1
    assert_equal "$(jq -r .source.component <<<"$ev")" alertgw
    assert_equal "$(jq -r .reportingComponent <<<"$ev")" alertgw
    [[ -n $(jq -r '.reportingInstance // empty' <<<"$ev") ]] || fail "no reportingInstance"
    [[ $(jq -r .message <<<"$ev") == *EvCreated*"Deployment prod/$name"*priority* ]] ||
        fail "message: $(jq -r .message <<<"$ev")"
    # one Event so far: the first occurrence is no duplicate
    assert_equal "$(n_events "$rr")" 1
}

@test "duplicates: one Deduplicated Event whose count follows them" {
    local rr i
    new_rr EvDups "$(gw_uniq dups)"
    rr=$RR
    for i in 1 2 3; do
        gw_post_alert "$BODY"
        assert_status 202
    done
    gw_wait_for 10 _event_count_is "$rr" Deduplicated 3 ||
        fail "Deduplicated: $(event_of "$rr" Deduplicated)"
    for i in 1 2; do
        gw_post_alert "$BODY"
        assert_status 202
    done
    gw_wait_for 10 _event_count_is "$rr" Deduplicated 5 ||
        fail "Deduplicated: $(event_of "$rr" Deduplicated)"
    assert_equal "$(n_events "$rr" Deduplicated)" 1
    local ev
    ev=$(event_of "$rr" Deduplicated)
    assert_equal "$(jq -r .metadata.name <<<"$ev")" "$rr.deduplicated"
    [[ $(jq -r .message <<<"$ev") == "5 duplicates"*"6 occurrences"* ]] ||
        fail "message: $(jq -r .message <<<"$ev")"
    assert_equal "$(jq -r .involvedObject.uid <<<"$ev")" "$(kube_get_rr "$rr" | jq -r .metadata.uid)"
    # the last write is newer than the first
    [[ $(jq -r .lastTimestamp <<<"$ev") > $(jq -r .firstTimestamp <<<"$ev") ||
       $(jq -r .lastTimestamp <<<"$ev") == $(jq -r .firstTimestamp <<<"$ev") ]] || fail "timestamps"
}

@test "a burst of 200 duplicates: at most a handful of Event writes" {
    local name body rr before after writes
    name=$(gw_uniq burst)
    body="$GW_TMP/burst.json"
    am_body EvBurst deployment="$name" namespace=prod severity=warning >"$body"
    gw_post_alert "@$body"
    assert_status 201
    rr=$(gw_body_jq .remediationRequestName)
    gw_scrape
    before=$(gw_metric gateway_events_recorded_total)
    watch_events "$rr" 20 "$GW_TMP/burst-watch.json"
    sleep 0.5
    local t0=$SECONDS
    seq 1 200 | xargs -P 20 -I{} curl -s --max-time 30 -o /dev/null -w '%{http_code}\n' \
        -H 'Content-Type: application/json' --data-binary "@$body" \
        "$GW_URL/api/v1/signals/prometheus" >"$GW_TMP/burst-codes"
    assert_equal "$(grep -c '^202$' "$GW_TMP/burst-codes")" 200
    local took=$(( SECONDS - t0 ))
    gw_wait_for 15 _event_count_is "$rr" Deduplicated 200 ||
        fail "Deduplicated: $(event_of "$rr" Deduplicated)"
    wait "$WATCH_PID" || true
    writes=$(jq -s '[.[] | select(.type == "ADDED" or .type == "MODIFIED")] | length' \
        "$GW_TMP/burst-watch.json")
    gw_scrape
    after=$(gw_metric gateway_events_recorded_total)
    echo "# Event writes for 200 duplicates in ${took}s: $writes in the apiserver, $(( after - before )) counted" >&3
    # at most one per status_sync_interval (2 s) while the burst lasts, plus
    # the trailing flush and one correcting sync; a handful in any case
    local most=$(( took / 2 + 3 ))
    (( most <= 8 )) || most=8
    (( writes >= 1 && writes <= most )) || fail "$writes Event writes for 200 duplicates (at most $most)"
    assert_equal "$(( after - before ))" "$writes"
    assert_equal "$(n_events "$rr" Deduplicated)" 1
}

@test "a storm: Created on the aggregate, StormMember counting its resources" {
    local ns i agg ev
    ns=$(gw_uniq evstorm)
    kube_namespaces "$ns"
    for i in $(seq 1 8); do
        gw_post_alert "$(am_body EvStorm pod="web-$i" namespace="$ns" severity=critical)"
        if (( i == 5 )); then
            assert_status 202
            assert_equal "$(gw_body_jq .storm.opened)" true
            agg=$(gw_body_jq .remediationRequestName)
        fi
    done
    ev=$(event_of "$agg" Created)
    [[ $ev != null ]] || fail "no Created Event on the aggregate"
    [[ $(jq -r .message <<<"$ev") == *"pattern storm of alert EvStorm in namespace $ns"* ]] ||
        fail "message: $(jq -r .message <<<"$ev")"
    gw_wait_for 10 _event_count_is "$agg" StormMember 8 ||
        fail "StormMember: $(event_of "$agg" StormMember)"
    ev=$(event_of "$agg" StormMember)
    [[ $(jq -r .message <<<"$ev") == *"8 resources"*"Pod/web-8"* ]] ||
        fail "message: $(jq -r .message <<<"$ev")"
    assert_equal "$(jq -r .involvedObject.uid <<<"$ev")" "$(kube_get_rr "$agg" | jq -r .metadata.uid)"
    assert_equal "$(n_events "$agg" StormMember)" 1
}

@test "escalation: an Escalated Event naming both priorities" {
    local ns rr ev
    ns=prod-$(gw_uniq evesc)
    kube_namespaces "$ns"
    new_rr EvEscalate api "$ns"
    rr=$RR
    gw_post_alert "$BODY"
    assert_equal "$(n_events "$rr" Escalated)" 0
    gw_post_alert "$BODY"
    assert_status 202
    assert_equal "$(gw_body_jq .escalated)" true
    ev=$(event_of "$rr" Escalated)
    [[ $ev != null ]] || fail "no Escalated Event: $(events_of "$rr")"
    [[ $(jq -r .message <<<"$ev") == *"P1 -> P0 after 3 occurrences in production"* ]] ||
        fail "message: $(jq -r .message <<<"$ev")"
    gw_post_alert "$BODY"
    assert_equal "$(n_events "$rr" Escalated)" 1
}

@test "resolved: a Resolved Event on the request" {
    local name rr ev
    name=$(gw_uniq evres)
    new_rr EvResolved "$name"
    rr=$RR
    gw_post_alert "$(am_body --status resolved EvResolved deployment="$name" namespace=prod severity=warning)"
    assert_status 200
    assert_equal "$(gw_body_jq .reason)" resolved
    ev=$(event_of "$rr" Resolved)
    [[ $ev != null ]] || fail "no Resolved Event: $(events_of "$rr")"
    [[ $(jq -r .message <<<"$ev") == *"EvResolved resolved at"* ]] ||
        fail "message: $(jq -r .message <<<"$ev")"
    assert_equal "$(jq -r .involvedObject.uid <<<"$ev")" "$(kube_get_rr "$rr" | jq -r .metadata.uid)"
}

@test "a finished request and a new firing: Reopened on the new request, naming the old" {
    local first second ev
    new_rr EvReopen "$(gw_uniq evreo)"
    first=$RR
    kube_merge "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests/$first/status" \
        '{"status":{"overallPhase":"Completed"}}'
    sleep 2.2 # past status_sync_interval: the next occurrence reads the phase
    gw_post_alert "$BODY"
    assert_status 201
    second=$(gw_body_jq .remediationRequestName)
    [[ $second != "$first" ]] || fail "the finished request was reused"
    ev=$(event_of "$second" Reopened)
    [[ $ev != null ]] || fail "no Reopened Event: $(events_of "$second")"
    [[ $(jq -r .message <<<"$ev") == *"follows $first, which has finished (phase Completed)"* ]] ||
        fail "message: $(jq -r .message <<<"$ev")"
    assert_equal "$(jq -r .involvedObject.uid <<<"$ev")" "$(kube_get_rr "$second" | jq -r .metadata.uid)"
    # Reopened instead of Created, and nothing about the new one on the old
    assert_equal "$(n_events "$second" Created)" 0
    assert_equal "$(n_events "$first" Reopened)" 0
}

@test "kubectl describe rr (kubectl v1.20) shows the request's history" {
    local rr out
    new_rr EvDescribe "$(gw_uniq evdesc)"
    rr=$RR
    gw_post_alert "$BODY"
    gw_post_alert "$BODY"
    gw_wait_for 10 _event_count_is "$rr" Deduplicated 2 || fail "no Deduplicated Event"
    [[ $("$KUBECTL" version --client --short 2>/dev/null) == *v1.20.* ]] ||
        fail "not the v1.20 kubectl: $("$KUBECTL" version --client --short 2>&1)"
    out=$(kubectl_admin -n "$GW_RR_NAMESPACE" describe rr "$rr")
    echo "$out" | sed -n '/^Events:/,$p' | sed 's/^/# /' >&3
    [[ $out == *$'\nEvents:'* ]] || fail "no Events section: $out"
    grep -Eq '^ +Normal +Created +.* alertgw(,|  |$).*EvDescribe' <<<"$out" ||
        fail "no Created line: $out"
    grep -Eq '^ +Normal +Deduplicated +.*(x2 over|alertgw).*2 duplicates' <<<"$out" ||
        fail "no Deduplicated line: $out"
}

@test "recording.events: false writes no Event" {
    local rr before
    restart_gw ALERTGW_DEDUP_STATUS_SYNC_INTERVAL=2s ALERTGW_RECORDING_EVENTS=false
    gw_scrape
    before=$(gw_metric gateway_events_recorded_total)
    new_rr EvOff "$(gw_uniq evoff)"
    rr=$RR
    gw_post_alert "$BODY"
    assert_status 202
    gw_wait_for 8 eval '[[ $(kube_rr_occurrences "$rr") == 2 ]]' || fail "status never synced"
    assert_equal "$(n_events "$rr")" 0
    gw_scrape
    assert_equal "$(gw_metric gateway_events_recorded_total)" "$before"
    restart_gw ALERTGW_DEDUP_STATUS_SYNC_INTERVAL=2s ALERTGW_PRIORITY_ESCALATION=production=3
}

_cannot_create_events() {
    [[ $(kubectl_admin auth can-i create events -n "$GW_RR_NAMESPACE" --as alertgw 2>/dev/null) == no ]]
}
_can_create_events() {
    [[ $(kubectl_admin auth can-i create events -n "$GW_RR_NAMESPACE" --as alertgw 2>/dev/null) == yes ]]
}

@test "Event writes refused (RBAC without events): answers unchanged, failures counted and logged" {
    local name rr before_fail before_ok i
    kubectl_admin -n "$GW_RR_NAMESPACE" delete rolebinding alertgw-events >/dev/null
    gw_wait_for 10 _cannot_create_events || fail "the binding still grants events"
    gw_scrape
    before_fail=$(gw_metric gateway_event_write_failures_total)
    before_ok=$(gw_metric gateway_events_recorded_total)
    name=$(gw_uniq evdeny)
    new_rr EvDenied "$name"
    rr=$RR
    for i in 1 2 3; do
        gw_post_alert "$BODY"
        assert_status 202
    done
    gw_wait_for 8 eval '[[ $(kube_rr_occurrences "$rr") == 4 ]]' || fail "status never synced"
    gw_post_alert "$(am_body --status resolved EvDenied deployment="$name" namespace=prod severity=warning)"
    assert_status 200
    gw_scrape
    # Created, Deduplicated (at least once), Resolved: all refused
    (( $(gw_metric gateway_event_write_failures_total) >= before_fail + 3 )) ||
        fail "failures: $before_fail -> $(gw_metric gateway_event_write_failures_total)"
    assert_equal "$(gw_metric gateway_events_recorded_total)" "$before_ok"
    assert_equal "$(n_events "$rr")" 0
    grep -q "event Created on $GW_RR_NAMESPACE/$rr not written: apiserver answered 403" \
        "$GW_TMP"/lighttpd/*.log || fail "no warning logged"
    kubectl_admin apply -f "$GW_ROOT/deploy/rbac.yaml" >/dev/null
    gw_wait_for 10 _can_create_events || fail "RBAC not restored"
}

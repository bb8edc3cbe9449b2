#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t2400-status-sync: status.deduplication converges to the true count within
# status_sync_interval (here 2 s) with coalesced patches - not one per
# alert - across four worker processes, including when no further alert
# arrives to carry the last sync (the trailing flush).

load helpers

setup_file() {
    gw_setup_stack ALERTGW_DEDUP_STATUS_SYNC_INTERVAL=2s || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod
}
teardown_file() { gw_teardown_stack; }
teardown()      { gw_teardown_test; }

# watch_rr NAME SECONDS OUT: records the request's MODIFIED events (each one
# a write to the object) for SECONDS, in the background; sets WATCH_PID.
watch_rr() {
    local rv
    rv=$(kube_get_rr "$1" | jq -r .metadata.resourceVersion)
    kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests?watch=1&fieldSelector=metadata.name%3D$1&resourceVersion=$rv&timeoutSeconds=$2" \
        --max-time $(( $2 + 5 )) >"$3" 2>/dev/null &
    WATCH_PID=$!
}

_count_is() { [[ $(kube_rr_occurrences "$1") == "$2" ]]; }

@test "30 duplicates from 30 concurrent clients: the count converges to 31 with a handful of patches" {
    local name body rr out="$GW_TMP/sync30"
    name=$(gw_uniq sync)
    body="$GW_TMP/sync30.json"
    am_body SyncTest deployment="$name" namespace=prod severity=warning >"$body"
    gw_post_alert "@$body"
    assert_status 201
    rr=$(gw_body_jq .remediationRequestName)
    assert_equal "$(kube_rr_occurrences "$rr")" 1
    watch_rr "$rr" 12 "$GW_TMP/watch.json"
    sleep 0.5
    mkdir -p "$out"
    seq 1 30 | xargs -P 30 -I{} curl -s --max-time 30 -o /dev/null -w '%{http_code}\n' \
        -H 'Content-Type: application/json' --data-binary "@$body" \
        "$GW_URL/api/v1/signals/prometheus" >"$out/codes"
    assert_equal "$(grep -c '^202$' "$out/codes")" 30
    # nothing else arrives: the trailing flush must carry the last count
    gw_wait_for 8 _count_is "$rr" 31 || fail "count stuck at $(kube_rr_occurrences "$rr"), expected 31"
    wait "$WATCH_PID" || true
    local writes
    writes=$(jq -s '[.[] | select(.type == "MODIFIED")] | length' "$GW_TMP/watch.json")
    echo "# status writes for 30 occurrences: $writes" >&3
    (( writes >= 1 && writes <= 6 )) || fail "$writes writes: not coalesced (or none)"
    # the last write carries the true count and the last occurrence time
    assert_equal "$(jq -s '[.[] | select(.type == "MODIFIED")] | last | .object.status.deduplication.occurrenceCount' "$GW_TMP/watch.json")" 31
}

@test "one late duplicate: synced by the trailing flush within the interval" {
    local name body rr
    name=$(gw_uniq late)
    # another alert name: the 31 SyncTest occurrences of the test above
    # opened a rate storm for it in prod, which would take this new signal
    body=$(am_body SyncLate deployment="$name" namespace=prod severity=warning)
    gw_post_alert "$body"
    assert_status 201
    rr=$(gw_body_jq .remediationRequestName)
    gw_post_alert "$body"     # within 2 s of the create's sync: queued
    assert_status 202
    assert_equal "$(kube_rr_occurrences "$rr")" 1
    gw_wait_for 5 _count_is "$rr" 2 || fail "count stuck at $(kube_rr_occurrences "$rr")"
    # the queue is empty again
    assert_equal "$(gw_redis_cli zcard alertgw:dirty)" 0
}

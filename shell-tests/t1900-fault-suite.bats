#!/usr/bin/env bats
# t1900-fault-suite: the promise under faults (issue 6).  For each fault, a
# steady stream of webhooks (new and duplicate alerts mixed, 4 client threads,
# 4 workers; shell-tests/fault-stream.py, which resends every non-2xx like
# Alertmanager) runs while one fault is injected and then repaired.  Then,
# from the apiserver and the client's own ledger:
#   - every alert the client got a 2xx for exists as exactly one
#     RemediationRequest (lost = 0, doubled = 0), and every non-2xx was
#     resent until it was stored;
#   - its occurrence count is at least the number of 2xx deliveries.
# Each fault prints one row of the table in docs/security.md:
#   fault | requests sent | 2xx | 503 | other | lost | doubled | undercounted

load helpers

setup_file() {
    # storms off: 60 new alerts a minute would fold into an aggregate and the
    # ledger would have to follow storm membership; t1100 covers storms
    gw_setup_stack ALERTGW_STORM_ENABLED=false
    printf '%-28s %8s %6s %6s %6s %5s %7s %12s\n' fault sent 2xx 503 other lost doubled undercounted \
        >"$GW_TMP/fault-table"
}
teardown_file() {
    [[ -f ${GW_TMP:-}/fault-table ]] && sed 's/^/# /' "$GW_TMP/fault-table" >&3
    [[ -n ${GW_TMP:-} ]] && cp "$GW_TMP/fault-table" "$GW_ROOT/test-logs/fault-table.txt" 2>/dev/null
    gw_teardown_stack
}
teardown() {
    gw_teardown_test
    # whatever a test broke, the next one starts with everything up
    [[ -n ${STREAM_PID:-} ]] && alive "$STREAM_PID" && gw_kill_pid "$STREAM_PID" 9
    [[ -f $GW_TMP/redis/pid ]] || gw_start_redis
    if [[ -n ${REDIS_STOPPED:-} ]]; then kill -CONT "$REDIS_STOPPED" 2>/dev/null || true; fi
    if ! curl -s -o /dev/null --max-time 2 --cacert "$KUBE_CA_FILE" "$KUBE_API_URL/readyz"; then
        timeout 60 "$GW_ROOT/deploy/kube-local.sh" start-etcd "$(<"$GW_TMP/kube-dir")" \
            >>"$GW_TMP/kube-fault.log" 2>&1 3>&- || true
        gw_start_apiserver || true
    fi
}

SECONDS_PER_RUN=10

# stream_start NAME: the client stream in the background (ledger in $GW_TMP).
stream_start() {
    STREAM_NAME=$1
    python3 "$GW_ROOT/shell-tests/fault-stream.py" "$GW_URL/api/v1/signals/prometheus" \
        "fs-$1" "$SECONDS_PER_RUN" "$GW_TMP/ledger-$1.json" 4 90 \
        >"$GW_TMP/stream-$1.log" 2>&1 3>&- &
    STREAM_PID=$!
}

# stream_check: waits for the stream, then checks the ledger against the
# apiserver and appends the table row.  The occurrence counts converge
# through the status sync (inline, or the trailing flush once the apiserver
# is back), so the count check is retried for a bounded time.
stream_check() {
    wait "$STREAM_PID" || fail "the stream client failed: $(cat "$GW_TMP/stream-$STREAM_NAME.log")"
    STREAM_PID=
    local deadline=$(( SECONDS + 30 )) row
    while :; do
        kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests" >"$GW_TMP/rrs.json" ||
            fail "cannot list RemediationRequests"
        row=$(python3 - "$STREAM_NAME" "$GW_TMP/ledger-$STREAM_NAME.json" "$GW_TMP/rrs.json" <<'EOF'
import json, sys
name, ledger, rrs = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
by_fp = {}
for it in rrs["items"]:
    fp = it["spec"]["signalFingerprint"]
    count = (it.get("status") or {}).get("deduplication", {}).get("occurrenceCount", 0)
    by_fp.setdefault(fp, []).append(count)
lost = doubled = under = 0
for fp, s in ledger["signals"].items():
    n = len(by_fp.get(fp, []))
    if s["ok"] == 0 or n == 0:
        lost += 1
    elif n > 1:
        doubled += 1
    elif by_fp[fp][0] < s["ok"]:
        under += 1
c = ledger["codes"]
ok = sum(v for k, v in c.items() if k.startswith("2"))
other = ledger["sent"] - ok - c.get("503", 0)
print("%-28s %8d %6d %6d %6d %5d %7d %12d" % (name, ledger["sent"], ok, c.get("503", 0), other,
                                               lost, doubled, under))
EOF
        ) || fail "ledger check failed"
        read -r _ _ _ _ _ lost doubled under <<<"$row"
        if (( lost == 0 && doubled == 0 && under == 0 )) || (( SECONDS >= deadline )); then
            break
        fi
        sleep 2
    done
    echo "$row" >>"$GW_TMP/fault-table"
    echo "# $row" >&3
    (( lost == 0 )) || fail "lost signals: $row"
    (( doubled == 0 )) || fail "doubled signals: $row"
    (( under == 0 )) || fail "undercounted signals: $row"
    # Never a 4xx: Alertmanager does not resend those, so one would be a lost
    # alert.  5xx and "no answer" are resent (and were stored, above).  The
    # 500s seen: the apiserver's RBAC 403 while it starts (its caches not yet
    # synced), which alertgw reports as a configuration error.  (A worker
    # that dies mid-request is a 503 since lighttpd-errors.lua; t0300.)
    python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["codes"]
bad = {k: v for k, v in c.items() if k.startswith("4")}
sys.exit("4xx answers: %s" % bad if bad else 0)' "$GW_TMP/ledger-$STREAM_NAME.json" ||
        fail "4xx answers in $(jq -c .codes "$GW_TMP/ledger-$STREAM_NAME.json")"
}

@test "baseline: no fault" {
    stream_start baseline
    stream_check
}

@test "Redis stopped and restarted" {
    stream_start redis-restart
    sleep 3
    gw_stop_redis
    sleep 3
    gw_start_redis
    stream_check
}

@test "Redis paused with SIGSTOP for longer than the command timeout" {
    stream_start redis-sigstop
    sleep 3
    REDIS_STOPPED=$(<"$GW_TMP/redis/pid")
    kill -STOP "$REDIS_STOPPED"
    sleep 4
    kill -CONT "$REDIS_STOPPED"
    REDIS_STOPPED=
    stream_check
}

@test "Redis flushed (FLUSHALL)" {
    stream_start redis-flush
    sleep 3
    gw_redis_cli flushall >/dev/null
    sleep 2
    gw_redis_cli flushall >/dev/null
    stream_check
}

@test "apiserver stopped and restarted" {
    stream_start apiserver-restart
    sleep 3
    gw_stop_apiserver
    sleep 2
    gw_start_apiserver
    stream_check
}

@test "etcd stopped and restarted" {
    local dir
    dir=$(<"$GW_TMP/kube-dir")
    stream_start etcd-stop
    sleep 3
    timeout 60 "$GW_ROOT/deploy/kube-local.sh" stop-etcd "$dir" >>"$GW_TMP/kube-fault.log" 2>&1 3>&-
    sleep 4
    timeout 60 "$GW_ROOT/deploy/kube-local.sh" start-etcd "$dir" >>"$GW_TMP/kube-fault.log" 2>&1 3>&-
    _gw_source_env "$dir/kube.env"
    stream_check
}

@test "a worker killed with SIGKILL mid-request, three times" {
    stream_start worker-kill
    local i w
    for i in 1 2 3; do
        sleep 2
        w=$(gw_worker_pids | head -n 1)
        [[ -n $w ]] && kill -KILL "$w"
    done
    stream_check
}

@test "lighttpd graceful restart (SIGUSR1)" {
    stream_start lighttpd-graceful
    sleep 3
    kill -USR1 "$(<"$GW_TMP/lighttpd/pid")"
    sleep 3
    alive "$(<"$GW_TMP/lighttpd/pid")" || fail "lighttpd exited on SIGUSR1"
    stream_check
}

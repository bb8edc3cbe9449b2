# SPDX-License-Identifier: Apache-2.0
# fault-stream.bash - the resending client stream and its ledger check,
# shared by the fault suite (t4400) and the reload suite (t5400).  Load after
# helpers.bash.  The ledger row is appended to $GW_TMP/fault-table.

SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}

# The namespaces the stream's alerts name: each new alert is a pod of its
# own in one of them, in turn.  The gateway ignores signals about
# namespaces the cluster does not have, so a suite that loads this file
# creates them in its setup_file:
#     kube_namespaces $STREAM_NAMESPACES
# The stream sends hundreds of new alerts a minute, all from 127.0.0.1 (one
# sender), dozens a minute in each namespace: the suite starts the gateway
# with both creation budgets and the per-namespace cap off, and storms off
# (ALERTGW_LIMITS_CREATES_PER_MINUTE=0, ALERTGW_LIMITS_CREATES_PER_SENDER_
# PER_MINUTE=0, ALERTGW_STORM_NAMESPACE_CAP=0, ALERTGW_STORM_ENABLED=false),
# so that the 503 column of the table is the fault's doing and never a
# limit's (t2300 tests storms and the cap, t3400 the budgets).
STREAM_NAMESPACES=$(printf 'fs-ns-%d ' $(seq 1 16))

# stream_start NAME: the client stream in the background (ledger in $GW_TMP).
stream_start() {
    local namespaces
    STREAM_NAME=$1
    namespaces=$(tr -s ' ' ',' <<<"${STREAM_NAMESPACES% }")
    python3 "$GW_ROOT/shell-tests/fault-stream.py" "$GW_URL/api/v1/signals/prometheus" \
        "fs-$1" "$SECONDS_PER_RUN" "$GW_TMP/ledger-$1.json" "$namespaces" 4 90 \
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
    # that dies mid-request is a 503 since lighttpd-errors.lua; t4100.)
    python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["codes"]
bad = {k: v for k, v in c.items() if k.startswith("4")}
sys.exit("4xx answers: %s" % bad if bad else 0)' "$GW_TMP/ledger-$STREAM_NAME.json" ||
        fail "4xx answers in $(jq -c .codes "$GW_TMP/ledger-$STREAM_NAME.json")"
}


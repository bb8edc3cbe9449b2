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

# stream_start NAME [OPTION...]: the client stream in the background (ledger
# in $GW_TMP/ledger-NAME.json), to STREAM_URLS (comma-separated; every
# request goes to the next one in turn) or else the gateway's Alertmanager
# route; the options go to fault-stream.py (--alert-per-pod, --storm ...).
stream_start() {
    local namespaces
    STREAM_NAME=$1; shift
    namespaces=$(tr -s ' ' ',' <<<"${STREAM_NAMESPACES% }")
    python3 "$GW_ROOT/shell-tests/fault-stream.py" "$@" \
        "${STREAM_URLS:-$GW_URL/api/v1/signals/prometheus}" \
        "fs-$STREAM_NAME" "$SECONDS_PER_RUN" "$GW_TMP/ledger-$STREAM_NAME.json" "$namespaces" 4 90 \
        >"$GW_TMP/stream-$STREAM_NAME.log" 2>&1 3>&- &
    STREAM_PID=$!
}

# stream_check: waits for the stream, then checks the ledger against the
# apiserver and appends the table row (a storm's undercounted aggregates go
# to $GW_TMP/storm-undercounted-NAME, see below).  The occurrence counts converge
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
by_fp, by_name = {}, {}
for it in rrs["items"]:
    fp = it["spec"]["signalFingerprint"]
    count = (it.get("status") or {}).get("deduplication", {}).get("occurrenceCount", 0)
    by_fp.setdefault(fp, []).append(count)
    by_name[it["metadata"]["name"]] = count
lost = doubled = under = 0
for fp, s in ledger["signals"].items():
    if s.get("storm"):
        continue
    n = len(by_fp.get(fp, []))
    if s["ok"] == 0 or n == 0:
        lost += 1
    elif n > 1:
        doubled += 1
    elif by_fp[fp][0] < s["ok"]:
        under += 1
# A storm burst (--storm): its members are absorbed by one aggregated request
# (label kubernaut.ai/storm, target the namespace, signal name the alert
# name) that lists every member in kubernaut.ai/storm-resources; the first
# ones before the storm opened have requests of their own.  lost: a member
# without a 2xx, neither listed nor with its own request, or a 2xx naming a
# request that does not exist; doubled: a second aggregate, or a member with
# more than one request of its own.  A request whose count is below the 2xx
# answers that named it goes on a line of its own, "storm-undercounted N",
# for the caller to check (its patches are rechecked against Redis after
# they land, as single requests' are).
st = ledger.get("storm")
if st:
    aggs = [it for it in rrs["items"]
            if (it["metadata"].get("labels") or {}).get("kubernaut.ai/storm") == "true"
            and it["spec"]["targetResource"]["name"] == st["ns"]
            and it["spec"]["signalName"] == st["alertname"]]
    doubled += max(0, len(aggs) - 1)
    listed = set()
    for a in aggs:
        listed |= set((a["metadata"].get("annotations") or {})
                      .get("kubernaut.ai/storm-resources", "").split(","))
    named = {}
    for fp, s in ledger["signals"].items():
        if not s.get("storm"):
            continue
        n = len(by_fp.get(fp, []))
        if s["ok"] == 0 or (n == 0 and "Pod/" + s["pod"] not in listed):
            lost += 1
        elif n > 1:
            doubled += 1
        for ref, k in s["refs"].items():
            if ref not in by_name:
                lost += 1
            named[ref] = named.get(ref, 0) + k
    storm_under = sum(1 for ref, k in named.items() if ref in by_name and by_name[ref] < k)
c = ledger["codes"]
ok = sum(v for k, v in c.items() if k.startswith("2"))
other = ledger["sent"] - ok - c.get("503", 0)
print("%-28s %8d %6d %6d %6d %5d %7d %12d" % (name, ledger["sent"], ok, c.get("503", 0), other,
                                               lost, doubled, under))
if st:
    print("storm-undercounted %d" % storm_under)
EOF
        ) || fail "ledger check failed"
        local sunder=0
        if [[ $row == *$'\n'storm-undercounted* ]]; then
            sunder=${row##*storm-undercounted }
            echo "$sunder" >"$GW_TMP/storm-undercounted-$STREAM_NAME"
            row=${row%%$'\n'*}
        fi
        read -r _ _ _ _ _ lost doubled under <<<"$row"
        if (( lost == 0 && doubled == 0 && under == 0 && sunder == 0 )) || (( SECONDS >= deadline )); then
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


# stream_recovery NAME SINCE HOST: from the ledger of stream NAME, the seconds
# from SINCE (Unix time, e.g. date +%s.%N at a fault) until the first 2xx
# answer to a request sent to URL number HOST (0-based, as in STREAM_URLS)
# at or after SINCE; "none" when there was none.  Requests already in flight
# at SINCE do not count: their answer says little about the recovery.
stream_recovery() {
    python3 - "$GW_TMP/ledger-$1.json" "$2" "$3" <<'PY'
import json, sys
events = json.load(open(sys.argv[1]))["events"]
since, host = float(sys.argv[2]), int(sys.argv[3])
done = [t1 for t0, t1, i, code in events if i == host and t0 >= since and 200 <= code < 300]
print("%.2f" % (min(done) - since) if done else "none")
PY
}

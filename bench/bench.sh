#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/bench.sh - alertgw's performance figures, measured on the real stack.
#
# Starts redis-server (unix socket), etcd + kube-apiserver (deploy/
# kube-local.sh) and lighttpd with the repository's lighttpd.conf, then
# drives it with wrk on 127.0.0.1 for a bounded time per case:
#
#   ceiling     lighttpd + bench/trivial-fcgi (reads the body, answers 202),
#               same worker count: what this machine can do at all
#   duplicate   alertgw, one alert posted over and over (the common case:
#               Alertmanager resends every group) - Redis only
#   new-alert   alertgw, every request a new pod under a new alert name, in
#               one of BENCH_NAMESPACES namespaces in turn: a new fingerprint
#               that joins no storm, a RemediationRequest created in the
#               apiserver
#   storm       alertgw, every request a new pod in one namespace with one
#               alert name: after the fifth, every signal joins the storm's
#               aggregated request (Redis only, plus the coalesced sync)
#   raw-create  bench/raw-create, no gateway: the label lookup and the create
#               of a request shaped like the new-alert case's, straight to
#               the apiserver, at the worker count's concurrency (what the
#               apiserver sees from the gateway) and at the first connection
#               count: the new-alert path's bound, printed as a ratio
#   raw-all     bench/raw-create ... all: the same, plus the gateway's two
#               other writes for a new signal (the status patch and the
#               Created Event), at the worker count's concurrency: what
#               the apiserver takes of exactly the gateway's calls, so the
#               ratio to it is what the gateway itself costs
#
# and prints one table: requests/s, RemediationRequests created per second,
# p50, p99, non-2xx, worker RSS and the duplicate path as a percentage of
# the ceiling.  Absolute numbers move with machine load; the ratio is the
# figure that counts.  So the ceiling and the duplicate case run in
# BENCH_ROUNDS interleaved rounds (ceiling, duplicate, ceiling, ...; the
# same worker count), each duplicate row is compared with its own round's
# ceiling, and the medians over the rounds follow the table.  new-alert
# and storm run once, in the last round.
#
# Every namespace the cases name exists (created before the run): the
# gateway answers a signal about a namespace the cluster does not have
# with 200 ignored, which wrk would count as a success.  So the new-alert
# case's figure is not wrk's req/s but the RemediationRequests the
# apiserver holds after the case minus before it, over the case's
# duration; a loud warning follows the table when that and wrk's 2xx
# answers disagree by more than BENCH_TOLERANCE percent (3), or when any
# case got a non-2xx answer.
#
# Knobs: BENCH_DURATION (s per case, 10), BENCH_ROUNDS (interleaved ceiling /
# duplicate rounds, 3), BENCH_WORKERS (worker counts to
# run, "4"; "1 2 4 8" for the scaling table), BENCH_CONNECTIONS ("32 128"),
# BENCH_THREADS (2), BENCH_NAMESPACES (64), BENCH_TOLERANCE (3), BENCH_PERF=1 (perf record -a during the first
# duplicate case; prints where the CPU went by process, library and
# function; needs perf), GW_KUBE_ENV (reuse a running kube-local instance).  Needs: wrk, lighttpd, redis-server, a built
# tree (make) and a built apiserver (deploy/kube-local.sh build).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
DURATION=${BENCH_DURATION:-10}
WORKER_COUNTS=${BENCH_WORKERS:-4}
CONNECTIONS=${BENCH_CONNECTIONS:-32 128}
THREADS=${BENCH_THREADS:-2}
NAMESPACES=${BENCH_NAMESPACES:-64}
TOLERANCE=${BENCH_TOLERANCE:-3}
ROUNDS=${BENCH_ROUNDS:-3}
(( ROUNDS >= 1 && ROUNDS <= 20 )) || { echo "BENCH_ROUNDS must be 1..20" >&2; exit 2; }
(( DURATION > 0 && DURATION <= 600 )) || { echo "BENCH_DURATION must be 1..600" >&2; exit 2; }
(( NAMESPACES > 0 && NAMESPACES <= 1000 )) || { echo "BENCH_NAMESPACES must be 1..1000" >&2; exit 2; }

# BENCH_BUILD: the build directory (in-tree by default; build/plain after
# deploy/test-all.sh).
BUILD=${BENCH_BUILD:-$ROOT}
[[ -x $BUILD/fcgi/alertgw-fcgi || ! -x $ROOT/build/plain/fcgi/alertgw-fcgi ]] || BUILD=$ROOT/build/plain
GW_FCGI_BIN=$BUILD/fcgi/alertgw-fcgi
TRIVIAL_BIN=$BUILD/bench/trivial-fcgi
RAW_BIN=$BUILD/bench/raw-create
for bin in "$GW_FCGI_BIN" "$TRIVIAL_BIN" "$RAW_BIN"; do
    [[ -x $bin ]] || { echo "bench: $bin not built: run make" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "bench: wrk missing: apt-get install -y wrk" >&2; exit 1; }

# The test helpers start and stop the real services (by PID, bounded waits).
BATS_TEST_DIRNAME=$ROOT/shell-tests
exec 3>&2
# shellcheck source=../shell-tests/helpers.bash
source "$ROOT/shell-tests/helpers.bash"
GW_TMP=$(mktemp -d /tmp/alertgw-bench.XXXXXX)
export GW_TMP GW_FCGI_BIN
cleanup() { gw_teardown_stack; }
trap cleanup EXIT
trap 'exit 130' INT TERM

gw_start_redis unix
gw_start_kube

# The bodies: body.json's alert is about pod BENCH_POD in namespace bench.
# The duplicate case resends one of them; the storm case names a new pod
# each time; the new-alert case also a new alert name (BENCH_ALERT) and a
# namespace of the pool (BENCH_NS), so that it never joins a storm.
sed 's/BENCH_POD/bench-fixed-0/g' "$BENCH_DIR/body.json" >"$GW_TMP/fixed.json"
sed -e 's/"namespace":"bench"/"namespace":"BENCH_NS"/g' -e 's/KubePodCrashLooping/BENCH_ALERT/g' \
    "$BENCH_DIR/body.json" >"$GW_TMP/template.json"
cp "$BENCH_DIR/body.json" "$GW_TMP/storm.json"
# The namespaces they name: bench, and the new-alert case's pool.  The
# gateway ignores (200) a signal about a namespace the cluster does not
# have, and wrk would count that as served.
kube_namespaces bench $(seq -f 'bench-ns-%g' 1 "$NAMESPACES")
export BENCH_NS_PREFIX=bench-ns- BENCH_NS_COUNT=$NAMESPACES

# rr_count: the RemediationRequests alertgw made (label
# app.kubernetes.io/managed-by=alertgw), metadata only, 500 a page.
rr_count() {
    local cont='' n=0 page
    while :; do
        page=$(kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dalertgw&limit=500${cont:+&continue=$cont}" \
            -f -H 'Accept: application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io') || return 1
        n=$(( n + $(jq '.items | length' <<<"$page") ))
        cont=$(jq -r '.metadata.continue // empty' <<<"$page")
        [[ -n $cont ]] || break
    done
    echo "$n"
}
# rr_count_settled: rr_count once it has stopped changing (the requests
# still in flight when wrk stops are answered, and created, after it), at
# most 15 s.
rr_count_settled() {
    local last now i
    last=$(rr_count) || return 1
    for (( i = 0; i < 30; i++ )); do
        sleep 0.5
        now=$(rr_count) || return 1
        [[ $now == "$last" ]] && break
        last=$now
    done
    echo "$last"
}

# rss_kb: summed and largest VmRSS of the current workers.
rss() {
    local pid total=0 max=0 kb
    for pid in $(gw_worker_pids); do
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$(( total + kb ))
        (( kb > max )) && max=$kb
    done
    echo "$(( max / 1024 )).$(( (max % 1024) * 10 / 1024 ))"
}

# ticks PID...: CPU time (user + system, in clock ticks) of the processes.
ticks() {
    local pid sum=0 t
    for pid in "$@"; do
        t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
        sum=$(( sum + t ))
    done
    echo "$sum"
}
# Where the machine's CPU went during one case, as % of all cores: lighttpd,
# the workers, redis, apiserver + etcd (wrk and the kernel's softirqs make up
# most of the rest).
cpu_groups() {
    local lpid
    lpid=$(<"$GW_TMP/lighttpd/pid")
    echo "$(ticks "$lpid") $(ticks $(gw_worker_pids)) $(ticks "$(<"$GW_TMP/redis/pid")") $(ticks ${APISERVER_PID:-} ${ETCD_PID:-})"
}

declare -A RESULT CPU CREATED
PERF_DONE=
run_wrk() { # name conns mode body round   (GW_WORKERS: the current worker count)
    local name=$1 conns=$2 mode=$3 body=$4 round=$5 out before after perf_pid= rr_before=
    local key=$GW_WORKERS/$name/$conns/$round
    [[ $name == ceiling ]] || rr_before=$(rr_count)
    if [[ ${BENCH_PERF:-0} == 1 && $name == duplicate && -z $PERF_DONE ]]; then
        perf record -a -F 999 -o "$GW_TMP/perf.data" -- sleep "$DURATION" \
            >"$GW_TMP/perf.log" 2>&1 &
        perf_pid=$!
        PERF_DONE=$key
    fi
    before=$(cpu_groups)
    out=$(cd "$GW_TMP" && BENCH_MODE=$mode BENCH_BODY=$body \
        timeout $(( DURATION + 30 )) wrk -t "$THREADS" -c "$conns" -d "${DURATION}s" \
        --timeout 5s -s "$BENCH_DIR/wrk-report.lua" "$GW_URL/api/v1/signals/prometheus" 2>&1)
    after=$(cpu_groups)
    [[ -n $perf_pid ]] && wait "$perf_pid"
    local line
    line=$(grep '^RESULT' <<<"$out" || true)
    [[ -n $line ]] || { echo "bench: wrk failed for $name:" >&2; echo "$out" >&2; exit 1; }
    RESULT[$key]="$line rss_mb=$(rss)"
    [[ -z $rr_before ]] || CREATED[$key]=$(( $(rr_count_settled) - rr_before ))
    CPU[$key]=$(awk -v b="$before" -v a="$after" -v hz="$(getconf CLK_TCK)" \
        -v secs="$DURATION" -v cores="$(nproc)" 'BEGIN {
            n = split(b, x, " "); split(a, y, " ")
            for (i = 1; i <= n; i++) printf "%5.1f%% ", 100 * (y[i] - x[i]) / hz / secs / cores
        }')
}
field() { sed -n "s/.*$2=\([^ ]*\).*/\1/p" <<<"${RESULT[$1]}"; }

# raw_template: a request the new-alert case created, as raw-create's
# template: RAWNAME for its name, RAWFP for its fingerprint, RAWLB for the
# fingerprint label (the first 63 of the fingerprint), and another
# managed-by label, so that rr_count never counts raw-create's requests.
raw_template() {
    kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dalertgw&limit=1" -f |
        jq -e '.items[0] | del(.status) | .metadata |= {name: "RAWNAME", labels, annotations}
               | .metadata.labels["kubernaut.ai/fingerprint"] = "RAWLB"
               | .metadata.labels["app.kubernetes.io/managed-by"] = "alertgw-bench-raw"
               | .spec.signalFingerprint = "RAWFP" | del(.metadata.annotations | nulls)' \
        >"$GW_TMP/raw-template.json"
}
# run_raw CONNS ROUND [all]: raw-create for DURATION at CONNS connections,
# as a row of its own (case raw-create, or raw-all with the status patch
# and the Event; req/s and created/s are its creates/s).
run_raw() {
    local conns=$1 round=$2 all=${3:-} out line
    local key=$GW_WORKERS/raw-${all:-create}/$conns/$round
    out=$(timeout $(( DURATION + 30 )) "$RAW_BIN" "$conns" "$DURATION" "$KUBE_API_URL" \
        "$KUBE_CA_FILE" "$KUBE_GATEWAY_TOKEN_FILE" \
        "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests" "$GW_TMP/raw-template.json" \
        $all 2>&1) || true
    line=$(grep '^RESULT' <<<"$out" || true)
    [[ -n $line ]] || { echo "bench: raw-create failed:" >&2; echo "$out" >&2; exit 1; }
    local creates errors rps
    creates=$(sed -n 's/.*creates=\([0-9]*\).*/\1/p' <<<"$line")
    errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$line")
    rps=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$line")
    RESULT[$key]="RESULT rps=$rps p50_ms=- p99_ms=- requests=$(( creates + errors )) non2xx=$errors errors=0 rss_mb=-"
    CREATED[$key]=$creates
}

created=0
for GW_WORKERS in $WORKER_COUNTS; do
  export GW_WORKERS
  for (( round = 1; round <= ROUNDS; round++ )); do
    # (a) the ceiling
    GW_FCGI_BIN=$TRIVIAL_BIN gw_start_lighttpd
    for c in $CONNECTIONS; do run_wrk ceiling "$c" fixed fixed.json "$round"; done
    gw_stop_lighttpd

    # (b)-(d): alertgw with production settings (status sync every 5 s),
    # but without the limits that keep one sender from flooding a cluster:
    # wrk is one sender (127.0.0.1) creating a hundred requests a second,
    # dozens a minute in each namespace of the pool, so the creation
    # budgets and the per-namespace cap would turn the new-alert case into
    # a measurement of 503s.  Those limits cost the duplicate path nothing
    # (they are looked at only when a request is to be created).
    gw_start_lighttpd ALERTGW_DEDUP_STATUS_SYNC_INTERVAL=5s ALERTGW_STORM_NAMESPACE_CAP=0 \
        ALERTGW_LIMITS_CREATES_PER_MINUTE=0 ALERTGW_LIMITS_CREATES_PER_SENDER_PER_MINUTE=0
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary @"$GW_TMP/fixed.json" "$GW_URL/api/v1/signals/prometheus")
    [[ $code == 201 || $code == 202 ]] || { echo "bench: priming alert answered $code" >&2; gw_dump_logs >&2; exit 1; }
    for c in $CONNECTIONS; do run_wrk duplicate "$c" fixed fixed.json "$round"; done
    if (( round == ROUNDS )); then
        first_conns=${CONNECTIONS%% *}
        run_wrk new-alert "$first_conns" new template.json "$round"
        run_wrk storm "$first_conns" unique storm.json "$round"
        # the new-alert path's bound, measured right after it
        raw_template && for c in $(printf '%s\n' "$GW_WORKERS" "$first_conns" | sort -nu); do
            run_raw "$c" "$round"
        done && run_raw "$GW_WORKERS" "$round" all
    fi
    gw_stop_lighttpd
  done
done
created=$(rr_count)

printf '\nalertgw bench: workers %s, %ss per case, %s round(s), wrk %s threads, loopback, %s cores, %s\n' \
    "$WORKER_COUNTS" "$DURATION" "$ROUNDS" "$THREADS" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '%7s %-11s %5s %5s %10s %10s %9s %9s %8s %8s %12s %11s\n' workers case conns round 'req/s' \
    'created/s' 'p50 ms' 'p99 ms' non2xx errors 'max RSS MB' '% ceiling'
keys() { printf '%s\n' "$@" | sort -t/ -k1,1n -k2,2 -k3,3n -k4,4n; }
WARNINGS=()
declare -A RATIOS P99S
for key in $(keys "${!RESULT[@]}"); do
    IFS=/ read -r w name conns round <<<"$key"
    ratio=-
    if [[ -n ${RESULT[$w/ceiling/$conns/$round]:-} ]]; then
        ratio=$(awk -v a="$(field "$key" rps)" -v b="$(field "$w/ceiling/$conns/$round" rps)" \
            'BEGIN { printf "%.1f%%", (b > 0 ? 100 * a / b : 0) }')
    fi
    if [[ $name == duplicate ]]; then
        RATIOS[$w/$conns]+="${ratio%\%} "
        P99S[$w/$conns]+="$(field "$key" p99_ms) "
    fi
    rate=-
    if [[ -n ${CREATED[$key]:-} ]]; then
        rate=$(awk -v n="${CREATED[$key]}" -v s="$DURATION" 'BEGIN { printf "%.1f", n / s }')
    fi
    printf '%7s %-11s %5s %5s %10s %10s %9s %9s %8s %8s %12s %11s\n' "$w" "$name" "$conns" \
        "$round" "$(field "$key" rps)" "$rate" "$(field "$key" p50_ms)" "$(field "$key" p99_ms)" \
        "$(field "$key" non2xx)" "$(field "$key" errors)" "$(field "$key" rss_mb)" "$ratio"
    # what wrk counted against what the apiserver holds
    ok=$(( $(field "$key" requests) - $(field "$key" non2xx) ))
    if (( $(field "$key" non2xx) > 0 || $(field "$key" errors) > 0 )); then
        WARNINGS+=("$key: $(field "$key" non2xx) non-2xx answers and $(field "$key" errors) connection errors out of $(field "$key" requests) requests")
    fi
    if [[ $name == new-alert ]]; then
        # Each 2xx of this case should be one new request.  The requests
        # still in flight when wrk stops (at most one per connection) are
        # answered, and created, after wrk has stopped counting.
        gap=$(awk -v c="${CREATED[$key]}" -v ok="$ok" -v conns="$conns" 'BEGIN {
                  d = c < ok ? ok - c : (c > ok + conns ? c - ok - conns : 0)
                  printf "%.1f", (ok > 0 ? 100 * d / ok : (c > 0 ? 100 : 0)) }')
        if awk -v g="$gap" -v t="$TOLERANCE" 'BEGIN { exit !(g > t) }'; then
            WARNINGS+=("$key: wrk counted $ok 2xx answers ($(field "$key" rps) req/s) but the apiserver got ${CREATED[$key]} new RemediationRequests ($rate/s): they disagree by $gap % (more than $TOLERANCE %), so wrk's req/s is not the create path (200 ignored answers count as 2xx); created/s is the figure")
        fi
    elif [[ $name == duplicate && ${CREATED[$key]:-0} != 0 ]]; then
        WARNINGS+=("$key: ${CREATED[$key]} RemediationRequests created during the duplicate case, which should create none")
    fi
done
# median VALUES...: the middle value (the lower middle of an even count)
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '\nduplicate path over %s interleaved round(s), median:\n' "$ROUNDS"
printf '%7s %5s %11s %9s\n' workers conns '% ceiling' 'p99 ms'
for wc in $(printf '%s\n' "${!RATIOS[@]}" | sort -t/ -k1,1n -k2,2n); do
    # shellcheck disable=SC2086
    printf '%7s %5s %10s%% %9s\n' "${wc%/*}" "${wc#*/}" "$(median ${RATIOS[$wc]})" \
        "$(median ${P99S[$wc]})"
done
# The new-alert path against its bound: raw-create at the concurrency the
# apiserver sees from the gateway (one call at a time per worker).
for w in $WORKER_COUNTS; do
    nk=$w/new-alert/${CONNECTIONS%% *}/$ROUNDS rk=$w/raw-create/$w/$ROUNDS
    [[ -n ${CREATED[$nk]:-} && -n ${CREATED[$rk]:-} ]] || continue
    printf 'new-alert path, %s workers: %s created/s = %s of the raw create rate (%s/s at %s connections)\n' \
        "$w" "$(awk -v n="${CREATED[$nk]}" -v s="$DURATION" 'BEGIN { printf "%.1f", n / s }')" \
        "$(awk -v a="${CREATED[$nk]}" -v b="${CREATED[$rk]}" 'BEGIN { printf "%.1f%%", (b > 0 ? 100 * a / b : 0) }')" \
        "$(field "$rk" rps)" "$w"
    ak=$w/raw-all/$w/$ROUNDS
    [[ -n ${CREATED[$ak]:-} ]] || continue
    printf 'new-alert path, %s workers: %s of the raw rate of the same four calls (%s/s at %s connections)\n' \
        "$w" "$(awk -v a="${CREATED[$nk]}" -v b="${CREATED[$ak]}" 'BEGIN { printf "%.1f%%", (b > 0 ? 100 * a / b : 0) }')" \
        "$(field "$ak" rps)" "$w"
done
printf 'RemediationRequests in the apiserver after the run: %s\n' "$created"
if (( ${#WARNINGS[@]} )); then
    printf '\n'
    for w in "${WARNINGS[@]}"; do
        printf '!!! WARNING: %s\n' "$w"
    done
    printf '!!! The rows above with a WARNING do not measure what their case is for.\n'
fi
printf '\nCPU during each case, %% of all %s cores:\n' "$(nproc)"
printf '%7s %-11s %5s %5s %9s %9s %9s %15s\n' workers case conns round lighttpd workers redis \
    'apiserver+etcd'
for key in $(keys "${!CPU[@]}"); do
    IFS=/ read -r w name conns round <<<"$key"
    read -r l wk r k <<<"${CPU[$key]}"
    printf '%7s %-11s %5s %5s %9s %9s %9s %15s\n' "$w" "$name" "$conns" "$round" "$l" "$wk" "$r" "$k"
done

# Where the CPU went during the profiled duplicate case (BENCH_PERF=1).
if [[ -n $PERF_DONE && -s $GW_TMP/perf.data ]]; then
    printf '\nperf profile of %s (all CPUs, %ss): share of samples by process\n' "$PERF_DONE" "$DURATION"
    perf report -i "$GW_TMP/perf.data" --no-children --sort comm --stdio 2>/dev/null |
        awk '/^ *[0-9.]+%/ { print "  " $0 }' | head -n 12
    printf '\nby process and library (top 25):\n'
    perf report -i "$GW_TMP/perf.data" --no-children --sort comm,dso --stdio 2>/dev/null |
        awk '/^ *[0-9.]+%/ { print "  " $0 }' | head -n 25
    printf '\nalertgw-fcgi by function (top 30, %% of its own samples):\n'
    perf report -i "$GW_TMP/perf.data" --no-children --comms alertgw-fcgi --sort dso,sym --stdio 2>/dev/null |
        awk '/^ *[0-9.]+%/ { print "  " $0 }' | head -n 30
    printf '\nredis-server by function (top 15, %% of its own samples):\n'
    perf report -i "$GW_TMP/perf.data" --no-children --comms redis-server --sort dso,sym --stdio 2>/dev/null |
        awk '/^ *[0-9.]+%/ { print "  " $0 }' | head -n 15
fi

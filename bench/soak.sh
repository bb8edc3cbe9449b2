#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/soak.sh - does anything grow with the number of requests served?
#
# Starts the real stack as bench.sh does (redis on a unix socket, etcd +
# kube-apiserver, lighttpd + SOAK_WORKERS alertgw workers, status sync every
# 5 s) and drives it with wrk for SOAK_SECONDS (600) in SOAK_STEP-second
# slices (30), alternating the duplicate path (one alert resent) and the
# storm path (every request a new pod in one namespace: a new fingerprint,
# a new Redis key, a new storm member).  After every slice it records each
# worker's VmRSS, Redis's used_memory and key count, and prints one row.
# At the end it compares the workers' RSS after the first minute (caches
# warm) with the last slice: the growth per million requests is the figure.
#
# Bounded: 127.0.0.1 only, SOAK_SECONDS <= 3600, wrk stops itself each
# slice; everything started is stopped by PID on exit.
# Knobs: SOAK_SECONDS, SOAK_STEP, SOAK_WORKERS (4), SOAK_CONNECTIONS (32),
# BENCH_BUILD (build directory), SOAK_CSV (also write the rows there).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
SECS=${SOAK_SECONDS:-600}
STEP=${SOAK_STEP:-30}
CONNS=${SOAK_CONNECTIONS:-32}
(( SECS > 0 && SECS <= 3600 && STEP > 0 && STEP <= SECS )) ||
    { echo "soak: SOAK_SECONDS must be 1..3600 and SOAK_STEP 1..SOAK_SECONDS" >&2; exit 2; }
BUILD=${BENCH_BUILD:-$ROOT}
[[ -x $BUILD/fcgi/alertgw-fcgi || ! -x $ROOT/build/plain/fcgi/alertgw-fcgi ]] || BUILD=$ROOT/build/plain
GW_FCGI_BIN=$BUILD/fcgi/alertgw-fcgi
[[ -x $GW_FCGI_BIN ]] || { echo "soak: $GW_FCGI_BIN not built: run make" >&2; exit 1; }
command -v wrk >/dev/null || { echo "soak: wrk missing: apt-get install -y wrk" >&2; exit 1; }

BATS_TEST_DIRNAME=$ROOT/shell-tests
exec 3>&2
# shellcheck source=../shell-tests/helpers.bash
source "$ROOT/shell-tests/helpers.bash"
GW_TMP=$(mktemp -d /tmp/alertgw-soak.XXXXXX)
export GW_TMP GW_FCGI_BIN GW_WORKERS=${SOAK_WORKERS:-4}
trap 'gw_teardown_stack' EXIT
trap 'exit 130' INT TERM

gw_start_redis unix
gw_start_kube
sed 's/BENCH_POD/soak-fixed-0/g' "$BENCH_DIR/body.json" >"$GW_TMP/fixed.json"
cp "$BENCH_DIR/body.json" "$GW_TMP/storm.json"
# Both bodies name namespace bench: it must exist (the gateway answers 200
# ignored for a namespace the cluster does not have, and the soak would
# measure that).  The creation budgets keep their defaults: the soak
# creates a handful of requests (the first alert, and per storm the first
# four pods and the aggregate); every other request is a duplicate or a
# storm member, which no budget counts.
kube_namespaces bench
gw_start_lighttpd ALERTGW_DEDUP_STATUS_SYNC_INTERVAL=5s
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$GW_TMP/fixed.json" "$GW_URL/api/v1/signals/prometheus")
[[ $code == 201 || $code == 202 ]] || { echo "soak: priming alert answered $code" >&2; gw_dump_logs >&2; exit 1; }
WORKER_PIDS=$(gw_worker_pids | sort -n | tr '\n' ' ')

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
redis_info() { gw_redis_cli info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }

printf 'alertgw soak: %s workers, %s s in %s s slices, %s connections, %s cores, %s\n' \
    "$GW_WORKERS" "$SECS" "$STEP" "$CONNS" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '%6s %-9s %9s %8s %8s %12s %s\n' 't s' case 'req/s' non2xx 'requests' 'redis MB/keys' 'worker RSS KB'
[[ -n ${SOAK_CSV:-} ]] && echo "t,case,rps,non2xx,total_requests,redis_used_memory,redis_keys,$(tr ' ' ',' <<<"${WORKER_PIDS% }")" >"$SOAK_CSV"
t=0 total=0 slice=0 bad=0
declare -a RSS_AT
while (( t < SECS )); do
    (( slice % 2 == 0 )) && { mode=fixed body=fixed.json name=duplicate; } || { mode=unique body=storm.json name=storm; }
    out=$(cd "$GW_TMP" && BENCH_MODE=$mode BENCH_BODY=$body timeout $(( STEP + 30 )) \
        wrk -t 2 -c "$CONNS" -d "${STEP}s" --timeout 5s -s "$BENCH_DIR/wrk-report.lua" \
        "$GW_URL/api/v1/signals/prometheus" 2>&1)
    line=$(grep '^RESULT' <<<"$out") || { echo "soak: wrk failed: $out" >&2; exit 1; }
    rps=$(sed -n 's/.*rps=\([0-9]*\).*/\1/p' <<<"$line")
    reqs=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")
    non2xx=$(sed -n 's/.*non2xx=\([0-9]*\).*/\1/p' <<<"$line")
    bad=$(( bad + non2xx ))
    t=$(( t + STEP )) total=$(( total + reqs )) slice=$(( slice + 1 ))
    rss=() ; for p in $WORKER_PIDS; do rss+=("$(rss_kb "$p")"); done
    RSS_AT[$t]="${rss[*]}"
    mem=$(redis_info) keys=$(gw_redis_cli dbsize | tr -d '\r')
    printf '%6s %-9s %9s %8s %8s %12s %s\n' "$t" "$name" "$rps" "$non2xx" "$total" \
        "$(( mem / 1048576 ))/$keys" "${rss[*]}"
    [[ -n ${SOAK_CSV:-} ]] && echo "$t,$name,$rps,$non2xx,$total,$mem,$keys,$(tr ' ' ',' <<<"${rss[*]}")" >>"$SOAK_CSV"
done
now=$(gw_worker_pids | sort -n | tr '\n' ' ')
[[ $now == "$WORKER_PIDS" ]] || echo "soak: WARNING: the worker set changed ($WORKER_PIDS -> $now): a worker died" >&2

# growth: RSS after the first minute (or the first slice) vs the last slice
first=$(( STEP >= 60 ? STEP : (60 / STEP) * STEP )); (( first < t )) || first=$STEP
read -ra a <<<"${RSS_AT[$first]}"; read -ra b <<<"${RSS_AT[$t]}"
max_growth=0
for i in "${!a[@]}"; do
    g=$(( b[i] - a[i] )); (( g > max_growth )) && max_growth=$g
done
printf '\nrequests served: %s, non-2xx: %s; largest worker RSS %s KB; largest growth from t=%ss to t=%ss: %s KB\n' \
    "$total" "$bad" "$(printf '%s\n' "${b[@]}" | sort -n | tail -n 1)" "$first" "$t" "$max_growth"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/fuzz/smoke.sh BUILD_DIR LOG_DIR - the CI smoke pass of the
# libFuzzer targets (deploy/test-all.sh runs it on build/fuzz): every
# tests/fuzz/fuzz-<target> built in BUILD_DIR fuzzes for a short, bounded
# time, starting from its committed seeds (tests/fuzz/<target>/, never
# written to) with its dictionary, and is one TAP test: "ok" when it ran
# its time out without a finding.  A crash, sanitizer report, leak, timeout
# or out-of-memory is "not ok"; the input that caused it is kept as
# LOG_DIR/<target>-crash-<sha1> (or leak-, timeout-, oom-) and the run's
# output as LOG_DIR/<target>.log.
#
# Knobs: FUZZ_SMOKE_SECONDS per target (default 20), FUZZ_SMOKE_TIMEOUT
# seconds for one input (default 10), FUZZ_SMOKE_RSS_MB (default 2048).
set -uo pipefail

BUILD=${1:?usage: smoke.sh BUILD_DIR LOG_DIR}
LOGS=${2:?usage: smoke.sh BUILD_DIR LOG_DIR}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SECONDS_EACH=${FUZZ_SMOKE_SECONDS:-20}
TIMEOUT=${FUZZ_SMOKE_TIMEOUT:-10}
RSS_MB=${FUZZ_SMOKE_RSS_MB:-2048}

# gw_config_load reads ALERTGW_* too: only the inputs decide the config
while read -r v; do unset "$v"; done < <(compgen -e | grep '^ALERTGW_' || true)

mkdir -p "$LOGS"
targets=()
for bin in "$BUILD"/tests/fuzz/fuzz-*; do
    name=${bin##*/}
    [[ -x $bin && -f $bin && $name != *.* ]] && targets+=("$bin")
done
echo "1..${#targets[@]}"
(( ${#targets[@]} )) || { echo "smoke.sh: no fuzz targets in $BUILD/tests/fuzz" >&2; exit 1; }

n=0 bad=0
for bin in "${targets[@]}"; do
    n=$(( n + 1 ))
    t=${bin##*/fuzz-}
    scratch=$BUILD/smoke-corpus/$t
    rm -rf "$scratch"
    mkdir -p "$scratch"
    dict=()
    [[ -f $SRC/$t.dict ]] && dict=(-dict="$SRC/$t.dict")
    log=$LOGS/$t.log
    # new inputs go to the scratch directory (the first); the seeds are read only
    "$bin" -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
        -print_final_stats=1 -artifact_prefix="$LOGS/$t-" "${dict[@]}" \
        "$scratch" "$SRC/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE).*cov: ' "$log" | tail -n 1 |
          sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\).*/cov \1 ft \2/p')
    if (( rc == 0 )); then
        echo "ok $n - fuzz-$t: ${SECONDS_EACH}s, ${execs:-?} execs, ${cov:-no coverage line}"
    else
        bad=$(( bad + 1 ))
        echo "not ok $n - fuzz-$t: exit $rc after ${execs:-?} execs (log: $log)"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz: |.*runtime error:|artifact_prefix|Test unit written)' "$log" |
            head -n 12 | sed 's/^/#   /'
    fi
    rm -rf "$scratch"
done
(( bad == 0 ))

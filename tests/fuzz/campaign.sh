#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/fuzz/campaign.sh TARGET MINUTES - one fuzzing campaign of one
# libFuzzer target (docs/security.md, "Fuzzing", records them).
#
# Runs BUILD/tests/fuzz/fuzz-TARGET (BUILD: $FUZZ_BUILD, default build/fuzz
# of this tree, configured with `../../configure CC=clang --enable-fuzzing`)
# for MINUTES minutes on a scratch copy of its seed corpus, with its
# dictionary, and ends with one line:
#
#   campaign TARGET: M min, N execs, R execs/s, cov C ft F, corpus K inputs (S KiB), findings X
#
# The grown corpus stays in the scratch directory it names (minimise it
# with -merge=1 before committing any of it); a finding (crash, sanitizer
# report, leak, timeout, oom) is saved next to it and the exit status is 1.
# It runs at the caller's priority: on a shared machine, `nice -n 19`.
#
# Knobs: FUZZ_BUILD, FUZZ_WORK (where scratch directories go, default
# BUILD/campaign), FUZZ_TIMEOUT (seconds per input, default 10),
# FUZZ_RSS_MB (default 2048), FUZZ_ARGS (more libFuzzer flags).
set -uo pipefail

usage() { echo "usage: campaign.sh TARGET MINUTES   (targets: ${targets:-none built})" >&2; exit 2; }
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SRC/../.." && pwd)
BUILD=${FUZZ_BUILD:-$ROOT/build/fuzz}
targets=
for b in "$BUILD"/tests/fuzz/fuzz-*; do
    n=${b##*/fuzz-}
    [[ -x $b && -f $b && $n != *.* ]] && targets+="$n "
done
[[ $# == 2 ]] || usage
t=$1 minutes=$2
if ! [[ $minutes =~ ^[0-9]+$ ]] || (( minutes == 0 )); then usage; fi
bin=$BUILD/tests/fuzz/fuzz-$t
[[ -x $bin ]] || { echo "campaign.sh: $bin not built" >&2; usage; }
[[ -d $SRC/$t ]] || { echo "campaign.sh: no seed corpus $SRC/$t" >&2; exit 2; }

while read -r v; do unset "$v"; done < <(compgen -e | grep '^ALERTGW_' || true)

work=${FUZZ_WORK:-$BUILD/campaign}/$t-$(date +%Y%m%d-%H%M%S)
mkdir -p "$work/corpus"
cp -p "$SRC/$t"/* "$work/corpus/"
dict=()
[[ -f $SRC/$t.dict ]] && dict=(-dict="$SRC/$t.dict")
log=$work/fuzz.log
# shellcheck disable=SC2086
"$bin" -max_total_time=$(( minutes * 60 )) -timeout="${FUZZ_TIMEOUT:-10}" \
    -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -print_final_stats=1 -artifact_prefix="$work/" \
    "${dict[@]}" ${FUZZ_ARGS:-} "$work/corpus" >"$log" 2>&1
rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
cov=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 | sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\).*/cov \1 ft \2/p')
files=$(find "$work/corpus" -type f | wc -l)
kib=$(find "$work/corpus" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f", s / 1024 }')
findings=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'slow-unit-*' \) | wc -l)
echo "log and corpus: $work"
if (( rc != 0 )); then
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz: |.*runtime error:|Test unit written)' "$log" | head -n 12
    (( findings )) || findings="1 (exit $rc, see the log)"
fi
echo "campaign $t: $minutes min, ${execs:-?} execs, ${rate:-?} execs/s, ${cov:-cov ? ft ?}, corpus $files inputs ($kib KiB), findings $findings"
(( rc == 0 ))

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deploy/test-all.sh - the one test command (README, and .ci/run runs it):
# installs every dependency, builds alertgw three times (a plain -Werror
# build; an ASan+UBSan build, which runs the unit tests and serves as the
# worker in the end-to-end suites; the clang libFuzzer build, whose fuzz
# targets each run a short smoke pass), builds
# or reuses the cached kube-apiserver, runs the unit tests and the bats
# suites against real lighttpd, Redis and kube-apiserver, and ends with one
# line "N passed, N failed".  Exit status is non-zero on any failure.
#
# Knobs: ALERTGW_CACHE (kube-apiserver cache, /var/cache/alertgw),
# TEST_BATS ("shell-tests" or a list of .bats files), TEST_SKIP_DEPS=1,
# TEST_PLAIN_WORKERS=1 (end-to-end suites with the plain worker),
# FUZZ_SMOKE_SECONDS (per fuzz target, default 20).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LOG_DIR=$ROOT/test-logs
mkdir -p "$LOG_DIR"
passed=0 failed=0 broken=0

step() { printf '\n=== %s\n' "$*"; }
die_step() { echo "test-all: $*" >&2; broken=1; }

if [[ ${TEST_SKIP_DEPS:-0} != 1 ]]; then
    step "dependencies"
    ./deploy/install-deps.sh || { echo "test-all: dependencies could not be installed" >&2; echo "0 passed, 1 failed"; exit 1; }
fi

# The builds are out of tree (build/plain, build/asan, build/fuzz).  autoconf refuses
# those while the source tree itself is configured, so an in-tree build is
# cleaned first.
step "build (plain, -Werror)"
if [[ -f config.status ]]; then
    echo "test-all: the source tree is configured in-tree; running make distclean first"
    make distclean >"$LOG_DIR/distclean.log" 2>&1 || rm -f config.status
fi
PLAIN_DIR=$ROOT/build/plain
ASAN_DIR=$ROOT/build/asan
mkdir -p "$PLAIN_DIR" "$ASAN_DIR"
if ! { autoreconf -fi >"$LOG_DIR/autoreconf.log" 2>&1 &&
       ( cd "$PLAIN_DIR" && "$ROOT/configure" --enable-werror >"$LOG_DIR/configure.log" 2>&1 &&
         make -j"$(nproc)" >"$LOG_DIR/make.log" 2>&1 ); }; then
    tail -n 40 "$LOG_DIR"/make.log "$LOG_DIR"/configure.log 2>/dev/null
    echo "0 passed, 1 failed"
    exit 1
fi
export GW_FCGI_BIN=$PLAIN_DIR/fcgi/alertgw-fcgi
# The plain build stays named when GW_FCGI_BIN becomes the sanitizer build
# below: t5100-cli reads its hardening (PIE, RELRO, fortify) with readelf.
export GW_PLAIN_FCGI_BIN=$PLAIN_DIR/fcgi/alertgw-fcgi

step "build (ASan+UBSan) and unit tests"
if ( cd "$ASAN_DIR" && "$ROOT/configure" --enable-asan --enable-werror >"$LOG_DIR/configure-asan.log" 2>&1 &&
     make -j"$(nproc)" >"$LOG_DIR/make-asan.log" 2>&1 &&
     make -j"$(nproc)" check >"$LOG_DIR/check-asan.log" 2>&1 ); then
    :
else
    die_step "unit tests or the ASan build failed (see $LOG_DIR/check-asan.log)"
fi
# cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s), listed below:"
for log in "$ASAN_DIR"/tests/test_*.log; do
    [[ -f $log ]] || continue
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    passed=$(( passed + ${p:-0} ))
    failed=$(( failed + ${f:-0} ))
    if [[ -z $p && -z $f ]]; then
        echo "unit: $(basename "$log" .log) printed no cmocka summary (crashed?)"
        failed=$(( failed + 1 ))
    fi
    if [[ -n $f && $f != 0 ]] || [[ -z $p && -z $f ]]; then
        tail -n 30 "$log"
    fi
done
echo "unit tests: $passed passed, $failed failed"

# The coverage-guided fuzz targets (tests/fuzz/, clang libFuzzer + ASan +
# UBSan) in their own build: each fuzzes for FUZZ_SMOKE_SECONDS (20) from
# its committed seeds and counts as one test; a finding's input is kept in
# test-logs/fuzz/ (tests/fuzz/smoke.sh).
step "fuzz targets (libFuzzer smoke pass)"
FUZZ_DIR=$ROOT/build/fuzz
mkdir -p "$FUZZ_DIR"
rm -rf "$LOG_DIR/fuzz"
if ( cd "$FUZZ_DIR" && "$ROOT/configure" CC=clang --enable-fuzzing --enable-werror >"$LOG_DIR/configure-fuzz.log" 2>&1 &&
     make -j"$(nproc)" >"$LOG_DIR/make-fuzz.log" 2>&1 ); then
    tests/fuzz/smoke.sh "$FUZZ_DIR" "$LOG_DIR/fuzz" 2>&1 | tee "$LOG_DIR/fuzz.tap"
    fp=$(grep -c '^ok ' "$LOG_DIR/fuzz.tap" || true)
    ff=$(grep -c '^not ok ' "$LOG_DIR/fuzz.tap" || true)
    planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$LOG_DIR/fuzz.tap" | head -n 1)
    if [[ -z $planned || $planned == 0 ]] || (( fp + ff < planned )); then
        echo "fuzz: only $(( fp + ff )) of ${planned:-?} targets reported"
        ff=$(( ff + ${planned:-1} - fp - ff ))
        (( ff > 0 )) || ff=1
    fi
    passed=$(( passed + fp ))
    failed=$(( failed + ff ))
    echo "fuzz targets: $fp passed, $ff failed"
else
    tail -n 40 "$LOG_DIR/make-fuzz.log" "$LOG_DIR/configure-fuzz.log" 2>/dev/null
    die_step "the fuzzing build failed (see $LOG_DIR/make-fuzz.log)"
fi

step "kube-apiserver (cached build)"
if ! ./deploy/kube-local.sh build >"$LOG_DIR/kube-build.log" 2>&1; then
    tail -n 40 "$LOG_DIR/kube-build.log"
    die_step "kube-apiserver build failed"
else
    step "end-to-end (bats), workers built with ASan+UBSan"
    # The suites run the sanitizer build of the worker (TEST_PLAIN_WORKERS=1:
    # the plain one).  A sanitizer report kills the worker, lighttpd starts
    # another and a test may still pass, so every report goes to a file
    # under $LOG_DIR/sanitizer and any file there is a failure.  A small
    # quarantine keeps a worker's memory near its real size (t3300 bounds it).
    SAN_DIR=$LOG_DIR/sanitizer
    rm -rf "$SAN_DIR"
    mkdir -p "$SAN_DIR"
    if [[ ${TEST_PLAIN_WORKERS:-0} != 1 && -x $ASAN_DIR/fcgi/alertgw-fcgi ]]; then
        export GW_FCGI_BIN=$ASAN_DIR/fcgi/alertgw-fcgi GW_SANITIZED=1
        export ASAN_OPTIONS="log_path=$SAN_DIR/asan:quarantine_size_mb=16:detect_leaks=1"
        export UBSAN_OPTIONS="log_path=$SAN_DIR/ubsan:print_stacktrace=1"
    fi
    echo "worker binary: $GW_FCGI_BIN"
    # shellcheck disable=SC2086
    bats --tap ${TEST_BATS:-shell-tests} 2>&1 | tee "$LOG_DIR/bats.tap"
    unset ASAN_OPTIONS UBSAN_OPTIONS
    if compgen -G "$SAN_DIR/*" >/dev/null; then
        echo "sanitizer reports from the workers:"
        head -n 40 "$SAN_DIR"/*
        failed=$(( failed + $(ls "$SAN_DIR" | wc -l) ))
    fi
    bp=$(grep -c '^ok ' "$LOG_DIR/bats.tap" || true)
    bf=$(grep -c '^not ok ' "$LOG_DIR/bats.tap" || true)
    planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$LOG_DIR/bats.tap" | head -n 1)
    if [[ -n $planned ]] && (( bp + bf < planned )); then
        echo "bats: only $(( bp + bf )) of $planned tests reported"
        bf=$(( bf + planned - bp - bf ))
    fi
    passed=$(( passed + bp ))
    failed=$(( failed + bf ))
fi

(( broken )) && failed=$(( failed + 1 ))
echo
echo "$passed passed, $failed failed"
(( failed == 0 ))

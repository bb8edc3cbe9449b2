#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/mutants.sh - takes each abuse limit out of the source again, one at a
# time, and checks that the test citing it fails (docs/security.md, "Each
# limit's test fails without it").  For each mutant: apply one sed edit to one
# file, rebuild what the test runs, run the test (it must FAIL), restore the
# file, rebuild, run the test again (it must pass).
#
# Not part of `make check` or CI (it rebuilds and runs the stack once per
# mutant: minutes each).  Run it by hand from a clean checkout whose
# build/plain and build/asan are configured and built (docs/security.md):
#
#   tests/mutants.sh --list            the mutants, one a line
#   tests/mutants.sh NAME...           those mutants
#   tests/mutants.sh --all             every mutant (about an hour on 2 cores)
#
# A tree with uncommitted changes is refused: the restore is `git checkout`.
# Every file a mutant touches is restored on any exit (trap).  Logs go to
# test-logs/mutants/NAME.{build,mutant,restored}.log.  MUT_CONFIRM=0 skips
# the run on the restored tree.
# shellcheck disable=SC2317 # unit and e2e are called through eval
set -euo pipefail

ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
PLAIN=${MUT_PLAIN:-$ROOT/build/plain}
ASAN=${MUT_ASAN:-$ROOT/build/asan}
LOGS=$ROOT/test-logs/mutants
MAKE=(nice -n 10 make -j2)

## --- the mutants ----------------------------------------------------------
# mutant NAME FILE SED BUILD TEST
#   SED    one sed -E-less script applied to FILE (it must change FILE)
#   BUILD  space-separated DIR:TARGET (DIR plain or asan), "-" for none, or
#          "harden" (configure.ac: a fresh build in build/mutant-harden)
#   TEST   a command: unit BINARY TESTNAME | e2e SUITE REGEX; exits non-zero
#          when the named test fails
M_NAME=() M_FILE=() M_SED=() M_BUILD=() M_TEST=()
mutant() { M_NAME+=("$1") M_FILE+=("$2") M_SED+=("$3") M_BUILD+=("$4") M_TEST+=("$5"); }

mutant example-bearer deploy/alertgw.yaml.example \
    's/^  prometheus: bearer$/  prometheus: none/' - \
    "e2e t5500 'the installed config passes --check-config'"
mutant tokenreview-audiences core/tokenreview.c \
    's/if (t->audiences \&\& !audience_listed(/if (0 \&\& t->audiences \&\& !audience_listed(/' \
    plain:tests/test_auth "unit test_auth tokenreview_audiences_must_match"
SAR_IN_ONE_NAMESPACE='s/authorize_ns(t, res->subject, ns ? ns : "",/authorize_ns(t, res->subject, ns ? t->sar_namespace : t->sar_namespace,/'
mutant sar-per-namespace core/tokenreview.c "$SAR_IN_ONE_NAMESPACE" \
    plain:tests/test_auth "unit test_auth tokenreview_authorises_each_signal_namespace"
mutant sar-per-namespace-e2e core/tokenreview.c "$SAR_IN_ONE_NAMESPACE" \
    asan:fcgi/alertgw-fcgi "e2e t3100 'tokenreview: a ServiceAccount bound in namespace A'"
NO_RATE_BOUND='s/^    if (rate <= 0)$/    if (rate <= 0 || 1)/'
mutant review-rate core/tokenreview.c "$NO_RATE_BOUND" \
    plain:tests/test_auth "unit test_auth tokenreview_rate_is_bounded"
mutant review-rate-e2e core/tokenreview.c "$NO_RATE_BOUND" \
    asan:fcgi/alertgw-fcgi "e2e t3100 'tokenreview: unknown tokens beyond'"
mutant socket-0600 deploy/systemd/alertgw-fcgi.service.in \
    's/ -M 0600 -- / -M 0660 -- /' - \
    "e2e t5500 'spawn-fcgi mode: the unit.s command line'"
mutant loopback-prefix core/text.c \
    '/^bool gw_is_loopback_host/,/^}/s/^    if (len == 9 \&\& /    if (len >= 4 \&\& !strncmp(host, "127.", 4))\n        return true;\n&/' \
    plain:tests/test_kube "unit test_kube test_plain_http_loopback_only"
mutant not-dumpable fcgi/main.c \
    's/if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)/if (0 \&\& prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)/' \
    asan:fcgi/alertgw-fcgi "e2e t5100 'a running worker is not dumpable'"
mutant limitcore-unit deploy/systemd/alertgw-fcgi.service.in \
    '/^LimitCORE=0$/d' - \
    "e2e t5500 'systemd-analyze verify accepts both units'"
HARDENED="e2e t5100 'the plain binary is hardened'"
mutant stack-protector configure.ac \
    '/^GW_TRY_HARDEN(\[-fstack-protector-strong\], \[\])$/d' harden "$HARDENED"
mutant fortify configure.ac \
    's/^  \[GW_TRY_HARDEN(\[-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2\], \[\],$/  [GW_TRY_HARDEN([-U_FORTIFY_SOURCE], [],/' \
    harden "$HARDENED"
mutant bind-now configure.ac \
    's/^GW_TRY_HARDEN(\[\], \[-Wl,-z,relro,-z,now\])$/GW_TRY_HARDEN([], [-Wl,-z,relro])/' \
    harden "$HARDENED"
CUT_SHORT='s/^    if (too_big || n > GW_SECRET_MAX)$/&\n        n = GW_SECRET_MAX, rc = GW_OK; \/* cut short, silently *\/\n    if (0)/'
mutant secret-cut-short core/secretfile.c "$CUT_SHORT" \
    plain:tests/test_secret "unit test_secret refuse_what_would_be_cut"
mutant secret-cut-short-e2e core/secretfile.c "$CUT_SHORT" \
    asan:fcgi/alertgw-fcgi "e2e t5100 'an over-long secret file'"
NO_ENV_CHECK='s/^    check_unknown_env(errs, errlen, nerr);$/    if (0) check_unknown_env(errs, errlen, nerr);/'
mutant unknown-env core/config.c "$NO_ENV_CHECK" \
    plain:tests/test_config "unit test_config unknown_env_variable_named"
mutant unknown-env-e2e core/config.c "$NO_ENV_CHECK" \
    asan:fcgi/alertgw-fcgi "e2e t5100 'a misspelt ALERTGW_. variable'"
mutant draining-wired fcgi/main.c \
    '/^    gw_ctx_set_draining(ctx);$/d' asan:fcgi/alertgw-fcgi \
    "e2e t0400 'SIGTERM: a stopped worker'"
mutant readyz-reuse core/handle.c \
    's/m->until_ms = gw_mono_ms() + READYZ_REUSE_MS;/m->until_ms = 0;/' \
    plain:tests/test_handle "unit test_handle test_readyz_answer_reused_for_a_second"
mutant hmac-replay core/webhook.c \
    's/if (!who->nonce\[0\] || resp->status < 200/if (1 || !who->nonce[0] || resp->status < 200/' \
    asan:fcgi/alertgw-fcgi "e2e t3100 'hmac replay: a signed request sent again'"
mutant breaker-attempts core/kube.c \
    's/^        repeats++;$/        gw_breaker_report(k->breaker, \&k->brk_policy, mono_ms(), false, true);\n&/' \
    plain:tests/test_kube "unit test_kube test_breaker_counts_calls_not_attempts"
mutant edge-rate-limited lighttpd-ratelimit.lua \
    '/st\["alertgw.edge.rate_limited"\] = /d' - \
    "e2e t3200 'rate limit: every refusal is counted'"
mutant edge-no-worker lighttpd-errors.lua \
    '/stats\["alertgw.edge.no_worker"\] = /d' - \
    "e2e t4100 'answers no worker could give are counted'"

## --- running them ----------------------------------------------------------

# unit BINARY [TESTNAME]: the cmocka binary; fails when TESTNAME failed (or,
# without one, when any test did).
unit() {
    local out rc=0
    out=$("$PLAIN/tests/$1" 2>&1) || rc=$?
    printf '%s\n' "$out"
    if [[ -n ${2:-} ]]; then
        grep -q "^\[       OK \] $2\$" <<<"$out"
    else
        return "$rc"
    fi
}

# e2e SUITE REGEX: the bats tests of shell-tests/SUITE*.bats whose names
# match REGEX, with the ASan worker (as deploy/test-all.sh runs them).
e2e() {
    local san=$ROOT/test-logs/sanitizer-mutants
    rm -rf "$san" && mkdir -p "$san"
    (cd "$ROOT" &&
     GW_PLAIN_FCGI_BIN=${HARDEN_BIN:-$PLAIN/fcgi/alertgw-fcgi} \
     GW_FCGI_BIN=$ASAN/fcgi/alertgw-fcgi GW_SANITIZED=1 \
     ASAN_OPTIONS="log_path=$san/asan:quarantine_size_mb=16:detect_leaks=1" \
     UBSAN_OPTIONS="log_path=$san/ubsan:print_stacktrace=1" \
     bats --tap -f "$2" shell-tests/"$1"*.bats)
}

HARDEN_DIR=$ROOT/build/mutant-harden
build() {
    local b
    [[ $1 == - ]] && return 0
    if [[ $1 == harden ]]; then
        if [[ -n ${HARDEN_BIN:-} ]]; then # restored: back to build/plain
            (cd "$ROOT" && autoconf) && rm -rf "$HARDEN_DIR"
            unset HARDEN_BIN
            return
        fi
        (cd "$ROOT" && autoconf) && mkdir -p "$HARDEN_DIR" &&
            (cd "$HARDEN_DIR" && "$ROOT/configure" --enable-werror >configure.out &&
             "${MAKE[@]}" fcgi/alertgw-fcgi >/dev/null)
        HARDEN_BIN=$HARDEN_DIR/fcgi/alertgw-fcgi
        return
    fi
    for b in $1; do
        case ${b%%:*} in
            plain) "${MAKE[@]}" -C "$PLAIN" "${b#*:}" >/dev/null ;;
            asan) "${MAKE[@]}" -C "$ASAN" "${b#*:}" >/dev/null ;;
            *) echo "unknown build $b" >&2; return 2 ;;
        esac
    done
}

TOUCHED=()
restore() {
    local f
    for f in "${TOUCHED[@]}"; do git -C "$ROOT" checkout -- "$f"; done
    TOUCHED=()
}
trap restore EXIT
trap 'exit 130' INT TERM

# run_one I: 0 when the test failed on the mutant and passes on the restored
# tree; prints one verdict line.
run_one() {
    local i=$1 name=${M_NAME[$1]} file=${M_FILE[$1]} verdict
    TOUCHED=("$file")
    sed -i -e "${M_SED[$i]}" "$ROOT/$file"
    if git -C "$ROOT" diff --quiet -- "$file"; then
        restore
        echo "$name: STALE (the sed changed nothing in $file)"
        return 1
    fi
    git -C "$ROOT" --no-pager diff --stat -- "$file"
    if ! build "${M_BUILD[$i]}" >"$LOGS/$name.build.log" 2>&1; then
        restore
        echo "$name: BUILD FAILED with the mutant ($LOGS/$name.build.log)"
        return 1
    fi
    if eval "${M_TEST[$i]}" >"$LOGS/$name.mutant.log" 2>&1; then
        verdict="SURVIVED (the test passed without the limit)"
    else
        verdict="killed"
    fi
    restore
    build "${M_BUILD[$i]}" >>"$LOGS/$name.build.log" 2>&1 || true
    if [[ ${MUT_CONFIRM:-1} != 0 ]] && ! eval "${M_TEST[$i]}" >"$LOGS/$name.restored.log" 2>&1; then
        verdict="$verdict; the restored tree FAILS too ($LOGS/$name.restored.log)"
    fi
    echo "$name: $verdict"
    grep -E '^not ok|^ERROR: |^# \(in test file|^# +`|^# +-- |^# +(expected|actual)|^\[  (ERROR|FAILED) +\]|^\[   LINE   \]' \
        "$LOGS/$name.mutant.log" | head -n 8 | sed 's/^/    /'
    [[ $verdict == killed ]]
}

case ${1:-} in
    --list) printf '%s\n' "${M_NAME[@]}"; exit 0 ;;
    ''|-h|--help) sed -n '3,19p' "$0"; exit 0 ;;
esac
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no) ]]; then
    echo "mutants.sh: the tree has uncommitted changes; commit or stash them first" >&2
    exit 2
fi
[[ -x $PLAIN/fcgi/alertgw-fcgi && -x $ASAN/fcgi/alertgw-fcgi ]] ||
    { echo "mutants.sh: build $PLAIN and $ASAN first" >&2; exit 2; }
mkdir -p "$LOGS"
want=("$@")
[[ $1 == --all ]] && want=("${M_NAME[@]}")
bad=0
for w in "${want[@]}"; do
    found=
    for i in "${!M_NAME[@]}"; do
        [[ ${M_NAME[$i]} == "$w" ]] || continue
        found=1
        run_one "$i" || bad=$((bad + 1))
    done
    [[ -n $found ]] || { echo "mutants.sh: no mutant $w (--list)" >&2; bad=$((bad + 1)); }
done
exit $((bad > 0))

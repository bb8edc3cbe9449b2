#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t5400-reload: configuration reload without dropping accepted webhooks
# (issue 7).  SIGHUP makes each worker re-read its configuration between
# requests; a valid file takes effect, an invalid one is refused with every
# error logged and the running configuration stays.  Both are done under a
# resending client stream (shell-tests/fault-stream.py, 4 threads), whose
# ledger is then checked against the apiserver: nothing lost, nothing
# doubled, nothing under-counted, never a 4xx.  Also: workers that share one
# listening socket (spawn-fcgi -F) all hear SIGTERM and SIGHUP, even the ones
# that lost a race for a connection.

load helpers
load fault-stream

# The observable setting: server.max_body_bytes (413 above it).  The stream's
# bodies are ~600 bytes, under every limit used here.
write_config() { # max_body_bytes [extra line]
    cat >"$GW_TMP/alertgw.yaml" <<EOF
server:
  max_body_bytes: $1
$2
EOF
}

setup_file() {
    GW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/alertgw-bats.XXXXXX")
    export GW_TMP
    write_config 1MiB
    gw_start_redis unix
    gw_start_kube
    # the namespaces the stream names (the gateway ignores signals about
    # namespaces the cluster does not have)
    kube_namespaces $STREAM_NAMESPACES || return 1
    # The stream creates hundreds of requests a minute from one sender
    # (127.0.0.1), dozens in each of its namespaces: no storms, no creation
    # budget and no per-namespace cap, so that a 503 would be the reload's
    # (t2300 and t3400 test those limits)
    gw_start_lighttpd ALERTGW_CONFIG="$GW_TMP/alertgw.yaml" ALERTGW_STORM_ENABLED=false \
        ALERTGW_STORM_NAMESPACE_CAP=0 ALERTGW_LIMITS_CREATES_PER_MINUTE=0 \
        ALERTGW_LIMITS_CREATES_PER_SENDER_PER_MINUTE=0
    printf '%-28s %8s %6s %6s %6s %5s %7s %12s\n' run sent 2xx 503 other lost doubled undercounted \
        >"$GW_TMP/fault-table"
}
teardown_file() {
    [[ -f ${GW_TMP:-}/fault-table ]] && sed 's/^/# /' "$GW_TMP/fault-table" >&3
    [[ -f ${GW_TMP:-}/spawn/pids ]] && for p in $(<"$GW_TMP/spawn/pids"); do gw_kill_pid "$p" 9; done
    gw_teardown_stack
}
teardown() {
    gw_teardown_test
    [[ -n ${STREAM_PID:-} ]] && alive "$STREAM_PID" && gw_kill_pid "$STREAM_PID" 9
    return 0
}

# big_body: an Alertmanager webhook of ~3 kB (a long annotation).
big_body() {
    am_webhook "$(am_alert alertname=ReloadBig namespace="$1" pod=p severity=warning \
        | jq -c --arg d "$(head -c 2500 /dev/zero | tr '\0' x)" '.annotations.description = $d')"
}

# hup_workers: SIGHUP to every worker; prints how many got it.
hup_workers() {
    local w n=0
    for w in $(gw_worker_pids); do
        kill -HUP "$w" && n=$(( n + 1 ))
    done
    echo "$n"
}

# log_count TEXT [FILE...]: worker log lines containing TEXT (default: in
# lighttpd's logs, where the workers' stderr goes).
log_count() {
    local text=$1; shift
    (( $# )) || set -- "$GW_TMP/lighttpd/error.log" "$GW_TMP/lighttpd/stderr.log"
    cat "$@" 2>/dev/null | grep -c -F "$text" || true
}
# log_at_least N TEXT [FILE...]: for gw_wait_for.
log_at_least() { local n=$1; shift; (( $(log_count "$@") >= n )); }

@test "SIGHUP under load: a smaller max_body_bytes takes effect, nothing dropped" {
    local ns body before n
    ns=$(gw_uniq reload)
    kube_namespaces "$ns"
    body=$(big_body "$ns")
    gw_post_alert "$body"
    assert_status 201
    before=$(log_count 'configuration reloaded')
    pids_before=$(gw_worker_pids | sort | tr '\n' ' ')

    stream_start reload-valid
    sleep 3
    write_config 2KiB
    n=$(hup_workers)
    (( n >= 1 )) || fail "no worker to signal"
    sleep 2
    n=$(hup_workers) # a second reload while the stream is still running
    stream_check

    # each worker reloaded (twice) and none was replaced
    gw_wait_for 10 log_at_least $(( before + 2 * n )) 'configuration reloaded' ||
        fail "expected $(( 2 * n )) 'configuration reloaded' lines, got $(( $(log_count 'configuration reloaded') - before ))"
    [[ $(gw_worker_pids | sort | tr '\n' ' ') == "$pids_before" ]] || fail "workers were replaced"
    # the new limit answers on every worker (4 tries reach them all often
    # enough; each answer must be the 413)
    local i
    for i in 1 2 3 4 5 6 7 8; do
        gw_post_alert "$(big_body "$ns")"
        assert_status 413
    done
}

@test "SIGHUP with an invalid file: refused with the error named, old configuration kept" {
    write_config 2KiB
    local n before_ok ns
    ns=$(gw_uniq reload)
    kube_namespaces "$ns"
    n=$(hup_workers)
    sleep 1
    before_ok=$(log_count 'configuration reloaded')

    write_config 4KiB '  no_such_key: 1'
    stream_start reload-invalid
    sleep 2
    n=$(hup_workers)
    stream_check
    gw_wait_for 10 log_at_least "$n" 'refused, the running configuration stays' ||
        fail "no refusal logged"
    grep -h 'refused, the running configuration stays' "$GW_TMP"/lighttpd/*.log | tail -n 1 >"$GW_TMP/refusal"
    jq -e . "$GW_TMP/refusal" >/dev/null || fail "refusal line is not JSON: $(cat "$GW_TMP/refusal")"
    jq -e '.level == "error" and (.msg | test("server.no_such_key: line 3: unknown key"))' \
        "$GW_TMP/refusal" >/dev/null || fail "refusal does not name the key: $(cat "$GW_TMP/refusal")"
    [[ $(log_count 'configuration reloaded') == "$before_ok" ]] || fail "an invalid file was applied"
    # still the 2 KiB limit (the invalid file said 4 KiB)
    gw_post_alert "$(big_body "$ns")"
    assert_status 413
    # and a good alert is stored
    gw_post_alert "$(am_body alertname=AfterRefusal namespace="$ns" pod=p severity=warning)"
    assert_status 201
}

@test "lighttpd graceful restart picks up a changed file, nothing dropped" {
    local ns
    ns=$(gw_uniq reload)
    kube_namespaces "$ns"
    write_config 1MiB
    stream_start reload-graceful
    sleep 3
    kill -USR1 "$(<"$GW_TMP/lighttpd/pid")"
    sleep 3
    alive "$(<"$GW_TMP/lighttpd/pid")" || fail "lighttpd exited on SIGUSR1"
    stream_check
    gw_post_alert "$(big_body "$ns")"
    assert_status 201
}

# spawn-fcgi mode as deploy/systemd runs it: spawn-fcgi -n binds the socket
# and execs multiwatch, which forks 3 workers that all accept on it (plain
# spawn-fcgi -F sends the workers' stderr to /dev/null).
spawn_pool() { # socket
    mkdir -p "$GW_TMP/spawn"
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TZ=UTC \
        ALERTGW_CONFIG="$GW_TMP/alertgw.yaml" \
        ALERTGW_REDIS_ADDR="unix:$GW_TMP/redis/redis.sock" \
        ALERTGW_KUBERNETES_KUBECONFIG="${KUBECONFIG_GATEWAY:-}" \
        ALERTGW_REMEDIATION_NAMESPACE="$GW_RR_NAMESPACE" \
        ALERTGW_STATE_DIR="$GW_TMP/spawn" \
        ${ASAN_OPTIONS:+"ASAN_OPTIONS=$ASAN_OPTIONS"} \
        ${UBSAN_OPTIONS:+"UBSAN_OPTIONS=$UBSAN_OPTIONS"} \
        spawn-fcgi -n -s "$1" -- /usr/bin/multiwatch -f 3 -- "$GW_FCGI_BIN" \
        >>"$GW_TMP/spawn/stderr.log" 2>&1 3>&- &
    echo $! >"$GW_TMP/spawn/pids"
    gw_wait_for 10 _three_workers || fail "multiwatch did not start 3 workers: $(cat "$GW_TMP/spawn/stderr.log")"
    gw_worker_pids "$(head -n 1 "$GW_TMP/spawn/pids")" >"$GW_TMP/spawn/workers"
    cat "$GW_TMP/spawn/workers" >>"$GW_TMP/spawn/pids"
}
_three_workers() { [[ $(gw_worker_pids "$(head -n 1 "$GW_TMP/spawn/pids")" | wc -l) == 3 ]]; }

# race_connections SOCKET N: N connections opened and closed without a
# request: every idle worker wakes, one accepts (and libfcgi re-accepts after
# the empty connection), the others lose the race.
race_connections() {
    python3 - "$1" "$2" <<'EOF'
import socket, sys, time
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    time.sleep(0.05)
    s.close()
EOF
}

all_gone() { local p; for p in $(<"$GW_TMP/spawn/pids"); do ! alive "$p" || return 1; done; }

@test "spawn-fcgi pool on one socket: SIGHUP reaches every worker, SIGTERM stops every worker" {
    write_config 2KiB
    local sock="$GW_TMP/spawn/alertgw.sock" p
    spawn_pool "$sock"
    race_connections "$sock" 10
    sleep 0.5
    for p in $(<"$GW_TMP/spawn/workers"); do kill -HUP "$p"; done
    gw_wait_for 10 log_at_least 3 'configuration reloaded' "$GW_TMP/spawn/stderr.log" ||
        fail "not every worker reloaded: $(cat "$GW_TMP/spawn/stderr.log")"
    for p in $(<"$GW_TMP/spawn/pids"); do
        alive "$p" || fail "process $p died: $(cat "$GW_TMP/spawn/stderr.log")"
    done
    race_connections "$sock" 10
    sleep 0.5
    # multiwatch passes a stop on to every worker (as SIGUSR1)
    kill -TERM "$(head -n 1 "$GW_TMP/spawn/pids")"
    gw_wait_for 5 all_gone ||
        fail "a worker ignored the stop: $(ps -o pid,stat,wchan:30 -p "$(paste -sd, "$GW_TMP/spawn/pids")")"
}

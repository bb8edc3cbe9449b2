#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
bats_require_minimum_version 1.5.0
# t5100-cli: the binary's own modes, no services: --check-config, and the
# one-shot CGI program it becomes when stdin is not a FastCGI socket.

load helpers

setup() {
    BIN=${GW_FCGI_BIN:-$GW_ROOT/fcgi/alertgw-fcgi}
    [[ -x $BIN ]] || fail "worker binary $BIN not built"
    CFG=$(mktemp "${TMPDIR:-/tmp}/alertgw-cfg.XXXXXX")
}
teardown() {
    rm -f "$CFG"
    if [[ -n ${DUMP_DIR:-} ]]; then
        [[ -f $DUMP_DIR/pid ]] && gw_kill_pid "$(<"$DUMP_DIR/pid")" 10
        rm -rf "$DUMP_DIR"
    fi
    return 0
}

@test "--check-config accepts the example configuration" {
    run "$BIN" --check-config "$GW_ROOT/deploy/alertgw.yaml.example"
    assert_success
    assert_output --partial "configuration OK"
}

@test "--check-config reports every error with its key and line, exit 1" {
    cat >"$CFG" <<'YAML'
redis:
  adress: 127.0.0.1:6379
dedup:
  ttl: 5 minutes
  status_sync_interval: 1s
bogus:
  x: 1
remediation:
  namespace_mode: sideways
YAML
    run "$BIN" --check-config "$CFG"
    assert_failure 1
    assert_output --partial "redis.adress: line 2: unknown key"
    assert_output --partial 'dedup.ttl: line 4: invalid value "5 minutes"'
    assert_output --partial "bogus: line 6: unknown section"
    assert_output --partial "remediation.namespace_mode: line 9: must be controller or signal"
}

@test "--check-config names a bad environment override by its variable" {
    : >"$CFG"
    ALERTGW_DEDUP_TTL=forever run "$BIN" --check-config "$CFG"
    assert_failure 1
    assert_output --partial "ALERTGW_DEDUP_TTL"
}

@test "a worker with a broken config refuses to start and says why" {
    printf 'redis:\n  addr: [1, 2]\n' >"$CFG"
    ALERTGW_CONFIG=$CFG run "$BIN" </dev/null
    assert_failure 1
    assert_output --partial "redis.addr: line 2: must be a string"
}

@test "without a FastCGI socket it is a CGI program: one request, CGI headers" {
    REQUEST_METHOD=GET REQUEST_URI=/healthz ALERTGW_KUBERNETES_API_URL=http://127.0.0.1:1 \
        ALERTGW_CONFIG= run --separate-stderr "$BIN" </dev/null
    assert_success
    assert_line --index 0 --partial "Status: 200 OK"
    assert_output --partial "X-Request-ID: "
    assert_output --partial '{"status":"ok"}'
}

@test "CGI mode maps a wrong method to 405 with Allow and a problem body" {
    REQUEST_METHOD=PUT REQUEST_URI=/api/v1/signals/prometheus \
        ALERTGW_KUBERNETES_API_URL=http://127.0.0.1:1 ALERTGW_CONFIG= run --separate-stderr "$BIN" </dev/null
    assert_success
    assert_line --index 0 --partial "Status: 405 Method Not Allowed"
    assert_output --partial "Allow: POST"
    assert_output --partial '"type":"https://kubernaut.ai/problems/method-not-allowed"'
}

@test "docs/configuration.md lists exactly the keys the parser knows" {
    run "$BIN" --config-reference
    assert_success
    local want got
    want=$(grep '^| ' <<<"$output")
    got=$(grep '^| ' "$GW_ROOT/docs/configuration.md" | sed -n '/^| key | environment /,/^[^|]/p')
    assert_equal "$got" "$want"
}

## --- who may send: the listen address and anonymous signal routes ------------

@test "--check-config refuses a non-loopback listen address with signal routes at auth none" {
    : >"$CFG"
    ALERTGW_LISTEN_ADDR=0.0.0.0 run "$BIN" --check-config "$CFG"
    assert_failure 1
    # every open signal route is named, and how to fix it is said
    assert_output --partial "auth.prometheus"
    assert_output --partial "auth.grafana"
    assert_output --partial "auth.events"
    assert_output --partial "0.0.0.0"
    assert_output --partial "bearer"
    assert_output --partial "auth.allow_anonymous: true"
    refute_output --partial "auth.signals"
    refute_output --partial "auth.metrics"
    # only the routes still open are named
    printf 'auth:\n  prometheus: bearer\n  bearer_tokens: %s\n' "$(printf %064d 1)" >"$CFG"
    ALERTGW_LISTEN_ADDR=0.0.0.0 run "$BIN" --check-config "$CFG"
    assert_failure 1
    assert_output --partial "auth.events"
    refute_output --partial "auth.prometheus"
    # a worker starting with that environment refuses too (same check)
    : >"$CFG"
    ALERTGW_LISTEN_ADDR=0.0.0.0 ALERTGW_CONFIG=$CFG REQUEST_METHOD=GET REQUEST_URI=/healthz \
        run "$BIN" </dev/null
    assert_failure 1
    assert_output --partial "auth.allow_anonymous"
    refute_output --partial "Status: 200"
}

@test "--check-config accepts a non-loopback listen address when every signal route authenticates" {
    local hash
    hash=$(printf %s "secret-token" | sha256sum | cut -d' ' -f1)
    cat >"$CFG" <<YAML
auth:
  prometheus: bearer
  grafana: bearer
  events: tokenreview,bearer
  bearer_tokens: $hash
YAML
    ALERTGW_LISTEN_ADDR=0.0.0.0 run "$BIN" --check-config "$CFG"
    assert_success
    assert_output --partial "configuration OK"
    # Grafana's default (empty) is hmac once grafana.secret_files is set
    printf 'auth:\n  prometheus: bearer\n  events: bearer\n  bearer_tokens: %s\ngrafana:\n  secret_files: %s\n' \
        "$hash" "$CFG.key" >"$CFG"
    printf 'k3y\n' >"$CFG.key"
    ALERTGW_LISTEN_ADDR=:: run "$BIN" --check-config "$CFG"
    rm -f "$CFG.key"
    assert_success
}

@test "--check-config accepts anonymous signal routes on a public address with auth.allow_anonymous: true" {
    printf 'auth:\n  allow_anonymous: true\n' >"$CFG"
    ALERTGW_LISTEN_ADDR=0.0.0.0 run "$BIN" --check-config "$CFG"
    assert_success
    : >"$CFG"
    ALERTGW_LISTEN_ADDR=0.0.0.0 ALERTGW_AUTH_ALLOW_ANONYMOUS=true run "$BIN" --check-config "$CFG"
    assert_success
}

@test "--check-config accepts auth none on loopback only: 127.0.0.0/8, ::1, localhost, unset" {
    local a
    : >"$CFG"
    for a in 127.0.0.1 127.1.2.3 ::1 '[::1]' localhost ''; do
        ALERTGW_LISTEN_ADDR=$a run "$BIN" --check-config "$CFG"
        assert_success
    done
    run env -u ALERTGW_LISTEN_ADDR "$BIN" --check-config "$CFG"
    assert_success
    # only literal loopback counts: a name that starts with 127. does not
    for a in 127.evil.example 127.0.0.1.nip.io 10.0.0.1 :: ::ffff:127.0.0.1 gateway.example; do
        ALERTGW_LISTEN_ADDR=$a run "$BIN" --check-config "$CFG"
        assert_failure 1
        assert_output --partial "auth.prometheus"
    done
}

## --- secrets are read whole or refused ---------------------------------------

@test "an over-long secret file is a configuration error naming the key and the file" {
    local key=$CFG.secret
    head -c 4097 /dev/zero | tr '\0' x >"$key"
    # Redis AUTH password
    printf 'redis:\n  password_file: %s\n' "$key" >"$CFG"
    run "$BIN" --check-config "$CFG"
    assert_failure 1
    assert_output --partial "redis.password_file"
    assert_output --partial "$key"
    assert_output --partial "4096"
    # the hmac mode's secrets
    printf 'auth:\n  prometheus: hmac\n  hmac_secret_files: %s\n' "$key" >"$CFG"
    run "$BIN" --check-config "$CFG"
    assert_failure 1
    assert_output --partial "auth.hmac_secret_files"
    assert_output --partial "$key"
    # Grafana's, given by the environment
    : >"$CFG"
    ALERTGW_GRAFANA_SECRET_FILES=$key run "$BIN" --check-config "$CFG"
    assert_failure 1
    assert_output --partial "grafana.secret_files"
    # a worker refuses to start with it (not a shortened secret)
    printf 'redis:\n  password_file: %s\n' "$key" >"$CFG"
    ALERTGW_CONFIG=$CFG ALERTGW_KUBERNETES_API_URL=http://127.0.0.1:1 REQUEST_METHOD=GET \
        REQUEST_URI=/healthz run "$BIN" </dev/null
    assert_failure 1
    assert_output --partial "redis.password_file"
    refute_output --partial "Status: 200"
    printf 'auth:\n  prometheus: hmac\n  hmac_secret_files: %s\n' "$key" >"$CFG"
    ALERTGW_CONFIG=$CFG ALERTGW_KUBERNETES_API_URL=http://127.0.0.1:1 REQUEST_METHOD=GET \
        REQUEST_URI=/healthz run "$BIN" </dev/null
    assert_failure 1
    assert_output --partial "auth.hmac_secret_files"
    # 4096 bytes and a newline are fine
    head -c 4096 /dev/zero | tr '\0' x >"$key"
    echo >>"$key"
    printf 'redis:\n  password_file: %s\nauth:\n  prometheus: hmac\n  hmac_secret_files: %s\n' \
        "$key" "$key" >"$CFG"
    run "$BIN" --check-config "$CFG"
    assert_success
    rm -f "$key"
}

@test "--check-config warns about a secret file it cannot read, and stays OK" {
    printf 'redis:\n  password_file: %s\n' "$CFG.missing" >"$CFG"
    run --separate-stderr "$BIN" --check-config "$CFG"
    assert_success
    assert_output --partial "configuration OK"
    [[ $stderr == *"redis.password_file"*"$CFG.missing"* ]] || fail "no warning on stderr: $stderr"
}

## --- ALERTGW_* variables: a key, a front-end parameter, or an error -----------

@test "a misspelt ALERTGW_* variable is an error that names it and suggests the key" {
    : >"$CFG"
    ALERTGW_REDIS_ADRR=127.0.0.1:6380 run "$BIN" --check-config "$CFG"
    assert_failure 1
    assert_output --partial "ALERTGW_REDIS_ADRR"
    assert_output --partial "ALERTGW_REDIS_ADDR"
    # a misspelt front-end parameter is caught too
    ALERTGW_LISTEN_ADDRESS=0.0.0.0 run "$BIN" --check-config "$CFG"
    assert_failure 1
    assert_output --partial "ALERTGW_LISTEN_ADDR"
    # nothing close: no suggestion, still an error
    ALERTGW_WHATEVER_THIS_IS=1 run "$BIN" --check-config "$CFG"
    assert_failure 1
    assert_output --partial "ALERTGW_WHATEVER_THIS_IS"
    refute_output --partial "did you mean"
    # and a worker does not start with it
    ALERTGW_REDIS_ADRR=127.0.0.1:6380 ALERTGW_CONFIG=$CFG REQUEST_METHOD=GET REQUEST_URI=/healthz \
        run "$BIN" </dev/null
    assert_failure 1
    assert_output --partial "ALERTGW_REDIS_ADRR"
}

@test "the front ends' own ALERTGW_* parameters are accepted" {
    : >"$CFG"
    run env ALERTGW_CONFIG="$CFG" ALERTGW_LISTEN_ADDR=127.0.0.1 ALERTGW_LISTEN_PORT=8080 \
        ALERTGW_STATE_DIR=/tmp ALERTGW_FCGI_BIN=/usr/bin/alertgw-fcgi ALERTGW_WORKERS=4 \
        ALERTGW_MAX_REQUEST_KB=4096 ALERTGW_FCGI_SOCKET=/run/alertgw/alertgw.sock \
        ALERTGW_TLS_CERT=/x.pem ALERTGW_TLS_KEY=/x.key ALERTGW_TLS_CLIENT_CA=/ca.pem \
        ALERTGW_RATE_LIMIT_RPS=5 ALERTGW_RATE_LIMIT_BURST=10 ALERTGW_RATE_LIMIT_STATUS=429 \
        ALERTGW_RATE_LIMIT_MAX_CLIENTS=100 ALERTGW_LIGHTTPD_CONF=/x.conf \
        ALERTGW_CACHE=/var/cache/alertgw ALERTGW_LOCAL_DIR=/tmp ALERTGW_SKIP_INSTALL=1 \
        "$BIN" --check-config "$CFG"
    assert_success
    assert_output --partial "configuration OK"
}

@test "every ALERTGW_* name the repository's scripts and tests pass is a key or a front-end parameter" {
    local name names bad=()
    : >"$CFG"
    # every ALERTGW_ name set as NAME=... or read as ${NAME...} in the front
    # ends, the deploy scripts, the bench and the tests (but this file, whose
    # misspelt names are meant)
    names=$(grep -rhoE --exclude=t5100-cli.bats 'ALERTGW_[A-Z0-9_]*[A-Z0-9](=|:-|\})' \
                "$GW_ROOT/lighttpd.conf" "$GW_ROOT"/*.lua \
                "$GW_ROOT/deploy" "$GW_ROOT/shell-tests" "$GW_ROOT/bench" 2>/dev/null |
            sed -E 's/(=|:-|\})$//' | sort -u)
    [[ -n $names ]] || fail "no names found"
    for name in $names; do
        case $name in
            # Apache Defines (never in a worker's environment) and Grafana's own
            ALERTGW_IO_TIMEOUT|ALERTGW_LOG_DIR|ALERTGW_MAX_REQUEST_BYTES) continue ;;
            ALERTGW_GRAFANA_HMAC_SECRET) continue ;;
            # a request variable lighttpd-ratelimit.lua sets (a FastCGI
            # parameter of one request, not the process environment)
            ALERTGW_RATE_COUNTED) continue ;;
        esac
        env "$name=x" "$BIN" --check-config "$CFG" 2>&1 | grep -q "$name: unknown" && bad+=("$name")
    done
    (( ${#bad[@]} == 0 )) || fail "unknown to the worker: ${bad[*]}"
}

## --- the process and the binary ----------------------------------------------

# _worker_up PID: PID is the alertgw-fcgi worker (spawn-fcgi -n execs it).
_worker_up() { [[ $(cat "/proc/$1/comm" 2>/dev/null) == alertgw-fcgi ]]; }

@test "a running worker is not dumpable: no core file, its /proc files belong to root" {
    command -v spawn-fcgi >/dev/null || fail "spawn-fcgi not installed (deploy/install-deps.sh)"
    local pid uid owner as=()
    DUMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/alertgw-dump.XXXXXX")
    chmod 0755 "$DUMP_DIR"
    # The kernel hands /proc/PID of a non-dumpable process to root.  That is
    # only visible for a worker that does not run as root: as root, the
    # worker runs as nobody (spawn-fcgi -u), from a copy of the binary that
    # user can execute.
    cp "$BIN" "$DUMP_DIR/alertgw-fcgi"
    chmod 0755 "$DUMP_DIR/alertgw-fcgi"
    if (( EUID == 0 )); then
        as=(-u nobody -g nogroup)
    fi
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TZ=UTC ALERTGW_CONFIG= \
        ALERTGW_METRICS_PATH="$DUMP_DIR/metrics.shm" ALERTGW_KUBERNETES_API_URL=http://127.0.0.1:1 \
        ${ASAN_OPTIONS:+"ASAN_OPTIONS=$ASAN_OPTIONS"} ${UBSAN_OPTIONS:+"UBSAN_OPTIONS=$UBSAN_OPTIONS"} \
        spawn-fcgi -n -s "$DUMP_DIR/sock" "${as[@]}" -- "$DUMP_DIR/alertgw-fcgi" \
        >"$DUMP_DIR/stderr.log" 2>&1 3>&- &
    pid=$!
    echo "$pid" >"$DUMP_DIR/pid"
    gw_wait_for 10 _worker_up "$pid" || fail "no worker: $(cat "$DUMP_DIR/stderr.log")"
    # past start-up: the worker waits for connections
    gw_wait_for 10 grep -qE '^State:[[:space:]]+S' "/proc/$pid/status" || fail "worker not idle"
    uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
    (( uid != 0 )) || fail "the worker runs as root; the test cannot tell"
    owner=$(stat -c %u "/proc/$pid/status")
    assert_equal "$owner" 0
    owner=$(stat -c %u "/proc/$pid/environ")
    assert_equal "$owner" 0
}

@test "the plain binary is hardened: PIE, full RELRO, stack protector, fortified calls" {
    local bin=${GW_PLAIN_FCGI_BIN:-}
    if [[ -z $bin ]]; then
        # GW_FCGI_BIN, unless it is a sanitizer build (deploy/test-all.sh
        # passes the plain one as GW_PLAIN_FCGI_BIN then)
        if readelf --dyn-syms -W "$BIN" | grep -q '__asan_init'; then
            skip "$BIN is an ASan build; set GW_PLAIN_FCGI_BIN to the plain build"
        fi
        bin=$BIN
    fi
    [[ -x $bin ]] || fail "plain worker binary $bin not built"
    run readelf -hW "$bin"
    assert_success
    assert_line --regexp '^ *Type: +DYN '
    run readelf -lW "$bin"
    assert_success
    assert_line --regexp '^ *GNU_RELRO '
    run readelf -dW "$bin"
    assert_success
    assert_line --regexp '\((FLAGS|FLAGS_1)\) .*(BIND_NOW|NOW)'
    run readelf --dyn-syms -W "$bin"
    assert_success
    assert_line --regexp ' UND __stack_chk_fail'
    assert_line --regexp ' UND __[a-z_]+_chk(@|$)'
}

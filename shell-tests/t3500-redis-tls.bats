#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t3500-redis-tls: Redis with TLS and a password, through the documented
# stunnel client (docs/security.md "Dependencies failing").  hiredis 0.14 in
# Debian 12 has no TLS, so the worker speaks plain RESP to the loopback end
# of an stunnel client, which speaks TLS (server certificate checked against
# a private CA and the address 127.0.0.1, client certificate presented) to a
# redis-server that listens on a TLS port only and requires the password.
# Real processes: openssl-made CA and certificates in $GW_TMP, redis-server
# from a redis.conf with port 0 and a tls-port, stunnel in the foreground,
# lighttpd + workers.
#
# The redis.conf TLS lines and the stunnel.conf written below are the ones
# docs/security.md quotes; keep them in step.

load helpers

export BATS_TEST_TIMEOUT=60

# Passwords that appear nowhere else, so a grep for them in the logs means
# something (constants: bats loads this file again for every test).
REDIS_PW=tls-redis-pw-5e1c08b7d2
WRONG_PW=wrong-redis-pw-93af61c4e0

ROUTE=/api/v1/signals/prometheus

# _certs DIR: a CA, a server certificate for IP 127.0.0.1 and a client
# certificate, all signed by that CA; and a second, unrelated CA.
_certs() {
    local d=$1
    (
        set -e
        cd "$d"
        _ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=alertgw-test-redis-ca \
            -keyout ca.key -out ca.crt
        _ossl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr
        printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
        _ossl x509 -req -days 2 -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -extfile server.ext -out server.crt
        _ossl req -newkey rsa:2048 -nodes -subj /CN=alertgw -keyout client.key -out client.csr
        printf 'extendedKeyUsage=clientAuth\n' >client.ext
        _ossl x509 -req -days 2 -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -extfile client.ext -out client.crt
        _ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=some-other-ca \
            -keyout other-ca.key -out other-ca.crt
        chmod 600 ./*.key
    )
}
_ossl() { openssl "$@" 2>>openssl.out; }

# _stunnel NAME ACCEPT_PORT CAFILE: an stunnel client in the foreground,
# 127.0.0.1:ACCEPT_PORT -> the TLS port; PID in $GW_TMP/tls/NAME.pid, log
# in $GW_TMP/tls/NAME.log.  Waits (bounded) until the port accepts.
_stunnel() {
    local name=$1 port=$2 ca=$3 d="$GW_TMP/tls"
    cat >"$d/$name.conf" <<EOF
foreground = yes
pid =
debug = notice

[redis]
client = yes
accept = 127.0.0.1:$port
connect = 127.0.0.1:$(<"$d/tls-port")
sslVersionMin = TLSv1.2
verifyChain = yes
CAfile = $ca
checkIP = 127.0.0.1
cert = $d/client.crt
key = $d/client.key
EOF
    stunnel "$d/$name.conf" >"$d/$name.log" 2>&1 3>&- &
    echo $! >"$d/$name.pid"
    gw_wait_for 10 _port_open "$port" || {
        echo "stunnel $name did not listen on $port within 10 s:" >&2
        tail -n 20 "$d/$name.log" >&2
        return 1
    }
}
_port_open() { (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# redis-cli over TLS straight to redis-server (not through the tunnel).
_tls_cli() {
    local d="$GW_TMP/tls"
    timeout 10 redis-cli --tls --cacert "$d/ca.crt" --cert "$d/client.crt" --key "$d/client.key" \
        -h 127.0.0.1 -p "$(<"$d/tls-port")" -a "$REDIS_PW" --no-auth-warning "$@"
}
_tls_ping() { [[ $(_tls_cli ping 2>/dev/null) == PONG ]]; }

# _start_tls_redis: redis-server with $GW_TMP/tls/redis.conf; waits (bounded)
# for a PING over TLS.
_start_tls_redis() {
    local d="$GW_TMP/tls"
    redis-server "$d/redis.conf" --daemonize no >/dev/null 2>&1 3>&- &
    echo $! >"$d/redis.pid"
    if ! gw_wait_for 10 _tls_ping; then
        echo "TLS redis-server did not answer PING within 10 s:" >&2
        tail -n 20 "$d/redis.log" >&2
        return 1
    fi
}

setup_file() {
    GW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/alertgw-bats.XXXXXX")
    export GW_TMP
    local d="$GW_TMP/tls" tls_port tunnel_port
    command -v stunnel >/dev/null || { echo "stunnel missing: apt-get install stunnel4" >&2; return 1; }
    mkdir -p "$d"
    _certs "$d" || { cat "$d/openssl.out" >&2; return 1; }

    tls_port=$(gw_free_port) || return 1
    echo "$tls_port" >"$d/tls-port"
    # The TLS lines of redis.conf as docs/security.md gives them; the rest
    # keeps the test instance private and without persistence.
    cat >"$d/redis.conf" <<EOF
port 0
tls-port $tls_port
tls-cert-file $d/server.crt
tls-key-file $d/server.key
tls-ca-cert-file $d/ca.crt
tls-auth-clients yes
requirepass $REDIS_PW

bind 127.0.0.1
save ""
appendonly no
dir $d
logfile $d/redis.log
EOF
    chmod 600 "$d/redis.conf"
    _start_tls_redis || return 1

    # a free port can be taken by another process before stunnel binds it
    # (seen in CI): try three
    local attempt
    for attempt in 1 2 3; do
        tunnel_port=$(gw_free_port) || return 1
        echo "$tunnel_port" >"$d/tunnel-port"
        _stunnel stunnel "$tunnel_port" "$d/ca.crt" && break
        gw_kill_pid "$(<"$d/stunnel.pid")" 2 || true
        (( attempt < 3 )) || return 1
        echo "# stunnel could not bind $tunnel_port (attempt $attempt); another port" >&3
    done

    printf '%s\n' "$REDIS_PW" >"$d/redis.pw"
    printf '%s\n' "$WRONG_PW" >"$d/wrong.pw"
    chmod 600 "$d"/*.pw
    gw_start_kube || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod || return 1
    gw_start_lighttpd ALERTGW_REDIS_ADDR="127.0.0.1:$tunnel_port" \
        ALERTGW_REDIS_PASSWORD_FILE="$d/redis.pw" || return 1
}

teardown_file() { gw_teardown_stack "$GW_TMP/tls"; }

teardown() {
    if [[ -z ${BATS_TEST_COMPLETED:-} ]]; then
        gw_dump_logs
        tail -n 15 "$GW_TMP"/tls/*.log
    fi
}

@test "through the tunnel: /readyz ready, an alert creates one request (201), a repeat is counted (202)" {
    local name fp body rr
    gw_wait_for 15 gw_readyz_200 || fail "/readyz not 200 within 15 s: $HTTP_STATUS $HTTP_BODY"
    assert_equal "$(gw_body_jq .redis)" ok

    name=$(gw_uniq tls)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body RedisTlsTest deployment="$name" namespace=prod severity=critical)
    echo "$fp" >"$GW_TMP/tls/fp"

    gw_post_alert "$body"
    assert_status 201
    assert_equal "$(gw_body_jq .status)" created
    rr=$(gw_body_jq .remediationRequestName)
    assert_equal "$(kube_rr_count "$fp")" 1

    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(gw_body_jq .status)" duplicate
    assert_equal "$(gw_body_jq .metadata.count)" 2
    assert_equal "$(gw_body_jq .metadata.remediationRequestRef)" "$GW_RR_NAMESPACE/$rr"
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "the gateway's keys are in the TLS-only redis (redis-cli --tls with the password)" {
    local fp
    fp=$(<"$GW_TMP/tls/fp")
    run _tls_cli --scan --pattern 'alertgw:*'
    assert_success
    assert_line "alertgw:fp:$fp"
    run _tls_cli hget "alertgw:fp:$fp" count
    assert_success
    assert_output 2
}

@test "nothing in clear: plaintext to the TLS port and TLS without a client certificate are refused" {
    local d="$GW_TMP/tls" port before
    port=$(<"$d/tls-port")
    before=$(grep -c 'wrong version number' "$d/redis.log" || true)

    run timeout 10 redis-cli -h 127.0.0.1 -p "$port" -a "$REDIS_PW" --no-auth-warning ping
    assert_failure
    refute_output --partial PONG
    # redis-server saw a plaintext RESP command where a TLS handshake belongs
    gw_wait_for 5 _log_count_above "$d/redis.log" 'wrong version number' "$before" ||
        fail "redis.log has no new 'wrong version number' line"

    # tls-auth-clients yes: the right CA and password but no client certificate
    run timeout 10 redis-cli --tls --cacert "$d/ca.crt" -h 127.0.0.1 -p "$port" \
        -a "$REDIS_PW" --no-auth-warning ping
    assert_failure
    refute_output --partial PONG

    # and no plaintext port at all (port 0)
    run _tls_cli config get port
    assert_success
    assert_equal "${lines[1]}" 0
}
_log_count_above() { (( $(grep -c "$2" "$1" || true) > $3 )); }

@test "a tunnel that does not trust the server's CA forwards nothing" {
    local d="$GW_TMP/tls" port
    port=$(gw_free_port)
    _stunnel rogue "$port" "$d/other-ca.crt"
    run timeout 10 redis-cli -h 127.0.0.1 -p "$port" -a "$REDIS_PW" --no-auth-warning ping
    refute_output --partial PONG
    gw_wait_for 5 grep -q 'Rejected by CERT at depth=1: CN=alertgw-test-redis-ca' "$d/rogue.log" ||
        fail "stunnel did not log a failed certificate check: $(tail -n 5 "$d/rogue.log")"
    gw_kill_pid "$(<"$d/rogue.pid")" 10
    rm -f "$d/rogue.pid"
}

@test "wrong password file: webhook 503, /readyz reports Redis down, the password is never logged" {
    local d="$GW_TMP/tls" name body logs
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_REDIS_ADDR="127.0.0.1:$(<"$d/tunnel-port")" \
        ALERTGW_REDIS_PASSWORD_FILE="$d/wrong.pw"

    name=$(gw_uniq tlspw)
    body=$(am_body RedisTlsWrongPw deployment="$name" namespace=prod severity=critical)
    gw_post_alert "$body"
    assert_problem 503 service-unavailable "$ROUTE"
    assert_equal "$(gw_body_jq .detail)" "Redis unavailable: the signal was not recorded; retry later"
    [[ $(gw_header Retry-After) =~ ^[0-9]+$ ]] || fail "503 without Retry-After: $HTTP_HEADERS"
    assert_equal "$(kube_rr_count "$(fp_of "prod:Deployment:$name")")" 0

    gw_request GET /readyz
    assert_problem 503 service-unavailable /readyz
    assert_equal "$(gw_body_jq .detail)" "redis not reachable (cause in the worker log)"
    gw_request GET /metrics
    assert_status 200
    grep -qx 'gateway_redis_up 0' <<<"$HTTP_BODY" ||
        fail "gateway_redis_up is not 0: $(grep redis_up <<<"$HTTP_BODY")"

    # the worker log names the cause (Redis's own WRONGPASS) but no password
    logs="$GW_TMP/lighttpd/stderr.log"
    gw_wait_for 5 grep -q 'readyz: redis: AUTH to 127.0.0.1:[0-9]* failed: WRONGPASS' "$logs" ||
        fail "no 'readyz: redis: AUTH ... WRONGPASS' line in $logs: $(tail -n 5 "$logs")"
    run grep -F -l -e "$WRONG_PW" -e "$REDIS_PW" "$logs" "$GW_TMP/lighttpd/error.log"
    assert_failure 1
    assert_output ''
}

@test "TLS redis stopped behind the tunnel: fast 503, then 201 once it is back" {
    local d="$GW_TMP/tls" name fp body t0 deadline
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_REDIS_ADDR="127.0.0.1:$(<"$d/tunnel-port")" \
        ALERTGW_REDIS_PASSWORD_FILE="$d/redis.pw"
    name=$(gw_uniq tlsdown)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body RedisTlsDown deployment="$name" namespace=prod severity=critical)

    gw_kill_pid "$(<"$d/redis.pid")" 10
    rm -f "$d/redis.pid"
    t0=$SECONDS
    gw_post_alert "$body"
    assert_problem 503 service-unavailable "$ROUTE"
    (( SECONDS - t0 <= 3 )) || fail "503 took $(( SECONDS - t0 )) s"
    assert_equal "$(kube_rr_count "$fp")" 0
    # the tunnel accepts, cannot reach Redis and closes: the worker sees the
    # connection closed (or, on a new one, its AUTH unanswered, with no words
    # from Redis); the stunnel log has the cause
    grep -Eq 'redis: (127\.0\.0\.1:[0-9]+: Server closed the connection|AUTH to 127\.0\.0\.1:[0-9]+ failed)"' \
        "$GW_TMP/lighttpd/stderr.log" ||
        fail "no 'closed' / bare 'AUTH failed' line: $(tail -n 3 "$GW_TMP/lighttpd/stderr.log")"
    grep -q 's_connect: connect 127.0.0.1:[0-9]*: Connection refused' "$d/stunnel.log" ||
        fail "stunnel logged no refused connect"

    _start_tls_redis || fail "TLS redis did not come back"
    deadline=$(( SECONDS + 15 ))
    while gw_post_alert "$body" && [[ $HTTP_STATUS == 503 ]] && (( SECONDS < deadline )); do
        sleep 0.5
    done
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1
}

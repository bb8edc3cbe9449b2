#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t3200-edge: what lighttpd.conf does before a request reaches a worker,
# against the real stack: TLS (1.2 and 1.3 only, forward-secret AEAD
# ciphers), optional client certificates that reach the worker as
# SSL_CLIENT_VERIFY / SSL_CLIENT_S_DN_CN (and, end to end, the worker's
# "mtls" auth mode deciding on them), the security headers on every
# answer, the per-client-address token bucket (lighttpd-ratelimit.lua) and
# the idle timeout for slow clients.
#
# lighttpd is restarted with other parameters between groups of tests
# (edge_mode); every test names the mode it needs, so each one also runs
# alone (bats -f).  Certificates are made with openssl in $GW_TMP/tls.

load helpers

setup_file() {
    export GW_WORKERS=2
    gw_setup_stack || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod || return 1
    edge_make_certs || return 1
    export GW_CACERT="$GW_TMP/tls/ca.pem"
}
teardown_file() { gw_teardown_stack; }
teardown()      { gw_teardown_test; }

## --- tools -----------------------------------------------------------------

# edge_make_certs: a server CA and the gateway's certificate (127.0.0.1;
# server-chain.pem: followed by its CA, as lighttpd.conf wants it with a
# client CA), a client CA with two client certificates (CN
# alertmanager-edge and CN other-client), a client certificate with the CN
# alertmanager-edge issued by the server CA ("impostor": that CA is not in
# the client CA bundle), and a self-signed "rogue" client certificate no CA
# vouches for.  EC P-256.
edge_make_certs() {
    local d="$GW_TMP/tls"
    mkdir -p "$d"
    (
        cd "$d" || exit 1
        set -e
        key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
        ca() {
            key "$1.key"
            openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
        }
        leaf() { # NAME CN CA EXTENSIONS
            key "$1.key"
            openssl req -new -key "$1.key" -out "$1.csr" -subj "/O=alertgw tests/CN=$2" 2>/dev/null
            printf '%b' "$4" >"$1.ext"
            openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
                -out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
        }
        ca ca alertgw-edge-test-ca
        leaf server localhost ca 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
        cat server.pem ca.pem >server-chain.pem
        ca client-ca alertgw-edge-client-ca
        leaf client alertmanager-edge client-ca 'extendedKeyUsage=clientAuth\n'
        leaf other other-client client-ca 'extendedKeyUsage=clientAuth\n'
        # the allowed CN, but issued by the server CA, which lighttpd does
        # not trust for clients
        leaf impostor alertmanager-edge ca 'extendedKeyUsage=clientAuth\n'
        ca rogue rogue-client
    )
}

# edge_mode NAME [NAME=VALUE...]: lighttpd runs with these parameters
# (restarted unless the last edge_mode had the same NAME); sets GW_URL.
edge_mode() {
    local name=$1; shift
    if [[ $(cat "$GW_TMP/edge-mode" 2>/dev/null) != "$name" ]]; then
        rm -f "$GW_TMP/edge-mode"
        gw_stop_lighttpd
        gw_start_lighttpd "$@" || return 1
        printf '%s\n' "$GW_URL" >"$GW_TMP/edge-url"
        echo "$name" >"$GW_TMP/edge-mode"
    fi
    GW_URL=$(<"$GW_TMP/edge-url")
    export GW_URL
}

edge_tls() {
    edge_mode tls ALERTGW_TLS_CERT="$GW_TMP/tls/server-chain.pem" \
        ALERTGW_TLS_KEY="$GW_TMP/tls/server.key" \
        ALERTGW_TLS_CLIENT_CA="$GW_TMP/tls/client-ca.pem"
}

# tls_probe ARGS...: one TLS handshake with openssl s_client (no request);
# sets output, status.  OPENSSL_CONF=/dev/null drops Debian's client-side
# floor (TLS 1.2, SECLEVEL 2) so the client really offers what it is told,
# and the refusal, if any, is the server's.
tls_probe() {
    run env OPENSSL_CONF=/dev/null timeout 15 openssl s_client \
        -connect "${GW_URL#https://}" -servername localhost \
        -CAfile "$GW_CACERT" -verify_return_error "$@" </dev/null
}

# access_line RID: the access-log line of the request with this X-Request-ID
# (lighttpd writes it when the request is done; waits up to 5 s).
access_line() {
    gw_wait_for 5 grep -q " $1\$" "$GW_TMP/lighttpd/access.log" || return 1
    grep " $1\$" "$GW_TMP/lighttpd/access.log" | tail -n 1
}

# burst_codes N PATH [CURL ARGS...]: N GETs of PATH on one keep-alive
# connection (so they arrive within milliseconds); prints the statuses.
burst_codes() {
    local n=$1 path=$2 i urls=(); shift 2
    for (( i = 0; i < n; i++ )); do urls+=(-o /dev/null "$GW_URL$path"); done
    curl -s --max-time 30 ${GW_CACERT:+--cacert "$GW_CACERT"} \
        -w '%{http_code}\n' "$@" "${urls[@]}"
}

# assert_security_headers [hsts]: each security header exactly once in the
# last response, and Strict-Transport-Security only with "hsts".
assert_security_headers() {
    local h want
    for h in 'X-Content-Type-Options: nosniff' 'Cache-Control: no-store' \
             'X-Frame-Options: DENY' \
             "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'"; do
        assert_equal "$(grep -ci "^${h%%:*}:" <<<"$HTTP_HEADERS")" 1
        assert_equal "$(gw_header "${h%%:*}")" "${h#*: }"
    done
    want=0; [[ ${1:-} == hsts ]] && want=1
    assert_equal "$(grep -ci '^Strict-Transport-Security:' <<<"$HTTP_HEADERS")" "$want"
    if (( want )); then
        assert_equal "$(gw_header Strict-Transport-Security)" max-age=31536000
    fi
}

## --- start-up checks -------------------------------------------------------

# conf_check NAME=VALUE...: lighttpd -tt (parse, load modules and
# certificates, spawn nothing) with these parameters; sets output, status.
conf_check() {
    mkdir -p "$GW_TMP/conf-check"
    run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ALERTGW_STATE_DIR="$GW_TMP/conf-check" \
        ALERTGW_FCGI_BIN="${GW_FCGI_BIN:-$GW_ROOT/fcgi/alertgw-fcgi}" "$@" \
        lighttpd -tt -f "$GW_ROOT/lighttpd.conf"
}

@test "lighttpd.conf accepts good edge parameters and refuses bad ones at start-up, naming them" {
    local t="$GW_TMP/tls"
    conf_check ALERTGW_TLS_CERT="$t/server-chain.pem" ALERTGW_TLS_KEY="$t/server.key" \
        ALERTGW_TLS_CLIENT_CA="$t/client-ca.pem" ALERTGW_RATE_LIMIT_RPS=0.5 \
        ALERTGW_RATE_LIMIT_BURST=5 ALERTGW_RATE_LIMIT_STATUS=429 ALERTGW_RATE_LIMIT_MAX_CLIENTS=100
    assert_success
    conf_check ALERTGW_TLS_CERT="$t/server.pem" ALERTGW_TLS_KEY="$t/server.key"
    assert_success
    conf_check ALERTGW_RATE_LIMIT_RPS=fast
    assert_failure
    assert_output --partial "lighttpd.conf: ALERTGW_RATE_LIMIT_RPS must be a number >= 0: 'fast'"
    conf_check ALERTGW_RATE_LIMIT_RPS=5 ALERTGW_RATE_LIMIT_BURST=0
    assert_failure
    assert_output --partial 'lighttpd.conf: ALERTGW_RATE_LIMIT_BURST must be a whole number >= 1'
    conf_check ALERTGW_RATE_LIMIT_RPS=5 ALERTGW_RATE_LIMIT_STATUS=500
    assert_failure
    assert_output --partial 'lighttpd.conf: ALERTGW_RATE_LIMIT_STATUS must be 429 or 503'
    conf_check ALERTGW_TLS_CLIENT_CA="$t/client-ca.pem"
    assert_failure
    assert_output --partial 'lighttpd.conf: ALERTGW_TLS_KEY and ALERTGW_TLS_CLIENT_CA need ALERTGW_TLS_CERT'
    conf_check ALERTGW_TLS_CERT="$t/missing.pem"
    assert_failure
    assert_output --partial "lighttpd.conf: cannot read TLS file $t/missing.pem"
    # a lone server certificate with a client CA would fail every handshake
    conf_check ALERTGW_TLS_CERT="$t/server.pem" ALERTGW_TLS_KEY="$t/server.key" \
        ALERTGW_TLS_CLIENT_CA="$t/client-ca.pem"
    assert_failure
    assert_output --partial "lighttpd.conf: $t/server.pem holds only the server certificate"
}

## --- TLS -------------------------------------------------------------------

@test "without ALERTGW_TLS_CERT the port speaks plain HTTP and refuses a TLS handshake" {
    edge_mode plain
    assert_regex "$GW_URL" '^http://'
    gw_request GET /healthz
    assert_status 200
    run curl -sS --max-time 10 --cacert "$GW_CACERT" "https://${GW_URL#http://}/healthz"
    assert_failure
}

@test "TLS 1.2 and 1.3 are accepted, TLS 1.1 is refused by the server" {
    edge_tls
    assert_regex "$GW_URL" '^https://'
    tls_probe -tls1_3
    assert_success
    assert_line --regexp '^New, TLSv1\.3, Cipher is TLS_'
    assert_line --partial 'Verify return code: 0 (ok)'
    tls_probe -tls1_2
    assert_success
    assert_line --regexp '^New, TLSv1\.2, Cipher is ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$'
    # The client offers TLS 1.1 at security level 0; the server answers
    # with a protocol_version alert (70).
    tls_probe -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
    assert_failure
    assert_output --partial 'alert protocol version'
    run curl -sS --max-time 10 --cacert "$GW_CACERT" --tls-max 1.1 "$GW_URL/healthz"
    assert_failure
}

@test "TLS 1.2 without forward secrecy or with CBC ciphers is refused" {
    edge_tls
    local c
    for c in AES128-GCM-SHA256 AES256-SHA ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA384; do
        tls_probe -tls1_2 -cipher "$c:@SECLEVEL=0"
        assert_failure
        assert_output --partial 'alert handshake failure'
    done
}

@test "an alert posted over HTTPS creates its RemediationRequest" {
    edge_tls
    local name fp
    name=$(gw_uniq tls)
    fp=$(fp_of "prod:Deployment:$name")
    gw_post_alert "$(am_body EdgeTLSAlert deployment="$name" namespace=prod severity=critical)"
    assert_status 201
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "mutual TLS: the server asks for a client certificate and never refuses the handshake over it" {
    edge_tls
    tls_probe -tls1_3 -cert "$GW_TMP/tls/client.pem" -key "$GW_TMP/tls/client.key"
    assert_success
    assert_output --partial 'Acceptable client certificate CA names'
    assert_output --partial 'CN = alertgw-edge-client-ca'
    tls_probe -tls1_2
    assert_success
    tls_probe -tls1_3 -cert "$GW_TMP/tls/rogue.pem" -key "$GW_TMP/tls/rogue.key"
    assert_success
}

@test "mutual TLS: requests with, without and with an untrusted certificate reach the worker; only a verified CN is the remote user" {
    edge_tls
    local rid line
    # REMOTE_USER (the access log's third field) is copied by lighttpd from
    # SSL_CLIENT_S_DN_CN, and only when SSL_CLIENT_VERIFY is SUCCESS: the
    # same request environment is what the worker gets as FastCGI params.
    rid=edge-mtls-ok-$RANDOM
    gw_request GET /healthz -H "X-Request-ID: $rid" \
        --cert "$GW_TMP/tls/client.pem" --key "$GW_TMP/tls/client.key"
    assert_status 200
    assert_equal "$(gw_header X-Request-ID)" "$rid"
    line=$(access_line "$rid") || fail "no access-log line for $rid"
    assert_equal "$(cut -d' ' -f3 <<<"$line")" alertmanager-edge

    rid=edge-mtls-none-$RANDOM
    gw_request GET /healthz -H "X-Request-ID: $rid"
    assert_status 200
    line=$(access_line "$rid") || fail "no access-log line for $rid"
    assert_equal "$(cut -d' ' -f3 <<<"$line")" -

    rid=edge-mtls-rogue-$RANDOM
    gw_request GET /no/such/route -H "X-Request-ID: $rid" \
        --cert "$GW_TMP/tls/rogue.pem" --key "$GW_TMP/tls/rogue.key"
    assert_problem 404 not-found /no/such/route
    line=$(access_line "$rid") || fail "no access-log line for $rid"
    assert_equal "$(cut -d' ' -f3 <<<"$line")" -
}

## --- mutual TLS authentication (lighttpd + the worker's mtls mode) --------

# TLS with the client CA, and the worker admitting on the Alertmanager route
# only a verified client certificate with CN alertmanager-edge.
edge_mtls_auth() {
    edge_mode mtls-auth ALERTGW_TLS_CERT="$GW_TMP/tls/server-chain.pem" \
        ALERTGW_TLS_KEY="$GW_TMP/tls/server.key" \
        ALERTGW_TLS_CLIENT_CA="$GW_TMP/tls/client-ca.pem" \
        ALERTGW_AUTH_PROMETHEUS=mtls ALERTGW_AUTH_MTLS_ALLOWED_CNS=alertmanager-edge
}

# client_cert NAME: curl arguments presenting $GW_TMP/tls/NAME.pem.
client_cert() { printf '%s\n' --cert "$GW_TMP/tls/$1.pem" --key "$GW_TMP/tls/$1.key"; }

# auth_failures REASON: gateway_auth_failures_total{mode="mtls",reason=REASON}
# in a fresh scrape of /metrics (over HTTPS; that route needs no credential).
auth_failures() {
    local out="$GW_TMP/mtls-scrape"
    [[ $(curl -sS --max-time 10 --cacert "$GW_CACERT" -o "$out" -w '%{http_code}' \
        "$GW_URL/metrics") == 200 ]] || { echo "scrape failed"; return 1; }
    awk -v k="gateway_auth_failures_total{mode=\"mtls\",reason=\"$1\"}" \
        '$1 == k { print $2; found = 1 } END { if (!found) print "absent" }' "$out"
}

# security_event RID: the worker's security_event line for this request.
security_event() {
    gw_wait_for 5 grep -q "\"request_id\":\"$1\"" "$GW_TMP/lighttpd/stderr.log" || return 1
    grep "\"request_id\":\"$1\"" "$GW_TMP/lighttpd/stderr.log" | grep '"event":"security_event"'
}

@test "mutual TLS auth: a verified client certificate with an allowed CN creates the RemediationRequest" {
    edge_mtls_auth
    local name fp
    name=$(gw_uniq mtls-ok)
    fp=$(fp_of "prod:Deployment:$name")
    # shellcheck disable=SC2046
    gw_post_alert "$(am_body EdgeMTLSAlert deployment="$name" namespace=prod severity=critical)" \
        $(client_cert client)
    assert_status 201
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    assert_equal "$(kube_rr_count "$fp")" 1
    # the same certificate again: an occurrence of the same signal
    # shellcheck disable=SC2046
    gw_post_alert "$(am_body EdgeMTLSAlert deployment="$name" namespace=prod severity=critical)" \
        $(client_cert client)
    assert_status 202
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "mutual TLS auth: no certificate, an unverified one and a verified one with another CN are refused, counted and logged, and create nothing" {
    edge_mtls_auth
    local name fp body rid line case want status reason cert
    local -A before
    for reason in missing mismatch forbidden; do
        before[$reason]=$(auth_failures "$reason")
        [[ ${before[$reason]} =~ ^[0-9]+$ ]] ||
            fail "no series gateway_auth_failures_total{mode=\"mtls\",reason=\"$reason\"}: ${before[$reason]}"
    done
    name=$(gw_uniq mtls-refused)
    fp=$(fp_of "prod:Deployment:$name")
    body=$(am_body EdgeMTLSRefused deployment="$name" namespace=prod severity=critical)

    # CASE STATUS REASON CERT (none: no certificate)
    for case in 'none 401 missing -' 'rogue 401 mismatch rogue' \
                'impostor 401 mismatch impostor' 'other 403 forbidden other'; do
        read -r want status reason cert <<<"$case"
        rid=edge-mtls-$want-$RANDOM
        if [[ $cert == - ]]; then
            gw_post_alert "$body" -H "X-Request-ID: $rid"
        else
            # shellcheck disable=SC2046
            gw_post_alert "$body" -H "X-Request-ID: $rid" $(client_cert "$cert")
        fi
        assert_problem "$status" "$([[ $status == 401 ]] && echo unauthorized || echo forbidden)" \
            /api/v1/signals/prometheus
        assert_equal "$(gw_header X-Request-ID)" "$rid"
        line=$(security_event "$rid") || fail "no security_event line for the $want request ($rid)"
        assert_regex "$line" '"mode":"mtls","reason":"'"$reason"'","status":'"$status"
        assert_regex "$line" '"route":"prometheus"'
        case $want in
            none)     assert_equal "$(gw_body_jq .detail)" 'a verified TLS client certificate is required' ;;
            rogue|impostor)
                      assert_equal "$(gw_body_jq .detail)" 'TLS client certificate not verified'
                      # lighttpd's verdict reached the worker as SSL_CLIENT_VERIFY
                      assert_regex "$line" 'not verified \(FAILED:' ;;
            other)    assert_equal "$(gw_body_jq .detail)" \
                          'TLS client certificate CN "other-client" is not allowed on this route'
                      assert_regex "$line" '"principal":"cn:other-client"' ;;
        esac
    done
    assert_equal "$(kube_rr_count "$fp")" 0
    gw_redis_cli --scan --pattern "*$fp*" >"$GW_TMP/mtls-keys"
    [[ ! -s $GW_TMP/mtls-keys ]] || fail "a refused alert left Redis keys: $(head -n 3 "$GW_TMP/mtls-keys")"

    assert_equal "$(( $(auth_failures missing) - ${before[missing]} ))" 1
    assert_equal "$(( $(auth_failures mismatch) - ${before[mismatch]} ))" 2
    assert_equal "$(( $(auth_failures forbidden) - ${before[forbidden]} ))" 1

    # and the allowed certificate still gets through for the same alert
    # shellcheck disable=SC2046
    gw_post_alert "$body" $(client_cert client)
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1
    # (which does leave keys: the check above can fail)
    [[ -n $(gw_redis_cli --scan --pattern "*$fp*") ]] || fail "no Redis key names the fingerprint"
}

## --- security headers ------------------------------------------------------

@test "security headers, once each, on a 2xx and on a worker 4xx; HSTS over TLS" {
    edge_tls
    gw_request GET /healthz
    assert_status 200
    assert_security_headers hsts
    gw_request GET /no/such/route
    assert_problem 404 not-found /no/such/route
    assert_security_headers hsts
    gw_post_alert '{"not": "a webhook"'
    assert_status 400
    assert_security_headers hsts
}

@test "security headers over plain HTTP, without HSTS, also on lighttpd's own errors" {
    edge_mode plain
    gw_request GET /healthz
    assert_status 200
    assert_security_headers
    gw_request GET /no/such/route
    assert_problem 404 not-found /no/such/route
    assert_security_headers
    # a request header block over server.max-request-field-size: lighttpd's
    # 431, re-dispatched to the worker
    gw_request GET /healthz -H "X-Padding: $(head -c 9000 /dev/zero | tr '\0' a)"
    [[ $HTTP_STATUS == 4* ]] || fail "an oversized header block got $HTTP_STATUS"
    assert_security_headers
}

## --- rate limit ------------------------------------------------------------

edge_rl() { # [STATUS]: 1 request/s per client, burst 3
    edge_mode "rl${1:-}" ALERTGW_RATE_LIMIT_RPS=1 ALERTGW_RATE_LIMIT_BURST=3 \
        ${1:+ALERTGW_RATE_LIMIT_STATUS=$1} ALERTGW_MAX_REQUEST_KB=1
}

@test "rate limit: a burst over the limit gets 503 + Retry-After with a problem body, then the client is served again" {
    edge_rl
    local codes retry
    codes=$(burst_codes 8 /no/such/route | tr '\n' ' ')
    # burst 3: the first three reach the worker (404), the rest are refused
    # (the 8 requests take a few ms: less than one token comes back)
    assert_regex "$codes" '^404 404 404 503 503 503 503 503 $'
    gw_request GET /no/such/route -H 'X-Request-ID: edge-rl-refused'
    assert_problem 503 service-unavailable /no/such/route
    assert_equal "$(gw_header X-Request-ID)" edge-rl-refused
    assert_regex "$(gw_body_jq .detail)" 'rate limit exceeded'
    retry=$(gw_header Retry-After)
    assert_regex "$retry" '^[1-9][0-9]*$'
    (( retry <= 1 )) || fail "Retry-After $retry at 1 request/s"
    assert_security_headers
    # a refused request never reached a worker: no worker log line for it
    ! grep -q '"request_id":"edge-rl-refused"' "$GW_TMP/lighttpd/stderr.log" ||
        fail "the refused request reached a worker"
    sleep "$retry.2"
    gw_request GET /no/such/route -H 'X-Request-ID: edge-rl-served'
    assert_problem 404 not-found /no/such/route
    # (and the worker does log the requests it serves)
    gw_wait_for 5 grep -q '"request_id":"edge-rl-served"' "$GW_TMP/lighttpd/stderr.log" ||
        fail "no worker log line for a served request"
}

@test "rate limit: /healthz and /readyz are not limited, and other client addresses have their own bucket" {
    # one token per 10 s: the ten probes below cannot refill the bucket
    # however slowly they run (the sanitizer build, a loaded machine)
    edge_mode rl-health ALERTGW_RATE_LIMIT_RPS=0.1 ALERTGW_RATE_LIMIT_BURST=3
    burst_codes 6 /no/such/route >/dev/null
    run burst_codes 5 /healthz
    assert_output "$(printf '200\n%.0s' 1 2 3 4 5)"
    run burst_codes 5 /readyz
    assert_output "$(printf '200\n%.0s' 1 2 3 4 5)"
    # still limited from 127.0.0.1, also under an encoded name the worker
    # does not route as /healthz ...
    gw_request GET /no/such/route
    assert_status 503
    gw_request GET /heal%74hz
    assert_problem 503 service-unavailable /heal%74hz
    # ... but 127.0.0.2 (the same loopback) starts with a full bucket
    gw_request GET /no/such/route --interface 127.0.0.2
    assert_problem 404 not-found /no/such/route
}

@test "rate limit: lighttpd's own errors (a body over ALERTGW_MAX_REQUEST_KB) count once each" {
    # 1 token per 10 s: nothing refills during the test
    edge_mode rl-slow ALERTGW_RATE_LIMIT_RPS=0.1 ALERTGW_RATE_LIMIT_BURST=3 ALERTGW_MAX_REQUEST_KB=1
    local big i
    big="$GW_TMP/big.json"
    head -c 2048 /dev/zero | tr '\0' ' ' >"$big"
    # lighttpd refuses the body before the rate limit runs and re-dispatches
    # its 413 to the worker; that pass takes the token.  Counted twice, the
    # second would be refused; not at all, the fourth would be a 413.
    for i in 1 2 3; do
        gw_post_alert "@$big"
        assert_problem 413 payload-too-large /api/v1/signals/prometheus
    done
    gw_post_alert "@$big"
    assert_problem 503 service-unavailable /api/v1/signals/prometheus
}

@test "rate limit: ALERTGW_RATE_LIMIT_STATUS=429 answers 429 + Retry-After" {
    edge_rl 429
    local codes
    codes=$(burst_codes 6 /no/such/route | tr '\n' ' ')
    assert_regex "$codes" '^404 404 404 429 429 429 $'
    gw_request GET /no/such/route
    assert_problem 429 too-many-requests /no/such/route
    assert_regex "$(gw_header Retry-After)" '^[1-9][0-9]*$'
    assert_security_headers
}

@test "rate limit: refusals are reported in lighttpd's error log, at most once per 10 s" {
    edge_rl 429
    local n0 n1
    burst_codes 6 /no/such/route >/dev/null
    n0=$(grep -c 'alertgw rate limit: refused' "$GW_TMP/lighttpd/error.log" || true)
    sleep 10.5
    burst_codes 2 /healthz >/dev/null    # not limited, but runs the script
    burst_codes 1 /no/such/route >/dev/null
    n1=$(grep -c 'alertgw rate limit: refused' "$GW_TMP/lighttpd/error.log" || true)
    (( n1 == n0 + 1 )) || fail "expected one new report line, got $((n1 - n0)): $(tail -n 5 "$GW_TMP/lighttpd/error.log")"
    grep 'alertgw rate limit: refused' "$GW_TMP/lighttpd/error.log" | tail -n 1 |
        grep -q 'most from 127\.0\.0\.1' || fail "report does not name the client"
}

# edge_refusals REASON [CURL ARGS...]: gateway_edge_refusals_total{reason}
# from GET /metrics ("absent" without the series; fails unless 200).
edge_refusals() {
    local reason=$1; shift
    gw_request GET /metrics "$@" || return 1
    [[ $HTTP_STATUS == 200 ]] || { echo "GET /metrics: $HTTP_STATUS $HTTP_BODY" >&2; return 1; }
    awk -v k="gateway_edge_refusals_total{reason=\"$reason\"}" \
        '$1 == k { print $2; found = 1 } END { if (!found) print "absent" }' <<<"$HTTP_BODY"
}

@test "rate limit: every refusal is counted in gateway_edge_refusals_total, and no client can forge the count" {
    edge_rl
    local m0 m1 refused codes
    # the scrapes come from addresses of their own, with their own buckets
    m0=$(edge_refusals rate_limited --interface 127.0.0.7) || fail "no /metrics"
    [[ $m0 =~ ^[0-9]+$ ]] || fail "gateway_edge_refusals_total{reason=\"rate_limited\"}: $m0"
    codes=$(burst_codes 8 /no/such/route)
    refused=$(grep -c '^503$' <<<"$codes" || true)
    (( refused >= 4 )) || fail "expected at least 4 refusals: $(xargs <<<"$codes")"
    m1=$(edge_refusals rate_limited --interface 127.0.0.8)
    assert_equal "$(( m1 - m0 ))" "$refused"
    [[ $(edge_refusals no_worker --interface 127.0.0.8) =~ ^[0-9]+$ ]] || fail "no no_worker series"
    # the count reaches the worker as a FastCGI parameter that only
    # lighttpd sets; a request header of any spelling is not it
    assert_equal "$(edge_refusals rate_limited --interface 127.0.0.9 \
        -H 'Gateway-Edge-Refusals: rate_limited=999999,no_worker=999999' \
        -H 'GATEWAY_EDGE_REFUSALS: rate_limited=999999,no_worker=999999')" "$m1"
    command -v promtool >/dev/null || skip "promtool not installed"
    run promtool check metrics <<<"$HTTP_BODY"
    assert_success
}

@test "rate limit: at ALERTGW_RATE_LIMIT_MAX_CLIENTS addresses the least recently seen is forgotten" {
    # 1 token per 10 s: nothing refills during the test
    edge_mode rl-evict ALERTGW_RATE_LIMIT_RPS=0.1 ALERTGW_RATE_LIMIT_BURST=2 \
        ALERTGW_RATE_LIMIT_MAX_CLIENTS=2
    run burst_codes 3 /no/such/route --interface 127.0.0.3
    assert_output "$(printf '404\n404\n503')"
    gw_request GET /no/such/route --interface 127.0.0.4
    assert_status 404
    # a third address: the table is full, 127.0.0.3 (least recently seen)
    # is forgotten, and so starts again with a full bucket
    gw_request GET /no/such/route --interface 127.0.0.5
    assert_status 404
    gw_request GET /no/such/route --interface 127.0.0.3
    assert_status 404
    # (that pushed out 127.0.0.4); 127.0.0.5, still tracked, has one token
    # left and then none
    run burst_codes 2 /no/such/route --interface 127.0.0.5
    assert_output "$(printf '404\n503')"
}

## --- slow clients ----------------------------------------------------------

@test "a client that sends its headers byte by byte and then stalls is cut off after the 10 s idle timeout" {
    edge_mode plain
    local hostport=${GW_URL#http://} req t0 t1 got rc i
    req=$'GET /healthz HTTP/1.1\r\nHost: gateway\r\nUser-Agent: slowloris'
    exec {fd}<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
    for (( i = 0; i < ${#req}; i++ )); do
        printf '%s' "${req:i:1}" >&"$fd"
        sleep 0.05
    done
    # stalled in the middle of the header block
    t0=$(date +%s.%N)
    rc=0
    IFS= read -r -t 25 -u "$fd" got || rc=$?
    t1=$(date +%s.%N)
    exec {fd}>&-
    (( rc > 0 && rc < 128 )) || fail "connection still open after 25 s (read rc=$rc)"
    assert_equal "$got" ""       # closed without an answer
    awk -v a="$t0" -v b="$t1" 'BEGIN { d = b - a; exit !(d >= 9 && d <= 14) }' ||
        fail "closed after $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s, expected about 10"
    # the gateway still answers
    gw_request GET /healthz
    assert_status 200
}

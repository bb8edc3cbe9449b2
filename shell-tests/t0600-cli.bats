#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# t0600-cli: the binary's own modes, no services: --check-config, and the
# one-shot CGI program it becomes when stdin is not a FastCGI socket.

load helpers

setup() {
    BIN=${GW_FCGI_BIN:-$GW_ROOT/fcgi/alertgw-fcgi}
    [[ -x $BIN ]] || fail "worker binary $BIN not built"
    CFG=$(mktemp "${TMPDIR:-/tmp}/alertgw-cfg.XXXXXX")
}
teardown() { rm -f "$CFG"; }

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
    assert_output --partial "remediation.namespace_mode: must be controller or signal"
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

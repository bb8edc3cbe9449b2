#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t5300-logs: the worker log as docs/operations.md#log-reference describes it
# (issue 7): one JSON object a line on stderr; the request line carries time,
# level, request_id, route, fingerprint, decision, status and duration_ms; the
# level comes from the configuration; control characters arrive escaped;
# credentials never appear.  And the access log line as documented.

load helpers

setup_file() {
    gw_setup_stack ALERTGW_AUTH_PROMETHEUS=bearer \
        ALERTGW_AUTH_BEARER_TOKENS="$(printf 'log-test-token-%s' 7f3a | sha256sum | cut -d' ' -f1)"
}
teardown_file() { gw_teardown_stack; }
teardown() { gw_teardown_test; }

TOKEN=log-test-token-7f3a
LOG() { cat "$GW_TMP/lighttpd/stderr.log" "$GW_TMP/lighttpd/error.log" 2>/dev/null; }

# line_of RID: the worker's request line for that request id.
line_of() { LOG | grep -F "\"request_id\":\"$1\"" | grep -F '"duration_ms"' | tail -n 1; }
has_line() { [[ -n $(line_of "$1") ]]; }

@test "the request line has every documented field, with the documented types" {
    local ns rid line
    ns=$(gw_uniq logs)
    kube_namespaces "$ns"
    rid=logs-$(gw_uniq r)
    gw_post_alert "$(am_body LogFields namespace="$ns" pod=p severity=critical)" \
        -H "Authorization: Bearer $TOKEN" -H "X-Request-ID: $rid"
    assert_status 201
    [[ $(gw_header X-Request-ID) == "$rid" ]] || fail "X-Request-ID not echoed"
    gw_wait_for 5 has_line "$rid" || fail "no request line for $rid"
    line=$(line_of "$rid")
    jq -e --arg rid "$rid" --arg fp "$(fp_of "$ns:Pod:p")" '
        (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"))
        and .level == "info" and .request_id == $rid and .route == "prometheus"
        and .method == "POST" and .path == "/api/v1/signals/prometheus"
        and .status == 201 and .decision == "created" and .fingerprint == $fp
        and (.duration_ms | type == "number" and . > 0)' <<<"$line" >/dev/null ||
        fail "request line does not match the reference: $line"
    # the access log has the same request, ending with its id
    gw_wait_for 5 grep -q " 201 .* $rid\$" "$GW_TMP/lighttpd/access.log" ||
        fail "access log: $(tail -n 3 "$GW_TMP/lighttpd/access.log")"
    grep " $rid\$" "$GW_TMP/lighttpd/access.log" | tail -n 1 |
        grep -Eq '^127\.0\.0\.1 - - \[[^]]+\] "POST /api/v1/signals/prometheus HTTP/1\.1" 201 [0-9]+ [0-9]+ "curl/[^"]*" '"$rid"'$' ||
        fail "access log line does not match the documented format: $(grep " $rid\$" "$GW_TMP/lighttpd/access.log")"
}

@test "every worker line is one JSON object with time and level; nothing unescaped" {
    # lighttpd refuses control characters in the path itself (400); a body
    # whose error names a label key with a newline and a BEL in it (400)
    gw_request GET '/api/v1/signals/x%1b%5b31m%0ainjected' -H "Authorization: Bearer $TOKEN"
    assert_status 400
    gw_post_alert '{"alerts":[{"status":"firing","labels":{"alertname":"A","namespace":"n","na\nme\u0007":"'"$(head -c 5000 /dev/zero | tr '\0' v)"'"}}]}' \
        -H "Authorization: Bearer $TOKEN"
    assert_status 400
    sleep 0.5
    local n=0 bad=0 l
    while IFS= read -r l; do
        [[ $l == '{'* ]] || continue # lighttpd's own lines in error.log
        n=$(( n + 1 ))
        jq -e '(.time | type == "string") and (.level | IN("debug","info","warn","error"))' \
            <<<"$l" >/dev/null 2>&1 || { bad=$(( bad + 1 )); echo "# not a log object: $l" >&3; }
    done < <(LOG)
    (( n > 0 )) || fail "no worker lines"
    (( bad == 0 )) || fail "$bad of $n lines are not log objects"
    # no raw control character (other than the line feed) anywhere
    ! LOG | LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' || fail "a raw control character reached the log"
    # client strings are cleaned (gw_text_clean: a control character
    # becomes '?') before the line is escaped as JSON
    LOG | grep -F '"status":400' | grep -qF 'labels \"na?me?\" is longer than' ||
        fail "no 400 line names the key escaped: $(LOG | grep -F '"status":400' | tail -n 2)"
}

@test "credentials never reach the log" {
    local ns
    ns=$(gw_uniq logs)
    kube_namespaces "$ns"
    gw_post_alert "$(am_body LogSecret namespace="$ns" pod=p)" -H "Authorization: Bearer wrong-$TOKEN"
    assert_status 401
    gw_post_alert "$(am_body LogSecret namespace="$ns" pod=p)" -H "Authorization: Bearer $TOKEN"
    assert_status 201
    sleep 0.5
    ! LOG | grep -qF "$TOKEN" || fail "a bearer token reached the log: $(LOG | grep -F "$TOKEN" | head -n 1)"
    LOG | grep -F '"event":"security_event"' | grep -q '"reason"' || fail "the refusal was not logged"
}

@test "log.level: warn keeps the request lines of refusals and drops the successes" {
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_LOG_LEVEL=warn ALERTGW_AUTH_PROMETHEUS=none
    local ok bad ns
    ok=warn-ok-$(gw_uniq r) bad=warn-bad-$(gw_uniq r)
    ns=$(gw_uniq logs)
    kube_namespaces "$ns"
    gw_post_alert "$(am_body LogLevel namespace="$ns" pod=p)" -H "X-Request-ID: $ok"
    assert_status 201
    gw_post_alert '{"alerts": [' -H "X-Request-ID: $bad"
    assert_status 400
    gw_wait_for 5 has_line "$bad" || fail "the 400 was not logged at warn"
    jq -e '.level == "warn" and .status == 400' <<<"$(line_of "$bad")" >/dev/null ||
        fail "400 line: $(line_of "$bad")"
    [[ -z $(line_of "$ok") ]] || fail "an info line was written at level warn: $(line_of "$ok")"
}

#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t3100-auth: per-route authentication against the real stack (issue 6):
# bearer tokens (by SHA-256 hash, one scoped to namespaces), the generic
# X-Signature-256 HMAC with a signed timestamp and its replay window, the
# IP allowlist, and tokenreview with ServiceAccount tokens minted by the
# test apiserver's TokenRequest API and authorised by RBAC.  Every refused
# request must create nothing in Kubernetes, be counted in
# gateway_auth_failures_total and leave no credential in the worker log.
#
# Each test names the worker settings it needs (auth_stack); lighttpd is
# restarted only when they change, Redis and the apiserver stay up.

load helpers

setup_file() {
    gw_setup_stack || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod || return 1
    mkdir -p "$GW_TMP/auth"
    TOK_A=$(openssl rand -hex 24)       # unscoped
    TOK_SCOPED=$(openssl rand -hex 24)  # namespaces scoped-* and team-x only
    TOK_WRONG=$(openssl rand -hex 24)   # configured nowhere
    printf 'hmac-current-%s\n' "$(openssl rand -hex 8)" >"$GW_TMP/auth/current"
    printf 'hmac-previous-%s' "$(openssl rand -hex 8)" >"$GW_TMP/auth/previous"
    export TOK_A TOK_SCOPED TOK_WRONG
    BEARER_ENV="ALERTGW_AUTH_BEARER_TOKENS=$(sha_of "$TOK_A"),$(sha_of "$TOK_SCOPED")=scoped-*|team-x"
    export BEARER_ENV
}
teardown_file() { gw_teardown_stack; }
teardown()      { gw_teardown_test; }

ROUTE=/api/v1/signals/prometheus
LOG() { echo "$GW_TMP/lighttpd/stderr.log"; }

sha_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# auth_stack VAR=VALUE...: lighttpd + workers with exactly these settings
# (restarted only when they differ from the running ones).
auth_stack() {
    local want="$*"
    # (each test runs in its own process: the URL of a restart is in a file)
    if [[ -f $GW_TMP/auth/running && $(<"$GW_TMP/auth/running") == "$want" ]] &&
        alive "$(<"$GW_TMP/lighttpd/pid")"; then
        GW_URL=$(<"$GW_TMP/auth/url")
        export GW_URL
        return 0
    fi
    gw_stop_lighttpd
    rm -f "$GW_TMP/auth/running"
    gw_start_lighttpd "$@" || return 1
    printf '%s' "$want" >"$GW_TMP/auth/running"
    printf '%s' "$GW_URL" >"$GW_TMP/auth/url"
}
bearer_stack() { auth_stack ALERTGW_AUTH_PROMETHEUS=bearer ALERTGW_AUTH_SIGNALS=bearer "$BEARER_ENV"; }
hmac_stack() {
    auth_stack ALERTGW_AUTH_PROMETHEUS=hmac \
        ALERTGW_AUTH_HMAC_SECRET_FILES="$GW_TMP/auth/current,$GW_TMP/auth/previous"
}

# post_exact BODY [CURL ARGS...]: exactly these bytes (a signature covers
# every byte; gw_post's here-string would add a newline).
post_exact() {
    local body=$1; shift
    printf '%s' "$body" >"$GW_TMP/auth/body.json"
    gw_post "$ROUTE" "@$GW_TMP/auth/body.json" "$@"
}

# sign SECRET_FILE BODY [TIMESTAMP]: "sha256=<hex>" of [TIMESTAMP:]BODY.
sign() {
    local secret hex
    secret=$(tr -d '\n' <"$1")
    if [[ -n ${3:-} ]]; then
        hex=$(printf '%s:%s' "$3" "$2" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
    else
        hex=$(printf '%s' "$2" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
    fi
    echo "sha256=$hex"
}

# no_credential_logged STRING...: none of these strings is in the worker log.
no_credential_logged() {
    local s
    for s in "$@"; do
        [[ -n $s ]] || continue
        if grep -qF -- "$s" "$(LOG)"; then
            fail "a credential reached the worker log: ${s:0:12}..."
        fi
    done
}

# metric NAME{LABELS}: one sample of a fresh scrape (absent: "absent").
metric() {
    awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "absent" }' \
        "$GW_TMP/auth/scrape"
}
scrape() {
    [[ $(curl -sS --max-time 10 -o "$GW_TMP/auth/scrape" -w '%{http_code}' "$@" \
        "$GW_URL/metrics") == 200 ]] || fail "scrape failed: $(cat "$GW_TMP/auth/scrape")"
}

@test "bearer: a configured token creates; missing and wrong tokens are 401 with a challenge and create nothing" {
    bearer_stack
    local d fp body
    d=$(gw_uniq bearer)
    fp=$(fp_of "prod:Deployment:$d")
    body=$(am_body BearerTest deployment="$d" namespace=prod severity=critical)

    gw_post_alert "$body"
    assert_problem 401 unauthorized "$ROUTE"
    assert_equal "$(gw_header WWW-Authenticate)" 'Bearer realm="alertgw"'
    assert_equal "$(gw_body_jq .detail)" 'missing credentials: send Authorization: Bearer <token>'

    gw_post_alert "$body" -H "Authorization: Bearer $TOK_WRONG"
    assert_problem 401 unauthorized "$ROUTE"
    assert_equal "$(gw_header WWW-Authenticate)" 'Bearer realm="alertgw", error="invalid_token"'
    gw_post_alert "$body" -H "Authorization: Basic $(printf 'u:%s' "$TOK_A" | base64 -w0)"
    assert_status 401
    assert_equal "$(kube_rr_count "$fp")" 0

    gw_post_alert "$body" -H "Authorization: Bearer $TOK_A"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1
    # the other routes keep their default (none)
    gw_request GET /metrics
    assert_status 200

    grep -q '"msg":"security_event: prometheus webhook refused: bearer token not recognised"' "$(LOG)" ||
        fail "no security_event line for the wrong token"
    grep '"event":"security_event"' "$(LOG)" | grep -q '"mode":"bearer","reason":"missing"' ||
        fail "security_event without mode and reason"
    grep '"event":"security_event"' "$(LOG)" | grep -q '"remote_addr":"127.0.0.1"' ||
        fail "security_event without the client address"
    no_credential_logged "$TOK_A" "$TOK_WRONG" "$TOK_SCOPED"
}

@test "bearer: a namespace-scoped token is 403 outside its namespaces (named), and creates inside them" {
    bearer_stack
    local ns_in ns_out d fp_in fp_out
    ns_in=$(gw_uniq scoped)
    ns_out=$(gw_uniq elsewhere)
    # both exist: the token's scope, not the namespace check, refuses ns_out
    kube_namespaces "$ns_in" "$ns_out"
    d=$(gw_uniq dep)
    fp_in=$(fp_of "$ns_in:Deployment:$d")
    fp_out=$(fp_of "$ns_out:Deployment:$d")

    gw_post_alert "$(am_body ScopeOut deployment="$d" namespace="$ns_out" severity=warning)" \
        -H "Authorization: Bearer $TOK_SCOPED"
    assert_problem 403 forbidden "$ROUTE"
    assert_equal "$(gw_body_jq .detail)" "namespace \"$ns_out\" is outside this token's scope"
    # one alert out of scope refuses the whole webhook: nothing is recorded
    gw_post_alert "$(am_webhook \
        "$(am_alert ScopeMixed deployment="$d" namespace="$ns_in" severity=warning)" \
        "$(am_alert ScopeMixed deployment="$d" namespace="$ns_out" severity=warning)")" \
        -H "Authorization: Bearer $TOK_SCOPED"
    assert_problem 403 forbidden "$ROUTE"
    assert_equal "$(gw_body_jq .detail)" "alerts[1]: namespace \"$ns_out\" is outside this token's scope"
    assert_equal "$(kube_rr_count "$fp_in")" 0
    assert_equal "$(kube_rr_count "$fp_out")" 0
    # a cluster-scoped target is outside every namespace scope
    gw_post_alert "$(am_body ScopeNode node="$(gw_uniq node)" severity=warning)" \
        -H "Authorization: Bearer $TOK_SCOPED"
    assert_status 403
    # reading signal state (auth.signals: bearer here) is for unscoped tokens
    gw_request GET "/api/v1/signals/$fp_in" -H "Authorization: Bearer $TOK_SCOPED"
    assert_problem 403 forbidden "/api/v1/signals/$fp_in"
    gw_request GET "/api/v1/signals/$fp_in"
    assert_status 401

    gw_post_alert "$(am_body ScopeIn deployment="$d" namespace="$ns_in" severity=warning)" \
        -H "Authorization: Bearer $TOK_SCOPED"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp_in")" 1
    gw_request GET "/api/v1/signals/$fp_in" -H "Authorization: Bearer $TOK_A"
    assert_status 200
    assert_equal "$(gw_body_jq .count)" 1
    # the token is named by the first 8 hex digits of its hash, no more
    grep '"event":"security_event"' "$(LOG)" | grep '"reason":"forbidden"' |
        grep -q "\"principal\":\"bearer:$(sha_of "$TOK_SCOPED" | cut -c1-8)\"" ||
        fail "no forbidden security_event naming the token by its hash prefix"
    no_credential_logged "$TOK_SCOPED"
}

@test "hmac: signed webhooks create (both secrets); a bad signature and a replayed timestamp are 401 and create nothing" {
    hmac_stack
    local d fp body ts old
    d=$(gw_uniq hmac)
    fp=$(fp_of "prod:Deployment:$d")
    body=$(am_body HmacTest deployment="$d" namespace=prod severity=critical)
    ts=$(date +%s)
    old=$(( ts - 600 ))

    post_exact "$body"
    assert_problem 401 unauthorized "$ROUTE"
    [[ -z $(gw_header WWW-Authenticate) ]] || fail "no Bearer challenge on an hmac-only route"
    post_exact "$body" -H "X-Signature-256: $(sign "$GW_TMP/auth/current" "$body")0"
    assert_problem 401 unauthorized "$ROUTE"
    post_exact "${body/HmacTest/HmacTampered}" -H "X-Signature-256: $(sign "$GW_TMP/auth/current" "$body")"
    assert_status 401
    # a correctly signed but old timestamp: a replay
    post_exact "$body" -H "X-Signature-256: $(sign "$GW_TMP/auth/current" "$body" "$old")" \
        -H "X-Signature-Timestamp: $old"
    assert_problem 401 unauthorized "$ROUTE"
    assert_equal "$(gw_body_jq .detail)" \
        "signed timestamp is more than 300 s away from the gateway's clock (replayed, or clock skew)"
    # the signature does not cover another timestamp
    post_exact "$body" -H "X-Signature-256: $(sign "$GW_TMP/auth/current" "$body" "$old")" \
        -H "X-Signature-Timestamp: $ts"
    assert_status 401
    assert_equal "$(kube_rr_count "$fp")" 0

    post_exact "$body" -H "X-Signature-256: $(sign "$GW_TMP/auth/current" "$body" "$ts")" \
        -H "X-Signature-Timestamp: $ts"
    assert_status 201
    post_exact "$body" -H "X-Signature-256: $(sign "$GW_TMP/auth/previous" "$body")"
    assert_status 202
    assert_equal "$(kube_rr_count "$fp")" 1

    grep -q 'security_event: prometheus webhook refused: signed timestamp outside the replay window' "$(LOG)" ||
        fail "no security_event for the replay"
    no_credential_logged "$(tr -d '\n' <"$GW_TMP/auth/current")" "$(<"$GW_TMP/auth/previous")" \
        "$(sign "$GW_TMP/auth/current" "$body" "$ts" | cut -d= -f2)"
}

# upper_hex "sha256=<hex>": the bare hex in upper case (the same signature).
upper_hex() { local h=${1#sha256=}; echo "${h^^}"; }
_occurrences() { [[ $(kube_rr_occurrences "$1") == "$2" ]]; }

@test "hmac replay: a signed request sent again inside the window is 200 ignored (reason replay) and counts nothing; a new timestamp and body-only signatures count as before" {
    hmac_stack
    local ns d fp body ts sig rr rid ttl
    ns=$(gw_uniq replay)
    kube_namespace "$ns"
    d=$(gw_uniq dep)
    fp=$(fp_of "$ns:Deployment:$d")
    body=$(am_body ReplayTest deployment="$d" namespace="$ns" severity=warning)
    ts=$(date +%s)
    sig=$(sign "$GW_TMP/auth/current" "$body" "$ts")

    post_exact "$body" -H "X-Signature-256: $sig" -H "X-Signature-Timestamp: $ts"
    assert_status 201
    rr=$(gw_body_jq .remediationRequestName)
    rid=$(gw_header X-Request-ID)
    gw_wait_for 10 _occurrences "$rr" 1 || fail "occurrenceCount is not 1: $(kube_rr_occurrences "$rr")"

    # the very same request again: a replay
    post_exact "$body" -H "X-Signature-256: $sig" -H "X-Signature-Timestamp: $ts"
    assert_status 200
    assert_equal "$(gw_header Content-Type | cut -d';' -f1)" application/json
    assert_equal "$(gw_body_jq .status)" ignored
    assert_equal "$(gw_body_jq .reason)" replay
    assert_equal "$(gw_body_jq .fingerprint)" "$fp"
    assert_equal "$(gw_body_jq .remediationRequestRef)" "$GW_RR_NAMESPACE/$rr"
    [[ $(gw_body_jq .message) == *"request $rid"* ]] || fail "the message does not name the first request: $HTTP_BODY"
    # the same signature spelt otherwise (bare, upper-case hex) is the same request
    post_exact "$body" -H "X-Signature-256: $(upper_hex "$sig")" -H "X-Signature-Timestamp: $ts"
    assert_status 200
    assert_equal "$(gw_body_jq .reason)" replay
    # nothing moved: the count in Redis and on the RemediationRequest
    gw_request GET "/api/v1/signals/$fp"
    assert_status 200
    assert_equal "$(gw_body_jq .count)" 1
    assert_equal "$(kube_rr_occurrences "$rr")" 1
    assert_equal "$(kube_rr_count "$fp")" 1
    # the cache key: the signature, for twice the 5m window (+1 s)
    ttl=$(gw_redis_cli TTL "alertgw:nonce:${sig#sha256=}")
    (( ttl > 590 && ttl <= 601 )) || fail "nonce TTL $ttl, want about 601"

    # a new signed timestamp is a new occurrence
    post_exact "$body" -H "X-Signature-256: $(sign "$GW_TMP/auth/current" "$body" "$(( ts + 1 ))")" \
        -H "X-Signature-Timestamp: $(( ts + 1 ))"
    assert_status 202
    assert_equal "$(gw_body_jq .metadata.count)" 2
    # body-only signatures carry no timestamp: unchanged, each one counts
    post_exact "$body" -H "X-Signature-256: $(sign "$GW_TMP/auth/current" "$body")"
    assert_status 202
    assert_equal "$(gw_body_jq .metadata.count)" 3
    post_exact "$body" -H "X-Signature-256: $(sign "$GW_TMP/auth/current" "$body")"
    assert_status 202
    assert_equal "$(gw_body_jq .metadata.count)" 4
    gw_wait_for 10 _occurrences "$rr" 4 || fail "occurrenceCount is not 4: $(kube_rr_occurrences "$rr")"
    grep '"event":"security_event"' "$(LOG)" | grep '"reason":"replay"' |
        grep -q "security_event: prometheus webhook replayed" || fail "no security_event for the replay"
    no_credential_logged "$(tr -d '\n' <"$GW_TMP/auth/current")" "${sig#sha256=}"
}

@test "hmac replay: a signed request answered 503 (Redis stopped) and resent identically once Redis is back is accepted, not a replay" {
    hmac_stack
    local ns d fp body ts sig
    ns=$(gw_uniq replay503)
    kube_namespace "$ns"
    d=$(gw_uniq dep)
    fp=$(fp_of "$ns:Deployment:$d")
    body=$(am_body Replay503 deployment="$d" namespace="$ns" severity=warning)
    ts=$(date +%s)
    sig=$(sign "$GW_TMP/auth/current" "$body" "$ts")

    gw_stop_redis
    post_exact "$body" -H "X-Signature-256: $sig" -H "X-Signature-Timestamp: $ts"
    local status=$HTTP_STATUS retry
    retry=$(gw_header Retry-After)
    gw_start_redis || fail "redis did not come back"
    [[ $status == 503 ]] || fail "expected 503 with Redis stopped, got $status: $HTTP_BODY"
    [[ $retry =~ ^[0-9]+$ ]] || fail "no Retry-After"
    assert_equal "$(kube_rr_count "$fp")" 0

    # the sender's retry: the same bytes, the same signature
    gw_wait_for 20 _not_503 "$body" "$sig" "$ts" || fail "still 503 after Redis came back: $HTTP_BODY"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1
    # from now on it is a replay
    post_exact "$body" -H "X-Signature-256: $sig" -H "X-Signature-Timestamp: $ts"
    assert_status 200
    assert_equal "$(gw_body_jq .reason)" replay
    assert_equal "$(kube_rr_count "$fp")" 1
}
_not_503() {
    post_exact "$1" -H "X-Signature-256: $2" -H "X-Signature-Timestamp: $3"
    [[ $HTTP_STATUS != 503 ]]
}

@test "ip allowlist: 10.0.0.0/8 refuses 127.0.0.1 with 403 on every route but the probes; adding 127.0.0.0/8 admits" {
    auth_stack ALERTGW_AUTH_ALLOW_CIDRS=10.0.0.0/8,fd00::/8
    local d fp body
    d=$(gw_uniq ip)
    fp=$(fp_of "prod:Deployment:$d")
    body=$(am_body IpTest deployment="$d" namespace=prod severity=critical)
    gw_post_alert "$body"
    assert_problem 403 forbidden "$ROUTE"
    assert_equal "$(gw_body_jq .detail)" "client address 127.0.0.1 is not allowed"
    gw_request GET /metrics
    assert_problem 403 forbidden /metrics
    gw_request GET /no/such/route
    assert_status 403
    gw_request GET /healthz
    assert_status 200
    gw_request GET /readyz
    assert_status 200
    assert_equal "$(kube_rr_count "$fp")" 0
    grep '"event":"security_event"' "$(LOG)" | grep -q '"mode":"ip","reason":"forbidden"' ||
        fail "no security_event for the address"

    auth_stack ALERTGW_AUTH_ALLOW_CIDRS=10.0.0.0/8,127.0.0.0/8,::1
    gw_post_alert "$body"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1
}

# --- tokenreview ------------------------------------------------------------

SA_NS=kubernaut-system   # where the ServiceAccounts live

# make_sa NAME [NAMESPACE...]: a ServiceAccount in $SA_NS, a Role allowing
# create on remediationrequests/signals and a RoleBinding to it in each
# NAMESPACE, and prints a token for audience alertgw minted by the
# TokenRequest API, once the apiserver both authenticates it and
# authorises it in each NAMESPACE.
make_sa() {
    local sa=$1 ns tok
    shift
    kube_create "api/v1/namespaces/$SA_NS/serviceaccounts" \
        "$(jq -cn --arg n "$sa" '{apiVersion:"v1",kind:"ServiceAccount",metadata:{name:$n}}')" >/dev/null ||
        return 1
    for ns in "$@"; do
        kube_create "apis/rbac.authorization.k8s.io/v1/namespaces/$ns/roles" "$(jq -cn --arg n "$sa" '{
            apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: {name: $n},
            rules: [{apiGroups: ["kubernaut.ai"], resources: ["remediationrequests/signals"],
                     verbs: ["create"]}]}')" >/dev/null || return 1
        kube_create "apis/rbac.authorization.k8s.io/v1/namespaces/$ns/rolebindings" "$(jq -cn --arg n "$sa" --arg ns "$SA_NS" '{
            apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: {name: $n},
            roleRef: {apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: $n},
            subjects: [{kind: "ServiceAccount", name: $n, namespace: $ns}]}')" >/dev/null || return 1
    done
    tok=$(mint_token "$sa" alertgw) || return 1
    for ns in "$@"; do
        gw_wait_for 15 _authorised "system:serviceaccount:$SA_NS:$sa" "$ns" || return 1
    done
    echo "$tok"
}
# mint_token SA AUDIENCE: a token of ServiceAccount SA for AUDIENCE (the
# TokenRequest API), once the apiserver authenticates it for AUDIENCE.
mint_token() {
    local tok
    tok=$(kube_create "api/v1/namespaces/$SA_NS/serviceaccounts/$1/token" "$(jq -cn --arg a "$2" \
        '{apiVersion:"authentication.k8s.io/v1",kind:"TokenRequest",spec:{audiences:[$a],expirationSeconds:3600}}')" |
        jq -r '.status.token // empty')
    [[ -n $tok ]] || return 1
    gw_wait_for 15 _authenticated "$tok" "$2" || return 1
    echo "$tok"
}
_authenticated() {
    kube_create apis/authentication.k8s.io/v1/tokenreviews "$(jq -cn --arg t "$1" --arg a "$2" \
        '{apiVersion:"authentication.k8s.io/v1",kind:"TokenReview",spec:{token:$t,audiences:[$a]}}')" |
        jq -e '.status.authenticated == true' >/dev/null
}
_authorised() {
    kube_create apis/authorization.k8s.io/v1/subjectaccessreviews "$(jq -cn --arg u "$1" --arg ns "$2" '{
        apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview",
        spec: {user: $u, groups: ["system:serviceaccounts"],
               resourceAttributes: {namespace: $ns, verb: "create", group: "kubernaut.ai",
                                    resource: "remediationrequests", subresource: "signals"}}}')" |
        jq -e '.status.allowed == true' >/dev/null
}
tokenreview_stack() {
    auth_stack ALERTGW_AUTH_PROMETHEUS=tokenreview ALERTGW_AUTH_SIGNALS=tokenreview \
        ALERTGW_AUTH_TOKENREVIEW_AUDIENCES=alertgw
}

@test "tokenreview: an RBAC-allowed ServiceAccount token creates; a denied one is 403, bogus and apiserver-audience tokens 401" {
    tokenreview_stack
    local ns sender other t_sender t_other d fp body
    ns=$(gw_uniq tr)
    kube_namespace "$ns"
    sender=$(gw_uniq sender)
    other=$(gw_uniq other)
    t_sender=$(make_sa "$sender" "$ns") || fail "could not mint the sender's token"
    t_other=$(make_sa "$other") || fail "could not mint the other token"
    d=$(gw_uniq tr)
    fp=$(fp_of "$ns:Deployment:$d")
    body=$(am_body TokenReviewTest deployment="$d" namespace="$ns" severity=critical)

    gw_post_alert "$body"
    assert_problem 401 unauthorized "$ROUTE"
    gw_post_alert "$body" -H "Authorization: Bearer not-a-real-token"
    assert_problem 401 unauthorized "$ROUTE"
    assert_equal "$(gw_header WWW-Authenticate)" 'Bearer realm="alertgw", error="invalid_token"'
    # the admin's static token is for the apiserver, not for audience alertgw
    gw_post_alert "$body" -H "Authorization: Bearer $KUBE_ADMIN_TOKEN"
    assert_status 401
    gw_post_alert "$body" -H "Authorization: Bearer $t_other"
    assert_problem 403 forbidden "$ROUTE"
    assert_equal "$(gw_body_jq .detail)" \
        "\"system:serviceaccount:$SA_NS:$other\" may not create kubernaut.ai/remediationrequests/signals in namespace \"$ns\""
    assert_equal "$(kube_rr_count "$fp")" 0

    gw_post_alert "$body" -H "Authorization: Bearer $t_sender"
    assert_status 201
    gw_post_alert "$body" -H "Authorization: Bearer $t_sender"
    assert_status 202
    assert_equal "$(kube_rr_count "$fp")" 1
    grep '"event":"security_event"' "$(LOG)" | grep -q "\"principal\":\"user:system:serviceaccount:$SA_NS:$other\"" ||
        fail "the denied identity is not in the security_event"
    no_credential_logged "$t_sender" "$t_other" "$KUBE_ADMIN_TOKEN" "${t_sender:0:40}"
}

@test "tokenreview: a ServiceAccount bound in namespace A only creates for A; B and a cluster-scoped target are 403 naming them, and a batch naming B records nothing" {
    tokenreview_stack
    local ns_a ns_b sa tok user d fp_a fp_b
    ns_a=$(gw_uniq tr-a)
    ns_b=$(gw_uniq tr-b)
    kube_namespace "$ns_a"
    kube_namespace "$ns_b"
    sa=$(gw_uniq sender-a)
    tok=$(make_sa "$sa" "$ns_a") || fail "could not mint the sender's token"
    user="system:serviceaccount:$SA_NS:$sa"
    d=$(gw_uniq dep)
    fp_a=$(fp_of "$ns_a:Deployment:$d")
    fp_b=$(fp_of "$ns_b:Deployment:$d")

    gw_post_alert "$(am_body NsB deployment="$d" namespace="$ns_b" severity=warning)" \
        -H "Authorization: Bearer $tok"
    assert_problem 403 forbidden "$ROUTE"
    assert_equal "$(gw_body_jq .detail)" \
        "\"$user\" may not create kubernaut.ai/remediationrequests/signals in namespace \"$ns_b\""
    # one alert about B refuses the whole webhook: nothing is recorded
    gw_post_alert "$(am_webhook \
        "$(am_alert NsMixed deployment="$d" namespace="$ns_a" severity=warning)" \
        "$(am_alert NsMixed deployment="$d" namespace="$ns_b" severity=warning)")" \
        -H "Authorization: Bearer $tok"
    assert_problem 403 forbidden "$ROUTE"
    assert_equal "$(gw_body_jq .detail)" \
        "alerts[1]: \"$user\" may not create kubernaut.ai/remediationrequests/signals in namespace \"$ns_b\""
    # a cluster-scoped target needs a cluster-wide grant (ClusterRoleBinding)
    gw_post_alert "$(am_body NsNode node="$(gw_uniq node)" severity=warning)" \
        -H "Authorization: Bearer $tok"
    assert_problem 403 forbidden "$ROUTE"
    assert_equal "$(gw_body_jq .detail)" \
        "\"$user\" may not create kubernaut.ai/remediationrequests/signals cluster-wide (the target is cluster-scoped)"
    assert_equal "$(kube_rr_count "$fp_a")" 0
    assert_equal "$(kube_rr_count "$fp_b")" 0

    gw_post_alert "$(am_body NsA deployment="$d" namespace="$ns_a" severity=warning)" \
        -H "Authorization: Bearer $tok"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp_a")" 1
    # the read routes keep one review in auth.tokenreview_namespace (here
    # remediation.namespace), where this sender has no grant
    gw_request GET "/api/v1/signals/$fp_a" -H "Authorization: Bearer $tok"
    assert_problem 403 forbidden "/api/v1/signals/$fp_a"
    assert_equal "$(gw_body_jq .detail)" \
        "\"$user\" may not create kubernaut.ai/remediationrequests/signals in namespace \"$SA_NS\""
    grep '"event":"security_event"' "$(LOG)" | grep "\"principal\":\"user:$user\"" |
        grep -q "in namespace \\\\\"$ns_b\\\\\"" ||
        fail "no forbidden security_event naming the user and namespace $ns_b"
    no_credential_logged "$tok"
}

@test "tokenreview: a token minted for another audience is 401 and creates nothing; the same ServiceAccount's alertgw token creates" {
    tokenreview_stack
    local ns sa tok other d fp body
    ns=$(gw_uniq tr-aud)
    kube_namespace "$ns"
    sa=$(gw_uniq aud)
    tok=$(make_sa "$sa" "$ns") || fail "could not mint the alertgw token"
    other=$(mint_token "$sa" other-service) || fail "could not mint the other-service token"
    d=$(gw_uniq dep)
    fp=$(fp_of "$ns:Deployment:$d")
    body=$(am_body AudienceTest deployment="$d" namespace="$ns" severity=warning)

    gw_post_alert "$body" -H "Authorization: Bearer $other"
    assert_problem 401 unauthorized "$ROUTE"
    assert_equal "$(gw_header WWW-Authenticate)" 'Bearer realm="alertgw", error="invalid_token"'
    assert_equal "$(kube_rr_count "$fp")" 0
    gw_post_alert "$body" -H "Authorization: Bearer $tok"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1
    no_credential_logged "$tok" "$other"
}

@test "tokenreview: unknown tokens beyond auth.tokenreview_max_per_second get 503 + Retry-After (never 401), counted and logged" {
    auth_stack ALERTGW_AUTH_PROMETHEUS=tokenreview ALERTGW_AUTH_TOKENREVIEW_AUDIENCES=alertgw \
        ALERTGW_AUTH_TOKENREVIEW_MAX_PER_SECOND=1 ALERTGW_WORKERS=1
    local ns i dir="$GW_TMP/auth/rate" n401=0 n503=0 before code
    ns=$(gw_uniq tr-rate)
    kube_namespace "$ns"
    rm -rf "$dir"
    mkdir -p "$dir"
    printf '%s' "$(am_body RateTest deployment="$(gw_uniq dep)" namespace="$ns" severity=warning)" \
        >"$dir/body.json"
    # 30 random tokens from one curl process (a process per request would
    # be slower than the refill being tested)
    for i in $(seq 30); do
        (( i == 1 )) || echo next
        printf 'url = "%s%s"\nheader = "Content-Type: application/json"\n' "$GW_URL" "$ROUTE"
        printf 'header = "Authorization: Bearer random-%s-%s"\n' "$i" "$(openssl rand -hex 16)"
        printf 'data-binary = "@%s/body.json"\noutput = "%s/%s.body"\n' "$dir" "$dir" "$i"
        printf 'dump-header = "%s/%s.headers"\nwrite-out = "%%{http_code}\\n"\n' "$dir" "$i"
    done >"$dir/curl.conf"
    scrape
    before=$(metric 'gateway_auth_failures_total{mode="tokenreview",reason="error"}')
    curl -sS --max-time 60 -K "$dir/curl.conf" >"$dir/codes" || fail "curl failed"
    i=0
    while read -r code; do
        i=$(( i + 1 ))
        case $code in
        401) n401=$(( n401 + 1 )) ;;
        503)
            n503=$(( n503 + 1 ))
            grep -qiE '^Retry-After: [0-9]+' "$dir/$i.headers" ||
                fail "503 without Retry-After: $(cat "$dir/$i.headers")"
            assert_equal "$(jq -r .detail "$dir/$i.body")" \
                "too many token reviews: the gateway bounds its calls to the Kubernetes API; retry later"
            assert_equal "$(jq -r .type "$dir/$i.body")" "https://kubernaut.ai/problems/service-unavailable"
            ;;
        *) fail "request $i: unexpected $code: $(cat "$dir/$i.body")" ;;
        esac
    done <"$dir/codes"
    assert_equal "$i" 30
    # one worker, one review a second, a burst of two
    (( n503 >= 20 )) || fail "only $n503 of 30 unknown tokens were bounded ($n401 reviewed)"
    scrape
    assert_equal "$(( $(metric 'gateway_auth_failures_total{mode="tokenreview",reason="error"}') - before ))" "$n503"
    grep '"event":"security_event"' "$(LOG)" | grep -q 'review rate bound reached' ||
        fail "no security_event for the rate bound"
}

@test "tokenreview: the apiserver down is 503 with Retry-After, never 401, and nothing is created" {
    tokenreview_stack
    local ns sa tok d fp body
    ns=$(gw_uniq tr-down)
    kube_namespace "$ns"
    sa=$(gw_uniq outage)
    tok=$(make_sa "$sa" "$ns") || fail "could not mint a token"
    d=$(gw_uniq down)
    fp=$(fp_of "$ns:Deployment:$d")
    body=$(am_body TokenReviewDown deployment="$d" namespace="$ns" severity=critical)
    gw_stop_apiserver || fail "kube-local.sh stop-apiserver failed"
    gw_post_alert "$body" -H "Authorization: Bearer $tok"
    local status=$HTTP_STATUS retry headers=$HTTP_HEADERS detail
    retry=$(gw_header Retry-After)
    detail=$(gw_body_jq .detail)
    gw_start_apiserver || fail "kube-local.sh start-apiserver failed"
    [[ $status == 503 ]] || fail "expected 503, got $status: $headers"
    [[ $retry =~ ^[0-9]+$ ]] || fail "no Retry-After: $headers"
    assert_equal "$detail" "authentication backend (Kubernetes API) unavailable; retry later"
    assert_equal "$(kube_rr_count "$fp")" 0
    grep '"event":"security_event"' "$(LOG)" | grep -q '"mode":"tokenreview","reason":"error","status":503' ||
        fail "no security_event for the outage"
    # the sender's retry goes through once the apiserver is back
    gw_wait_for 30 _created "$body" "$tok" || fail "not created after the apiserver came back: $HTTP_BODY"
    assert_equal "$(kube_rr_count "$fp")" 1
}
_created() { gw_post_alert "$1" -H "Authorization: Bearer $2"; [[ $HTTP_STATUS == 201 ]]; }

@test "gateway_auth_failures_total counts each refusal by mode and reason; the scrape passes promtool" {
    bearer_stack
    local ns d i l b
    scrape
    local -A before
    for l in 'mode="bearer",reason="missing"' 'mode="bearer",reason="mismatch"' \
             'mode="bearer",reason="forbidden"'; do
        before[$l]=$(metric "gateway_auth_failures_total{$l}")
        [[ ${before[$l]} =~ ^[0-9]+$ ]] || fail "no series gateway_auth_failures_total{$l}"
    done
    local unauth forb
    unauth=$(metric 'gateway_signals_rejected_total{reason="unauthorized"}')
    forb=$(metric 'gateway_signals_rejected_total{reason="forbidden"}')
    ns=$(gw_uniq other)
    kube_namespaces "$ns"
    d=$(gw_uniq m)
    b=$(am_body AuthMetrics deployment="$d" namespace="$ns" severity=info)
    for i in 1 2; do gw_post_alert "$b"; assert_status 401; done
    for i in 1 2 3; do gw_post_alert "$b" -H "Authorization: Bearer $TOK_WRONG-$i"; assert_status 401; done
    gw_post_alert "$b" -H "Authorization: Bearer $TOK_SCOPED"; assert_status 403
    assert_equal "$(kube_rr_count "$(fp_of "$ns:Deployment:$d")")" 0

    scrape
    run promtool check metrics <"$GW_TMP/auth/scrape"
    assert_success
    assert_equal "$(( $(metric 'gateway_auth_failures_total{mode="bearer",reason="missing"}') - ${before['mode="bearer",reason="missing"']} ))" 2
    assert_equal "$(( $(metric 'gateway_auth_failures_total{mode="bearer",reason="mismatch"}') - ${before['mode="bearer",reason="mismatch"']} ))" 3
    assert_equal "$(( $(metric 'gateway_auth_failures_total{mode="bearer",reason="forbidden"}') - ${before['mode="bearer",reason="forbidden"']} ))" 1
    assert_equal "$(( $(metric 'gateway_signals_rejected_total{reason="unauthorized"}') - unauth ))" 5
    assert_equal "$(( $(metric 'gateway_signals_rejected_total{reason="forbidden"}') - forb ))" 1
    # the family has its fixed series only
    run grep -c '^gateway_auth_failures_total{' "$GW_TMP/auth/scrape"
    assert_output 14
    no_credential_logged "$TOK_WRONG" "$TOK_SCOPED" "$TOK_A"
}

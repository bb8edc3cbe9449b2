#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t3400-abuse: an admitted sender is still not trusted.  Well-formed
# webhooks that try to flood the cluster with requests (invented
# namespaces, a creation budget run dry), to read other namespaces' data
# (originalPayload), to steer the gateway's own apiserver calls (apiVersion
# and ownerReferences with path tricks), to learn cluster details from an
# error, or to balloon a worker's memory - each is refused or contained,
# through lighttpd against the real Redis and kube-apiserver.

load helpers

setup_file() {
    gw_setup_stack
    kube_namespaces abuse-a abuse-b
    # The bait: a Secret the gateway's own identity may read.  A request
    # that path tricks steer to it succeeds, so the apiserver counts it
    # (a refused one would not show in apiserver_request_total).
    kube_create api/v1/namespaces/kube-system/secrets \
        '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"admin-token"},"stringData":{"token":"bait"}}' >/dev/null
    kube_create apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles '{
        "apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"bait"},
        "rules":[{"apiGroups":[""],"resources":["secrets"],"resourceNames":["admin-token"],"verbs":["get"]}]}' >/dev/null
    kube_create apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings '{
        "apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"bait"},
        "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"bait"},
        "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"alertgw"}]}' >/dev/null
}
teardown_file() { gw_teardown_stack; }
setup()         { gw_reload_url; }
teardown() {
    # a test that took RBAC away gives it back, whatever happened
    if [[ -f $GW_TMP/rbac.rules ]]; then
        kube_merge apis/rbac.authorization.k8s.io/v1/clusterroles/alertgw "$(<"$GW_TMP/rbac.rules")"
        rm -f "$GW_TMP/rbac.rules"
    fi
    gw_teardown_test
}

ROUTE=/api/v1/signals/prometheus
EVENTS=/api/v1/signals/kubernetes-event

# rr_total: every RemediationRequest in the request namespace.
rr_total() { kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests" | jq '.items | length'; }

# apiserver_gets RESOURCE: GET requests the apiserver has served on RESOURCE,
# from its own metrics (requests its authorizer refused are not counted).
apiserver_gets() {
    kube_api metrics | awk -v r="resource=\"$1\"" '
        /^apiserver_request_total\{/ && index($0, r) && index($0, "verb=\"GET\"") { n += $NF }
        END { print n + 0 }'
}

# fresh_minute: waits until at least 25 s of the current minute are left,
# so that a test of a per-minute budget does not straddle two minutes.
fresh_minute() {
    local s
    s=$(( 10#$(date +%S) ))
    (( s <= 35 )) || sleep $(( 61 - s ))
}

@test "1000 alerts naming 1000 namespaces that do not exist create nothing" {
    local before body
    before=$(rr_total)
    gw_scrape
    local rejected_before
    rejected_before=$(gw_metric 'gateway_signals_rejected_total{reason="namespace_not_found"}')
    body=$(python3 - <<'EOF'
import json
alerts = [{"status": "firing",
           "labels": {"alertname": "GhostFlood", "namespace": "ghost-%04d" % i,
                      "deployment": "api", "severity": "critical", "environment": "production"},
           "annotations": {"summary": "x" * 40},
           "startsAt": "2026-11-23T10:00:00Z"} for i in range(1000)]
print(json.dumps({"version": "4", "groupKey": "{}:{alertname=\"GhostFlood\"}", "status": "firing",
                  "receiver": "alertgw", "groupLabels": {"alertname": "GhostFlood"},
                  "commonLabels": {"alertname": "GhostFlood"}, "alerts": alerts}))
EOF
)
    gw_post_alert "$body"
    assert_status 207
    assert_equal "$(gw_body_jq .summary.created)" 0
    assert_equal "$(gw_body_jq .summary.ignored)" 1000
    assert_equal "$(gw_body_jq '[.results[] | select(.reason == "namespace-not-found")] | length')" 1000
    assert_equal "$(rr_total)" "$before"
    gw_scrape
    assert_equal "$(( $(gw_metric 'gateway_signals_rejected_total{reason="namespace_not_found"}') - rejected_before ))" 1000
}

@test "one alert about a namespace that does not exist: 200 ignored, reason namespace-not-found" {
    gw_post_alert "$(am_body GhostOne deployment=api namespace=no-such-ns severity=critical)"
    assert_status 200
    assert_equal "$(gw_body_jq .status)" ignored
    assert_equal "$(gw_body_jq .reason)" namespace-not-found
    [[ $(gw_body_jq .message) == *no-such-ns* ]] || fail "message does not name it: $HTTP_BODY"
    assert_equal "$(kube_rr_count "$(fp_of no-such-ns:Deployment:api)")" 0
    # a namespace created later is seen once the cached absence expires
    # (environment.cache_ttl); existing namespaces are never in doubt
    gw_post_alert "$(am_body GhostOne deployment=api namespace=abuse-a severity=critical)"
    assert_status 201
}

@test "originalPayload holds the alert's own part of the webhook, not the batch" {
    local a b rr payload
    a=$(gw_uniq pay)
    b=$(gw_uniq pay)
    gw_post_alert "$(am_webhook "$(am_alert Payload deployment="$a" namespace=abuse-a secret=alpha)" \
        "$(am_alert Payload deployment="$b" namespace=abuse-b secret=bravo)")"
    assert_status 207
    assert_equal "$(gw_body_jq .summary.created)" 2
    rr=$(kube_get_rr "$(gw_body_jq '.results[0].remediationRequestRef | split("/")[1]')")
    payload=$(jq -r .spec.originalPayload <<<"$rr")
    assert_equal "$(jq '.alerts | length' <<<"$payload")" 1
    assert_equal "$(jq -r '.alerts[0].labels.deployment' <<<"$payload")" "$a"
    # the group's fields are kept
    assert_equal "$(jq -r .groupKey <<<"$payload")" '{}:{alertname="Payload"}'
    assert_equal "$(jq -r .receiver <<<"$payload")" alertgw
    # nothing of the other alert (its namespace, its labels)
    [[ $payload != *abuse-b* && $payload != *bravo* && $payload != *"$b"* ]] ||
        fail "the request in abuse-a carries the other alert: $payload"
}

# post_as TOKEN ALERTNAME KEY=VALUE...: one alert, sent with a bearer token.
post_as() {
    local tok=$1; shift
    gw_post_alert "$(am_body "$@")" -H "Authorization: Bearer $tok"
}

@test "creation budgets: 503 + Retry-After above them; duplicates and storm members never limited" {
    local a b c run hashes t rejected
    a=$(openssl rand -hex 16); b=$(openssl rand -hex 16); c=$(openssl rand -hex 16)
    for t in "$a" "$b" "$c"; do
        hashes+=${hashes:+,}$(printf %s "$t" | sha256sum | cut -c1-64)
    done
    gw_stop_lighttpd
    run=$(gw_uniq bud)
    # own Redis keys: the budgets of this minute start at 0 whatever the
    # tests before created
    gw_start_lighttpd ALERTGW_AUTH_PROMETHEUS=bearer ALERTGW_AUTH_BEARER_TOKENS="$hashes" \
        ALERTGW_REDIS_KEY_PREFIX="$run:" ALERTGW_LIMITS_CREATES_PER_MINUTE=8 ALERTGW_LIMITS_CREATES_PER_SENDER_PER_MINUTE=3 \
        ALERTGW_STORM_PATTERN_THRESHOLD=3
    gw_scrape
    rejected=$(gw_metric 'gateway_signals_rejected_total{reason="creation_budget"}')
    fresh_minute

    # sender B: two pods with one alert name get a request each, the third
    # opens a pattern storm and its aggregate (a create, budgeted): B has
    # spent its 3
    post_as "$b" "Storm-$run" pod="s1-$run" namespace=abuse-b; assert_status 201
    post_as "$b" "Storm-$run" pod="s2-$run" namespace=abuse-b; assert_status 201
    post_as "$b" "Storm-$run" pod="s3-$run" namespace=abuse-b; assert_status 202
    assert_equal "$(gw_body_jq .storm.opened)" true
    # a 4th new request of B's is over the sender budget
    post_as "$b" "Other-$run" deployment="b4-$run" namespace=abuse-b
    assert_503_retry_after
    [[ $(gw_body_jq .detail) == *limits.creates_per_sender_per_minute* ]] || fail "$HTTP_BODY"
    t=$(gw_header Retry-After)
    (( t >= 1 && t <= 60 )) || fail "Retry-After $t is not the rest of the minute"

    # senders A and C share the gateway's budget of 8: A takes 3, C 2,
    # and C's third is over the gateway's budget, not its own
    post_as "$a" "A1-$run" deployment="a1-$run" namespace=abuse-a; assert_status 201
    post_as "$a" "A2-$run" deployment="a2-$run" namespace=abuse-a; assert_status 201
    post_as "$a" "A3-$run" deployment="a3-$run" namespace=abuse-a; assert_status 201
    post_as "$c" "C1-$run" deployment="c1-$run" namespace=abuse-a; assert_status 201
    post_as "$c" "C2-$run" deployment="c2-$run" namespace=abuse-a; assert_status 201
    post_as "$c" "C3-$run" deployment="c3-$run" namespace=abuse-a
    assert_503_retry_after
    [[ $(gw_body_jq .detail) == *limits.creates_per_minute* ]] || fail "$HTTP_BODY"

    # every budget is spent, yet duplicates count and storm members join
    post_as "$a" "A1-$run" deployment="a1-$run" namespace=abuse-a; assert_status 202
    assert_equal "$(gw_body_jq .metadata.count)" 2
    post_as "$b" "Storm-$run" pod="s1-$run" namespace=abuse-b; assert_status 202
    post_as "$b" "Storm-$run" pod="s4-$run" namespace=abuse-b; assert_status 202
    assert_equal "$(gw_body_jq .status)" aggregated
    post_as "$c" "Storm-$run" pod="s5-$run" namespace=abuse-b; assert_status 202
    assert_equal "$(gw_body_jq .status)" aggregated

    # what exists is exactly what was answered 201 (or opened the storm)
    assert_equal "$(kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests" |
        jq --arg r "$run" '[.items[] | select(.spec.signalName | endswith($r))] | length')" 8
    gw_scrape
    assert_equal "$(( $(gw_metric 'gateway_signals_rejected_total{reason="creation_budget"}') - rejected ))" 2
    gw_stop_lighttpd
    gw_start_lighttpd
}

@test "a budget is spent by creates only: re-seeding Redis from Kubernetes after it lost its keys is free" {
    local run k
    run=$(gw_uniq seed)
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_REDIS_KEY_PREFIX="$run:" ALERTGW_LIMITS_CREATES_PER_SENDER_PER_MINUTE=2
    fresh_minute
    gw_post_alert "$(am_body "Seed-$run" deployment="s1-$run" namespace=abuse-a)"; assert_status 201
    gw_post_alert "$(am_body "Seed-$run" deployment="s2-$run" namespace=abuse-a)"; assert_status 201
    # Redis forgets the fingerprints (a restart, an eviction) but not the budget
    for k in $(gw_redis_cli --scan --pattern "$run:fp:*"); do gw_redis_cli del "$k" >/dev/null; done
    # the resends find their open requests in Kubernetes: duplicates, not creates
    gw_post_alert "$(am_body "Seed-$run" deployment="s1-$run" namespace=abuse-a)"; assert_status 202
    gw_post_alert "$(am_body "Seed-$run" deployment="s2-$run" namespace=abuse-a)"; assert_status 202
    # and the budget is still what the two creates left: nothing
    gw_post_alert "$(am_body "Seed-$run" deployment="s3-$run" namespace=abuse-a)"
    assert_503_retry_after
    gw_stop_lighttpd
    gw_start_lighttpd
}

# event_json NS APIVERSION: a fresh Warning event about pod p in NS.
event_json() {
    jq -cn --arg ns "$1" --arg av "$2" --arg t "$(gw_now -5)" '{
        apiVersion: "v1", kind: "Event", type: "Warning", reason: "BackOff",
        message: "Back-off restarting failed container",
        involvedObject: {kind: "Pod", name: "p", namespace: $ns, apiVersion: $av},
        lastTimestamp: $t, firstTimestamp: $t, count: 1, source: {component: "kubelet"}}'
}

@test "an Event's apiVersion with path tricks is 400, and reaches no apiserver path" {
    local secrets
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_OWNERS_RESOLVE=true ALERTGW_SCOPE_REQUIRE_LABEL=true
    secrets=$(apiserver_gets secrets)
    gw_post "$EVENTS" "$(event_json abuse-a '../api/v1/namespaces/kube-system/secrets/admin-token#')"
    assert_problem 400 validation-error "$EVENTS"
    [[ $(gw_body_jq .detail) == *apiVersion* ]] || fail "detail does not name the field: $HTTP_BODY"
    gw_post "$EVENTS" "$(event_json abuse-a 'v1/../../../api/v1/namespaces/kube-system/secrets/x')"
    assert_status 400
    # a sane apiVersion is still accepted (out of scope here: ignored)
    gw_post "$EVENTS" "$(event_json abuse-a v1)"
    assert_status 200
    assert_equal "$(gw_body_jq .reason)" out-of-scope
    assert_equal "$(apiserver_gets secrets)" "$secrets"
    gw_stop_lighttpd
    gw_start_lighttpd
}

@test "the owner walk stops at a poisoned ownerReference" {
    local pod secrets rs
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_OWNERS_RESOLVE=true
    pod=$(gw_uniq poisoned)
    # The apiserver stores ownerReference names as given.  Six ".." climb
    # from /apis/apps/v1/namespaces/abuse-a/replicasets/ to the root.
    kube_create api/v1/namespaces/abuse-a/pods "$(jq -cn --arg p "$pod" '{
        apiVersion: "v1", kind: "Pod",
        metadata: {name: $p, ownerReferences: [{apiVersion: "apps/v1", kind: "ReplicaSet",
            name: "../../../../../../api/v1/namespaces/kube-system/secrets/admin-token",
            uid: "0b7c3f0a-1c2d-4e5f-8a9b-00000000000a", controller: true}]},
        spec: {containers: [{name: "c", image: "busybox"}]}}')" >/dev/null
    secrets=$(apiserver_gets secrets)
    rs=$(apiserver_gets replicasets)
    gw_post_alert "$(am_body Poisoned pod="$pod" namespace=abuse-a severity=critical)"
    assert_status 201
    # the pod itself is the target: the walk went no further
    assert_equal "$(gw_body_jq .fingerprint)" "$(fp_of "abuse-a:Pod:$pod")"
    assert_equal "$(apiserver_gets secrets)" "$secrets"
    assert_equal "$(apiserver_gets replicasets)" "$rs"
    gw_stop_lighttpd
    gw_start_lighttpd
}

@test "the apiserver's refusal reaches the log, never the client" {
    local rid
    local rules path=apis/rbac.authorization.k8s.io/v1/clusterroles/alertgw
    rules=$(kube_api "$path" | jq -c '{rules: .rules}')
    echo "$rules" >"$GW_TMP/rbac.rules"
    # the gateway may no longer create requests (it still reads namespaces)
    kube_merge "$path" "$(jq -c '.rules |= map(if .resources == ["remediationrequests"]
                                               then .verbs -= ["create"] else . end)' <<<"$rules")"
    local i
    for i in $(seq 1 20); do
        gw_post_alert "$(am_body NoRbac deployment="$(gw_uniq norbac)" namespace=abuse-a)"
        [[ $HTTP_STATUS == 500 ]] && break
        sleep 0.5 # the RBAC change reaches the authorizer's cache
    done
    assert_problem 500 internal-error "$ROUTE"
    rid=$(gw_body_jq .request_id)
    # no user name, verb or RBAC wording in the answer ...
    [[ $HTTP_BODY != *system:* && $HTTP_BODY != *'User "'* && $HTTP_BODY != *alertgw\"* &&
       $HTTP_BODY != *forbidden:* && $HTTP_BODY != *cannot\ create* ]] ||
        fail "the client sees the apiserver's message: $HTTP_BODY"
    # ... the operator finds it in the log under the request id
    grep -F "\"request_id\":\"$rid\"" "$GW_TMP/lighttpd/stderr.log" | grep -q 'cannot create' ||
        fail "the apiserver's message is not in the log under $rid"
}

@test "a create the apiserver refuses gives its budget back" {
    local run rules path=apis/rbac.authorization.k8s.io/v1/clusterroles/alertgw i
    run=$(gw_uniq refund)
    gw_stop_lighttpd
    gw_start_lighttpd ALERTGW_REDIS_KEY_PREFIX="$run:" ALERTGW_LIMITS_CREATES_PER_SENDER_PER_MINUTE=2
    fresh_minute
    rules=$(kube_api "$path" | jq -c '{rules: .rules}')
    echo "$rules" >"$GW_TMP/rbac.rules"
    kube_merge "$path" "$(jq -c '.rules |= map(if .resources == ["remediationrequests"]
                                               then .verbs -= ["create"] else . end)' <<<"$rules")"
    for i in $(seq 1 20); do # until the authorizer sees the change
        gw_post_alert "$(am_body "Refund0-$run" deployment="r0-$run" namespace=abuse-a)"
        [[ $HTTP_STATUS == 500 ]] && break
        sleep 0.5
    done
    assert_status 500
    # three more refused creates (distinct alert names: no storm) - none of
    # them may spend the budget of 2
    for i in 1 2 3; do
        gw_post_alert "$(am_body "Refund$i-$run" deployment="r$i-$run" namespace=abuse-a)"
        assert_status 500
    done
    kube_merge "$path" "$rules"
    rm -f "$GW_TMP/rbac.rules"
    for i in $(seq 1 20); do
        gw_post_alert "$(am_body "Refund4-$run" deployment="r4-$run" namespace=abuse-a)"
        [[ $HTTP_STATUS != 500 ]] && break
        sleep 0.5
    done
    assert_status 201
    gw_post_alert "$(am_body "Refund5-$run" deployment="r5-$run" namespace=abuse-a)"
    assert_status 201
    gw_stop_lighttpd
    gw_start_lighttpd
}

@test "memory bombs: 413 for a parse over server.max_parse_bytes, worker RSS stays under 64 MiB" {
    local w rss hwm i bin
    # measured on the build without sanitizers (ASan's shadow and
    # quarantine are not what a deployment runs)
    bin=${GW_PLAIN_FCGI_BIN:-${GW_FCGI_BIN:-}}
    gw_stop_lighttpd
    GW_FCGI_BIN=$bin gw_start_lighttpd
    # a 1 MiB body: one valid alert and 350k empty objects (80 MB to parse)
    python3 - "$GW_TMP" <<'PY'
import json, sys
alert = {"status": "firing", "startsAt": "2026-11-23T10:00:00Z",
         "labels": {"alertname": "Bomb", "namespace": "abuse-a", "deployment": "bomb"}}
head = json.dumps({"alerts": [alert]})[:-1] + ',"x":['
n = (1024 * 1024 - len(head) - 2) // 3
open(sys.argv[1] + "/bomb.json", "w").write(head + ",".join(["{}"] * n) + "]}")
# 40 different 64 KiB bodies, each a valid alert with 20k objects (~5 MB to parse)
for i in range(40):
    a = dict(alert, labels=dict(alert["labels"], deployment="b%d" % i))
    h = json.dumps({"alerts": [a]})[:-1] + ',"x":['
    m = (64 * 1024 - len(h) - 2) // 3
    open("%s/bomb64-%d.json" % (sys.argv[1], i), "w").write(h + ",".join(["{}"] * m) + "]}")
PY
    for i in $(seq 1 12); do
        gw_post "$ROUTE" "@$GW_TMP/bomb.json"
        assert_problem 413 payload-too-large "$ROUTE"
        [[ $(gw_body_jq .detail) == *server.max_parse_bytes* ]] || fail "$HTTP_BODY"
    done
    for i in $(seq 0 39); do
        gw_post "$ROUTE" "@$GW_TMP/bomb64-$i.json"
        [[ $HTTP_STATUS == 201 || $HTTP_STATUS == 202 ]] || fail "bomb64-$i: $HTTP_STATUS $HTTP_BODY"
    done
    for w in $(gw_worker_pids); do
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$w/status")
        hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$w/status")
        echo "# worker $w RSS ${rss} kB, peak ${hwm} kB" >&3
        (( rss < 65536 )) || fail "worker $w RSS ${rss} kB is over 64 MiB"
        (( hwm < 65536 )) || fail "worker $w peak RSS ${hwm} kB is over 64 MiB"
    done
    gw_stop_lighttpd
    gw_start_lighttpd
}

#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t2100-concurrency: many workers racing on one new fingerprint still make
# exactly one RemediationRequest (the pending claim in Redis), and every
# sender gets a 2xx: one 201, the rest 202 on that same request.

load helpers

setup_file() {
    # The creation budgets keep their defaults (120 new requests a minute
    # per sender; every client here is the one sender 127.0.0.1): this
    # file creates 21 (its duplicates are never budgeted).
    gw_setup_stack || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod
}
teardown_file() { gw_teardown_stack; }
teardown()      { gw_teardown_test; }

# fire N BODYFILE OUTDIR: N concurrent POSTs of one body; each answer's
# status goes to OUTDIR/<i>.code and its body to OUTDIR/<i>.json.
fire() {
    local n=$1 body=$2 out=$3
    mkdir -p "$out"
    seq 1 "$n" | xargs -P "$n" -I{} \
        curl -s --max-time 60 -o "$out/{}.json" -w '%{http_code}\n' \
            -H 'Content-Type: application/json' --data-binary "@$body" \
            "$GW_URL/api/v1/signals/prometheus" >"$out/codes"
}

@test "50 identical new alerts at once: exactly one request, one 201 and 49 202s" {
    local name fp out="$GW_TMP/fire50"
    name=$(gw_uniq storm)
    fp=$(fp_of "prod:Deployment:$name")
    am_body ConcurrentTest deployment="$name" namespace=prod severity=critical >"$GW_TMP/c50.json"

    fire 50 "$GW_TMP/c50.json" "$out"

    local codes
    codes=$(sort "$out/codes" | uniq -c | awk '{printf "%s×%s ", $2, $1}')
    assert_equal "$(wc -l <"$out/codes")" 50
    assert_equal "$(grep -c '^201$' "$out/codes")" 1 || fail "answers: $codes"
    assert_equal "$(grep -c '^202$' "$out/codes")" 49 || fail "answers: $codes"
    assert_equal "$(kube_rr_count "$fp")" 1

    # every answer names the same request
    local names
    names=$(cat "$out"/*.json | jq -r '.remediationRequestName // (.metadata.remediationRequestRef | split("/")[1])' | sort -u)
    assert_equal "$(wc -l <<<"$names")" 1
    assert_equal "$names" "$(kube_get_rrs "$fp" | jq -r '.items[0].metadata.name')"
}

@test "20 different new alerts at once: twenty requests, all 201" {
    local i out="$GW_TMP/fire20" prefix ns
    prefix=$(gw_uniq svc)
    ns=$(gw_uniq par)
    mkdir -p "$out"
    # distinct alert names and namespaces, so that no storm rule (same name
    # on many resources) or per-namespace cap folds or refuses them
    for i in $(seq 1 20); do
        am_body "ParallelTest$i" deployment="$prefix-$i" namespace="$ns-$i" severity=warning >"$out/in.$i.json"
        kube_namespaces "$ns-$i"
    done
    seq 1 20 | xargs -P 20 -I{} \
        curl -s --max-time 60 -o "$out/{}.json" -w '%{http_code}\n' \
            -H 'Content-Type: application/json' --data-binary "@$out/in.{}.json" \
            "$GW_URL/api/v1/signals/prometheus" >"$out/codes"
    assert_equal "$(grep -c '^201$' "$out/codes")" 20 || fail "answers: $(sort "$out/codes" | uniq -c)"
    for i in $(seq 1 20); do
        assert_equal "$(kube_rr_count "$(fp_of "$ns-$i:Deployment:$prefix-$i")")" 1
    done
}

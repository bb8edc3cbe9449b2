#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t5200-observability: the operator's side of /metrics - the alerting rules
# (deploy/prometheus/alertgw-rules.yaml), their promtool unit tests, and the
# Grafana dashboard (deploy/grafana/alertgw-dashboard.json) - checked
# against the real gateway: every gateway_* name they use is in a real
# scrape, a real Prometheus (the Debian package's server) scraping the
# stack evaluates every rule without error, no alert is active while the
# gateway is healthy, AlertgwRedisDown goes pending when Redis is stopped,
# and every dashboard query runs and returns data (each target of each
# panel: a misspelt name in one of several targets is caught too).

load helpers

RULES=deploy/prometheus/alertgw-rules.yaml
RULES_TEST=deploy/prometheus/alertgw-rules.test.yaml
DASH=deploy/grafana/alertgw-dashboard.json

setup_file() {
    # a cap, so that gateway_requests_in_flight_limit > 0 has data too
    gw_setup_stack ALERTGW_SERVER_MAX_IN_FLIGHT=64 || return 1
    # the gateway ignores signals about namespaces the cluster does not have
    kube_namespaces prod || return 1
    # warm-up before Prometheus looks: the first RemediationRequest of a
    # fresh apiserver can take over a second, which is not what the healthy
    # p99 test is about (rates only see what happens after the first scrape)
    gw_post_alert "$(am_body ObsWarmup deployment=warmup namespace=prod)" || return 1
    start_prometheus
}
teardown_file() {
    [[ -f ${GW_TMP:-/nonexistent}/prometheus/pid ]] && gw_kill_pid "$(<"$GW_TMP/prometheus/pid")" 10
    gw_teardown_stack
}
teardown() { gw_teardown_test; }

## --- helpers ---------------------------------------------------------------

# start_prometheus: prometheus (the server of the Debian package) on a free
# loopback port, scraping the gateway every second as job "alertgw" and
# evaluating the rules file every second.  Exports PROM_URL.
start_prometheus() {
    local dir="$GW_TMP/prometheus" port attempt pid
    mkdir -p "$dir/data"
    cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $GW_ROOT/$RULES
scrape_configs:
  - job_name: alertgw
    static_configs:
      - targets: ["${GW_URL#http://}"]
EOF
    for attempt in 1 2 3; do
        port=$(gw_free_port) || return 1
        prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
            --web.listen-address="127.0.0.1:$port" --log.level=warn \
            >>"$dir/prometheus.log" 2>&1 3>&- &
        pid=$!
        echo "$pid" >"$dir/pid"
        export PROM_URL="http://127.0.0.1:$port"
        if gw_wait_for 30 _prom_ready_or_dead "$pid" && alive "$pid"; then
            return 0
        fi
        echo "# prometheus did not start (attempt $attempt):" >&3
        tail -n 5 "$dir/prometheus.log" | sed 's/^/#   /' >&3
        gw_kill_pid "$pid" 5
    done
    return 1
}
_prom_ready_or_dead() {
    alive "$1" || return 0
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$PROM_URL/-/ready") == 200 ]]
}

# prom_query EXPR: the instant query's JSON answer (fails on a non-2xx).
prom_query() {
    curl -sS -f --max-time 10 -G --data-urlencode "query=$1" "$PROM_URL/api/v1/query"
}
# prom_has EXPR: the query returns at least one sample.
prom_has() { prom_query "$1" | jq -e '.data.result | length > 0' >/dev/null; }
# prom_alert_state NAME: the state (pending/firing) of an active alert, or empty.
prom_alert_state() {
    curl -sS -f --max-time 10 "$PROM_URL/api/v1/alerts" |
        jq -r --arg n "$1" '[.data.alerts[] | select(.labels.alertname == $n) | .state] | first // empty'
}
_prom_alert_pending_or_firing() { [[ $(prom_alert_state "$1") =~ ^(pending|firing)$ ]]; }

# every rule has been evaluated, without error
_prom_rules_ok() {
    curl -sS -f --max-time 10 "$PROM_URL/api/v1/rules" >"$GW_TMP/rules.json" &&
        jq -e '[.data.groups[].rules[]] | length > 0 and all(.health == "ok")' \
            "$GW_TMP/rules.json" >/dev/null
}

# metric_names FILE: the gateway_* metric names FILE uses (identifiers with
# a colon - recording rules - are not metric names).
metric_names() {
    grep -oE '[A-Za-z_:][A-Za-z0-9_:]*' "$1" | grep -E '^gateway_[a-z0-9_]+$' | sort -u
}

# missing_names SCRAPE NAMES_FILE: prints the names that are not metrics of
# the scrape's "# TYPE" lines; a _bucket/_sum/_count name counts when its
# base is a histogram or summary there.
missing_names() {
    local scrape=$1 n base
    while read -r n; do
        grep -q "^# TYPE $n " "$scrape" && continue
        base=$(sed -E 's/_(bucket|sum|count)$//' <<<"$n")
        [[ $base != "$n" ]] && grep -qE "^# TYPE $base (histogram|summary)$" "$scrape" && continue
        echo "$n"
    done <"$2"
}

# dashboard_exprs: one line per target, "panel id<TAB>panel title<TAB>expr",
# with Grafana's variables replaced as Grafana would for "All" (the
# variables' allValue is .*) and the range variables by fixed durations.
dashboard_exprs() {
    jq -r '[.panels[] | ., (.panels // [])[]] | .[] | select(.type != "row")
           | . as $p | .targets[] | [($p.id | tostring), $p.title, .expr] | @tsv' "$GW_ROOT/$DASH" |
        sed -e 's/\$__rate_interval/1m/g; s/\$__interval/1m/g; s/\$__range/1h/g' \
            -e 's/\$job/.*/g; s/\$instance/.*/g; s/\$route/.*/g'
}

# some traffic, so that every kind of series exists: a new problem, a
# duplicate, readiness (sets redis/kube up).  No 4xx: three of them within
# 15 minutes would rightly make AlertgwSignalsRejected pending (test 4 sends
# one).
send_traffic() {
    local body
    body=$(am_body "ObsTest$1" deployment="$(gw_uniq obs)" namespace=prod severity=warning)
    gw_post_alert "$body"; assert_status 201
    gw_post_alert "$body"; assert_status 202
    gw_request GET /readyz; assert_status 200
}

# redis_blip: stop Redis, one webhook (503), start Redis, one webhook (201).
redis_blip() {
    gw_stop_redis
    gw_post_alert "$(am_body ObsBlip deployment="$(gw_uniq blip)" namespace=prod)"
    assert_status 503
    gw_start_redis unix
    gw_post_alert "$(am_body ObsBlip deployment="$(gw_uniq blip)" namespace=prod)"
    assert_status 201
}

## --- the files on their own --------------------------------------------------

@test "promtool check rules: the rules file is valid, every alert has severity, summary, description and a runbook section" {
    run promtool check rules "$GW_ROOT/$RULES"
    assert_success
    assert_output --regexp 'SUCCESS: [0-9]+ rules found'
    # every alert rule carries the labels and annotations the runbooks rely on
    local alerts a anchor
    alerts=$(grep -oE '^ *- alert: [A-Za-z]+' "$GW_ROOT/$RULES" | awk '{print $3}')
    (( $(wc -l <<<"$alerts") >= 12 )) || fail "only $(wc -l <<<"$alerts") alerts"
    for a in $alerts; do
        # the rule's block: from its "- alert:" line to the next rule
        awk -v a="$a" '$0 ~ "- alert: " a "$" {on=1; print; next}
                       on && /^ *- (alert|record):/ {exit} on {print}' \
            "$GW_ROOT/$RULES" >"$GW_TMP/rule.$a"
        grep -qE '^ +severity: (critical|warning|info)$' "$GW_TMP/rule.$a" || fail "$a: no severity"
        grep -q '^ *summary: ' "$GW_TMP/rule.$a" || fail "$a: no summary"
        grep -q '^ *description: ' "$GW_TMP/rule.$a" || fail "$a: no description"
        anchor=$(tr 'A-Z' 'a-z' <<<"$a")
        grep -q "^ *runbook_url: docs/runbooks.md#$anchor$" "$GW_TMP/rule.$a" ||
            fail "$a: runbook_url is not docs/runbooks.md#$anchor"
        # the anchor exists: a "## <AlertName>" heading in docs/runbooks.md
        grep -q "^## $a\$" "$GW_ROOT/docs/runbooks.md" || fail "docs/runbooks.md has no section $a"
    done
    # recording rules used by the alerts are defined in the file
    local rec
    for rec in $(grep -v '^ *#' "$GW_ROOT/$RULES" | grep -oE '[a-z_]+:[a-z0-9_]+:[a-z0-9_]+' | sort -u); do
        grep -q "^ *- record: $rec$" "$GW_ROOT/$RULES" || fail "$rec is used but never recorded"
    done
}

@test "promtool test rules: the unit tests pass (and catch a broken rule)" {
    run promtool test rules "$GW_ROOT/$RULES_TEST"
    assert_success
    assert_output --partial SUCCESS
    (( $(grep -c 'alertname:' "$GW_ROOT/$RULES_TEST") >= 10 ))
    # the same tests against rules with a wrong threshold / a missing "for" must fail
    mkdir -p "$GW_TMP/mut"
    cp "$GW_ROOT/$RULES_TEST" "$GW_TMP/mut/"
    sed 's/gateway_redis_up == 0/gateway_redis_up == 1/' "$GW_ROOT/$RULES" >"$GW_TMP/mut/alertgw-rules.yaml"
    run promtool test rules "$GW_TMP/mut/alertgw-rules.test.yaml"
    assert_failure
    assert_output --partial AlertgwRedisDown
    sed 's/ratio_rate5m > 0.05/ratio_rate5m > 0.5/' "$GW_ROOT/$RULES" >"$GW_TMP/mut/alertgw-rules.yaml"
    run promtool test rules "$GW_TMP/mut/alertgw-rules.test.yaml"
    assert_failure
    assert_output --partial AlertgwWebhookErrorsHigh
}

@test "the dashboard is valid JSON with unique panel ids, a datasource variable, and PromQL that parses" {
    local d="$GW_ROOT/$DASH"
    jq -e . "$d" >/dev/null || fail "$DASH is not JSON"
    jq -e '.schemaVersion >= 36 and (.uid | length > 0) and (.title | length > 0)' "$d" >/dev/null
    # unique numeric ids over all panels, rows' nested panels included
    jq -e '[.panels[] | ., (.panels // [])[]] | map(.id) | (all(type == "number") and
           (length == (unique | length)) and length >= 15)' "$d" >/dev/null ||
        fail "panel ids: $(jq -c '[.panels[] | ., (.panels // [])[]] | map(.id)' "$d")"
    # panels do not overlap on the 24-column grid
    jq -e '[.panels[] | .gridPos] as $g | [range(0; $g | length) as $i | range($i + 1; $g | length) as $j
           | $g[$i] as $a | $g[$j] as $b
           | select($a.x < $b.x + $b.w and $b.x < $a.x + $a.w and $a.y < $b.y + $b.h and $b.y < $a.y + $a.h)]
           | length == 0' "$d" >/dev/null || fail "overlapping panels"
    jq -e '[.panels[] | .gridPos | .x + .w <= 24] | all' "$d" >/dev/null
    # one Prometheus datasource variable, used by every panel and target
    jq -e '[.templating.list[] | select(.type == "datasource" and .query == "prometheus" and .name == "datasource")]
           | length == 1' "$d" >/dev/null || fail "no datasource variable"
    jq -e '[.panels[] | select(.type != "row") | .datasource.uid, .targets[].datasource.uid]
           | all(. == "${datasource}")' "$d" >/dev/null || fail "a panel or target without \${datasource}"
    jq -e '[.panels[] | select(.type != "row") | (.targets | length > 0) and
            all(.targets[]; (.expr | length > 0) and (.refId | length > 0))] | all' "$d" >/dev/null ||
        fail "a panel without a query"
    # no recording rule in the dashboard: it works without the rules loaded
    run grep -cE '"expr": "[^"]*[a-z_]+:[a-z0-9_]+:' "$d"
    assert_output 0
    # every query parses as PromQL (promtool checks recording rules built from them)
    dashboard_exprs | jq -R -s 'split("\n") | map(select(length > 0) | split("\t"))
        | {groups: [{name: "dashboard", rules: [to_entries[] | {record: "dashboard:panel_\(.value[0]):q\(.key)", expr: .value[2]}]}]}' \
        >"$GW_TMP/dashboard-rules.json"
    run promtool check rules "$GW_TMP/dashboard-rules.json"
    assert_success
    assert_output --regexp 'SUCCESS: [0-9]+ rules found'
    # and a broken one would not
    jq '.groups[0].rules[0].expr += " +"' "$GW_TMP/dashboard-rules.json" >"$GW_TMP/broken-rules.json"
    run promtool check rules "$GW_TMP/broken-rules.json"
    assert_failure
}

## --- against the real gateway --------------------------------------------------

@test "every metric name in the rules and the dashboard is in a real scrape of /metrics" {
    send_traffic 1
    gw_post_alert '{"version":"4"'; assert_status 400
    curl -sS -f --max-time 10 -o "$GW_TMP/scrape" "$GW_URL/metrics"
    run promtool check metrics <"$GW_TMP/scrape"
    assert_success
    metric_names "$GW_ROOT/$RULES" >"$GW_TMP/names.rules"
    metric_names "$GW_ROOT/$DASH" >"$GW_TMP/names.dash"
    # the extraction found what it should (it must not pass by finding nothing)
    (( $(wc -l <"$GW_TMP/names.rules") >= 12 )) || fail "rules: $(cat "$GW_TMP/names.rules")"
    (( $(wc -l <"$GW_TMP/names.dash") >= 20 )) || fail "dashboard: $(cat "$GW_TMP/names.dash")"
    grep -qx gateway_http_request_duration_seconds_bucket "$GW_TMP/names.rules"
    grep -qx gateway_requests_in_flight_limit "$GW_TMP/names.rules"
    run missing_names "$GW_TMP/scrape" "$GW_TMP/names.rules"
    assert_success
    assert_output ''
    run missing_names "$GW_TMP/scrape" "$GW_TMP/names.dash"
    assert_success
    assert_output ''
    # the check itself catches a name the gateway does not export
    printf '%s\n' gateway_no_such_metric_total gateway_redis_up gateway_crds_created_total_bucket \
        >"$GW_TMP/names.bad"
    run missing_names "$GW_TMP/scrape" "$GW_TMP/names.bad"
    assert_output $'gateway_no_such_metric_total\ngateway_crds_created_total_bucket'
    # the dashboard shows every family the gateway exports
    grep -oE '^# TYPE gateway_[a-z_]+' "$GW_TMP/scrape" | awk '{print $3}' | sort -u >"$GW_TMP/names.scrape"
    run comm -23 "$GW_TMP/names.scrape" <(sed -E 's/_(bucket|sum|count)$//' "$GW_TMP/names.dash" | sort -u)
    assert_output ''
}

@test "Prometheus evaluates every rule on the real gateway: no alert while healthy, AlertgwRedisDown pending when Redis stops" {
    local inst=${GW_URL#http://}
    gw_wait_for 30 prom_has 'up{job="alertgw"} == 1' || fail "prometheus does not scrape $inst"
    send_traffic 2
    sleep 2
    send_traffic 3
    # every rule evaluated without error
    gw_wait_for 30 _prom_rules_ok || fail "rules not ok: $(jq -c '[.data.groups[].rules[] | select(.health != "ok") | {name, health, lastError}]' "$GW_TMP/rules.json")"
    assert_equal "$(jq '[.data.groups[].rules[]] | length' "$GW_TMP/rules.json")" \
        "$(grep -cE '^ *- (alert|record):' "$GW_ROOT/$RULES")"
    # the recording rules produce series from the real metrics
    gw_wait_for 20 prom_has "job_instance:gateway_webhook_5xx:ratio_rate5m{instance=\"$inst\"} == 0" ||
        fail "5xx ratio: $(prom_query 'job_instance:gateway_webhook_5xx:ratio_rate5m')"
    gw_wait_for 20 prom_has "job_instance_route:gateway_http_request_duration_seconds:p99_5m{instance=\"$inst\",route=\"prometheus\"} < 1" ||
        fail "p99: $(prom_query 'job_instance_route:gateway_http_request_duration_seconds:p99_5m')"
    prom_has "job_instance_route_code:gateway_http_requests:rate5m{instance=\"$inst\",route=\"prometheus\",code=\"201\"} > 0"
    prom_has "gateway_redis_up{instance=\"$inst\"} == 1"
    prom_has "gateway_requests_in_flight_limit{instance=\"$inst\"} == 64"
    # a healthy gateway: nothing active, not even pending
    run curl -sS -f --max-time 10 "$PROM_URL/api/v1/alerts"
    assert_success
    assert_equal "$(jq -c '[.data.alerts[] | {alertname: .labels.alertname, state}]' <<<"$output")" '[]'

    # Redis stops: webhooks get 503 and AlertgwRedisDown goes pending (its
    # "for: 2m" is longer than this test waits)
    gw_stop_redis
    gw_post_alert "$(am_body ObsRedis deployment="$(gw_uniq r)" namespace=prod)"
    assert_status 503
    gw_wait_for 20 _prom_alert_pending_or_firing AlertgwRedisDown ||
        fail "alerts: $(curl -sS "$PROM_URL/api/v1/alerts")"
    curl -sS -f "$PROM_URL/api/v1/alerts" | jq -e --arg i "$inst" \
        '.data.alerts[] | select(.labels.alertname == "AlertgwRedisDown")
         | .labels.instance == $i and .labels.severity == "critical"
           and (.annotations.runbook_url == "docs/runbooks.md#alertgwredisdown")' >/dev/null
    gw_start_redis unix
    gw_post_alert "$(am_body ObsRedis deployment="$(gw_uniq r)" namespace=prod)"
    assert_status 201
    # and it clears once the gateway has talked to Redis again
    gw_wait_for 20 _prom_no_alert AlertgwRedisDown || fail "AlertgwRedisDown still active"
}
_prom_no_alert() { [[ -z $(prom_alert_state "$1") ]]; }

@test "every dashboard query runs on Prometheus and returns data; the variables' queries find the gateway" {
    local inst=${GW_URL#http://} id title expr res empty='' n=0
    gw_wait_for 30 prom_has 'up{job="alertgw"} == 1' || fail "prometheus does not scrape $inst"
    send_traffic 4
    redis_blip # a 503, so that the 5xx queries have a series
    sleep 3    # a few scrapes
    declare -A panels=()
    while IFS=$'\t' read -r id title expr; do
        n=$(( n + 1 )); panels[$id]=1
        res=$(prom_query "$expr") || fail "panel $id ($title): query failed: $expr"
        jq -e '.status == "success"' <<<"$res" >/dev/null || fail "panel $id ($title): $res"
        jq -e '.data.result | length > 0' <<<"$res" >/dev/null || empty+=$'\n'"panel $id ($title): $expr"
    done < <(dashboard_exprs)
    (( ${#panels[@]} >= 15 && n >= 25 )) || fail "only $n queries of ${#panels[@]} panels"
    [[ -z $empty ]] || fail "queries without data:$empty"
    # template variables: label_values(SELECTOR, LABEL) as Grafana runs them
    local q sel label
    while read -r q; do
        [[ $q =~ ^label_values\((.*),\ *([a-z_]+)\)$ ]] || fail "unexpected variable query: $q"
        sel=${BASH_REMATCH[1]//\$job/.*}; sel=${sel//\$instance/.*}; label=${BASH_REMATCH[2]}
        res=$(curl -sS -f --max-time 10 -G --data-urlencode "match[]=$sel" "$PROM_URL/api/v1/label/$label/values")
        case $label in
            job)      jq -e '.data | index("alertgw")' <<<"$res" >/dev/null || fail "$q: $res" ;;
            instance) jq -e --arg i "$inst" '.data | index($i)' <<<"$res" >/dev/null || fail "$q: $res" ;;
            *)        jq -e '.data | index("prometheus")' <<<"$res" >/dev/null || fail "$q: $res" ;;
        esac
    done < <(jq -r '.templating.list[] | select(.type == "query") | .query.query' "$GW_ROOT/$DASH")
}

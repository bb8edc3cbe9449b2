# SPDX-License-Identifier: Apache-2.0
# shell-tests/helpers.bash - starts and stops the real services for the bats
# end-to-end tests, and the small tools the tests share.
#
# Each test file does
#
#     load helpers
#     setup_file()    { gw_setup_stack; }
#     teardown_file() { gw_teardown_stack; }
#
# which starts, in a private temp dir: redis-server on a unix socket, etcd +
# kube-apiserver through deploy/kube-local.sh, and lighttpd with the
# repository's lighttpd.conf and N alertgw-fcgi workers, on free loopback
# ports.  Every process is recorded by PID in a file under $GW_TMP (tests run
# in subshells, so a PID in a variable set by a test would be lost) and is
# stopped by that PID.  Every wait is bounded.
#
# Knobs (environment):
#   GW_FCGI_BIN     worker binary              [<repo>/fcgi/alertgw-fcgi]
#   GW_WORKERS      worker processes                                  [4]
#   GW_KUBE_ENV     kube.env of an already running kube-local instance to
#                   reuse (it is then never stopped by the tests; the fault
#                   tests do stop and restart its apiserver)
#   GW_KEEP_STATE=1 keep the temp dirs (logs, sockets) after the run
#   GW_CACERT       CA file curl trusts when the gateway speaks TLS (a test
#                   that passes ALERTGW_TLS_CERT=... to gw_start_lighttpd
#                   sets it; GW_URL is then https://)
#
# Invariants the tests rely on: names of alerts and resources are unique per
# test (gw_uniq), so leftovers of other tests never match; the gateway runs
# with ALERTGW_DEDUP_STATUS_SYNC_INTERVAL=0s so status counts are written on
# every occurrence.

GW_ROOT=$(cd "${BATS_TEST_DIRNAME:-$(dirname "${BASH_SOURCE[0]}")}/.." && pwd)
export GW_ROOT

for _gw_lib in /usr/lib/bats/bats-support/load.bash /usr/lib/bats/bats-assert/load.bash; do
    if [[ ! -f $_gw_lib ]]; then
        echo "helpers.bash: $_gw_lib missing: apt-get install bats-support bats-assert" >&2
        exit 1
    fi
    # shellcheck source=/dev/null
    source "$_gw_lib"
done
unset _gw_lib

# No test may hang the suite.
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-180}

GW_RR_NAMESPACE=kubernaut-system
GW_RR_API=apis/kubernaut.ai/v1alpha1

## --- small tools -----------------------------------------------------------

# gw_wait_for SECONDS CMD [ARGS...]: runs CMD every 0.2 s until it succeeds
# or SECONDS have passed; returns 1 on timeout.
gw_wait_for() {
    local deadline=$(( SECONDS + $1 )); shift
    while :; do
        "$@" && return 0
        (( SECONDS >= deadline )) && return 1
        sleep 0.2
    done
}

# alive PID (deploy/daemon.sh): the process exists and is not a zombie
# waiting for its reaper (a stopped daemon is "gone" as soon as it exited).
# shellcheck source=../deploy/daemon.sh
source "$GW_ROOT/deploy/daemon.sh"

# gw_kill_pid PID [SECONDS]: SIGTERM, wait up to SECONDS (default 10) for the
# process to go, then SIGKILL.  Only ever by PID.
gw_kill_pid() {
    local pid=$1 t=${2:-10}
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null
    if ! gw_wait_for "$t" _gw_pid_gone "$pid"; then
        echo "# pid $pid ignored SIGTERM for ${t}s, sending SIGKILL" >&3
        kill -KILL "$pid" 2>/dev/null
        gw_wait_for 5 _gw_pid_gone "$pid"
    fi
}
_gw_pid_gone() { ! alive "$1"; }

# gw_free_port: prints a TCP port on 127.0.0.1 that nothing listens on.
# (Chosen at random and probed; the caller retries if it loses a race.)
gw_free_port() {
    local port i
    for (( i = 0; i < 100; i++ )); do
        port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if ! (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "gw_free_port: no free port found" >&2
    return 1
}

# gw_uniq PREFIX: a fresh RFC 1123 name, PREFIX-<test number>-<6 hex>.
gw_uniq() {
    printf '%s-%s-%s\n' "$1" "${BATS_TEST_NUMBER:-0}" \
        "$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
}

# fp_of "namespace:Kind:name": the alertgw fingerprint (spec 2.2).
fp_of() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# gw_now [OFFSET_SECONDS]: RFC 3339 UTC time, now plus the offset.
gw_now() { date -u -d "@$(( $(date +%s) + ${1:-0} ))" +%Y-%m-%dT%H:%M:%SZ; }

## --- Alertmanager payloads -------------------------------------------------

# am_alert [--status firing|resolved] ALERTNAME [KEY=VALUE...]: one alert
# object of an Alertmanager v4 webhook, labels = alertname + the pairs.
am_alert() {
    local status=firing
    if [[ $1 == --status ]]; then status=$2; shift 2; fi
    local name=$1; shift
    local labels starts ends
    labels=$(jq -cn --arg name "$name" '{alertname: $name} +
        ($ARGS.positional
         | map(capture("^(?<k>[^=]+)=(?<v>.*)$") | {(.k): .v}) | add // {})' --args "$@") || return 1
    starts=$(gw_now -30)
    if [[ $status == resolved ]]; then ends=$(gw_now -1); else ends=0001-01-01T00:00:00Z; fi
    jq -cn --argjson labels "$labels" --arg status "$status" \
        --arg starts "$starts" --arg ends "$ends" \
        --arg amfp "$(printf '%s' "$labels" | sha256sum | cut -c1-16)" '{
            status: $status,
            labels: $labels,
            annotations: {
              summary: "\($labels.alertname) fired (shell-tests)",
              description: "generated by shell-tests/helpers.bash"
            },
            startsAt: $starts,
            endsAt: $ends,
            generatorURL: ("http://prometheus.test:9090/graph?g0.expr=" + $labels.alertname),
            fingerprint: $amfp
          }'
}

# am_webhook ALERT_JSON...: wraps alerts (from am_alert) into a v4 webhook
# body with groupKey, groupLabels and commonLabels as Alertmanager fills them.
am_webhook() {
    printf '%s\n' "$@" | jq -cs '
        . as $alerts
        | ($alerts[0].labels.alertname) as $an
        | ($alerts | map(.labels | to_entries) | reduce .[1:][] as $e
              (.[0]; [ .[] | select(. as $x | $e | index([$x])) ])
           | from_entries) as $common
        | {
            version: "4",
            groupKey: ("{}:{alertname=\"" + $an + "\"}"),
            truncatedAlerts: 0,
            status: (if any($alerts[]; .status == "firing") then "firing" else "resolved" end),
            receiver: "alertgw",
            groupLabels: {alertname: $an},
            commonLabels: $common,
            commonAnnotations: {},
            externalURL: "http://alertmanager.test:9093",
            alerts: $alerts
          }'
}

# am_body [--status S] ALERTNAME [KEY=VALUE...]: a one-alert webhook body.
am_body() { am_webhook "$(am_alert "$@")"; }

## --- HTTP against the gateway ----------------------------------------------

# gw_request METHOD PATH [CURL ARGS...]: one request to the gateway.  Sets
# HTTP_STATUS, HTTP_BODY, HTTP_HEADERS (the last header block, CR stripped)
# in the caller's shell.  Returns 0 when a response arrived.
gw_request() {
    local method=$1 path=$2; shift 2
    local out="$GW_TMP/http.$$.$BASHPID"
    HTTP_STATUS=$(curl -sS --max-time 30 ${GW_CACERT:+--cacert "$GW_CACERT"} \
        -X "$method" -o "$out.body" -D "$out.hdr" \
        -w '%{http_code}' "$@" "$GW_URL$path") || {
        HTTP_STATUS=000 HTTP_BODY='' HTTP_HEADERS=''
        echo "# curl $method $path failed" >&2
        return 1
    }
    HTTP_BODY=$(cat "$out.body")
    # curl writes one block per response (100 Continue first); keep the last.
    HTTP_HEADERS=$(tr -d '\r' <"$out.hdr" | awk '/^HTTP\//{b=""} {b=b $0 "\n"} END{printf "%s", b}')
    rm -f "$out.body" "$out.hdr"
}

# gw_post PATH JSON|@FILE [CURL ARGS...]: POST with Content-Type
# application/json (unless the args set another one).
gw_post() {
    local path=$1 data=$2; shift 2
    local ct=(-H 'Content-Type: application/json')
    local a
    for a in "$@"; do [[ ${a,,} == content-type:* ]] && ct=(); done
    if [[ $data == @* ]]; then
        gw_request POST "$path" "${ct[@]}" --data-binary "$data" "$@"
    else
        gw_request POST "$path" "${ct[@]}" --data-binary @- "$@" <<<"$data"
    fi
}

# gw_post_alert JSON: POST to the Alertmanager route.
gw_post_alert() { gw_post /api/v1/signals/prometheus "$@"; }

# gw_header NAME: value of a header of the last response (case-insensitive).
gw_header() {
    awk -v n="${1,,}" 'index(tolower($0), n ":") == 1 {
        sub(/^[^:]*:[ \t]*/, ""); print; exit }' <<<"$HTTP_HEADERS"
}

# gw_body_jq FILTER: jq -r FILTER over the last response body.
gw_body_jq() { jq -r "$1" <<<"$HTTP_BODY"; }

# assert_status CODE: the last response had this status (prints it all if not).
assert_status() {
    if [[ $HTTP_STATUS != "$1" ]]; then
        printf 'expected HTTP %s, got %s\n%s\n%s\n' "$1" "$HTTP_STATUS" \
            "$HTTP_HEADERS" "$HTTP_BODY" | fail
    fi
}

# gw_post_until_not_503 SECONDS BODY [PAUSE]: resends to the Alertmanager
# route like Alertmanager does until the answer is not 503 (a breaker or a
# failover may hold for a while), PAUSE seconds apart (0.5), bounded by
# SECONDS; counts the 503s in N503.  Returns 1 if still 503 at the deadline.
gw_post_until_not_503() {
    local deadline=$(( SECONDS + $1 ))
    N503=0
    while :; do
        gw_post_alert "$2"
        [[ $HTTP_STATUS != 503 ]] && return 0
        N503=$(( N503 + 1 ))
        (( SECONDS >= deadline )) && return 1
        sleep "${3:-0.5}"
    done
}

# gw_readyz_200: GET /readyz answers 200 (for gw_wait_for; the response
# is left in HTTP_*).
gw_readyz_200() { gw_request GET /readyz && [[ $HTTP_STATUS == 200 ]]; }

# assert_503_retry_after [PATH]: the last response is a 503 problem for PATH
# (the Alertmanager route) with a numeric Retry-After.
assert_503_retry_after() {
    assert_problem 503 service-unavailable "${1:-/api/v1/signals/prometheus}"
    local ra
    ra=$(gw_header Retry-After)
    [[ $ra =~ ^[0-9]+$ ]] || fail "503 without a numeric Retry-After: '$ra' ($HTTP_HEADERS)"
}

# assert_problem CODE SLUG PATH: the last response is an RFC 7807 problem
# with this status and type, instance = PATH, a request_id equal to the
# X-Request-ID header, and a title and detail.
assert_problem() {
    local code=$1 slug=$2 path=$3 rid
    assert_status "$code"
    assert_equal "$(gw_header Content-Type | cut -d';' -f1)" application/problem+json
    rid=$(gw_header X-Request-ID)
    [[ -n $rid ]] || fail "no X-Request-ID header: $HTTP_HEADERS"
    jq -e . >/dev/null <<<"$HTTP_BODY" || fail "body is not JSON: $HTTP_BODY"
    assert_equal "$(gw_body_jq .type)" "https://kubernaut.ai/problems/$slug"
    assert_equal "$(gw_body_jq .status)" "$code"
    assert_equal "$(gw_body_jq .instance)" "$path"
    assert_equal "$(gw_body_jq .request_id)" "$rid"
    [[ $(gw_body_jq '.title // ""') != "" ]] || fail "problem without title: $HTTP_BODY"
    [[ $(gw_body_jq '.detail // ""') != "" ]] || fail "problem without detail: $HTTP_BODY"
}

## --- the Kubernetes side ---------------------------------------------------

# kube_api PATH [CURL ARGS...]: GET (by default) against the apiserver as
# admin; prints the body.
kube_api() {
    local path=$1; shift
    curl -sS --max-time 15 --cacert "$KUBE_CA_FILE" \
        -H "Authorization: Bearer $KUBE_ADMIN_TOKEN" "$@" "$KUBE_API_URL/$path"
}

# kube_make_deployment NS NAME PODS...: a Deployment, its ReplicaSet and pods
# linked by controller ownerReferences (no controller-manager runs here, so
# the test writes what the controllers would).
kube_make_deployment() {
    local ns=$1 name=$2; shift 2
    local dep rs p
    dep=$(kube_create "apis/apps/v1/namespaces/$ns/deployments" "$(jq -cn --arg n "$name" '{
        apiVersion:"apps/v1",kind:"Deployment",metadata:{name:$n},
        spec:{selector:{matchLabels:{app:$n}},template:{metadata:{labels:{app:$n}},
              spec:{containers:[{name:"c",image:"busybox"}]}}}}')") || return 1
    rs=$(kube_create "apis/apps/v1/namespaces/$ns/replicasets" "$(jq -cn --arg n "$name" \
        --arg uid "$(jq -r .metadata.uid <<<"$dep")" '{
        apiVersion:"apps/v1",kind:"ReplicaSet",
        metadata:{name:($n + "-5d8f7"),ownerReferences:[{apiVersion:"apps/v1",kind:"Deployment",
                  name:$n,uid:$uid,controller:true,blockOwnerDeletion:true}]},
        spec:{selector:{matchLabels:{app:$n}},template:{metadata:{labels:{app:$n}},
              spec:{containers:[{name:"c",image:"busybox"}]}}}}')") || return 1
    for p in "$@"; do
        kube_create "api/v1/namespaces/$ns/pods" "$(jq -cn --arg n "$name" --arg p "$p" \
            --arg uid "$(jq -r .metadata.uid <<<"$rs")" '{
            apiVersion:"v1",kind:"Pod",
            metadata:{name:$p,labels:{app:$n},ownerReferences:[{apiVersion:"apps/v1",
                      kind:"ReplicaSet",name:($n + "-5d8f7"),uid:$uid,controller:true}]},
            spec:{containers:[{name:"c",image:"busybox"}]}}')" >/dev/null || return 1
    done
}

# k8s_event TYPE NAME NAMESPACE [JQ]: a core/v1 Warning/Normal event about
# Deployment NAME, last seen 5 s ago, with JQ applied.
k8s_event() {
    jq -cn --arg type "$1" --arg name "$2" --arg ns "$3" --arg last "$(gw_now -5)" \
        --arg first "$(gw_now -60)" '
        {apiVersion: "v1", kind: "Event", metadata: {name: ($name + ".17a"), namespace: $ns},
         type: $type, reason: "ProgressDeadlineExceeded", message: "timed out progressing",
         involvedObject: {kind: "Deployment", name: $name, namespace: $ns, apiVersion: "apps/v1"},
         source: {component: "deployment-controller"}, eventTime: null,
         firstTimestamp: $first, lastTimestamp: $last, count: 1} | '"${4:-.}"
}

# kube_get_rrs FP: the RemediationRequestList for a fingerprint (by label).
kube_get_rrs() {
    kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests?labelSelector=kubernaut.ai/fingerprint=${1:0:63}"
}

# kube_rr_count FP: how many RemediationRequests carry this fingerprint.
kube_rr_count() {
    local list
    list=$(kube_get_rrs "$1") || return 1
    jq -e '.items | length' <<<"$list"
}

# kube_get_rr NAME: one RemediationRequest as JSON.
kube_get_rr() { kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests/$1"; }

# kube_create PATH JSON: POSTs an object as admin (fails on a non-2xx);
# prints the created object.
kube_create() {
    kube_api "$1" -f -X POST -H 'Content-Type: application/json' --data "$2"
}

# kube_merge PATH JSON: merge-patches an object as admin (fails on non-2xx).
kube_merge() {
    kube_api "$1" -f -X PATCH -H 'Content-Type: application/merge-patch+json' --data "$2" >/dev/null
}

# kube_namespace NAME [KEY=VALUE...]: creates a namespace with these labels.
kube_namespace() {
    local name=$1; shift
    local labels
    labels=$(jq -cn '$ARGS.positional | map(capture("^(?<k>[^=]+)=(?<v>.*)$") | {(.k): .v}) | add // {}' \
        --args "$@") || return 1
    kube_create api/v1/namespaces \
        "$(jq -cn --arg n "$name" --argjson l "$labels" '{apiVersion:"v1",kind:"Namespace",metadata:{name:$n,labels:$l}}')" >/dev/null
}

# kube_namespaces NAME...: makes sure these namespaces exist (created when
# absent, an existing one is fine).  The gateway ignores signals about
# namespaces that are not in the cluster, so every test creates the
# namespaces its alerts name.
kube_namespaces() {
    local ns code
    for ns in "$@"; do
        code=$(kube_api api/v1/namespaces -o /dev/null -w '%{http_code}' -X POST             -H 'Content-Type: application/json'             --data "$(jq -cn --arg n "$ns" '{apiVersion:"v1",kind:"Namespace",metadata:{name:$n}}')") ||
            return 1
        [[ $code == 201 || $code == 409 ]] || { echo "kube_namespaces: $ns: HTTP $code" >&2; return 1; }
    done
}

# gw_scrape: GET /metrics into $GW_TMP/scrape (fails on a non-200);
# gw_metric NAME_WITH_LABELS: one sample of that scrape ("absent" if none).
gw_scrape() {
    [[ $(curl -sS --max-time 10 ${GW_CACERT:+--cacert "$GW_CACERT"} -o "$GW_TMP/scrape"         -w '%{http_code}' "$@" "$GW_URL/metrics") == 200 ]]
}
gw_metric() {
    awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "absent" }' "$GW_TMP/scrape"
}

# kube_rr_set_phase NAME PHASE: merge-patches status.overallPhase as admin,
# as the controller would; prints the HTTP status.
kube_rr_set_phase() {
    kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests/$1/status" \
        -X PATCH -H 'Content-Type: application/merge-patch+json' \
        --data "{\"status\":{\"overallPhase\":\"$2\"}}" -o /dev/null -w '%{http_code}'
}

# kube_rr_gone NAME: true when the request answers 404.
kube_rr_gone() {
    [[ $(kube_api "$GW_RR_API/namespaces/$GW_RR_NAMESPACE/remediationrequests/$1" -o /dev/null -w '%{http_code}') == 404 ]]
}

# assert_new_request OLD FP N: the last answer is 201 for a request other
# than OLD (its name goes to the caller's $second), and FP has N requests.
assert_new_request() {
    assert_status 201
    second=$(gw_body_jq .remediationRequestName)
    [[ $second != "$1" ]] || fail "the old request $1 was reused (or its name came back)"
    assert_equal "$(kube_rr_count "$2")" "$3"
}

# kube_rr_occurrences NAME: status.deduplication.occurrenceCount (or empty).
kube_rr_occurrences() { kube_get_rr "$1" | jq -r '.status.deduplication.occurrenceCount // empty'; }

## --- redis -----------------------------------------------------------------

# gw_start_redis [unix|tcp]: redis-server on $GW_TMP/redis/redis.sock (and, with
# "tcp", on a free 127.0.0.1 port too), no persistence.  Restarting reuses
# the same socket path, so the gateway's ALERTGW_REDIS_ADDR stays valid.
gw_start_redis() {
    local dir="$GW_TMP/redis" port=0
    mkdir -p "$dir"
    if [[ ${1:-} == tcp || -s $dir/port ]]; then
        [[ -s $dir/port ]] && port=$(<"$dir/port") || port=$(gw_free_port)
        echo "$port" >"$dir/port"
    fi
    redis-server --port "$port" --bind 127.0.0.1 \
        --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
        --save '' --appendonly no --dir "$dir" --daemonize no \
        --logfile "$dir/redis.log" >/dev/null 2>&1 3>&- &
    echo $! >"$dir/pid"
    export GW_REDIS_SOCK="$dir/redis.sock"
    if ! gw_wait_for 10 _gw_redis_ping; then
        echo "redis-server did not answer PING within 10 s:" >&2
        tail -n 20 "$dir/redis.log" >&2
        return 1
    fi
}
_gw_redis_ping() { [[ $(redis-cli -s "$GW_TMP/redis/redis.sock" ping 2>/dev/null) == PONG ]]; }

# gw_redis_cli ARGS...: redis-cli against the test redis.
gw_redis_cli() { redis-cli -s "$GW_TMP/redis/redis.sock" "$@"; }

gw_stop_redis() {
    local pidf="$GW_TMP/redis/pid"
    [[ -f $pidf ]] || return 0
    gw_kill_pid "$(<"$pidf")" 10
    rm -f "$pidf"
}

# assert_redis_came_back BODY FP: after gw_start_redis, /readyz is 200
# again within 15 s, the webhook BODY (resent while still 503, as
# Alertmanager does) creates exactly one request for fingerprint FP, and
# the next repeat is a 202 on that request.
assert_redis_came_back() {
    local body=$1 fp=$2
    gw_wait_for 15 gw_readyz_200 || fail "/readyz not 200 within 15 s after Redis came back: $HTTP_BODY"
    gw_post_until_not_503 20 "$body" || fail "still 503 20 s after Redis came back: $HTTP_BODY"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1
    gw_post_alert "$body"
    assert_status 202
    assert_equal "$(kube_rr_count "$fp")" 1
}

## --- kube-apiserver --------------------------------------------------------

# gw_start_kube: etcd + kube-apiserver via deploy/kube-local.sh in
# $GW_TMP/kube, or the instance named by GW_KUBE_ENV.  Exports kube.env.
gw_start_kube() {
    local dir="$GW_TMP/kube" kl="$GW_ROOT/deploy/kube-local.sh"
    if [[ -n ${GW_KUBE_ENV:-} ]]; then
        [[ -f $GW_KUBE_ENV ]] || { echo "GW_KUBE_ENV=$GW_KUBE_ENV: no such file" >&2; return 1; }
        _gw_source_env "$GW_KUBE_ENV"
        dirname "$GW_KUBE_ENV" >"$GW_TMP/kube-dir"
        touch "$GW_TMP/kube-borrowed"
        return 0
    fi
    if [[ ! -x $kl ]]; then
        echo "gw_start_kube: $kl is missing" >&2
        return 1
    fi
    mkdir -p "$dir"
    echo "$dir" >"$GW_TMP/kube-dir"
    if ! timeout 180 "$kl" start "$dir" >"$GW_TMP/kube-start.log" 2>&1 3>&-; then
        echo "gw_start_kube: '$kl start $dir' failed; if kube-apiserver is not" \
             "built yet, run '$kl build' once (5-10 min, cached in /var/cache/alertgw)." >&2
        tail -n 30 "$GW_TMP/kube-start.log" >&2
        return 1
    fi
    [[ -f $dir/kube.env ]] || { echo "gw_start_kube: $dir/kube.env not written" >&2; return 1; }
    _gw_source_env "$dir/kube.env"
}

_gw_source_env() {
    set -a
    # shellcheck source=/dev/null
    source "$1"
    set +a
}

# gw_stop_kube: stops the instance gw_start_kube started (never a borrowed
# one), then makes sure etcd and the apiserver are gone, by PID.
gw_stop_kube() {
    local dir
    [[ -f $GW_TMP/kube-dir ]] || return 0
    [[ -f $GW_TMP/kube-borrowed ]] && return 0
    dir=$(<"$GW_TMP/kube-dir")
    if [[ -f $dir/kube.env ]]; then
        timeout 60 "$GW_ROOT/deploy/kube-local.sh" stop "$dir" >>"$GW_TMP/kube-stop.log" 2>&1 3>&-
        # kube.env is re-read: a fault test may have restarted the apiserver.
        _gw_source_env "$dir/kube.env"
        gw_kill_pid "${APISERVER_PID:-}" 10
        gw_kill_pid "${ETCD_PID:-}" 10
    fi
    rm -f "$GW_TMP/kube-dir"
}

# gw_stop_apiserver / gw_start_apiserver: the fault tests' switch.
gw_stop_apiserver() {
    timeout 60 "$GW_ROOT/deploy/kube-local.sh" stop-apiserver "$(<"$GW_TMP/kube-dir")" \
        >>"$GW_TMP/kube-fault.log" 2>&1 3>&-
}
gw_start_apiserver() {
    local dir
    dir=$(<"$GW_TMP/kube-dir")
    timeout 120 "$GW_ROOT/deploy/kube-local.sh" start-apiserver "$dir" \
        >>"$GW_TMP/kube-fault.log" 2>&1 3>&- || return 1
    _gw_source_env "$dir/kube.env"
}

## --- lighttpd + workers ----------------------------------------------------

# gw_start_lighttpd [NAME=VALUE...]: lighttpd -D with the repository's
# lighttpd.conf on a free 127.0.0.1 port, with a clean environment holding
# only the ALERTGW_* settings below (plus the given overrides, which may be
# lighttpd.conf's own parameters: ALERTGW_TLS_*, ALERTGW_RATE_LIMIT_* ...).
# Waits (bounded) until /healthz answers 200; exports GW_URL, https:// when
# ALERTGW_TLS_CERT is among the overrides (set GW_CACERT to its CA).
# A second host (t4500) sets, for one call:
#   GW_LIGHTTPD_DIR  state dir (pid, url, logs, worker sockets) [$GW_TMP/lighttpd]
#   GW_LISTEN_ADDR   address to bind                            [127.0.0.1]
#   GW_LISTEN_PORT   this port, no retry on another one        [a free one]
#   GW_NETNS         network namespace to run lighttpd in (ip netns exec)
gw_start_lighttpd() {
    local dir=${GW_LIGHTTPD_DIR:-$GW_TMP/lighttpd} bin=${GW_FCGI_BIN:-$GW_ROOT/fcgi/alertgw-fcgi}
    local addr=${GW_LISTEN_ADDR:-127.0.0.1} port attempt pid scheme=http a netns=()
    [[ -n ${GW_NETNS:-} ]] && netns=(ip netns exec "$GW_NETNS")
    for a in "$@"; do
        [[ $a == ALERTGW_TLS_CERT=?* ]] && scheme=https
    done
    if [[ ! -x $bin ]]; then
        echo "gw_start_lighttpd: worker binary $bin not built (autoreconf -fi && ./configure && make)" >&2
        return 1
    fi
    mkdir -p "$dir"
    for attempt in 1 2 3; do
        port=${GW_LISTEN_PORT:-$(gw_free_port)} || return 1
        "${netns[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$GW_TMP" TZ=UTC \
            ALERTGW_LISTEN_ADDR="$addr" \
            ALERTGW_LISTEN_PORT="$port" \
            ALERTGW_STATE_DIR="$dir" \
            ALERTGW_FCGI_BIN="$bin" \
            ALERTGW_WORKERS="${GW_WORKERS:-4}" \
            ALERTGW_REDIS_ADDR="unix:$GW_TMP/redis/redis.sock" \
            ALERTGW_KUBERNETES_KUBECONFIG="${KUBECONFIG_GATEWAY:-}" \
            ALERTGW_REMEDIATION_NAMESPACE="$GW_RR_NAMESPACE" \
            ALERTGW_DEDUP_TTL=5m \
            ALERTGW_DEDUP_STATUS_SYNC_INTERVAL=0s \
            ALERTGW_LOG_LEVEL=info \
            ${ASAN_OPTIONS:+"ASAN_OPTIONS=$ASAN_OPTIONS"} \
            ${UBSAN_OPTIONS:+"UBSAN_OPTIONS=$UBSAN_OPTIONS"} \
            "$@" \
            lighttpd -D -f "$GW_ROOT/lighttpd.conf" >>"$dir/stderr.log" 2>&1 3>&- &
        pid=$!
        echo "$pid" >"$dir/pid"
        export GW_URL="$scheme://$addr:$port"
        echo "$GW_URL" >"$dir/url"
        if gw_wait_for 15 _gw_healthz_or_dead "$pid"; then
            alive "$pid" && return 0
            # lighttpd exited: most likely lost the port race; try another.
            echo "# lighttpd exited at start (attempt $attempt):" >&3
            tail -n 5 "$dir/error.log" "$dir/stderr.log" 2>/dev/null | sed 's/^/#   /' >&3
            [[ -z ${GW_LISTEN_PORT:-} ]] || break
            continue
        fi
        echo "gw_start_lighttpd: $GW_URL/healthz did not answer 200 within 15 s" >&2
        gw_dump_logs >&2
        return 1
    done
    echo "gw_start_lighttpd: lighttpd would not start" >&2
    gw_dump_logs >&2
    return 1
}
_gw_healthz_or_dead() {
    alive "$1" || return 0
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 ${GW_CACERT:+--cacert "$GW_CACERT"} \
        "$GW_URL/healthz") == 200 ]]
}

# gw_reload_url: GW_URL of the lighttpd running now.  A test that restarts
# lighttpd exports the new GW_URL in its own subshell only; a suite whose
# tests restart it calls this from setup().
gw_reload_url() {
    [[ -f $GW_TMP/lighttpd/url ]] && GW_URL=$(<"$GW_TMP/lighttpd/url") && export GW_URL
    return 0
}

# gw_stop_lighttpd: SIGTERM to lighttpd (by PID); lighttpd sends SIGTERM to
# its workers.  Any worker still there after 10 s is killed by PID.
# GW_LIGHTTPD_DIR names another host's lighttpd (gw_start_lighttpd).
gw_stop_lighttpd() {
    local pidf=${GW_LIGHTTPD_DIR:-$GW_TMP/lighttpd}/pid pid workers w
    [[ -f $pidf ]] || return 0
    pid=$(<"$pidf")
    workers=$(gw_worker_pids "$pid")
    gw_kill_pid "$pid" 15
    for w in $workers; do
        if ! gw_wait_for 10 _gw_pid_gone "$w"; then
            echo "# worker $w outlived lighttpd; killing it" >&3
            gw_kill_pid "$w" 2
        fi
    done
    rm -f "$pidf"
}

# gw_worker_pids [LIGHTTPD_PID]: the worker processes (lighttpd's children).
gw_worker_pids() {
    local pid=${1:-$(<"$GW_TMP/lighttpd/pid")}
    local c
    for c in /proc/[0-9]*/stat; do
        # field 4 of /proc/PID/stat is the parent PID
        # (a process that exits during the scan is not an error, and bats
        # runs with errexit)
        awk -v p="$pid" '$4 == p { print $1 }' "$c" 2>/dev/null || true
    done
}

# gw_kube_waiting_workers: the PIDs of the workers inside a Kubernetes call
# to a paused (SIGSTOP) apiserver: their connection to KUBE_API_PORT
# (kube.env) holds bytes the apiserver has not read.  Which worker holds a
# web server connection says less: a worker can still be reading the
# request, or already past it.
gw_kube_waiting_workers() {
    local peer
    for peer in $(ss -tnH state established "( sport = :$KUBE_API_PORT )" 2>/dev/null |
                  awk '$1 > 0 { n = split($4, a, ":"); print a[n] }'); do
        ss -tnpH state established "( sport = :$peer and dport = :$KUBE_API_PORT )" 2>/dev/null |
            grep -oE 'alertgw-fcgi",pid=[0-9]+' | cut -d= -f2 || true
    done | sort -u
}
# The workers that wait on the apiserver AND hold a FastCGI connection
# (busy_worker, which each suite defines for its front end): the one
# handling a request.  An idle worker whose trailing status sync meets the
# paused apiserver waits too, but holds no FastCGI connection.
_gw_held_workers() {
    local w busy
    busy=" $(busy_worker 2>/dev/null | xargs) "
    for w in $(gw_kube_waiting_workers); do
        [[ $busy == *" $w "* ]] && echo "$w"
    done
    return 0
}
_gw_one_kube_waiting_worker() { [[ $(_gw_held_workers | wc -l) == 1 ]]; }

# gw_hold_request_in_worker OUT RID BODY: POSTs BODY to the Alertmanager
# route in the background (X-Request-ID: RID; code, body and headers into
# OUT/code, OUT/body, OUT/hdr, OUT must exist) with the apiserver paused, so
# that one worker waits in its Kubernetes lookup.  Sets GW_HELD_WORKER (its
# PID: the one waiting worker that also holds a FastCGI connection, see
# _gw_held_workers) and GW_HELD_CLIENT (curl's).  Returns 1, with the
# apiserver resumed and the client reaped, when not exactly one such worker
# waits within 2 s.  The
# caller keeps the pause short (well under kubernetes.connect_timeout) and
# ends it with gw_kill_held_worker; a teardown that may follow a failure
# sends SIGCONT to APISERVER_PID.
gw_hold_request_in_worker() {
    local out=$1 rid=$2 body=$3
    _gw_source_env "$(<"$GW_TMP/kube-dir")/kube.env"
    kill -STOP "$APISERVER_PID"
    curl -s --max-time 30 -o "$out/body" -D "$out/hdr" -w '%{http_code}' \
        -H 'Content-Type: application/json' -H "X-Request-ID: $rid" \
        --data-binary "$body" "$GW_URL/api/v1/signals/prometheus" >"$out/code" 2>/dev/null 3>&- &
    GW_HELD_CLIENT=$!
    GW_HELD_WORKER=
    if ! gw_wait_for 2 _gw_one_kube_waiting_worker; then
        kill -CONT "$APISERVER_PID"
        wait "$GW_HELD_CLIENT" || true
        return 1
    fi
    GW_HELD_WORKER=$(_gw_held_workers)
}

# gw_kill_held_worker OUT: SIGKILLs the worker gw_hold_request_in_worker
# left waiting, resumes the apiserver, waits for the client and loads its
# answer into HTTP_STATUS, HTTP_BODY and HTTP_HEADERS (as gw_request does).
gw_kill_held_worker() {
    local out=$1
    kill -KILL "$GW_HELD_WORKER"
    kill -CONT "$APISERVER_PID"
    wait "$GW_HELD_CLIENT" || true
    HTTP_STATUS=$(<"$out/code") HTTP_BODY=$(<"$out/body") HTTP_HEADERS=$(tr -d '\r' <"$out/hdr")
}

# gw_dump_logs: the tails of every log, for a failing test.
gw_dump_logs() {
    local f
    for f in "$GW_TMP"/lighttpd/stderr.log "$GW_TMP"/lighttpd/error.log \
             "$GW_TMP"/redis/redis.log "$GW_TMP"/kube-fault.log; do
        [[ -s $f ]] || continue
        echo "--- tail $f"
        tail -n 25 "$f"
    done
}

## --- the whole stack -------------------------------------------------------

# gw_setup_stack [NAME=VALUE...]: redis, kube, lighttpd + workers; the
# arguments are extra environment for lighttpd and the workers.
gw_setup_stack() {
    GW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/alertgw-bats.XXXXXX")
    export GW_TMP
    gw_start_redis unix || return 1
    gw_start_kube || return 1
    gw_start_lighttpd "$@" || return 1
}

# gw_teardown_stack [DIR...]: stops lighttpd, the test redis, any process
# whose pid is in DIR/*.pid (a suite's own daemons: sentinels, stunnel),
# and kube, then removes $GW_TMP.
gw_teardown_stack() {
    [[ -n ${GW_TMP:-} && -d $GW_TMP ]] || return 0
    gw_stop_lighttpd
    gw_stop_redis
    local d f
    for d in "$@"; do
        for f in "$d"/*.pid; do
            [[ -f $f ]] && gw_kill_pid "$(<"$f")" 10
        done
    done
    gw_stop_kube
    if [[ ${GW_KEEP_STATE:-0} == 1 ]]; then
        echo "# state kept in $GW_TMP" >&3
    else
        rm -rf "$GW_TMP"
    fi
}

# Per-test teardown: show the logs when the test failed.
gw_teardown_test() {
    if [[ -z ${BATS_TEST_COMPLETED:-} ]]; then
        gw_dump_logs
    fi
}

## --- Apache httpd + mod_fcgid (t5600-apache) ---------------------------------
#
# The same stack with Apache in front instead of lighttpd: apache2 with
# deploy/apache/alertgw-fcgid.conf(.in) on a free 127.0.0.1 port, in
# $GW_TMP/apache.  Run as root, Apache's children and so the workers run as
# www-data (Apache refuses to serve as root), so everything a worker needs
# is made reachable for it: $GW_TMP gets o+x, the workers' own files
# (config, a copy of the gateway kubeconfig and the CA, the metrics file)
# live in $GW_TMP/apache/worker owned by www-data, and Redis is reached over
# TCP (gw_start_redis tcp: the test socket is mode 700).  mod_fcgid hands
# the workers only the FcgidInitialEnv variables, so the sanitizer options
# are passed that way, with log_path moved to a directory www-data can
# write; gw_stop_apache copies any report back to the original log_path
# directory (deploy/test-all.sh counts the files there).

# gw_setup_apache_stack [NAME=VALUE...]: redis (with TCP), kube, apache +
# workers; the arguments are extra worker environment (FcgidInitialEnv).
gw_setup_apache_stack() {
    GW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/alertgw-bats.XXXXXX")
    export GW_TMP
    gw_start_redis tcp || return 1
    gw_start_kube || return 1
    gw_start_apache "$@" || return 1
}

# gw_teardown_apache_stack: stops apache and its workers, then the rest.
gw_teardown_apache_stack() {
    [[ -n ${GW_TMP:-} && -d $GW_TMP ]] || return 0
    gw_stop_apache
    gw_teardown_stack
}

# gw_apache_user: the user Apache's children run as ("" when not root:
# Apache then keeps the caller's identity).
gw_apache_user() { (( EUID == 0 )) && echo www-data || true; }

# _gw_san_opts OPTIONS DIR NAME: OPTIONS with log_path=... replaced by
# DIR/NAME (unchanged when it has no log_path).
_gw_san_opts() {
    local o=$1 d=$2 n=$3
    if [[ $o == *log_path=* ]]; then
        sed -E "s#(^|:)log_path=[^:]*#\\1log_path=$d/$n#" <<<"$o"
    else
        printf '%s\n' "$o"
    fi
}

# gw_start_apache [NAME=VALUE...]: writes $GW_TMP/apache/apache2.conf
# (modules, pid file, logs, www-data, the Define parameters of
# alertgw-fcgid.conf, generated from its .in as make does and included
# unchanged) and the
# workers' YAML, starts apache2 -DFOREGROUND, waits (bounded) until
# /healthz answers 200 and exports GW_URL.  GW_WORKERS sets the pool size.
gw_start_apache() {
    local dir="$GW_TMP/apache" bin=${GW_FCGI_BIN:-$GW_ROOT/fcgi/alertgw-fcgi}
    local user port attempt pid a mods=/usr/lib/apache2/modules
    user=$(gw_apache_user)
    if [[ ! -x $bin ]]; then
        echo "gw_start_apache: worker binary $bin not built" >&2
        return 1
    fi
    command -v apache2 >/dev/null && [[ -f $mods/mod_fcgid.so ]] || {
        echo "gw_start_apache: apt-get install apache2 libapache2-mod-fcgid" >&2
        return 1
    }
    [[ -s $GW_TMP/redis/port ]] || { echo "gw_start_apache: redis needs TCP (gw_start_redis tcp)" >&2; return 1; }
    mkdir -p "$dir/run" "$dir/logs" "$dir/worker/state" "$dir/worker/san"
    chmod o+x "$GW_TMP"
    # the gateway's kubeconfig, with the CA next to it (the originals are
    # private to root)
    cp "$KUBE_CA_FILE" "$dir/worker/ca.crt"
    sed "s#^\\( *certificate-authority:\\).*#\\1 $dir/worker/ca.crt#" \
        "$KUBECONFIG_GATEWAY" >"$dir/worker/kubeconfig"
    cat >"$dir/worker/alertgw.yaml" <<YAML
redis:
  addr: 127.0.0.1:$(<"$GW_TMP/redis/port")
kubernetes:
  kubeconfig: $dir/worker/kubeconfig
remediation:
  namespace: $GW_RR_NAMESPACE
dedup:
  ttl: 5m
  status_sync_interval: 0s
log:
  level: info
YAML
    chmod 700 "$dir/worker"
    chmod 600 "$dir/worker/kubeconfig"
    [[ -n $user ]] && chown -R "$user:" "$dir/worker"
    # extra worker environment: the sanitizer options and the arguments
    local env_lines=""
    if [[ -n ${ASAN_OPTIONS:-} ]]; then
        env_lines+="FcgidInitialEnv ASAN_OPTIONS \"$(_gw_san_opts "$ASAN_OPTIONS" "$dir/worker/san" asan)\""$'\n'
    fi
    if [[ -n ${UBSAN_OPTIONS:-} ]]; then
        env_lines+="FcgidInitialEnv UBSAN_OPTIONS \"$(_gw_san_opts "$UBSAN_OPTIONS" "$dir/worker/san" ubsan)\""$'\n'
    fi
    for a in "$@"; do
        env_lines+="FcgidInitialEnv ${a%%=*} \"${a#*=}\""$'\n'
    done
    for attempt in 1 2 3; do
        port=$(gw_free_port) || return 1
        cat >"$dir/apache2.conf" <<CONF
# written by shell-tests/helpers.bash gw_start_apache
ServerRoot $dir
DefaultRuntimeDir $dir/run
PidFile $dir/run/apache2.pid
Mutex file:$dir/run default
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule headers_module $mods/mod_headers.so
LoadModule rewrite_module $mods/mod_rewrite.so
LoadModule reqtimeout_module $mods/mod_reqtimeout.so
LoadModule fcgid_module $mods/mod_fcgid.so
${user:+User $user}
${user:+Group $user}
ServerName localhost
ErrorLog $dir/logs/server-error.log
LogLevel info
FcgidIPCDir $dir/run/fcgid
FcgidProcessTableFile $dir/run/fcgid_shm
$env_lines
Define ALERTGW_LISTEN_ADDR 127.0.0.1
Define ALERTGW_LISTEN_PORT $port
Define ALERTGW_FCGI_BIN $bin
Define ALERTGW_CONFIG $dir/worker/alertgw.yaml
Define ALERTGW_STATE_DIR $dir/worker/state
Define ALERTGW_WORKERS ${GW_WORKERS:-4}
Define ALERTGW_LOG_DIR $dir/logs
Include $dir/alertgw-fcgid.conf
CONF
        # the config as make generates it (the paths are Defines above)
        sed -e 's|@bindir@|/usr/local/bin|g' -e 's|@sysconfdir@|/etc|g' \
            -e 's|@pkgdatadir@|/usr/local/share/alertgw|g' \
            "$GW_ROOT/deploy/apache/alertgw-fcgid.conf.in" >"$dir/alertgw-fcgid.conf"
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TZ=UTC \
            apache2 -f "$dir/apache2.conf" -DFOREGROUND >>"$dir/logs/stderr.log" 2>&1 3>&- &
        pid=$!
        echo "$pid" >"$dir/pid"
        export GW_URL="http://127.0.0.1:$port"
        if gw_wait_for 15 _gw_healthz_or_dead "$pid"; then
            alive "$pid" && return 0
            echo "# apache2 exited at start (attempt $attempt):" >&3
            tail -n 5 "$dir/logs/stderr.log" "$dir/logs/server-error.log" 2>/dev/null | sed 's/^/#   /' >&3
            continue
        fi
        echo "gw_start_apache: $GW_URL/healthz did not answer 200 within 15 s" >&2
        gw_dump_apache_logs >&2
        return 1
    done
    echo "gw_start_apache: apache2 would not start" >&2
    gw_dump_apache_logs >&2
    return 1
}

# gw_apache_worker_pids: the alertgw-fcgi processes of the test apache
# (children of mod_fcgid's process manager, itself a child of apache2),
# zombies left out.
gw_apache_worker_pids() {
    local top pm c
    top=$(<"$GW_TMP/apache/pid") || return 0
    for pm in $(gw_worker_pids "$top"); do
        for c in $(gw_worker_pids "$pm"); do
            [[ $(cat "/proc/$c/comm" 2>/dev/null) == alertgw-fcgi ]] && alive "$c" && echo "$c"
        done
    done
    return 0
}

# gw_stop_apache: SIGTERM to apache2 by PID (mod_fcgid sends SIGTERM to
# the workers); any worker left after 10 s is killed by PID.  Sanitizer
# reports of the workers are copied to the original log_path directory.
gw_stop_apache() {
    local dir="$GW_TMP/apache" pid workers w o d f
    [[ -f $dir/pid ]] || return 0
    pid=$(<"$dir/pid")
    workers=$(gw_apache_worker_pids)
    gw_kill_pid "$pid" 15
    for w in $workers; do
        if ! gw_wait_for 10 _gw_pid_gone "$w"; then
            echo "# worker $w outlived apache2; killing it" >&3
            gw_kill_pid "$w" 2
        fi
    done
    rm -f "$dir/pid"
    for o in "${ASAN_OPTIONS:-}" "${UBSAN_OPTIONS:-}"; do
        [[ $o =~ (^|:)log_path=([^:]*) ]] || continue
        d=$(dirname "${BASH_REMATCH[2]}")
        [[ -d $d ]] || continue
        for f in "$dir"/worker/san/*; do
            [[ -f $f ]] && cp "$f" "$d/apache-$(basename "$f")"
        done
    done
    return 0
}

# gw_apache_san_reports: the sanitizer reports the workers wrote so far.
gw_apache_san_reports() { find "$GW_TMP/apache/worker/san" -type f 2>/dev/null; }

# gw_dump_apache_logs: the tails of the apache stack's logs.
gw_dump_apache_logs() {
    local f
    for f in "$GW_TMP"/apache/logs/stderr.log "$GW_TMP"/apache/logs/server-error.log \
             "$GW_TMP"/apache/logs/alertgw-error.log "$GW_TMP"/redis/redis.log \
             "$GW_TMP"/kube-fault.log; do
        [[ -s $f ]] || continue
        echo "--- tail $f"
        tail -n 25 "$f"
    done
}

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# start-local.sh - run a complete alertgw gateway on this machine, in the
# foreground, until Ctrl-C or SIGTERM:
#
#   redis-server (unix socket, no persistence)
#   a local etcd + kube-apiserver with the CRD and RBAC (deploy/kube-local.sh),
#     unless KUBECONFIG or ALERTGW_KUBERNETES_KUBECONFIG names a cluster
#   lighttpd with the repository's lighttpd.conf and N alertgw-fcgi workers
#
# Usage (as root, from anywhere):
#
#   deploy/start-local.sh [STATE_DIR]            default /var/lib/alertgw-local
#
# Environment:
#   ALERTGW_LISTEN_ADDR   [127.0.0.1]     ALERTGW_LISTEN_PORT   [8080]
#   ALERTGW_WORKERS       [number of CPUs, at least 2]
#   KUBECONFIG / ALERTGW_KUBERNETES_KUBECONFIG  use that cluster instead of a
#                         local apiserver (it needs the CRD and RBAC from
#                         deploy/ applied)
#   ALERTGW_TLS_CERT / _KEY / _CLIENT_CA, ALERTGW_RATE_LIMIT_*   lighttpd.conf's
#                         TLS and rate-limit parameters, passed to lighttpd
#                         (with ALERTGW_TLS_CERT the gateway is https://)
#   ALERTGW_CONFIG and any other ALERTGW_<SECTION>_<KEY>   passed to the
#                         workers as they are
#   ALERTGW_SKIP_INSTALL=1  never call apt-get
#
# On the way out it stops, by PID, exactly what it started: lighttpd (which
# stops its workers), redis-server, and the local apiserver and etcd.
# shellcheck disable=SC2317  # functions run from traps
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$SCRIPT_DIR/.." && pwd -P)
# shellcheck source=daemon.sh
source "$SCRIPT_DIR/daemon.sh"
STATE=${1:-${ALERTGW_LOCAL_DIR:-/var/lib/alertgw-local}}
LISTEN_ADDR=${ALERTGW_LISTEN_ADDR:-127.0.0.1}
LISTEN_PORT=${ALERTGW_LISTEN_PORT:-8080}
WORKERS=${ALERTGW_WORKERS:-$(( $(nproc) < 2 ? 2 : $(nproc) ))}
FCGI_BIN=$REPO/fcgi/alertgw-fcgi
KUBE_LOCAL=$REPO/deploy/kube-local.sh

# (log never fails: during cleanup the terminal may already be gone)
log() { printf 'start-local: %s\n' "$*" >&2 2>/dev/null || true; }
die() { printf 'start-local: error: %s\n' "$*" >&2; exit 1; }

case ${1:-} in
    -h|--help) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

[[ $LISTEN_PORT =~ ^[0-9]+$ ]] || die "ALERTGW_LISTEN_PORT must be a number: $LISTEN_PORT"
[[ $WORKERS =~ ^[0-9]+$ && $WORKERS -ge 1 ]] || die "ALERTGW_WORKERS must be a positive number: $WORKERS"
[[ $STATE != *[[:space:]]* ]] || die "STATE_DIR must not contain whitespace: $STATE"

## --- packages --------------------------------------------------------------

# command -> Debian package; and the build's libraries by pkg-config name.
RUNTIME_PKGS=(lighttpd lighttpd-mod-openssl lighttpd-modules-lua redis-server redis-tools curl jq)
BUILD_PKGS=(build-essential autoconf automake libtool pkg-config
            libhiredis-dev libcurl4-openssl-dev libssl-dev libjansson-dev
            libyaml-dev libfcgi-dev)

install_missing() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    (( ${#missing[@]} == 0 )) && return 0
    [[ ${ALERTGW_SKIP_INSTALL:-0} == 1 ]] && die "missing packages: ${missing[*]} (ALERTGW_SKIP_INSTALL=1)"
    [[ $(id -u) == 0 ]] || die "missing packages: ${missing[*]}; run as root or install them"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}

if [[ -x $REPO/deploy/install-deps.sh ]]; then
    "$REPO/deploy/install-deps.sh"
else
    install_missing "${RUNTIME_PKGS[@]}" "${BUILD_PKGS[@]}"
fi

## --- build -----------------------------------------------------------------

build() {
    log "building alertgw in $REPO"
    (
        cd "$REPO"
        if [[ ! -f Makefile ]]; then
            [[ -x configure ]] || autoreconf -fi
            ./configure
        fi
        make -j"$(nproc)"
    ) >"$STATE/build.log" 2>&1 || { tail -n 30 "$STATE/build.log" >&2; die "build failed (log: $STATE/build.log)"; }
}

mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd -P)
# Build when there is no build yet or a source changed (make -q: nothing to do).
if [[ ! -x $FCGI_BIN || ! -f $REPO/Makefile ]] || ! make -q -C "$REPO" >/dev/null 2>&1; then
    build
fi
[[ -x $FCGI_BIN ]] || die "build produced no $FCGI_BIN"

## --- refuse to start twice -------------------------------------------------

if [[ -s $STATE/lighttpd/lighttpd.pid ]]; then
    old=$(<"$STATE/lighttpd/lighttpd.pid")
    if [[ $(readlink "/proc/$old/exe" 2>/dev/null) == */lighttpd ]]; then
        die "a gateway is already running from $STATE (lighttpd pid $old)"
    fi
fi
if (exec 9<>"/dev/tcp/$LISTEN_ADDR/$LISTEN_PORT") 2>/dev/null; then
    die "$LISTEN_ADDR:$LISTEN_PORT is in use; set ALERTGW_LISTEN_PORT"
fi

## --- stop everything we started, in order ----------------------------------

LIGHTTPD_PID='' REDIS_PID='' KUBE_STARTED=0

# alive PID: deploy/daemon.sh
wait_gone() {  # PID SECONDS
    local i
    for (( i = 0; i < $2 * 10; i++ )); do
        alive "$1" || return 0
        sleep 0.1
    done
    return 1
}

stop_pid() {  # NAME PID
    [[ -n $2 ]] && alive "$2" || return 0
    log "stopping $1 (pid $2)"
    kill -TERM "$2" 2>/dev/null || true
    wait_gone "$2" 20 || { log "$1 ignored SIGTERM; SIGKILL"; kill -KILL "$2" 2>/dev/null || true; }
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    # lighttpd first: it lets the workers finish the request in hand while
    # Redis and the apiserver are still there.
    if [[ -n $LIGHTTPD_PID ]]; then
        local workers
        workers=$(awk -v p="$LIGHTTPD_PID" '$4 == p { print $1 }' /proc/[0-9]*/stat 2>/dev/null || true)
        stop_pid lighttpd "$LIGHTTPD_PID"
        local w
        for w in $workers; do
            wait_gone "$w" 10 || stop_pid "worker" "$w"
        done
    fi
    stop_pid redis-server "$REDIS_PID"
    if (( KUBE_STARTED )); then
        log "stopping the local apiserver and etcd"
        # its output to a file: the terminal may be gone (hangup) and a
        # failed write must not stop it half way
        "$KUBE_LOCAL" stop "$STATE/kube" >>"$STATE/kube/stop.log" 2>&1 || log "kube-local stop failed: see $STATE/kube/stop.log"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

## --- redis -----------------------------------------------------------------

mkdir -p "$STATE/redis"
REDIS_SOCK=$STATE/redis/redis.sock
REDIS_PID=$(detach /dev/null redis-server --port 0 --unixsocket "$REDIS_SOCK" \
    --unixsocketperm 700 --save '' --appendonly no --dir "$STATE/redis" --daemonize no \
    --lazyfree-lazy-expire yes --logfile "$STATE/redis/redis.log")
for (( i = 0; i < 100; i++ )); do
    [[ $(redis-cli -s "$REDIS_SOCK" ping 2>/dev/null) == PONG ]] && break
    alive "$REDIS_PID" || { tail -n 20 "$STATE/redis/redis.log" >&2; die "redis-server exited"; }
    sleep 0.1
done
(( i < 100 )) || die "redis-server did not answer within 10 s"
log "redis-server pid $REDIS_PID on unix:$REDIS_SOCK"

## --- kubernetes ------------------------------------------------------------

KCFG=${ALERTGW_KUBERNETES_KUBECONFIG:-${KUBECONFIG:-}}
if [[ -n $KCFG ]]; then
    [[ -r $KCFG ]] || die "kubeconfig $KCFG is not readable"
    log "using the cluster in $KCFG (apply deploy/crd and deploy/rbac.yaml there)"
else
    log "no KUBECONFIG: starting a local kube-apiserver (first build takes 5-10 min)"
    "$KUBE_LOCAL" build
    mkdir -p "$STATE/kube"
    # a previous run killed hard may have left its PIDs recorded
    "$KUBE_LOCAL" stop "$STATE/kube" >/dev/null 2>&1 || true
    KUBE_STARTED=1
    setsid "$KUBE_LOCAL" start "$STATE/kube" </dev/null
    set -a
    # shellcheck source=/dev/null
    source "$STATE/kube/kube.env"
    set +a
    KCFG=$KUBECONFIG_GATEWAY
    # The namespaces the examples (the README's, example-alert.json) name:
    # alertgw ignores signals about namespaces that are not in the cluster.
    for ns in demo prod; do
        curl -sS -o /dev/null --max-time 10 --cacert "$KUBE_CA_FILE" \
            -H "Authorization: Bearer $KUBE_ADMIN_TOKEN" -H 'Content-Type: application/json' \
            -X POST --data "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$ns\"}}" \
            "$KUBE_API_URL/api/v1/namespaces" || die "could not create the namespace $ns"
    done
    log "namespaces demo and prod created for the examples"
fi

## --- lighttpd + workers ----------------------------------------------------

mkdir -p "$STATE/lighttpd"
# The workers get a clean environment: ours, less everything but PATH, HOME,
# TZ and the ALERTGW_* settings (the operator's and those below).
mapfile -t passthrough < <(env | grep -E '^ALERTGW_[A-Z0-9_]+=' || true)
LIGHTTPD_PID=$(detach "$STATE/lighttpd/workers.log" \
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME="${HOME:-/root}" TZ="${TZ:-UTC}" \
    "${passthrough[@]}" \
    ALERTGW_LISTEN_ADDR="$LISTEN_ADDR" \
    ALERTGW_LISTEN_PORT="$LISTEN_PORT" \
    ALERTGW_STATE_DIR="$STATE/lighttpd" \
    ALERTGW_FCGI_BIN="$FCGI_BIN" \
    ALERTGW_WORKERS="$WORKERS" \
    ALERTGW_REDIS_ADDR="unix:$REDIS_SOCK" \
    ALERTGW_KUBERNETES_KUBECONFIG="$KCFG" \
    lighttpd -D -f "$REPO/lighttpd.conf")

URL="http://$LISTEN_ADDR:$LISTEN_PORT"
probe=()
if [[ -n ${ALERTGW_TLS_CERT:-} ]]; then
    URL="https://$LISTEN_ADDR:$LISTEN_PORT"
    # only to see that it is up, on our own address: the certificate is the
    # operator's and need not name $LISTEN_ADDR
    probe=(--insecure)
fi
for (( i = 0; i < 150; i++ )); do
    [[ $(curl -s "${probe[@]}" -o /dev/null -w '%{http_code}' --max-time 2 "$URL/healthz") == 200 ]] && break
    alive "$LIGHTTPD_PID" || {
        tail -n 20 "$STATE/lighttpd/error.log" "$STATE/lighttpd/workers.log" >&2 || true
        LIGHTTPD_PID=''
        die "lighttpd exited at start"
    }
    sleep 0.2
done
(( i < 150 )) || die "$URL/healthz did not answer 200 within 30 s (logs in $STATE/lighttpd)"
ready=$(curl -s "${probe[@]}" --max-time 5 "$URL/readyz" || true)
[[ $(curl -s "${probe[@]}" -o /dev/null -w '%{http_code}' --max-time 5 "$URL/readyz") == 200 ]] ||
    log "warning: /readyz is not 200 yet: $ready"

## --- tell the operator -----------------------------------------------------

EXAMPLE=$STATE/example-alert.json
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat >"$EXAMPLE" <<EOF
{"version":"4","groupKey":"{}:{alertname=\"KubePodCrashLooping\"}","truncatedAlerts":0,
 "status":"firing","receiver":"alertgw","groupLabels":{"alertname":"KubePodCrashLooping"},
 "commonLabels":{"alertname":"KubePodCrashLooping","namespace":"demo","severity":"critical"},
 "commonAnnotations":{},"externalURL":"http://alertmanager.local:9093",
 "alerts":[{"status":"firing",
   "labels":{"alertname":"KubePodCrashLooping","namespace":"demo","deployment":"web","severity":"critical"},
   "annotations":{"summary":"web is crash-looping"},
   "startsAt":"$now","endsAt":"0001-01-01T00:00:00Z",
   "generatorURL":"http://prometheus.local:9090/graph","fingerprint":"0123456789abcdef"}]}
EOF

cat <<EOF

alertgw is running at $URL  ($WORKERS workers, lighttpd pid $LIGHTTPD_PID)
  state and logs:  $STATE
                   lighttpd/workers.log  (one JSON line per request)
                   lighttpd/access.log, lighttpd/error.log, redis/redis.log
  kubernetes:      $KCFG

Send an alert:
  curl -sS -H 'Content-Type: application/json' \\
       --data @$EXAMPLE $URL/api/v1/signals/prometheus

Alertmanager receiver (alertmanager.yml):
  route:
    receiver: alertgw
  receivers:
    - name: alertgw
      webhook_configs:
        - url: $URL/api/v1/signals/prometheus
          send_resolved: true

Ctrl-C stops the gateway.
EOF
if (( KUBE_STARTED )); then
    cat <<EOF
Inspect the requests:
  KUBECONFIG=$KUBECONFIG_ADMIN $KUBECTL -n kubernaut-system get remediationrequests
EOF
fi

# Foreground until lighttpd exits or we are told to stop.  lighttpd is not
# our child (deploy/daemon.sh), so it is polled, not waited for; a signal
# ends the sleep and runs the trap.
set +e
while alive "$LIGHTTPD_PID"; do
    sleep 1
done
log "lighttpd exited"
LIGHTTPD_PID=''
exit 1

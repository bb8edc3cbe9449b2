#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kube-local.sh: a real, local Kubernetes API server (etcd + kube-apiserver
# v1.20.2) for alertgw's tests, built from Debian 12's `kubernetes` source
# package with Debian's Go and cached.
#
#   kube-local.sh build                 build + cache kube-apiserver, kubectl
#   kube-local.sh start DIR             etcd + apiserver on free loopback ports,
#                                       CRD + RBAC installed; writes DIR/kube.env
#   kube-local.sh stop DIR              stop both (only the PIDs recorded in DIR)
#   kube-local.sh stop-apiserver DIR    fault injection: stop/start only the
#   kube-local.sh start-apiserver DIR   apiserver (same port, certs, etcd)
#   kube-local.sh stop-etcd DIR         ... and only etcd (same port, data)
#   kube-local.sh start-etcd DIR
#
# Environment: ALERTGW_CACHE (default /var/cache/alertgw),
#              KUBE_LOCAL_READY_TIMEOUT (seconds, default 60).
# Must run as root for `build` (apt-get); start/stop need only the cache.
set -euo pipefail

K8S_VERSION=v1.20.2
K8S_MAJOR=1
K8S_MINOR=20
# The commit of the v1.20.2 tag, as recorded in the source's hack/lib/version.sh
# (git archive substitution); read from the source at build time, this is the
# fallback.
K8S_COMMIT_FALLBACK=faecb196815e248d3ecfb03c680a4507229c2a56
GO=/usr/lib/go-1.19/bin/go
APT_DEPS=(golang-1.19-go dpkg-dev golang-github-modern-go-reflect2-dev
          etcd-server openssl curl jq python3)
NAMESPACE=kubernaut-system
CRD_NAME=remediationrequests.kubernaut.ai

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd -P)
# shellcheck source=daemon.sh
source "$SCRIPT_DIR/daemon.sh"
CRD_FILE=$REPO_ROOT/deploy/crd/remediationrequests.yaml
RBAC_FILE=$REPO_ROOT/deploy/rbac.yaml

CACHE_ROOT=${ALERTGW_CACHE:-/var/cache/alertgw}
KDIR=$CACHE_ROOT/kubernetes-$K8S_VERSION
BIN_DIR=$KDIR/bin
APISERVER_BIN=$BIN_DIR/kube-apiserver
KUBECTL_BIN=$BIN_DIR/kubectl
READY_TIMEOUT=${KUBE_LOCAL_READY_TIMEOUT:-60}

log() { printf 'kube-local: %s\n' "$*" >&2; }
die() { printf 'kube-local: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------- build ----

ensure_apt_deps() {
  local missing=() p
  for p in "${APT_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  [[ $(id -u) == 0 ]] || die "missing packages (${missing[*]}); run as root"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
    log "apt-get install failed; running apt-get update and retrying"
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

# Make `deb-src` entries available. Derived from the system's own deb822
# sources (host names are never written here, only copied by sed).
ensure_deb_src() {
  if apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes'; then
    return 0
  fi
  local srcfile=/etc/apt/sources.list.d/debian.sources
  local dst=/etc/apt/sources.list.d/alertgw-src.sources
  if [[ ! -e $dst ]]; then
    [[ -r $srcfile ]] || die "$srcfile not found; cannot derive deb-src entries"
    log "writing $dst (deb-src copy of $srcfile)"
    sed 's/^Types:[[:space:]].*$/Types: deb-src/' "$srcfile" >"$dst.tmp"
    mv "$dst.tmp" "$dst"
  fi
  apt-get update
  apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes' \
    || die "source package 'kubernetes' not found in apt after adding deb-src"
}

binaries_ok() {
  [[ -x $APISERVER_BIN && -x $KUBECTL_BIN ]] || return 1
  "$APISERVER_BIN" --version 2>/dev/null | grep -qx "Kubernetes $K8S_VERSION" || return 1
  "$KUBECTL_BIN" version --client --short 2>/dev/null | grep -q "$K8S_VERSION" || return 1
}

cmd_build() {
  mkdir -p "$KDIR"
  # Serialise concurrent builds (several test scripts may call build at once).
  exec 9>"$KDIR/.lock"
  flock 9
  ensure_apt_deps
  if binaries_ok; then
    log "cached: $APISERVER_BIN, $KUBECTL_BIN"
    return 0
  fi
  [[ $(id -u) == 0 ]] || die "build needs root (apt-get)"
  local t0=$SECONDS
  ensure_deb_src

  # 1. Source (download cached in $KDIR/dl, extracted fresh each build).
  local dl=$KDIR/dl work=$KDIR/work
  mkdir -p "$dl"
  if ! compgen -G "$dl/kubernetes_*.dsc" >/dev/null; then
    log "downloading source package kubernetes"
    (cd "$dl" && apt-get source --download-only kubernetes)
  fi
  local dsc
  dsc=$(ls "$dl"/kubernetes_*.dsc | sort -V | tail -n1)
  case $dsc in
    *really1.20.2*) ;;
    *) die "unexpected source version: $dsc (want ...really1.20.2...)" ;;
  esac
  rm -rf "$work"
  mkdir -p "$work/gopath/src/k8s.io"
  local src=$work/gopath/src/k8s.io/kubernetes
  log "extracting $(basename "$dsc")"
  dpkg-source -x "$dsc" "$src" >/dev/null

  # 2. reflect2 1.0.1 (vendored) breaks at run time with Go >= 1.18: use
  #    Debian's 1.0.2.
  local r2v=$src/vendor/github.com/modern-go/reflect2
  local r2d=/usr/share/gocode/src/github.com/modern-go/reflect2
  [[ -d $r2v && -d $r2d ]] || die "reflect2 directories missing ($r2v, $r2d)"
  rm -f "$r2v"/*.go "$r2v"/*.s
  find "$r2d" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' \
    -exec cp {} "$r2v"/ \;

  export GOPATH=$work/gopath GO111MODULE=off GOFLAGS='' CGO_ENABLED=0 GOPROXY=off \
         GOCACHE=$KDIR/gocache GOTOOLCHAIN=local
  unset GOROOT GOBIN
  cd "$src"

  # 3. pkg/generated/openapi/zz_generated.openapi.go, as upstream's
  #    build/root/Makefile.generated_files does (KUBE target).
  log "building openapi-gen"
  "$GO" build -p 2 -o "$work/openapi-gen" k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen
  local dirs
  dirs=$(find -H . \( -path './_*' -o -path './.*' -o -path ./vendor -o -path ./debian \) -prune \
           -o -type f -name '*.go' -print \
         | { xargs -r grep -l "^// *+k8s:" || true; } \
         | { xargs -r grep -l "+k8s:openapi-gen=" || true; } \
         | sed 's|/[^/]*$||; s|^\./||; s|^staging/src|vendor|' \
         | grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' \
         | LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
  log "generating openapi for $(tr ',' '\n' <<<"$dirs" | wc -l) packages"
  local boiler=hack/boilerplate/boilerplate.generatego.txt
  [[ -f $boiler ]] || boiler=vendor/k8s.io/code-generator/hack/boilerplate.go.txt
  "$work/openapi-gen" --logtostderr -i "$dirs" \
    -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
    -h "$boiler" -r "$work/openapi-violations.report" >"$work/openapi-gen.log" 2>&1 \
    || { tail -n 40 "$work/openapi-gen.log" >&2; die "openapi-gen failed"; }
  [[ -s pkg/generated/openapi/zz_generated.openapi.go ]] || die "openapi-gen produced no output"

  # 4. Version ldflags (hack/lib/version.sh; GOPATH-mode vendor paths).
  local commit
  commit=$(sed -n "s/^ *KUBE_GIT_COMMIT='\([0-9a-f]\{40\}\)'.*/\1/p" hack/lib/version.sh | head -n1)
  commit=${commit:-$K8S_COMMIT_FALLBACK}
  local date ld="" pkg
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for pkg in k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version \
             k8s.io/kubernetes/vendor/k8s.io/component-base/version; do
    ld+=" -X '$pkg.buildDate=$date' -X '$pkg.gitCommit=$commit'"
    ld+=" -X '$pkg.gitTreeState=clean' -X '$pkg.gitVersion=$K8S_VERSION'"
    ld+=" -X '$pkg.gitMajor=$K8S_MAJOR' -X '$pkg.gitMinor=$K8S_MINOR'"
  done

  # 5. The binaries.
  local out=$work/out
  mkdir -p "$out"
  local cmd
  for cmd in kube-apiserver kubectl; do
    log "building $cmd (a few minutes)"
    "$GO" build -p 2 -trimpath -tags selinux,notest -ldflags "-s -w$ld" \
      -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd"
  done
  "$out/kube-apiserver" --version | grep -qx "Kubernetes $K8S_VERSION" \
    || die "built kube-apiserver reports '$("$out/kube-apiserver" --version)'"
  mkdir -p "$BIN_DIR"
  for cmd in kube-apiserver kubectl; do
    install -m 0755 "$out/$cmd" "$BIN_DIR/$cmd.tmp"
    mv -f "$BIN_DIR/$cmd.tmp" "$BIN_DIR/$cmd"
  done
  binaries_ok || die "installed binaries fail the version check"

  # 6. Drop the bulky source tree; keep the download and the Go build cache.
  cd /
  rm -rf "$work"
  log "built in $((SECONDS - t0)) s: $APISERVER_BIN, $KUBECTL_BIN"
}

# ------------------------------------------------------- process helpers ----

# Three (or N) distinct free loopback TCP ports.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
n = int(sys.argv[1]); socks = []
for _ in range(n):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
EOF
}

port_free() {
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(1)
EOF
}

# Is PID alive, not a zombie, and one of ours (exe + DIR in its cmdline)?
pid_ours() {
  local pid=$1 exe=$2 dir=$3
  alive "$pid" || return 1
  [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$(readlink -f "$exe")" ]] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir" || return 1
}

# stop_pid NAME PID EXE DIR: TERM, wait up to 20 s, then KILL (5 s).
stop_pid() {
  local name=$1 pid=$2 exe=$3 dir=$4 i
  if ! pid_ours "$pid" "$exe" "$dir"; then
    log "$name: not running${pid:+ (pid $pid gone or not ours)}"
    return 0
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  die "$name (pid $pid) did not exit"
}

# Replace or append KEY=value in DIR/kube.env.
env_set() {
  local file=$1 key=$2 val=$3 line
  line=$(printf '%s=%q' "$key" "$val")
  if grep -q "^$key=" "$file"; then
    awk -v k="$key" -v l="$line" 'index($0, k "=") == 1 { print l; next } { print }' \
      "$file" >"$file.tmp"
    mv -f "$file.tmp" "$file"
  else
    printf '%s\n' "$line" >>"$file"
  fi
}

load_env() {
  local dir=$1
  [[ -f $dir/kube.env ]] || die "$dir/kube.env not found (was 'start $dir' run?)"
  # shellcheck disable=SC1091
  source "$dir/kube.env"
}

# Launch detached (deploy/daemon.sh: stdin/stdout/stderr away from the
# caller, which bats needs, and the daemon's own PID); waits until the PID
# runs the wanted binary.  Prints the PID.
launch() {
  local logf=$1; shift
  local want pid i
  want=$(readlink -f "$1")
  pid=$(detach "$logf" "$@")
  for ((i = 0; i < 100; i++)); do
    [[ -n $pid && $(readlink "/proc/$pid/exe" 2>/dev/null) == "$want" ]] && break
    sleep 0.05
  done
  echo "$pid"
}

wait_ready() {  # NAME PID EXE DIR LOG URL [curl args...]
  local name=$1 pid=$2 exe=$3 dir=$4 logf=$5 url=$6; shift 6
  local deadline=$((SECONDS + READY_TIMEOUT)) body
  while ((SECONDS < deadline)); do
    if ! pid_ours "$pid" "$exe" "$dir"; then
      tail -n 40 "$logf" >&2 || true
      die "$name exited during startup (log: $logf)"
    fi
    body=$(curl -sS --max-time 2 "$@" "$url" 2>/dev/null || true)
    case $body in
      ok | *'"health":"true"'* | *'"health": "true"'*) return 0 ;;
    esac
    sleep 0.2
  done
  tail -n 40 "$logf" >&2 || true
  stop_pid "$name" "$pid" "$exe" "$dir" || true
  die "$name not ready after ${READY_TIMEOUT}s (log: $logf)"
}

# ------------------------------------------------------------------ etcd ----

etcd_launch() {  # uses DIR, ETCD_PORT, ETCD_PEER_PORT
  local dir=$1 etcd
  etcd=$(command -v etcd) || die "etcd not found (apt-get install etcd-server)"
  port_free "$ETCD_PORT" || die "etcd port $ETCD_PORT is in use"
  local pid
  pid=$(launch "$dir/etcd.log" "$etcd" --name alertgw-test \
    --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "alertgw-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    --quota-backend-bytes 1073741824)
  wait_ready etcd "$pid" "$etcd" "$dir" "$dir/etcd.log" "http://127.0.0.1:$ETCD_PORT/health"
  ETCD_PID=$pid
}

# ------------------------------------------------------------- apiserver ----

apiserver_launch() {  # uses DIR, KUBE_API_PORT, ETCD_PORT
  local dir=$1 pki=$1/pki pid
  port_free "$KUBE_API_PORT" || die "apiserver port $KUBE_API_PORT is in use"
  pid=$(launch "$dir/apiserver.log" "$APISERVER_BIN" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --secure-port="$KUBE_API_PORT" --insecure-port=0 \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --cert-dir="$pki" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --token-auth-file="$dir/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-key-file="$pki/sa.pub" \
    --service-account-signing-key-file="$pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-cluster-ip-range=10.96.0.0/16 \
    --enable-priority-and-fairness=false \
    --disable-admission-plugins=ServiceAccount \
    --profiling=false \
    --v=1)
  wait_ready kube-apiserver "$pid" "$APISERVER_BIN" "$dir" "$dir/apiserver.log" \
    "https://127.0.0.1:$KUBE_API_PORT/readyz" \
    --cacert "$pki/ca.crt" -H "Authorization: Bearer $KUBE_ADMIN_TOKEN"
  APISERVER_PID=$pid
}

gen_pki() {
  local pki=$1
  mkdir -p "$pki"
  (
    cd "$pki"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
      -keyout ca.key -out ca.crt -subj "/CN=alertgw-test-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    printf '%s\n' "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,IP:10.96.0.1" \
      >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -days 3650 -sha256 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f apiserver.csr apiserver.ext ca.srl
    chmod 0644 ca.crt apiserver.crt sa.pub
  )
}

write_kubeconfig() {  # FILE USER TOKEN
  local file=$1 user=$2 token=$3
  (umask 077; cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: alertgw-local
  cluster:
    server: $KUBE_API_URL
    certificate-authority: $KUBE_CA_FILE
users:
- name: $user
  user:
    token: $token
contexts:
- name: $user@alertgw-local
  context:
    cluster: alertgw-local
    user: $user
    namespace: $NAMESPACE
current-context: $user@alertgw-local
EOF
  )
}

kubectl_admin() {
  "$KUBECTL_BIN" --kubeconfig "$DIR/admin.kubeconfig" --cache-dir "$DIR/kubectl-cache" \
    --request-timeout=30s "$@"
}

# ------------------------------------------------------------- commands ----

resolve_dir() {
  [[ -n ${1:-} ]] || usage
  mkdir -p "$1"
  DIR=$(cd "$1" && pwd -P)
  [[ $DIR != *[[:space:]]* ]] || die "DIR must not contain whitespace: $DIR"
}

cmd_start() {
  resolve_dir "${1:-}"
  binaries_ok || die "no cached kube-apiserver/kubectl $K8S_VERSION under $BIN_DIR; run '$0 build' first"
  command -v etcd >/dev/null || die "etcd not found; run '$0 build' (installs etcd-server)"
  [[ -f $CRD_FILE && -f $RBAC_FILE ]] || die "missing $CRD_FILE or $RBAC_FILE"
  if [[ -f $DIR/kube.env ]]; then
    ( load_env "$DIR"
      pid_ours "${APISERVER_PID:-}" "$APISERVER_BIN" "$DIR" \
        || pid_ours "${ETCD_PID:-}" "$(command -v etcd)" "$DIR" ) \
      && die "$DIR is in use by a running cluster; '$0 stop $DIR' first"
  fi
  # Fresh state every start.
  rm -rf "$DIR/etcd" "$DIR/pki" "$DIR/kubectl-cache" "$DIR/kube.env" \
         "$DIR/tokens.csv" "$DIR"/*.kubeconfig "$DIR/gateway.token" \
         "$DIR/etcd.log" "$DIR/apiserver.log"

  read -r ETCD_PORT ETCD_PEER_PORT KUBE_API_PORT <<<"$(free_ports 3)"
  ETCD_URL=http://127.0.0.1:$ETCD_PORT
  KUBE_API_URL=https://127.0.0.1:$KUBE_API_PORT
  KUBE_CA_FILE=$DIR/pki/ca.crt

  gen_pki "$DIR/pki"
  KUBE_ADMIN_TOKEN=$(openssl rand -hex 32)
  KUBE_GATEWAY_TOKEN=$(openssl rand -hex 32)
  (umask 077
   printf '%s,admin,admin,"system:masters"\n%s,alertgw,alertgw\n' \
     "$KUBE_ADMIN_TOKEN" "$KUBE_GATEWAY_TOKEN" >"$DIR/tokens.csv"
   printf '%s\n' "$KUBE_GATEWAY_TOKEN" >"$DIR/gateway.token"
   printf '%s\n' "$KUBE_ADMIN_TOKEN" >"$DIR/admin.token")
  write_kubeconfig "$DIR/admin.kubeconfig" admin "$KUBE_ADMIN_TOKEN"
  write_kubeconfig "$DIR/gateway.kubeconfig" alertgw "$KUBE_GATEWAY_TOKEN"

  # Write the env file early so that `stop DIR` can clean up a failed start.
  ETCD_PID='' APISERVER_PID=''
  local envf=$DIR/kube.env
  {
    printf '# written by deploy/kube-local.sh start; source it\n'
    printf '%s=%q\n' \
      KUBE_LOCAL_DIR "$DIR" \
      KUBE_API_URL "$KUBE_API_URL" \
      KUBE_API_PORT "$KUBE_API_PORT" \
      KUBE_CA_FILE "$KUBE_CA_FILE" \
      KUBE_ADMIN_TOKEN "$KUBE_ADMIN_TOKEN" \
      KUBE_ADMIN_TOKEN_FILE "$DIR/admin.token" \
      KUBE_GATEWAY_TOKEN "$KUBE_GATEWAY_TOKEN" \
      KUBE_GATEWAY_TOKEN_FILE "$DIR/gateway.token" \
      KUBECONFIG_ADMIN "$DIR/admin.kubeconfig" \
      KUBECONFIG_GATEWAY "$DIR/gateway.kubeconfig" \
      KUBECTL "$KUBECTL_BIN" \
      KUBE_APISERVER_BIN "$APISERVER_BIN" \
      KUBE_NAMESPACE "$NAMESPACE" \
      KUBE_APISERVER_LOG "$DIR/apiserver.log" \
      ETCD_URL "$ETCD_URL" \
      ETCD_PORT "$ETCD_PORT" \
      ETCD_PEER_PORT "$ETCD_PEER_PORT" \
      ETCD_LOG "$DIR/etcd.log" \
      ETCD_PID "" \
      APISERVER_PID ""
  } >"$envf"

  etcd_launch "$DIR"
  env_set "$envf" ETCD_PID "$ETCD_PID"
  apiserver_launch "$DIR"
  env_set "$envf" APISERVER_PID "$APISERVER_PID"
  log "apiserver ready at $KUBE_API_URL (etcd pid $ETCD_PID, apiserver pid $APISERVER_PID)"

  kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $NAMESPACE
EOF
  kubectl_admin apply -f "$CRD_FILE" >/dev/null
  kubectl_admin wait --for condition=established --timeout=60s "crd/$CRD_NAME" >/dev/null
  kubectl_admin apply -f "$RBAC_FILE" >/dev/null
  # The resource must be served (discovery + storage) before tests use it.
  local i
  for ((i = 0; i < 100; i++)); do
    curl -sSf --max-time 2 --cacert "$KUBE_CA_FILE" -H "Authorization: Bearer $KUBE_ADMIN_TOKEN" \
      "$KUBE_API_URL/apis/kubernaut.ai/v1alpha1/namespaces/$NAMESPACE/remediationrequests" \
      >/dev/null 2>&1 && break
    sleep 0.2
  done
  ((i < 100)) || die "remediationrequests not served after CRD install"
  log "namespace $NAMESPACE, CRD $CRD_NAME and RBAC installed"
  echo "$envf"
}

cmd_stop() {
  resolve_dir "${1:-}"
  [[ -f $DIR/kube.env ]] || { log "$DIR/kube.env not found; nothing to stop"; return 0; }
  load_env "$DIR"
  stop_pid kube-apiserver "${APISERVER_PID:-}" "$APISERVER_BIN" "$DIR"
  env_set "$DIR/kube.env" APISERVER_PID ""
  stop_pid etcd "${ETCD_PID:-}" "$(command -v etcd || echo /usr/bin/etcd)" "$DIR"
  env_set "$DIR/kube.env" ETCD_PID ""
}

cmd_stop_apiserver() {
  resolve_dir "${1:-}"
  load_env "$DIR"
  stop_pid kube-apiserver "${APISERVER_PID:-}" "$APISERVER_BIN" "$DIR"
  env_set "$DIR/kube.env" APISERVER_PID ""
}

cmd_start_apiserver() {
  resolve_dir "${1:-}"
  load_env "$DIR"
  pid_ours "${APISERVER_PID:-}" "$APISERVER_BIN" "$DIR" \
    && { log "kube-apiserver already running (pid $APISERVER_PID)"; return 0; }
  binaries_ok || die "cached kube-apiserver missing; run '$0 build'"
  apiserver_launch "$DIR"
  env_set "$DIR/kube.env" APISERVER_PID "$APISERVER_PID"
  log "kube-apiserver restarted (pid $APISERVER_PID)"
}

cmd_stop_etcd() {
  resolve_dir "${1:-}"
  load_env "$DIR"
  stop_pid etcd "${ETCD_PID:-}" "$(command -v etcd || echo /usr/bin/etcd)" "$DIR"
  env_set "$DIR/kube.env" ETCD_PID ""
}

cmd_start_etcd() {
  resolve_dir "${1:-}"
  load_env "$DIR"
  pid_ours "${ETCD_PID:-}" "$(command -v etcd)" "$DIR" \
    && { log "etcd already running (pid $ETCD_PID)"; return 0; }
  etcd_launch "$DIR"
  env_set "$DIR/kube.env" ETCD_PID "$ETCD_PID"
  log "etcd restarted (pid $ETCD_PID)"
}

main() {
  local sub=${1:-}
  (($# > 0)) && shift
  case $sub in
    build) cmd_build ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    stop-apiserver) cmd_stop_apiserver "$@" ;;
    start-apiserver) cmd_start_apiserver "$@" ;;
    stop-etcd) cmd_stop_etcd "$@" ;;
    start-etcd) cmd_start_etcd "$@" ;;
    *) usage ;;
  esac
}

main "$@"

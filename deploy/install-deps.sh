#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deploy/install-deps.sh - every Debian 12 package alertgw needs to build,
# run and test, installed with apt-get (run as root).  Idempotent: packages
# already present are skipped, and apt-get update runs only when something
# is missing.  kube-apiserver is not a Debian package: deploy/kube-local.sh
# build compiles it from Debian's source package (and installs its own
# toolchain packages).
set -euo pipefail

PACKAGES=(
    # build
    build-essential autoconf automake pkg-config
    libfcgi-dev libhiredis-dev libcurl4-openssl-dev libssl-dev libjansson-dev libyaml-dev
    # tests
    libcmocka-dev bats bats-assert bats-support curl jq openssl
    clang libclang-rt-14-dev   # the libFuzzer targets (configure CC=clang --enable-fuzzing)
    llvm                       # llvm-symbolizer: file and line in sanitizer and libFuzzer reports
    python3-yaml               # t5700 reads the deploy/kubernetes manifests
    prometheus                 # promtool (/metrics exposition, alert rules and their unit tests) and
                               # the server (t5200 evaluates the rules against the real gateway)
    # runtime and the local stack
    lighttpd spawn-fcgi redis-server etcd-server prometheus-alertmanager
    multiwatch procps          # spawn-fcgi mode (alertgw-fcgi.service): the worker supervisor; pkill for its reload
    # packaging checks (t5500): man page rendering, systemd-analyze verify of the units,
    # logrotate -d of the access-log rotation; the Debian package (t5800)
    man-db groff-base systemd logrotate
    debhelper dh-autoreconf dpkg-dev lintian
    lighttpd-mod-openssl       # TLS (ALERTGW_TLS_CERT in lighttpd.conf)
    lighttpd-modules-lua       # mod_magnet: lighttpd-errors.lua, the rate limit (lighttpd-ratelimit.lua)
    lua5.4                     # test_handle runs lighttpd-problem.lua to compare its answers with the worker's
    stunnel4                   # TLS to Redis (hiredis 0.14 has none): docs/security.md, t3500
    iproute2 socat             # t4500: two gateway hosts in network namespaces; socat forwards
                               # the apiserver's 127.0.0.1 port into them
    apache2 libapache2-mod-fcgid   # the Apache front (deploy/apache, docs/apache.md, t5600)
    # benchmark
    wrk
)

# The system services these packages bring (package: services).  alertgw's
# scripts and tests start their own instances on free loopback ports, so
# none of these may come back at the next boot (lighttpd would take port 80).
SERVICES=(
    lighttpd:lighttpd redis-server:redis-server etcd-server:etcd prometheus:prometheus
    prometheus-alertmanager:prometheus-alertmanager
    apache2:apache2,apache-htcacheclean stunnel4:stunnel4
)

# service_running NAME: whether the service runs now (systemd or sysv).
service_running() {
    if [[ -d /run/systemd/system ]]; then
        systemctl is-active --quiet "$1.service" 2>/dev/null
    else
        service "$1" status >/dev/null 2>&1
    fi
}

# service_off NAME: disabled for the next boot (systemd unit and sysv
# links), and stopped if it runs.
service_off() {
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable "$1.service" >/dev/null 2>&1 || true
    fi
    if [[ -x /etc/init.d/$1 ]] && command -v update-rc.d >/dev/null 2>&1; then
        update-rc.d "$1" disable >/dev/null 2>&1 || true
    fi
    if service_running "$1"; then
        if [[ -d /run/systemd/system ]]; then
            systemctl stop "$1.service" >/dev/null 2>&1 || true
        else
            service "$1" stop >/dev/null 2>&1 || true
        fi
    fi
}

# services_off INSTALLED...: every service of a package this run installed
# is disabled and stopped.  A package that was already there may be the
# operator's: its services are disabled only when they are not running
# (the package's postinst enabled them, nobody uses them); a running one is
# named and left alone.
services_off() {
    local entry pkg svcs s just=" $* "
    for entry in "${SERVICES[@]}"; do
        pkg=${entry%%:*} svcs=${entry#*:}
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || continue
        for s in ${svcs//,/ }; do
            if [[ $just == *" $pkg "* ]] || ! service_running "$s"; then
                service_off "$s"
            else
                echo "install-deps: $s runs and was installed before: left enabled" \
                     "(systemctl disable --now $s if alertgw's tests are all it is for)" >&2
            fi
        done
    done
}

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if (( ${#missing[@]} == 0 )); then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    (( EUID != 0 )) || services_off
    exit 0
fi
if (( EUID != 0 )); then
    echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo $0)" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# The Debian packages of redis, lighttpd, etcd, Prometheus, Alertmanager
# and Apache try to start system-wide services: policy-rc.d keeps them from
# starting during the install (where it is honoured), services_off then
# disables them for the next boot.
had_policy=0
[[ -e /usr/sbin/policy-rc.d ]] && had_policy=1
if (( ! had_policy )); then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
fi
rc=0
apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
(( had_policy )) || rm -f /usr/sbin/policy-rc.d
services_off "${missing[@]}"
exit $rc

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
    python3-yaml               # t2400 reads the deploy/kubernetes manifests
    prometheus                 # promtool (/metrics exposition, alert rules and their unit tests) and
                               # the server (t2100 evaluates the rules against the real gateway)
    # runtime and the local stack
    lighttpd spawn-fcgi redis-server etcd-server prometheus-alertmanager
    multiwatch procps          # spawn-fcgi mode (alertgw-fcgi.service): the worker supervisor; pkill for its reload
    # packaging checks (t2200): man page rendering, systemd-analyze verify of the units
    man-db groff-base systemd
    lighttpd-mod-openssl       # TLS (ALERTGW_TLS_CERT in lighttpd.conf)
    lighttpd-modules-lua       # mod_magnet: lighttpd-errors.lua, the rate limit (lighttpd-ratelimit.lua)
    stunnel4                   # TLS to Redis (hiredis 0.14 has none): docs/security.md, t2000
    apache2 libapache2-mod-fcgid   # the Apache front (deploy/apache, docs/apache.md, t2300)
    # benchmark
    wrk
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if (( ${#missing[@]} == 0 )); then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi
if (( EUID != 0 )); then
    echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo $0)" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# The Debian packages of redis, lighttpd and etcd try to start system-wide
# services; alertgw's scripts start their own instances, so keep those off
# where policy-rc.d is honoured (no systemd in containers anyway).
had_policy=0
[[ -e /usr/sbin/policy-rc.d ]] && had_policy=1
if (( ! had_policy )); then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
fi
rc=0
apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
(( had_policy )) || rm -f /usr/sbin/policy-rc.d
# apache2's package enables its systemd units even where policy-rc.d kept
# them from starting: a machine that boots with systemd would then serve
# port 80.  The tests start their own apache2 (t2300); keep the system one
# disabled and stopped - only when this run installed it (an apache2 that
# was already there is the operator's).
if [[ " ${missing[*]} " == *" apache2 "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable apache2.service apache-htcacheclean.service >/dev/null 2>&1 || true
    if [[ -d /run/systemd/system ]]; then
        systemctl stop apache2.service apache-htcacheclean.service >/dev/null 2>&1 || true
    fi
fi
exit $rc

#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
bats_require_minimum_version 1.5.0
# t5800-debian: the Debian package, as a Debian sysadmin meets it.
#
# setup_file copies this tree (the tracked files and the untracked ones git
# does not ignore: what a clean clone of the working tree holds) and builds
# it with `dpkg-buildpackage -us -uc -b` (DEB_BUILD_OPTIONS=nocheck: the
# unit tests run in their own CI step).  A second package with a bumped
# version is the same build repacked with `dpkg-deb`.  The tests then check
# it with lintian, install it with `apt-get install ./alertgw_*.deb`, run
# the installed unit's command line against real Redis and kube-apiserver,
# upgrade, remove and purge it.  Root only: it installs a package on this
# machine (and purges it again in teardown_file).

load helpers

BATS_TEST_TIMEOUT=${GW_PKG_TEST_TIMEOUT:-600}

setup_file() {
    (( EUID == 0 )) || skip "installs a package: needs root"
    GW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/alertgw-deb.XXXXXX")
    export GW_TMP
    if dpkg-query -W -f='${Status}' alertgw 2>/dev/null | grep -q 'ok installed'; then
        echo "t5800: a package alertgw is installed already; not touching it" >&2
        return 1
    fi
    export SRC=$GW_TMP/src/alertgw
    mkdir -p "$SRC"
    { git -C "$GW_ROOT" ls-files; git -C "$GW_ROOT" ls-files --others --exclude-standard; } |
        sort -u | (cd "$GW_ROOT" && tar -cf - -T -) | tar -xf - -C "$SRC" || return 1
    export VERSION
    VERSION=$(sed -n 's/^AC_INIT(\[alertgw\], \[\([^]]*\)\].*/\1/p' "$GW_ROOT/configure.ac")
    if ! ( cd "$SRC" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b \
               >"$GW_TMP/build.log" 2>&1 ); then
        tail -n 30 "$GW_TMP/build.log" >&2
        return 1
    fi
    export DEB=$GW_TMP/src/alertgw_${VERSION}_amd64.deb
    [[ -s $DEB ]] || { ls "$GW_TMP/src" >&2; return 1; }
    # the "next release": the same build with a bumped version
    local r=$GW_TMP/repack
    dpkg-deb -R "$DEB" "$r" || return 1
    sed -i "s/^Version: .*/Version: ${VERSION}+t5800/" "$r/DEBIAN/control"
    export DEB2=$GW_TMP/alertgw_${VERSION}+t3200_amd64.deb
    dpkg-deb -b --root-owner-group "$r" "$DEB2" >/dev/null || return 1
    gw_start_redis unix || return 1
    gw_start_kube || return 1
    openssl rand -hex 32 >"$GW_TMP/token"
    printf '%s' "$(<"$GW_TMP/token")" | sha256sum | cut -d' ' -f1 >"$GW_TMP/bearer-tokens"
    gw_uniq prod >"$GW_TMP/ns"
    kube_namespace "$(<"$GW_TMP/ns")" || return 1
}

teardown_file() {
    (( EUID == 0 )) || return 0
    _stop_unit
    if dpkg-query -W -f='${Status}' alertgw 2>/dev/null | grep -q 'ok installed\|config-files'; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q alertgw >/dev/null 2>&1 || true
    fi
    gw_teardown_stack
}
teardown() { gw_teardown_test; }

_installed() { dpkg-query -W -f='${Status} ${Version}' alertgw 2>/dev/null; }

@test "dpkg-buildpackage builds alertgw_<configure.ac version>_amd64.deb, and lintian finds nothing" {
    [[ -s $DEB ]]
    [[ $(dpkg-deb -f "$DEB" Version) == "$VERSION" ]]
    [[ $(head -n 1 "$SRC/debian/changelog") == "alertgw ($VERSION) "* ]] ||
        fail "debian/changelog and configure.ac disagree"
    run lintian --allow-root --fail-on error,warning "$DEB"
    assert_success
    if grep -E '^[EW]: ' <<<"$output"; then fail "lintian: $output"; fi
}

@test "the package holds the binary, man page, example, conffiles, units, users, tmpfiles and logrotate" {
    local f
    run dpkg-deb -c "$DEB"
    for f in ./usr/bin/alertgw-fcgi ./usr/share/man/man8/alertgw-fcgi.8.gz \
             ./usr/share/doc/alertgw/examples/alertgw.yaml.example ./usr/share/doc/alertgw/copyright \
             ./etc/alertgw/alertgw.yaml ./etc/default/alertgw \
             ./etc/lighttpd/conf-available/50-alertgw.conf ./etc/logrotate.d/alertgw \
             ./lib/systemd/system/alertgw.service ./lib/systemd/system/alertgw-fcgi.service \
             ./usr/lib/sysusers.d/alertgw.conf ./usr/lib/tmpfiles.d/alertgw.conf \
             ./usr/share/alertgw/lighttpd.conf ./usr/share/alertgw/apache/alertgw-fcgid.conf; do
        assert_line --partial " $f"
    done
    refute_line --partial "./etc/alertgw/alertgw.yaml.example"   # under /usr/share/doc only
    run dpkg-deb --info "$DEB" conffiles
    for f in /etc/alertgw/alertgw.yaml /etc/default/alertgw \
             /etc/lighttpd/conf-available/50-alertgw.conf /etc/logrotate.d/alertgw; do
        assert_line "$f"
    done
    # the license travels with it
    dpkg-deb --fsys-tarfile "$DEB" | tar -xOf - ./usr/share/doc/alertgw/copyright | grep -q '^License: Apache-2.0'
    # the shipped config authenticates and the unit listens on loopback
    dpkg-deb --fsys-tarfile "$DEB" | tar -xOf - ./lib/systemd/system/alertgw.service |
        grep -qx 'Environment=ALERTGW_LISTEN_ADDR=127.0.0.1'
    run bash -c "dpkg-deb --fsys-tarfile '$DEB' | tar -xOf - ./etc/alertgw/alertgw.yaml | grep -E '^ *(prometheus|grafana|events): *none'"
    assert_failure
}

@test "apt-get install ./alertgw_*.deb: users, state directory, exactly one unit enabled" {
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$DEB"
    assert_success
    [[ $(_installed) == "install ok installed $VERSION" ]] || fail "$(_installed)"
    id alertgw >/dev/null || fail "no user alertgw"
    id alertgw-web >/dev/null || fail "no user alertgw-web"
    [[ $(stat -c '%U %a' /var/lib/alertgw) == "alertgw 750" ]] || fail "/var/lib/alertgw: $(stat -c '%U %a' /var/lib/alertgw)"
    [[ $(stat -c '%U %a' /var/log/alertgw) == "alertgw 750" ]] || fail "/var/log/alertgw: $(stat -c '%U %a' /var/log/alertgw)"
    run systemctl is-enabled alertgw.service
    assert_output enabled
    run systemctl is-enabled alertgw-fcgi.service
    refute_output enabled
    /usr/bin/alertgw-fcgi --version | grep -qx "alertgw-fcgi $VERSION"
    run /usr/bin/alertgw-fcgi --check-config /etc/alertgw/alertgw.yaml
    assert_success
}

# _unit_env PORT: the installed unit's Environment= lines and
# /etc/default/alertgw, then this test's Redis, apiserver, paths and token.
_unit_env() {
    sed -n 's/^Environment=//p' /lib/systemd/system/alertgw.service
    grep -E '^[A-Z_]+=' /etc/default/alertgw || true
    printf '%s\n' "ALERTGW_STATE_DIR=$GW_TMP/unit" "ALERTGW_LOG_DIR=$GW_TMP/unit/logs" \
        "ALERTGW_METRICS_PATH=$GW_TMP/unit/metrics.shm" "ALERTGW_LISTEN_PORT=$1" ALERTGW_WORKERS=2 \
        "ALERTGW_REDIS_ADDR=unix:$GW_TMP/redis/redis.sock" \
        "ALERTGW_KUBERNETES_KUBECONFIG=${KUBECONFIG_GATEWAY:-}" \
        "ALERTGW_REMEDIATION_NAMESPACE=$GW_RR_NAMESPACE" ALERTGW_DEDUP_STATUS_SYNC_INTERVAL=0s \
        "ALERTGW_AUTH_BEARER_TOKENS_FILE=$GW_TMP/bearer-tokens"
}
_stop_unit() {
    [[ -f ${GW_TMP:-/nonexistent}/unit/pid ]] || return 0
    local pid
    pid=$(<"$GW_TMP/unit/pid")
    kill -INT "$pid" 2>/dev/null || true
    gw_wait_for 15 _gw_pid_gone "$pid" || gw_kill_pid "$pid" 5
    rm -f "$GW_TMP/unit/pid"
}
_healthz() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$GW_URL/healthz") == 200 ]]; }

@test "the installed unit's ExecStart serves a webhook" {
    [[ $(_installed) == "install ok installed "* ]] || skip "not installed (an earlier test failed)"
    local port cmd argv env
    mkdir -p "$GW_TMP/unit/logs"
    port=$(gw_free_port)
    cmd=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/alertgw.service)
    [[ $cmd == "/usr/sbin/lighttpd -D -f /usr/share/alertgw/lighttpd.conf" ]] || fail "ExecStart: $cmd"
    read -ra argv <<<"$cmd"
    mapfile -t env < <(_unit_env "$port")
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TZ=UTC "${env[@]}" "${argv[@]}" \
        >"$GW_TMP/unit/stderr.log" 2>&1 3>&- &
    echo $! >"$GW_TMP/unit/pid"
    export GW_URL=http://127.0.0.1:$port
    gw_wait_for 15 _healthz || { tail "$GW_TMP/unit/stderr.log"; fail "no /healthz"; }
    gw_post_alert "$(am_body DebPkg deployment=api namespace="$(<"$GW_TMP/ns")" severity=critical)" \
        -H "Authorization: Bearer $(<"$GW_TMP/token")"
    assert_status 201
    gw_post_alert "$(am_body DebPkg deployment=api namespace="$(<"$GW_TMP/ns")" severity=critical)"
    assert_status 401   # the shipped config authenticates
    _stop_unit
}

@test "upgrade to a rebuilt package with a bumped version keeps the operator's config" {
    [[ $(_installed) == "install ok installed "* ]] || skip "not installed (an earlier test failed)"
    echo "# t5800: the operator's change" >>/etc/alertgw/alertgw.yaml
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$DEB2"
    assert_success
    [[ $(_installed) == "install ok installed ${VERSION}+t5800" ]] || fail "$(_installed)"
    grep -qx '# t5800: the operator.s change' /etc/alertgw/alertgw.yaml || fail "the config was replaced"
    /usr/bin/alertgw-fcgi --check-config /etc/alertgw/alertgw.yaml >/dev/null
}

@test "remove keeps config and state; purge removes the state directory and nothing else" {
    [[ $(_installed) == "install ok installed "* ]] || skip "not installed (an earlier test failed)"
    local files
    files=$(dpkg -L alertgw)
    touch /var/lib/alertgw/t5800-state /var/log/alertgw/t5800.log
    run env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q alertgw
    assert_success
    [[ ! -e /usr/bin/alertgw-fcgi ]] || fail "remove left the binary"
    [[ -f /etc/alertgw/alertgw.yaml && -f /var/lib/alertgw/t5800-state ]] || fail "remove took config or state"
    run env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q alertgw
    assert_success
    [[ $(_installed) != *" ok installed"* && $(_installed) != *config-files* ]] ||
        fail "still known to dpkg: $(_installed)"
    [[ ! -e /var/lib/alertgw ]] || fail "purge left the state directory"
    [[ ! -e /etc/alertgw/alertgw.yaml && ! -e /etc/default/alertgw ]] || fail "purge left the conffiles"
    # what stays: the users (Debian never removes system users) and the logs
    id alertgw >/dev/null || fail "purge removed the user alertgw"
    [[ -f /var/log/alertgw/t5800.log ]] || fail "purge removed the logs"
    rm -rf /var/log/alertgw
    # no file of the package is left anywhere else
    local f left=()
    while read -r f; do
        [[ -f $f ]] && left+=("$f")
    done <<<"$files"
    (( ${#left[@]} == 0 )) || fail "left behind: ${left[*]}"
}

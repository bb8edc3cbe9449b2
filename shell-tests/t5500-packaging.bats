#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
bats_require_minimum_version 1.5.0
# t5500-packaging: what `make install` gives a host, and that it works.
#
# setup_file configures a fresh out-of-tree build of this source tree with
# --prefix=/usr --sysconfdir=/etc (as docs/install.md does), builds it and
# installs it into a DESTDIR under $GW_TMP.  The tests then check every
# installed file with the installed binary, lighttpd -tt and
# systemd-analyze verify, run the spawn-fcgi mode for real (the exact
# command line of the installed alertgw-fcgi.service, behind a real lighttpd
# using the installed 50-alertgw.conf, with real redis and kube-apiserver),
# and finally run `make distcheck` (about 1 min on 2 cores).

load helpers

# distcheck builds and tests the whole tree once more.
BATS_TEST_TIMEOUT=${GW_PKG_TEST_TIMEOUT:-600}

setup_file() {
    GW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/alertgw-pkg.XXXXXX")
    export GW_TMP
    export PKG_BUILD=$GW_TMP/build DEST=$GW_TMP/dest
    if [[ ! -x $GW_ROOT/configure ]]; then
        echo "t5500: $GW_ROOT/configure missing: run autoreconf -fi first" >&2
        return 1
    fi
    mkdir -p "$PKG_BUILD" "$DEST"
    if ! ( cd "$PKG_BUILD" &&
           "$GW_ROOT/configure" --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
               >configure.out 2>&1 &&
           make -j2 >make.out 2>&1 &&
           make install DESTDIR="$DEST" >install.out 2>&1 ); then
        tail -n 30 "$PKG_BUILD"/*.out >&2
        return 1
    fi
    gw_start_redis unix || return 1
    gw_start_kube || return 1
    # The installed config (the example) wants bearer tokens: one for the
    # tests, its hash where the workers are told to look.
    openssl rand -hex 32 >"$GW_TMP/token"
    printf '%s' "$(<"$GW_TMP/token")" | sha256sum | cut -d' ' -f1 >"$GW_TMP/bearer-tokens"
    # The front end's user for the spawn-fcgi mode (the unit's alertgw-web):
    # an existing unprivileged account here; without root, spawn-fcgi
    # cannot give the socket away and everything runs as the caller.
    if (( EUID == 0 )); then
        printf '%s\n' nobody nogroup >"$GW_TMP/front-user"
    else
        printf '%s\n' "$(id -un)" "$(id -gn)" >"$GW_TMP/front-user"
    fi
    # lighttpd running as that user reaches the socket and the Lua files
    # below $GW_TMP (which mktemp made 0700)
    chmod 0711 "$GW_TMP"
    # the namespace the webhooks name (signals about others are ignored)
    gw_uniq prod >"$GW_TMP/ns"
    kube_namespace "$(<"$GW_TMP/ns")" || return 1
}

# _post_alert BODY: POST to the Alertmanager route with the test's token.
_post_alert() { gw_post_alert "$1" -H "Authorization: Bearer $(<"$GW_TMP/token")"; }

teardown_file() {
    _stop_spawn_fcgi
    _stop_pool
    gw_teardown_stack
}

teardown() {
    if [[ -z ${BATS_TEST_COMPLETED:-} ]]; then
        gw_dump_logs
        [[ -s $GW_TMP/spawn/stderr.log ]] && { echo "--- tail spawn-fcgi/workers"; tail -n 25 "$GW_TMP/spawn/stderr.log"; }
    fi
    return 0
}

# Where the build put the units (configure's default: pkg-config systemd).
unit_dir() {
    local d
    d=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null) || d=
    echo "${d:-/usr/lib/systemd/system}"
}

# dest_paths FILE: FILE with the installed paths pointing into $DEST (the
# files name /usr/bin/alertgw-fcgi and /usr/share/alertgw, as installed).
dest_paths() {
    sed -e "s|/usr/bin/alertgw-fcgi|$DEST/usr/bin/alertgw-fcgi|g" \
        -e "s|/usr/share/alertgw|$DEST/usr/share/alertgw|g" "$1"
}

@test "make install puts the binary, man page, config, lighttpd files and units in place" {
    local f u
    u=$(unit_dir)
    for f in /usr/bin/alertgw-fcgi /usr/share/man/man8/alertgw-fcgi.8 \
             /etc/alertgw/alertgw.yaml.example /etc/alertgw/alertgw.yaml \
             /etc/lighttpd/conf-available/50-alertgw.conf \
             /usr/share/alertgw/lighttpd.conf /usr/share/alertgw/lighttpd-errors.lua \
             /usr/share/alertgw/lighttpd-ratelimit.lua /usr/share/alertgw/lighttpd-edge-metrics.lua \
             /usr/share/alertgw/lighttpd-problem.lua \
             /usr/share/alertgw/apache/alertgw-fcgid.conf /etc/logrotate.d/alertgw \
             /usr/share/doc/alertgw/LICENSE \
             "$u/alertgw.service" "$u/alertgw-fcgi.service"; do
        [[ -s $DEST$f ]] || fail "not installed: $f"
    done
    [[ -x $DEST/usr/bin/alertgw-fcgi ]] || fail "binary not executable"
    grep -q 'Define ALERTGW_CONFIG /etc/alertgw/alertgw.yaml' "$DEST/usr/share/alertgw/apache/alertgw-fcgid.conf"
    grep -q 'Define ALERTGW_FCGI_BIN /usr/bin/alertgw-fcgi' "$DEST/usr/share/alertgw/apache/alertgw-fcgid.conf"
    # the lua files are the repository's, unchanged
    cmp "$GW_ROOT/lighttpd-errors.lua" "$DEST/usr/share/alertgw/lighttpd-errors.lua"
    cmp "$GW_ROOT/lighttpd-ratelimit.lua" "$DEST/usr/share/alertgw/lighttpd-ratelimit.lua"
    cmp "$GW_ROOT/lighttpd-edge-metrics.lua" "$DEST/usr/share/alertgw/lighttpd-edge-metrics.lua"
    cmp "$GW_ROOT/lighttpd-problem.lua" "$DEST/usr/share/alertgw/lighttpd-problem.lua"
    cmp "$GW_ROOT/lighttpd.conf" "$DEST/usr/share/alertgw/lighttpd.conf"
    local version
    version=$(sed -n 's/^AC_INIT(\[alertgw\], \[\([^]]*\)\].*/\1/p' "$GW_ROOT/configure.ac")
    run "$DEST/usr/bin/alertgw-fcgi" --version
    assert_success
    assert_output "alertgw-fcgi $version"
    # nothing left unsubstituted in the generated files
    run grep -l '@[a-zA-Z_]*@' "$DEST/usr/share/man/man8/alertgw-fcgi.8" \
        "$DEST/etc/lighttpd/conf-available/50-alertgw.conf" "$DEST$u/alertgw.service" "$DEST$u/alertgw-fcgi.service" \
        "$DEST/usr/share/alertgw/apache/alertgw-fcgid.conf"
    assert_failure 1
}

@test "the man page renders without warnings and has every section" {
    local page=$DEST/usr/share/man/man8/alertgw-fcgi.8 s
    run --separate-stderr groff -ww -man -Tutf8 "$page"
    assert_success
    [[ -z $stderr ]] || fail "groff warnings: $stderr"
    run --separate-stderr env MANWIDTH=80 man -l "$page"
    assert_success
    [[ -z $stderr ]] || fail "man -l warnings: $stderr"
    for s in NAME SYNOPSIS DESCRIPTION ENVIRONMENT FILES SIGNALS "EXIT STATUS" "SEE ALSO"; do
        assert_line "$s"
    done
    assert_output --partial "--check-config"
    assert_output --partial "ALERTGW_CONFIG"
    assert_output --partial "/etc/alertgw/alertgw.yaml"
    assert_output --partial "/usr/share/alertgw/lighttpd.conf"
    assert_output --partial "docs/operations.md"
    assert_output --partial "spawn-fcgi(1)"
}

@test "the installed config passes --check-config with the installed binary" {
    cmp "$DEST/etc/alertgw/alertgw.yaml.example" "$GW_ROOT/deploy/alertgw.yaml.example"
    run env -u ALERTGW_CONFIG "$DEST/usr/bin/alertgw-fcgi" --check-config "$DEST/etc/alertgw/alertgw.yaml"
    assert_success
    assert_output --partial "configuration OK"
    run "$DEST/usr/bin/alertgw-fcgi" --check-config "$DEST/etc/alertgw/alertgw.yaml.example"
    assert_success
    # the example authenticates every signal route: fine on a public address
    ALERTGW_LISTEN_ADDR=0.0.0.0 run "$DEST/usr/bin/alertgw-fcgi" --check-config \
        "$DEST/etc/alertgw/alertgw.yaml.example"
    assert_success
    # and the units' default is loopback
    grep -q '^Environment=ALERTGW_LISTEN_ADDR=127.0.0.1$' "$DEST$(unit_dir)/alertgw.service"
    grep -q 'ALERTGW_LISTEN_ADDR:-127.0.0.1}' "$DEST/etc/lighttpd/conf-available/50-alertgw.conf"
}

@test "make install never overwrites alertgw.yaml; uninstall keeps a changed one only" {
    local d=$GW_TMP/dest2
    ( cd "$PKG_BUILD" && make install DESTDIR="$d" >/dev/null )
    echo "# changed by the operator" >>"$d/etc/alertgw/alertgw.yaml"
    run make -C "$PKG_BUILD" install DESTDIR="$d"
    assert_success
    assert_output --partial "keeping $d/etc/alertgw/alertgw.yaml"
    run tail -n 1 "$d/etc/alertgw/alertgw.yaml"
    assert_output "# changed by the operator"
    ( cd "$PKG_BUILD" && make uninstall DESTDIR="$d" >/dev/null )
    run find "$d" -type f
    assert_output "$d/etc/alertgw/alertgw.yaml"
    # unchanged: uninstall leaves nothing (what distcheck demands too)
    rm -rf "$d"
    ( cd "$PKG_BUILD" && make install DESTDIR="$d" >/dev/null && make uninstall DESTDIR="$d" >/dev/null )
    run find "$d" -type f
    assert_output ""
}

@test "50-alertgw.conf names the lua files in pkgdatadir and passes lighttpd -tt" {
    local snip=$DEST/etc/lighttpd/conf-available/50-alertgw.conf dir=$GW_TMP/lighttpd-tt
    grep -q '"/usr/share/alertgw/lighttpd-errors.lua"' "$snip"
    grep -q '/usr/share/alertgw/lighttpd-ratelimit.lua' "$snip"
    grep -q '"/usr/share/alertgw/lighttpd-edge-metrics.lua"' "$snip"
    mkdir -p "$dir"
    dest_paths "$snip" >"$dir/50-alertgw.conf"
    printf '%s\n' "server.document-root = \"$dir\"" 'server.bind = "127.0.0.1"' \
        'server.port = 8080' 'server.modules = ( "mod_access" )' \
        "include \"$dir/50-alertgw.conf\"" >"$dir/main.conf"
    run env -i PATH="$PATH" lighttpd -tt -f "$dir/main.conf"
    assert_success
    assert_output ""
    # with the rate limit on, the installed script is the one attracted
    run env -i PATH="$PATH" ALERTGW_RATE_LIMIT_RPS=5 lighttpd -p -f "$dir/main.conf"
    assert_success
    assert_line --regexp "^ *magnet.attract-raw-url-to *= \(\"$DEST/usr/share/alertgw/lighttpd-ratelimit.lua\"\)\$"
    assert_line --regexp "^ *magnet.attract-response-start-to *= \(\"$DEST/usr/share/alertgw/lighttpd-errors.lua\"\)\$"
    # on GET /metrics the edge counts are handed over, after the rate limit
    assert_line --regexp "^ *magnet.attract-raw-url-to *= \(\"$DEST/usr/share/alertgw/lighttpd-ratelimit.lua\", \"$DEST/usr/share/alertgw/lighttpd-edge-metrics.lua\"\)\$"
    # the dedicated lighttpd of alertgw.service: the installed lighttpd.conf
    # finds its scripts next to itself
    run env -i PATH="$PATH" ALERTGW_STATE_DIR="$dir" ALERTGW_FCGI_BIN="$DEST/usr/bin/alertgw-fcgi" \
        ALERTGW_RATE_LIMIT_RPS=5 lighttpd -tt -f "$DEST/usr/share/alertgw/lighttpd.conf"
    assert_success
    assert_output ""
}

@test "systemd-analyze verify accepts both units, which carry the hardening" {
    local u dir=$GW_TMP/units key
    u=$(unit_dir)
    mkdir -p "$dir"
    for f in alertgw.service alertgw-fcgi.service; do
        dest_paths "$DEST$u/$f" >"$dir/$f"
    done
    # verify also looks the Documentation= man pages up: the installed one
    MANPATH="$DEST/usr/share/man:" run systemd-analyze verify "$dir/alertgw.service" "$dir/alertgw-fcgi.service"
    assert_success
    assert_output ""
    for f in alertgw.service alertgw-fcgi.service; do
        for key in User=alertgw ProtectSystem=strict ProtectHome=yes NoNewPrivileges=yes \
                   PrivateTmp=yes RuntimeDirectory=alertgw CapabilityBoundingSet= \
                   'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
                   SystemCallFilter=@system-service EnvironmentFile=-/etc/default/alertgw \
                   LimitCORE=0 \
                   ExecReload= 'ExecStartPre=/usr/bin/alertgw-fcgi --check-config'; do
            grep -q "^$key" "$DEST$u/$f" || fail "$f: no line starting '$key'"
        done
    done
    grep -q '^ExecStart=.*lighttpd -D -f /usr/share/alertgw/lighttpd.conf$' "$DEST$u/alertgw.service"
    grep -q '^ExecReload=/bin/kill -USR1 \$MAINPID$' "$DEST$u/alertgw.service"
    grep -q '^ExecReload=/usr/bin/pkill --signal HUP --parent \$MAINPID$' "$DEST$u/alertgw-fcgi.service"
    # a unit that names a missing program is refused (the check can fail)
    sed "s|^ExecStart=[^ ]*|ExecStart=$GW_TMP/no-such-program|" "$dir/alertgw-fcgi.service" >"$dir/broken.service"
    MANPATH="$DEST/usr/share/man:" run systemd-analyze verify "$dir/broken.service"
    assert_failure
}

## --- the spawn-fcgi mode, for real --------------------------------------------

# _spawn_cmdline: the ExecStart of the installed alertgw-fcgi.service with
# the socket in $GW_TMP/spawn, 2 workers and the DESTDIR binary.  The unit
# starts it as root ("!"): spawn-fcgi gives the socket to the front end's
# user (-U/-G alertgw-web) and drops the workers to alertgw (-u/-g).  Here
# the front end's user is $GW_TMP/front-user, and the workers keep the
# test's user (they read the test's files; the unit's User=alertgw is
# systemd's business, not spawn-fcgi's).
_spawn_cmdline() {
    local fu fg
    { read -r fu; read -r fg; } <"$GW_TMP/front-user"
    sed -n 's/^ExecStart=!//p' "$DEST$(unit_dir)/alertgw-fcgi.service" |
        sed -e "s|/run/alertgw/alertgw.sock|$GW_TMP/spawn/alertgw.sock|" \
            -e 's|\${ALERTGW_WORKERS}|2|' \
            -e "s|/usr/bin/alertgw-fcgi|$DEST/usr/bin/alertgw-fcgi|" \
            -e 's| -u alertgw -g alertgw | |' \
            -e "s| -U alertgw-web -G alertgw-web | -U $fu -G $fg |"
}

_stop_spawn_fcgi() {
    local pidf=$GW_TMP/spawn/multiwatch.pid mw w workers
    [[ -f $pidf ]] || return 0
    mw=$(<"$pidf")
    workers=$(gw_worker_pids "$mw")
    gw_kill_pid "$mw" 15
    for w in $workers; do gw_kill_pid "$w" 5; done
    rm -f "$pidf"
}

_healthz() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$GW_URL/healthz") == 200 ]]; }
_n_workers() { [[ $(gw_worker_pids "$1" | wc -w) == "$2" ]]; }

@test "spawn-fcgi mode: the unit's command line serves behind lighttpd with 50-alertgw.conf" {
    local cmd argv sdir=$GW_TMP/spawn ldir=$GW_TMP/lighttpd port mw fu fg
    { read -r fu; read -r fg; } <"$GW_TMP/front-user"
    # the unit: spawn-fcgi as root, the socket 0600 for alertgw-web, the
    # workers as alertgw, and the directory open to alertgw-web by name only
    local unit=$DEST$(unit_dir)/alertgw-fcgi.service
    grep -q '^ExecStart=!.*/spawn-fcgi -n -s /run/alertgw/alertgw.sock -u alertgw -g alertgw -U alertgw-web -G alertgw-web -M 0600 -- ' "$unit" ||
        fail "ExecStart: $(grep '^ExecStart=' "$unit")"
    grep -q '^RuntimeDirectoryMode=0711$' "$unit"
    grep -q '^User=alertgw$' "$unit"
    mkdir -p "$sdir" "$ldir"
    chmod 0711 "$sdir"
    cmd=$(_spawn_cmdline)
    [[ $cmd == "$(command -v spawn-fcgi) -n -s $sdir/alertgw.sock "*" -M 0600 -- "*multiwatch" -f 2 "*"-- $DEST/usr/bin/alertgw-fcgi" ]] ||
        fail "unexpected ExecStart: $cmd"
    read -ra argv <<<"$cmd"
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$GW_TMP" TZ=UTC \
        ALERTGW_CONFIG="$DEST/etc/alertgw/alertgw.yaml" \
        ALERTGW_STATE_DIR="$sdir" \
        ALERTGW_REDIS_ADDR="unix:$GW_TMP/redis/redis.sock" \
        ALERTGW_KUBERNETES_KUBECONFIG="${KUBECONFIG_GATEWAY:-}" \
        ALERTGW_REMEDIATION_NAMESPACE="$GW_RR_NAMESPACE" \
        ALERTGW_DEDUP_STATUS_SYNC_INTERVAL=0s \
        ALERTGW_AUTH_BEARER_TOKENS_FILE="$GW_TMP/bearer-tokens" \
        "${argv[@]}" >"$sdir/stderr.log" 2>&1 3>&- &
    mw=$!
    echo "$mw" >"$sdir/multiwatch.pid"
    # spawn-fcgi -n execs multiwatch (same PID), which forks the workers
    gw_wait_for 10 _n_workers "$mw" 2 || fail "multiwatch ($mw) has not 2 workers: $(gw_worker_pids "$mw")"
    [[ $(cat "/proc/$mw/comm") == multiwatch ]] || fail "pid $mw is $(cat "/proc/$mw/comm")"
    [[ -S $sdir/alertgw.sock ]] || fail "no socket $sdir/alertgw.sock"
    # only the front end's user may speak FastCGI to the workers: whoever
    # can connect forges REMOTE_ADDR and the client certificate
    run stat -c '%a %U %G' "$sdir/alertgw.sock"
    assert_output "600 $fu $fg"
    if (( EUID == 0 )); then
        # www-data (the shared web user) cannot connect; the front end's user can
        run setpriv --reuid=www-data --regid=www-data --clear-groups \
            curl -s -o /dev/null --max-time 2 --unix-socket "$sdir/alertgw.sock" http://x/
        assert_failure 7
        run setpriv --reuid="$fu" --regid="$fg" --clear-groups \
            curl -s -o /dev/null --max-time 2 --unix-socket "$sdir/alertgw.sock" http://x/
        (( status != 7 )) || fail "the front end's user $fu cannot connect to the socket"
    fi

    dest_paths "$DEST/etc/lighttpd/conf-available/50-alertgw.conf" >"$ldir/50-alertgw.conf"
    port=$(gw_free_port)
    # the host's lighttpd, as docs/install.md sets it up: run as the front
    # end's user
    printf '%s\n' "server.document-root = \"$ldir\"" 'server.bind = "127.0.0.1"' \
        "server.port = $(gw_free_port)" "server.errorlog = \"$ldir/error.log\"" \
        'server.modules = ( "mod_access" )' \
        "include \"$ldir/50-alertgw.conf\"" >"$ldir/main.conf"
    if (( EUID == 0 )); then
        printf '%s\n' "server.username = \"$fu\"" "server.groupname = \"$fg\"" >>"$ldir/main.conf"
        # its log directory is its own (Debian: /var/log/lighttpd)
        chown "$fu:$fg" "$ldir"
    fi
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TZ=UTC ALERTGW_LISTEN_ADDR=127.0.0.1 \
        ALERTGW_LISTEN_PORT="$port" ALERTGW_FCGI_SOCKET="$sdir/alertgw.sock" \
        lighttpd -D -f "$ldir/main.conf" >>"$ldir/stderr.log" 2>&1 3>&- &
    echo $! >"$ldir/pid"
    export GW_URL=http://127.0.0.1:$port
    echo "$GW_URL" >"$GW_TMP/url"
    gw_wait_for 15 _healthz || fail "$GW_URL/healthz did not answer 200"
}

@test "spawn-fcgi mode: an Alertmanager webhook is 201, its duplicate 202" {
    local name fp body ns
    GW_URL=$(<"$GW_TMP/url")
    ns=$(<"$GW_TMP/ns")
    name=$(gw_uniq pkg)
    fp=$(fp_of "$ns:Deployment:$name")
    body=$(am_body PkgFiring deployment="$name" namespace="$ns" severity=critical)
    # the installed config wants the token
    gw_post_alert "$body"
    assert_status 401
    _post_alert "$body"
    assert_status 201
    _post_alert "$body"
    assert_status 202
    assert_equal "$(kube_rr_count "$fp")" 1
}

@test "spawn-fcgi mode: the first webhook of docs/install.md is accepted" {
    local body
    GW_URL=$(<"$GW_TMP/url")
    body=$(sed -n "/^cat >\/tmp\/alert.json <<'EOF'\$/,/^EOF\$/p" "$GW_ROOT/docs/install.md" | sed '1d;$d')
    jq -e . >/dev/null <<<"$body" || fail "docs/install.md: the example webhook is not JSON: $body"
    grep -q -- '-H "Authorization: Bearer $TOKEN"' "$GW_ROOT/docs/install.md" ||
        fail "docs/install.md: the first webhook sends no token"
    _post_alert "$body"
    # 202 when a borrowed apiserver (GW_KUBE_ENV) has seen it before
    [[ $HTTP_STATUS == 201 || ( -n ${GW_KUBE_ENV:-} && $HTTP_STATUS == 202 ) ]] ||
        fail "expected 201, got $HTTP_STATUS: $HTTP_BODY"
    _post_alert "$body"
    assert_status 202
}

@test "spawn-fcgi mode: SIGHUP to the workers (the unit's reload) keeps the gateway serving" {
    local mw w name
    GW_URL=$(<"$GW_TMP/url")
    mw=$(<"$GW_TMP/spawn/multiwatch.pid")
    for w in $(gw_worker_pids "$mw"); do kill -HUP "$w"; done
    gw_wait_for 10 _n_workers "$mw" 2 || fail "workers after SIGHUP: $(gw_worker_pids "$mw")"
    alive "$mw" || fail "multiwatch went away"
    name=$(gw_uniq pkg-reload)
    _post_alert "$(am_body PkgReload deployment="$name" namespace="$(<"$GW_TMP/ns")" severity=warning)"
    assert_status 201
}

@test "spawn-fcgi mode: stopping multiwatch stops the workers; lighttpd then answers 503 problem+json" {
    local mw workers w
    GW_URL=$(<"$GW_TMP/url")
    mw=$(<"$GW_TMP/spawn/multiwatch.pid")
    workers=$(gw_worker_pids "$mw")
    [[ -n $workers ]] || fail "no workers"
    kill -TERM "$mw"
    gw_wait_for 10 _gw_pid_gone "$mw" || fail "multiwatch did not exit within 10 s of SIGTERM"
    # idle workers finish at once (the unit's TimeoutStopSec bounds any other)
    for w in $workers; do
        gw_wait_for 10 _gw_pid_gone "$w" || fail "worker $w still there 10 s after the stop"
    done
    rm -f "$GW_TMP/spawn/multiwatch.pid"
    # no worker: lighttpd-errors.lua (from pkgdatadir) answers
    _post_alert "$(am_body PkgDown deployment=x namespace="$(<"$GW_TMP/ns")")"
    assert_503_retry_after
}

## --- the lighttpd-managed pool (alertgw.service), for real -------------------

# _pool_env: the unit's Environment= lines, then the test's paths on top.
_pool_env() {
    sed -n 's/^Environment=//p' "$DEST$(unit_dir)/alertgw.service" | dest_paths /dev/stdin |
        sed "s|^ALERTGW_CONFIG=/etc/|ALERTGW_CONFIG=$DEST/etc/|"
    printf '%s\n' "ALERTGW_STATE_DIR=$GW_TMP/pool" "ALERTGW_METRICS_PATH=$GW_TMP/pool/metrics.shm" \
        "ALERTGW_LOG_DIR=$GW_TMP/pool/logs" \
        ALERTGW_LISTEN_ADDR=127.0.0.1 "ALERTGW_LISTEN_PORT=$1" \
        ALERTGW_WORKERS=2 "ALERTGW_REDIS_ADDR=unix:$GW_TMP/redis/redis.sock" \
        "ALERTGW_KUBERNETES_KUBECONFIG=${KUBECONFIG_GATEWAY:-}" \
        "ALERTGW_REMEDIATION_NAMESPACE=$GW_RR_NAMESPACE" ALERTGW_DEDUP_STATUS_SYNC_INTERVAL=0s \
        "ALERTGW_AUTH_BEARER_TOKENS_FILE=$GW_TMP/bearer-tokens"
}

_stop_pool() {
    local pidf=$GW_TMP/pool/pid pid w workers
    [[ -f $pidf ]] || return 0
    pid=$(<"$pidf")
    workers=$(gw_worker_pids "$pid")
    gw_kill_pid "$pid" 15
    for w in $workers; do gw_kill_pid "$w" 5; done
    rm -f "$pidf"
}

@test "lighttpd-managed pool: the unit's ExecStart and Environment serve; USR1 reload and SIGINT stop are graceful" {
    local dir=$GW_TMP/pool port cmd argv env pid old new name body w sock unit
    unit=$DEST$(unit_dir)/alertgw.service
    mkdir -p "$dir"
    # the unit's state and logs directory modes and umask
    chmod "$(sed -n 's/^StateDirectoryMode=//p' "$unit")" "$dir"
    mkdir -p "$dir/logs"
    chmod "$(sed -n 's/^LogsDirectoryMode=//p' "$unit")" "$dir/logs"
    grep -qx 'LogsDirectory=alertgw' "$unit" || fail "no LogsDirectory=alertgw"
    grep -qx 'Environment=ALERTGW_LOG_DIR=/var/log/alertgw' "$unit" || fail "the access log is not in /var/log/alertgw"
    port=$(gw_free_port)
    cmd=$(sed -n 's/^ExecStart=//p' "$DEST$(unit_dir)/alertgw.service" | dest_paths /dev/stdin)
    [[ $cmd == "$(command -v lighttpd) -D -f $DEST/usr/share/alertgw/lighttpd.conf" ]] || fail "unexpected ExecStart: $cmd"
    read -ra argv <<<"$cmd"
    mapfile -t env < <(_pool_env "$port")
    ( umask "$(sed -n 's/^UMask=//p' "$unit")"
      exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TZ=UTC "${env[@]}" "${argv[@]}" \
        >"$dir/stderr.log" 2>&1 3>&- ) &
    pid=$!
    echo "$pid" >"$dir/pid"
    export GW_URL=http://127.0.0.1:$port
    gw_wait_for 15 _healthz || { tail "$dir"/*.log; fail "$GW_URL/healthz did not answer 200"; }
    gw_wait_for 10 _n_workers "$pid" 2 || fail "workers: $(gw_worker_pids "$pid")"
    # lighttpd and its workers are one user; their sockets, in the 0750
    # state directory, are that user's alone
    [[ $(stat -c %a "$dir") == 750 ]] || fail "state dir mode $(stat -c %a "$dir")"
    for sock in "$dir"/alertgw.sock-*; do
        [[ -S $sock ]] || fail "no worker socket in $dir"
        [[ $(stat -c %U "$sock") == "$(stat -c %U "/proc/$pid")" ]] ||
            fail "$sock belongs to $(stat -c %U "$sock"), lighttpd runs as $(stat -c %U "/proc/$pid")"
        (( ( 8#$(stat -c %a "$sock") & 8#022 ) == 0 )) ||
            fail "$sock is writable (connectable) by group or others: $(stat -c %a "$sock")"
        if (( EUID == 0 )); then
            run setpriv --reuid=www-data --regid=www-data --clear-groups \
                curl -s -o /dev/null --max-time 2 --unix-socket "$sock" http://x/
            assert_failure 7
        fi
    done
    name=$(gw_uniq pkg-pool)
    body=$(am_body PkgPool deployment="$name" namespace="$(<"$GW_TMP/ns")" severity=critical)
    _post_alert "$body"
    assert_status 201
    [[ -s $dir/metrics.shm ]] || fail "the workers did not use ALERTGW_METRICS_PATH"
    # one place for logs: lighttpd's own lines and the workers' JSON lines
    # on stderr (the journal under systemd), no error.log file; the access
    # log in the logs directory, and a SIGHUP to lighttpd (logrotate's
    # postrotate) reopens it
    grep -q 'server started' "$dir/stderr.log" || fail "lighttpd's error log is not on stderr: $(tail -n 3 "$dir/stderr.log")"
    grep -q '"level":"info"' "$dir/stderr.log" || fail "the workers' log is not on stderr"
    [[ ! -e $dir/error.log && ! -e $dir/logs/error.log ]] || fail "an error.log file was written"
    gw_wait_for 5 grep -q '"POST /api/v1/signals/prometheus HTTP/1.1" 201' "$dir/logs/access.log" ||
        fail "no access-log line in $dir/logs"
    mv "$dir/logs/access.log" "$dir/logs/access.log.1"
    kill -HUP "$pid"
    gw_wait_for 5 grep -q 'logfiles cycled' "$dir/stderr.log" || fail "lighttpd did not reopen its logs on SIGHUP"
    alive "$pid" || fail "lighttpd exited on SIGHUP"
    curl -s -o /dev/null "$GW_URL/healthz"
    gw_wait_for 5 grep -q '"GET /healthz HTTP/1.1" 200' "$dir/logs/access.log" ||
        fail "after SIGHUP the access log was not reopened"
    # the installed rotation names that file and signals lighttpd alone
    local lr=$DEST/etc/logrotate.d/alertgw
    [[ -f $lr ]] || fail "no $lr"
    grep -q '^/var/log/alertgw/access.log {' "$lr" || fail "$lr does not rotate /var/log/alertgw/access.log"
    grep -q 'systemctl kill --kill-whom=main --signal=HUP alertgw.service' "$lr" || fail "$lr: no SIGHUP to lighttpd"
    run logrotate -d "$lr"
    assert_success

    # ExecReload: kill -USR1 $MAINPID (graceful restart, new workers)
    old=$(gw_worker_pids "$pid" | sort)
    kill -USR1 "$pid"
    _new_pool() { local n; n=$(gw_worker_pids "$pid" | sort); [[ $(wc -w <<<"$n") == 2 && -z $(comm -12 <(echo "$old") <(echo "$n")) ]]; }
    gw_wait_for 15 _new_pool || fail "after USR1: workers $(gw_worker_pids "$pid"), before: $old"
    alive "$pid" || fail "lighttpd exited on USR1"
    gw_wait_for 10 _healthz || fail "no /healthz after the reload"
    _post_alert "$body"
    assert_status 202

    # KillSignal=SIGINT: lighttpd and the workers go
    new=$(gw_worker_pids "$pid")
    kill -INT "$pid"
    gw_wait_for 15 _gw_pid_gone "$pid" || fail "lighttpd still running 15 s after SIGINT"
    for w in $new; do
        gw_wait_for 10 _gw_pid_gone "$w" || fail "worker $w outlived lighttpd"
    done
    rm -f "$dir/pid"
}

@test "make distcheck passes" {
    run --separate-stderr timeout 540 make -C "$PKG_BUILD" -j2 distcheck
    if (( status != 0 )); then
        printf '%s\n' "$output" | tail -n 40
        printf '%s\n' "$stderr" | tail -n 20
        fail "make distcheck failed ($status)"
    fi
    assert_output --partial "archives ready for distribution"
    [[ -s $PKG_BUILD/alertgw-$(sed -n 's/^AC_INIT(\[alertgw\], \[\([^]]*\)\].*/\1/p' "$GW_ROOT/configure.ac").tar.gz ]]
}

@test "the release tarball holds every tracked file but the git and docker ignore lists" {
    git -C "$GW_ROOT" rev-parse --git-dir >/dev/null 2>&1 || skip "not a git checkout"
    local tarball v
    v=$(sed -n 's/^AC_INIT(\[alertgw\], \[\([^]]*\)\].*/\1/p' "$GW_ROOT/configure.ac")
    tarball=$PKG_BUILD/alertgw-$v.tar.gz
    [[ -s $tarball ]] || run make -C "$PKG_BUILD" dist
    [[ -s $tarball ]] || fail "no $tarball"
    run comm -13 <(tar tzf "$tarball" | sed "s|^alertgw-$v/||" | grep -v '/$' | sort) \
                 <(git -C "$GW_ROOT" ls-files | grep -vxE '\.gitignore|\.dockerignore' | sort)
    assert_success
    assert_output ""   # a file here is tracked but missing from EXTRA_DIST
    tar tzf "$tarball" | grep -qx "alertgw-$v/LICENSE" || fail "LICENSE is not in the tarball"
    [[ -f $DEST/usr/share/doc/alertgw/LICENSE ]] || fail "make install did not install LICENSE"
}

@test "every source file, script and unit carries the SPDX license line" {
    git -C "$GW_ROOT" rev-parse --git-dir >/dev/null 2>&1 || skip "not a git checkout"
    local f missing=()
    # data (JSON, fuzz seeds, test fixtures), prose and the Debian files
    # whose format has no comments (debian/copyright states the license)
    while read -r f; do
        head -n 3 "$GW_ROOT/$f" | grep -q 'SPDX-License-Identifier: Apache-2.0' || missing+=("$f")
    done < <(git -C "$GW_ROOT" ls-files | grep -vE '\.(json|md)$|^tests/data/|^tests/fuzz/[^/]+/|^LICENSE$' |
             grep -vxE 'debian/(changelog|copyright|control|source/format|alertgw\.examples)')
    (( ${#missing[@]} == 0 )) || fail "no SPDX line: ${missing[*]}"
    grep -q 'Apache License' "$GW_ROOT/LICENSE" || fail "LICENSE is not the Apache License"
    grep -q 'Version 2.0, January 2004' "$GW_ROOT/LICENSE" || fail "LICENSE is not version 2.0"
}

@test "deploy/install-deps.sh leaves no service of the test stack enabled for the next boot or running" {
    (( EUID == 0 )) || skip "needs root"
    local s d
    run "$GW_ROOT/deploy/install-deps.sh"
    assert_success
    for s in lighttpd redis-server etcd prometheus prometheus-alertmanager apache2 \
             apache-htcacheclean stunnel4; do
        if [[ -f /lib/systemd/system/$s.service ]]; then
            run systemctl is-enabled "$s.service"
            [[ $output != enabled* ]] || fail "$s.service is enabled for the next boot"
        fi
        for d in /etc/rc2.d /etc/rc3.d /etc/rc4.d /etc/rc5.d; do
            compgen -G "$d/S??$s" >/dev/null && fail "$d starts $s at boot"
        done
        if [[ -d /run/systemd/system ]]; then
            systemctl is-active --quiet "$s.service" && fail "$s runs"
        fi
    done
    true
}

@test "the binary's default config, the man page and the lighttpd snippet follow ./configure --sysconfdir" {
    local pre=$GW_TMP/prefix b=$GW_TMP/build-prefix
    mkdir -p "$b"
    ( cd "$b" && "$GW_ROOT/configure" --prefix="$pre" >configure.out 2>&1 &&
      make -j2 fcgi/alertgw-fcgi man/alertgw-fcgi.8 deploy/lighttpd/50-alertgw.conf >make.out 2>&1 ) ||
        fail "build with --prefix=$pre failed: $(tail -n 5 "$b"/*.out)"
    run "$b/fcgi/alertgw-fcgi" --no-such-option
    assert_failure 2
    assert_output --partial "(default $pre/etc/alertgw/alertgw.yaml if present)"
    grep -q "$pre/etc/alertgw/alertgw.yaml" "$b/man/alertgw-fcgi.8" || fail "the man page names another config"
    grep -q "$pre/etc/lighttpd/conf-available/50-alertgw.conf" "$b/deploy/lighttpd/50-alertgw.conf" ||
        fail "the snippet names another place"
    make -C "$b" deploy/apache/alertgw-fcgid.conf >/dev/null
    grep -q "Define ALERTGW_CONFIG $pre/etc/alertgw/alertgw.yaml" "$b/deploy/apache/alertgw-fcgid.conf" ||
        fail "the Apache config names another config file"
    grep -q "Define ALERTGW_FCGI_BIN $pre/bin/alertgw-fcgi" "$b/deploy/apache/alertgw-fcgid.conf" ||
        fail "the Apache config names another binary"
    # and the binary reads that file when ALERTGW_CONFIG is unset
    mkdir -p "$pre/etc/alertgw"
    echo 'dedup: {ttl: "not a duration"}' >"$pre/etc/alertgw/alertgw.yaml"
    run env -i PATH=/usr/bin:/bin REQUEST_METHOD=GET SCRIPT_NAME= PATH_INFO=/healthz \
        "$b/fcgi/alertgw-fcgi" </dev/null
    assert_failure
    assert_output --partial "configuration errors ($pre/etc/alertgw/alertgw.yaml)"
}

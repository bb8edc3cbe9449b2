# SPDX-License-Identifier: Apache-2.0
# shell-tests/two-hosts.bash - two gateway "hosts" on one machine for t4500:
# each host is a network namespace with a veth pair into a Linux bridge that
# has a private /24 and no uplink (the namespaces have no default route, so
# nothing they send leaves the bridge).  The root namespace holds the
# bridge's .1 (Redis and the sentinels bind there); host a is .2, host b
# .3.  The apiserver binds 127.0.0.1 in the root namespace and its
# certificate is for 127.0.0.1, so each host gets a forwarder on its own
# 127.0.0.1 at the apiserver's port: socat in the namespace to a unix
# socket (file system paths are shared between namespaces), and socat in
# the root namespace from that socket to the apiserver.  The gateway's
# kubeconfig is used unchanged.  Load after helpers.bash.
#
# Names: everything carries the prefix gw2h<PID> (PID: the bats process that
# made it; namespaces gw2h<PID>a and gw2h<PID>b, bridge gw2h<PID>br, veths
# gw2h<PID>va and gw2h<PID>vb), so parallel runs never collide, and
# th_clean_stale removes only gw2h names whose PID is gone (or is ours: a
# run does that before it makes anything).  Names are kept in
# $GW_TMP/2h/names; th_down removes exactly those and ends, by PID, the
# processes still in those namespaces.

# th_netns_possible: ip netns works here (creates and deletes a probe
# namespace); prints why not and returns 1 if it does not.
th_netns_possible() {
    local probe="gw2h$$probe" err
    command -v ip >/dev/null || { echo "no ip command (iproute2)"; return 1; }
    if ! err=$(ip netns add "$probe" 2>&1); then
        echo "ip netns add failed: $err"
        return 1
    fi
    ip netns del "$probe"
}

# th_clean_stale: deletes gw2h<PID>* namespaces and links of runs whose PID
# is gone (or is this run's own, from a killed run that had it before), and
# ends the processes left in such a namespace, by PID.
th_clean_stale() {
    local n pid p
    for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^gw2h[0-9]+[ab]$'); do
        pid=${n#gw2h}; pid=${pid%[ab]}
        [[ $pid == "$$" ]] || ! kill -0 "$pid" 2>/dev/null || continue
        echo "# removing stale namespace $n" >&3
        for p in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$n" 2>/dev/null || true
    done
    for n in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
               grep -E '^gw2h[0-9]+(br|va|vb)$'); do
        pid=${n#gw2h}; pid=${pid%??}
        [[ $pid == "$$" ]] || ! kill -0 "$pid" 2>/dev/null || continue
        echo "# removing stale link $n" >&3
        ip link del "$n" 2>/dev/null || true
    done
}

# _th_net_free NET: no address or route of this machine is in NET.0/24.
_th_net_free() {
    ! ip -4 route show table all 2>/dev/null | grep -qE "(^| )${1//./\\.}\\.[0-9]+" &&
    ! ip -4 addr show 2>/dev/null | grep -q "inet ${1//./\\.}\\."
}

# th_up: the bridge and both namespaces.  Sets (and writes to $GW_TMP/2h)
# TH_NET (the /24 as A.B.C), TH_NS_A, TH_NS_B, TH_BRIDGE.
th_up() {
    local id=$$ net i h addr
    mkdir -p "$GW_TMP/2h"
    # a /24 of 10.128.0.0/9 from the PID; another one at random if this
    # machine uses it already
    net="10.$(( 128 + (id >> 8) % 128 )).$(( id % 256 ))"
    for (( i = 0; i < 20; i++ )); do
        _th_net_free "$net" && break
        net="10.$(( 128 + RANDOM % 128 )).$(( RANDOM % 256 ))"
    done
    _th_net_free "$net" || { echo "th_up: no free /24 in 10.128.0.0/9" >&2; return 1; }
    TH_NET=$net TH_BRIDGE=gw2h${id}br TH_NS_A=gw2h${id}a TH_NS_B=gw2h${id}b
    printf '%s\n' "$TH_BRIDGE" >"$GW_TMP/2h/names"
    echo "$TH_NET" >"$GW_TMP/2h/net"
    ip link add "$TH_BRIDGE" type bridge || return 1
    ip addr add "$net.1/24" dev "$TH_BRIDGE" || return 1
    ip link set "$TH_BRIDGE" up || return 1
    for h in a b; do
        if [[ $h == a ]]; then addr=$net.2; else addr=$net.3; fi
        echo "gw2h$id$h" >>"$GW_TMP/2h/names"
        echo "gw2h${id}v$h" >>"$GW_TMP/2h/names"
        ip netns add "gw2h$id$h" || return 1
        ip link add "gw2h${id}v$h" type veth peer name eth0 netns "gw2h$id$h" || return 1
        ip link set "gw2h${id}v$h" master "$TH_BRIDGE" up || return 1
        ip -n "gw2h$id$h" addr add "$addr/24" dev eth0 || return 1
        ip -n "gw2h$id$h" link set eth0 up || return 1
        ip -n "gw2h$id$h" link set lo up || return 1
    done
    printf 'TH_NET=%s\nTH_BRIDGE=%s\nTH_NS_A=%s\nTH_NS_B=%s\n' \
        "$TH_NET" "$TH_BRIDGE" "$TH_NS_A" "$TH_NS_B" >"$GW_TMP/2h/env"
}

# th_load: TH_* of th_up (tests run in subshells of setup_file).
th_load() { [[ -f $GW_TMP/2h/env ]] && _gw_source_env "$GW_TMP/2h/env"; }

# th_down: ends the processes still in the namespaces (by PID), deletes the
# namespaces (their veth ends go with them) and the bridge, as named in
# $GW_TMP/2h/names.  Safe to run twice and after a partial th_up.
th_down() {
    local n p
    [[ -f ${GW_TMP:-}/2h/names ]] || return 0
    for n in $(<"$GW_TMP/2h/names"); do
        if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$n"; then
            for p in $(ip netns pids "$n" 2>/dev/null); do
                echo "# pid $p still in $n: killing it" >&3
                kill -KILL "$p" 2>/dev/null
            done
            ip netns del "$n" 2>/dev/null || true
        fi
    done
    for n in $(<"$GW_TMP/2h/names"); do
        ip link show "$n" >/dev/null 2>&1 && ip link del "$n" 2>/dev/null
    done
    rm -f "$GW_TMP/2h/names"
}

# _th_daemon NAME CMD...: a daemon whose PID goes to $GW_TMP/2h/NAME.pid.
_th_daemon() {
    local name=$1; shift
    "$@" >>"$GW_TMP/2h/$name.log" 2>&1 3>&- &
    echo $! >"$GW_TMP/2h/$name.pid"
    disown $!
}

_th_kube_reachable() {
    ip netns exec "$1" curl -s -o /dev/null --max-time 2 --cacert "$KUBE_CA_FILE" \
        "https://127.0.0.1:$KUBE_API_PORT/readyz"
}

# th_kube_forward: the apiserver's https://127.0.0.1:KUBE_API_PORT inside
# both namespaces (see the top), checked with curl from each.
th_kube_forward() {
    local sock="$GW_TMP/2h/kube.sock" ns
    command -v socat >/dev/null || { echo "th_kube_forward: apt-get install socat" >&2; return 1; }
    _th_daemon socat-root socat "UNIX-LISTEN:$sock,fork,mode=600" "TCP:127.0.0.1:$KUBE_API_PORT"
    gw_wait_for 5 test -S "$sock" || { echo "th_kube_forward: no $sock" >&2; return 1; }
    for ns in "$TH_NS_A" "$TH_NS_B"; do
        _th_daemon "socat-$ns" ip netns exec "$ns" \
            socat "TCP-LISTEN:$KUBE_API_PORT,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$sock"
        gw_wait_for 10 _th_kube_reachable "$ns" ||
            { echo "th_kube_forward: the apiserver is not reachable from $ns" >&2; return 1; }
    done
}

# th_start_host a|b [NAME=VALUE...]: that host's lighttpd and workers in its
# namespace on its bridge address, port 8080 (state in $GW_TMP/host-a|b; its
# URL in url there).
th_start_host() {
    local h=$1 ns addr; shift
    if [[ $h == a ]]; then ns=$TH_NS_A addr=$TH_NET.2; else ns=$TH_NS_B addr=$TH_NET.3; fi
    GW_LIGHTTPD_DIR="$GW_TMP/host-$h" GW_NETNS=$ns GW_LISTEN_ADDR=$addr GW_LISTEN_PORT=8080 \
        gw_start_lighttpd "$@" || return 1
    # the test SIGKILLs it: no job-control "Killed" noise
    disown "$(<"$GW_TMP/host-$h/pid")" 2>/dev/null || true
}

# th_stop_host a|b: gw_stop_lighttpd for that host.
th_stop_host() { GW_LIGHTTPD_DIR="$GW_TMP/host-$1" gw_stop_lighttpd; }

# th_url a|b: the host's base URL.
th_url() { cat "$GW_TMP/host-$1/url"; }

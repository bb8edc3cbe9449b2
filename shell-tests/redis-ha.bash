# SPDX-License-Identifier: Apache-2.0
# shell-tests/redis-ha.bash - Redis with Sentinel for the HA suites (t4300,
# t4500): a primary and a replica redis-server and three sentinels (the same
# binary with --sentinel), with passwords on both, on free ports of one
# address (127.0.0.1, or a test bridge's address that other network
# namespaces reach).  Load after helpers.bash.  Everything lives in
# $GW_TMP/ha: each process's PID in NAME.pid (gw_teardown_stack "$GW_TMP/ha"
# stops them by PID), the ports in primary-port, replica-port and
# sentinel-ports, the address in addr, the password files redis.pw and
# sentinel.pw for the gateway.

SENTINEL_MASTER=alertgw-test
REDIS_PW=redis-secret-pw
SENTINEL_PW=sentinel-secret-pw

# _start_redis NAME PORT [ARGS...]: a TCP redis-server (or sentinel) on the
# HA address whose PID is recorded in $GW_TMP/ha/NAME.pid.
_start_redis() {
    local name=$1 port=$2; shift 2
    local dir="$GW_TMP/ha/$name"
    mkdir -p "$dir"
    redis-server "$@" --port "$port" --bind "$(_ha_addr)" --dir "$dir" --logfile "$dir/log" \
        --daemonize no >/dev/null 2>&1 3>&- &
    echo $! >"$GW_TMP/ha/$name.pid"
    disown $! # the tests SIGKILL the primary: no job-control "Killed" noise
}

_ha_addr() { cat "$GW_TMP/ha/addr" 2>/dev/null || echo 127.0.0.1; }
_rcli() { redis-cli -h "$(_ha_addr)" -p "$1" -a "$REDIS_PW" --no-auth-warning "${@:2}"; }
_scli() { redis-cli -h "$(_ha_addr)" -p "$1" -a "$SENTINEL_PW" --no-auth-warning "${@:2}"; }

_sentinels_ready() {
    local s info
    for s in $(<"$GW_TMP/ha/sentinel-ports"); do
        info=$(_scli "$s" SENTINEL master "$SENTINEL_MASTER" 2>/dev/null | paste - -) || return 1
        grep -q $'^num-slaves\t1$' <<<"$info" || return 1
        grep -q $'^num-other-sentinels\t2$' <<<"$info" || return 1
    done
}

# The port the sentinels currently name as master.
_master_port() {
    _scli "$(cut -d' ' -f1 <"$GW_TMP/ha/sentinel-ports")" \
        SENTINEL get-master-addr-by-name "$SENTINEL_MASTER" 2>/dev/null | tail -n 1
}

# gw_start_redis_ha [ADDR]: the primary, the replica and three sentinels on
# ADDR (127.0.0.1); returns when every sentinel sees the replica and the
# other two (bounded, 60 s).
gw_start_redis_ha() {
    local addr=${1:-127.0.0.1} primary replica s ports=() i
    mkdir -p "$GW_TMP/ha"
    echo "$addr" >"$GW_TMP/ha/addr"
    primary=$(gw_free_port) && replica=$(gw_free_port) || return 1
    echo "$primary" >"$GW_TMP/ha/primary-port"
    echo "$replica" >"$GW_TMP/ha/replica-port"
    _start_redis primary "$primary" --save '' --appendonly no \
        --requirepass "$REDIS_PW" --masterauth "$REDIS_PW"
    _start_redis replica "$replica" --save '' --appendonly no \
        --requirepass "$REDIS_PW" --masterauth "$REDIS_PW" --replicaof "$addr" "$primary"
    for i in 1 2 3; do
        s=$(gw_free_port) || return 1
        ports+=("$s")
        mkdir -p "$GW_TMP/ha/sentinel$i"
        # sentinels rewrite their config file: each gets its own
        cat >"$GW_TMP/ha/sentinel$i/sentinel.conf" <<EOC
sentinel monitor $SENTINEL_MASTER $addr $primary 2
sentinel auth-pass $SENTINEL_MASTER $REDIS_PW
sentinel down-after-milliseconds $SENTINEL_MASTER 1000
sentinel failover-timeout $SENTINEL_MASTER 5000
sentinel parallel-syncs $SENTINEL_MASTER 1
requirepass $SENTINEL_PW
sentinel sentinel-pass $SENTINEL_PW
EOC
        _start_redis "sentinel$i" "$s" "$GW_TMP/ha/sentinel$i/sentinel.conf" --sentinel
    done
    echo "${ports[*]}" >"$GW_TMP/ha/sentinel-ports"
    # sentinels find each other through hello messages every 2 s but the
    # replica only through INFO every 10 s; on a loaded machine that takes
    # longer, so the wait is generous (it ends as soon as all agree)
    if ! gw_wait_for 60 _sentinels_ready; then
        echo "sentinels did not see the replica and each other within 60 s" >&2
        tail -n 20 "$GW_TMP"/ha/*/log >&2
        return 1
    fi
    printf '%s\n' "$REDIS_PW" >"$GW_TMP/ha/redis.pw"
    printf '%s\n' "$SENTINEL_PW" >"$GW_TMP/ha/sentinel.pw"
    chmod 600 "$GW_TMP/ha/"*.pw
}

# gw_redis_ha_env: the gateway's settings for these sentinels, one
# NAME=VALUE a line (for gw_start_lighttpd: mapfile -t env < <(...)).
gw_redis_ha_env() {
    local addr s list=()
    addr=$(_ha_addr)
    for s in $(<"$GW_TMP/ha/sentinel-ports"); do list+=("$addr:$s"); done
    local IFS=,
    echo "ALERTGW_REDIS_SENTINELS=${list[*]}"
    echo "ALERTGW_REDIS_SENTINEL_MASTER=$SENTINEL_MASTER"
    echo "ALERTGW_REDIS_PASSWORD_FILE=$GW_TMP/ha/redis.pw"
    echo "ALERTGW_REDIS_SENTINEL_PASSWORD_FILE=$GW_TMP/ha/sentinel.pw"
}

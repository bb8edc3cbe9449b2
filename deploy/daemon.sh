# SPDX-License-Identifier: Apache-2.0
# deploy/daemon.sh - sourced by kube-local.sh and start-local.sh.
#
# alive PID: the process exists and is not a zombie.  Daemons started with
# detach are not the caller's children, so an exited one can linger as a
# zombie until init reaps it; for us it is gone as soon as it has exited.
alive() {
    local state
    [[ -n ${1:-} ]] || return 1
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# detach LOGFILE CMD [ARGS...]: starts CMD in a session of its own (so a
# Ctrl-C in the terminal reaches only the calling script, which then stops
# things in order), stdin from /dev/null, stdout and stderr appended to
# LOGFILE, and prints its PID.
#
# Why not `setsid CMD & pid=$!`: setsid forks when it happens to be a
# process-group leader (that depends on how the caller was started), and
# then $! is a parent that exits at once while the daemon lives on,
# unrecorded and never stopped.  Here the child writes its own PID just
# before it execs CMD (exec keeps the PID), so the PID is always the daemon's.
detach() {
    local logf=$1; shift
    local pidf pid="" i
    pidf=$(mktemp "${TMPDIR:-/tmp}/alertgw-pid.XXXXXX")
    # shellcheck disable=SC2016  # $$ and $0 belong to the inner sh
    setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidf" "$@" </dev/null >>"$logf" 2>&1 &
    for ((i = 0; i < 250; i++)); do
        pid=$(cat "$pidf" 2>/dev/null || true)
        [[ -n $pid ]] && break
        sleep 0.02
    done
    rm -f "$pidf"
    echo "$pid"
}

#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# alertgw-container.sh - the container's entry point (installed as
# /usr/local/bin/alertgw-container by deploy/kubernetes/Dockerfile): runs
# lighttpd in the foreground with the reference lighttpd.conf, which starts
# and restarts the alertgw-fcgi workers itself.
#
# - lighttpd's error log and access log are files in ALERTGW_STATE_DIR in
#   lighttpd.conf; here they are links to the container's stderr and
#   stdout, so `kubectl logs` shows them next to the workers' JSON lines
#   (which go to the stderr they inherit) and nothing grows in the emptyDir.
# - No core dumps (ulimit -c 0 below).
# - SIGTERM (what the kubelet sends) and SIGINT become SIGINT for lighttpd:
#   its graceful shutdown (stop accepting, finish the requests in hand, send
#   the workers their kill-signal 15 so each finishes its request).  SIGTERM
#   would be lighttpd's immediate shutdown, which drops accepted webhooks.
#
# Parameters: lighttpd.conf's (ALERTGW_LISTEN_*, ALERTGW_STATE_DIR, ...; the
# ConfigMap alertgw-lighttpd), and ALERTGW_LIGHTTPD_CONF (the config file,
# default /usr/local/share/alertgw/lighttpd/lighttpd.conf).
set -eu

# No core files: a worker's would hold the secrets (the workers also make
# themselves non-dumpable).  Inherited by lighttpd and every worker.
ulimit -c 0

conf=${ALERTGW_LIGHTTPD_CONF:-/usr/local/share/alertgw/lighttpd/lighttpd.conf}
state=${ALERTGW_STATE_DIR:-/run/alertgw}
export ALERTGW_STATE_DIR="$state"

mkdir -p "$state"
ln -sfn /dev/stderr "$state/error.log"
# lighttpd points its own stdout at /dev/null at start-up, so the access log
# goes to a copy of this script's stdout that lighttpd leaves alone: fd 3
# (the workers inherit it too, and never write to it).
ln -sfn /dev/fd/3 "$state/access.log"

lighttpd -D -f "$conf" 3>&1 &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true' TERM INT
# wait returns early when a trapped signal arrives: wait again for the exit.
rc=0
wait "$pid" || rc=$?
while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" || rc=$?
done
exit "$rc"

#!/usr/bin/env bash
# Stops a cluster started by up.sh: SIGTERM to every node (ingesters flush and leave
# the ring), kill -9 after 20 s, then the object store.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
DIR=$1
stop() { # PIDFILE
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    kill -TERM "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
    for _ in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$1"
}
for pidfile in "$DIR"/pids/*.pid; do
    [ -e "$pidfile" ] || continue
    [ "$(basename "$pidfile")" = s3s-fs.pid ] && continue
    stop "$pidfile" &
done
wait
stop "$DIR/pids/s3s-fs.pid"

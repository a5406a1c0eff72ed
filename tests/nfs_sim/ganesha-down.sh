#!/bin/bash
# ganesha-down.sh STATEDIR: stop the ganesha started by ganesha-up.sh (by its recorded
# pid: TERM, then KILL after 5 s), stop rpcbind if ganesha-up.sh started it and no
# ganesha is left, and remove STATEDIR. Idempotent; always exits 0 unless misused.
set -u
. "$(dirname "$0")/proc.sh"
state=${1:?usage: ganesha-down.sh STATEDIR}
[ -d "$state" ] || exit 0
stop_pid() {  # stop_pid FILE NAME
  local f=$1 name=$2 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  # Only kill it if it is still the process we started.
  if [ -r "/proc/$pid/comm" ] && grep -qx "$name" "/proc/$pid/comm"; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    for _ in $(seq 1 20); do alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$f"
}
stop_pid "$state/ganesha.pid" ganesha.nfsd
if [ -s "$state/rpcbind.pid" ]; then
  if running ganesha.nfsd; then
    echo "ganesha-down: another ganesha.nfsd runs; leaving rpcbind $(cat "$state/rpcbind.pid") to it" >&2
  else
    stop_pid "$state/rpcbind.pid" rpcbind
  fi
fi
case $state in /tmp/nfssim-ganesha.*) rm -rf "$state" ;; *) rm -f "$state"/ganesha.* "$state"/url "$state"/url.vm* "$state"/mode; rm -rf "$state/recov" ;; esac
exit 0

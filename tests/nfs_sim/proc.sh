# proc.sh - sourced by the nfs_sim scripts: is a process alive?
# `kill -0` and `pgrep` also see zombies, and in a container without a reaping init a
# killed daemon stays a zombie: waiting on `kill -0` then lasts the whole timeout and a
# zombie rpcbind looks like a running one. These look at the process state instead.

# alive PID: the process exists and is not a zombie.
alive() {
  local st
  st=$(awk '{ s = $0; sub(/^.*\) /, "", s); print substr(s, 1, 1) }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# running NAME: some live (non-zombie) process has command name NAME.
running() {
  local p
  for p in $(pgrep -x "$1" 2>/dev/null); do alive "$p" && return 0; done
  return 1
}

#!/bin/bash
# umount.sh MOUNTPOINT: unmount an nfssim mount made by mount.sh and stop its daemon
# (by the recorded pid: TERM, wait 5 s, KILL), also when it hangs or has died.
# Lazy unmount (fusermount3 -u -z) if the normal one fails. Exit 1 if a mount remains.
# With NFSSIM_VALGRIND=1 the valgrind exit status (99: errors) is checked and reported.
set -u
. "$(dirname "$0")/proc.sh"
mnt=${1:?usage: umount.sh MOUNTPOINT}
run=${NFSSIM_RUN_DIR:-/tmp/nfssim-run}
[ -d "$mnt" ] && mnt=$(cd "$mnt" 2>/dev/null && pwd || echo "$mnt")
id=$(printf '%s' "$mnt" | sha1sum | cut -c1-16)
mounted() { awk -v m="$mnt" '$2 == m && $3 ~ /^fuse/ { f = 1 } END { exit !f }' /proc/mounts; }
rc=0
pid=
[ -s "$run/$id.pid" ] && pid=$(cat "$run/$id.pid")
# Never signal a recycled pid: it must still be nfssim (or valgrind running it).
if [ -n "$pid" ] && ! grep -qE '^(nfssim|memcheck|valgrind)' "/proc/$pid/comm" 2>/dev/null; then
  kill -0 "$pid" 2>/dev/null && pid=
fi
# SIGTERM: libfuse leaves its loop, runs destroy (final stats) and unmounts itself.
if [ -n "$pid" ] && alive "$pid"; then
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.05; done
fi
if mounted; then
  timeout 10 fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null
fi
if [ -n "$pid" ]; then
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
  for _ in $(seq 1 40); do alive "$pid" || break; sleep 0.05; done
  if [ -s "$run/$id.vg" ]; then
    echo "umount.sh: valgrind report for $mnt:" >&2; cat "$run/$id.vg" >&2; rc=1
  fi
  rm -f "$run/$id.pid" "$run/$id.mnt" "$run/$id.vg"
fi
if mounted; then fusermount3 -u -z "$mnt" 2>/dev/null; fi
if mounted; then echo "umount.sh: $mnt is still mounted" >&2; exit 1; fi
exit $rc

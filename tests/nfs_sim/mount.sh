#!/bin/bash
# mount.sh BACKING MOUNTPOINT [OPTS]: mount nfssim (foreground daemon in the background),
# wait until the mount is there, print NFSSIM_PID=... on stdout. OPTS is one -o string,
# e.g. "actimeo=30,wsize=4096,wdelay_ms=20". BACKING: a directory or an nfs:// URL.
# Env: NFSSIM_BIN (default build/nfssim), NFSSIM_RUN_DIR (pid and log files, default
# /tmp/nfssim-run), NFSSIM_VALGRIND=1 (run under valgrind; its report goes to the log),
# NFSSIM_TIMEOUT (seconds to wait for the mount, default 10).
# The daemon's log is $NFSSIM_RUN_DIR/<id>.log; umount.sh MOUNTPOINT undoes all of it.
set -u
. "$(dirname "$0")/proc.sh"
backing=${1:?usage: mount.sh BACKING MOUNTPOINT [OPTS]}
mnt=${2:?usage: mount.sh BACKING MOUNTPOINT [OPTS]}
opts=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
bin=${NFSSIM_BIN:-$here/../../build/nfssim}
run=${NFSSIM_RUN_DIR:-/tmp/nfssim-run}
timeout=${NFSSIM_TIMEOUT:-10}
[ -x "$bin" ] || { echo "mount.sh: $bin not built (make \$(BUILD)/nfssim)" >&2; exit 1; }
[ -e /dev/fuse ] || { echo "mount.sh: /dev/fuse missing" >&2; exit 1; }
mkdir -p "$mnt" "$run" || exit 1
mnt=$(cd "$mnt" && pwd)
id=$(printf '%s' "$mnt" | sha1sum | cut -c1-16)
log=$run/$id.log
if grep -q " $mnt fuse" /proc/mounts; then echo "mount.sh: $mnt is already mounted" >&2; exit 1; fi
wrap=()
if [ "${NFSSIM_VALGRIND:-0}" = 1 ]; then
  wrap=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
        --errors-for-leak-kinds=definite,indirect --log-file="$run/$id.vg")
fi
args=("$backing" "$mnt" -f)
[ -n "$opts" ] && args+=(-o "$opts")
"${wrap[@]}" "$bin" "${args[@]}" </dev/null >"$log" 2>&1 &
pid=$!
echo "$pid" > "$run/$id.pid"
echo "$mnt" > "$run/$id.mnt"
deadline=$(( $(date +%s) + timeout ))
while ! awk -v m="$mnt" '$2 == m && $3 ~ /^fuse/ { f = 1 } END { exit !f }' /proc/mounts; do
  if ! alive "$pid" || [ "$(date +%s)" -ge "$deadline" ]; then
    echo "mount.sh: nfssim did not mount $mnt:" >&2
    cat "$log" >&2
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    rm -f "$run/$id.pid" "$run/$id.mnt"
    exit 1
  fi
  sleep 0.05
done
echo "NFSSIM_PID=$pid"

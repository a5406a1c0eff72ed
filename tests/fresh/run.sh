#!/bin/bash
# run.sh - make check-fresh: the README's two commands on a fresh machine, for real.
#
# 1. A minimal Debian 12 root (tests/fresh/mkroot.sh: mmdebstrap --variant=minbase with
#    git, make, sudo, ca-certificates), built once and cached as $BUILD/fresh/root.
# 2. A copy of it for this run ($BUILD/fresh/run, replaced each time) with a clean clone
#    of this repository's HEAD in /root/vgpu-mediator (uncommitted changes are not in it)
#    and the host's /etc/resolv.conf (apt in the root reaches the archive by name).
# 3. Entered with unshare --mount + pivot_root, /proc mounted, /dev (with /dev/fuse) and
#    /sys bound in, a tmpfs on /run; the network is the host's. As root (the tests need
#    root and /dev/fuse, README), with an empty environment, it runs FRESH_COMMANDS
#    (default: the README's `make demo` and `make check`, each running `make deps`
#    first), each with its exit status and wall time, all output in $BUILD/fresh/log.
# Exit 0 when every command exited 0; 1 when one failed; 2 when the root could not be set up.
# Needs root, unshare and pivot_root (util-linux), mmdebstrap (make deps-fresh), network.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
FRESH=$BUILD/fresh
ROOT=$FRESH/root
RUN=$FRESH/run
LOG=$FRESH/log
CMDS=${FRESH_COMMANDS:-make demo;make check}
say() { echo "fresh: $*"; }
die() { echo "fresh: ERROR: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "needs root (mount namespace, pivot_root; the tests inside need root)"
for t in unshare pivot_root git; do command -v $t >/dev/null || die "$t not found"; done
[ -e /dev/fuse ] || die "/dev/fuse missing: the tests inside need it"
t0=$(date +%s)

"$top/tests/fresh/mkroot.sh" "$ROOT" || die "could not build the root"
rm -rf "$RUN" || die "cannot remove the previous run's $RUN"
say "copying the cached root to $RUN"
cp -a "$ROOT" "$RUN" || die "cp -a $ROOT $RUN failed"
cp -L /etc/resolv.conf "$RUN/etc/resolv.conf" 2>/dev/null || true
head=$(git -C "$top" rev-parse HEAD) || die "not a git checkout: $top"
[ -z "$(git -C "$top" status --porcelain --untracked-files=no)" ] ||
	say "note: uncommitted changes in $top are not tested (a clean clone of HEAD is)"
git clone -q --no-hardlinks "$top" "$RUN/root/vgpu-mediator" && git -C "$RUN/root/vgpu-mediator" checkout -q --detach "$head" ||
	die "git clone of $top failed"
say "clone of $(git -C "$top" log -1 --format='%h %s' "$head" | cut -c1-100)"

# The script the root runs: each command, its status and its wall time.
cat > "$RUN/root/fresh-run.sh" <<'INNER'
cd /root/vgpu-mediator || exit 2
rc_all=0
IFS=';' read -ra cmds <<< "$FRESH_COMMANDS"
for c in "${cmds[@]}"; do
	echo "== fresh: running '$c'"
	s=$(date +%s)
	bash -c "$c"; rc=$?
	e=$(( $(date +%s) - s ))
	echo "== fresh: '$c': exit $rc, $((e / 60)) min $((e % 60)) s" | tee -a /root/fresh-results
	[ $rc = 0 ] || rc_all=1
done
exit $rc_all
INNER

say "entering the root (unshare --mount, pivot_root) and running: $CMDS; output in $LOG"
unshare --mount --propagation private -- bash -c '
	set -e
	R=$1
	mount --bind "$R" "$R"
	mount -t proc proc "$R/proc"
	mount --rbind /sys "$R/sys"; mount --make-rslave "$R/sys"
	mount --rbind /dev "$R/dev"; mount --make-rslave "$R/dev"
	mount -t tmpfs -o mode=0755 tmpfs "$R/run"
	cd "$R"; mkdir -p .oldroot; pivot_root . .oldroot
	exec /usr/sbin/chroot . /bin/bash -c "umount -l /.oldroot && rmdir /.oldroot &&
		exec env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 TERM=dumb FRESH_COMMANDS=\"\$0\" bash /root/fresh-run.sh" "$2"
' _ "$RUN" "$CMDS" > "$LOG" 2>&1 &
pid=$!
tail -n +1 --pid=$pid -f "$LOG" | grep --line-buffered -E '^(== \[|== fresh|deps|check: |fresh)|FAIL|PASS' 
wait $pid; rc=$?
wall=$(( $(date +%s) - t0 ))
echo
say "results (commit ${head:0:7}, Debian $(cat "$RUN/etc/debian_version" 2>/dev/null)):"
sed 's/^/  /' "$RUN/root/fresh-results" 2>/dev/null || say "no command ran (see $LOG)"
say "$([ $rc = 0 ] && echo PASSED || echo FAILED) in $((wall / 60)) min $((wall % 60)) s in all (root copy, clone, commands); log: $LOG"
[ $rc = 0 ] || exit 1

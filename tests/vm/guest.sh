#!/bin/sh
# guest.sh - runs inside the QEMU guest (tests/vm/run-guest.sh), chrooted into the host's
# root (read-only 9p under a tmpfs overlay), as root. Starts knfsd, exports a tmpfs
# directory to 127.0.0.1, mounts it back with the kernel NFS client, once with NFSv3 and
# once with NFSv4.2, and for each mount runs the end-to-end test with the knfs backend
# (the mediator on the export's local path, the clients through the mount) and the
# nfs_sim knfs test; then the fidelity probes (tests/vm/fidelity.sh) and the ERR06/ERR07/
# ERR01/ERR02 records (tests/vm/knfs_records.sh). Results go to $VGPU_OUT (a writable 9p share at
# the same path on the host): guest.log (everything), check/*.log (Check logs),
# scenarios/*.json (harness records), summary.txt; guest.rc is the exit marker.
# Progress lines ("guest: ...") go to the console, which run-guest.sh prints.
set -u
: "${VGPU_OUT:?}" "${VGPU_BUILD:?}"
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
B=$VGPU_BUILD
# VGPU_VM_* from the host (run-guest.sh): VGPU_VM_ONLY=fidelity|records skips the rest;
# VGPU_VM_FIDELITY (default "v3 v4.2") the mounts that run the fidelity probes
[ -f "$VGPU_OUT/guest.env" ] && . "$VGPU_OUT/guest.env"
ONLY=${VGPU_VM_ONLY:-}
LOG=$VGPU_OUT/guest.log
SUM=$VGPU_OUT/summary.txt
mkdir -p "$VGPU_OUT/check" "$VGPU_OUT/scenarios"
: > "$SUM"
exec 3>&1 >>"$LOG" 2>&1
say() { echo "guest: $*" >&3; echo "guest: $*"; }
up() { cut -d' ' -f1 /proc/uptime; }
pass=0 fail=0
result() {  # result NAME RC [DETAIL]
	if [ "$2" = 0 ]; then pass=$((pass + 1)); v=PASS; else fail=$((fail + 1)); v="FAIL (exit $2)"; fi
	echo "$1: $v${3:+ - $3}" >> "$SUM"; say "$1: $v${3:+ - $3} [$(up) s]"
}
finish() { say "$pass passed, $fail failed"; echo "$pass passed, $fail failed" >> "$SUM"
	[ "$fail" = 0 ] && echo 0 > "$VGPU_OUT/guest.rc" || echo 1 > "$VGPU_OUT/guest.rc"; exit 0; }
# Everything below has a bound: a hung step is killed and fails.
T() { t=$1; shift; timeout -k 5 "$t" "$@"; }

# ---- knfsd ---------------------------------------------------------------------------
EXPORT=/srv/vgpu-export
say "starting knfsd [$(up) s]"
mkdir -p "$EXPORT" /proc/fs/nfsd /run/rpcbind /var/lib/nfs
mount -t tmpfs -o mode=0755 tmpfs "$EXPORT"
mount -t nfsd nfsd /proc/fs/nfsd
# no client has state to reclaim: a short grace period (the minimum, 10 s) instead of 90 s
echo 10 > /proc/fs/nfsd/nfsv4gracetime; echo 10 > /proc/fs/nfsd/nfsv4leasetime
# The export is also the NFSv4 root (fsid=0): the chroot's / is an overlay, which knfsd
# cannot export, so the v4 pseudo-filesystem cannot start above it.
cat > /etc/exports <<EOT
$EXPORT 127.0.0.1(rw,sync,root_squash,no_subtree_check,fsid=0)
EOT
# the VMs' side, as docs/XEN.md lays it out: a directory owned by the squashed uid
mkdir -p "$EXPORT/pub"; chown 65534:65534 "$EXPORT/pub"; chmod 0755 "$EXPORT/pub"
T 20 rpcbind -w && T 20 rpc.mountd && T 30 rpc.nfsd 8 && T 20 exportfs -ra
rc=$?; exportfs -v
# and none to wait for at all: end the grace period now (nfsd's v4_end_grace)
[ -w /proc/fs/nfsd/v4_end_grace ] && echo Y > /proc/fs/nfsd/v4_end_grace
result "knfsd: rpcbind, rpc.mountd, rpc.nfsd 8, exportfs -ra" $rc "$(exportfs -v | tr -s ' \t' ' ' | head -1)"
[ $rc = 0 ] || finish

# ---- one kernel NFS mount: e2e + nfs_sim t_knfs -----------------------------------------
# The recommended client options (docs/XEN.md); v3 needs nolock (no rpc.statd here).
OPTS="hard,lookupcache=positive,acdirmin=1,acdirmax=1"
run_mount() {  # run_mount NAME VERSION-OPTS SERVER-PATH
	name=$1 mnt=/mnt/vgpu-$1
	mkdir -p "$mnt"
	say "mounting 127.0.0.1:$3 at $mnt ($2,$OPTS) [$(up) s]"
	T 60 mount -t nfs -o "$2,$OPTS" "127.0.0.1:$3" "$mnt"; rc=$?
	result "$name: mount -t nfs -o $2" $rc "$(grep " $mnt " /proc/mounts | cut -d' ' -f4 | cut -c1-80)"
	[ $rc = 0 ] || return 1
	# root on the client is squashed: the export's root (0755, uid 0) refuses it;
	# the server-side tree is the mediator's, made as root on the server
	out=$(touch "$mnt/rootfile" 2>&1); rc=$?
	[ $rc != 0 ] && case $out in *"Permission denied"*) rc=0 ;; *) rc=1 ;; esac || rc=1
	result "$name: root_squash refuses root in the export's 0755 root" $rc "$out"
	export VGPU_KNFS_EXPORT=$EXPORT/pub VGPU_KNFS_MOUNT=$mnt/pub
	[ -z "$ONLY" ] || [ "$ONLY" = e2e ] && {
	say "$name: e2e test, backend knfs [$(up) s]"
	CK_LOG_FILE_NAME=$VGPU_OUT/check/test_e2e-knfs-$name.log CK_TIMEOUT_MULTIPLIER=${VGPU_VM_CK_MULT:-8} \
		E2E_BACKEND=knfs VGPU_BUILD=$B T 900 "$B/tests/e2e/test_e2e"; rc=$?
	result "$name: test_e2e (backend knfs)" $rc "$(tail -n 1 "$VGPU_OUT/check/test_e2e-knfs-$name.log" 2>/dev/null)"
	d=$(mktemp -d /tmp/knfs-t.XXXXXX)
	NFSSIM_BIN=$B/nfssim NFSSIM_PROBE=$B/nfssim-probe T 120 "$top/tests/nfs_sim/run-tests.sh" --one "$d" t_knfs; rc=$?
	result "$name: nfs_sim t_knfs (64 KiB in 4 KiB writes through the client)" $rc
	}
	if [ -x "$here/fidelity.sh" ] && { [ -z "$ONLY" ] || [ "$ONLY" = fidelity ]; } &&
		case " ${VGPU_VM_FIDELITY:-v3 v4.2} " in *" $name "*) true ;; *) false ;; esac; then
		say "$name: fidelity probes [$(up) s]"
		T 300 "$here/fidelity.sh" "$name" "$2" "$3" "$EXPORT" >> "$VGPU_OUT/fidelity-$name.txt" 2>&1; rc=$?
		result "$name: fidelity probes (fidelity-$name.txt)" $rc
	fi
	unset VGPU_KNFS_EXPORT VGPU_KNFS_MOUNT
	T 60 umount "$mnt"; rc=$?
	result "$name: umount" $rc
}
# VGPU_VM_VERSIONS (default "v3 v4.2") picks the mounts
for v in ${VGPU_VM_VERSIONS:-v3 v4.2}; do
	case $v in
	v3) run_mount v3 vers=3,nolock "$EXPORT" ;;
	v4.2) run_mount v4.2 vers=4.2 / ;;   # the export is the v4 root (fsid=0)
	*) result "unknown version $v in VGPU_VM_VERSIONS" 1 ;;
	esac
done

if [ -x "$here/knfs_records.sh" ] && { [ -z "$ONLY" ] || [ "$ONLY" = records ]; }; then
	say "ERR06/ERR07/ERR01/ERR02 records on knfsd [$(up) s]"
	T 300 "$here/knfs_records.sh" "$VGPU_OUT/scenarios"; rc=$?
	result "harness records ERR06/ERR07/ERR01/ERR02 (backend knfs)" $rc
fi
T 30 exportfs -ua; T 30 rpc.nfsd 0
finish

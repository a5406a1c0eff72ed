#!/bin/bash
# run.sh - make check-systemd: vgpu-mediator under a real systemd, from the installed unit.
#
# 1. `make install DESTDIR=$BUILD/systemd/stage PREFIX=/usr/local` (the release build,
#    without the CUDA backend: NVCC=).
# 2. Debian's kernel (fetched once, as for make check-knfs: tests/vm/vmlib.sh) and a
#    busybox initramfs whose /init (tests/systemd/init) mounts the host's / read-only over
#    9p under a tmpfs overlay, copies the installed files and the check's units into it
#    and hands over to the host's own systemd as PID 1 (switch_root).
# 3. QEMU (TCG, no network): systemd boots vgpu-check.target, whose vgpu-check.service runs
#    tests/systemd/guest.sh: systemctl start vgpu-mediator (READY=1, StatusText, the
#    sandbox), requests, `vgpu-mediator status`, a changed configuration applied with
#    systemctl reload (SIGHUP), systemctl stop (STOPPING=1, exit 0); then powers off.
# 4. Waits at most $VGPU_SYSTEMD_TIMEOUT seconds (default 420), printing the guest's lines;
#    prints each check, and PASS or FAIL as the last line.
# Exit: 0 PASS; 1 a check failed; 2 setup failed; 3 the guest hung or died.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top" || exit 2
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
VMDIR=$BUILD/vm                 # the kernel package, shared with make check-knfs
SD=$BUILD/systemd
STAGE=$SD/stage GUEST=$SD/guest OUT=$SD/out
TIMEOUT=${VGPU_SYSTEMD_TIMEOUT:-420}
ACCEL=${VGPU_SYSTEMD_ACCEL:-tcg}
MODS="virtio_pci 9pnet_virtio 9p overlay"
say() { echo "check-systemd: $*"; }
die() { echo "check-systemd: FAIL (setup): $*" >&2; exit 2; }
t0=$(date +%s)

for tool in qemu-system-x86_64 busybox dpkg apt-get depmod modprobe; do
	command -v $tool >/dev/null || die "$tool not found (make deps-systemd installs it)"
done
[ -x /lib/systemd/systemd ] || die "/lib/systemd/systemd not found: the guest boots this host's systemd (package systemd)"
busybox --list | grep -qx switch_root || die "busybox has no switch_root applet"
mkdir -p "$SD"

# ---- 1. install ------------------------------------------------------------------------
rm -rf "$STAGE"
if ! make --no-print-directory install DESTDIR="$STAGE" PREFIX=/usr/local NVCC= \
	RELEASE_BUILD="${BUILD#"$top"/}/systemd-release" > "$SD/install.log" 2>&1; then
	tail -20 "$SD/install.log"; die "make install DESTDIR=$STAGE failed ($SD/install.log)"
fi
"$STAGE/usr/local/bin/vgpu-mediator" --version | grep -q 'notification: systemd' ||
	die "the installed vgpu-mediator has no sd_notify ($("$STAGE/usr/local/bin/vgpu-mediator" --version)): install libsystemd-dev"
say "installed into $STAGE: $(cd "$STAGE" && find . -type f | wc -l) files"

# ---- 2. kernel, initramfs, the check's units ---------------------------------------------
. "$top/tests/vm/vmlib.sh"
pkg=$(vm_kernel_pkg "$SD/kernel") || exit 2
KDIR=$SD/kernel-${pkg#linux-image-}
vm_kernel "$KDIR" "$pkg" "$MODS"
rm -rf "$SD/initramfs"
vm_initramfs "$SD/initramfs" "$SD/initrd.gz" "$here/init" "$KDIR/mods"
rm -rf "$GUEST" "$OUT"; mkdir -p "$GUEST/etc/systemd/system" "$OUT"
# the guest's init mounts a fresh /tmp: the tree and $BUILD stay (tests/vm/keep.sh)
keep=$(vm_keep "$top" "$BUILD") || exit 2
cp "$here/vgpu-check.target" "$GUEST/etc/systemd/system/"
sed -e "s|@GUEST_SH@|$here/guest.sh|" -e "s|@OUT@|$OUT|" "$here/vgpu-check.service.in" \
	> "$GUEST/etc/systemd/system/vgpu-check.service"
# the host's enabled sockets (rpcbind) have nothing to do in the guest
ln -s /dev/null "$GUEST/etc/systemd/system/rpcbind.socket"

# ---- 3. boot -----------------------------------------------------------------------------
CONSOLE=$SD/console.log
: > "$CONSOLE"
say "booting kernel $(cat "$KDIR/kver") under QEMU ($ACCEL) with systemd as init (timeout $TIMEOUT s); console: $CONSOLE"
qemu-system-x86_64 -accel "$ACCEL" -smp 2 -m 1024 -nic none -display none -monitor none \
	-no-reboot -serial "file:$CONSOLE" \
	-kernel "$KDIR/vmlinuz" -initrd "$SD/initrd.gz" \
	-append "console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init systemd.unit=vgpu-check.target systemd.show_status=0 vgpu_out=$OUT vgpu_stage=$STAGE vgpu_guest=$GUEST vgpu_keep=$keep" \
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
	-virtfs "local,path=$OUT,mount_tag=vgpuout,security_model=none,multidevs=remap" \
	> "$SD/qemu.log" 2>&1 &
qpid=$!
trap '[ -n "${qpid:-}" ] && kill "$qpid" 2>/dev/null; exit 130' INT TERM HUP

# ---- 4. wait, report ---------------------------------------------------------------------
if ! vm_wait "$qpid" "$CONSOLE" "$TIMEOUT" "$t0" '(^|\]: )vgpu-systemd:|Kernel panic|Failed to start|Freezing'; then
	kill "$qpid" 2>/dev/null; sleep 1; kill -9 "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null
	echo "check-systemd: FAIL: the guest did not finish within $TIMEOUT s; last console lines:"
	tail -n 30 "$CONSOLE" | tr -d '\r' | sed 's/^/  | /'
	exit 3
fi
wait "$qpid"; qrc=$?
wall=$(( $(date +%s) - t0 ))
if [ ! -f "$OUT/guest.rc" ]; then
	echo "check-systemd: FAIL: the guest stopped without a result (qemu exit $qrc); last console lines:"
	tail -n 30 "$CONSOLE" | tr -d '\r' | sed 's/^/  | /'
	[ -s "$SD/qemu.log" ] && sed 's/^/  qemu| /' "$SD/qemu.log"
	exit 3
fi
sed 's/^/  /' "$OUT/result.txt"
n=$(cat "$OUT/guest.rc")
npass=$(grep -c '^ok   - ' "$OUT/result.txt")
if [ "$n" = 0 ] && [ "$npass" -gt 0 ]; then
	echo "check-systemd: PASS: $npass checks under systemd as PID 1, ${wall} s (journal: $OUT/journal.txt)"
	exit 0
fi
echo "check-systemd: FAIL: $n of $((n + npass)) checks failed, ${wall} s (journal: $OUT/journal.txt)"
exit 1

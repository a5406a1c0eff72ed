#!/bin/bash
# run-guest.sh - boot a Linux guest under QEMU (TCG) that runs knfsd and the kernel NFS
# client, and run SCRIPT inside it (make check-knfs; docs/NFSSIM.md, "Kernel NFS in a
# guest").
#
#   tests/vm/run-guest.sh [SCRIPT]      (default: tests/vm/guest.sh)
#
# 1. The kernel: Debian's linux-image-<abi>-amd64 (the package that linux-image-amd64
#    depends on, or $VGPU_VM_KERNEL_PKG), fetched once with `apt-get download` from the
#    system's configured archive, unpacked with dpkg -x (never installed); vmlinuz and
#    the modules the guest needs (resolved with depmod -b / modprobe --show-depends) are
#    kept in $BUILD/vm/kernel-<abi>/, the rest is deleted.
# 2. An initramfs: static busybox + tests/vm/init + those modules.
# 3. QEMU, TCG (KVM guests hung at boot on these machines), no network device, the
#    host's / shared read-only over 9p (the guest sees every host tool: knfsd's user
#    space, the project's binaries) under a tmpfs overlay, and $BUILD/vm/out shared
#    writable at the same path (results come back there). Serial console in
#    $BUILD/vm/console.log.
# 4. Waits at most $VGPU_VM_TIMEOUT seconds (default 900), printing the guest's progress
#    lines; then checks the exit marker $BUILD/vm/out/guest.rc that SCRIPT writes.
# Exit: SCRIPT's status; 2 setup failed; 3 the guest hung (timeout) or died without a
# marker.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
SCRIPT=${1:-$here/guest.sh}
case $SCRIPT in /*) ;; *) SCRIPT=$(pwd)/$SCRIPT ;; esac
VMDIR=$BUILD/vm
OUT=$VMDIR/out
TIMEOUT=${VGPU_VM_TIMEOUT:-900}
MEM=${VGPU_VM_MEM:-1536}
SMP=${VGPU_VM_SMP:-2}
# Modules the guest loads (with their dependencies), and their parameters.
MODS="virtio_pci 9pnet_virtio 9p overlay sunrpc lockd nfsd nfs nfsv3 nfsv4"
declare -A MODARGS=([nfsd]="nfs4_disable_idmapping=1" [nfs]="nfs4_disable_idmapping=1")

say() { echo "vm: $*"; }
die() { echo "vm: ERROR: $*" >&2; exit 2; }
t0=$(date +%s)

. "$here/vmlib.sh"
vm_check_host qemu-system-x86_64 busybox dpkg apt-get depmod modprobe
mkdir -p "$VMDIR"

# ---- 1. kernel, 2. initramfs (tests/vm/vmlib.sh) ---------------------------------------
pkg=$(vm_kernel_pkg "$VMDIR/kernel") || exit 2
KDIR=$VMDIR/kernel-${pkg#linux-image-}
vm_kernel "$KDIR" "$pkg" "$MODS" MODARGS
kver=$(cat "$KDIR/kver")
rm -rf "$VMDIR/initramfs"
vm_initramfs "$VMDIR/initramfs" "$VMDIR/initrd.gz" "$here/init" "$KDIR/mods"

# ---- 3. boot -----------------------------------------------------------------------
rm -rf "$OUT"; mkdir -p "$OUT"
# the guest's init mounts a fresh /tmp: the tree, $BUILD and SCRIPT's directory stay (tests/vm/keep.sh)
keep=$(vm_keep "$top" "$BUILD" "$(dirname "$SCRIPT")") || exit 2
# the guest starts with an empty environment: VGPU_VM_* settings travel in a file
env | grep -E '^VGPU_VM_[A-Z0-9_]+=' | sed "s/'/'\\\\''/g; s/=/='/; s/\$/'/" > "$OUT/guest.env"
CONSOLE=$VMDIR/console.log
: > "$CONSOLE"
say "booting kernel $kver under QEMU TCG (${SMP} vCPU, ${MEM} MiB, timeout ${TIMEOUT} s); console: $CONSOLE"
qemu-system-x86_64 -accel tcg -smp "$SMP" -m "$MEM" -nic none -display none -monitor none \
	-no-reboot -serial "file:$CONSOLE" \
	-kernel "$KDIR/vmlinuz" -initrd "$VMDIR/initrd.gz" \
	-append "console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init vgpu_out=$OUT vgpu_build=$BUILD vgpu_script=$SCRIPT vgpu_keep=$keep" \
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
	-virtfs "local,path=$OUT,mount_tag=vgpuout,security_model=none,multidevs=remap" \
	> "$VMDIR/qemu.log" 2>&1 &
vm_started $!

# ---- 4. wait -----------------------------------------------------------------------
vm_await "$CONSOLE" "$VMDIR/qemu.log" 30 '^(vgpu-vm|guest):|Kernel panic|BUG:|Oops' \
	"the guest did not finish within $TIMEOUT s (VGPU_VM_TIMEOUT)" "the guest"
rc=$vm_rc
# Check logs and harness records join the host's (check-summary, tools/report.py).
if [ -z "${VGPU_VM_NO_COLLECT:-}" ]; then
	mkdir -p "$BUILD/reports/check" "$BUILD/reports/scenarios"
	for f in "$OUT"/check/*.log; do [ -f "$f" ] && cp "$f" "$BUILD/reports/check/"; done
	for f in "$OUT"/scenarios/*.json; do [ -f "$f" ] && cp "$f" "$BUILD/reports/scenarios/"; done
fi
[ -f "$OUT/summary.txt" ] && sed 's/^/  /' "$OUT/summary.txt"
say "guest finished: script exit $rc, ${wall} s wall in all"
exit "$rc"

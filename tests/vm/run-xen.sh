#!/bin/bash
# run-xen.sh - the user's topology under QEMU (make check-xen; docs/XEN.md, "Recipe"):
# Xen's hypervisor boots a PV Dom0 (Debian's kernel) that runs knfsd and vgpu-mediator,
# and PV DomUs that mount their own vmN exports over Xen's network (netfront/netback and
# a bridge in Dom0) and run vgpu-client. tests/vm/xen-dom0.sh is the test (in Dom0).
#
#   tests/vm/run-xen.sh [DOM0-SCRIPT]      (default: tests/vm/xen-dom0.sh)
#
# 1. Packages from the system's configured archive (apt-get download, never installed;
#    cached in $BUILD/vm/debs): the kernel (tests/vm/vmlib.sh), Xen's hypervisor and
#    xen-utils with the Xen libraries they need (apt-cache depends --recurse, the
#    xen/yajl ones), unpacked with dpkg -x into $BUILD/vm/xen-cache/xen-<version>/.
# 2. Two module sets of that kernel: Dom0's (9p, overlay, knfsd, xenfs, evtchn, gntdev,
#    privcmd, netback, bridge) and the DomUs' (netfront, the NFS client).
# 3. Dom0's initramfs: busybox + tests/vm/init (the host's / over 9p, read-only, under a
#    tmpfs overlay, with the unpacked Xen tools layered above it: share "xenlayer").
#    The DomUs' initramfs: busybox + tests/vm/xen-domu-init + their modules + the
#    project's vgpu-client and the libraries it links (DomUs have no 9p).
# 4. QEMU TCG: the gunzipped hypervisor as -kernel (multiboot), Dom0's kernel and
#    initramfs as modules (-initrd "vmlinuz ARGS,initrd"), single-threaded TCG and
#    -cpu max without XSAVE and AVX ($VGPU_XEN_ACCEL, $VGPU_XEN_CPU: otherwise user
#    processes in the guests crashed, computed wrong hashes or spun forever; docs/XEN.md),
#    Xen's smap=0 smep=0 pcid=0 xpti=false; no network device (-nic none): guest
#    addresses never leave QEMU.
# 5. Waits at most $VGPU_XEN_TIMEOUT s (default 600), printing progress lines; a hung
#    Xen fails with the console's last lines. DOM0-SCRIPT writes $BUILD/vm/xen-out/
#    guest.rc; its records (scenarios/*.json) join $BUILD/reports/scenarios/.
# Exit: the script's status; 2 setup failed; 3 hung, or stopped without a marker.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$top/$BUILD ;; esac
SCRIPT=${1:-$here/xen-dom0.sh}
case $SCRIPT in /*) ;; *) SCRIPT=$(pwd)/$SCRIPT ;; esac
VMDIR=$BUILD/vm
XC=$VMDIR/xen-cache
OUT=$VMDIR/xen-out
TIMEOUT=${VGPU_XEN_TIMEOUT:-600}
MEM=${VGPU_XEN_MEM:-2048}
XENVER=${VGPU_XEN_VERSION:-4.17}
DOM0_MODS="virtio_pci 9pnet_virtio 9p overlay sunrpc lockd nfsd xenfs xen-evtchn xen-gntdev
xen-gntalloc xen-privcmd xen-netback bridge"
DOMU_MODS="xen-netfront sunrpc lockd nfs nfsv3"
# shellcheck disable=SC2034  # used by name (vm_kernel)
declare -A DOM0_ARGS=([nfsd]="nfs4_disable_idmapping=1")
# shellcheck disable=SC2034
declare -A DOMU_ARGS=()

say() { echo "xen: $*"; }
die() { echo "xen: ERROR: $*" >&2; exit 2; }
t0=$(date +%s)

. "$here/vmlib.sh"
vm_check_host qemu-system-x86_64 busybox dpkg apt-get apt-cache depmod modprobe ldd
[ -x "$BUILD/vgpu-client" ] && [ -x "$BUILD/vgpu-mediator" ] || die "build vgpu-client and vgpu-mediator first (make all)"
mkdir -p "$XC"

# ---- 1. packages -----------------------------------------------------------------------
XROOT=$XC/xen-$XENVER
if [ ! -f "$XROOT/ok" ]; then
	# xen-utils, and of everything it needs the Xen libraries (and yajl): the rest of
	# the Dom0 user space is the host's own, over 9p
	xpkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
		--no-replaces --no-enhances "xen-utils-$XENVER" xen-utils-common 2>/dev/null |
		grep -E '^(lib)?(xen|yajl)' | sort -u | tr '\n' ' ')
	if [ -z "$xpkgs" ] && [ "$(id -u)" = 0 ]; then
		say "no package lists: apt-get update"; apt-get update -qq >/dev/null 2>&1
		xpkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
			--no-replaces --no-enhances "xen-utils-$XENVER" xen-utils-common 2>/dev/null |
			grep -E '^(lib)?(xen|yajl)' | sort -u | tr '\n' ' ')
	fi
	case " $xpkgs " in *" xen-utils-$XENVER "*) ;; *) die "apt-cache knows no xen-utils-$XENVER (run apt-get update?)" ;; esac
	# shellcheck disable=SC2086
	vm_fetch "xen-hypervisor-$XENVER-amd64" $xpkgs
	rm -rf "$XROOT"; mkdir -p "$XROOT"
	for p in "xen-hypervisor-$XENVER-amd64" $xpkgs; do
		dpkg -x "$(compgen -G "$VMDIR/debs/${p}_*.deb" | head -1)" "$XROOT" || die "dpkg -x $p failed"
	done
	gzip -dc "$XROOT/boot/xen-$XENVER-amd64.gz" > "$XC/xen-$XENVER.bin" || die "no xen-$XENVER-amd64.gz"
	rm -rf "$XROOT/usr/share/doc" "$XROOT/usr/share/man" "$XROOT/boot"
	# no directory named *.d under $BUILD: the Makefile includes every *.d it finds there
	find "$XROOT" -depth -type d -name '*.d' -exec rm -rf {} +
	echo "xen-hypervisor-$XENVER-amd64 $xpkgs" > "$XROOT/ok"
	say "Xen $XENVER unpacked in $XROOT ($(du -sh "$XROOT" | cut -f1))"
fi
XENBIN=$XC/xen-$XENVER.bin

# ---- 2. kernel and modules ---------------------------------------------------------------
pkg=$(vm_kernel_pkg "$XC/dom0") || exit 2
abi=${pkg#linux-image-}
vm_kernel "$XC/dom0-$abi" "$pkg" "$DOM0_MODS" DOM0_ARGS
vm_kernel "$XC/domu-$abi" "$pkg" "$DOMU_MODS" DOMU_ARGS
kver=$(cat "$XC/dom0-$abi/kver")

# ---- 3. initramfs: Dom0's, and the DomUs' (with vgpu-client and its libraries) ----------
rm -rf "$XC/dom0-initramfs" "$XC/domu-initramfs"
vm_initramfs "$XC/dom0-initramfs" "$XC/dom0-initrd.gz" "$here/init" "$XC/dom0-$abi/mods"
d=$XC/domu-initramfs
mkdir -p "$d/usr/bin"
cp "$BUILD/vgpu-client" "$d/usr/bin/vgpu-client"
for lib in $(ldd "$BUILD/vgpu-client" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'); do
	mkdir -p "$d$(dirname "$lib")"; cp -L "$lib" "$d$lib"
done
vm_initramfs "$d" "$XC/domu-initrd.gz" "$here/xen-domu-init" "$XC/domu-$abi/mods"

# ---- 4. boot ------------------------------------------------------------------------------
rm -rf "$OUT"; mkdir -p "$OUT"
# Dom0's init mounts a fresh /tmp: the tree, $BUILD and SCRIPT's directory stay (tests/vm/keep.sh)
keep=$(vm_keep "$top" "$BUILD" "$(dirname "$SCRIPT")") || exit 2
env | grep -E '^VGPU_(VM|XEN)_[A-Z0-9_]+=' | sed "s/'/'\\\\''/g; s/=/='/; s/\$/'/" > "$OUT/guest.env"
# what Dom0's script needs to start the DomUs (paths as seen in Dom0: the same as here)
cat >> "$OUT/guest.env" <<EOT
XEN_DOMU_KERNEL='$XC/domu-$abi/vmlinuz'
XEN_DOMU_INITRD='$XC/domu-initrd.gz'
XEN_VERSION='$XENVER'
EOT
CONSOLE=$VMDIR/xen-console.log
: > "$CONSOLE"
# Xen: its console on the serial port; Dom0: 2 vCPUs, a fixed memory (no ballooning)
XEN_ARGS="console=com1 com1=115200,8n1 smap=0 smep=0 pcid=0 xpti=false dom0_mem=${VGPU_XEN_DOM0_MEM:-768}M,max:${VGPU_XEN_DOM0_MEM:-768}M dom0_max_vcpus=2 loglvl=warning guest_loglvl=warning"
DOM0_CMDLINE="console=hvc0 quiet loglevel=4 panic=-1 rdinit=/init vgpu_out=$OUT vgpu_build=$BUILD vgpu_script=$SCRIPT vgpu_keep=$keep vgpu_layer=xenlayer vgpu_hostname=dom0"
case "$DOM0_CMDLINE" in *,*) die "a comma in the Dom0 command line (paths): QEMU's -initrd separates modules by commas" ;; esac
say "booting Xen $XENVER + Dom0 (kernel $kver) under QEMU TCG (2 vCPU, ${MEM} MiB, timeout ${TIMEOUT} s); console: $CONSOLE"
qemu-system-x86_64 -accel "${VGPU_XEN_ACCEL:-tcg,thread=single}" -cpu "${VGPU_XEN_CPU:-max,-avx,-avx2,-xsave}" -smp 2 -m "$MEM" -nic none -display none -monitor none \
	-no-reboot -serial "file:$CONSOLE" \
	-kernel "$XENBIN" -append "$XEN_ARGS" \
	-initrd "$XC/dom0-$abi/vmlinuz $DOM0_CMDLINE,$XC/dom0-initrd.gz" \
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
	-virtfs "local,path=$XROOT,mount_tag=xenlayer,security_model=none,readonly=on,multidevs=remap" \
	-virtfs "local,path=$OUT,mount_tag=vgpuout,security_model=none,multidevs=remap" \
	> "$VMDIR/xen-qemu.log" 2>&1 &
vm_started $!

# ---- 5. wait ------------------------------------------------------------------------------
vm_await "$CONSOLE" "$VMDIR/xen-qemu.log" 40 '^(vgpu-vm|dom0|domu[0-9]*):|Kernel panic|BUG:|Oops|\(XEN\) .*(Panic|FATAL|crash)' \
	"Xen and its guests did not finish within $TIMEOUT s (VGPU_XEN_TIMEOUT)" "Dom0"
rc=$vm_rc
if [ -z "${VGPU_VM_NO_COLLECT:-}" ]; then
	mkdir -p "$BUILD/reports/scenarios"
	for f in "$OUT"/scenarios/*.json; do [ -f "$f" ] && cp "$f" "$BUILD/reports/scenarios/"; done
fi
[ -f "$OUT/summary.txt" ] && sed 's/^/  /' "$OUT/summary.txt"
say "Xen finished: Dom0 script exit $rc, ${wall} s wall in all"
exit "$rc"

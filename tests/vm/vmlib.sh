# vmlib.sh - shared by tests/vm/run-guest.sh (make check-knfs) and tests/vm/run-xen.sh
# (make check-xen): packages fetched from the system's configured Debian archive with
# `apt-get download` (never installed), Debian's kernel with only the modules a guest
# needs, a busybox initramfs, and a bounded wait on QEMU that prints the guest's progress.
# Sourced (bash); the caller sets VMDIR and defines say() and die(); vm_check_host also
# reads SCRIPT, vm_await also qpid, OUT, TIMEOUT and t0.
#
# Packages are kept in $VMDIR/debs/ (the kernel package is shared by both targets).

# vm_check_host TOOL... - die unless each TOOL is on PATH, knfsd's user space (rpc.nfsd,
# exportfs) is installed, busybox has cpio, and $SCRIPT (the guest's script) exists.
vm_check_host() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || die "$tool not found (make deps installs qemu-system-x86, busybox-static, kmod)"
	done
	[ -x /usr/sbin/rpc.nfsd ] && [ -x /usr/sbin/exportfs ] ||
		die "rpc.nfsd/exportfs missing (make deps installs nfs-kernel-server, its services not started)"
	busybox --list | grep -qx cpio || die "busybox has no cpio applet"
	[ -f "$SCRIPT" ] || die "no script $SCRIPT"
}

# vm_fetch PKG... - make sure $VMDIR/debs/PKG_*.deb exists for each PKG (one apt-get
# download for all that are missing; on failure, apt-get update once as root, retry).
vm_fetch() {
	local want=() p
	mkdir -p "$VMDIR/debs"
	for p in "$@"; do
		compgen -G "$VMDIR/debs/${p}_*.deb" >/dev/null || want+=("$p")
	done
	[ ${#want[@]} = 0 ] && return 0
	say "fetching ${want[*]} (apt-get download, once; cached in $VMDIR/debs)"
	_vm_dl() { ( cd "$VMDIR/debs" && apt-get download -o APT::Sandbox::User=root "${want[@]}" ) \
		>"$VMDIR/debs/apt.log" 2>&1; }
	if ! _vm_dl; then   # stale package lists: update once, as root, and try again
		[ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>&1
		_vm_dl || { cat "$VMDIR/debs/apt.log"; die "apt-get download ${want[*]} failed"; }
	fi
}

# vm_kernel_pkg CACHE-PREFIX - the kernel package: $VGPU_VM_KERNEL_PKG, else the one a
# cache CACHE-PREFIX-<abi>/ok names (no package lookup, no network), else the one that
# linux-image-amd64 depends on.
vm_kernel_pkg() {
	local cached pkg=${VGPU_VM_KERNEL_PKG:-}
	if [ -z "$pkg" ]; then
		cached=$(ls -d "$1"-*/ 2>/dev/null | sort -V | tail -1)
		if [ -n "$cached" ] && [ -f "$cached/ok" ]; then
			pkg=$(cat "$cached/ok")
		else
			_vm_kpkg() { apt-cache depends linux-image-amd64 2>/dev/null |
				sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1; }
			pkg=$(_vm_kpkg)
			if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
				say "no package lists: apt-get update" >&2; apt-get update -qq >/dev/null 2>&1; pkg=$(_vm_kpkg)
			fi
		fi
	fi
	[ -n "$pkg" ] || die "apt-cache depends linux-image-amd64 names no kernel (run apt-get update?)"
	echo "$pkg"
}

# vm_kernel KDIR PKG "MODULES" [ARGS-ARRAY-NAME] - unpack PKG once into KDIR: vmlinuz,
# kver, mods/*.ko for MODULES and their dependencies (depmod -b, modprobe
# --show-depends), mods/order (load order, with each module's parameters from the
# associative array named by ARGS-ARRAY-NAME). KDIR/ok marks a complete cache.
vm_kernel() {
	local kdir=$1 pkg=$2 mods=$3 x kver p b n m
	[ -f "$kdir/ok" ] && [ "$(cat "$kdir/ok")" = "$pkg" ] && return 0
	if [ -n "${4:-}" ]; then local -n _margs=$4; else local -A _margs=(); fi
	vm_fetch "$pkg"
	x=$VMDIR/dl-kernel
	rm -rf "$kdir" "$x"; mkdir -p "$kdir/mods" "$x"
	dpkg -x "$(compgen -G "$VMDIR/debs/${pkg}_*.deb" | head -1)" "$x" || die "dpkg -x $pkg failed"
	kver=$(ls "$x/lib/modules" | head -1)
	cp "$x/boot/vmlinuz-$kver" "$kdir/vmlinuz" || die "no vmlinuz in $pkg"
	depmod -b "$x" "$kver" || die "depmod failed"
	for m in $mods; do
		modprobe -d "$x" -S "$kver" --show-depends "$m" || die "module $m not found in $pkg"
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' > "$x/paths"
	: > "$kdir/mods/order"
	while read -r p; do
		b=${p##*/}; n=${b%.ko*}
		cp "$p" "$kdir/mods/$b"
		echo "$b ${_margs[$n]:-}" >> "$kdir/mods/order"
	done < "$x/paths"
	echo "$kver" > "$kdir/kver"
	rm -rf "$x"
	echo "$pkg" > "$kdir/ok"
	say "kernel $kver: $(wc -l < "$kdir/mods/order") modules kept in $kdir"
}

# vm_initramfs DIR OUT.gz INIT MODDIR - static busybox as /bin/busybox and /bin/sh, INIT
# as /init, MODDIR/* in /lib/mods/, tests/vm/keep.sh as /lib/keep.sh; whatever the
# caller already put in DIR stays.
vm_initramfs() {
	local ird=$1
	mkdir -p "$ird/bin" "$ird/lib/mods"
	cp "$(command -v busybox)" "$ird/bin/busybox"
	ln -sf busybox "$ird/bin/sh"
	cp "$3" "$ird/init"; chmod 0755 "$ird/init"
	cp "${BASH_SOURCE[0]%/*}/keep.sh" "$ird/lib/keep.sh" || die "no keep.sh beside vmlib.sh"
	cp "$4"/* "$ird/lib/mods/"
	( cd "$ird" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 ) > "$2" ||
		die "initramfs build failed"
}

# vm_keep PATH... - vgpu_keep= for the guest's kernel command line (tests/vm/keep.sh): the
# host paths (absolute: the tree, $BUILD, ...) that the guest must see at the same place
# although its init mounts a fresh /tmp. Sorted, colon-separated; dies on a path with a
# blank or a colon (the command line cannot carry it).
vm_keep() {
	local p
	for p in "$@"; do
		case $p in /*) ;; *) die "vm_keep: $p is not an absolute path" ;; esac
		case $p in *[[:space:]:]*) die "the guest cannot be given the path '$p' (a blank or a colon in it)" ;; esac
	done
	printf '%s\n' "$@" | LC_ALL=C sort -u | paste -sd: -
}

# vm_wait PID CONSOLE TIMEOUT T0 PATTERN - while QEMU (PID) runs, print the new console
# lines that match PATTERN (ERE) with the seconds since T0; returns 0 when QEMU ended,
# 1 when TIMEOUT seconds passed first (QEMU still running).
vm_wait() {
	local qpid=$1 console=$2 deadline=$(( $(date +%s) + $3 )) t0=$4 pat=$5 shown=0 n
	_vm_show() {
		n=$(wc -l < "$console")
		[ "$n" -gt "$shown" ] && sed -n "$((shown + 1)),${n}p" "$console" | tr -d '\r' | grep -aE "$pat" |
			sed "s/^/  [$(( $(date +%s) - t0 )) s] /"
		shown=$n
	}
	while kill -0 "$qpid" 2>/dev/null; do
		[ "$(date +%s)" -ge "$deadline" ] && { _vm_show; return 1; }
		_vm_show
		sleep 1
	done
	_vm_show
	return 0
}

# vm_started PID - QEMU, just started in the background, is PID: kept in qpid (for
# vm_await) and killed when this script is interrupted.
vm_started() {
	qpid=$1
	trap '[ -n "${qpid:-}" ] && kill "$qpid" 2>/dev/null; exit 130' INT TERM HUP
}

# vm_await CONSOLE QEMU-LOG LINES PATTERN HUNG WHO - wait for QEMU ($qpid) until $TIMEOUT s
# past $t0 (vm_wait, printing the console lines that match PATTERN). A hang: QEMU killed,
# "FAIL: HUNG" and the console's last LINES lines, exit 3. QEMU gone without the script's
# marker $OUT/guest.rc: "FAIL: WHO stopped without an exit marker", those lines and
# QEMU-LOG, exit 3. Otherwise qpid is cleared, vm_rc is the script's exit status and
# wall the seconds since $t0.
vm_await() {
	local console=$1 qlog=$2 lines=$3 qrc
	_vm_tail() { tail -n "$lines" "$console" | tr -d '\r' | sed 's/^/  | /'; }
	if ! vm_wait "$qpid" "$console" "$TIMEOUT" "$t0" "$4"; then
		kill "$qpid" 2>/dev/null; sleep 2; kill -9 "$qpid" 2>/dev/null
		wait "$qpid" 2>/dev/null; qpid=
		say "FAIL: $5; last console lines:"
		_vm_tail
		exit 3
	fi
	wait "$qpid"; qrc=$?; qpid=
	wall=$(( $(date +%s) - t0 ))
	if [ ! -f "$OUT/guest.rc" ]; then
		say "FAIL: $6 stopped without an exit marker (qemu exit $qrc, crash or panic?); last console lines:"
		_vm_tail
		[ -s "$qlog" ] && sed 's/^/  qemu| /' "$qlog"
		exit 3
	fi
	vm_rc=$(cat "$OUT/guest.rc")
}

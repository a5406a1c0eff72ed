#!/bin/sh
# deps.sh - install the Debian/Ubuntu packages that build and `make check` need.
# Does nothing when all are present. VGPU_NO_DEPS=1 skips it (e.g. on a GPU host
# without a package registry, where .devdeps/activate provides them).
set -eu
[ "${VGPU_NO_DEPS:-0}" = 1 ] && exit 0
PKGS="gcc make pkg-config zlib1g-dev check libsubunit-dev libfiu-dev fiu-utils valgrind lcov
libisal-dev libjansson-dev libfuse3-dev fuse3 libnfs-dev libnfs-utils nfs-ganesha nfs-ganesha-vfs rpcbind
python3 procps psmisc
libinih-dev libsystemd-dev scdoc python3-prometheus-client
qemu-system-x86 busybox-static kmod nfs-kernel-server iproute2
clang llvm libclang-rt-14-dev"
missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# nfs-kernel-server is only the user space of the QEMU guest (tests/vm, make check-knfs):
# its services must never start on this host. A policy-rc.d that refuses (exit 101)
# keeps the install from starting them; afterwards they are masked (see the end).
rcd=""
case " $missing " in *" nfs-kernel-server "*)
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		rcd=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\n# vgpu-mediator deps.sh: no service starts during this install\nexit 101\n' |
			$SUDO tee "$rcd" >/dev/null
		$SUDO chmod 0755 "$rcd"
		trap '$SUDO rm -f "$rcd"' EXIT
	fi ;;
esac
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing
fi
case " $missing " in *" nfs-kernel-server "*)
	# nothing of knfsd runs at boot either (on a host booted with systemd)
	$SUDO systemctl mask nfs-server.service nfs-mountd.service nfsdcld.service >/dev/null 2>&1 || true ;;
esac

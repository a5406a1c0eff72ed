#!/bin/sh
# deps.sh [SET...] - install the Debian/Ubuntu packages that a target needs (apt-get, through
# sudo when not root); does nothing when all are present. Sets (make deps-SET; `make deps`
# is `check`):
#   build     compile everything `make all` builds (and `make demo` runs)
#   check     build + every tool a stage of `make check` calls (FUSE, nfs-ganesha,
#             rpcbind, ss, valgrind, man and systemd-analyze, QEMU and knfsd's user
#             space for the guest, clang for the fuzz smoke test, Prometheus' parser)
#   coverage  check + lcov          fresh  mmdebstrap (make check-fresh, on the host)
# VGPU_NO_DEPS=1 skips it (e.g. on a GPU host without a package registry, where
# .devdeps/activate provides them). Services: nothing of an NFS server or portmapper that
# this installs starts now or at boot (a refusing policy-rc.d during the install, then
# systemctl disable/mask); services that were installed before are left as they were.
set -eu
[ "${VGPU_NO_DEPS:-0}" = 1 ] && exit 0
BUILD_PKGS="gcc make pkg-config zlib1g-dev check libsubunit-dev libfiu-dev libisal-dev libjansson-dev
libfuse3-dev libnfs-dev libinih-dev libsystemd-dev python3"
CHECK_PKGS="$BUILD_PKGS fiu-utils valgrind fuse3 libnfs-utils nfs-ganesha nfs-ganesha-vfs rpcbind
procps psmisc iproute2 patch scdoc python3-prometheus-client systemd man-db
qemu-system-x86 busybox-static kmod nfs-kernel-server
clang llvm libclang-rt-14-dev"
[ $# -gt 0 ] || set -- check
PKGS=""
for set in "$@"; do
	case $set in
	build) PKGS="$PKGS $BUILD_PKGS" ;;
	check) PKGS="$PKGS $CHECK_PKGS" ;;
	coverage) PKGS="$PKGS $CHECK_PKGS lcov" ;;
	fresh) PKGS="$PKGS mmdebstrap" ;;
	*) echo "deps: unknown set '$set' (build, check, coverage, fresh)" >&2; exit 2 ;;
	esac
done
missing=""
for p in $PKGS; do
	case " $missing " in *" $p "*) continue ;; esac
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
echo "deps ($*): installing:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Packages with a server that the tests start by hand (ganesha-up.sh, the QEMU guest) and
# that must never run on this host by themselves: their unit names.
services=""
for p in $missing; do
	case $p in
	nfs-kernel-server) services="$services nfs-server.service nfs-mountd.service nfsdcld.service" ;;
	rpcbind) services="$services rpcbind.service rpcbind.socket" ;;
	nfs-ganesha) services="$services nfs-ganesha.service nfs-ganesha-lock.service" ;;
	esac
done
# A policy-rc.d that refuses (exit 101) keeps the install from starting them.
rcd=""
if [ -n "$services" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
	rcd=/usr/sbin/policy-rc.d
	printf '#!/bin/sh\n# vgpu-mediator deps.sh: no service starts during this install\nexit 101\n' |
		$SUDO tee "$rcd" >/dev/null
	$SUDO chmod 0755 "$rcd"
	trap '$SUDO rm -f "$rcd"' EXIT
fi
apt="$SUDO apt-get -o DPkg::Lock::Timeout=300"
# shellcheck disable=SC2086
if ! $apt install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
	$apt update -qq
	# shellcheck disable=SC2086
	$apt install -y -qq --no-install-recommends $missing
fi
if [ -n "$services" ]; then
	# Nor at boot: all disabled, knfsd's units masked too (nothing may pull them in);
	# the tests start their own. systemctl works offline too, in a
	# root without a running systemd.
	for u in $services; do
		$SUDO systemctl disable "$u" >/dev/null 2>&1 || true
		case $u in nfs-server.*|nfs-mountd.*|nfsdcld.*) $SUDO systemctl mask "$u" >/dev/null 2>&1 || true ;; esac
	done
	echo "deps: not started, and not enabled at boot:$services"
fi

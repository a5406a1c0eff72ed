#!/bin/sh
# deps.sh - install the Debian/Ubuntu packages that build and `make check` need.
# Does nothing when all are present. VGPU_NO_DEPS=1 skips it (e.g. on a GPU host
# without a package registry, where .devdeps/activate provides them).
set -eu
[ "${VGPU_NO_DEPS:-0}" = 1 ] && exit 0
PKGS="gcc make pkg-config zlib1g-dev check libsubunit-dev libfiu-dev fiu-utils valgrind lcov
libisal-dev libjansson-dev libfuse3-dev fuse3 libnfs-dev libnfs-utils nfs-ganesha nfs-ganesha-vfs rpcbind
python3 procps psmisc"
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
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing
fi

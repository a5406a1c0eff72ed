#!/bin/sh
# mkroot.sh ROOT - a minimal Debian root for `make check-fresh` (tests/fresh/run.sh):
# mmdebstrap --variant=minbase with git, make, sudo and ca-certificates, from the archive
# this host's own apt configuration names (scripts/apt-sources.sh). Built into ROOT.tmp
# and renamed to ROOT when complete, so a cached ROOT is always whole; does nothing when
# ROOT exists. Needs root and mmdebstrap (make deps-fresh installs it).
set -eu
root=${1:?usage: mkroot.sh ROOT}
suite=${FRESH_SUITE:-bookworm}
here=$(cd "$(dirname "$0")/../.." && pwd)
[ -d "$root" ] && { echo "fresh: cached root $root (remove it to rebuild)"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "fresh: building the root needs root" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "fresh: mmdebstrap missing (make deps-fresh)" >&2; exit 1; }
lines=$("$here/scripts/apt-sources.sh")
[ -n "$lines" ] || { echo "fresh: no apt source of this system's release to build from" >&2; exit 1; }
case $lines in *" $suite "*) ;; *)
	echo "fresh: this system's apt sources have no suite $suite (FRESH_SUITE)" >&2; exit 1 ;;
esac
rm -rf "$root.tmp"
mkdir -p "$(dirname "$root")"
echo "fresh: building a minimal $suite root in $root (mmdebstrap --variant=minbase)"
set --
while IFS= read -r l; do set -- "$@" "$l"; done <<LINES
$lines
LINES
mmdebstrap --quiet --variant=minbase --include=git,make,sudo,ca-certificates "$suite" "$root.tmp" "$@"
mv "$root.tmp" "$root"

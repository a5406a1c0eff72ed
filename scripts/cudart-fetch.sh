#!/bin/sh
# cudart-fetch.sh DEST - the real CUDA runtime library without the CUDA toolkit, for ERR05
# where nvcc is missing (tests/fault/cudart/, docs/HARNESS.md "ERR05 without nvcc").
# The distribution ships it in its non-free component (Debian: libcudart11.0; Ubuntu:
# multiverse). It is fetched with a private apt setup under DEST/apt (its own sources file,
# lists, cache: the archive's address taken from the system's own sources by
# scripts/apt-sources.sh), `apt-get download`ed (never installed: nothing of the system's
# apt setup or packages changes) and unpacked with dpkg -x into DEST/root. Prints the path
# of the library and links it as DEST/libcudart.so. Once: does nothing when that link
# resolves. Exit 1 with the reason when it cannot be fetched.
set -eu
dest=${1:?usage: cudart-fetch.sh DEST}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
if [ -e "$dest/libcudart.so" ]; then readlink -f "$dest/libcudart.so"; exit 0; fi
die() { echo "cudart-fetch: $*" >&2; exit 1; }
command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "needs apt-get and dpkg (a Debian or Ubuntu system)"
id=$(. /etc/os-release 2>/dev/null && echo "${ID:-}")
case $id in
debian) comps="non-free" ;;
ubuntu) comps="multiverse" ;;
*) die "no known component with the CUDA runtime for distribution '$id'" ;;
esac
a=$dest/apt
rm -rf "$a" "$dest/root"
mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/debs"
"$here/apt-sources.sh" --components "$comps" > "$a/sources.list" || die "no apt sources found"
[ -s "$a/sources.list" ] || die "the system's apt sources name no archive of its release"
set -- -o Dir::Etc::sourcelist="$a/sources.list" -o Dir::Etc::sourceparts=- \
	-o Dir::State::Lists="$a/lists" -o Dir::Cache="$a/cache" -o APT::Sandbox::User="$(id -un)" \
	-o Debug::NoLocking=1
apt-get "$@" -qq update > "$a/update.log" 2>&1 || { cat "$a/update.log" >&2; die "apt-get update (private lists) failed"; }
pkg=$(apt-cache "$@" search --names-only '^libcudart[0-9.]*$' 2>/dev/null | awk '{print $1}' | sort -V | tail -n 1)
[ -n "$pkg" ] || die "no libcudart package in the $comps component of: $(tr '\n' ';' < "$a/sources.list")"
echo "cudart-fetch: $pkg (apt-get download from the system's archive, $comps; unpacked under $dest)" >&2
(cd "$a/debs" && apt-get "$@" -qq download "$pkg") > "$a/download.log" 2>&1 ||
	{ cat "$a/download.log" >&2; die "apt-get download $pkg failed"; }
deb=$(ls "$a/debs"/*.deb | head -n 1)
dpkg -x "$deb" "$dest/root"
lib=$(find "$dest/root" -name 'libcudart.so.*' \( -type f -o -type l \) | sort | head -n 1)
[ -n "$lib" ] || die "$deb has no libcudart.so.*"
ln -sfn "${lib#"$dest"/}" "$dest/libcudart.so"
readlink -f "$dest/libcudart.so"

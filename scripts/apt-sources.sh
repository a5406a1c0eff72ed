#!/bin/sh
# apt-sources.sh - print this system's enabled apt sources of its own distribution as
# one-line entries ("deb [signed-by=KEY] URI SUITE COMPONENT..."), read from ROOT's
# /etc/apt/sources.list and sources.list.d/*.list and *.sources (deb822).
#   apt-sources.sh [--root DIR] [--components "C..."] [--suite-base]
# --components replaces each entry's components (e.g. "main non-free"); --suite-base keeps
# only the release's own suite (no -updates/-security). Only entries whose suites start with
# the release's codename (VERSION_CODENAME of ROOT's os-release) are printed: a third-party
# repository is left out. Used by scripts/cudart-fetch.sh and tests/fresh/mkroot.sh so that
# the archive's address always comes from the system's own configuration.
set -eu
root=/ comps="" base=0
while [ $# -gt 0 ]; do
	case $1 in
	--root) root=$2; shift 2 ;;
	--components) comps=$2; shift 2 ;;
	--suite-base) base=1; shift ;;
	*) echo "usage: apt-sources.sh [--root DIR] [--components \"C...\"] [--suite-base]" >&2; exit 2 ;;
	esac
done
code=$(. "$root/etc/os-release" 2>/dev/null && echo "${VERSION_CODENAME:-}")
[ -n "$code" ] || { echo "apt-sources: no VERSION_CODENAME in $root/etc/os-release" >&2; exit 1; }
files=""
for f in "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*.list "$root"/etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] && files="$files $f"
done
[ -n "$files" ] || { echo "apt-sources: no apt sources under $root/etc/apt" >&2; exit 1; }
# shellcheck disable=SC2086
awk -v code="$code" -v comps="$comps" -v base="$base" '
function emit(uri, suite, c, key,   o) {
	if (suite != code && index(suite, code "-") != 1) return
	if (base && suite != code) return
	if (comps != "") c = comps
	o = "deb "
	if (key != "") o = o "[signed-by=" key "] "
	o = o uri " " suite " " c
	if (!(o in seen)) { seen[o] = 1; print o }
}
function flush(   nu, ns, u, s, i, j) {
	if (types ~ /(^| )deb( |$)/ && enabled != "no") {
		nu = split(uris, U, " "); ns = split(suites, S, " ")
		for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) emit(U[i], S[j], components, signed)
	}
	types = uris = suites = components = signed = enabled = ""
}
FILENAME ~ /\.sources$/ {
	if (FILENAME != cur) { flush(); cur = FILENAME }
	if ($0 ~ /^[ \t]*$/) { flush(); next }
	if ($0 ~ /^#/) next
	k = tolower($1); sub(/:$/, "", k); v = $0; sub(/^[^:]*:[ \t]*/, "", v)
	if (k == "types") types = v; else if (k == "uris") uris = v; else if (k == "suites") suites = v
	else if (k == "components") components = v; else if (k == "signed-by") signed = v
	else if (k == "enabled") enabled = tolower(v)
	next
}
/^[ \t]*deb[ \t]/ {
	key = ""; n = split($0, F, /[ \t]+/); i = 2
	if (F[1] == "") i = 3
	if (F[i] ~ /^\[/) {
		while (i <= n) { if (F[i] ~ /signed-by=/) { key = F[i]; sub(/.*signed-by=/, "", key); sub(/\].*/, "", key) }
			if (F[i] ~ /\]$/) break; i++ }
		i++
	}
	uri = F[i]; suite = F[i + 1]; c = ""
	for (j = i + 2; j <= n; j++) c = c (c == "" ? "" : " ") F[j]
	emit(uri, suite, c, key)
}
END { flush() }
' $files

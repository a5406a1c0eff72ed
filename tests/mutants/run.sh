#!/usr/bin/env bash
# run.sh - kept mutants (docs/HARNESS.md "Mutants"): each tests/mutants/*.patch is a
# small change that breaks one guarded handling, with the test that must kill it.
# For each: a scratch copy of the tree (tracked files, plus build/ so that only the
# patched files recompile), the patch applied, `make all`, then its kill command. The
# command must fail (exit non-zero) and, when the patch names one, print its expected
# line: a mutant killed by another check's accident is not killed. Exits 1 when a
# mutant survives or a patch does not apply (a stale patch proves nothing).
#
# Patch header lines, before the diff:
#   # mutant: what the change breaks
#   # kills: COMMAND           run in the scratch tree's root; must exit non-zero
#   # expect: REGEX            optional; COMMAND's output must match it (grep -E)
#
# usage: tests/mutants/run.sh [PATCH...]    (default: every tests/mutants/*.patch)
#        MUTANT_TIMEOUT=S per kill command (default 600)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
BUILD=${BUILD:-build}
timeout_s=${MUTANT_TIMEOUT:-600}
scratch="$top/$BUILD/mutants"

[ $# -gt 0 ] || set -- tests/mutants/*.patch
[ -e "$1" ] || { echo "check-mutants: no patches in tests/mutants/"; exit 1; }

echo "check-mutants: building the tree once"
make -s --no-print-directory all >/dev/null || { echo "check-mutants: the unpatched tree does not build"; exit 1; }

killed=0; survived=0; broken=0; names=()
for p in "$@"; do
	name=$(basename "$p" .patch)
	case "$p" in /*) pabs=$p ;; *) pabs=$top/$p ;; esac
	what=$(sed -n 's/^# mutant: //p' "$p" | head -n 1)
	cmd=$(sed -n 's/^# kills: //p' "$p" | head -n 1)
	expect=$(sed -n 's/^# expect: //p' "$p" | head -n 1)
	if [ -z "$cmd" ]; then
		echo "BROKEN   $name: no '# kills:' line"; broken=$((broken + 1)); continue
	fi
	d="$scratch/$name"
	rm -rf "$d"; mkdir -p "$d"
	# tracked files as they are in the working tree, and the built objects with their mtimes
	git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$d"
	[ -d "$BUILD" ] && tar --exclude="./mutants" -C "$BUILD" -cf - . | { mkdir -p "$d/$BUILD"; tar -xf - -C "$d/$BUILD"; }
	if ! (cd "$d" && patch -s -p1 --no-backup-if-mismatch < "$pabs" >/dev/null); then
		echo "BROKEN   $name: the patch does not apply (refresh it)"; broken=$((broken + 1)); rm -rf "$d"; continue
	fi
	if ! (cd "$d" && make -s --no-print-directory all >"$d/.build.log" 2>&1); then
		echo "BROKEN   $name: the mutant does not build (see $d/.build.log)"; broken=$((broken + 1)); continue
	fi
	out=$(cd "$d" && timeout "$timeout_s" bash -c "$cmd" 2>&1); rc=$?
	printf '%s\n' "$out" > "$d/.kill.log"
	if [ $rc -eq 0 ]; then
		echo "SURVIVED $name: '$cmd' passed ($what)"; survived=$((survived + 1)); names+=("$name"); continue
	fi
	if [ -n "$expect" ] && ! grep -Eq -- "$expect" <<<"$out"; then
		echo "SURVIVED $name: '$cmd' failed (exit $rc) but not by its own check: no line matches /$expect/ (see $d/.kill.log)"
		survived=$((survived + 1)); names+=("$name"); continue
	fi
	echo "KILLED   $name: '$cmd' exit $rc${expect:+, /$expect/ seen} ($what)"
	killed=$((killed + 1))
	rm -rf "$d"
done
total=$((killed + survived + broken))
echo "check-mutants: $killed of $total killed, $survived survived, $broken broken${names[*]:+ (survivors: ${names[*]})}"
[ $survived -eq 0 ] && [ $broken -eq 0 ]

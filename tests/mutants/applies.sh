#!/usr/bin/env bash
# applies.sh - part of `make check` (its runner stage): every kept mutant still applies to
# the tree and names the test that must kill it. A mutant whose patch no longer applies
# proves nothing, and only tests/mutants/run.sh (not part of make check: it rebuilds the
# tree per mutant) would notice; this check makes the suite fail the day a change moves
# the code a mutant breaks, so the patch is refreshed with that change (docs/HARNESS.md
# "Mutants"). Applies the way run.sh does: patch -p1, offsets and fuzz allowed, dry run.
#   usage: tests/mutants/applies.sh [PATCH...]   (default: every tests/mutants/*.patch)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
[ $# -gt 0 ] || set -- tests/mutants/*.patch
[ -e "$1" ] || { echo "mutants-apply: no patches in tests/mutants/"; exit 1; }
ok=0; bad=0
for p in "$@"; do
	name=$(basename "$p" .patch)
	if ! grep -q '^# kills: ' "$p"; then
		echo "BROKEN   $name: no '# kills:' line"; bad=$((bad + 1)); continue
	fi
	if ! out=$(patch --dry-run -s -p1 --no-backup-if-mismatch < "$p" 2>&1); then
		echo "BROKEN   $name: the patch does not apply to this tree (refresh it): $(printf '%s' "$out" | head -n 2 | tr '\n' ' ')"
		bad=$((bad + 1)); continue
	fi
	ok=$((ok + 1))
done
echo "mutants-apply: $ok of $# kept mutants apply and name their killing test${bad:+, $bad broken}"
[ "$bad" -eq 0 ]

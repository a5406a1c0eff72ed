# lib.sh - what the command-line tests (tests/cli/*.sh) and tests/ops/run.sh share: the
# checkout and build paths, a scratch directory removed on exit with the daemons they
# started, the ok/bad counters, and the polled waits and output checks. Sourced, with
# the scratch directory's name as its argument:   . "$(dirname "$0")/lib.sh" cli
# It sets top, BUILD, B (the build directory), T (scratch), C (vgpu-client), pass, fail
# and pids (the background processes to stop on exit), and cds into the checkout.
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
BUILD=${BUILD:-build}
B=$top/$BUILD
T=$(mktemp -d "/tmp/vgpu-${1:-cli}-XXXXXX")
C=$B/vgpu-client
pass=0 fail=0
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/       | /' | head -40; }
# wait_for SECONDS COMMAND...: until COMMAND succeeds (polled), 1 on timeout
wait_for() {
	local end=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.05; done
}
# expect NAME RC STDOUT-REGEX STDERR-REGEX -- COMMAND...: the exit status is RC, stdout
# matches the first (extended) regex and stderr the second ("" : must be empty, "*": any)
expect() {
	local name=$1 want=$2 ore=$3 ere=$4 rc; shift 5
	"$@" >"$T/o" 2>"$T/e" </dev/null; rc=$?
	local o e; o=$(cat "$T/o"); e=$(cat "$T/e")
	if [ "$rc" != "$want" ]; then bad "$name" "exit $rc, want $want; stdout: $o; stderr: $e"; return; fi
	case "$ore" in
	'') [ -z "$o" ] || { bad "$name" "stdout should be empty: $o"; return; } ;;
	'*') ;;
	*) grep -Eq -- "$ore" "$T/o" || { bad "$name" "stdout does not match /$ore/: $o; stderr: $e"; return; } ;;
	esac
	case "$ere" in
	'') [ -z "$e" ] || { bad "$name" "stderr should be empty: $e"; return; } ;;
	'*') ;;
	*) grep -Eq -- "$ere" "$T/e" || { bad "$name" "stderr does not match /$ere/: $e"; return; } ;;
	esac
	ok "$name"
}
# start_mediator NAME LOG COMMAND...: COMMAND (a vgpu-mediator) in the background, its
# stderr into LOG (emptied first), its pid in mpid and pids; "ok - NAME: serving" once
# the log says so (20 s at most), else FAIL with the log
start_mediator() {
	local name=$1 log=$2; shift 2
	: > "$log"
	"$@" 2>>"$log" &
	mpid=$!; pids+=("$mpid")
	if wait_for 20 grep -q 'serving .* with executor' "$log"; then ok "$name: serving"
	else bad "$name did not start" "$(cat "$log")"; fi
}

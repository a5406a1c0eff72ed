#!/usr/bin/env bash
# ab-ping.sh - ping A/B between builds, alternating, on one noisy machine: per round and
# per build (a directory holding that build's vgpu-mediator, vgpu-worker, vgpu-client and
# bench/bench-mediated, e.g. a copy of build/ with bench-mediated beside the rest), a fresh
# mediator (--executor $EXECUTOR, default mock; BUILD_DIR@EXECUTOR names it per build, so
# that "build@mock build@cuda" alternates executors) on a tmpfs directory, then bench-mediated's
# three ping requesters through it: client (libvgpu-client, polling), inotify, policy
# (bench-mediated's own requester on the client's polling schedule); then, once per round,
# bench-floor's policy and inotify floors (fsync, exactly-once record). One line each:
#   round=R build=DIR client_median_us=.. inotify_median_us=.. policy_median_us=..
#   round=R floor policy_p50_us=.. inotify_p50_us=..
#   usage: bench/ab-ping.sh ROUNDS REPS BUILD_DIR[@EXECUTOR]...   (BENCH_DIR: where, default /dev/shm)
set -u
[ $# -ge 3 ] || { echo "usage: bench/ab-ping.sh ROUNDS REPS BUILD_DIR..." >&2; exit 2; }
ROUNDS=$1; REPS=$2; shift 2
EX=${EXECUTOR:-mock}
BASE=${BENCH_DIR:-/dev/shm}
T=$(mktemp -d "$BASE/vgpu-ab-XXXXXX")
MP=
trap '[ -n "$MP" ] && kill $MP 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
prog() {   # DIR NAME: DIR/NAME or DIR/bench/NAME
	if [ -x "$1/$2" ]; then echo "$1/$2"; else echo "$1/bench/$2"; fi
}
med() { echo "$1" | grep -o "median_us=[0-9.]*" | cut -d= -f2; }
p50() { echo "$1" | grep -o "p50_us=[0-9.]*" | cut -d= -f2; }
for r in $(seq 1 "$ROUNDS"); do
	for arg in "$@"; do
		v=${arg%@*}; ex=$EX
		[ "$v" = "$arg" ] || ex=${arg##*@}
		top=$T/$r-$(echo "$arg" | tr '/@' '__')
		mkdir -p "$top/root/vm1" "$top/root/vm2" "$top/state"
		"$v/vgpu-mediator" --root "$top/root" --state "$top/state" --executor "$ex" --log-level error &
		MP=$!
		for _ in $(seq 1 120); do
			"$v/vgpu-client" --dir "$top/root/vm2" --timeout 2 ping > /dev/null 2>&1 && break
			sleep 0.5
		done
		bm=$(prog "$v" bench-mediated)
		c=$("$bm" "$top/root/vm1" client seed "$REPS" ping 1) || exit 1
		i=$("$bm" "$top/root/vm2" inotify seed "$REPS" ping 1) || exit 1
		p=$("$bm" "$top/root/vm2" policy seed "$REPS" ping 1) || exit 1
		echo "round=$r build=$arg client_median_us=$(med "$c") inotify_median_us=$(med "$i") policy_median_us=$(med "$p")"
		kill "$MP"; wait "$MP" 2>/dev/null; MP=
	done
	bf=$(prog "${1%@*}" bench-floor)
	mkdir -p "$T/floor$r"
	fp=$("$bf" ping "$T/floor$r" "$REPS" policy fsync eo) || exit 1
	fi=$("$bf" ping "$T/floor$r" "$REPS" inotify fsync eo) || exit 1
	echo "round=$r floor policy_p50_us=$(p50 "$fp") inotify_p50_us=$(p50 "$fi")"
done

#!/usr/bin/env bash
# instructions.sh - the mediator's own instructions per ping (user space, callgrind):
# a machine-independent count of the code a ping runs, beside the syscalls that
# bench/syscalls.sh counts. A mock mediator from BUILD (default build) under
# valgrind --tool=callgrind on a tmpfs directory, WARM pings from bench-mediated's
# inotify requester, the counters zeroed, N more pings, the counters dumped; prints
# "instructions per ping: X" and, with TOP=K, the K functions with the most (inclusive).
#   usage: bench/instructions.sh [N (2000)] [WARM (100)]
#   e.g. BUILD=build/bench-release bench/instructions.sh   (the release configuration)
set -u
B=${BUILD:-build}
N=${1:-2000}
WARM=${2:-100}
BASE=${BENCH_DIR:-/dev/shm}
[ -d "$BASE" ] || BASE=/tmp
command -v valgrind > /dev/null && command -v callgrind_control > /dev/null ||
	{ echo "instructions: valgrind (callgrind) is needed" >&2; exit 2; }
T=$(mktemp -d "$BASE/vgpu-instr-XXXXXX")
VP=
trap '[ -n "$VP" ] && kill $VP 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/root/vm1" "$T/root/vm2" "$T/state"
valgrind --tool=callgrind --callgrind-out-file="$T/cg.out" "$B/vgpu-mediator" --root "$T/root" \
	--state "$T/state" --executor mock --log-level error > "$T/vg.log" 2>&1 &
VP=$!
for _ in $(seq 1 240); do   # valgrind starts slowly: wait for an answer, bounded
	timeout 5 "$B/vgpu-client" --dir "$T/root/vm2" --timeout 2 ping > /dev/null 2>&1 && break
	kill -0 $VP 2>/dev/null || { echo "instructions: the mediator did not start" >&2; cat "$T/vg.log" >&2; exit 1; }
	sleep 0.5
done
"$B/bench/bench-mediated" "$T/root/vm1" inotify seed "$WARM" ping 1 > /dev/null || exit 1
callgrind_control -z "$VP" > /dev/null 2>&1
"$B/bench/bench-mediated" "$T/root/vm1" inotify seed "$N" ping 1 > /dev/null || exit 1
callgrind_control -d "$VP" > /dev/null 2>&1
kill $VP; wait $VP 2>/dev/null; VP=
f=$(ls "$T"/cg.out.* 2>/dev/null | head -1)
[ -n "$f" ] || { echo "instructions: no callgrind dump" >&2; exit 1; }
total=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
[ -n "$total" ] || { echo "instructions: callgrind_annotate gave no total" >&2; exit 1; }
echo "instructions per ping: $(( total / N )) ($B/vgpu-mediator, $N pings after $WARM, callgrind)"
[ -n "${TOP:-}" ] && callgrind_annotate --inclusive=yes "$f" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | sed -n "7,$((6 + TOP))p"
exit 0

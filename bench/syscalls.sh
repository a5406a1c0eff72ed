#!/usr/bin/env bash
# syscalls.sh - `make bench-syscalls`: the syscalls of one ping, counted with strace -f
# on loops of N1 and N2 pings (per ping = the difference / (N2 - N1), bench/syscount.py):
#   mediator   vgpu-mediator --executor mock (with its worker), pings from bench-mediated
#              inotify (not traced)
#   client     libvgpu-client (bench-mediated client: its default policy, polling; its
#              looks count, so its figure moves with the answer's latency under strace)
#   floor      bench-floor ping, fsync + exactly-once record (eoslot, as the mediator's journal): responder (the mediator's
#              part), requester with inotify and with the client's policy (the client's part)
# Writes $BUILD/reports/bench-syscalls.txt.
set -u
B=${BUILD:-build}
R=$B/reports
mkdir -p "$R"
N1=${SYSCALLS_N1:-200}
N2=${SYSCALLS_N2:-600}
BASE=${BENCH_DIR:-/dev/shm}
[ -d "$BASE" ] || BASE=/tmp
T=$(mktemp -d "$BASE/vgpu-syscalls-XXXXXX")
MP=
trap '[ -n "$MP" ] && kill -TERM $(pgrep -P "$MP") "$MP" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT

start() {   # TAG TRACE(0/1): a mock mediator on $T/TAG; ready on return
	local top=$T/$1
	mkdir -p "$top/root/vm1" "$top/root/vm2" "$top/state"
	if [ "$2" = 1 ]; then
		strace -f -o "$top/med.log" "$B/vgpu-mediator" --root "$top/root" --state "$top/state" --executor mock \
			--log-level error &
	else
		"$B/vgpu-mediator" --root "$top/root" --state "$top/state" --executor mock --log-level error &
	fi
	MP=$!
	for _ in $(seq 1 120); do
		"$B/vgpu-client" --dir "$top/root/vm2" --timeout 2 ping > /dev/null 2>&1 && return 0
		sleep 0.5
	done
	echo "syscalls: the mediator did not start" >&2
	exit 1
}
stop() {   # TRACE(0/1): under strace the mediator is strace's child; strace exits after it
	if [ "$1" = 1 ]; then kill -TERM $(pgrep -P "$MP"); else kill -TERM "$MP"; fi
	wait "$MP" 2>/dev/null
	MP=
}

for n in $N1 $N2; do
	start "m$n" 1
	"$B/bench/bench-mediated" "$T/m$n/root/vm1" inotify seed "$n" ping 1 > /dev/null || exit 1
	stop 1
	start "c$n" 0
	strace -f -o "$T/c$n.log" "$B/bench/bench-mediated" "$T/c$n/root/vm1" client seed "$n" ping 1 > /dev/null || exit 1
	stop 0
	mkdir -p "$T/f$n" "$T/p$n"
	strace -f -o "$T/f$n.log" "$B/bench/bench-floor" ping "$T/f$n" "$n" inotify fsync eoslot > /dev/null || exit 1
	strace -f -o "$T/p$n.log" "$B/bench/bench-floor" ping "$T/p$n" "$n" policy fsync eoslot > /dev/null || exit 1
done
{
echo "# Syscalls per ping ($(date -u +%Y-%m-%dT%H:%M:%SZ), commit ${VGPU_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo '?')})"
echo
echo "strace -f, loops of $N1 and $N2 pings, per ping = difference / $((N2 - N1)); directory $BASE."
echo "mediator: vgpu-mediator --executor mock and its worker; floor responder: bench-floor's responder"
echo "(fsync + exactly-once record, eoslot: pwrite + fdatasync, as the mediator's journal); client: libvgpu-client, its default policy, polling (looks included);"
echo "floor requester: bench-floor's requester, inotify and policy (the client's schedule of looks)."
echo
python3 bench/syscount.py "$N1" "$N2" "mediator:all:$T/m$N1/med.log:$T/m$N2/med.log" \
	"floor responder:rest:$T/f$N1.log:$T/f$N2.log" "client:all:$T/c$N1.log:$T/c$N2.log" \
	"floor requester (inotify):first:$T/f$N1.log:$T/f$N2.log" \
	"floor requester (policy):first:$T/p$N1.log:$T/p$N2.log"
} | tee "$R/bench-syscalls.txt"

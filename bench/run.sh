#!/usr/bin/env bash
# run.sh - `make bench`: each project figure next to its floor (bench-floor) and the
# ratio, all from this one run; the table goes to stdout and $BUILD/reports/bench.txt.
#   ping     vgpu-mediator --executor mock on a tmpfs directory; the requester waits
#            with inotify (bench-mediated inotify) or is libvgpu-client polling every
#            1 ms (bench-mediated client); floors: bench-floor ping with fsync and the
#            exactly-once record, inotify or poll:1000
#   payload  vadd with in-SEQ.bin/out-SEQ.bin through the same mediator; floor:
#            bench-floor payload (memcpy for H2D/D2H)
# On a GPU host (HAVE_CUDA=1, bench-native built, nvidia-smi sees a GPU) the same rows
# through vgpu-mediator --executor cuda against the floor with cudaMemcpy from pinned
# buffers, then bench/native.sh (native CUDA vs mediated, phases; $BUILD/reports/bench.md).
# Knobs: BENCH_DIR (default /dev/shm), BENCH_PING_REPS (2000), BENCH_PAY_REPS (8),
# BENCH_VADD_SIZES ("1048576 16777216"), BENCH_NATIVE=0 skips native.sh on a GPU host.
set -u
B=${BUILD:-build}
R=$B/reports
mkdir -p "$R"
BASE=${BENCH_DIR:-/dev/shm}
[ -d "$BASE" ] || BASE=/tmp
PREPS=${BENCH_PING_REPS:-2000}
YREPS=${BENCH_PAY_REPS:-8}
SIZES=${BENCH_VADD_SIZES:-"1048576 16777216"}
OUTF=$R/bench.txt
T=$(mktemp -d "$BASE/vgpu-bench-XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM $p 2>/dev/null; wait $p 2>/dev/null; done; rm -rf "$T"' EXIT

GPU=0
if [ "${HAVE_CUDA:-0}" = 1 ] && [ -x "$B/bench/bench-native" ] && nvidia-smi -L > /dev/null 2>&1; then
	GPU=1
fi

start_mediator() {   # EXECUTOR: a mediator serving $T/EXECUTOR/root (vm1, vm2), ready on return
	local top=$T/$1
	mkdir -p "$top/root/vm1" "$top/root/vm2" "$top/state" "$top/floor"
	"$B/vgpu-mediator" --root "$top/root" --state "$top/state" --executor "$1" --log-level warn \
		--max-payload 4294967296 >> "$R/bench-mediator.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 1 120); do
		"$B/vgpu-client" --dir "$top/root/vm2" --timeout 2 ping > /dev/null 2>&1 && return 0
		sleep 0.5
	done
	echo "bench: the $1 mediator did not answer a ping (log: $R/bench-mediator.log)" >&2
	exit 1
}
val() { echo "$1" | grep -o "$2=[^ ]*" | head -1 | cut -d= -f2; }
run() {   # PROGRAM ARGS...: its output; a failure ends the benchmark
	"$@" || { echo "bench: failed: $*" >&2; exit 1; }
}
ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print('%.2f' % (a / b) if b > 0 else '-')" "$1" "$2" 2>/dev/null || echo -; }
row() {   # WHAT PROJECT_OUT FLOOR_OUT FLOOR_NAME
	local p50 p99 f50 f99 ex
	p50=$(val "$2" median_us); p99=$(val "$2" p99_us); ex=$(val "$2" exec_us)
	f50=$(val "$3" p50_us); f99=$(val "$3" p99_us)
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "${p50%.*}" "${f50%.*}" "$(ratio "$p50" "$f50")" \
		"${p99%.*}" "${f99%.*}" "$(ratio "$p99" "$f99")" "${ex:--}" "$4" | tee -a "$OUTF"
}

: > "$R/bench-mediator.log"; : > "$R/bench-floor-phases.txt"
{
echo "# make bench: the project next to its floor"
echo
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $(nproc) CPUs;" \
     "directory $BASE ($(df --output=fstype "$BASE" | tail -1)); GPU: $([ $GPU = 1 ] && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1 || echo none)"
echo
echo "Microseconds, wall clock on the requester's side. project: vgpu-mediator with the named executor;"
echo "requester 'inotify' = bench-mediated waiting on inotify, 'client' = libvgpu-client polling every 1 ms."
echo "floor: bench-floor (bench/bench-floor.c: only the mechanism; ping with fsync and the exactly-once record;"
echo "payload with the CRC fused into each read and write, buffers reused, no op run: exec is the executor's"
echo "own exec_us, part of the project's time and not of the floor's)."
echo
} | tee "$OUTF"

# The floors alone, every variant (the rows below use the fsync + exactly-once ones).
FD=$T/floordir
mkdir -p "$FD"
declare -A FLOOR
{
echo "## Ping floors ($PREPS pings each, after 20 warm-up)"
echo
echo "| waiter | fsync | exactly-once record | p50 | p99 | min |"
echo "| --- | --- | --- | ---: | ---: | ---: |"
} | tee -a "$OUTF"
for w in inotify poll:1000; do
	for f in nofsync fsync; do
		for e in noeo eo; do
			o=$("$B/bench/bench-floor" ping "$FD" "$PREPS" "$w" "$f" "$e") || { echo "bench: bench-floor ping failed" >&2; exit 1; }
			FLOOR[$w-$f-$e]=$o
			printf '| %s | %s | %s | %s | %s | %s |\n' "$w" "$f" "$e" "$(val "$o" p50_us)" "$(val "$o" p99_us)" \
				"$(val "$o" min_us)" | tee -a "$OUTF"
		done
	done
done
echo | tee -a "$OUTF"

execs=(mock)
[ $GPU = 1 ] && execs+=(cuda)
{
echo "## Project against floor"
echo
echo "| what | p50 | floor p50 | ratio | p99 | floor p99 | ratio | exec | floor |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
} | tee -a "$OUTF"
for ex in "${execs[@]}"; do
	start_mediator "$ex"
	V=$T/$ex/root
	o=$(run "$B/bench/bench-mediated" "$V/vm1" inotify seed "$PREPS" ping 1) || exit 1
	row "ping, $ex, inotify" "$o" "${FLOOR[inotify-fsync-eo]}" "ping inotify fsync eo"
	o=$(run "$B/bench/bench-mediated" "$V/vm2" client seed "$PREPS" ping 1) || exit 1
	row "ping, $ex, client" "$o" "${FLOOR[poll:1000-fsync-eo]}" "ping poll:1000 fsync eo"
	copy=memcpy
	[ "$ex" = cuda ] && copy=cuda
	for n in $SIZES; do
		f=$(BENCH_FLOOR_COPY=$copy run "$B/bench/bench-floor" payload "$T/$ex/floor" "$YREPS" $((8 * n)) $((4 * n))) || exit 1
		echo "payload floor vadd $n ($copy): $f" >> "$R/bench-floor-phases.txt"
		o=$(run "$B/bench/bench-mediated" "$V/vm1" inotify input "$YREPS" vadd "$n") || exit 1
		row "vadd $n payload, $ex, inotify" "$o" "$f" "payload $(val "$f" copy)"
		o=$(run "$B/bench/bench-mediated" "$V/vm2" client input "$YREPS" vadd "$n") || exit 1
		row "vadd $n payload, $ex, client" "$o" "$f" "payload $(val "$f" copy)"
	done
done
echo | tee -a "$OUTF"
echo "Payload floor phases (p50, us): see $R/bench-floor-phases.txt" | tee -a "$OUTF"
sed 's/^/    /' "$R/bench-floor-phases.txt" >> "$OUTF"
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
PIDS=()
if [ $GPU = 1 ] && [ "${BENCH_NATIVE:-1}" = 1 ]; then
	echo "bench: native vs mediated on the GPU (bench/native.sh)"
	BUILD=$B bench/native.sh || exit 1
fi
echo "bench: $OUTF"

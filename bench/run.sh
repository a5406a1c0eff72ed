#!/usr/bin/env bash
# run.sh - `make bench`: each op natively (bench-native) and through vgpu-mediator
# --executor cuda on a local directory (bench-mediated), at several sizes; prints a
# markdown table (native vs mediated, and the ratio) and writes $BUILD/reports/bench.md.
# Times are medians of REPS repetitions after one warm-up, in microseconds, wall clock
# from the requester's side. docs/GPU.md explains what each column includes.
set -u
B=${BUILD:-build}
R=$B/reports
mkdir -p "$R"
# The main table on tmpfs (BENCH_DIR, default /dev/shm): the mediator's own cost, without
# the storage's fsync latency; a ping on disk (/tmp) afterwards shows that cost.
BASE=${BENCH_DIR:-/dev/shm}
[ -d "$BASE" ] || BASE=/tmp
T=$(mktemp -d "$BASE/vgpu-bench-XXXXXX")
D=$(mktemp -d /tmp/vgpu-bench-disk-XXXXXX)
OUTF=$R/bench.md
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM $p 2>/dev/null; wait $p 2>/dev/null; done; rm -rf "$T" "$D"' EXIT

start_mediator() {   # TOP: a cuda mediator serving TOP/root, ready when this returns
	mkdir -p "$1/root/vm1" "$1/root/vm2" "$1/state"
	"$B/vgpu-mediator" --root "$1/root" --state "$1/state" --executor cuda --log-level warn \
		--max-payload 4294967296 >> "$R/bench-mediator.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 1 60); do
		"$B/vgpu-client" --dir "$1/root/vm2" --timeout 2 ping > /dev/null 2>&1 && return
		sleep 0.5
	done
}
: > "$R/bench-mediator.log"
start_mediator "$T"

val() { grep -o "$1=[^ ]*" | head -1 | cut -d= -f2; }

{
echo "# vgpu-mediator benchmark: native CUDA vs through the mediator"
echo
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ); $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1);" \
     "$(nvcc --version | grep -o 'release [0-9.]*')"
echo
echo "Directory: $BASE (tmpfs unless stated); medians in microseconds, wall clock on the requester's side."
echo
echo "- native (bench-native), per repetition: cudaMalloc; seed: generate operands on the GPU, op, reduce the"
echo "  output to its summary on the GPU, copy back only the summary (24 bytes); input: copy the operands from"
echo "  host memory, op, copy the whole output back, summarise on the CPU; cudaFree."
echo "- mediated (bench-mediated): the same job through vgpu-mediator --executor cuda, request published to answer"
echo "  read. seed rows ask for 'output summary': the worker does exactly the native seed work (plus"
echo "  cudaMemGetInfo before and after, for the leak check); input rows publish in-SEQ.bin and read out-SEQ.bin"
echo "  (CRC checked), so the payload crosses the file protocol both ways. inotify: the requester waits on"
echo "  inotify (local directory); client: libvgpu-client polling every 1 ms (its floor), as a VM on NFS would."
echo "- overhead: mediated (inotify) minus native; exec: the worker's exec_us (CUDA events around the GPU work)."
echo
echo "| op | input | size | reps | native | mediated (inotify) | ratio | overhead | mediated (client) | ratio | exec |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} | tee "$OUTF"

row() {   # OP MODE REPS SIZE...   (mediator under $T)
	local op=$1 mode=$2 reps=$3; shift 3
	local nat med cli ex size
	size=$(echo "$*" | tr ' ' 'x')
	if [ "$op" = ping ]; then
		nat=0
	else
		nat=$("$B/bench/bench-native" "$op" "$mode" "$reps" "$@" | val median_us)
	fi
	local m; m=$("$B/bench/bench-mediated" "$T/root/vm1" inotify "$mode" "$reps" "$op" "$@")
	med=$(echo "$m" | val median_us); ex=$(echo "$m" | val exec_us)
	cli=$("$B/bench/bench-mediated" "$T/root/vm2" client "$mode" "$reps" "$op" "$@" | val median_us)
	python3 - "$op" "$mode" "$size" "$reps" "$nat" "$med" "$cli" "$ex" <<'PY' | tee -a "$OUTF"
import sys
op, mode, size, reps, nat, med, cli, ex = sys.argv[1:]
def f(x):
    try: return float(x)
    except ValueError: return float("nan")
n, m, c = f(nat), f(med), f(cli)
r1 = "%.3f" % (m / n) if n > 0 else "-"
r2 = "%.3f" % (c / n) if n > 0 else "-"
print("| %s | %s | %s | %s | %.0f | %.0f | %s | %+.0f | %.0f | %s | %s |" % (op, mode if op != "ping" else "-",
      size if op != "ping" else "-", reps, n, m, r1, m - n, c, r2, ex))
PY
}

row ping seed 300 1
for n in 65536 1048576 16777216 67108864; do row vadd seed 15 $n; done
for n in 1048576 67108864; do row saxpy seed 15 $n; done
for d in 512 2048 4096 8192; do row sgemm seed 8 $d $d $d; done
for n in 1048576 16777216; do row vadd input 8 $n; done
row sgemm input 5 2048 2048 2048
echo | tee -a "$OUTF"
# What pinning the job's host buffers buys: a mediator whose workers only fault them in
# (populate) or do neither (plain), for the rows where the copies dominate.
for mode in populate plain; do
	P=$(mktemp -d "$BASE/vgpu-bench-$mode-XXXXXX")
	VGPU_CUDA_HOSTMEM=$mode start_mediator "$P"
	for args in "vadd input 8 16777216"; do
		set -- $args
		m=$("$B/bench/bench-mediated" "$P/root/vm1" inotify "$2" "$3" "$1" "${@:4}")
		echo "hostmem=$mode: $1 $2 ${*:4}: mediated (inotify) median $(echo "$m" | val median_us) us, exec $(echo "$m" | val exec_us) us" | tee -a "$OUTF"
	done
	kill -TERM "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null
	rm -rf "$P"
done
echo | tee -a "$OUTF"
# The same ping with the directory and state on disk: every publish is fsync'ed.
start_mediator "$D"
p_disk=$("$B/bench/bench-mediated" "$D/root/vm1" inotify seed 200 ping 1 | val median_us)
echo "ping with the directory and the state on disk ($(df --output=fstype /tmp | tail -1), fsync per record): median ${p_disk} us" | tee -a "$OUTF"
echo "bench: $OUTF"

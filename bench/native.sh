#!/usr/bin/env bash
# native.sh - on a GPU host, the second part of `make bench` (bench/run.sh): each op natively (bench-native) and through vgpu-mediator
# --executor cuda on a local directory (bench-mediated), at several sizes; prints a
# markdown table (native vs mediated, and the ratio) and writes $BUILD/reports/bench.md.
# Times are medians of REPS repetitions after one warm-up, in microseconds, wall clock
# from the requester's side. docs/GPU.md explains what each column includes. The header
# names the date, the commit (VGPU_COMMIT; bench/common.sh), the GPU and nvcc's release.
set -u
# The main table on tmpfs (BENCH_DIR, default /dev/shm): the mediator's own cost, without
# the storage's fsync latency; a ping on disk (/tmp) afterwards shows that cost.
. "$(dirname "$0")/common.sh"
D=$(mktemp -d /tmp/vgpu-bench-disk-XXXXXX)
SCRATCH+=("$D")
OUTF=$R/bench.md

start_mediator() {   # TOP [LOG]: a cuda mediator serving TOP/root, ready when this returns
	mkdir -p "$1/root/vm1" "$1/root/vm2" "$1/state"
	"$B/vgpu-mediator" --root "$1/root" --state "$1/state" --executor cuda --log-level warn \
		--max-payload 4294967296 >> "${2:-$R/bench-mediator.log}" 2>&1 &
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
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ); commit $COMMIT; $(gpu_line);" \
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
echo "  (CRC fused into that write and that read, output buffer kept across repetitions), so the payload"
echo "  crosses the file protocol both ways. inotify: the requester waits on inotify for response.txt's rename"
echo "  (local directory); client: libvgpu-client's vgpu_client_call_into() with its default waiting policy,"
echo "  polling as a VM over NFS does (docs/CLIENT.md \"Waiting\": back to back for 1 ms, then max(0.25 ms, E/32), at most 100 ms)."
echo "- overhead: mediated (inotify) minus native; exec: the worker's exec_us (CUDA events around the GPU work)."
echo "- native (kept): bench-native with its device buffers allocated once before the loop (no cudaMalloc/cudaFree"
echo "  per repetition): what the worker's device-memory cache can reach at best."
echo
echo "| op | input | size | reps | native | native (kept) | mediated (inotify) | ratio | overhead | mediated (client) | ratio | exec |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} | tee "$OUTF"

row() {   # OP MODE REPS SIZE...   (mediator under $T)
	local op=$1 mode=$2 reps=$3; shift 3
	local nat kept med cli ex size nout
	size=$(echo "$*" | tr ' ' 'x')
	if [ "$op" = ping ]; then
		nat=0; kept=0
	else
		nout=$("$B/bench/bench-native" "$op" "$mode" "$reps" "$@")
		nat=$(echo "$nout" | val median_us); kept=$(echo "$nout" | val kept_median_us)
	fi
	local m; m=$("$B/bench/bench-mediated" "$T/root/vm1" inotify "$mode" "$reps" "$op" "$@")
	med=$(echo "$m" | val median_us); ex=$(echo "$m" | val exec_us)
	cli=$("$B/bench/bench-mediated" "$T/root/vm2" client "$mode" "$reps" "$op" "$@" | val median_us)
	python3 - "$op" "$mode" "$size" "$reps" "$nat" "$med" "$cli" "$ex" "$kept" <<'PY' | tee -a "$OUTF"
import sys
op, mode, size, reps, nat, med, cli, ex, kept = sys.argv[1:]
def f(x):
    try: return float(x)
    except ValueError: return float("nan")
n, m, c, k = f(nat), f(med), f(cli), f(kept)
r1 = "%.3f" % (m / n) if n > 0 else "-"
r2 = "%.3f" % (c / n) if n > 0 else "-"
print("| %s | %s | %s | %s | %.0f | %.0f | %.0f | %s | %+.0f | %.0f | %s | %s |" % (op, mode if op != "ping" else "-",
      size if op != "ping" else "-", reps, n, k, m, r1, m - n, c, r2, ex))
PY
}

row ping seed 300 1
for n in 65536 1048576 16777216 67108864; do row vadd seed 15 $n; done
for n in 1048576 67108864; do row saxpy seed 15 $n; done
for d in 512 2048 4096 8192; do row sgemm seed 8 $d $d $d; done
for n in 1048576 16777216; do row vadd input 8 $n; done
row sgemm input 5 2048 2048 2048
echo | tee -a "$OUTF"
# Where the mediated time goes: mediators whose workers print each job's phases
# (VGPU_CUDA_PHASES=1), with the device-memory cache (the default) and without it
# (VGPU_CUDA_CACHE_BYTES=0: cudaMalloc/cudaFree per job, as before the cache); then the
# payload rows with each way of meeting the job's host memory (VGPU_CUDA_HOSTMEM).
# bench/phases.py folds the workers' lines into medians per job kind.
phase_pass() {   # NAME ENV... -- ROWS ("op mode reps size..." each)
	local name=$1; shift
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	local P; P=$(mktemp -d "$BASE/vgpu-bench-$name-XXXXXX")
	local log=$R/phases-$name.log
	: > "$log"
	mkdir -p "$P/root/vm1" "$P/root/vm2" "$P/state"
	env VGPU_CUDA_PHASES=1 "${envs[@]}" "$B/vgpu-mediator" --root "$P/root" --state "$P/state" --executor cuda \
		--log-level warn --max-payload 4294967296 >> "$log" 2>&1 &
	local wp=$!
	PIDS+=("$wp")
	for _ in $(seq 1 60); do
		"$B/vgpu-client" --dir "$P/root/vm2" --timeout 2 ping > /dev/null 2>&1 && break
		sleep 0.5
	done
	for args in "$@"; do
		set -- $args
		m=$("$B/bench/bench-mediated" "$P/root/vm1" inotify "$2" "$3" "$1" "${@:4}")
		echo "$name $1 $2 $(echo "${@:4}" | tr ' ' 'x') median_us=$(echo "$m" | val median_us) exec_us=$(echo "$m" | val exec_us)" >> "$R/phases-medians.txt"
	done
	kill -TERM "$wp" 2>/dev/null; wait "$wp" 2>/dev/null
	rm -rf "$P"
}
: > "$R/phases-medians.txt"
SEEDROWS=("vadd seed 15 1048576" "vadd seed 15 67108864" "saxpy seed 15 67108864" "sgemm seed 8 2048 2048 2048"
	  "sgemm seed 8 4096 4096 4096" "sgemm seed 8 8192 8192 8192")
PAYROWS=("vadd input 8 1048576" "vadd input 8 16777216" "sgemm input 5 2048 2048 2048")
phase_pass cache -- "${SEEDROWS[@]}" "${PAYROWS[@]}"
phase_pass nocache VGPU_CUDA_CACHE_BYTES=0 -- "${SEEDROWS[@]}"
for mode in populate plain staging; do
	phase_pass "$mode" "VGPU_CUDA_HOSTMEM=$mode" -- "${PAYROWS[@]}"
done
python3 bench/phases.py "$R/phases-medians.txt" "$R"/phases-cache.log "$R"/phases-nocache.log \
	"$R"/phases-populate.log "$R"/phases-plain.log "$R"/phases-staging.log | tee -a "$OUTF"
echo | tee -a "$OUTF"
# The mediator's wait window off and on (bench/spin.sh).
BUILD=$B BENCH_DIR=$BASE bench/spin.sh | tee -a "$OUTF"
# The same ping with the directory and state on disk: every publish is fsync'ed.
start_mediator "$D"
p_disk=$("$B/bench/bench-mediated" "$D/root/vm1" inotify seed 200 ping 1 | val median_us)
echo "ping with the directory and the state on disk ($(df --output=fstype /tmp | tail -1), fsync per record): median ${p_disk} us" | tee -a "$OUTF"
echo "bench: $OUTF"

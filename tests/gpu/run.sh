#!/usr/bin/env bash
# run.sh - `make check-gpu`: every GPU check on a CUDA host, results as JSON.
#
# Runs after `make all` built with CUDA. Each step prints what it saw, records one row
# {id,title,backend,passed,evidence,...} in $BUILD/reports/gpu.json (folded into the
# harness report by tools/report.py) and keeps its log under $BUILD/reports/gpu/.
# Steps: sanity gate; the executor's unit tests; the backend vs the CPU reference on
# fresh random inputs; ERROR 5 for real (CUDA_VISIBLE_DEVICES=); ERROR 8 for real
# (watchdog, leak, crash) in the pool and through the mediator; Plan B with a real GPU
# worker mediator; the end-to-end test with EXECUTOR=cuda; compute-sanitizer.
# Exit 0 only when every step passed. docs/GPU.md describes each.
set -u
B=${BUILD:-build}
R=$B/reports
L=$R/gpu
mkdir -p "$L"
ROWS=$L/rows.jsonl
: > "$ROWS"
T=$(mktemp -d /tmp/vgpu-check-gpu-XXXXXX)
PIDS=()
FAILED=0
export VGPU_BUILD=$B
export PATH="$PATH:${CUDA_HOME:-/usr/local/cuda}/bin"

cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.5
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# record ID TITLE PASSED(0/1) EVIDENCE [REPRODUCED HANDLED INJECTIONS SUBMITTED ANSWERED]
record() {
	python3 - "$@" >> "$ROWS" <<'EOF'
import json, sys
a = sys.argv[1:] + [None] * 9
passed = a[2] == "1"
row = {"id": a[0], "title": a[1], "backend": "cuda", "passed": passed, "evidence": a[3],
       "reproduced": (a[4] or a[2]) == "1", "handled": (a[5] or a[2]) == "1",
       "injections": int(a[6] or 0),
       "requests": {"submitted": int(a[7] or 0), "answered": int(a[8] or 0), "lost": 0,
                    "duplicated": 0, "misrouted": 0, "corrupted": 0}, "seed": ""}
print(json.dumps(row))
EOF
	if [ "$3" = 1 ]; then echo "PASS  $1  $2"; else echo "FAIL  $1  $2"; FAILED=$((FAILED + 1)); fi
	echo "      $4"
}

# A mediator on ROOT in the background; its pid in $MPID, its log in $L/NAME.log.
start_mediator() {
	local name=$1 root=$2; shift 2
	mkdir -p "$root/vm1" "$root/vm2" "$root/vm3" "$T/state-$name"
	"$B/vgpu-mediator" --root "$root" --state "$T/state-$name" --log-level info "$@" > "$L/$name.log" 2>&1 &
	MPID=$!
	PIDS+=("$MPID")
}

client() { timeout 120 "$B/vgpu-client" --timeout 90 "$@"; }

wait_ready() {   # DIR: ping until answered (the executor may take seconds to start)
	for _ in $(seq 1 60); do
		client --dir "$1" --timeout 2 ping > "$T/ping.out" 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

field() { grep -o "$1=[^ ]*" | head -1 | cut -d= -f2; }
errtxt() { sed -n 's/.* op=[a-z]*: //p' "$1" | head -1 | cut -c1-110; }   # vgpu-client's error line

relerr() {   # GOT REF: max|got-ref|/max|ref| of two float32 files
	python3 - "$1" "$2" <<'EOF'
import sys, numpy as np
g = np.fromfile(sys.argv[1], dtype="<f4").astype(np.float64)
r = np.fromfile(sys.argv[2], dtype="<f4").astype(np.float64)
if g.shape != r.shape or not np.all(np.isfinite(g)):
    print("inf"); sys.exit()
print("%.3g" % (np.max(np.abs(g - r)) / max(np.max(np.abs(r)), 1e-38)))
EOF
}

echo "== check-gpu on $(hostname) $(date -u +%Y-%m-%dT%H:%M:%SZ)"
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$L/nvidia-smi.txt"
NVCC_VER=$(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' | head -1)
GPU=$(head -1 "$L/nvidia-smi.txt")

# --- 1. build and sanity gate ---------------------------------------------------------
"$B/vgpu-worker" --help 2>&1 | grep -q 'Backends built in:.*cuda' && nm "$B/cuda-sanity" | grep -q vgpu_cuda_vadd
record GPU-BUILD "built with CUDA (nvcc sm_90 + PTX, cudart, cuBLAS)" $([ $? = 0 ] && echo 1 || echo 0) \
	"nvcc $NVCC_VER; GPU $GPU"

"$B/cuda-sanity" > "$L/cuda-sanity.txt" 2>&1; rc=$?
record GPU-SANITY "cuda-sanity passes: device count, allocation, kernel, cuBLAS, copy back, compare" \
	$([ $rc = 0 ] && echo 1 || echo 0) "exit $rc; $(grep -E 'sgemm|PASS|FAIL' "$L/cuda-sanity.txt" | tr '\n' ' ')"

# --- 2. the executor's unit tests on the GPU host -----------------------------------------
ok=1; ev=""
for t in test_op test_opref test_arena test_pool test_remote test_cuda_cpu test_cuda_kernel_cpu test_cuda_kernel_fake; do
	timeout 300 "$B/tests/$t" > "$L/$t.log" 2>&1; rc=$?
	ev="$ev $t: $(grep -o '[0-9]*%: Checks: [0-9]*, Failures: [0-9]*, Errors: [0-9]*' "$L/$t.log" | tail -1);"
	[ $rc = 0 ] || ok=0
done
record GPU-UNIT "the executor's unit tests on the GPU host" $ok "$ev"

# --- 3. the CUDA backend against the CPU reference --------------------------------------
timeout 600 "$B/tests/gpu/test_gpu_exec" > "$L/test_gpu_exec.log" 2>&1; rc=$?
seed=$(grep -o 'VGPU_TEST_SEED=[0-9]*' "$L/test_gpu_exec.log" | head -1)
maxerr() { grep -E "^  $1 " "$L/test_gpu_exec.log" | grep -o ': rel err [0-9.e+-]*' | awk '{print $4}' | sort -g | tail -1; }
# the device summaries: of the copied-back output, and summary-only vs the CPU reference
maxsum() { grep -E "^  $1 " "$L/test_gpu_exec.log" | grep -o "$2 [0-9.e+-]*" | awk '{print $NF}' | sort -g | tail -1; }
record GPU-REF "vadd, saxpy, sgemm on the GPU vs the CPU reference, fresh random and generated inputs; device summaries vs the CPU's" \
	$([ $rc = 0 ] && echo 1 || echo 0) \
	"$seed; max rel err vadd $(maxerr vadd), saxpy $(maxerr saxpy) (limit 1e-5), sgemm $(maxerr sgemm) (limit 1e-4, TF32 off); device summary (sum, l2) vs CPU summary of the same output: max rel err vadd $(maxsum vadd 'summary rel err'), saxpy $(maxsum saxpy 'summary rel err'), sgemm $(maxsum sgemm 'summary rel err') (limit 1e-6, first exact); summary only (no copy back) vs CPU reference: vadd $(maxsum vadd 'vs output, [0-9.e+-]*'), saxpy $(maxsum saxpy 'vs output, [0-9.e+-]*') (limit 1e-6, first exact), sgemm $(maxsum sgemm 'vs output, [0-9.e+-]*') (limit 1e-4); $(grep -o '[0-9]*%: Checks.*' "$L/test_gpu_exec.log")"

# --- 4. ERROR 8 in the pool: watchdog, leak, escape, crash ---------------------------------
timeout 600 "$B/tests/gpu/test_gpu_pool" > "$L/test_gpu_pool.log" 2>&1; rc=$?
record GPU-POOL "pool over the cuda backend: spin past limit, leak, escape, crash; next job correct" \
	$([ $rc = 0 ] && echo 1 || echo 0) \
	"$(grep -E '^  (spin|leak|escape|crash)' "$L/test_gpu_pool.log" | tr '\n' ' ')$(grep -o '[0-9]*%: Checks.*' "$L/test_gpu_pool.log")" \
	"" "" 4

# --- 5. ERROR 5 for real: no device visible -----------------------------------------------
CUDA_VISIBLE_DEVICES='' "$B/cuda-sanity" > "$L/err05-sanity.txt" 2>&1; s_rc=$?
mkdir -p "$T/e5a/vm1" "$T/state-e5a"
( export CUDA_VISIBLE_DEVICES=''; exec timeout 90 "$B/vgpu-mediator" --root "$T/e5a" --state "$T/state-e5a" \
	--executor auto ) > "$L/err05-refuse.log" 2>&1; r_rc=$?
( export CUDA_VISIBLE_DEVICES=''; start_mediator e5-mock "$T/e5b" --executor auto --fallback mock --test-ops
  echo "$MPID" > "$T/e5b.pid"; wait_ready "$T/e5b/vm1"; client --dir "$T/e5b/vm1" ping > "$T/e5b.out" 2>&1
  kill -TERM "$MPID"; wait "$MPID" )
m_exec=$(field executor < "$T/e5b.out")
start_mediator e5-cuda "$T/e5c" --executor auto
wait_ready "$T/e5c/vm1"; client --dir "$T/e5c/vm1" ping > "$T/e5c.out" 2>&1
c_exec=$(field executor < "$T/e5c.out")
kill -TERM "$MPID"; wait "$MPID" 2>/dev/null
ok=0
grep -q cudaErrorNoDevice "$L/err05-sanity.txt" && [ $s_rc = 3 ] && [ $r_rc = 4 ] && grep -q refusing "$L/err05-refuse.log" \
	&& [ "$m_exec" = mock ] && [ "${c_exec%%:*}" = cuda ] && ok=1
record ERR05 "ERROR 5 on a GPU host: CUDA_VISIBLE_DEVICES= -> no device -> sanity gate and fallback" $ok \
	"cuda-sanity exit $s_rc: $(head -1 "$L/err05-sanity.txt"); auto without fallback: exit $r_rc: $(grep -o 'refusing.*' "$L/err05-refuse.log" | head -1 | cut -c1-120); auto --fallback mock: executor=$m_exec ($(grep -o 'executor auto:.*' "$L/e5-mock.log" | head -1 | cut -c1-160)); devices visible: auto -> executor=$c_exec" \
	$([ $s_rc = 3 ] && echo 1 || echo 0) $ok 2 2 $([ -n "$m_exec" ] && echo 2 || echo 0)

# --- 6. ERROR 8 through the mediator, outputs compared with the mock's ----------------------
start_mediator e8-mock "$T/ref" --executor mock
REFPID=$MPID
start_mediator e8-cuda "$T/e8" --executor cuda --test-ops --job-ms 2000
wait_ready "$T/e8/vm1" && wait_ready "$T/ref/vm1"
C="$T/e8/vm1"; M="$T/ref/vm1"
t0=$(date +%s%N)
client --dir "$C" spin 20000 > "$T/spin.out" 2>&1
spin_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
client --dir "$C" vadd 3000001 --seed 7 --out "$T/v.gpu" > "$T/v.out" 2>&1; v_rc=$?
client --dir "$M" vadd 3000001 --seed 7 --out "$T/v.ref" > /dev/null 2>&1
# summary only (`output summary`, the default for a seed): reduced on the GPU, no copy back
client --dir "$C" vadd 3000001 --seed 7 > "$T/vs.out" 2>&1
client --dir "$M" vadd 3000001 --seed 7 > "$T/vs.ref" 2>&1
client --dir "$C" leak 1073741824 > "$T/leak.out" 2>&1
client --dir "$C" saxpy 3000001 0.75 --seed 8 --out "$T/s.gpu" > "$T/s.out" 2>&1; s_rc=$?
client --dir "$M" saxpy 3000001 0.75 --seed 8 --out "$T/s.ref" > /dev/null 2>&1
client --dir "$C" crash > "$T/crash.out" 2>&1
client --dir "$C" sgemm 300 200 700 --seed 9 --out "$T/g.gpu" > "$T/g.out" 2>&1; g_rc=$?
client --dir "$M" sgemm 300 200 700 --seed 9 --out "$T/g.ref" > /dev/null 2>&1
kill -TERM "$MPID"; wait "$MPID" 2>/dev/null
st() { field status < "$1"; }
v_err=$(relerr "$T/v.gpu" "$T/v.ref"); s_err=$(relerr "$T/s.gpu" "$T/s.ref"); g_err=$(relerr "$T/g.gpu" "$T/g.ref")
# the GPU's summary-only answer vs the mock's (CPU): same count and first; sum relative to
# sqrt(n)*l2 (an upper bound of sum|x|) and l2 relative, both within 1e-6
vs_err=$(python3 - "$T/vs.out" "$T/vs.ref" <<'EOF'
import re, sys
def summ(p):
    t = open(p).read()
    m = re.search(r"result=count=(\d+) sum=(\S+) l2=(\S+) first=(\S+)", t)
    return (int(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4))) if m else None
g, r = summ(sys.argv[1]), summ(sys.argv[2])
if not g or not r or g[0] != r[0] or g[3] != r[3]:
    print("inf")
else:
    print("%.3g" % max(abs(g[1] - r[1]) / r[2] / r[0] ** 0.5, abs(g[2] - r[2]) / r[2]))
EOF
)
ok=0
[ "$(st "$T/spin.out")" = TIMEOUT ] && [ "$(st "$T/leak.out")" = LEAKED ] && [ "$(st "$T/crash.out")" = EXEC_FAILED ] \
	&& [ $v_rc = 0 ] && [ $s_rc = 0 ] && [ $g_rc = 0 ] \
	&& python3 -c "import sys; sys.exit(0 if float('$v_err') < 1e-5 and float('$s_err') < 1e-5 and float('$g_err') < 1e-4 and float('$vs_err') < 1e-6 else 1)" \
	&& ok=1
record ERR08 "ERROR 8 on the GPU: spin past its limit -> watchdog kill+restart; leak -> reclaimed; crash; next jobs correct" $ok \
	"spin 20 s, limit 2 s: $(st "$T/spin.out") after ${spin_ms} ms ($(errtxt "$T/spin.out")); next vadd rel err $v_err; vadd summary only vs mock: $(st "$T/vs.out"), rel err $vs_err; leak 1 GiB: $(st "$T/leak.out") ($(errtxt "$T/leak.out")); next saxpy rel err $s_err; crash: $(st "$T/crash.out") ($(errtxt "$T/crash.out")); next sgemm rel err $g_err" \
	$ok $ok 3 8 8

# --- 7. Plan B with a real GPU worker mediator --------------------------------------------
start_mediator pb-worker "$T/w" --executor cuda --test-ops
WPID=$MPID
wait_ready "$T/w/vm2"
start_mediator pb-dom0 "$T/d" --executor "remote:$T/w/vm1" --remote-timeout-ms 1500 --job-ms 3000
DPID=$MPID
wait_ready "$T/d/vm3"
python3 -c "import numpy as np; np.random.default_rng().uniform(-1,1,2*1000003).astype('<f4').tofile('$T/pb.in')"
client --dir "$T/d/vm3" vadd 1000003 --in "$T/pb.in" --out "$T/pb.out" > "$T/pb1.out" 2>&1; p_rc=$?
pb_err=$(python3 -c "
import numpy as np
a = np.fromfile('$T/pb.in', dtype='<f4'); c = np.fromfile('$T/pb.out', dtype='<f4')
r = a[:1000003] + a[1000003:]
print('%.3g' % (np.max(np.abs(c - r)) / np.max(np.abs(r))) if c.shape == r.shape else 'inf')" 2>/dev/null)
client --dir "$T/d/vm3" sgemm 128 128 128 --seed 3 > "$T/pb2.out" 2>&1
kill -TERM "$WPID"; wait "$WPID" 2>/dev/null
t0=$(date +%s%N)
client --dir "$T/d/vm3" vadd 1000 --seed 1 > "$T/pb3.out" 2>&1
down_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -TERM "$DPID"; wait "$DPID" 2>/dev/null
( export CUDA_VISIBLE_DEVICES=''; start_mediator pb-auto "$T/d2" --executor auto --fallback "remote:$T/w/vm1"
  sleep 3; kill -TERM "$MPID"; wait "$MPID" )
ok=0
[ $p_rc = 0 ] && [ "$(field executor < "$T/pb1.out")" = remote ] && [ "$(st "$T/pb2.out")" = OK ] \
	&& [ "$(st "$T/pb3.out")" = UNAVAILABLE ] && grep -q "remote" "$L/pb-auto.log" \
	&& python3 -c "import sys; sys.exit(0 if float('$pb_err') < 1e-6 else 1)" && ok=1
record GPU-PLANB "Plan B: --executor remote:DIR forwards to a GPU worker VM's mediator; a dead worker is detected" $ok \
	"vadd payload via remote: status $(st "$T/pb1.out"), executor=$(field executor < "$T/pb1.out"), rel err $pb_err; sgemm via remote: $(st "$T/pb2.out"); worker stopped: $(st "$T/pb3.out") after ${down_ms} ms; auto with no device + --fallback remote: $(grep -o 'executor auto:.*' "$L/pb-auto.log" | head -1 | cut -c1-140)"

kill -TERM "$REFPID" 2>/dev/null; wait "$REFPID" 2>/dev/null

# --- 8. the end-to-end test with the CUDA executor ----------------------------------------
if [ -x "$B/tests/e2e/test_e2e" ]; then
	EXECUTOR=cuda timeout 600 "$B/tests/e2e/test_e2e" > "$L/test_e2e.log" 2>&1; rc=$?
	record GPU-E2E "the end-to-end test of make check with --executor cuda" $([ $rc = 0 ] && echo 1 || echo 0) \
		"$(grep -o '[0-9]*%: Checks.*' "$L/test_e2e.log" | tail -1); $(grep -iE 'accounted|lost|submitted' "$L/test_e2e.log" | head -2 | tr '\n' ' ' | cut -c1-200)"
else
	record GPU-E2E "the end-to-end test of make check with --executor cuda" 0 "tests/e2e/test_e2e not built"
fi

# --- 9. compute-sanitizer on the executor's GPU tests -------------------------------------
if command -v compute-sanitizer > /dev/null; then
	CK_FORK=no VGPU_GPU_SMALL=1 timeout 600 compute-sanitizer --tool memcheck --report-api-errors no \
		--error-exitcode 1 "$B/tests/gpu/test_gpu_exec" > "$L/sanitizer-memcheck.log" 2>&1; rc=$?
	record GPU-SANITIZER "compute-sanitizer memcheck on the CUDA backend's tests" $([ $rc = 0 ] && echo 1 || echo 0) \
		"exit $rc; $(grep -o 'ERROR SUMMARY: .*' "$L/sanitizer-memcheck.log" | tail -1); $(grep -o '[0-9]*%: Checks.*' "$L/sanitizer-memcheck.log")"
else
	record GPU-SANITIZER "compute-sanitizer memcheck on the CUDA backend's tests" 0 "compute-sanitizer not found"
fi

# --- 10. the kernel op: the VM's own PTX (tests/gpu/kernel.sh, docs/KERNELS.md) -------------
ROWS=$ROWS L=$L BUILD=$B timeout 900 tests/gpu/kernel.sh > "$L/kernel.log" 2>&1; kf=$?
grep -E '^(PASS|FAIL) |^      ' "$L/kernel.log"
[ $kf = 0 ] || { FAILED=$((FAILED + kf)); echo "FAIL  kernel.sh exit $kf (log $L/kernel.log)"; }

python3 - "$ROWS" "$R/gpu.json" "$GPU" "$NVCC_VER" <<'EOF'
import json, sys, time
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
out = {"generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "gpu": sys.argv[3],
       "nvcc": sys.argv[4], "scenarios": rows}
json.dump(out, open(sys.argv[2], "w"), indent=2)
EOF
echo "== check-gpu: $(grep -c '"passed": true' "$ROWS") passed, $FAILED failed; $R/gpu.json"
[ $FAILED = 0 ]

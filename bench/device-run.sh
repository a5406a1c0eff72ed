#!/usr/bin/env bash
# device-run.sh - everything one lent-GPU call does, in the repository root there:
# deps (.devdeps, carried), build, `make check-gpu`, `make bench` (project vs floor with
# the cuda executor, the scaling table, the kernel op's overhead, then native vs mediated
# with the workers' phase lines), then, when the time left allows, check-gpu again in a
# --coverage build; copies of the reports under $OUT. docs/GPU.md "Running it on the
# lent H200".
#   carry [".devdeps"]; command: VGPU_COMMIT=$(git rev-parse --short HEAD) bash bench/device-run.sh
# (the commit as this side knows it: the copied tree's .git can be stale).
# Time: DEVICE_BUDGET_S (default 540) bounds the whole call below the 600 s a command
# may run: make bench gets what check-gpu left (at most 360 s, under timeout), and the
# coverage pass runs only when 240 s or more are left, under timeout too
# (VGPU_DEVICE_COVERAGE=0 skips it).
set -uo pipefail
OUT=${OUT:-/tmp/vgpu-out}
mkdir -p "$OUT"
B=build/dev
BUDGET=${DEVICE_BUDGET_S:-540}
T_START=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - T_START) )); }
if [ -n "${VGPU_COMMIT:-}" ]; then
	echo "device-run: commit $VGPU_COMMIT (VGPU_COMMIT)"
else
	VGPU_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo '?') (from .git, may be stale: pass VGPU_COMMIT)"
	echo "device-run: commit $VGPU_COMMIT"
fi
export VGPU_COMMIT
. .devdeps/activate
export VGPU_NO_DEPS=1 PATH=/usr/local/cuda/bin:$PATH
. bench/devenv.sh
echo "device-run: pkg-config libisal: $(pkg-config --libs libisal 2>&1) (exists: $(pkg-config --exists libisal && echo yes || echo no))"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader
t0=$(date +%s)
make BUILD=$B -j16 all > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
grep -q -- "-DVGPU_HAVE_ISAL" "$OUT/build.log" && echo "device-run: built with ISA-L" || echo "device-run: built WITHOUT ISA-L"
t1=$(date +%s)
make BUILD=$B check-gpu 2>&1 | tee "$OUT/check-gpu.txt"
cg=${PIPESTATUS[0]}
t2=$(date +%s)
echo "check-gpu rc=$cg in $((t2 - t1)) s (build $((t1 - t0)) s)" | tee -a "$OUT/check-gpu.txt"
cp "$B/reports/gpu.json" "$OUT/gpu.json" 2>/dev/null
bt=$(left); [ "$bt" -gt 360 ] && bt=360; [ "$bt" -lt 60 ] && bt=60
timeout -k 10 "$bt" make -j"$(nproc)" BUILD=$B bench > "$OUT/bench.log" 2>&1
bc=$?
t3=$(date +%s)
echo "bench rc=$bc in $((t3 - t2)) s (limit $bt s$([ $bc = 124 ] && echo ': TIMED OUT, bench.txt is partial'))"
cp "$B/reports/bench.md" "$B/reports/bench.txt" "$B/reports/bench-floor-phases.txt" "$B/reports/bench-scale.txt" "$OUT/" 2>/dev/null
# The GPU-only files' coverage (docs/GPU.md): check-gpu again in a --coverage build,
# when the time left allows.
C=build/gcov
if [ "${VGPU_DEVICE_COVERAGE:-1}" = 0 ] || [ "$(left)" -lt 240 ]; then
	echo "device-run: coverage pass skipped ($([ "${VGPU_DEVICE_COVERAGE:-1}" = 0 ] && echo VGPU_DEVICE_COVERAGE=0 || echo "$(left) s left of DEVICE_BUDGET_S=$BUDGET, it needs about 240"))" | tee "$OUT/gpu-coverage.txt"
elif make BUILD=$C OPT=-O0 PROF=--coverage -j16 all > "$OUT/gcov-build.log" 2>&1; then
	timeout -k 10 "$(( $(left) > 30 ? $(left) : 30 ))" make BUILD=$C OPT=-O0 PROF=--coverage check-gpu > "$OUT/gcov-check-gpu.txt" 2>&1
	echo "coverage check-gpu rc=$?" >> "$OUT/gcov-check-gpu.txt"
	# gcov of the compiler that built the objects, file by file (lcov 1.16 cannot read
	# gcc 13's gzipped JSON), summed into one figure for the GPU-only files
	g=$(dirname "$(command -v "${CC:-gcc}")")/gcov; [ -x "$g" ] || g=gcov
	for f in src/exec/backend_cuda*.c src/exec/cuda_*.c src/cmd/cuda-sanity.c; do
		"$g" -n -o "$C/$(dirname "$f")" "$f" 2>/dev/null | awk -v f="$f" '
			$0 ~ "^File .*"f"'"'"'" { on = 1; next }
			on && /^Lines executed:/ { split($2, a, ":"); sub("%", "", a[2]); print f, a[2], $4; exit }'
	done > "$C/gpu-coverage.raw"
	awk '{ hit += $2 * $3 / 100; all += $3; printf "  %-32s %6.2f%% of %d lines\n", $1, $2, $3 }
		END { if (all) printf "GPU-only files (check-gpu, --coverage build): %.1f%% of %d lines\n", 100 * hit / all, all }' \
		"$C/gpu-coverage.raw" | tee "$OUT/gpu-coverage.txt"
else
	echo "device-run: the coverage build failed"; tail -20 "$OUT/gcov-build.log"
fi
tar czf "$OUT/logs.tgz" -C "$B/reports" . 2>/dev/null
cat "$OUT/bench.txt" 2>/dev/null || tail -30 "$OUT/bench.log"
echo "device-run: $(( $(date +%s) - T_START )) s in all"
exit $(( cg != 0 || bc != 0 ))

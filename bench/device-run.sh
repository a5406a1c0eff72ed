#!/usr/bin/env bash
# device-run.sh - everything one lent-GPU call does, in the repository root there:
# deps (.devdeps, carried), build, `make check-gpu`, `make bench` (project vs floor with
# the cuda executor, then native vs mediated with the workers' phase lines), copies of the reports under $OUT. docs/GPU.md "Running it on the lent H200".
#   carry [".devdeps"]; command: bash bench/device-run.sh
set -uo pipefail
OUT=${OUT:-/tmp/vgpu-out}
mkdir -p "$OUT"
B=build/dev
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
make BUILD=$B bench > "$OUT/bench.log" 2>&1
bc=$?
t3=$(date +%s)
echo "bench rc=$bc in $((t3 - t2)) s"
cp "$B/reports/bench.md" "$B/reports/bench.txt" "$B/reports/bench-floor-phases.txt" "$OUT/" 2>/dev/null
# The GPU-only files' coverage (docs/GPU.md): check-gpu again in a --coverage build.
C=build/gcov
if make BUILD=$C OPT=-O0 PROF=--coverage -j16 all > "$OUT/gcov-build.log" 2>&1; then
	make BUILD=$C OPT=-O0 PROF=--coverage check-gpu > "$OUT/gcov-check-gpu.txt" 2>&1
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
exit $(( cg != 0 || bc != 0 ))

#!/usr/bin/env bash
# device-run.sh - everything one lent-GPU call does, in the repository root there:
# deps (.devdeps, carried), build, `make check-gpu`, `make bench` (with the workers'
# phase lines), copies of the reports under $OUT. docs/GPU.md "Running it on the lent H200".
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
cp "$B/reports/bench.md" "$OUT/bench.md" 2>/dev/null
tar czf "$OUT/logs.tgz" -C "$B/reports" . 2>/dev/null
tail -45 "$OUT/bench.md" 2>/dev/null || tail -30 "$OUT/bench.log"
exit $(( cg != 0 || bc != 0 ))

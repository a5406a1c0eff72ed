#!/usr/bin/env bash
# multi-gpu.sh - on a host with several GPUs: one worker per visible GPU, all fed from
# the one queue. Builds, asks the worker for the device count, runs the end-to-end test
# with --executor cuda expecting that many workers used, then `make demo` on the GPUs.
#   carry [".devdeps"]; command: bash tests/gpu/multi-gpu.sh     (results under $OUT)
set -uo pipefail
OUT=${OUT:-/tmp/vgpu-out}
mkdir -p "$OUT"
B=build/dev
. .devdeps/activate
export VGPU_NO_DEPS=1 PATH=/usr/local/cuda/bin:$PATH
. bench/devenv.sh
nvidia-smi -L | tee "$OUT/gpus.txt"
make BUILD=$B -j"$(nproc)" all > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
n=$("$B/vgpu-worker" --backend cuda --count)
echo "vgpu-worker --backend cuda --count: $n" | tee -a "$OUT/gpus.txt"
E2E_BACKENDS=local EXECUTOR=cuda VGPU_EXPECT_WORKERS=$n make BUILD=$B check-e2e 2>&1 | tee "$OUT/e2e.txt"
e2e=${PIPESTATUS[0]}
EXECUTOR=auto make BUILD=$B demo 2>&1 | tee "$OUT/demo.txt"
demo=${PIPESTATUS[0]}
echo "multi-gpu: devices=$n e2e rc=$e2e demo rc=$demo" | tee -a "$OUT/gpus.txt"
exit $(( e2e != 0 || demo != 0 ))

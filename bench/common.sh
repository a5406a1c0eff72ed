# common.sh - what bench/run.sh and bench/native.sh share; sourced, after `set -u`.
# Sets B (the build directory: $BUILD, default build), R (the reports directory:
# $BENCH_REPORTS, default B's reports; made),
# BASE (the benchmark's directory: $BENCH_DIR, default /dev/shm, else /tmp), T (a
# scratch directory in BASE), PIDS (the mediators started) and SCRATCH (directories to
# remove; T first): on exit every PIDS is stopped and every SCRATCH removed. COMMIT: the
# commit the reports name ($VGPU_COMMIT; default git rev-parse, which a copied tree's
# stale .git can get wrong). gpu_line: the first GPU's name and driver (nvidia-smi).
B=${BUILD:-build}
R=${BENCH_REPORTS:-$B/reports}
mkdir -p "$R"
BASE=${BENCH_DIR:-/dev/shm}
[ -d "$BASE" ] || BASE=/tmp
T=$(mktemp -d "$BASE/vgpu-bench-XXXXXX")
SCRATCH=("$T")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM $p 2>/dev/null; wait $p 2>/dev/null; done; rm -rf "${SCRATCH[@]}"' EXIT
COMMIT=${VGPU_COMMIT:-}
[ -n "$COMMIT" ] || COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo '?') (from .git)"
gpu_line() { nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1; }

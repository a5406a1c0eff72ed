#!/usr/bin/env python3
"""coverage_gate.py - the coverage gates of `make coverage`, from lcov's tracefile.

Groups (the GPU-only files are covered on a GPU host by `make check-gpu`, not here):
  src (no GPU)        every src/ file but the CUDA backend's  >= 92% lines, >= 80% branches
  src/mediator        >= 90% lines
  src/exec (no GPU)   >= 90% lines
Prints one line per group and per file under 80% lines; exits 1 when a gate fails."""
import re
import sys

GPU_ONLY = re.compile(r"src/exec/(backend_cuda[^/]*|cuda_[^/]*)\.(c|h|cu)$|src/cmd/cuda-sanity\.c$")
GATES = [
    ("src (no GPU)", lambda f: "/src/" in f and not GPU_ONLY.search(f), 92.0, 80.0),
    ("src/mediator", lambda f: "/src/mediator/" in f, 90.0, None),
    ("src/exec (no GPU)", lambda f: "/src/exec/" in f and not GPU_ONLY.search(f), 90.0, None),
]


def parse(path):
    files, cur = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("SF:"):
                cur = files.setdefault(line[3:], {"lf": 0, "lh": 0, "brf": 0, "brh": 0})
            elif cur is not None and ":" in line:
                k, v = line.split(":", 1)
                k = k.lower()
                if k in cur:
                    cur[k] += int(v)
    return files


def pct(hit, found):
    return 100.0 * hit / found if found else 100.0


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "coverage/lcov.info"
    files = parse(path)
    if not files:
        print(f"coverage gate: no data in {path}")
        return 1
    ok = True
    for name, match, min_lines, min_branches in GATES:
        sel = [v for f, v in files.items() if match(f)]
        lf, lh = sum(v["lf"] for v in sel), sum(v["lh"] for v in sel)
        bf, bh = sum(v["brf"] for v in sel), sum(v["brh"] for v in sel)
        lp, bp = pct(lh, lf), pct(bh, bf)
        good = lp >= min_lines and (min_branches is None or bp >= min_branches)
        ok = ok and good
        want = f">= {min_lines:g}% lines" + (f", >= {min_branches:g}% branches" if min_branches else "")
        print(f"coverage gate: {name:18s} {lp:5.1f}% lines ({lh}/{lf}), {bp:5.1f}% branches ({bh}/{bf}); "
              f"want {want}: {'ok' if good else 'FAIL'}")
    low = sorted((pct(v["lh"], v["lf"]), f) for f, v in files.items()
                 if not GPU_ONLY.search(f) and pct(v["lh"], v["lf"]) < 80.0)
    for p, f in low:
        print(f"  under 80% lines: {f[f.find('src/'):]} {p:.1f}%")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

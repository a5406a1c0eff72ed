#!/usr/bin/env python3
"""phases.py - fold the cuda backend's per-job phase lines (VGPU_CUDA_PHASES=1, one
"vgpu-cuda-phases: key=value ..." line per job on the worker's stderr) into a markdown
table of medians per configuration and job kind, next to the requester's median.

  phases.py MEDIANS LOG...   LOG named phases-CONFIG.log; MEDIANS lines:
                             "CONFIG OP MODE SIZE median_us=X exec_us=Y" (bench/run.sh)

Host-clock phases (us): meminfo0/meminfo1 the two cudaMemGetInfo calls; alloc the
job's arena allocations (cache hits/misses per job); prep pinning or faulting the job's
host memory; enqueue issuing the work (with staging: the host's chunk loops); wait the
event synchronisation; unprep unpinning; free returning the blocks (and reclaim); run the
whole of run(). Device phases from events: gen/H2D, compute, summary, D2H. outside: the
requester's median minus run_us (file protocol, queue, socket, worker's mmap).
"""
import os
import re
import statistics
import sys

FIELDS = ["run_us", "meminfo0_us", "alloc_us", "prep_us", "enqueue_us", "wait_us", "gen_in_us",
          "compute_us", "summary_us", "d2h_us", "unprep_us", "free_us", "meminfo1_us"]


def size_of(kv):
    if kv["op"] == "sgemm":
        return "%sx%sx%s" % (kv["m"], kv["n"], kv["k"])
    return kv["n"]


def main():
    medians = {}
    for line in open(sys.argv[1]):
        p = line.split()
        if len(p) < 5:
            continue
        kv = dict(x.split("=", 1) for x in p[4:] if "=" in x)
        medians[(p[0], p[1], "seed" if p[2] == "seed" else "payload", p[3])] = kv.get("median_us", "")
    print("Phases per job (VGPU_CUDA_PHASES=1), medians in microseconds over the warm-up and every repetition;")
    print("config: cache = the default (device-memory cache on, host memory registered); nocache =")
    print("VGPU_CUDA_CACHE_BYTES=0 (cudaMalloc/cudaFree per job, the behaviour before the cache); populate, plain,")
    print("staging = VGPU_CUDA_HOSTMEM. mediated: the requester's median (inotify) with phases on; outside = mediated - run.")
    print()
    print("| config | op | input | size | mediated | run | meminfo0 | alloc | hits/misses | prep | enqueue | wait "
          "| gen/H2D (dev) | compute (dev) | summary (dev) | D2H (dev) | unprep | free | meminfo1 | outside |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: | ---: | ---: | ---: |")
    for path in sys.argv[2:]:
        if not os.path.exists(path):
            continue
        cfg = re.sub(r"^phases-|\.log$", "", os.path.basename(path))
        rows = {}
        order = []
        for line in open(path, errors="replace"):
            i = line.find("vgpu-cuda-phases:")
            if i < 0:
                continue
            kv = dict(x.split("=", 1) for x in line[i:].split()[1:] if "=" in x)
            key = (kv.get("op"), kv.get("input"), size_of(kv))
            if key not in rows:
                rows[key] = []
                order.append(key)
            rows[key].append(kv)
        for key in order:
            js = rows[key]
            med = {f: statistics.median(float(j.get(f, "nan")) for j in js) for f in FIELDS}
            hits = statistics.median(int(j.get("hits", 0)) for j in js)
            miss = statistics.median(int(j.get("misses", 0)) for j in js)
            m = medians.get((cfg, key[0], key[1], key[2]), "")
            try:
                outside = "%.0f" % (float(m) - med["run_us"])
            except ValueError:
                outside = "-"
            cells = [cfg, key[0], key[1], key[2], m.split(".")[0] if m else "-"]
            cells += ["%.0f" % med[f] for f in FIELDS[:3]] + ["%g/%g" % (hits, miss)]
            cells += ["%.0f" % med[f] for f in FIELDS[3:]] + [outside]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

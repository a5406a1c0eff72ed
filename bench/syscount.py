#!/usr/bin/env python3
"""syscount.py - syscalls per ping from `strace -f -o` logs (bench/syscalls.sh).

  syscount.py N1 N2 NAME:ROLE:LOG1:LOG2 ...
Each LOG is one traced run; LOG1 did N1 pings, LOG2 N2: per ping = (count2 - count1) /
(N2 - N1), so start-up and exit cancel out. ROLE: all (every process in the log), first
(the first process only: bench-floor's requester), rest (every other process: its
responder). Prints a markdown table, one column per NAME, one row per syscall."""
import re
import sys
from collections import Counter

LINE = re.compile(r"^(\d+)\s+([a-z0-9_]+)\(")


def count(path, role):
    c, first = Counter(), None
    for line in open(path, errors="replace"):
        m = LINE.match(line)
        if not m:
            continue   # "<... resumed>", signals, exits
        pid = m.group(1)
        if first is None:
            first = pid
        if role == "all" or (role == "first") == (pid == first):
            c[m.group(2)] += 1
    return c


def main():
    n1, n2 = int(sys.argv[1]), int(sys.argv[2])
    cols, names = [], []
    for spec in sys.argv[3:]:
        name, role, l1, l2 = spec.split(":")
        a, b = count(l1, role), count(l2, role)
        cols.append({k: (b[k] - a[k]) / (n2 - n1) for k in set(a) | set(b)})
        names.append(name)
    calls = sorted({k for col in cols for k, v in col.items() if abs(v) >= 0.05},
                   key=lambda k: -max(col.get(k, 0) for col in cols))
    print("| syscall | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for k in calls:
        print("| %s | " % k + " | ".join("%.1f" % col.get(k, 0) for col in cols) + " |")
    print("| **total** | " + " | ".join("**%.1f**" % sum(col.values()) for col in cols) + " |")


if __name__ == "__main__":
    main()

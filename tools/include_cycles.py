#!/usr/bin/env python3
"""include_cycles.py - fail when files under src/ include each other in a circle.

    tools/include_cycles.py [--src DIR] [--link BUILD]

Reads every #include "..." of src/**/*.{c,h,cu} (resolved like the compiler does here:
next to the including file, then -Isrc), prints each circle of includes it finds and
exits 1; exits 0 and prints "no include cycles" otherwise.

--link BUILD also checks the circle the include graph cannot see: a header that
declares functions defined in several .c files (intake.c uses mediator.c's clock,
mediator.c uses intake.c's job destructor). With nm(1) it links each src object in
BUILD (the Makefile's build directory) to the objects defining what it uses, and
reports circles among those objects within one directory of src/.
"""
import argparse
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(src):
    for dirpath, _, names in os.walk(src):
        for n in names:
            if n.endswith((".c", ".h", ".cu")):
                yield os.path.normpath(os.path.join(dirpath, n))


def include_graph(src):
    graph = {}
    for path in sources(src):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        deps = set()
        for inc in INCLUDE.findall(text):
            for base in (os.path.dirname(path), src):
                cand = os.path.normpath(os.path.join(base, inc))
                if os.path.isfile(cand):
                    deps.add(cand)
                    break
        graph[path] = deps
    return graph


def cycles(graph):
    """Strongly connected components with more than one node, or a self-loop (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def link_graph(src, build):
    objs = {}
    for dirpath, _, names in os.walk(os.path.join(build, src)):
        for n in names:
            if n.endswith(".o") and not n.endswith(".cu.o"):
                objs[os.path.relpath(os.path.join(dirpath, n), build)[:-2] + ".c"] = os.path.join(dirpath, n)
    defined, undefined = {}, {}
    for name, path in objs.items():
        res = subprocess.run(["nm", "-P", path], capture_output=True, text=True, check=True)
        undefined[name] = set()
        for line in res.stdout.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            sym, kind = parts[0], parts[1]
            if kind == "U":
                undefined[name].add(sym)
            elif kind in "TDBR":
                defined.setdefault(sym, name)
    graph = {}
    for name, syms in undefined.items():
        graph[name] = {defined[s] for s in syms if s in defined and defined[s] != name
                       and os.path.dirname(defined[s]) == os.path.dirname(name)}
    return graph


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default="src")
    ap.add_argument("--link", metavar="BUILD", help="also check link-level circles among BUILD's objects")
    args = ap.parse_args()
    found = cycles(include_graph(args.src))
    for c in found:
        print("include cycle: " + " -> ".join(c))
    if not found:
        print("no include cycles among %d files under %s/" % (len(include_graph(args.src)), args.src))
    if args.link:
        lfound = cycles(link_graph(args.src, args.link))
        for c in lfound:
            print("definition cycle: " + " <-> ".join(c))
        if not lfound:
            print("no definition cycles among the objects in %s/%s/" % (args.link, args.src))
        found += lfound
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

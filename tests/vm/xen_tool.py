#!/usr/bin/env python3
"""xen_tool.py - Dom0's helpers for make check-xen (tests/vm/xen_tests.sh).

  xen_tool.py inputs DIR VMS COUNT      request plans and their input payloads
  xen_tool.py account JOURNAL PLAN REFS OUT...   every request accounted for
  xen_tool.py naive-reader FILE STOP OUT        the errors log's reader (mtime polling)
  xen_tool.py naive-count OUT VMS COUNT         what that reader saw of the writes
  xen_tool.py record DIR                        one harness record (env R_*)

Records have the format of tests/fault/harness.c (docs/HARNESS.md) with backend "xen"."""
import json
import os
import random
import re
import struct
import sys
import time

OPS = [("vadd", lambda r: [str(r.randint(500, 3000))]),
       ("saxpy", lambda r: [str(r.randint(500, 3000)), "1.5"]),
       ("sgemm", lambda r: [str(r.randint(4, 40)), str(r.randint(4, 40)), str(r.randint(4, 40))])]
PRIOS = ["low", "medium", "high"]


def floats(op, args):
    if op == "sgemm":
        m, n, k = (int(a) for a in args)
        return m * k + k * n
    return 2 * int(args[0])


def cmd_inputs(d, vms, count):
    """DIR/plan: one line per request "VM I PRIO OP ARGS..."; DIR/VM_I.bin its payload
    (little-endian float32, finite, seeded: the same plan every run)."""
    rng = random.Random(20261130)
    os.makedirs(d, exist_ok=True)
    lines = []
    for vm in range(1, int(vms) + 1):
        for i in range(1, int(count) + 1):
            op, argf = OPS[(vm + i) % 3]
            args = argf(rng)
            prio = PRIOS[(vm * 2 + i) % 3]
            n = floats(op, args)
            with open(os.path.join(d, "%d_%d.bin" % (vm, i)), "wb") as f:
                f.write(struct.pack("<%df" % n, *(rng.uniform(-1000, 1000) for _ in range(n))))
            lines.append("%d %d %s %s %s" % (vm, i, prio, op, " ".join(args)))
    with open(os.path.join(d, "plan"), "w") as f:
        f.write("\n".join(lines) + "\n")


def journal(path):
    ev = []
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            kv = dict(x.split("=", 1) for x in w[1:] if "=" in x)
            if "vm" in kv and "seq" in kv:
                ev.append((w[0], int(kv["vm"]), int(kv["seq"]), kv))
    return ev


def cmd_account(jpath, plan, refs, *outs):
    """OUT files: the DomUs' outputs ("REQ I rc=RC seq=S status=..." and "SHA I HEX"
    lines, one file per VM, named ...vmN...). REFS: "VM I HEX" from Dom0's own run of
    the same requests. Prints "submitted answered lost duplicated misrouted corrupted
    interleaved", then one line per problem."""
    want = {}
    with open(plan) as f:
        for line in f:
            w = line.split()
            want[(int(w[0]), int(w[1]))] = w[2:]
    ref = {}
    with open(refs) as f:
        for line in f:
            w = line.split()
            if len(w) == 3:
                ref[(int(w[0]), int(w[1]))] = w[2]
    ev = journal(jpath)
    got = {}
    for path in outs:
        vm = int(re.search(r"vm(\d+)", os.path.basename(path)).group(1))
        with open(path) as f:
            for line in f:
                m = re.match(r"REQ (\d+) rc=(\d+) ?(.*)", line)
                if m:
                    got.setdefault((vm, int(m.group(1))), {})["rc"] = int(m.group(2))
                    got[(vm, int(m.group(1)))]["line"] = m.group(3)
                m = re.match(r"SHA (\d+) ([0-9a-f]{64})", line)
                if m:
                    got.setdefault((vm, int(m.group(1))), {})["sha"] = m.group(2)
    c = dict(submitted=0, answered=0, lost=0, duplicated=0, misrouted=0, corrupted=0)
    problems = []
    queued = {(v, s): kv.get("nonce") for e, v, s, kv in ev if e == "queue"}
    for key in sorted(want):
        c["submitted"] += 1
        g = got.get(key, {})
        m = re.search(r"seq=(\d+) status=(\S+)", g.get("line", ""))
        if g.get("rc") != 0 or not m or m.group(2) != "OK":
            c["lost"] += 1
            problems.append("vm%d request %d (%s): not answered OK: rc=%s %s" % (key + (" ".join(want[key]), g.get("rc"),
                                                                                     g.get("line", "no report"))))
            continue
        seq = int(m.group(1))
        answers = [kv for e, v, s, kv in ev if e == "answer" and v == key[0] and s == seq]
        execs = [kv for e, v, s, kv in ev if e == "exec" and v == key[0] and s == seq]
        if not answers:
            c["lost"] += 1
            problems.append("vm%d request %d: seq %d answered to the client but not in the journal" % (key[0], key[1], seq))
            continue
        c["answered"] += 1
        if len(answers) > 1 or len(execs) > 1:
            c["duplicated"] += max(len(answers), len(execs)) - 1
            problems.append("vm%d seq %d: %d answers, %d execs" % (key[0], seq, len(answers), len(execs)))
        if any(a.get("nonce") != queued.get((key[0], seq)) for a in answers):
            c["misrouted"] += 1
            problems.append("vm%d seq %d: answered with another request's nonce" % (key[0], seq))
        if g.get("sha") != ref.get(key):
            c["corrupted"] += 1
            problems.append("vm%d request %d: output %s, Dom0's own run of it %s" % (key[0], key[1], g.get("sha"), ref.get(key)))
    # answers the journal gives the plan's VMs for seqs no request of theirs had
    mine = {(v, int(re.search(r"seq=(\d+)", g.get("line", "seq=-1")).group(1)))
            for (v, _), g in got.items()}
    first = min((s for e, v, s, kv in ev if e == "queue" and (v, s) in mine), default=0)
    for e, v, s, kv in ev:
        if e == "answer" and (v, s) not in mine and any(v == k[0] for k in want) and s >= first:
            c["misrouted"] += 1
            problems.append("journal: answer vm%d seq %d that no request of vm%d made" % (v, s, v))
    # concurrency: the mediator answers in milliseconds, a DomU's round trip takes about
    # a second, so requests seldom wait for each other; what shows that the DomUs sent
    # at once is the arrival order: requests that arrived in the middle of another VM's
    # series (a VM with arrivals both before and after them)
    arr = [v for e, v, s, kv in ev if e == "queue" and (v, s) in mine]
    overlap = sum(1 for i, v in enumerate(arr)
                  if any(o != v and o in arr[:i] and o in arr[i + 1:] for o in set(arr)))
    print(" ".join(str(c[k]) for k in ("submitted", "answered", "lost", "duplicated", "misrouted", "corrupted")),
          overlap)
    for p in problems:
        print(p)


def cmd_naive_reader(path, stop, out):
    """The errors log's server-side reader: poll the shared command file's mtime (in
    seconds) once a second and read it when the mtime changed; append what it read to
    OUT. Ends one poll after STOP exists."""
    last = None
    with open(out, "w") as o:
        while True:
            done = os.path.exists(stop)
            try:
                mt = int(os.stat(path).st_mtime)
                if mt != last:
                    last = mt
                    with open(path, errors="replace") as f:
                        o.write(f.read())
                    o.flush()
            except OSError:
                pass
            if done:
                break
            time.sleep(1.0)


def cmd_naive_count(out, vms, count):
    """Prints "written seen torn": records written by the DomUs, distinct ones the naive
    reader saw, lines it read that are no record at all."""
    seen, torn = set(), 0
    with open(out, errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            m = re.fullmatch(r"vm (\d+) seq (\d+) op ping", line)
            if m:
                seen.add((int(m.group(1)), int(m.group(2))))
            else:
                torn += 1
    print(int(vms) * int(count), len(seen), torn)


def cmd_record(d):
    e = os.environ
    n = lambda k: int(e.get(k, "0") or 0)  # noqa: E731
    rec = {"id": e["R_ID"], "title": e["R_TITLE"], "backend": "xen",
           "reproduced": e.get("R_REPRO") == "1", "handled": e.get("R_HANDLED") == "1",
           "injections": n("R_INJ"),
           "requests": {k: n("R_" + k.upper()) for k in ("submitted", "answered", "lost", "duplicated",
                                                          "misrouted", "corrupted")},
           "evidence": e.get("R_EVID", "")[:1200], "seed": "0"}
    q = rec["requests"]
    rec["passed"] = (rec["reproduced"] and rec["handled"] and rec["injections"] > 0 and
                     q["lost"] == 0 and q["duplicated"] == 0 and q["misrouted"] == 0 and q["corrupted"] == 0)
    if e.get("R_SKIP"):
        rec["skipped"] = e["R_SKIP"]
        rec["passed"] = False
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "%s-xen.json" % rec["id"])
    with open(p + ".tmp", "w") as f:
        json.dump(rec, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(p + ".tmp", p)
    print("%s [xen]: %s" % (rec["id"], "SKIPPED: " + rec["skipped"] if rec.get("skipped")
                             else "PASS" if rec["passed"] else
                             "FAIL (reproduced %s, handled %s, injections %d, lost %d, duplicated %d, misrouted %d, "
                             "corrupted %d)" % (rec["reproduced"], rec["handled"], rec["injections"], q["lost"],
                                                q["duplicated"], q["misrouted"], q["corrupted"])))
    return 0 if rec["passed"] else 1


def main(argv):
    cmds = {"inputs": cmd_inputs, "account": cmd_account, "naive-reader": cmd_naive_reader,
            "naive-count": cmd_naive_count, "record": cmd_record}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[1]](*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

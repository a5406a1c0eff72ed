#!/usr/bin/env python3
"""run_scenarios.py - run the fault scenarios of a declared list and account for each.

    run_scenarios.py --list tests/fault/scenarios.list --bindir build/tests/fault \\
        --reports build/reports [--timeout 300] [--sources "tests/fault/err01_....c ..."] [PROGRAM...]

The list (tests/fault/scenarios.list) names every scenario program and the records
(ID-BACKEND) it writes. Each program runs in its own process group, with
VGPU_REPORT_DIR set to a private directory, under a timeout; then its records are
moved into REPORTS/scenarios/. A program fails the run, with a line naming it, when it:
  - is in the list but not built, or built/in --sources but not in the list;
  - exits non-zero (1: its checks failed; 77 is a skip, accepted only when every record
    it wrote says skipped), is killed by a signal (a crash), or outlives the timeout
    (its whole process group is stopped: SIGTERM, then SIGKILL);
  - writes fewer records than its line declares, or records it does not declare;
  - exits 0 while one of its records says passed=false.
REPORTS/runner.json keeps the outcome of every program (tools/report.py reads it).
Exit status: 0 when every program was accounted for, 1 otherwise. docs/HARNESS.md."""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time


def parse_list(path):
    progs = []  # (program, [records]) in file order
    seen = set()
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            prog, recs = line[0], line[1:]
            if not recs:
                raise SystemExit("%s:%d: %s declares no record" % (path, n, prog))
            if prog in seen:
                raise SystemExit("%s:%d: %s listed twice" % (path, n, prog))
            seen.add(prog)
            progs.append((prog, recs))
    return progs


def signame(n):
    try:
        return signal.Signals(n).name
    except ValueError:
        return "signal %d" % n


def stop_group(p, grace):
    """SIGTERM the process group, wait GRACE seconds, then SIGKILL it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # members of the group that outlived its leader
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def become_subreaper():
    """Orphans of a program (its guardian, which unmounts and stops servers after the
    program died, and daemons its scripts started) become our children, so that we can
    wait for them before the next program or the end of the run."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def children():
    me, out = os.getpid(), []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(st[1]) == me and st[0] != "Z":
            out.append(int(d))
    return out


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def settle(prog, bound):
    """Wait up to BOUND seconds for the program's orphans to finish their own cleanup
    (a guardian unmounting after a crash); then stop what is left, naming it."""
    deadline = time.monotonic() + bound
    while True:
        reap()
        left = children()
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not left:
            return
        for pid in left:
            print("fault runner: note: %s left pid %d running after %g s; sending %s" % (prog, pid, bound, sig.name))
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        t = time.monotonic() + 5
        while left and time.monotonic() < t:
            time.sleep(0.05)
            reap()
            left = children()


def run_one(prog, expected, args, scen_dir):
    path = os.path.join(args.bindir, prog)
    out = {"program": prog, "expected": expected, "written": [], "exit": None, "seconds": 0.0,
           "problems": []}
    if not os.access(path, os.X_OK):
        out["problems"].append("not built (%s missing)" % path)
        return out
    priv = os.path.join(scen_dir, ".run-" + prog)
    shutil.rmtree(priv, ignore_errors=True)
    os.makedirs(priv)
    env = dict(os.environ, VGPU_REPORT_DIR=priv)
    if args.build:
        env["VGPU_BUILD"] = args.build
    t0 = time.monotonic()
    sys.stdout.flush()
    p = subprocess.Popen([path], env=env, start_new_session=True)
    try:
        rc = p.wait(timeout=args.timeout)
    except KeyboardInterrupt:
        stop_group(p, args.grace)
        raise
    except subprocess.TimeoutExpired:
        stop_group(p, args.grace)
        rc = None
        out["problems"].append("timed out after %g s (stopped)" % args.timeout)
    else:
        # leftovers of its group (a daemon it forgot): stop them, quietly
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    settle(prog, args.settle)
    out["seconds"] = round(time.monotonic() - t0, 1)
    out["exit"] = rc
    records = {}
    for name in sorted(os.listdir(priv)):
        if not name.endswith(".json"):
            continue
        rid = name[:-5]
        try:
            with open(os.path.join(priv, name)) as f:
                records[rid] = json.load(f)
        except (OSError, ValueError) as e:
            out["problems"].append("record %s unreadable (%s)" % (rid, e))
            continue
        os.replace(os.path.join(priv, name), os.path.join(scen_dir, name))
    shutil.rmtree(priv, ignore_errors=True)
    out["written"] = sorted(records)
    if rc is not None and rc < 0:
        out["problems"].append("crashed (killed by %s)" % signame(-rc))
    elif rc == 77:
        if not records or not all(r.get("skipped") for r in records.values()):
            out["problems"].append("exit 77 (skipped) but not every record says skipped")
    elif rc not in (None, 0):
        out["problems"].append("exit status %d" % rc)
    elif rc == 0 and any(not r.get("passed") for r in records.values()):
        out["problems"].append("exit 0 but a record says failed")
    missing = [r for r in expected if r not in records]
    extra = [r for r in sorted(records) if r not in expected]
    if missing:
        out["problems"].append("wrote %d of %d records: missing %s" % (len(expected) - len(missing), len(expected),
                                                                     ", ".join(missing)))
    if extra:
        out["problems"].append("undeclared record(s) %s (add them to the list)" % ", ".join(extra))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--list", required=True)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--reports", required=True)
    ap.add_argument("--build", help="VGPU_BUILD for the programs")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--grace", type=float, default=10, help="seconds between SIGTERM and SIGKILL")
    ap.add_argument("--settle", type=float, default=30,
                    help="seconds a program's orphans (its guardian) get to finish after it")
    ap.add_argument("--sources", default="", help="the scenario sources in the tree (each must be listed)")
    ap.add_argument("only", nargs="*", help="run only these programs")
    args = ap.parse_args()

    become_subreaper()
    progs = parse_list(args.list)
    listed = {p for p, _ in progs}
    scen_dir = os.path.join(args.reports, "scenarios")
    shutil.rmtree(scen_dir, ignore_errors=True)
    os.makedirs(scen_dir)
    results = []
    unlisted = sorted({os.path.splitext(os.path.basename(s))[0] for s in args.sources.split()} - listed)
    for prog in unlisted:
        results.append({"program": prog, "expected": [], "written": [], "exit": None, "seconds": 0.0,
                        "problems": ["not in %s: its records are not accounted for" % args.list]})
    for prog, expected in progs:
        if args.only and prog not in args.only:
            continue
        print("== %s" % os.path.join(args.bindir, prog), flush=True)
        results.append(run_one(prog, expected, args, scen_dir))

    bad = [r for r in results if r["problems"]]
    with open(os.path.join(args.reports, "runner.json.tmp"), "w") as f:
        json.dump({"list": args.list, "timeout": args.timeout, "programs": results}, f, indent=2)
        f.write("\n")
    os.replace(os.path.join(args.reports, "runner.json.tmp"), os.path.join(args.reports, "runner.json"))
    nrec = sum(len(r["written"]) for r in results)
    nexp = sum(len(r["expected"]) for r in results)
    print()
    for r in bad:
        print("fault runner: FAIL %s: %s" % (r["program"], "; ".join(r["problems"])))
    print("fault runner: %d programs, %d of %d declared records written, %d program(s) failed%s" %
          (len(results), nrec, nexp, len(bad), (": " + " ".join(r["program"] for r in bad)) if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""test_runner.py - the fault runner's own test (make check-runner).

Fake scenario programs (shell scripts in a private directory) that crash, hang, exit 0
without a record, fail, write fewer or other records than declared, or lie about their
result; each, run next to a good one, must make tools/run_scenarios.py exit 1 with a
"fault runner: FAIL <program>: <why>" line, and the good one's record must still be
there (one failure hides nothing). A good program alone, and a skip (exit 77 with a
skipped record), must pass. tools/report.py must name a declared record that is missing
and a program the runner saw fail. Exit status 0 when every case held."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
RUNNER = os.path.join(TOP, "tools", "run_scenarios.py")
REPORT = os.path.join(TOP, "tools", "report.py")


def record(rid, passed=True, skipped=None):
    r = {"id": rid.split("-", 1)[0], "backend": rid.split("-", 1)[1], "passed": passed}
    if skipped:
        r["skipped"] = skipped
    return "printf '%%s' '%s' > \"$VGPU_REPORT_DIR/%s.json\"\n" % (json.dumps(r), rid)


# name -> (declared records, script body)
FAKES = {
    "good": (["GOOD-local"], record("GOOD-local") + "exit 0\n"),
    "crash": (["CRASH-local"], "kill -SEGV $$\n"),
    "hang": (["HANG-local"], "sleep 1000 &\necho $! > \"$SELFTEST_DIR/hang.child\"\nwait\n"),
    "silent": (["SILENT-local"], "echo 'I ran, honest'\nexit 0\n"),
    "failing": (["FAILING-local"], record("FAILING-local", passed=False) + "exit 1\n"),
    "short": (["SHORT-local", "SHORT-nfssim-local"], record("SHORT-local") + "exit 0\n"),
    "extra": (["EXTRA-local"], record("EXTRA-local") + record("SURPRISE-local") + "exit 0\n"),
    "liar": (["LIAR-local"], record("LIAR-local", passed=False) + "exit 0\n"),
    "skip": (["SKIP-local"], record("SKIP-local", passed=False, skipped="no FUSE here") + "exit 77\n"),
    "badskip": (["BADSKIP-local"], record("BADSKIP-local", passed=False) + "exit 77\n"),
}

# case -> the words the runner's FAIL line must contain (None: the run must pass)
CASES = [
    ("good", None),
    ("skip", None),
    ("crash", "crashed (killed by SIGSEGV)"),
    ("hang", "timed out after 2 s"),
    ("silent", "wrote 0 of 1 records: missing SILENT-local"),
    ("failing", "exit status 1"),
    ("short", "wrote 1 of 2 records: missing SHORT-nfssim-local"),
    ("extra", "undeclared record(s) SURPRISE-local"),
    ("liar", "exit 0 but a record says failed"),
    ("badskip", "exit 77 (skipped) but not every record says skipped"),
]

failures = []


def check(cond, what):
    print("  %s: %s" % ("ok" if cond else "FAIL", what))
    if not cond:
        failures.append(what)
    return cond


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie waiting for its reaper is dead for our purposes
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid, bound_s):
    deadline = time.monotonic() + bound_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not pid_alive(pid)


def run_runner(tmp, progs, sources=()):
    lst = os.path.join(tmp, "scenarios.list")
    with open(lst, "w") as f:
        f.write("# test list\n")
        for p in progs:
            f.write("%s %s\n" % (p, " ".join(FAKES[p][0])))
    reports = os.path.join(tmp, "reports")
    shutil.rmtree(reports, ignore_errors=True)
    cmd = [sys.executable, RUNNER, "--list", lst, "--bindir", os.path.join(tmp, "bin"), "--reports", reports,
           "--timeout", "2", "--grace", "1", "--sources", " ".join(sources)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60,
                       env=dict(os.environ, SELFTEST_DIR=tmp))
    return p.returncode, p.stdout, reports, lst


def main():
    tmp = tempfile.mkdtemp(prefix="vgpu-runner-selftest.")
    try:
        os.makedirs(os.path.join(tmp, "bin"))
        for name, (_, body) in FAKES.items():
            path = os.path.join(tmp, "bin", name)
            with open(path, "w") as f:
                f.write("#!/bin/sh\n" + body)
            os.chmod(path, 0o755)

        for case, want in CASES:
            progs = ["good"] if case == "good" else ["good", case]
            print("== case %s" % case)
            rc, out, reports, _ = run_runner(tmp, progs)
            fail_lines = [l for l in out.splitlines() if l.startswith("fault runner: FAIL")]
            if want is None:
                check(rc == 0 and not fail_lines, "%s: runner exit 0, no FAIL line (got %d)" % (case, rc))
            else:
                named = [l for l in fail_lines if l.startswith("fault runner: FAIL %s: " % case)]
                check(rc == 1, "%s: runner exit 1 (got %d)" % (case, rc))
                check(len(named) == 1 and want in named[0],
                      "%s: one FAIL line naming it with \"%s\" (got %s)" % (case, want, fail_lines or "none"))
                check(len(fail_lines) == 1, "%s: the good program is not blamed" % case)
            check(os.path.exists(os.path.join(reports, "scenarios", "GOOD-local.json")),
                  "%s: the good program's record is there too" % case)
            if case == "hang":
                try:
                    with open(os.path.join(tmp, "hang.child")) as f:
                        child = int(f.read())
                except (OSError, ValueError):
                    child = 0
                check(child > 0 and wait_gone(child, 5), "hang: the hung program's child (pid %d) was stopped" % child)
            if want is None and case != "good":
                with open(os.path.join(reports, "runner.json")) as f:
                    progs_out = {p["program"]: p for p in json.load(f)["programs"]}
                check(progs_out[case]["exit"] == 77 and not progs_out[case]["problems"],
                      "%s: exit 77 with a skipped record accepted" % case)

        print("== case unlisted (a scenario source that the list does not name)")
        rc, out, _, _ = run_runner(tmp, ["good"], sources=["tests/fault/good.c", "tests/fault/x_new.c"])
        check(rc == 1 and "fault runner: FAIL x_new: not in" in out, "unlisted: runner exit 1 naming x_new")

        print("== case missing binary")
        rc, out, _, _ = run_runner(tmp, ["good", "silent"])  # baseline for the report case below
        os.rename(os.path.join(tmp, "bin", "silent"), os.path.join(tmp, "bin", "silent.off"))
        rc, out, reports, lst = run_runner(tmp, ["good", "silent"])
        check(rc == 1 and "fault runner: FAIL silent: not built" in out, "missing binary: runner exit 1 naming it")

        print("== case report (tools/report.py reads the list and runner.json)")
        p = subprocess.run([sys.executable, REPORT], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=60, env=dict(os.environ, VGPU_REPORTS=reports, VGPU_SCENARIO_LIST=lst))
        check(p.returncode == 1, "report: exit 1 (got %d)" % p.returncode)
        check("FAIL: missing record SILENT-local (declared for silent" in p.stdout, "report: names the missing record")
        check("FAIL: runner: silent: not built" in p.stdout, "report: names the program the runner saw fail")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("runner self-test: %d case(s) failed%s" % (len(failures), (": " + "; ".join(failures)) if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

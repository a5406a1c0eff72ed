#!/usr/bin/env python3
"""check_summary.py - the end of `make check`: each Check program's summary line, then
the verdict with the counts as the very last line, e.g.

    make check: PASS - 14 unit programs (248 checks), 4 e2e runs (60 checks), 15 scenarios (14 programs), 19 nfssim tests

or "make check: FAIL (unit, fault) - ..." naming the stages that failed.

Inputs (all under --reports, normally build/reports): check/*.log (CK_LOG_FILE_NAME of
every Check program), stages/NAME.rc (the exit status of each stage of `make check`,
"skip" when not run), runner.json (tools/run_scenarios.py), nfssim.txt (run-tests.sh).
Exit status 1 when a stage failed or did not run, so `make check` fails."""
import argparse
import glob
import json
import os
import re
import sys

SUMMARY = re.compile(r"(\d+)%: Checks: (\d+), Failures: (\d+), Errors: (\d+)")


def check_logs(reports):
    """{program name: (checks, failures, errors) or None when the log has no summary}."""
    out = {}
    for path in sorted(glob.glob(os.path.join(reports, "check", "*.log"))):
        name = os.path.basename(path)[:-4]
        last = None
        with open(path, errors="replace") as f:
            for line in f:
                m = SUMMARY.search(line)
                if m:
                    last = (int(m.group(2)), int(m.group(3)), int(m.group(4)), line.strip())
        out[name] = last
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", default="build/reports")
    ap.add_argument("--stages", default="", help="the stage names of `make check`, in order")
    ap.add_argument("--unit-programs", type=int, default=0)
    ap.add_argument("--no-banner", action="store_true", help="only the Check summaries")
    a = ap.parse_args()
    sys.stdout.reconfigure(errors="replace")

    logs = check_logs(a.reports)
    print()
    print("Check summaries (%s):" % os.path.join(a.reports, "check"))
    for name, s in logs.items():
        print("  %-28s %s" % (name, s[3] if s else "NO SUMMARY (the program died before Check's end)"))
    if a.no_banner:
        return 0

    failed, notrun = [], []
    for st in a.stages.split():
        try:
            with open(os.path.join(a.reports, "stages", st + ".rc")) as f:
                rc = f.read().strip()
        except OSError:
            rc = "missing"
        if rc == "skip" or rc == "missing":
            notrun.append(st)
        elif rc != "0":
            failed.append(st)

    def total(names):
        return sum(logs[n][0] for n in names if logs[n])

    unit = [n for n in logs if n.startswith("test_") and not n.startswith("test_e2e")]
    e2e = [n for n in logs if n.startswith("test_e2e")]
    parts = ["%d unit programs (%d checks)" % (a.unit_programs or len(unit), total(unit)),
             "%d e2e runs (%d checks)" % (len(e2e), total(e2e))]
    try:
        with open(os.path.join(a.reports, "runner.json")) as f:
            progs = json.load(f)["programs"]
        parts.append("%d scenarios (%d programs)" % (sum(len(p["written"]) for p in progs), len(progs)))
    except (OSError, ValueError, KeyError):
        parts.append("no scenarios run")
    nfs_checks = total([n for n in logs if n.startswith("nfssim")])
    try:
        with open(os.path.join(a.reports, "nfssim.txt")) as f:
            w = f.read().split()  # "PASSED TOTAL"
        parts.append("%s nfssim tests (+%d checks)" % (w[1], nfs_checks))
    except (OSError, IndexError):
        parts.append("no nfssim tests run")
    bad = failed + ["%s not run" % s for s in notrun]
    verdict = "FAIL (%s)" % ", ".join(bad) if bad else "PASS"
    print()
    print("make check: %s \u2014 %s" % (verdict, ", ".join(parts)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

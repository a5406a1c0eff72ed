#!/usr/bin/env python3
"""report.py - merge the scenario records into build/reports/harness.json and print
the table that ends `make check`.

Inputs: build/reports/scenarios/*.json (one per scenario and backend, written by
tests/fault/harness.c), build/reports/runner.json (tools/run_scenarios.py: how each
program ended), the declared lists $VGPU_SCENARIO_LIST (tests/fault/scenarios.list, tests/vm/records.list) and,
when present, build/reports/gpu.json (make check-gpu).
A record with "observation" whose symptom was not reproduced (the real kernel does not do
what the errors log says, e.g. knfsd accepting a tmpfs export) is printed as OBSERVED and
does not fail the run: it claims nothing handled. Exit status 1 when any scenario failed or
was skipped, a declared record is missing or an
undeclared one is present, the runner saw a program fail (exit status, crash, timeout,
records) or did not run, or an ERRnn of the log has no scenario: `make check` fails."""
import glob
import json
import os
import platform
import sys
import time

REPORTS = os.environ.get("VGPU_REPORTS", "build/reports")
# The declared lists, separated by ':': the fault scenarios' and the guests' (check-knfs).
LIST = os.environ.get("VGPU_SCENARIO_LIST", "tests/fault/scenarios.list:tests/vm/records.list")


def declared():
    """{record id: program} from the declared lists (tools/run_scenarios.py's format)."""
    recs = {}
    for path in LIST.split(":"):
        with open(path) as f:
            for line in f:
                words = line.split("#", 1)[0].split()
                for rid in words[1:]:
                    recs[rid] = words[0]
    return recs


def accounting(rows):
    """Lines naming what the declared list and the runner say is wrong."""
    problems = []
    want = declared()
    have = {"%s-%s" % (r.get("id"), r.get("backend")) for r in rows if not r.get("_gpu")}
    for rid in sorted(set(want) - have):
        problems.append("missing record %s (declared for %s in %s)" % (rid, want[rid], LIST))
    for rid in sorted(have - set(want)):
        problems.append("undeclared record %s (not in %s)" % (rid, LIST))
    runner = os.path.join(REPORTS, "runner.json")
    if not os.path.exists(runner):
        problems.append("no %s: the scenario programs' exit statuses are not accounted for "
                        "(run make check-fault)" % runner)
    else:
        with open(runner) as f:
            for p in json.load(f).get("programs", []):
                if p.get("problems"):
                    problems.append("runner: %s: %s" % (p["program"], "; ".join(p["problems"])))
    return problems


def load():
    rows = []
    for path in sorted(glob.glob(os.path.join(REPORTS, "scenarios", "*.json"))):
        with open(path) as f:
            rows.append(json.load(f))
    gpu = os.path.join(REPORTS, "gpu.json")
    if os.path.exists(gpu):
        with open(gpu) as f:
            g = json.load(f)
        for row in g.get("scenarios", g if isinstance(g, list) else []):
            row["_gpu"] = True
            rows.append(row)
    return rows


def sort_key(r):
    i = r.get("id", "")
    return (0 if i.startswith("ERR") else 1, i, r.get("backend", ""))


def main():
    rows = sorted(load(), key=sort_key)
    problems = accounting(rows)
    for r in rows:
        r.pop("_gpu", None)
    report = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kernel": platform.release(),
        "scenarios": rows,
        "accounting_problems": problems,
    }
    os.makedirs(REPORTS, exist_ok=True)
    tmp = os.path.join(REPORTS, "harness.json.tmp")
    with open(tmp, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(REPORTS, "harness.json"))

    w = "%-10s %-15s %-5s %-5s %6s %5s %5s %4s %4s %4s  %s"
    print()
    print("Harness report (%s, %d scenarios): %s" % (report["generated"], len(rows),
                                                     os.path.join(REPORTS, "harness.json")))
    print(w % ("ID", "BACKEND", "REPRO", "HANDL", "INJECT", "SUBM", "ANSW", "LOST", "DUP", "MIS", "RESULT"))
    failed = observed = 0
    for r in rows:
        q = r.get("requests", {})
        if r.get("observation") and not r.get("reproduced"):
            # the real stack did not show the documented symptom: what it did is the
            # finding (recorded, folded into ERRORS_LOG.txt); nothing is claimed handled
            verdict = "OBSERVED: " + r["observation"]
            observed += 1
        elif r.get("skipped"):
            verdict = "SKIPPED: " + r["skipped"]
            failed += 1
        elif r.get("passed"):
            verdict = "PASS"
        else:
            verdict = "FAIL"
            failed += 1
        print(w % (r.get("id", "?"), r.get("backend", "?")[:15], "yes" if r.get("reproduced") else "NO",
                   "yes" if r.get("handled") else "NO", r.get("injections", 0), q.get("submitted", 0),
                   q.get("answered", 0), q.get("lost", 0), q.get("duplicated", 0), q.get("misrouted", 0),
                   verdict))
    ids = {r.get("id") for r in rows}
    missing = ["ERR%02d" % n for n in range(1, 11) if "ERR%02d" % n not in ids]
    if missing:
        print("missing scenarios: " + ", ".join(missing))
        failed += len(missing)
    for p in problems:
        print("FAIL: " + p)
    print("%d scenario results, %d failed or skipped, %d observed on a real stack without the documented symptom, "
          "%d accounting problem(s)" % (len(rows), failed, observed, len(problems)))
    failed += len(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

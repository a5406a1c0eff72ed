#!/usr/bin/env python3
"""errors_log.py - fold the harness report into ERRORS_LOG.txt (`make errors-log`).

Rewrites, and only rewrites:
  - the "Status:" line of each known error (ERROR 1..10), from the scenarios with
    id ERRnn: reproduced and handled (scenario, date, backends) or what failed;
  - the block between "# AUTO-BEGIN actual errors" and "# AUTO-END actual errors":
    one entry per real failure met on a host (the real cudart without a driver, a
    real NFS server's refusal or squash, a GPU run), kept across runs, keyed by
    error number, backend and date;
  - the statistics block and the "Last Updated:" line.
Everything else (hand-written entries included) is left byte for byte. Running it
twice with the same report changes nothing."""
import argparse
import glob
import json
import os
import re
import sys

# Where the failure is the environment's own, not one we injected: the error numbers
# and the backends on which a run meets the real thing (a CUDA runtime without a usable
# driver or device; a real NFS server's refusal or squash).
REAL = {1: ("nfssim-ganesha", "knfs"), 5: ("cudart", "cuda"), 6: ("nfssim-ganesha", "knfs")}

CAUSE = {
    1: ("the NFS server refused the export to this client (not in its client list)",
        "vgpu-client failed fast naming the unmounted/refused export and the fix"),
    5: ("the CUDA runtime found no usable driver or device on this host",
        "cuda-sanity reported it with its exit code; --executor auto fell back as configured"),
    6: ("root_squash mapped the client's root to the anonymous uid, which may not write there",
        "vgpu-client reported permission denied, naming root_squash and the fix"),
}


def scenario_file(eid):
    m = re.match(r"ERR(\d\d)$", eid)
    if not m:
        return None
    files = sorted(glob.glob("tests/fault/err%s_*.c" % m.group(1)))
    return " + ".join(files) if files else None


def status_line(eid, rows, date):
    backends = ", ".join(sorted({r.get("backend", "?") for r in rows}))
    sf = scenario_file(eid) or "tests/fault"
    ran = [r for r in rows if not r.get("skipped")]
    if not ran:
        why = "; ".join(sorted({r.get("skipped", "") for r in rows}))
        return "Status: ⚠️ NOT RUN (%s; %s)" % (why, date)
    failed = [r for r in ran if not r.get("passed")]
    if not failed:
        return "Status: ✅ REPRODUCED AND HANDLED (%s, %s, backends: %s)" % (sf, date, backends)
    parts = []
    for r in failed:
        what = []
        if not r.get("reproduced"):
            what.append("fault not reproduced")
        if not r.get("handled"):
            what.append("not handled")
        if r.get("injections", 0) <= 0:
            what.append("no injection")
        q = r.get("requests", {})
        for k in ("lost", "duplicated", "misrouted", "corrupted"):
            if q.get(k):
                what.append("%s %d" % (k, q[k]))
        parts.append("%s: %s" % (r.get("backend", "?"), ", ".join(what) or "failed"))
    return "Status: ❌ FAILED (%s, %s: %s)" % (sf, date, "; ".join(parts))


def actual_entries(rows, date):
    out = {}
    for r in rows:
        m = re.match(r"ERR(\d\d)$", r.get("id", ""))
        if not m or r.get("skipped") or not r.get("reproduced"):
            continue
        n = int(m.group(1))
        if r.get("backend", "") not in REAL.get(n, ()):
            continue
        cause, fix = CAUSE.get(n, ("see the known error above", "handled as described above"))
        key = "ERROR %d [%s] %s" % (n, r.get("backend"), date)
        out[key] = "\n".join([
            "ERROR #: %d [%s]" % (n, r.get("backend")),
            "When: harness scenario %s (%s), %s" % (r.get("id"), scenario_file(r["id"]) or "tests/fault",
                                                    r.get("title", "")),
            "Date: %s" % date,
            "Symptom: %s" % r.get("evidence", "").strip(),
            "Root Cause: %s" % cause,
            "Solution Applied: %s" % fix,
            "Result: %s" % ("handled (harness checks passed)" if r.get("handled")
                            else "NOT handled: see the harness report"),
        ])
    return out


def parse_auto(block):
    entries, cur = {}, []
    for line in block.splitlines():
        if line.startswith("ERROR #: "):
            if cur:
                entries[key_of(cur)] = "\n".join(cur)
            cur = [line]
        elif cur and line.strip() and line.strip() != "---":
            cur.append(line)
    if cur:
        entries[key_of(cur)] = "\n".join(cur)
    return entries


def key_of(lines):
    m = re.match(r"ERROR #: (\d+) \[([^\]]*)\]", lines[0])
    date = next((l[6:] for l in lines if l.startswith("Date: ")), "")
    return "ERROR %s [%s] %s" % (m.group(1), m.group(2), date) if m else lines[0]


def replace_block(text, name, body):
    pat = re.compile(r"(# AUTO-BEGIN %s[^\n]*\n)(.*?)(# AUTO-END %s\n)" % (name, name), re.S)
    if not pat.search(text):
        sys.exit("errors_log: no AUTO-BEGIN/END %s markers in the log" % name)
    return pat.sub(lambda m: m.group(1) + body + m.group(3), text, count=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--report", action="append",
                    help="a harness report (repeatable; default build/reports/harness.json)")
    ap.add_argument("--log", default="ERRORS_LOG.txt")
    a = ap.parse_args()
    rows, dates = [], []
    for path in a.report or ["build/reports/harness.json"]:
        with open(path) as f:
            rep = json.load(f)
        rows += rep.get("scenarios", [])
        dates.append(rep.get("generated", "")[:10])
    date = max(dates) or "unknown"
    with open(a.log) as f:
        text = f.read()
    orig = text

    # 1. Status lines of the known errors.
    by_id = {}
    for r in rows:
        by_id.setdefault(r.get("id"), []).append(r)
    handled_known = 0
    for n in range(1, 11):
        eid = "ERR%02d" % n
        sec = re.compile(r"(\nERROR %d: .*?\nStatus: )([^\n]*)" % n, re.S)
        m = sec.search(text)
        if not m:
            continue
        if eid in by_id:
            line = status_line(eid, by_id[eid], date)
            text = text[:m.start(2) - len("Status: ")] + line + text[m.end(2):]
            if line.startswith("Status: ✅"):
                handled_known += 1

    # 2. Actual errors: old auto entries kept, today's added or refreshed.
    m = re.search(r"# AUTO-BEGIN actual errors[^\n]*\n(.*?)# AUTO-END actual errors\n", text, re.S)
    entries = parse_auto(m.group(1) if m else "")
    entries.update(actual_entries(rows, date))
    body = "".join(entries[k] + "\n\n---\n\n" for k in sorted(entries))
    text = replace_block(text, "actual errors", body)

    # 3. Statistics over the whole "actual errors" section (hand-written entries too).
    sect = text.split("ACTUAL ERRORS ENCOUNTERED", 1)[1].split("ERROR STATISTICS", 1)[0]
    results = re.findall(r"^ERROR #: (\d+)[^\n]*\n(?:.*\n)*?Result: ([^\n]*)", sect, re.M)
    total = len(results)
    resolved = sum(1 for _, res in results if res.lower().startswith(("handled", "resolved", "yes", "fixed")))
    stats = ("Total Errors Encountered: %d\nResolved: %d\nUnresolved: %d\n"
             "Known Workarounds: 10 (%d of 10 reproduced and handled by the harness, report of %s)\n"
             % (total, resolved, total - resolved, handled_known, date))
    text = replace_block(text, "statistics", stats)
    text = re.sub(r"Last Updated: [^\n]*", "Last Updated: %s" % date, text, count=1)

    if text != orig:
        tmp = a.log + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, a.log)
        print("errors_log: %s updated from %s" % (a.log, ", ".join(a.report or ["build/reports/harness.json"])))
    else:
        print("errors_log: %s already up to date" % a.log)


if __name__ == "__main__":
    main()

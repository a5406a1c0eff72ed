#!/usr/bin/env python3
"""errors_log.py - fold harness reports into ERRORS_LOG.txt (`make errors-log`).

Rewrites, and only rewrites:
  - the "Test:" line of each known error (ERROR 1..10): every scenario program of that
    error, found by glob (tests/fault/errNN_*.c, then the QEMU guests' tests/vm/knfs_errNN.c
    and, for ERROR 3 and 9, tests/vm/xen_tests.sh), so a new scenario appears by itself;
  - the "Status:" line of each known error, from the scenarios with id ERRnn: for each
    backend the newest run that ran (each with the date of the report it came from);
  - the block between "# AUTO-BEGIN actual errors" and "# AUTO-END actual errors": one
    entry per error number and backend where a real environment failed (the real cudart
    without a driver, a real NFS server's refusal or squash, the kernel NFS client's
    caches, Xen DomUs sharing a file), kept across runs; its "When:" names the program
    that wrote the row (tests/vm/... for backends knfs and xen). A later
    run of the same error and backend updates that entry ("Last Seen:", its evidence);
    it never adds a second one;
  - the statistics block and the "Last Updated:" line.
Everything else (the hand-written knowledge, hand-written entries) is left byte for byte.

Dates: a row's date is the date of its own report (its "generated" field), never
today's: a committed report of 2026-11-28 stays 2026-11-28 whenever it is folded.
A report without "generated" is "undated".

Idempotent: folding the same reports again, in any order or any number of times, gives
the same file.

"Total Errors Encountered" counts distinct error numbers with at least one entry in the
ACTUAL ERRORS ENCOUNTERED section (auto and hand-written); several backends or runs of
one error are one error. "Resolved" counts those errors whose every entry's Result says
handled/resolved/fixed/yes/worked; "Unresolved" the rest."""
import argparse
import glob
import json
import os
import re
import sys

# Where the failure is the environment's own, not one we injected: the error numbers
# and the backends on which a run meets the real thing (a CUDA runtime without a usable
# driver or device; a real NFS server's refusal or squash).
REAL = {1: ("nfssim-ganesha", "knfs"), 3: ("xen",), 5: ("cudart", "cuda"), 6: ("nfssim-ganesha", "knfs"),
        7: ("knfs",), 9: ("xen",)}

CAUSE = {
    1: ("the NFS server refused the export to this client (not in its client list)",
        "vgpu-client failed fast naming the unmounted/refused export and the fix"),
    5: ("the CUDA runtime found no usable driver or device on this host",
        "cuda-sanity reported it with its exit code; --executor auto fell back as configured"),
    6: ("root_squash mapped the client's root to the anonymous uid, which may not write there",
        "vgpu-client reported permission denied, naming root_squash and the fix"),
    3: ("several VMs wrote one shared command file in place: the host's reader saw a fraction of the records",
        "one directory per VM, whole records published by rename, each request read and answered once"),
    7: ("the NFS client's attribute cache (acregmin) served old sizes and times to a stat-only poller; "
        "its negative lookup cache (lookupcache=all) hid a newly published name",
        "readers open/read/close whole files published by rename and check seq and nonce; the mediator "
        "publishes an initial response.txt for each VM it serves, so no client looks up a missing name "
        "(the first request through a default mount answered at once); VMs mount with "
        "lookupcache=positive,acdirmin=1,acdirmax=1"),
    9: ("a queue without priorities served the VMs' requests in arrival order",
        "the mediator's priority queue ran the high-priority VM's requests first"),
}

# The programs run in the QEMU guests (tests/vm, make check-knfs / check-xen), by error
# number, besides tests/vm/knfs_errNN.c (found by name); listed where they exist.
GUEST = {3: ("xen_tests.sh",), 9: ("xen_tests.sh",)}

RESOLVED_WORDS = ("handled", "resolved", "yes", "fixed", "worked")
DEFAULT_REPORT = "build/reports/harness.json"


def guest_files(n, fault_dir="tests/fault", backend=None):
    """The guests' programs of ERROR n (tests/vm next to fault_dir): knfs_errNN.c (backend
    knfs) and GUEST's (backend xen), those that exist; BACKEND None: both."""
    vm = os.path.join(os.path.dirname(os.path.normpath(fault_dir)), "vm")
    names = []
    if backend in (None, "knfs"):
        names.append("knfs_err%02d.c" % n)
    if backend in (None, "xen"):
        names += list(GUEST.get(n, ()))
    return [os.path.join(vm, x) for x in names if os.path.exists(os.path.join(vm, x))]


def scenario_files(n, fault_dir="tests/fault"):
    """Every scenario program of ERROR n: tests/fault/errNN_*.c sorted (err07: two), then
    the QEMU guests' (guest_files)."""
    return sorted(glob.glob(os.path.join(fault_dir, "err%02d_*.c" % n))) + guest_files(n, fault_dir)


def row_files(n, backend, fault_dir="tests/fault"):
    """The programs that wrote a row of ERROR n with BACKEND: the guest's own for knfs and
    xen, else tests/fault/errNN_*.c."""
    if backend in ("knfs", "xen"):
        g = guest_files(n, fault_dir, backend)
        if g:
            return g
    return sorted(glob.glob(os.path.join(fault_dir, "err%02d_*.c" % n)))


def err_num(eid):
    m = re.match(r"ERR(\d\d)$", eid or "")
    return int(m.group(1)) if m else None


def report_date(rep):
    g = rep.get("generated", "") if isinstance(rep, dict) else ""
    return g[:10] if re.match(r"\d{4}-\d\d-\d\d", g or "") else "undated"


def load_rows(paths):
    """All scenario rows, each tagged with its own report's date (key "_date") and the
    report's position on the command line (key "_order", for ties)."""
    rows, dates = [], []
    for i, path in enumerate(paths):
        with open(path) as f:
            rep = json.load(f)
        d = report_date(rep)
        dates.append(d)
        for r in (rep.get("scenarios", []) if isinstance(rep, dict) else rep):
            r = dict(r)
            r["_date"], r["_order"] = d, i
            rows.append(r)
    return rows, dates


def newest_per_backend(rows):
    """For each backend, the newest row that ran; a skipped row only where no run of that
    backend ran at all (a skip says nothing new about an earlier result)."""
    best = {}
    for r in rows:
        b = r.get("backend", "?")
        rank = (0 if r.get("skipped") else 1, r["_date"], r["_order"])
        if b not in best or rank > best[b][0]:
            best[b] = (rank, r)
    return [best[b][1] for b in sorted(best)]


def test_line(n, fault_dir="tests/fault"):
    files = scenario_files(n, fault_dir)
    if not files:
        return "Test: none yet (no %s/err%02d_*.c)" % (fault_dir, n)
    return "Test: " + ", ".join(files)


def status_line(rows):
    rows = newest_per_backend(rows)
    # A real stack that did not show the documented symptom (report.py's OBSERVED): what
    # it did is said after the status; it is neither a pass nor a failure.
    observed = [r for r in rows if r.get("observation") and not r.get("reproduced")]
    rows = [r for r in rows if r not in observed]
    seen = "; ".join("observed on %s %s: %s" % (r.get("backend", "?"), r["_date"], r["observation"])
                     for r in observed)
    if seen and not rows:
        return "Status: 🔎 OBSERVED ONLY (%s)" % seen
    line = status_ran(rows)
    return line[:-1] + "; " + seen + ")" if seen and line.endswith(")") else line


def status_ran(rows):
    ran = [r for r in rows if not r.get("skipped")]
    skipped = [r for r in rows if r.get("skipped")]
    notrun = "; ".join("%s not run: %s, %s" % (r.get("backend", "?"), r["skipped"], r["_date"])
                       for r in skipped)
    if not ran:
        return "Status: ⚠️ NOT RUN (%s)" % notrun
    failed = [r for r in ran if not r.get("passed")]
    where = ", ".join("%s %s" % (r.get("backend", "?"), r["_date"]) for r in ran)
    if not failed:
        return "Status: ✅ REPRODUCED AND HANDLED (backends: %s%s)" % (
            where, "; " + notrun if notrun else "")
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
        parts.append("%s %s: %s" % (r.get("backend", "?"), r["_date"], ", ".join(what) or "failed"))
    return "Status: ❌ FAILED (%s)" % "; ".join(parts)


# --- the actual-errors block ------------------------------------------------------------

FIELDS = ("When", "Date", "Last Seen", "Symptom", "Root Cause", "Solution Applied", "Result")


def actual_from_rows(rows, fault_dir="tests/fault"):
    """(n, backend) -> entry dict, from the rows where a real environment failed; where
    several runs of one (n, backend) are given, the first and last dates and the newest
    run's text."""
    out = {}
    for r in sorted(rows, key=lambda r: (r["_date"], r["_order"])):
        n = err_num(r.get("id"))
        if n is None or r.get("skipped") or not r.get("reproduced"):
            continue
        b = r.get("backend", "")
        if b not in REAL.get(n, ()):
            continue
        cause, fix = CAUSE.get(n, ("see the known error above", "handled as described above"))
        e = {
            "When": "harness scenario %s (%s), %s" % (
                r.get("id"), ", ".join(row_files(n, b, fault_dir)) or fault_dir, r.get("title", "")),
            "Date": r["_date"],
            "Last Seen": r["_date"],
            "Symptom": " ".join(r.get("evidence", "").split()),
            "Root Cause": cause,
            "Solution Applied": fix,
            "Result": ("handled (harness checks passed)" if r.get("handled")
                       else "NOT handled: see the harness report of %s" % r["_date"]),
        }
        out[(n, b)] = merge(out.get((n, b)), e)
    return out


def merge(old, new):
    """One entry from two of the same (error, backend): first Date, last Last Seen, and the
    text of the newer one (the new one on a tie). Order-independent and idempotent."""
    if old is None:
        return new
    first = min(old["Date"], new["Date"])
    last = max(old.get("Last Seen", old["Date"]), new.get("Last Seen", new["Date"]))
    newer = new if new.get("Last Seen", new["Date"]) >= old.get("Last Seen", old["Date"]) else old
    e = dict(newer)
    e["Date"], e["Last Seen"] = first, last
    return e


def parse_auto(block):
    """The entries already in the AUTO block -> (n, backend) -> entry dict. Entries of the
    old layout (one per run date) of one (n, backend) are merged into one."""
    entries, cur = {}, None

    def close(cur):
        if cur and cur.get("_key"):
            k = cur.pop("_key")
            cur.setdefault("Last Seen", cur.get("Date", "undated"))
            cur.setdefault("Date", "undated")
            entries[k] = merge(entries.get(k), cur)

    for line in block.splitlines():
        m = re.match(r"ERROR #: (\d+) \[([^\]]*)\]", line)
        if m:
            close(cur)
            cur = {"_key": (int(m.group(1)), m.group(2))}
            continue
        if cur is None:
            continue
        f = re.match(r"(%s): ?(.*)$" % "|".join(re.escape(x) for x in FIELDS), line)
        if f:
            cur[f.group(1)] = f.group(2)
    close(cur)
    return entries


def render_entry(key, e):
    n, b = key
    lines = ["ERROR #: %d [%s]" % (n, b)]
    lines += ["%s: %s" % (k, e.get(k, "")) for k in FIELDS]
    return "\n".join(lines)


def replace_block(text, name, body):
    pat = re.compile(r"(# AUTO-BEGIN %s[^\n]*\n)(.*?)(# AUTO-END %s\n)" % (name, name), re.S)
    if not pat.search(text):
        sys.exit("errors_log: no AUTO-BEGIN/END %s markers in the log" % name)
    return pat.sub(lambda m: m.group(1) + body + m.group(3), text, count=1)


# --- the known errors' sections ---------------------------------------------------------

def section_span(text, n):
    """(start, end) of ERROR n's section among the known errors: from its heading to the
    next "---" line, the next heading, or the next "=====" rule."""
    m = re.search(r"^ERROR %d: [^\n]*\n" % n, text, re.M)
    if not m:
        return None
    end = re.compile(r"^(---\s*$|ERROR \d+: |=====)", re.M).search(text, m.end())
    return m.start(), end.start() if end else len(text)


def set_field_line(text, n, field, line):
    """Replace the one line "field: ..." of ERROR n's section by `line` (added before
    "Status:", or at the section's end, when missing)."""
    span = section_span(text, n)
    if not span:
        return text
    s, e = span
    sec = text[s:e]
    m = re.search(r"^%s: [^\n]*$" % re.escape(field), sec, re.M)
    if m:
        sec = sec[:m.start()] + line + sec[m.end():]
    else:
        st = re.search(r"^Status: ", sec, re.M)
        if st and field != "Status":
            sec = sec[:st.start()] + line + "\n" + sec[st.start():]
        else:
            body = sec.rstrip("\n")
            sec = body + "\n" + line + "\n" + sec[len(body) + 1:]
    return text[:s] + sec + text[e:]


def statistics(text):
    """(total distinct errors, resolved, numbers, entry count) over the ACTUAL ERRORS
    ENCOUNTERED section, hand-written entries included (the template is not an entry)."""
    sect = text.split("ACTUAL ERRORS ENCOUNTERED", 1)[-1].split("ERROR STATISTICS", 1)[0]
    results = re.findall(r"^ERROR #: (\d+)[^\n]*\n(?:.*\n)*?Result: ([^\n]*)", sect, re.M)
    by_err = {}
    for num, res in results:
        ok = res.strip().lower().startswith(RESOLVED_WORDS)
        by_err[int(num)] = by_err.get(int(num), True) and ok
    resolved = sum(1 for ok in by_err.values() if ok)
    return len(by_err), resolved, sorted(by_err), len(results)


def fold(text, rows, dates, fault_dir="tests/fault"):
    """The log's new text: the pure function behind main()."""
    # 1. Test and Status lines of the known errors.
    by_n = {}
    for r in rows:
        n = err_num(r.get("id"))
        if n is not None:
            by_n.setdefault(n, []).append(r)
    handled_known = 0
    for n in range(1, 11):
        if not section_span(text, n):
            continue
        text = set_field_line(text, n, "Test", test_line(n, fault_dir))
        if n in by_n:
            line = status_line(by_n[n])
            text = set_field_line(text, n, "Status", line)
            if line.startswith("Status: ✅"):
                handled_known += 1

    # 2. Actual errors: one entry per (error, backend), merged with what is there.
    m = re.search(r"# AUTO-BEGIN actual errors[^\n]*\n(.*?)# AUTO-END actual errors\n", text, re.S)
    entries = parse_auto(m.group(1) if m else "")
    for k, e in actual_from_rows(rows, fault_dir).items():
        entries[k] = merge(entries.get(k), e)
    body = "".join(render_entry(k, entries[k]) + "\n\n---\n\n" for k in sorted(entries))
    text = replace_block(text, "actual errors", body)

    # 3. Statistics over the whole "actual errors" section (hand-written entries too).
    total, resolved, nums, count = statistics(text)
    known = sorted(set(d for d in dates))
    stats = ("Total Errors Encountered: %d (distinct errors%s; %d entr%s, one per error and backend)\n"
             "Resolved: %d\nUnresolved: %d\n"
             "Known Workarounds: 10 (%d of 10 reproduced and handled by the harness; reports of %s)\n"
             % (total, (": " + ", ".join(map(str, nums))) if nums else "", count,
                "y" if count == 1 else "ies", resolved, total - resolved, handled_known,
                ", ".join(known) or "none"))
    text = replace_block(text, "statistics", stats)
    dated = [d for d in dates if d != "undated"]
    if dated:
        text = re.sub(r"^Last Updated: [^\n]*", "Last Updated: %s" % max(dated), text, count=1,
                      flags=re.M)
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--report", action="append",
                    help="a harness report (repeatable; default %s)" % DEFAULT_REPORT)
    ap.add_argument("--log", default="ERRORS_LOG.txt")
    ap.add_argument("--fault-dir", default="tests/fault", help="where the errNN_*.c scenarios are")
    a = ap.parse_args(argv)
    reports = a.report or [DEFAULT_REPORT]
    rows, dates = load_rows(reports)
    with open(a.log, encoding="utf-8") as f:
        orig = f.read()
    text = fold(orig, rows, dates, a.fault_dir)
    if text != orig:
        tmp = a.log + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, a.log)
        print("errors_log: %s updated from %s" % (a.log, ", ".join(reports)))
    else:
        print("errors_log: %s already up to date" % a.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Unit tests of tools/errors_log.py (make errors-log): a report keeps its own date,
several runs never add duplicate entries, "Total Errors Encountered" counts distinct
errors, folding twice gives the same file, hand-written text is kept, and each Test:
line names every scenario program of its error.

Run: python3 -m unittest tests/tools/test_errors_log.py   (make check-errors-log)"""
import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import errors_log  # noqa: E402

LOG = """\
ERRORS LOG
Hand-written header: kept byte for byte.

================================================================================
                        KNOWN POTENTIAL ERRORS
================================================================================

ERROR 1: NFS Export Not Working
--------------------------------
When: mounting
Solution:
  1. exportfs -rav
Prevention:
  - Always run exportfs -rav after editing /etc/exports
Initial Status: POTENTIAL (not yet encountered)
Test: old text
      (a hand-written note under the Test line)
Status: old status

---

ERROR 5: CUDA Not Working in Dom0
---------------------------------
When: Running CUDA sanity test in Dom0
Solution:
  1. Run cuda_sanity test first
Initial Status: POTENTIAL (gated by sanity test)
Test: old text
Status: old status

---

ERROR 7: Mediator Not Seeing Command File Updates
-------------------------------------------------
Root Cause:
  - Mediator polling interval too long
Initial Status: POTENTIAL
Test: tests/fault/err07_updates_not_seen.c
Status: old status

================================================================================
                        ACTUAL ERRORS ENCOUNTERED
================================================================================

ERROR #: [Number]
When: [Step/Command]
Date: [Date encountered]
Result: [Did it work?]

---

ERROR #: 5 [by hand]
When: first try of cuda_sanity in Dom0
Date: 2026-01-25
Symptom: CUDA driver version is insufficient
Root Cause: Dom0 driver older than the runtime
Solution Applied: Plan B (GPU worker VM)
Result: resolved

---

# AUTO-BEGIN actual errors (make errors-log)
# AUTO-END actual errors

================================================================================
                            ERROR STATISTICS
================================================================================

# AUTO-BEGIN statistics (make errors-log)
Total Errors Encountered: 0
# AUTO-END statistics

End of Errors Log
Last Updated: January 24, 2026
"""


def row(eid, backend, passed=True, skipped=None, evidence="evidence", reproduced=True):
    r = {"id": eid, "backend": backend, "title": "title of " + eid, "evidence": evidence,
         "reproduced": reproduced, "handled": passed, "passed": passed, "injections": 1,
         "requests": {"lost": 0}}
    if skipped:
        r.update(skipped=skipped, passed=False, reproduced=False, handled=False)
    return r


class Fold(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="errors_log_test.")
        self.fault = os.path.join(self.dir, "tests", "fault")
        os.makedirs(self.fault)
        for name in ("err01_export_not_working.c", "err05_cuda_not_working.c",
                     "err07_nfs_attr_cache.c", "err07_updates_not_seen.c", "x_kill_restart.c"):
            open(os.path.join(self.fault, name), "w").close()
        self.log = os.path.join(self.dir, "ERRORS_LOG.txt")
        with open(self.log, "w", encoding="utf-8") as f:
            f.write(LOG)
        # The GPU host's committed report, two days before the local run.
        self.gpu = self.report("gpu-h200.json", "2026-11-28T17:14:24Z",
                               [row("GPU-BUILD", "cuda"), row("ERR05", "cuda", evidence="no device")])
        self.local = self.report("harness.json", "2026-11-30T18:00:00Z",
                                 [row("ERR01", "nfssim-ganesha"), row("ERR05", "cudart"),
                                  row("ERR05", "cuda", skipped="no GPU"), row("ERR07", "local"),
                                  row("ERR07", "nfssim-local")])

    def tearDown(self):
        shutil.rmtree(self.dir)

    def report(self, name, generated, rows):
        path = os.path.join(self.dir, name)
        rep = {"scenarios": rows}
        if generated:
            rep["generated"] = generated
        with open(path, "w") as f:
            json.dump(rep, f)
        return path

    def run_tool(self, *reports):
        argv = ["--log", self.log, "--fault-dir", self.fault]
        for r in reports:
            argv += ["--report", r]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(errors_log.main(argv), 0)
        with open(self.log, encoding="utf-8") as f:
            return f.read(), out.getvalue()

    @staticmethod
    def entries(text):
        return re.findall(r"^ERROR #: (\d+) \[([^\]]*)\]\n((?:[A-Z][^\n]*\n)+)", text, re.M)

    @staticmethod
    def entry(text, n, backend):
        m = re.search(r"^ERROR #: %d \[%s\]\n((?:[A-Z][^\n]*\n)+)" % (n, re.escape(backend)), text, re.M)
        return dict(re.findall(r"^([A-Za-z ]+): ([^\n]*)$", m.group(1), re.M)) if m else None

    @staticmethod
    def field(text, n, name):
        s, e = errors_log.section_span(text, n)
        m = re.search(r"^%s: ([^\n]*)$" % name, text[s:e], re.M)
        return m.group(1) if m else None

    # --- (a) dates ---------------------------------------------------------------------

    def test_committed_report_keeps_its_own_date(self):
        text, _ = self.run_tool(self.local, self.gpu)
        cuda = self.entry(text, 5, "cuda")
        self.assertEqual((cuda["Date"], cuda["Last Seen"]), ("2026-11-28", "2026-11-28"))
        cudart = self.entry(text, 5, "cudart")
        self.assertEqual((cudart["Date"], cudart["Last Seen"]), ("2026-11-30", "2026-11-30"))
        # The status line dates each backend by its own report; the skipped cuda row of the
        # later local run does not hide the GPU host's result.
        self.assertEqual(self.field(text, 5, "Status"),
                         "✅ REPRODUCED AND HANDLED (backends: cuda 2026-11-28, cudart 2026-11-30)")
        self.assertIn("Last Updated: 2026-11-30", text)

    def test_never_todays_date(self):
        today = time.strftime("%Y-%m-%d", time.gmtime())
        text, _ = self.run_tool(self.gpu)
        self.assertNotIn(today, text)
        self.assertIn("Last Updated: 2026-11-28", text)
        undated = self.report("old.json", None, [row("ERR05", "cudart")])
        text, _ = self.run_tool(undated)
        self.assertNotIn(today, text)
        self.assertEqual(self.entry(text, 5, "cudart")["Date"], "undated")
        self.assertIn("Last Updated: 2026-11-28", text)   # an undated report moves nothing

    # --- (b) duplicates, idempotence, the count ----------------------------------------

    def test_several_runs_one_entry_per_error_and_backend(self):
        self.run_tool(self.local, self.gpu)
        later = self.report("harness2.json", "2026-12-02T09:00:00Z",
                            [row("ERR05", "cudart", evidence="newer evidence"), row("ERR01", "nfssim-ganesha")])
        text, _ = self.run_tool(later, self.gpu)
        keys = [(n, b) for n, b, _ in self.entries(text)]
        self.assertEqual(len(keys), len(set(keys)), keys)
        self.assertEqual(sorted(keys), [("1", "nfssim-ganesha"), ("5", "by hand"), ("5", "cuda"),
                                        ("5", "cudart")])
        cudart = self.entry(text, 5, "cudart")
        self.assertEqual((cudart["Date"], cudart["Last Seen"], cudart["Symptom"]),
                         ("2026-11-30", "2026-12-02", "newer evidence"))
        # Folding the older report again afterwards changes nothing.
        again, out = self.run_tool(self.local)
        self.assertEqual(self.entry(again, 5, "cudart"), cudart)

    def test_total_counts_distinct_errors(self):
        text, _ = self.run_tool(self.local, self.gpu)
        # Entries: 1 [nfssim-ganesha], 5 [cuda], 5 [cudart], 5 [by hand]: errors 1 and 5.
        self.assertIn("Total Errors Encountered: 2 (distinct errors: 1, 5; 4 entries, "
                      "one per error and backend)\nResolved: 2\nUnresolved: 0\n", text)
        self.assertIn("Known Workarounds: 10 (3 of 10 reproduced and handled by the harness; "
                      "reports of 2026-11-28, 2026-11-30)", text)
        # The template "ERROR #: [Number]" is not an error.
        self.assertNotIn("Total Errors Encountered: 3", text)

    def test_unresolved_when_one_entry_of_an_error_is_not(self):
        bad = self.report("bad.json", "2026-12-01T00:00:00Z", [row("ERR06", "knfs", passed=False)])
        text, _ = self.run_tool(self.local, bad)
        self.assertEqual(self.entry(text, 6, "knfs")["Result"],
                         "NOT handled: see the harness report of 2026-12-01")
        self.assertIn("Total Errors Encountered: 3 (distinct errors: 1, 5, 6;", text)
        self.assertIn("Resolved: 2\nUnresolved: 1\n", text)

    def test_idempotent(self):
        once, out1 = self.run_tool(self.local, self.gpu)
        twice, out2 = self.run_tool(self.local, self.gpu)
        self.assertEqual(once, twice)
        self.assertIn("updated", out1)
        self.assertIn("already up to date", out2)
        # Order of the reports does not matter either.
        with open(self.log, "w", encoding="utf-8") as f:
            f.write(LOG)
        reversed_, _ = self.run_tool(self.gpu, self.local)
        self.assertEqual(once, reversed_)

    def test_old_layout_duplicates_are_merged(self):
        old = LOG.replace("# AUTO-END actual errors", "".join(
            "ERROR #: 5 [cudart]\nWhen: w\nDate: %s\nSymptom: s %s\nRoot Cause: c\n"
            "Solution Applied: a\nResult: handled (harness checks passed)\n\n---\n\n" % (d, d)
            for d in ("2026-11-28", "2026-11-29", "2026-11-30")) + "# AUTO-END actual errors")
        with open(self.log, "w", encoding="utf-8") as f:
            f.write(old)
        text, _ = self.run_tool(self.gpu)
        self.assertEqual(len(re.findall(r"^ERROR #: 5 \[cudart\]", text, re.M)), 1)
        e = self.entry(text, 5, "cudart")
        self.assertEqual((e["Date"], e["Last Seen"], e["Symptom"]), ("2026-11-28", "2026-11-30", "s 2026-11-30"))

    # --- hand-written text -------------------------------------------------------------

    def test_hand_written_text_kept(self):
        text, _ = self.run_tool(self.local, self.gpu)

        def strip(t):
            t = re.sub(r"^(Test|Status|Last Updated): [^\n]*$", "", t, flags=re.M)
            return re.sub(r"(# AUTO-BEGIN [^\n]*\n).*?(# AUTO-END)", r"\1\2", t, flags=re.S)
        self.assertEqual(strip(text), strip(LOG))
        for kept in ("Hand-written header: kept byte for byte.",
                     "      (a hand-written note under the Test line)\n",
                     "ERROR #: 5 [by hand]\nWhen: first try of cuda_sanity in Dom0\nDate: 2026-01-25\n",
                     "Initial Status: POTENTIAL (not yet encountered)\n"):
            self.assertIn(kept, text)

    # --- (c) Test: lines ---------------------------------------------------------------

    def test_test_line_names_every_scenario(self):
        text, _ = self.run_tool(self.local)
        f = self.fault
        self.assertEqual(self.field(text, 7, "Test"), "%s/err07_nfs_attr_cache.c, %s/err07_updates_not_seen.c"
                         % (f, f))
        self.assertEqual(self.field(text, 1, "Test"), "%s/err01_export_not_working.c" % f)
        self.assertEqual(self.field(text, 5, "Test"), "%s/err05_cuda_not_working.c" % f)
        # A new scenario appears by itself on the next run.
        open(os.path.join(f, "err07_zz_new.c"), "w").close()
        text, _ = self.run_tool(self.local)
        self.assertTrue(self.field(text, 7, "Test").endswith(", %s/err07_zz_new.c" % f))
        self.assertNotIn("x_kill_restart", text)

    def test_status_failed_and_not_run(self):
        rep = self.report("r.json", "2026-12-03T00:00:00Z",
                          [row("ERR01", "nfssim-ganesha", passed=False, reproduced=False),
                           row("ERR07", "local", skipped="no fuse")])
        text, _ = self.run_tool(rep)
        self.assertEqual(self.field(text, 1, "Status"),
                         "❌ FAILED (nfssim-ganesha 2026-12-03: fault not reproduced, not handled)")
        self.assertEqual(self.field(text, 7, "Status"), "⚠️ NOT RUN (local not run: no fuse, 2026-12-03)")

    def test_guest_rows_name_their_programs(self):
        vm = os.path.join(self.dir, "tests", "vm")
        os.makedirs(vm)
        for name in ("knfs_err07.c", "knfs_err01.c", "xen_tests.sh"):
            open(os.path.join(vm, name), "w").close()
        rep = self.report("r.json", "2026-12-03T00:00:00Z",
                          [row("ERR07", "knfs", evidence="naive: 1 of 10 seen"),
                           row("ERR03", "xen", evidence="1 of 60 records"), row("ERR07", "local")])
        text, _ = self.run_tool(rep)
        f = self.fault
        # the Test: line lists the guests' programs after tests/fault's
        self.assertEqual(self.field(text, 7, "Test"), "%s/err07_nfs_attr_cache.c, %s/err07_updates_not_seen.c, "
                         "%s/knfs_err07.c" % (f, f, vm))
        self.assertEqual(self.field(text, 1, "Test"), "%s/err01_export_not_working.c, %s/knfs_err01.c" % (f, vm))
        # the real stack's rows are actual errors, each naming the program that ran it
        e = self.entry(text, 7, "knfs")
        self.assertTrue(e["When"].startswith("harness scenario ERR07 (%s/knfs_err07.c), " % vm), e)
        self.assertEqual(e["Symptom"], "naive: 1 of 10 seen")
        self.assertIn("attribute cache", e["Root Cause"])
        e = self.entry(text, 3, "xen")
        self.assertTrue(e["When"].startswith("harness scenario ERR03 (%s/xen_tests.sh), " % vm), e)
        self.assertIsNone(self.entry(text, 7, "local"))

    def test_observation_is_neither_pass_nor_failure(self):
        obs = row("ERR01", "knfs", passed=False, reproduced=False)
        obs["observation"] = "the kernel accepted it"
        rep = self.report("r.json", "2026-12-03T00:00:00Z", [row("ERR01", "nfssim-ganesha"), obs])
        text, _ = self.run_tool(rep)
        self.assertEqual(self.field(text, 1, "Status"),
                         "✅ REPRODUCED AND HANDLED (backends: nfssim-ganesha 2026-12-03; "
                         "observed on knfs 2026-12-03: the kernel accepted it)")

        # a real stack's observation alone (no other backend in the report)
        rep = self.report("o.json", "2026-12-04T00:00:00Z", [obs])
        text, _ = self.run_tool(rep)
        self.assertEqual(self.field(text, 1, "Status"),
                         "🔎 OBSERVED ONLY (observed on knfs 2026-12-04: the kernel accepted it)")


class RealRepo(unittest.TestCase):
    """The committed GPU report folded into a copy of the real ERRORS_LOG.txt."""

    def test_committed_gpu_report_keeps_its_date(self):
        gpu = os.path.join(ROOT, "docs", "reports", "gpu-h200.json")
        if not os.path.exists(gpu):
            self.skipTest("no committed GPU report")
        with open(gpu) as f:
            date = json.load(f)["generated"][:10]
        with open(os.path.join(ROOT, "ERRORS_LOG.txt"), encoding="utf-8") as f:
            log = f.read()
        rows, dates = errors_log.load_rows([gpu])
        cwd = os.getcwd()
        try:
            os.chdir(ROOT)
            text = errors_log.fold(log, rows, dates)
            self.assertEqual(errors_log.fold(text, rows, dates), text)
        finally:
            os.chdir(cwd)
        e = Fold.entry(text, 5, "cuda")
        self.assertEqual(e["Date"] <= date <= e["Last Seen"], True, e)
        self.assertIn("Test: tests/fault/err07_nfs_attr_cache.c, tests/fault/err07_updates_not_seen.c", text)


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/env python3
"""ERRORS_LOG.txt keeps the user's knowledge: every item of the user's original errors
log (tests/tools/seed_ERRORS_LOG.txt, kept verbatim) still has its line in
ERRORS_LOG.txt, under the same error and the same field.

SEED_ITEMS is the table: (error number, field, key phrase) taken from the seed by hand.
Three checks make it not vacuous:
  1. every phrase occurs in the seed, under that error and field (the table is the
     seed's, not invented);
  2. every item line of the seed (each When/Symptom/Root Cause/Solution/Prevention/
     Status line, each step, command and bullet) contains at least one phrase of its
     error and field (nothing of the seed is left out of the table);
  3. every phrase occurs in ERRORS_LOG.txt under that error and field (the seed's
     "Status:" is ERRORS_LOG.txt's "Initial Status:"): remove one line and this fails.
Matching ignores case and runs of white space (so a phrase may be wrapped).

Run: python3 -m unittest tests/tools/test_errors_log_seed.py   (make check-errors-log)
ERRORS_LOG_FILE=some/other/log checks another file (used to show that it fails)."""
import os
import re
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SEED = os.path.join(HERE, "seed_ERRORS_LOG.txt")
LOG = os.environ.get("ERRORS_LOG_FILE") or os.path.join(ROOT, "ERRORS_LOG.txt")

W, S, C, F, P, T = "When", "Symptom", "Root Cause", "Solution", "Prevention", "Status"

SEED_ITEMS = [
    # ERROR 1: NFS Export Not Working
    (1, W, "/var/vgpu nfs export"),
    (1, S, "vm cannot mount /var/vgpu"),
    (1, S, "mount.nfs: access denied by server"),
    (1, C, "nfs services not running"),
    (1, C, "export not refreshed after /etc/exports change"),
    (1, C, "firewall blocking nfs ports"),
    (1, F, "ensure nfs services running"),
    (1, F, "systemctl status rpcbind nfs-server"),
    (1, F, "systemctl start rpcbind nfs-server"),
    (1, F, "refresh exports"),
    (1, F, "exportfs -rav"),
    (1, F, "verify export visible"),
    (1, F, "exportfs -v"),
    (1, F, "check from vm"),
    (1, F, "showmount -e <host-ip>"),
    (1, F, "if firewall issues"),
    (1, F, "firewall-cmd --permanent --add-service=nfs"),
    (1, F, "firewall-cmd --reload"),
    (1, P, "always run exportfs -rav after editing /etc/exports"),
    (1, P, "verify with exportfs -v before attempting vm mount"),
    (1, T, "not yet encountered"),
    # ERROR 2: tmpfs Cannot Be Exported via NFS
    (2, W, "attempting to export /dev/shm directly"),
    (2, S, "vm mount hangs or fails"),
    (2, S, "exportfs: /dev/shm does not support nfs export"),
    (2, C, "nfs cannot export tmpfs filesystems directly"),
    (2, F, "use symlink approach (as documented in report1.txt)"),
    (2, F, "mkdir -p /var/vgpu"),
    (2, F, "ln -s /var/vgpu /dev/shm/vgpu"),
    (2, F, "export /var/vgpu (not /dev/shm)"),
    (2, P, "always export real filesystems, not tmpfs"),
    (2, P, "use symlinks to redirect paths as needed"),
    (2, T, "known from report1.txt"),
    # ERROR 3: File Locking Issues with NFS
    (3, W, "multiple vms writing to same file"),
    (3, S, "corrupted command/response files"),
    (3, S, "responses going to wrong vm"),
    (3, S, "deadlocks or timeouts"),
    (3, C, "concurrent writes to same file without locking"),
    (3, C, "nfs cache coherency issues"),
    (3, F, "use per-vm directories (as designed)"),
    (3, F, "/var/vgpu/vm1/command.txt"),
    (3, F, "/var/vgpu/vm1/response.txt"),
    (3, F, "/var/vgpu/vm2/command.txt"),
    (3, F, "/var/vgpu/vm2/response.txt"),
    (3, F, "each vm only writes to its own command file"),
    (3, F, "mediator writes to each vm's response file"),
    (3, P, "never share command/response files between vms"),
    (3, P, "always use per-vm separation"),
    (3, T, "design accounts for this"),
    # ERROR 4: mmap Over NFS Not Reliable
    (4, W, "using mmap for shared memory over nfs"),
    (4, S, "updates not visible to other side"),
    (4, S, "stale data read"),
    (4, S, "inconsistent state"),
    (4, C, "nfs caching issues with mmap"),
    (4, C, "no guarantee of coherency across nfs clients"),
    (4, F, "use explicit file i/o (as designed in report1.txt)"),
    (4, F, "open file, read, close (fresh read every time)"),
    (4, F, "open file, write, close (explicit flush)"),
    (4, F, "no mmap, no shared memory tricks"),
    (4, P, "never use mmap over network filesystems"),
    (4, P, "stick to explicit read/write operations"),
    (4, T, "design avoids this"),
    # ERROR 5: CUDA Not Working in Dom0
    (5, W, "running cuda sanity test in dom0"),
    (5, S, "cudagetdevicecount returns 0"),
    (5, S, "cudamalloc fails"),
    (5, S, "cuda driver version is insufficient"),
    (5, C, "dom0 kernel/driver mismatch"),
    (5, C, "xen dom0 restrictions on gpu access"),
    (5, C, "missing cuda runtime libraries"),
    (5, F, "per report1.txt design"),
    (5, F, "run cuda_sanity test first"),
    (5, F, "if fails: switch to plan b"),
    (5, F, "create gpu worker vm with gpu passthrough"),
    (5, F, "mediator becomes orchestrator only"),
    (5, F, "worker vm executes actual cuda"),
    (5, F, "do not force cuda in dom0 if sanity fails"),
    (5, P, "always test cuda sanity before implementation"),
    (5, P, "have plan b ready (worker vm approach)"),
    (5, T, "gated by sanity test"),
    # ERROR 6: Permission Denied on /mnt/vgpu
    (6, W, "vm tries to write to /mnt/vgpu/vm1/command.txt"),
    (6, S, '"permission denied" error'),
    (6, S, "cannot create files in mounted directory"),
    (6, C, "export not configured with no_root_squash"),
    (6, C, "directory permissions too restrictive"),
    (6, F, "on dom0, ensure export has no_root_squash"),
    (6, F, "/var/vgpu *(rw,sync,no_root_squash,...)"),
    (6, F, "set directory permissions"),
    (6, F, "chmod 777 /var/vgpu/vm1"),
    (6, F, "chmod 777 /var/vgpu/vm2"),
    (6, F, "refresh export"),
    (6, F, "exportfs -rav"),
    (6, F, "remount in vm"),
    (6, F, "sudo umount /mnt/vgpu"),
    (6, F, "sudo mount -t nfs <host-ip>:/var/vgpu /mnt/vgpu"),
    (6, P, "always use no_root_squash for poc/development"),
    (6, P, "set 777 permissions initially, tighten later"),
    (6, T, "common nfs issue"),
    # ERROR 7: Mediator Not Seeing Command File Updates
    (7, W, "vm writes command, mediator doesn't process it"),
    (7, S, "vm client times out waiting for response"),
    (7, S, "mediator shows no activity"),
    (7, S, "command file exists but mediator doesn't see content"),
    (7, C, "nfs attribute caching"),
    (7, C, "mediator polling interval too long"),
    (7, C, "file not fully flushed from vm side"),
    (7, F, "vm client: ensure explicit flush after write"),
    (7, F, 'fprintf(fp, "%d\\n", command);'),
    (7, F, "fflush(fp);"),
    (7, F, "fclose(fp); // force write"),
    (7, F, "mediator: use stat() to check mtime"),
    (7, F, "stat(file, &st);"),
    (7, F, "if (st.st_mtime > last_mtime) { /* read it */ }"),
    (7, F, "reduce nfs cache time (if needed)"),
    (7, F, "mount -o actimeo=1 ..."),
    (7, P, "always fflush() and fclose() after writing"),
    (7, P, "use mtime checking in polling loop"),
    (7, T, "design includes explicit i/o"),
    # ERROR 8: GPU Hang or Driver Crash During Testing
    (8, W, "running concurrent cuda workloads"),
    (8, S, "nvidia-smi hangs"),
    (8, S, '"gpu has fallen off the bus"'),
    (8, S, "requires host reboot"),
    (8, C, "cuda context conflicts"),
    (8, C, "memory leaks in test code"),
    (8, C, "gpu overheating or hardware issue"),
    (8, F, "check gpu temperature"),
    (8, F, "nvidia-smi -q | grep temperature"),
    (8, F, "ensure proper cuda cleanup"),
    (8, F, "cudafree() all allocations"),
    (8, F, "cudadevicereset() at program end"),
    (8, F, "add delays between requests"),
    (8, F, "sleep 1 between vm client calls"),
    (8, F, "monitor gpu utilization"),
    (8, F, "watch -n 1 nvidia-smi"),
    (8, P, "always cleanup cuda resources"),
    (8, P, "start with small workloads, increase gradually"),
    (8, P, "monitor gpu health during testing"),
    (8, T, "cuda testing risk"),
    # ERROR 9: Priority Queue Not Working as Expected
    (9, W, "testing priority ordering"),
    (9, S, "low priority requests processed before high priority"),
    (9, S, "fifo not respected within same priority"),
    (9, C, "queue implementation bug"),
    (9, C, "timestamp not set correctly"),
    (9, C, "priority comparison inverted"),
    (9, F, "to be determined during implementation"),
    (9, F, "verification test"),
    (9, F, "submit requests in order: low, medium, high"),
    (9, F, "check processing order should be: high, medium, low"),
    (9, F, "add timestamps to logs to verify ordering"),
    (9, P, "test priority ordering explicitly"),
    (9, P, "add logging to show queue state"),
    (9, T, "will know during testing"),
    # ERROR 10: Mediator Crashes or Segfaults
    (10, W, "running mediator daemon"),
    (10, S, "mediator process exits unexpectedly"),
    (10, S, "segmentation fault"),
    (10, S, "core dump generated"),
    (10, C, "buffer overflow in file reading"),
    (10, C, "null pointer dereference"),
    (10, C, "race condition in concurrent code"),
    (10, F, "run under debugger"),
    (10, F, "gdb ./mediator"),
    (10, F, "(gdb) run"),
    (10, F, "(gdb) bt # after crash"),
    (10, F, "add bounds checking"),
    (10, F, "check fopen() return values"),
    (10, F, "validate file sizes before reading"),
    (10, F, "null checks before dereferencing"),
    (10, F, "add logging"),
    (10, F, "log entry/exit of major functions"),
    (10, F, "log all file operations"),
    (10, P, "compile with warnings: gcc -wall -wextra"),
    (10, P, "use valgrind for memory checking"),
    (10, P, "add defensive programming checks"),
    (10, T, "standard c programming risk"),
]

# Words the project's checks look for in ERRORS_LOG.txt.
REQUIRED_WORDS = ["firewall-cmd", "actimeo", "exportfs", "no_root_squash", "cuda_sanity",
                  "nvidia-smi", "fflush", "polling interval"]

FIELD_RE = re.compile(r"^(When|Symptom|Root Cause|Solution|Prevention|Initial Status|Test|Status):"
                      r"[ \t]*(.*)$")


def norm(s):
    return " ".join(s.lower().split())


def known_sections(text):
    """{n: {field: [lines]}} for the KNOWN POTENTIAL ERRORS: a section runs from
    "ERROR n: ..." to the "---" line or the next "=====" rule; a field from its label
    to the next label (the text after the label on the label's own line included)."""
    known = text.split("KNOWN POTENTIAL ERRORS", 1)[1].split("ACTUAL ERRORS ENCOUNTERED", 1)[0]
    out = {}
    for m in re.finditer(r"^ERROR (\d+): [^\n]*\n(.*?)(?=^---[ \t]*$|^=====|\Z)", known, re.M | re.S):
        fields, cur = {}, None
        for line in m.group(2).splitlines():
            f = FIELD_RE.match(line)
            if f:
                cur = f.group(1)
                fields.setdefault(cur, [])
                if f.group(2).strip():
                    fields[cur].append(f.group(2))
            elif cur and line.strip() and not set(line.strip()) <= set("-"):
                fields[cur].append(line)
        out[int(m.group(1))] = fields
    return out


def log_field(field):
    return "Initial Status" if field == "Status" else field


class SeedKnowledgeKept(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(SEED, encoding="utf-8") as f:
            cls.seed = known_sections(f.read())
        with open(LOG, encoding="utf-8") as f:
            cls.log_text = f.read()
        cls.log = known_sections(cls.log_text)

    def test_table_is_the_seeds(self):
        self.assertEqual(sorted(self.seed), list(range(1, 11)))
        for n, field, phrase in SEED_ITEMS:
            block = norm(" ".join(self.seed[n].get(field, [])))
            self.assertIn(phrase, block, "table phrase not in the seed's ERROR %d %s" % (n, field))

    def test_every_seed_item_is_in_the_table(self):
        missing = []
        for n, fields in sorted(self.seed.items()):
            for field, lines in fields.items():
                phrases = [p for (k, f, p) in SEED_ITEMS if k == n and f == field]
                for line in lines:
                    if not any(p in norm(line) for p in phrases):
                        missing.append("ERROR %d %s: %s" % (n, field, line.strip()))
        self.assertEqual(missing, [], "seed items without a phrase in SEED_ITEMS")
        self.assertGreaterEqual(len(SEED_ITEMS), 150)

    def test_every_seed_item_kept_in_errors_log(self):
        lost = []
        for n, field, phrase in SEED_ITEMS:
            block = norm(" ".join(self.log.get(n, {}).get(log_field(field), [])))
            if phrase not in block:
                lost.append("ERROR %d %s: %r" % (n, log_field(field), phrase))
        self.assertEqual(lost, [], "seed knowledge missing from %s" % os.path.basename(LOG))

    def test_layout_and_numbering_kept(self):
        heads = re.findall(r"^ERROR (\d+): (.*)$", self.log_text, re.M)
        self.assertEqual([(int(n), t.strip()) for n, t in heads][:10],
                         [(1, "NFS Export Not Working"), (2, "tmpfs Cannot Be Exported via NFS"),
                          (3, "File Locking Issues with NFS"), (4, "mmap Over NFS Not Reliable"),
                          (5, "CUDA Not Working in Dom0"), (6, "Permission Denied on /mnt/vgpu"),
                          (7, "Mediator Not Seeing Command File Updates"),
                          (8, "GPU Hang or Driver Crash During Testing"),
                          (9, "Priority Queue Not Working as Expected"),
                          (10, "Mediator Crashes or Segfaults")])
        order = [self.log_text.find(s) for s in ("KNOWN POTENTIAL ERRORS", "ACTUAL ERRORS ENCOUNTERED",
                                                 "ERROR STATISTICS", "End of Errors Log")]
        self.assertTrue(all(i >= 0 for i in order) and order == sorted(order), order)
        for n in range(1, 11):
            for field in ("When", "Symptom", "Root Cause", "Solution", "Prevention", "Initial Status",
                          "Test", "Status"):
                self.assertIn(field, self.log[n], "ERROR %d has no %s:" % (n, field))

    def test_required_words(self):
        low = self.log_text.lower()
        missing = [w for w in REQUIRED_WORDS if w not in low]
        self.assertEqual(missing, [], "words missing from %s" % os.path.basename(LOG))


if __name__ == "__main__":
    unittest.main()

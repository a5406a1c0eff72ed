/* knfs_err01.c - ERRORS_LOG error 1 ("mount.nfs: access denied by server") against the
 * real stack: knfsd and the Linux NFS client, in the QEMU guest of make check-knfs
 * (tests/vm/knfs_records.sh runs it as root while knfsd runs; tests/fault/
 * err01_export_not_working.c is the same scenario over nfs-ganesha + nfssim).
 *
 * VGPU_KNFS_ERR01_EXPORT is a fresh tmpfs on the server; it is exported (fsid= given)
 * only to VGPU_KNFS_ERR01_OTHER, an address this guest does not have, and mounted from
 * 127.0.0.1 at VGPU_KNFS_ERR01_MOUNT: mount.nfs gets "access denied by server" from
 * rpc.mountd, so the VM's mount point stays an empty local directory.
 * Naive control: the errors log's client (fopen "w" + fprintf unchecked, then waiting
 * for response.txt) in MOUNT/vm1: nothing names the export, it crashes or hangs.
 * Ours: vgpu-client exits 5 (ENODIR) at once, naming the export and the mount command;
 * vgpu-doctor --dir names ERRORS_LOG error 1, "access denied by server" and exportfs.
 * The fix: the export admits 127.0.0.1 (exportfs), the mount works, and a request is
 * answered end to end through the kernel client.
 * Injections = refusals by knfsd (mount.nfs said "access denied by server") and missing
 * directories met by a client. The record's backend is "knfs". */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/client.h"
#include "../e2e/e2e_util.h"
#include "../fault/harness.h"
#include "../fault/naive/naive_nfs.h"

#define NAIVE_WAIT_MS 2000
#define PROMPT_MS 5000     /* "at once", under QEMU TCG */
#define OPTS "vers=3,nolock,hard,lookupcache=positive,acdirmin=1,acdirmax=1"

/* Run CMD with sh -c (stderr joined), its output into OUT; returns its exit status. */
static int sh(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[1500];
	va_list ap;
	FILE *p;
	size_t n = 0;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	out[0] = '\0';
	if (!(p = popen(cmd, "r")))
		return -1;
	while (n + 1 < cap && fgets(out + n, (int)(cap - n), p))
		n = strlen(out);
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Newlines to " | " so that a multi-line message fits one evidence line. */
static void one_line(char *s)
{
	size_t n = strlen(s);
	while (n && s[n - 1] == '\n')
		s[--n] = '\0';
	for (char *p = s; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

int main(void)
{
	const char *margs[] = { "--executor", "mock", "--rescan-ms", "100", NULL };
	const char *exp = getenv("VGPU_KNFS_ERR01_EXPORT"), *mnt = getenv("VGPU_KNFS_ERR01_MOUNT");
	const char *other = getenv("VGPU_KNFS_ERR01_OTHER");
	struct naive_nfs_result n;
	struct h_result r;
	struct e2e_env e;
	char out[2048], dir[400], doc[2048];
	long ms = 0;
	int rc;

	h_begin(&r, "ERR01", "Export not working: knfsd refuses a client not in the export's list", "knfs");
	if (!exp || !mnt || !other) {
		snprintf(r.skipped, sizeof(r.skipped),
			 "no kernel NFS server (VGPU_KNFS_ERR01_EXPORT/MOUNT/OTHER; make check-knfs)");
		return h_finish(&r);
	}
	memset(&e, 0, sizeof(e));

	/* (a) exported to another address only: knfsd's mountd refuses 127.0.0.1 */
	rc = sh(out, sizeof(out), "exportfs -o rw,sync,no_subtree_check,root_squash,fsid=4301 '%s:%s'", other, exp);
	h_check(&r, rc == 0, "exportfs %s:%s (fsid=4301): exit %d %s", other, exp, rc, out);
	rc = sh(out, sizeof(out), "timeout 60 mount -t nfs -o %s 127.0.0.1:'%s' '%s'", OPTS, exp, mnt);
	one_line(out);
	if (rc != 0 && strstr(out, "access denied by server"))
		r.injections++;
	h_check(&r, rc != 0 && strstr(out, "access denied by server"),
		"mount from 127.0.0.1 (not in the list): exit %d \"%.200s\"", rc, out);
	h_evidence(&r, "knfsd (export to %s only): mount from 127.0.0.1 refused: %.120s", other, out);
	if (rc == 0) {
		sh(out, sizeof(out), "umount '%s'", mnt);
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/vm1", mnt);

	/* naive: the errors log's client in the empty mount point */
	naive_nfs_submit(dir, "vm 1\nseq 1\nop ping\n", NAIVE_WAIT_MS, &n);
	if (n.open_errno == ENOENT)
		r.injections++;
	h_naive(&r, n.open_errno == ENOENT && !(n.reported && strstr(n.said, "mount")) && !n.got_answer &&
		(n.crash_signal || n.waited_ms >= NAIVE_WAIT_MS),
		"refused export: fopen(command.txt) %s, unchecked: %s%s, nothing about the export said",
		n.open_errno ? strerror(n.open_errno) : "worked",
		n.crash_signal ? "the writer died by " : "still waiting for response.txt after the bound",
		n.crash_signal ? strsignal(n.crash_signal) : "");
	h_evidence(&r, "naive: fopen(command.txt) %s unchecked, %s, nothing about the export",
		   n.open_errno ? strerror(n.open_errno) : "worked", n.crash_signal ? "crashed" : "hangs");

	/* ours: vgpu-client and vgpu-doctor on the same empty mount point */
	if (e2e_setup(&e, 1) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		goto out;
	}
	{
		const char *args[] = { "--dir", dir, "--timeout", "30", "--lock-dir", e.dir, "ping", NULL };
		r.req.submitted++;
		rc = e2e_run_client(&e, args, 40000, out, sizeof(out), &ms);
		one_line(out);
		if (rc == VGPU_CLIENT_ENODIR) {
			r.req.answered++;    /* reported failed to its client */
			r.injections++;
		} else {
			r.req.lost++;
		}
		h_check(&r, rc == VGPU_CLIENT_ENODIR && ms < PROMPT_MS && strstr(out, "export") && strstr(out, "mount"),
			"vgpu-client exit %d (5 = ENODIR) in %ld ms: \"%s\"", rc, ms, out);
		h_evidence(&r, "ours: vgpu-client exit %d in %ld ms (\"%.100s\")", rc, ms, out);
	}
	rc = sh(doc, sizeof(doc), "'%s/vgpu-doctor' --dir '%s'", getenv("VGPU_BUILD") ? getenv("VGPU_BUILD") : "build",
		dir);
	one_line(doc);
	h_check(&r, rc != 0 && strstr(doc, "not mounted") && strstr(doc, "error 1") &&
		strstr(doc, "access denied by server") && strstr(doc, "exportfs"),
		"vgpu-doctor --dir %s: exit %d, names error 1, the refusal and exportfs: \"%.300s\"", dir, rc, doc);

	/* the fix: the export admits 127.0.0.1 */
	rc = sh(out, sizeof(out), "exportfs -o rw,sync,no_subtree_check,root_squash,fsid=4301 '127.0.0.1:%s'", exp);
	h_check(&r, rc == 0, "the fix: exportfs 127.0.0.1:%s: exit %d %s", exp, rc, out);
	rc = sh(out, sizeof(out), "timeout 60 mount -t nfs -o %s 127.0.0.1:'%s' '%s'", OPTS, exp, mnt);
	one_line(out);
	if (!h_check(&r, rc == 0, "after the fix the mount works: exit %d %s", rc, out))
		goto out;
	setenv("VGPU_KNFS_EXPORT", exp, 1);
	setenv("VGPU_KNFS_MOUNT", mnt, 1);
	e2e_teardown(&e);
	if (e2e_setup_backend(&e, 1, "knfs", NULL) < 0) {
		h_check(&r, 0, "knfs tree: %s", e.errmsg);
		goto umount;
	}
	if (e2e_start_mediator(&e, margs) < 0) {
		h_check(&r, 0, "vgpu-mediator started (see %s)", e.log);
		goto umount;
	}
	e2e_vmdir(&e, 1, dir, sizeof(dir));
	{
		const char *args[] = { "--dir", dir, "--timeout", "30", "--lock-dir", e.dir, "ping", NULL };
		r.req.submitted++;
		rc = e2e_run_client(&e, args, 40000, out, sizeof(out), &ms);
		one_line(out);
		if (rc == 0)
			r.req.answered++;
		else
			r.req.lost++;
		h_check(&r, rc == 0 && e2e_journal_wait(&e, "answer", 1, 1, 1, E2E_WAIT_MS) == 1,
			"after the fix: ping through the kernel client answered once in %ld ms: %s", ms, out);
	}
	h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	h_evidence(&r, "after exportfs admitted 127.0.0.1 the mount worked and a ping was answered");
umount:
	e2e_teardown(&e);
	memset(&e, 0, sizeof(e));
	sh(out, sizeof(out), "timeout 30 umount '%s'", mnt);
out:
	sh(out, sizeof(out), "exportfs -u '127.0.0.1:%s'; exportfs -u '%s:%s'", exp, other, exp);
	if (e.dir[0])
		e2e_teardown(&e);
	return h_finish(&r);
}

/* err01_export_not_working.c - ERRORS_LOG error 1: "NFS Export Not Working" ("mount.nfs:
 * access denied by server"), against a real loopback NFS server (nfs-ganesha).
 *
 * (a) The server refuses the export: ganesha in `deny` mode (its client list excludes
 * 127.0.0.1); nfssim's mount of it fails with "access denied by server" (MNT3ERR_ACCES),
 * so the VM's mount point stays an empty local directory.
 * (b) The export works but the host never created this VM's directory (vm7).
 * Naive control: the errors log's client: fopen(command.txt, "w") + fprintf with nothing
 * checked (fopen's NULL used as it is: the writer dies by SIGSEGV), then, had it lived, a
 * loop reading response.txt until an answer comes: either way nothing names the export. Ours: vgpu-client exits 5 (ENODIR) at once, naming the export /
 * mount and the fix. Then the fix (an export that admits us, vm1 present) answers a request
 * end to end through ganesha. Injections = refusals and missing directories met.
 * Handling proved (src/): src/client/client.c (ENOENT -> VGPU_CLIENT_ENODIR, the mount
 * hint), src/cmd/vgpu-client.c (exit 5, the message). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "naive/naive_nfs.h"

#define NAIVE_WAIT_MS 2000
#define FAST_MS 2000

static const char naive_cmd[] = "vm 1\nseq 1\nop ping\n";

/* The naive client in DIR: must neither report nor get an answer (it would hang). */
static void naive_in(struct h_result *r, const char *dir, const char *what)
{
	struct naive_nfs_result n;

	naive_nfs_submit(dir, naive_cmd, NAIVE_WAIT_MS, &n);
	if (n.open_errno)
		r->injections++;      /* the missing directory, met by the naive fopen */
	h_naive(r, n.open_errno == ENOENT && !(n.reported && strstr(n.said, "mount")) && !n.got_answer &&
		(n.crash_signal || n.waited_ms >= NAIVE_WAIT_MS),
		"%s: fopen(command.txt) %s, unchecked: %s%s%s, nothing about the export said%s%s%s", what,
		n.open_errno ? strerror(n.open_errno) : "worked",
		n.crash_signal ? "the writer died by " : "still waiting for response.txt",
		n.crash_signal ? strsignal(n.crash_signal) : "", n.crash_signal ? "" : " after the bound",
		n.said[0] ? " (stderr: \"" : "", n.said[0] ? n.said : "", n.said[0] ? "\")" : "");
}

/* Ours in DIR: exit 5 fast with a message naming the mount and the fix. */
static void ours_in(struct h_result *r, struct e2e_env *e, const char *dir, const char *what)
{
	const char *args[] = { "--dir", dir, "--timeout", "30", "--lock-dir", e->dir, "ping", NULL };
	char out[2048];
	long ms = 0;
	int rc;

	r->req.submitted++;
	rc = e2e_run_client(e, args, 40000, out, sizeof(out), &ms);
	out[strcspn(out, "\n")] = '\0';
	if (rc == VGPU_CLIENT_ENODIR)
		r->req.answered++;      /* reported failed to its client: accounted, not lost */
	else
		r->req.lost++;
	h_check(r, rc == VGPU_CLIENT_ENODIR && ms < FAST_MS && strstr(out, "export") && strstr(out, "mount"),
		"%s: vgpu-client exit %d (5 = ENODIR) in %ld ms: \"%s\"", what, rc, ms, out);
}

int main(void)
{
	const char *margs[] = { "--executor", "mock", "--rescan-ms", "100", NULL };
	struct h_result r;
	struct e2e_env e;
	char url[512], mnt[300], dir[400], out[2048];
	long ms = 0;

	h_begin(&r, "ERR01", "Export not working: the server refuses the export; VM directory missing", "nfssim-ganesha");
	if (access("/dev/fuse", F_OK) < 0) {
		snprintf(r.skipped, sizeof(r.skipped), "/dev/fuse missing: no FUSE, no nfssim");
		return h_finish(&r);
	}
	if (e2e_setup(&e, 1) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		return h_finish(&r);
	}
	chmod(e.dir, 0755);
	snprintf(mnt, sizeof(mnt), "%s/mnt", e.dir);

	/* (a) the real server refuses us */
	if (e2e_ganesha_up(&e, "deny", e.root, url, sizeof(url)) < 0) {
		h_check(&r, 0, "ganesha (deny) started: %s", e.errmsg);
		goto out;
	}
	if (e2e_mount_nfssim(&e, url, mnt, "squash=none") == 0) {
		h_check(&r, 0, "the refusing server let nfssim mount %s", url);
		goto out;
	}
	if (strstr(e.errmsg, "access denied by server")) {
		r.injections++;
		printf("    refusal: %.200s\n", strstr(e.errmsg, "nfssim:") ? strstr(e.errmsg, "nfssim:") : e.errmsg);
	}
	h_check(&r, r.injections == 1, "the server refused the export: mount failed with \"access denied by server\"");
	h_evidence(&r, "ganesha deny: mount refused (access denied by server)");
	snprintf(dir, sizeof(dir), "%s/vm1", mnt);
	naive_in(&r, dir, "refused export (empty mount point)");
	ours_in(&r, &e, dir, "refused export (empty mount point)");
	e2e_ganesha_down_all(&e);

	/* the fix: an export that admits us (no_root_squash), then (b) a missing vm7 */
	if (e2e_ganesha_up(&e, "no_root_squash", e.root, url, sizeof(url)) < 0 ||
	    e2e_mount_nfssim(&e, url, mnt, "squash=none,lookupcache=positive,acdirmin=1") < 0) {
		h_check(&r, 0, "fixed export mounted: %s", e.errmsg);
		goto out;
	}
	snprintf(e.client_root, sizeof(e.client_root), "%s", mnt);
	snprintf(dir, sizeof(dir), "%s/vm7", mnt);
	naive_in(&r, dir, "vm7 never created on the host");
	ours_in(&r, &e, dir, "vm7 never created on the host");
	h_evidence(&r, "naive: fopen unchecked, no message, waited %d ms for an answer (hangs); ours: exit 5 at once "
		   "naming the export/mount", NAIVE_WAIT_MS);
	if (e2e_start_mediator(&e, margs) < 0) {
		h_check(&r, 0, "vgpu-mediator started (see %s)", e.log);
		goto out;
	}
	{
		const char *args[] = { "--dir", NULL, "--timeout", "30", "--lock-dir", e.dir, "ping", NULL };
		int rc;
		e2e_vmdir(&e, 1, dir, sizeof(dir));
		args[1] = dir;
		r.req.submitted++;
		rc = e2e_run_client(&e, args, 40000, out, sizeof(out), &ms);
		out[strcspn(out, "\n")] = '\0';
		if (rc == 0)
			r.req.answered++;
		else
			r.req.lost++;
		h_check(&r, rc == 0 && e2e_journal_wait(&e, "answer", 1, 1, 1, E2E_WAIT_MS) == 1,
			"after the fix (export admits 127.0.0.1, vm1 exists): ping through ganesha answered in %ld ms: %s",
			ms, out);
	}
	h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	h_evidence(&r, "after the fix a ping through ganesha was answered");
out:
	e2e_teardown(&e);
	return h_finish(&r);
}

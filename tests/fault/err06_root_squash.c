/* err06_root_squash.c - ERRORS_LOG error 6: "Permission denied on /mnt/vgpu", against a
 * real loopback NFS server (nfs-ganesha with Squash = Root_Squash).
 *
 * The host's vm1 belongs to root, mode 0755; the VM's root is squashed by the server to
 * the anonymous uid 65534, so the server answers the create of command.txt with
 * NFS3ERR_ACCES (EACCES through nfssim, squash=none: the server decides).
 * Naive control: the errors log's client, fopen(command.txt, "w") + fprintf unchecked,
 * then waiting for response.txt: nothing is said, nothing reaches the host, it hangs
 * (bounded). Ours: vgpu-client exits 4 (EPERM) at once with "permission denied", naming
 * root_squash and the fix; after the fix (chown 65534:65534 vm1 on the host, as
 * docs/CLIENT.md says) a request is answered end to end through ganesha and the host sees
 * command.txt owned by the squashed uid. Injections = EACCES answers from the server.
 * Handling proved (src/): src/client/client.c (EACCES -> VGPU_CLIENT_EPERM, the root_squash
 * hint), src/cmd/vgpu-client.c (exit 4). */
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

#define NAIVE_WAIT_MS 1500
#define ANON_UID 65534     /* ganesha-up.sh sets Anonymous_Uid = 65534 (ganesha's own default: -2) */

int main(void)
{
	const char *margs[] = { "--executor", "mock", "--rescan-ms", "100", NULL };
	struct h_result r;
	struct e2e_env e;
	struct naive_nfs_result n;
	char url[512], mnt[300], dir[400], sdir[400], out[2048], path[500];
	struct stat st;
	long ms = 0;
	int rc;

	h_begin(&r, "ERR06", "Permission denied: root_squash on the NFS server refuses the VM's root", "nfssim-ganesha");
	if (access("/dev/fuse", F_OK) < 0) {
		snprintf(r.skipped, sizeof(r.skipped), "/dev/fuse missing: no FUSE, no nfssim");
		return h_finish(&r);
	}
	if (e2e_setup(&e, 1) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		return h_finish(&r);
	}
	chmod(e.dir, 0755);
	e2e_server_vmdir(&e, 1, sdir, sizeof(sdir));
	chmod(sdir, 0755);                       /* root's, 0755: the host's default */
	snprintf(mnt, sizeof(mnt), "%s/mnt", e.dir);
	if (e2e_ganesha_up(&e, "root_squash", e.root, url, sizeof(url)) < 0 ||
	    e2e_mount_nfssim(&e, url, mnt, "squash=none,actimeo=0,lookupcache=positive") < 0) {
		h_check(&r, 0, "ganesha (root_squash) exported and mounted: %s", e.errmsg);
		goto out;
	}
	snprintf(e.client_root, sizeof(e.client_root), "%s", mnt);
	e2e_vmdir(&e, 1, dir, sizeof(dir));
	if (e2e_start_mediator(&e, margs) < 0) {
		h_check(&r, 0, "vgpu-mediator started (see %s)", e.log);
		goto out;
	}

	/* naive: the errors log's client, as root in the VM */
	naive_nfs_submit(dir, "vm 1\nseq 1\nop ping\n", NAIVE_WAIT_MS, &n);
	snprintf(path, sizeof(path), "%s/command.txt", sdir);
	if (n.open_errno == EACCES)
		r.injections++;
	h_naive(&r, n.open_errno == EACCES && !(n.reported && strstr(n.said, "squash")) && !n.got_answer &&
		access(path, F_OK) < 0,
		"root in the VM: fopen(command.txt) got %s from the server (squashed to %d), unchecked: %s%s, nothing "
		"about root_squash said%s%.100s%s, nothing reached the host",
		n.open_errno ? strerror(n.open_errno) : "no error", ANON_UID,
		n.crash_signal ? "the writer died by " : "still waiting for an answer (the original hangs)",
		n.crash_signal ? strsignal(n.crash_signal) : "", n.said[0] ? " (stderr: \"" : "", n.said,
		n.said[0] ? "\")" : "");
	h_evidence(&r, "naive: fopen got EACCES from ganesha (root_squash), unchecked: %s, nothing said, no command on the host",
		   n.crash_signal ? "the writer crashed" : "it hangs");

	/* ours, same fault */
	{
		const char *args[] = { "--dir", dir, "--timeout", "30", "--lock-dir", e.dir, "ping", NULL };
		r.req.submitted++;
		rc = e2e_run_client(&e, args, 40000, out, sizeof(out), &ms);
		out[strcspn(out, "\n")] = '\0';
		if (rc == VGPU_CLIENT_EPERM && strstr(out, "Permission denied"))
			r.injections++;      /* the server's EACCES reached our create */
		if (rc == VGPU_CLIENT_EPERM)
			r.req.answered++;    /* reported failed to its client */
		else
			r.req.lost++;
		h_check(&r, rc == VGPU_CLIENT_EPERM && ms < 2000 && strstr(out, "Permission denied") &&
			strstr(out, "root_squash") && strstr(out, "chown") && strstr(out, "65534"),
			"vgpu-client exit %d (4 = EPERM) in %ld ms: \"%s\"", rc, ms, out);
		h_check(&r, e2e_journal_count(&e, "queue", 1, 0) == 0 && access(path, F_OK) < 0,
			"nothing was published or queued for vm1 while refused");
	}
	h_evidence(&r, "ours: exit 4 at once, \"permission denied\" naming root_squash and chown 65534");

	/* the fix, on the host: the VM directory belongs to the anonymous uid */
	if (chown(sdir, ANON_UID, ANON_UID) < 0) {
		h_check(&r, 0, "chown %s: %s", sdir, strerror(errno));
		goto out;
	}
	{
		const char *args[] = { "--dir", dir, "--timeout", "30", "--lock-dir", e.dir, "vadd", "1000", "--seed", "3",
				       NULL };
		r.req.submitted++;
		rc = e2e_run_client(&e, args, 40000, out, sizeof(out), &ms);
		out[strcspn(out, "\n")] = '\0';
		if (rc == 0)
			r.req.answered++;
		else
			r.req.lost++;
		/* seq 1 was spent by the refused call (a seq is never reused): this is seq 2 */
		h_check(&r, rc == 0 && e2e_journal_wait(&e, "answer", 1, 0, 1, E2E_WAIT_MS) == 1 &&
			e2e_journal_count(&e, "exec", 1, 0) == 1,
			"after chown %d:%d vm1 on the host: vadd through ganesha executed and answered once, in %ld ms: %s",
			ANON_UID, ANON_UID,
			ms, out);
		h_check(&r, stat(path, &st) == 0 && st.st_uid == ANON_UID,
			"the host sees vm1/command.txt owned by uid %ld (root squashed by the server)",
			stat(path, &st) == 0 ? (long)st.st_uid : -1L);
	}
	h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	h_evidence(&r, "after chown 65534 a vadd through ganesha was answered, command.txt owned by 65534");
out:
	e2e_teardown(&e);
	return h_finish(&r);
}

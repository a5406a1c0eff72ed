/* knfs_err06.c - ERRORS_LOG error 6 ("Permission denied on /mnt/vgpu") against the real
 * stack: knfsd with root_squash and the Linux NFS client, in the QEMU guest of
 * make check-knfs (tests/vm/guest.sh runs it with VGPU_KNFS_EXPORT/VGPU_KNFS_MOUNT set;
 * tests/fault/err06_root_squash.c is the same scenario over nfs-ganesha + nfssim).
 *
 * vm1 on the server belongs to root, mode 0755; the client's root is squashed by knfsd
 * to 65534, so the create of command.txt gets EACCES from the kernel client.
 * Naive control: the errors log's client (fopen "w" + fprintf unchecked, then waiting
 * for response.txt): silent, nothing reaches the server, it hangs (bounded).
 * Ours: vgpu-client exits 4 (EPERM) at once, naming root_squash and the fix; after the
 * fix (chown 65534:65534 vm1 on the server) a request is answered end to end through
 * the kernel client, and the server sees command.txt owned by 65534.
 * Injections = EACCES answers from the server. The record's backend is "knfs". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client.h"
#include "../e2e/e2e_util.h"
#include "../fault/harness.h"
#include "../fault/naive/naive_nfs.h"

#define NAIVE_WAIT_MS 1500
#define ANON_UID 65534     /* knfsd's default anonuid */
#define PROMPT_MS 5000     /* "at once", under QEMU TCG */

int main(void)
{
	const char *margs[] = { "--executor", "mock", "--rescan-ms", "100", NULL };
	struct h_result r;
	struct e2e_env e;
	struct naive_nfs_result n;
	char dir[400], sdir[400], out[2048], path[500];
	struct stat st;
	long ms = 0;
	int rc;

	h_begin(&r, "ERR06", "Permission denied: root_squash on the NFS server refuses the VM's root", "knfs");
	if (!getenv("VGPU_KNFS_MOUNT") || !getenv("VGPU_KNFS_EXPORT")) {
		snprintf(r.skipped, sizeof(r.skipped), "no kernel NFS mount (VGPU_KNFS_MOUNT/VGPU_KNFS_EXPORT; make check-knfs)");
		return h_finish(&r);
	}
	if (e2e_setup_backend(&e, 1, "knfs", NULL) < 0) {
		h_check(&r, 0, "knfs tree: %s", e.errmsg);
		e2e_teardown(&e);
		return h_finish(&r);
	}
	e2e_server_vmdir(&e, 1, sdir, sizeof(sdir));
	chmod(sdir, 0755);                       /* root's, 0755: the server's default */
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
	h_naive(&r, n.open_errno == EACCES && !n.reported && !n.got_answer && access(path, F_OK) < 0,
		"root in the VM: fopen(command.txt) got %s from knfsd (squashed to %d), the client said nothing, "
		"nothing reached the host, still waiting after %ld ms (the original hangs)",
		n.open_errno ? strerror(n.open_errno) : "no error", ANON_UID, n.waited_ms);
	h_evidence(&r, "naive: fopen got EACCES from knfsd (root_squash), unchecked: silent, no command on the host, hangs");

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
		h_check(&r, rc == VGPU_CLIENT_EPERM && ms < PROMPT_MS && strstr(out, "Permission denied") &&
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
		h_check(&r, rc == 0 && e2e_journal_count(&e, "answer", 1, 0) == 1 && e2e_journal_count(&e, "exec", 1, 0) == 1,
			"after chown %d:%d vm1 on the host: vadd through the kernel client executed and answered once, in %ld ms: %s",
			ANON_UID, ANON_UID,
			ms, out);
		h_check(&r, stat(path, &st) == 0 && st.st_uid == ANON_UID,
			"the server sees vm1/command.txt owned by uid %ld (root squashed by knfsd)",
			stat(path, &st) == 0 ? (long)st.st_uid : -1L);
	}
	h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	h_evidence(&r, "after chown 65534 a vadd through the kernel NFS client was answered, command.txt owned by 65534");
out:
	e2e_teardown(&e);
	return h_finish(&r);
}

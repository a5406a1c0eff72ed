/* x_vm_isolation_ganesha.c - ISOLATION over a real NFS server (issue 10, point 1):
 * ISOLATION-local (x_vm_isolation.c) with the VMs' files written through loopback
 * nfs-ganesha mounts instead of by uid-switched processes on the server's directories.
 *
 * Each "VM" is an nfssim mount (squash=none: the server decides) of an nfs-ganesha
 * export; a process "in" a VM is a child with its own uid (setresuid) working in that
 * mount, so ganesha sees the uid over AUTH_SYS and applies its export's squash.
 * Naive control: the documented old layout (docs/XEN.md): one export of the whole root
 * with root_squash only, every vmN/ owned by 65534, the mediator without uids. VM2's
 * root, through its mount of the root, writes vm1/command.txt asking for high priority:
 * it runs as vm1's request, and VM2 reads vm1's answer.
 * Ours: one export per VM (tests/nfs_sim/ganesha-exports.sh: all_squash,
 * Anonymous_Uid = U_N), vmN/ owned by U_N mode 0700, the mediator told the uids:
 *  - the root is not exported (a mount of it is refused), and VM2's mount (vm2's export)
 *    holds no vm1/: VM2 cannot reach vm1's directory at all;
 *  - whatever uid a process in VM2 uses (0, 1234, vm1's own uid, 65534), what it creates
 *    lands on the server as vm2's uid;
 *  - so a record VM2 made, planted under vm1/ by the only route left (moved there on the
 *    server), is answered WRONG_OWNER and never run; a payload VM2 made, planted under
 *    vm1's request, makes that request WRONG_OWNER;
 *  - VM1's root and VM2's user 1234 are served: their requests run, and VM1's output
 *    file belongs to vm1's uid and is readable through VM1's mount.
 * Injections: forged attempts made (a mount of the root, lookups of vm1/ through VM2's
 * export, creates as foreign uids, planted records and payloads).
 * Not covered on loopback: every export admits 127.0.0.1, so the per-VM client address
 * (a VM mounting another VM's export) is not tested here (Xen: ISOMOUNT-xen).
 * Handling proved: tests/nfs_sim/ganesha-exports.sh (the export layout), and in src/:
 * src/mediator/intake.c (foreign()), src/mediator/answer.c and src/lib/safeio.c (outputs
 * written as the VM's uid). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/opref.h"
#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "vmproc.h"

#define NOBODY 65534
#define U1 5001
#define U2 5002
#define MNT_OPTS "squash=none,actimeo=0,lookupcache=positive"

static struct h_result r;
static uint64_t rng;

static int own(const struct e2e_env *e, uint32_t vm, uid_t uid, mode_t mode)
{
	char dir[400];

	e2e_server_vmdir(e, vm, dir, sizeof(dir));
	if (chown(dir, uid, uid) < 0 || chmod(dir, mode) < 0)
		return h_check(&r, 0, "chown/chmod %s: %s", dir, strerror(errno));
	return 1;
}

/* A private tree whose VM directories the squashed uids can reach. */
static int tree(struct e2e_env *e)
{
	if (e2e_setup(e, 2) < 0)
		return h_check(&r, 0, "private directory: %s", strerror(errno));
	if (chmod(e->dir, 0755) < 0 || chmod(e->root, 0755) < 0)
		return h_check(&r, 0, "chmod of the tree: %s", strerror(errno));
	return 1;
}

/* URL of DIR's export: URL (vm1's, or the root's) with "/vm1?" replaced by WHAT + "?". */
static void url_for(const char *url, const char *what, char *out, size_t cap)
{
	const char *p = strstr(url, "/vm1?");

	if (!p) {
		snprintf(out, cap, "%s", url);
		return;
	}
	snprintf(out, cap, "%.*s%s%s", (int)(p - url), url, what, p + 4);
}

static uid_t server_owner(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? sb.st_uid : (uid_t)-1;
}

/* ---- naive control: one export of the root, root_squash, no uids ---- */

static void naive_control(void)
{
	static const char *const args[] = { "--executor", "mock", "--rescan-ms", "100", "--vm", "1:high", "--vm",
					     "2:low", NULL };
	struct e2e_env e;
	char url[512], mnt[300], vm1[400], rec[1024], nonce[17];
	struct vgpu_response a;
	int len, rc = -1, st = -1, rd = -1;

	memset(&e, 0, sizeof(e));
	if (!tree(&e))
		goto out;
	/* docs/XEN.md's old layout: every vmN/ belongs to the anonymous uid */
	if (!own(&e, 1, NOBODY, 0755) || !own(&e, 2, NOBODY, 0755))
		goto out;
	snprintf(mnt, sizeof(mnt), "%s/mnt-vm2", e.dir);
	if (e2e_ganesha_up(&e, "root_squash", e.root, url, sizeof(url)) < 0 ||
	    e2e_mount_nfssim(&e, url, mnt, MNT_OPTS) < 0) {
		h_naive(&r, 0, "ganesha (one export of the root, root_squash) exported and mounted: %s", e.errmsg);
		goto out;
	}
	if (e2e_start_mediator(&e, args) < 0) {
		h_naive(&r, 0, "vgpu-mediator without uids started (see %s)", e.log);
		goto out;
	}
	snprintf(vm1, sizeof(vm1), "%s/vm1", mnt);
	len = vmproc_ping_record(1, 1, &rng, nonce, rec, sizeof(rec));
	/* "VM2": its root, through its mount of the whole root, squashed to 65534 */
	rc = vmproc_as(0, ACT_PUBLISH, vm1, "command.txt", rec, (size_t)len);
	r.injections++;
	st = rc == 0 ? vmproc_wait_response(vm1, 1, 10000, &a) : -1;
	rd = vmproc_as(0, ACT_READ, vm1, "response.txt", NULL, 0);
	e2e_journal_wait(&e, "exec", 1, 1, 1, E2E_WAIT_MS);
	h_naive(&r, rc == 0 && st == VGPU_OK && vmproc_journal_count(e.journal, "exec", nonce) == 1 && rd == 0,
		"one ganesha export of the root, root_squash, no uids in the mediator: VM2's root wrote "
		"vm1/command.txt through its mount (%s), it ran as vm1's high-priority request (%s, executed %d "
		"time), and VM2 read vm1's answer (%s)",
		rc == 0 ? "allowed" : strerror(rc), st >= 0 ? vgpu_status_name(st) : "no answer",
		vmproc_journal_count(e.journal, "exec", nonce), rd == 0 ? "allowed" : strerror(rd));
	h_evidence(&r, "naive: one ganesha export of the root with root_squash: VM2's root wrote vm1/command.txt "
		   "through NFS, it ran as vm1's (priority high), VM2 read vm1's answer");
	e2e_stop_mediator(&e, 5000);
out:
	e2e_teardown(&e);
}

/* ---- ours: one export per VM, all_squash to its uid ---- */

/* VM2's processes, as uids 0, 1234, vm1's uid and 65534, each create a record for vm1
 * in VM2's mount: every file must land as U2. Returns how many did; 0 on any other. */
static int squash_every_uid(const char *mnt2, const char *sdir2, char nonces[][17], int *forged)
{
	static const uid_t uids[4] = { 0, 1234, U1, NOBODY };
	char rec[VGPU_RECORD_MAX], name[64], path[500];
	int ok = 0;

	for (int i = 0; i < 4; i++) {
		int len = vmproc_ping_record(1, 11, &rng, nonces[i], rec, sizeof(rec));
		int rc;
		uid_t got;

		snprintf(name, sizeof(name), "forged-%u.txt", (unsigned)uids[i]);
		rc = vmproc_as(uids[i], ACT_PUBLISH, mnt2, name, rec, (size_t)len);
		(*forged)++;
		snprintf(path, sizeof(path), "%s/%s", sdir2, name);
		got = server_owner(path);
		if (h_check(&r, rc == 0 && got == U2,
			    "a process in VM2 as uid %u creates %s through its mount: %s, owned on the server by uid %ld "
			    "(vm2's: %d)",
			    (unsigned)uids[i], name, rc ? strerror(rc) : "created", got == (uid_t)-1 ? -1L : (long)got,
			    U2))
			ok++;
	}
	return ok;
}

static void ours(void)
{
	static const char *const args[] = { "--executor", "mock", "--rescan-ms", "100", "--vm", "1:high:5001",
					     "--vm", "2:low:5002", NULL };
	struct e2e_env e;
	char url1[512], url2[600], urlroot[600], mnt1[300], mnt2[300], mntr[300], sdir1[400], sdir2[400];
	char vm1via2[400], rec[VGPU_RECORD_MAX], nonce[17], nonces[4][17], want[200], from[600], to[600];
	struct vgpu_response a;
	int len, rc, st, forged = 0;

	memset(&e, 0, sizeof(e));
	if (!tree(&e))
		goto out;
	if (!own(&e, 1, U1, 0700) || !own(&e, 2, U2, 0700))
		goto out;
	e2e_server_vmdir(&e, 1, sdir1, sizeof(sdir1));
	e2e_server_vmdir(&e, 2, sdir2, sizeof(sdir2));
	snprintf(mnt1, sizeof(mnt1), "%s/mnt-vm1", e.dir);
	snprintf(mnt2, sizeof(mnt2), "%s/mnt-vm2", e.dir);
	snprintf(mntr, sizeof(mntr), "%s/mnt-root", e.dir);
	setenv("GANESHA_VMS", "1:5001 2:5002", 1);
	rc = e2e_ganesha_up(&e, "per_vm", e.root, url1, sizeof(url1));
	unsetenv("GANESHA_VMS");
	url_for(url1, "/vm2", url2, sizeof(url2));
	url_for(url1, "", urlroot, sizeof(urlroot));
	if (rc < 0 || e2e_mount_nfssim(&e, url1, mnt1, MNT_OPTS) < 0 || e2e_mount_nfssim(&e, url2, mnt2, MNT_OPTS) < 0) {
		h_check(&r, 0, "ganesha (one export per VM, all_squash) exported and mounted as VM1 and VM2: %s",
			e.errmsg);
		goto out;
	}
	h_check(&r, 1, "ganesha exports %s/vm1 (all_squash to %d) and %s/vm2 (all_squash to %d); VM1 and VM2 "
		"mount their own", e.root, U1, e.root, U2);
	if (e2e_start_mediator(&e, args) < 0) {
		h_check(&r, 0, "vgpu-mediator with per-VM uids started (see %s)", e.log);
		goto out;
	}

	/* 1. VM2 cannot reach vm1/: the root is not exported, and its export holds no vm1/ */
	rc = e2e_mount_nfssim(&e, urlroot, mntr, MNT_OPTS);
	forged++;
	h_check(&r, rc < 0 && strstr(e.errmsg, "refused"), "a mount of the root %s (every VM's directory): %s%.80s",
		e.root, rc < 0 ? "refused by the server: " : "MOUNTED", rc < 0 ? strstr(e.errmsg, "MNT") ? strstr(e.errmsg, "MNT") : e.errmsg : "");
	snprintf(vm1via2, sizeof(vm1via2), "%s/vm1", mnt2);
	len = vmproc_ping_record(1, 10, &rng, nonce, rec, sizeof(rec));
	rc = vmproc_as(0, ACT_PUBLISH, vm1via2, "command.txt", rec, (size_t)len);
	forged++;
	h_check(&r, rc == ENOENT, "VM2's root creating vm1/command.txt through its mount: %s",
		rc ? strerror(rc) : "created");
	rc = vmproc_as(U1, ACT_READ, vm1via2, "response.txt", NULL, 0);
	forged++;
	h_check(&r, rc == ENOENT, "VM2 as vm1's uid %d reading vm1/response.txt through its mount: %s", U1,
		rc ? strerror(rc) : "read");
	{
		DIR *d = opendir(mnt2);
		struct dirent *de;
		int vmdirs = 0;

		while (d && (de = readdir(d)) != NULL)
			if (strncmp(de->d_name, "vm", 2) == 0)
				vmdirs++;
		if (d)
			closedir(d);
		h_check(&r, d && vmdirs == 0, "VM2's mount is vm2/ itself: %d vmN entries listed in it", vmdirs);
	}

	/* 2. whatever uid a process in VM2 uses, its files are vm2's */
	squash_every_uid(mnt2, sdir2, nonces, &forged);

	/* 3. VM2's record (created as vm1's own uid) planted under vm1/: WRONG_OWNER */
	snprintf(from, sizeof(from), "%s/forged-%d.txt", sdir2, U1);
	snprintf(to, sizeof(to), "%s/command.txt", sdir1);
	rc = rename(from, to);
	forged++;
	st = rc == 0 ? vmproc_wait_response(mnt1, 0, 10000, &a) : -1;
	snprintf(want, sizeof(want), "command.txt belongs to uid %d, not the VM's uid %d", U2, U1);
	h_check(&r, rc == 0 && st == VGPU_WRONG_OWNER && e2e_log_wait(&e, want, 1, E2E_WAIT_MS) >= 1 &&
		vmproc_journal_count(e.journal, "queue", nonces[2]) == 0 && vmproc_journal_count(e.journal, "exec", nonces[2]) == 0,
		"VM2's record (made as uid %d) moved into vm1/ on the server: VM1 reads %s (\"%.100s\"), not queued, "
		"not run, logged", U1, st >= 0 ? vgpu_status_name(st) : "no answer", st >= 0 ? a.error : "");
	if (vmproc_journal_count(e.journal, "exec", nonces[2]))
		r.req.misrouted++;

	{
		/* 4. a payload VM2 made, planted under VM1's request; then VM1's own request */
		const uint64_t n = 256;
		float *in = malloc(2 * n * sizeof(float));
		struct vgpu_request q;
		char out[500];

		if (!in) {
			h_check(&r, 0, "malloc");
			goto stop;
		}
		for (uint64_t i = 0; i < 2 * n; i++)
			in[i] = (float)i;
		memset(&q, 0, sizeof(q));
		q.vm = 1;
		q.seq = 12;
		snprintf(q.nonce, sizeof(q.nonce), "%016" PRIx64, h_rand(&rng));
		q.op = VGPU_OP_VADD;
		q.priority = VGPU_PRIO_HIGH;
		q.args.n = n;
		q.output_file = -1;
		vgpu_payload_name(q.input.name, "in", q.seq);
		q.input.bytes = 2 * n * sizeof(float);
		q.input.crc = vgpu_crc32(in, q.input.bytes);
		rc = vmproc_as(U1, ACT_PUBLISH, mnt2, q.input.name, in, q.input.bytes);   /* VM2 as vm1's uid */
		snprintf(from, sizeof(from), "%s/%s", sdir2, q.input.name);
		snprintf(to, sizeof(to), "%s/%s", sdir1, q.input.name);
		if (rc == 0)
			rc = rename(from, to) < 0 ? errno : 0;
		forged++;
		len = vgpu_request_encode(&q, rec, sizeof(rec));
		vmproc_as(0, ACT_PUBLISH, mnt1, "command.txt", rec, (size_t)len);         /* VM1's root */
		st = vmproc_wait_response(mnt1, 12, 10000, &a);
		r.req.submitted++;
		if (st == VGPU_WRONG_OWNER)
			r.req.answered++;
		else
			r.req.lost++;
		h_check(&r, rc == 0 && st == VGPU_WRONG_OWNER && vmproc_journal_count(e.journal, "exec", q.nonce) == 0,
			"VM1's request whose payload VM2 made and planted in vm1/: %s (\"%.100s\"), not run",
			st >= 0 ? vgpu_status_name(st) : "no answer", st >= 0 ? a.error : "");

		q.seq = 13;
		snprintf(q.nonce, sizeof(q.nonce), "%016" PRIx64, h_rand(&rng));
		vgpu_payload_name(q.input.name, "in", q.seq);
		len = vgpu_request_encode(&q, rec, sizeof(rec));
		vmproc_as(0, ACT_PUBLISH, mnt1, q.input.name, in, q.input.bytes);
		vmproc_as(0, ACT_PUBLISH, mnt1, "command.txt", rec, (size_t)len);
		st = vmproc_wait_response(mnt1, 13, 10000, &a);
		r.req.submitted++;
		if (st == VGPU_OK && strstr(a.result, "count=256"))
			r.req.answered++;
		else
			r.req.lost++;
		snprintf(out, sizeof(out), "%s/%s", sdir1, a.output.name);
		h_check(&r, st == VGPU_OK && a.output.name[0] && server_owner(out) == U1 &&
			vmproc_as(4321, ACT_READ, mnt1, a.output.name, NULL, 0) == 0 && vmproc_journal_count(e.journal, "exec", q.nonce) == 1,
			"VM1's root's own vadd through its mount: %s, executed once, %s owned by uid %d on the server and "
			"readable by VM1's user 4321 through its mount",
			st >= 0 ? vgpu_status_name(st) : "no answer", a.output.name, U1);
		free(in);
	}

	/* 5. VM2 itself is served, whatever uid it uses */
	len = vmproc_ping_record(2, 1, &rng, nonce, rec, sizeof(rec));
	rc = vmproc_as(1234, ACT_PUBLISH, mnt2, "command.txt", rec, (size_t)len);
	st = rc == 0 ? vmproc_wait_response(mnt2, 1, 10000, &a) : -1;
	r.req.submitted++;
	if (st == VGPU_OK)
		r.req.answered++;
	else
		r.req.lost++;
	h_check(&r, st == VGPU_OK && vmproc_journal_count(e.journal, "exec", nonce) == 1,
		"VM2's user 1234 pings through its mount: %s, executed once",
		st >= 0 ? vgpu_status_name(st) : rc ? strerror(rc) : "no answer");
	r.injections += forged;
	h_evidence(&r, "ours: one ganesha export per VM, all_squash to its uid: the root not exported, no vm1/ in "
		   "VM2's export; VM2's files as uids 0, 1234, %d, 65534 all owned by %d; planted in vm1/ they are "
		   "answered WRONG_OWNER, never run; VM1 and VM2 served, VM1's output owned by %d",
		   U1, U2, U1);
stop:
	h_check(&r, e2e_stop_mediator(&e, 5000) == 0, "the mediator stops on SIGTERM");
out:
	e2e_teardown(&e);
}

int main(void)
{
	h_begin(&r, "ISOLATION", "One VM acting as another over NFS: one ganesha export per VM, all_squash",
		"nfssim-ganesha");
	rng = r.seed;
	signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0) {
		snprintf(r.skipped, sizeof(r.skipped), "needs root (nfs-ganesha, FUSE, setresuid children)");
		return h_finish(&r);
	}
	if (access("/dev/fuse", F_OK) < 0) {
		snprintf(r.skipped, sizeof(r.skipped), "/dev/fuse missing: no FUSE, no nfssim");
		return h_finish(&r);
	}
	naive_control();
	ours();
	return h_finish(&r);
}

/* x_vm_isolation.c - beyond the ten (issue 10, point 1): one VM acting as another.
 * With one export and root_squash (the layout docs/XEN.md used to recommend), every VM's
 * root reaches Dom0 as the same uid (65534) and can write every vmN/.
 *
 * Each "VM" here is a child process with its own uid (fork, setresuid), writing into the
 * server-side directories as a VM's NFS writes arrive there (knfsd and ganesha write as
 * the squashed uid).
 * Naive control: the documented layout (every vmN/ owned by 65534, mode 0770) and the
 * mediator without uids (today's default): "VM2" (65534) writes vm1/command.txt asking
 * for high priority: it is executed as vm1's request, and VM2 reads vm1's answer.
 * Ours: per-VM uids (vmN/ owned by U_N, mode 0700, as one export per VM with
 * all_squash,anonuid=U_N gives) and the mediator told them (--vm N:PRIO:UID):
 *  - VM2 cannot create or read anything in vm1/ (the kernel refuses: EACCES);
 *  - with vm1/ opened up by mistake (mode 0777), VM2's record in vm1/ is answered
 *    WRONG_OWNER and never run; a payload VM2 slipped under VM1's request makes that
 *    request WRONG_OWNER, never run; the mediator logs it;
 *  - VM1's own request runs, and its out-SEQ.bin belongs to VM1's uid;
 *  - a vm3/ owned by another VM's uid is not served at all.
 * Injections: forged writes attempted (refused by the kernel or by the mediator).
 * The same over nfs-ganesha with one export per VM (all_squash, anonuid):
 * x_vm_isolation_ganesha.c.
 * Handling proved (src/): src/mediator/intake.c (foreign(): command.txt and payloads),
 * src/mediator/vms.c (vgpu_vms_add: the directory's owner), src/mediator/answer.c and
 * src/lib/safeio.c (outputs written as the VM's uid). */
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
#define U3 5003

static struct e2e_env env;
static struct h_result r;
static uint64_t rng;

static void vmdir(uint32_t vm, char *buf, size_t cap)
{
	e2e_server_vmdir(&env, vm, buf, cap);
}

/* Wait for vmN/response.txt to answer SEQ (up to BOUND_MS); its status, -1 when none. */
static int wait_response(uint32_t vm, int64_t seq, int bound_ms, struct vgpu_response *out)
{
	char dir[400];

	vmdir(vm, dir, sizeof(dir));
	return vmproc_wait_response(dir, seq, bound_ms, out);
}

static void own(uint32_t vm, uid_t uid, mode_t mode)
{
	char dir[400];

	vmdir(vm, dir, sizeof(dir));
	if (chown(dir, uid, uid) < 0 || chmod(dir, mode) < 0)
		h_check(&r, 0, "chown/chmod %s: %s", dir, strerror(errno));
}

/* ---- naive control: one squashed uid for all VMs, no uids in the mediator ---- */

static void naive_control(void)
{
	static const char *const args[] = { "--executor", "mock", "--vm", "1:high", "--vm", "2:low", NULL };
	char dir1[400], rec[1024], nonce[17];
	struct vgpu_response a;
	int len, rc, st, rd;

	for (uint32_t vm = 1; vm <= 2; vm++)
		own(vm, NOBODY, 0770);
	if (e2e_start_mediator(&env, args) < 0) {
		h_naive(&r, 0, "vgpu-mediator without uids started (see %s)", env.log);
		return;
	}
	vmdir(1, dir1, sizeof(dir1));
	len = vmproc_ping_record(1, 1, &rng, nonce, rec, sizeof(rec));
	/* "VM2": root in VM2, squashed to 65534 like every VM */
	rc = vmproc_as(NOBODY, ACT_PUBLISH, dir1, "command.txt", rec, (size_t)len);
	r.injections++;
	st = rc == 0 ? wait_response(1, 1, 5000, &a) : -1;
	rd = vmproc_as(NOBODY, ACT_READ, dir1, "response.txt", NULL, 0);
	e2e_journal_wait(&env, "exec", 1, 1, 1, 2000);
	h_naive(&r, rc == 0 && st == VGPU_OK && vmproc_journal_count(env.journal, "exec", nonce) == 1 && rd == 0,
		"one squashed uid (65534) for every VM, no uids in the mediator: VM2 wrote vm1/command.txt (%s), it "
		"ran as vm1's high-priority request (%s, executed %d time), and VM2 read vm1's answer (%s)",
		rc == 0 ? "allowed" : strerror(rc), st >= 0 ? vgpu_status_name(st) : "no answer",
		vmproc_journal_count(env.journal, "exec", nonce), rd == 0 ? "allowed" : strerror(rd));
	h_evidence(&r, "naive: one squashed uid, no uids configured: VM2's record in vm1/ ran as vm1's (priority high) "
		   "and VM2 read vm1's answer");
	e2e_stop_mediator(&env, 5000);
}

/* ---- ours ---- */

static void ours(void)
{
	static const char *const args[] = { "--executor", "mock", "--rescan-ms", "100", "--vm", "1:high:5001",
					     "--vm", "2:low:5002", "--vm-uid", "3:5003", NULL };
	char dir1[400], dir3[400], rec[VGPU_RECORD_MAX], nonce[17], want[160];
	struct vgpu_response a;
	int len, rc, st, forged = 0;

	own(1, U1, 0700);
	own(2, U2, 0700);
	own(3, U2, 0777);        /* vm3/ taken by VM2's uid: must not be served */
	if (e2e_start_mediator(&env, args) < 0) {
		h_check(&r, 0, "vgpu-mediator with per-VM uids started (see %s)", env.log);
		return;
	}
	vmdir(1, dir1, sizeof(dir1));
	vmdir(3, dir3, sizeof(dir3));

	/* 1. vm1/ is VM1's, mode 0700: VM2 can neither write nor read there */
	len = vmproc_ping_record(1, 10, &rng, nonce, rec, sizeof(rec));
	rc = vmproc_as(U2, ACT_PUBLISH, dir1, "command.txt", rec, (size_t)len);
	forged++;
	h_check(&r, rc == EACCES, "VM2 (uid %d) creating vm1/command.txt (vm1/ owned by %d, 0700): %s", U2, U1,
		rc ? strerror(rc) : "allowed");
	rc = vmproc_as(U2, ACT_READ, dir1, "response.txt", NULL, 0);
	forged++;
	h_check(&r, rc == EACCES, "VM2 reading vm1/response.txt: %s", rc ? strerror(rc) : "allowed");

	/* 2. vm1/ opened up by mistake: the mediator refuses what is not VM1's */
	own(1, U1, 0777);
	len = vmproc_ping_record(1, 11, &rng, nonce, rec, sizeof(rec));
	rc = vmproc_as(U2, ACT_PUBLISH, dir1, "command.txt", rec, (size_t)len);
	forged++;
	st = rc == 0 ? wait_response(1, 0, 5000, &a) : -1;
	snprintf(want, sizeof(want), "command.txt belongs to uid %d, not the VM's uid %d", U2, U1);
	e2e_msleep(200);
	h_check(&r, rc == 0 && st == VGPU_WRONG_OWNER && vmproc_journal_count(env.journal, "queue", nonce) == 0 &&
		vmproc_journal_count(env.journal, "exec", nonce) == 0 && e2e_log_wait(&env, want, 1, E2E_WAIT_MS) >= 1,
		"vm1/ mode 0777: VM2's record in vm1/ answered %s (\"%.120s\"), not queued, not run, logged",
		st >= 0 ? vgpu_status_name(st) : "nothing", st >= 0 ? a.error : "");
	if (vmproc_journal_count(env.journal, "exec", nonce))
		r.req.misrouted++;
	{
		/* VM1's request with a payload VM2 replaced (same name, VM2's file) */
		const uint64_t n = 256;
		float *in = malloc(2 * n * sizeof(float));
		struct vgpu_request q;
		char name[VGPU_NAME_MAX];

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
		snprintf(name, sizeof(name), "%s", q.input.name);
		len = vgpu_request_encode(&q, rec, sizeof(rec));
		vmproc_as(U1, ACT_PUBLISH, dir1, name, in, q.input.bytes);
		rc = vmproc_as(U2, ACT_PUBLISH, dir1, name, in, q.input.bytes);   /* the same bytes, VM2's file */
		forged++;
		vmproc_as(U1, ACT_PUBLISH, dir1, "command.txt", rec, (size_t)len);
		st = wait_response(1, 12, 5000, &a);
		r.req.submitted++;
		if (st == VGPU_WRONG_OWNER)
			r.req.answered++;
		else
			r.req.lost++;
		h_check(&r, rc == 0 && st == VGPU_WRONG_OWNER && vmproc_journal_count(env.journal, "exec", q.nonce) == 0,
			"VM1's request whose payload VM2 replaced: %s (\"%.120s\"), not run",
			st >= 0 ? vgpu_status_name(st) : "no answer", st >= 0 ? a.error : "");

		/* 3. VM1's own request: runs; its output is VM1's */
		own(1, U1, 0700);
		q.seq = 13;
		snprintf(q.nonce, sizeof(q.nonce), "%016" PRIx64, h_rand(&rng));
		vgpu_payload_name(q.input.name, "in", q.seq);
		len = vgpu_request_encode(&q, rec, sizeof(rec));
		vmproc_as(U1, ACT_PUBLISH, dir1, q.input.name, in, q.input.bytes);
		vmproc_as(U1, ACT_PUBLISH, dir1, "command.txt", rec, (size_t)len);
		st = wait_response(1, 13, 5000, &a);
		r.req.submitted++;
		{
			char out[500];
			struct stat sb;
			int owned;

			snprintf(out, sizeof(out), "%s/%s", dir1, a.output.name);
			owned = st == VGPU_OK && a.output.name[0] && stat(out, &sb) == 0 && sb.st_uid == U1;
			if (st == VGPU_OK && strstr(a.result, "count=256"))
				r.req.answered++;
			else
				r.req.lost++;
			h_check(&r, st == VGPU_OK && owned && vmproc_as(U1, ACT_READ, dir1, a.output.name, NULL, 0) == 0 &&
				vmproc_journal_count(env.journal, "exec", q.nonce) == 1,
				"VM1's own vadd: %s, executed once, %s owned by uid %d and readable by VM1",
				st >= 0 ? vgpu_status_name(st) : "no answer", a.output.name, U1);
		}
		free(in);
	}

	/* 4. vm3/ belongs to VM2's uid: not served (VM3 writes there, nothing answers) */
	len = vmproc_ping_record(3, 1, &rng, nonce, rec, sizeof(rec));
	rc = vmproc_as(U3, ACT_PUBLISH, dir3, "command.txt", rec, (size_t)len);
	forged++;
	st = wait_response(3, 1, 1000, &a);
	h_check(&r, rc == 0 && st < 0 && vmproc_journal_count(env.journal, "queue", nonce) == 0 &&
		e2e_log_count(&env, "vm3/: owned by uid 5002, but vm3's uid is 5003") >= 1,
		"vm3/ owned by VM2's uid: not served (no answer, logged once: %d line)",
		e2e_log_count(&env, "vm3/: owned by uid 5002"));
	r.injections += forged;
	h_evidence(&r, "ours: per-VM uids and 0700 directories: VM2 refused by the kernel in vm1/; with vm1/ opened "
		   "up, VM2's record and payload answered WRONG_OWNER, never run; VM1's output owned by its uid; a "
		   "vm3/ owned by another uid not served");
	h_check(&r, e2e_stop_mediator(&env, 5000) == 0, "the mediator stops on SIGTERM");
}

int main(void)
{
	h_begin(&r, "ISOLATION", "One VM acting as another: per-VM uids, WRONG_OWNER", "local");
	rng = r.seed;
	signal(SIGPIPE, SIG_IGN);
	if (geteuid() != 0) {
		snprintf(r.skipped, sizeof(r.skipped), "needs root (setresuid children as the VMs' uids)");
		return h_finish(&r);
	}
	if (e2e_setup(&env, 3) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		return h_finish(&r);
	}
	/* the VMs' uids must reach ROOT/vmN (Dom0's export root is 0755) */
	if (chmod(env.dir, 0755) < 0 || chmod(env.root, 0755) < 0)
		h_check(&r, 0, "chmod of the tree: %s", strerror(errno));
	naive_control();
	ours();
	e2e_teardown(&env);
	return h_finish(&r);
}

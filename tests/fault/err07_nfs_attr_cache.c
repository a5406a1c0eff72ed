/* err07_nfs_attr_cache.c - ERRORS_LOG error 7 ("Mediator Not Seeing Command File
 * Updates") over nfssim: the NFS client's own ways of hiding an update. Id "ERR07",
 * backend nfssim-local (tests/fault/err07_updates_not_seen.c is the local-directory one).
 *
 * The VM's mount (ours and the naive VM's) uses actimeo=30 (attribute cache) and
 * wsize=32,wdelay_ms=20 (write-back in 32-byte WRITEs, 20 ms apart, as a server sees them).
 * (a) Stale attributes: a naive stat-only poller of vm2/response.txt on a second VM mount
 *     (actimeo=30) sees the old size and mtime after a new answer arrived (a control mount
 *     with actimeo=0 sees it). Ours polls by open/read/close: close-to-open revalidates.
 * (b) Partial writes: the naive VM writes vm3/command.txt in place (fopen/fprintf/fclose);
 *     a naive server-side reader sees a prefix of it. Ours: the mediator waits for the
 *     complete record (INCOMPLETE) and executes it once; our client publishes by
 *     temp+rename, so no partial command.txt ever exists.
 * (c) A second update within one second: the errors log's `st_mtime > last` poller on the
 *     server misses it. Ours: two requests within one second, both answered.
 * Injections: attribute-cache hits that served the stale size (nfssim stats), write-back
 * chunks of the in-place write, and the same-second update.
 * Handling proved (src/): src/client/client.c (close-to-open reads, seq/nonce),
 * src/mediator/intake.c (content key, not st_mtime), src/lib/safeio.c, src/lib/record.c
 * (CRC, end line). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "naive/naive_mtime_poller.h"
#include "naive/naive_nfs.h"
#include "../common/testutil.h"

#define VM_OPTS "actimeo=30,lookupcache=positive,wsize=32,wdelay_ms=20"

static void align_to_second(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_nsec >= 50000000L && ts.tv_nsec <= 300000000L)
		return;
	long wait_ns = ts.tv_nsec < 50000000L ? 50000000L - ts.tv_nsec : 1050000000L - ts.tv_nsec;
	msleep((int)(wait_ns / 1000000L) + 1);
}

/* One call of OP through C; accounts it; 1 when answered OK with its own seq. */
static int ours_call(struct h_result *r, struct vgpu_client *c, uint32_t vm, enum vgpu_op op, uint64_t n)
{
	struct vgpu_request q = { .op = op, .args.n = n, .args.has_seed = op == VGPU_OP_VADD, .args.seed = 5,
				  .priority = VGPU_PRIO_MEDIUM, .output_file = -1 };
	struct vgpu_response resp;
	char err[512];
	int rc;

	r->req.submitted++;
	rc = vgpu_client_call(c, &q, NULL, 0, &resp, NULL, NULL, err, sizeof(err));
	if (rc == VGPU_CLIENT_OK && resp.vm == vm && resp.seq == vgpu_client_last_seq(c)) {
		r->req.answered++;
		return 1;
	}
	if (rc == VGPU_CLIENT_OK)
		r->req.misrouted++;
	else
		r->req.lost++;
	printf("    ours vm%u: rc %d: %s\n", vm, rc, rc ? err : "wrong seq/vm");
	return 0;
}

int main(void)
{
	const char *margs[] = { "--executor", "mock", "--rescan-ms", "20", "--grace-ms", "3000", NULL };
	struct h_result r;
	struct e2e_env e;
	struct vgpu_client_opts o = { .timeout_ms = 20000, .poll_max_ms = 20 };
	struct vgpu_client *c1 = NULL, *c2 = NULL;
	char mA[300], mC[300], dir[400], p[600], err[512];

	h_begin(&r, "ERR07", "Updates not seen over NFS: stale attribute cache, partial writes, same-second update",
		"nfssim-local");
	if (access("/dev/fuse", F_OK) < 0) {
		snprintf(r.skipped, sizeof(r.skipped), "/dev/fuse missing: no FUSE, no nfssim");
		return h_finish(&r);
	}
	if (e2e_setup_backend(&e, 4, "nfssim-local", VM_OPTS) < 0) {
		h_check(&r, 0, "nfssim-local mounted (%s): %s", VM_OPTS, e.errmsg);
		e2e_teardown(&e);
		return h_finish(&r);
	}
	o.lock_dir = e.dir;
	snprintf(mA, sizeof(mA), "%s/mntA", e.dir);
	snprintf(mC, sizeof(mC), "%s/mntC", e.dir);
	if (e2e_mount_nfssim(&e, e.root, mA, "actimeo=30,lookupcache=positive") < 0 ||
	    e2e_mount_nfssim(&e, e.root, mC, "actimeo=0,lookupcache=positive") < 0) {
		h_check(&r, 0, "second VM mount and control mount: %s", e.errmsg);
		goto out;
	}
	if (e2e_start_mediator(&e, margs) < 0) {
		h_check(&r, 0, "vgpu-mediator started (see %s)", e.log);
		goto out;
	}

	/* (a) stale attributes */
	{
		struct naive_stat_poller na, nc;
		int naive_saw = 0, control_saw = 0, ok = 0;
		long hits0, hits1;

		e2e_vmdir(&e, 2, dir, sizeof(dir));
		if (vgpu_client_open(&c2, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK) {
			h_check(&r, 0, "vm2 client: %s", err);
			goto out;
		}
		ok += ours_call(&r, c2, 2, VGPU_OP_PING, 0);
		snprintf(p, sizeof(p), "%s/vm2/response.txt", mA);
		naive_stat_init(&na, p);
		snprintf(p, sizeof(p), "%s/vm2/response.txt", mC);
		naive_stat_init(&nc, p);
		naive_stat_poll(&na);
		naive_stat_poll(&nc);
		hits0 = e2e_nfssim_stat(&e, mA, "attr_cache.hits");
		ok += ours_call(&r, c2, 2, VGPU_OP_VADD, 4096);   /* a new answer, another size */
		for (int i = 0; i < 20; i++) {
			naive_saw |= naive_stat_poll(&na) == 1;
			control_saw |= naive_stat_poll(&nc) == 1;
			msleep(50);
		}
		hits1 = e2e_nfssim_stat(&e, mA, "attr_cache.hits");
		if (!naive_saw && hits1 > hits0)
			r.injections += hits1 - hits0;
		h_naive(&r, !naive_saw && control_saw && hits1 > hits0,
			"stat-only poller of vm2/response.txt (actimeo=30): no change seen for 1 s after a new answer "
			"(%ld stale attribute-cache hits); the actimeo=0 control saw it %s", hits1 - hits0,
			control_saw ? "at once" : "NOT");
		h_check(&r, ok == 2, "vm2 through the actimeo=30 mount: both answers received with their own seq (open "
			"revalidates: close-to-open)");
		h_evidence(&r, "naive stat poller (actimeo=30) missed a new answer for 1 s (%ld stale cache hits)",
			   hits1 - hits0);
	}

	/* (b) partial writes on the server */
	{
		struct vgpu_request q = { .vm = 3, .seq = 1, .op = VGPU_OP_VADD, .args.n = 65536, .args.has_seed = 1, .args.seed = 7,
					  .priority = VGPU_PRIO_MEDIUM, .output_file = -1 };
		char rec[1024], sp[600], buf[1024];
		int len, partial = 0, minseen = 1 << 30;
		long ch0 = e2e_nfssim_stat(&e, NULL, "writeback.chunks"), ch1;
		pid_t w;

		snprintf(q.nonce, sizeof(q.nonce), "00000000000007a3");
		len = vgpu_request_encode(&q, rec, sizeof(rec));
		e2e_vmdir(&e, 3, dir, sizeof(dir));
		snprintf(p, sizeof(p), "%s/command.txt", dir);
		e2e_server_vmdir(&e, 3, dir, sizeof(dir));
		snprintf(sp, sizeof(sp), "%s/command.txt", dir);
		r.req.submitted++;
		w = fork();
		if (w == 0)
			_exit(naive_write_command(p, rec) == 0 ? 0 : 1);
		for (int i = 0; i < 1000; i++) {     /* the naive server-side reader */
			int n = naive_nfs_read_once(sp, buf, sizeof(buf));
			if (n > 0 && n < len) {      /* a prefix: some WRITEs applied, not all */
				partial++;
				if (n < minseen)
					minseen = n;
			}
			if (n == len)
				break;
			msleep(2);
		}
		waitpid(w, NULL, 0);
		ch1 = e2e_nfssim_stat(&e, NULL, "writeback.chunks");
		if (partial)
			r.injections += ch1 - ch0;
		h_naive(&r, partial > 0, "command.txt written in place through the mount (%d bytes, %ld WRITEs of 32 bytes): "
			"the server-side reader saw a partial command %d times (shortest %d bytes)", len, ch1 - ch0, partial,
			partial ? minseen : 0);
		for (int i = 0; i < 500 && e2e_journal_count(&e, "answer", 3, 1) == 0; i++)
			msleep(10);
		if (e2e_journal_count(&e, "answer", 3, 1) == 1)
			r.req.answered++;
		else
			r.req.lost++;
		h_check(&r, e2e_journal_count(&e, "exec", 3, 1) == 1 && e2e_journal_count(&e, "answer", 3, 1) == 1,
			"the mediator never ran the partial command: vm3 seq 1 executed once, whole, and answered");
		h_evidence(&r, "naive server reader saw a partial in-place command (%ld write-back chunks); mediator ran "
			   "it once, whole", ch1 - ch0);
	}

	/* (c) a second update within one second */
	{
		struct naive_poller np;
		char cmd[256], cp[600], sp[600];
		int seen2 = 0, ok = 0;

		e2e_vmdir(&e, 4, dir, sizeof(dir));
		snprintf(cp, sizeof(cp), "%s/naive-command.txt", dir);
		e2e_server_vmdir(&e, 4, dir, sizeof(dir));
		snprintf(sp, sizeof(sp), "%s/naive-command.txt", dir);
		naive_poller_init(&np, sp);
		align_to_second();
		naive_write_command(cp, "vm 4 seq 1 op ping\n");
		naive_poller_poll(&np, cmd, sizeof(cmd));
		naive_write_command(cp, "vm 4 seq 2 op ping\n");
		r.injections++;
		for (int i = 0; i < 24; i++) {
			if (naive_poller_poll(&np, cmd, sizeof(cmd)) == 1 && strstr(cmd, "seq 2"))
				seen2 = 1;
			msleep(50);
		}
		h_naive(&r, np.reads == 1 && !seen2, "st_mtime poller on the server: read %d of 2 commands written "
			"through the mount within one second (seq 2 never read, 1.2 s later)", np.reads);

		e2e_vmdir(&e, 1, dir, sizeof(dir));
		if (vgpu_client_open(&c1, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK) {
			h_check(&r, 0, "vm1 client: %s", err);
			goto out;
		}
		struct timespec t0, t1;
		align_to_second();
		clock_gettime(CLOCK_REALTIME, &t0);
		ok += ours_call(&r, c1, 1, VGPU_OP_PING, 0);
		ok += ours_call(&r, c1, 1, VGPU_OP_PING, 0);
		clock_gettime(CLOCK_REALTIME, &t1);
		h_check(&r, ok == 2, "vm1: two requests through the mount within %.0f ms both answered with their own seq",
			(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
		h_evidence(&r, "naive st_mtime poller read 1 of 2 same-second commands; ours answered both");
	}
	h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	h_check(&r, e2e_journal_count(&e, "exec", 1, 1) == 1 && e2e_journal_count(&e, "exec", 1, 2) == 1 &&
		e2e_journal_count(&e, "exec", 2, 1) == 1 && e2e_journal_count(&e, "exec", 2, 2) == 1 &&
		e2e_journal_count(&e, "answer", 0, 0) == 5,
		"journal: every request executed once, %d answers for 5 requests", e2e_journal_count(&e, "answer", 0, 0));
	printf("    nfssim (VM mount): attr_cache hits %ld, revalidations %ld, write-back chunks %ld\n",
	       e2e_nfssim_stat(&e, NULL, "attr_cache.hits"), e2e_nfssim_stat(&e, NULL, "attr_cache.revalidations"),
	       e2e_nfssim_stat(&e, NULL, "writeback.chunks"));
out:
	vgpu_client_close(c1);
	vgpu_client_close(c2);
	e2e_teardown(&e);
	return h_finish(&r);
}

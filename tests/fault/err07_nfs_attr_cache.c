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
 * (d) No half record on the other side: a reader across the chunked write reads
 *     command.txt on the server while our client sends through the VM mount, and
 *     response.txt on the disk while a second mediator (its --root an nfssim mount with
 *     wsize=32,wdelay_ms=20: each write reaches the disk 32 bytes per 20 ms) answers:
 *     every read a whole record (publication by temp+fsync+rename).
 * Injections: attribute-cache hits that served the stale size (nfssim stats), write-back
 * chunks of the in-place write and of (d), and the same-second update.
 * Handling proved (src/): src/client/client.c (close-to-open reads, seq/nonce),
 * src/mediator/intake.c (content key, not st_mtime), src/mediator/answer.c (response.txt
 * by rename), src/lib/safeio.c, src/lib/record.c (CRC, end line). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "lib/record.h"
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

/* ---- (d) the other side never sees half a record ----------------------------------- */

struct watch_tally {
	long reads, whole, torn;   /* reads of a non-empty or empty file; decoded whole; not */
	char first_torn[80];
};

/* A reader on the far side of the write: read PATH every millisecond until STOPFD has
 * data, decoding each content as a request (REQ) or a response; the tally goes to OUTFD. */
static void watcher(const char *path, int req, int stopfd, int outfd)
{
	struct watch_tally t = { 0 };
	char *buf = malloc(VGPU_RECORD_MAX);
	struct vgpu_request *q = malloc(sizeof(*q));
	struct vgpu_response *a = malloc(sizeof(*a));
	struct pollfd pfd = { .fd = stopfd, .events = POLLIN };

	while (buf && q && a && poll(&pfd, 1, 1) == 0) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n;
		int rc;

		if (fd < 0)
			continue;
		n = read(fd, buf, VGPU_RECORD_MAX);
		close(fd);
		if (n < 0)
			continue;
		t.reads++;
		rc = req ? vgpu_request_decode(buf, (size_t)n, q, NULL, 0) : vgpu_response_decode(buf, (size_t)n, a, NULL, 0);
		if (rc == VGPU_REC_OK) {
			t.whole++;
		} else if (t.torn++ == 0) {
			for (ssize_t i = 0; i < n && i < (ssize_t)sizeof(t.first_torn) - 1; i++)
				t.first_torn[i] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '|';
		}
	}
	if (write(outfd, &t, sizeof(t)) != (ssize_t)sizeof(t))
		_exit(1);
	_exit(0);
}

struct watch {
	pid_t pid;
	int stop, out;
};

static int watch_start(struct watch *w, const char *path, int req)
{
	int s[2], o[2];

	if (pipe(s) < 0 || pipe(o) < 0)
		return -1;
	w->pid = fork();
	if (w->pid == 0) {
		close(s[1]);
		close(o[0]);
		watcher(path, req, s[0], o[1]);
	}
	close(s[0]);
	close(o[1]);
	w->stop = s[1];
	w->out = o[0];
	return w->pid > 0 ? 0 : -1;
}

static void watch_end(struct watch *w, struct watch_tally *t)
{
	memset(t, 0, sizeof(*t));
	if (write(w->stop, "x", 1) != 1 || read(w->out, t, sizeof(*t)) != (ssize_t)sizeof(*t))
		memset(t, 0, sizeof(*t));
	close(w->stop);
	close(w->out);
	waitpid(w->pid, NULL, 0);
}

/* (d1) our client's command.txt through the chunking VM mount, watched on the server. */
static void torn_commands(struct h_result *r, struct e2e_env *e, struct vgpu_client *c1)
{
	char sp[600], dir[400];
	struct watch w;
	struct watch_tally t;
	long ch0 = e2e_nfssim_stat(e, NULL, "writeback.chunks"), ch1;
	int ok = 0;

	e2e_server_vmdir(e, 1, dir, sizeof(dir));
	snprintf(sp, sizeof(sp), "%s/command.txt", dir);
	if (watch_start(&w, sp, 1) < 0) {
		h_check(r, 0, "command.txt watcher: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < 3; i++)
		ok += ours_call(r, c1, 1, VGPU_OP_VADD, 4096 + 1024 * (uint64_t)i);
	watch_end(&w, &t);
	ch1 = e2e_nfssim_stat(e, NULL, "writeback.chunks");
	if (ch1 > ch0)
		r->injections += ch1 - ch0;
	h_check(r, ok == 3 && t.whole > 0 && t.torn == 0,
		"3 requests through the VM mount (%ld write-back chunks of 32 bytes, 20 ms apart): a server-side "
		"reader read vm1/command.txt %ld times, %ld whole, %ld torn%s%.60s%s", ch1 - ch0, t.reads, t.whole, t.torn,
		t.torn ? " (first: \"" : "", t.first_torn, t.torn ? "\")" : "");
}

/* (d2) the mediator's response.txt, written through a chunking mount of its own --root,
 * watched on the disk the VMs read: the window of any in-place write, made wide. */
static void torn_responses(struct h_result *r)
{
	const char *margs[] = { "--executor", "mock", "--rescan-ms", "20", NULL };
	struct vgpu_client_opts o = { .timeout_ms = 20000, .poll_max_ms = 5 };
	struct e2e_env m;
	struct vgpu_client *c = NULL;
	struct watch w;
	struct watch_tally t;
	char disk[400], mnt[400], p[700], dir[600], err[512];
	long ch0, ch1;
	int ok = 0;

	if (e2e_setup(&m, 1) < 0) {
		h_check(r, 0, "second tree: %s", strerror(errno));
		return;
	}
	snprintf(disk, sizeof(disk), "%s/disk", m.dir);
	snprintf(mnt, sizeof(mnt), "%s/mmnt", m.dir);
	snprintf(p, sizeof(p), "%s/export", disk);
	if (mkdir(disk, 0755) < 0 || rename(m.root, p) < 0 ||
	    e2e_mount_nfssim(&m, disk, mnt, "actimeo=0,lookupcache=none,squash=none,wsize=32,wdelay_ms=20") < 0) {
		h_check(r, 0, "the mediator's chunking mount: %s", m.errmsg);
		goto out;
	}
	snprintf(m.client_root, sizeof(m.client_root), "%.280s/export", disk);
	snprintf(m.root, sizeof(m.root), "%.280s/export", mnt);
	if (e2e_start_mediator(&m, margs) < 0) {
		h_check(r, 0, "vgpu-mediator on the chunking mount started (see %s)", m.log);
		goto out;
	}
	o.lock_dir = m.dir;
	e2e_vmdir(&m, 1, dir, sizeof(dir));
	snprintf(p, sizeof(p), "%s/response.txt", dir);
	if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK || watch_start(&w, p, 0) < 0) {
		h_check(r, 0, "vm1 client and response.txt watcher: %s", err);
		goto out;
	}
	ch0 = e2e_nfssim_stat(&m, mnt, "writeback.chunks");
	for (int i = 0; i < 3; i++)
		ok += ours_call(r, c, 1, VGPU_OP_VADD, 2048 + 512 * (uint64_t)i);
	watch_end(&w, &t);
	ch1 = e2e_nfssim_stat(&m, mnt, "writeback.chunks");
	if (ch1 > ch0)
		r->injections += ch1 - ch0;
	h_check(r, ok == 3 && t.whole > 0 && t.torn == 0,
		"3 answers written by the mediator through a mount that applies 32 bytes per 20 ms (%ld write-back "
		"chunks): a VM-side reader read vm1/response.txt %ld times, %ld whole, %ld torn%s%.60s%s", ch1 - ch0, t.reads,
		t.whole, t.torn, t.torn ? " (first: \"" : "", t.first_torn, t.torn ? "\")" : "");
	h_check(r, e2e_stop_mediator(&m, 10000) == 0, "the second mediator stopped cleanly (exit 0)");
out:
	vgpu_client_close(c);
	e2e_teardown(&m);
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
		struct stat m1, m2;
		naive_write_command(cp, "vm 4 seq 1 op ping\n");
		stat(sp, &m1);
		naive_poller_poll(&np, cmd, sizeof(cmd));
		naive_write_command(cp, "vm 4 seq 2 op ping\n");
		if (stat(sp, &m2) == 0 && m2.st_mtime == m1.st_mtime)
			r.injections++;   /* the server's file kept its st_mtime second */
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

	/* (d) no half record on the other side: command.txt (the client's) and response.txt
	 * (the mediator's), each watched by a reader across the chunked write */
	torn_commands(&r, &e, c1);
	h_evidence(&r, "a server-side reader never saw half of our command.txt through the chunking mount");
	h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	h_check(&r, e2e_journal_count(&e, "exec", 1, 1) == 1 && e2e_journal_count(&e, "exec", 1, 2) == 1 &&
		e2e_journal_count(&e, "exec", 2, 1) == 1 && e2e_journal_count(&e, "exec", 2, 2) == 1 &&
		e2e_journal_count(&e, "exec", 1, 3) == 1 && e2e_journal_count(&e, "exec", 1, 5) == 1 &&
		e2e_journal_count(&e, "answer", 0, 0) == 8,
		"journal: every request executed once, %d answers for 8 requests", e2e_journal_count(&e, "answer", 0, 0));
	torn_responses(&r);
	h_evidence(&r, "a VM-side reader never saw half of a response.txt written through a chunking mount");
	printf("    nfssim (VM mount): attr_cache hits %ld, revalidations %ld, write-back chunks %ld\n",
	       e2e_nfssim_stat(&e, NULL, "attr_cache.hits"), e2e_nfssim_stat(&e, NULL, "attr_cache.revalidations"),
	       e2e_nfssim_stat(&e, NULL, "writeback.chunks"));
out:
	vgpu_client_close(c1);
	vgpu_client_close(c2);
	e2e_teardown(&e);
	return h_finish(&r);
}

/* x_power_loss.c - beyond the ten: a power cut at each step of a request, then restart.
 *
 * The mediator's --root and --state live on nfssim's power-loss mode (the server's own
 * disk: file data is durable only after an fsync of the file, a directory entry only
 * after an fsync of its directory; docs/NFSSIM.md). The VMs write through the backing
 * directory directly, as a `sync` NFS export commits each client operation before it
 * answers. For every N, the mediator is held right after the Nth change it makes to
 * that disk while answering one request (create, write, fsync, rename, fsync of a
 * directory, unlink, ...), the test notes what a VM could see at that moment, and then
 * the power is cut: the mediator and its worker die by SIGKILL and every change not yet
 * durable is thrown away. The mediator is restarted on what is left. Every request must
 * be executed at most once (the journal, kept off the cut disk, across both runs) and
 * answered exactly once: the client gets OK (right) or INTERRUPTED (PROTOCOL.md s.4),
 * and the answer the mediator keeps afterwards is the one the VM took. Two request
 * kinds: a summary-only vadd and a vadd with an output file (out-SEQ.bin). Then seeded
 * random cuts with three VMs busy (a 200 ms spin, two vadds).
 * Naive control: a writer that publishes by rename without fsync (tests/fault/naive/
 * naive_powerloss.c) loses its record of an answer at the cut, where ours (safeio's
 * publish + a directory fsync) keeps it. docs/HARNESS.md, POWER. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/client.h"
#include "lib/opref.h"
#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "mediator/state.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "naive/naive_powerloss.h"

static struct e2e_env env;
static struct h_result r;
static char disk[280], mnt[280];
static int run_no;
static long cuts_seen;

static const char *const med_args[] = { "--executor", "mock", "--test-ops", "--rescan-ms", "50", NULL };

/* ---- the power-loss disk ---- */

/* The env's tree, with export/ and state/ on a power-loss mount of dir/disk at dir/pl:
 * the mediator serves dir/pl/export (--root) and dir/pl/state (--state); the VMs use
 * dir/disk/export. */
static int pl_setup(int vms)
{
	char p[400];

	if (e2e_setup(&env, vms) < 0)
		return -1;
	snprintf(disk, sizeof(disk), "%.270s/disk", env.dir);
	snprintf(mnt, sizeof(mnt), "%.270s/pl", env.dir);
	snprintf(p, sizeof(p), "%s/export", disk);
	if (mkdir(disk, 0755) < 0 || rename(env.root, p) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/state", disk);
	if (mkdir(p, 0700) < 0)
		return -1;
	if (e2e_mount_nfssim(&env, disk, mnt, "powerloss") < 0) {
		printf("  power-loss mount failed: %s\n", env.errmsg);
		return -1;
	}
	snprintf(env.client_root, sizeof(env.client_root), "%.280s/export", disk);
	snprintf(env.root, sizeof(env.root), "%.280s/export", mnt);
	snprintf(env.state, sizeof(env.state), "%.280s/state", mnt);
	return 0;
}

static long pl_stat(const char *key)
{
	char k[64];

	snprintf(k, sizeof(k), "powerloss.%s", key);
	return e2e_nfssim_stat(&env, mnt, k);
}

static int pl_ctl(const char *cmd)
{
	int rc = e2e_nfssim_ctl(&env, mnt, cmd);

	if (rc < 0)
		printf("  ctl '%s' failed: %s\n", cmd, strerror(-rc));
	return rc;
}

/* Cut the power: the count of cuts must grow by one. */
static int pl_cut(const char *cmd)
{
	long before = pl_stat("cuts");

	if (pl_ctl(cmd) < 0 || pl_stat("cuts") != before + 1)
		return 0;
	cuts_seen++;
	r.injections++;
	return 1;
}

/* Line N of the trace ("N OP PATH [PATH2]") into OUT, without the number. */
static void trace_line(unsigned long n, char *out, size_t cap)
{
	char path[400], line[600], want[32];
	FILE *f;

	snprintf(out, cap, "?");
	snprintf(path, sizeof(path), "%s/.nfssim/trace", mnt);
	snprintf(want, sizeof(want), "%lu ", n);
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want))) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, cap, "%s", line + strlen(want));
			break;
		}
	fclose(f);
}

/* ---- requests and answers ---- */

static void vadd_req(struct vgpu_request *q, uint64_t seed, uint64_t n, int out_file)
{
	memset(q, 0, sizeof(*q));
	q->op = VGPU_OP_VADD;
	q->priority = VGPU_PRIO_MEDIUM;
	q->args.n = n;
	q->args.has_seed = 1;
	q->args.seed = seed;
	q->output_file = out_file;
}

static int vadd_ok(const struct e2e_call *c, uint64_t seed, uint64_t n)
{
	float *a = malloc(3 * n * sizeof(float));
	struct vgpu_summary s;
	char want[200] = "";

	if (!a)
		return 0;
	vgpu_gen_fill(a, n, seed, 0);
	vgpu_gen_fill(a + n, n, seed, 1);
	vgpu_ref_vadd(a, a + n, a + 2 * n, n);
	vgpu_summarize(a + 2 * n, n, &s);
	vgpu_summary_format(&s, want, sizeof(want));
	free(a);
	if (c->out.rc != VGPU_CLIENT_OK && c->out.status == VGPU_OK)
		printf("  vm%u seq %" PRId64 ": OK but the client says: rc %d: %s\n", c->vm, c->out.my_seq, c->out.rc,
		       c->out.error);
	return c->out.status == VGPU_OK && c->out.rc == VGPU_CLIENT_OK && strcmp(c->out.result, want) == 0;
}

static const char *st_name(int status)
{
	return status >= 0 ? vgpu_status_name(status) : "no answer";
}

/* Decode the response record at DIR/NAME. 0 or -1. */
static int read_resp(const char *dir, const char *name, struct vgpu_response *out)
{
	char path[600];
	char *buf = malloc(VGPU_RECORD_MAX);
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (buf && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, VGPU_RECORD_MAX);
		close(fd);
	}
	memset(out, 0, sizeof(*out));
	if (n <= 0 || vgpu_response_decode(buf, (size_t)n, out, NULL, 0) != VGPU_REC_OK) {
		free(buf);
		return -1;
	}
	free(buf);
	return 0;
}

/* The answer the mediator keeps for VM (state/vmN.journal, through the mount, loaded by
 * the mediator's own loader from a copy off the cut disk, so that the test changes
 * nothing there) into OUT. 0, or -1 when there is none or it cannot be loaded. */
static int kept_record(uint32_t vm, struct vgpu_response *out)
{
	char name[32], copy[600];
	void *buf = NULL;
	size_t len = 0;
	struct vgpu_vm_state st;
	int sfd, cfd, rc = -1;

	snprintf(name, sizeof(name), "vm%" PRIu32 ".journal", vm);
	snprintf(copy, sizeof(copy), "%.500s/kept", env.dir);
	memset(out, 0, sizeof(*out));
	if ((sfd = open(env.state, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	if (vgpu_safe_read_alloc(sfd, name, 2 * VGPU_STATE_SLOT, &buf, &len) == 0 &&
	    (cfd = vgpu_state_open_dir(copy)) >= 0) {
		if (vgpu_publish(cfd, name, buf, len, 0600) == 0 && vgpu_state_load(cfd, vm, &st) == 0) {
			if (st.last && vgpu_response_decode(st.last, st.last_len, out, NULL, 0) == VGPU_REC_OK)
				rc = 0;
			vgpu_state_release(&st);
		}
		unlinkat(cfd, name, 0);
		close(cfd);
	}
	free(buf);
	close(sfd);
	return rc;
}

/* The answer the mediator keeps for VM (kept_record), once it is for SEQ; waits up to
 * MS. 0 or -1. */
static int kept_answer(uint32_t vm, int64_t seq, struct vgpu_response *out, int ms)
{
	uint64_t end = e2e_mono_ms() + (uint64_t)ms;

	do {
		if (kept_record(vm, out) == 0 && out->seq >= seq)
			return out->seq == seq ? 0 : -1;
		e2e_msleep(10);
	} while (e2e_mono_ms() < end);
	return -1;
}

/* One client call in a child, as e2e_call_start() does, but fetching the output file
 * (the library checks its size and CRC): OK only when the VM got its answer AND its
 * output. The client removes out-SEQ.bin afterwards, as it always does. */
static void call_start(struct e2e_call *c, uint32_t vm, const struct vgpu_request *proto, int timeout_ms)
{
	int p[2];

	memset(c, 0, sizeof(*c));
	c->vm = vm;
	c->fd = -1;
	if (pipe(p) < 0)
		return;
	c->pid = fork();
	if (c->pid == 0) {
		struct vgpu_client_opts o = { .timeout_ms = timeout_ms, .lock_dir = env.dir };
		struct vgpu_request req = *proto;
		struct vgpu_response resp;
		struct vgpu_client *cl = NULL;
		struct e2e_call_out out;
		char dir[400];
		void *data = NULL;
		size_t bytes = 0;

		close(p[0]);
		memset(&out, 0, sizeof(out));
		out.status = -1;
		e2e_vmdir(&env, vm, dir, sizeof(dir));
		out.rc = vgpu_client_open(&cl, dir, &o, out.error, sizeof(out.error));
		if (out.rc == VGPU_CLIENT_OK) {
			memset(&resp, 0, sizeof(resp));
			out.rc = vgpu_client_call(cl, &req, NULL, 0, &resp, &data, &bytes, out.error, sizeof(out.error));
			out.my_seq = vgpu_client_last_seq(cl);
			if (out.rc == VGPU_CLIENT_OK || out.rc == VGPU_CLIENT_ESTATUS) {
				out.status = resp.status;
				out.vm = resp.vm;
				out.seq = resp.seq;
				snprintf(out.result, sizeof(out.result), "%.199s", resp.result);
				snprintf(out.error, sizeof(out.error), "%.299s", resp.error);
				if (req.output_file == 1 && resp.status == VGPU_OK && !data)
					out.rc = -2;   /* an OK without its output file */
			}
			free(data);
			vgpu_client_close(cl);
		}
		if (write(p[1], &out, sizeof(out)) != (ssize_t)sizeof(out))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (c->pid < 0) {
		close(p[0]);
		return;
	}
	c->fd = p[0];
}

/* The call's child has written its result (or died). */
static int call_done(const struct e2e_call *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	return c->fd < 0 || poll(&p, 1, 0) > 0;
}

static int wait_call(const struct e2e_call *c, int ms)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };

	return c->fd < 0 || poll(&p, 1, ms) > 0;
}

/* ---- the mediator ---- */

static int start(void)
{
	char old[400];

	snprintf(old, sizeof(old), "%s.%d", env.log, run_no++);
	rename(env.log, old);
	return e2e_start_mediator(&env, med_args);
}

/* Wait up to MS for the mediator to die; 1 when it was SIGKILLed. */
static int wait_death(int ms)
{
	pid_t pid = env.mediator;
	int st = 0;

	for (int t = 0; t < ms; t += 5) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			kill(-pid, SIGKILL);
			env.mediator = 0;
			return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
		}
		e2e_msleep(5);
	}
	return 0;
}

/* ---- accounting: the client's answer, the journal, and the answer kept ---- */

/* KEPT: the mediator's answer for the call's seq after everything (NULL: not known). */
static void account(const struct e2e_call *c, const struct vgpu_response *kept)
{
	const struct e2e_call_out *o = &c->out;
	int ex = e2e_journal_count(&env, "exec", c->vm, o->my_seq);
	int an = e2e_journal_count(&env, "answer", c->vm, o->my_seq);

	r.req.submitted++;
	if (ex > 1 || an > 1) {
		r.req.duplicated++;
		printf("  duplicated: vm%u seq %" PRId64 ": %d exec, %d answer lines\n", c->vm, o->my_seq, ex, an);
	} else if (o->status >= 0 && kept && (kept->seq != o->my_seq || kept->status != o->status)) {
		r.req.duplicated++;   /* answered twice: the VM took one answer, the mediator keeps another */
		printf("  answered twice: vm%u seq %" PRId64 ": the VM took %s, the mediator keeps %s for seq %" PRId64
		       "\n", c->vm, o->my_seq, st_name(o->status), st_name(kept->status), kept->seq);
	}
	if (o->status < 0) {
		r.req.lost++;
		printf("  lost: vm%u seq %" PRId64 ": client rc %d: %s\n", c->vm, o->my_seq, o->rc, o->error);
		return;
	}
	r.req.answered++;
	if (o->vm != c->vm || o->seq != o->my_seq)
		r.req.misrouted++;
}

/* ---- naive control: rename without fsync, then a cut ---- */

static void naive_control(void)
{
	char sdir[400], vdir[400], on_disk[400];
	struct stat st;
	pid_t pid;
	int naive_lost, ours_kept, before;

	if (pl_setup(1) < 0) {
		h_naive(&r, 0, "could not set up the power-loss mount");
		e2e_teardown(&env);
		return;
	}
	snprintf(sdir, sizeof(sdir), "%s/naive", env.state);
	snprintf(vdir, sizeof(vdir), "%s/vm1", env.root);
	mkdir(sdir, 0700);
	pl_ctl("sync");
	/* the naive mediator records "seq 1 answered" and publishes response.txt, in a child
	 * that exits (its page cache outlives it, as after SIGKILL) */
	if ((pid = fork()) == 0)
		_exit(naive_publish_nofsync(sdir, "vm1.last", "seq 1 OK\n") < 0 ||
		      naive_publish_nofsync(vdir, "response.txt", "vm 1 seq 1 OK\n") < 0);
	waitpid(pid, NULL, 0);
	snprintf(on_disk, sizeof(on_disk), "%s/state/naive/vm1.last", disk);
	before = stat(on_disk, &st) == 0 && st.st_size > 0;
	pl_cut("cut");
	naive_lost = before && (stat(on_disk, &st) < 0 || st.st_size == 0);
	h_naive(&r, naive_lost, "rename without fsync: vm1.last %s before the cut, %s after it: a restarted "
		"mediator would run seq 1 again", before ? "there" : "missing",
		stat(on_disk, &st) < 0 ? "gone" : st.st_size ? "still there" : "empty");
	h_evidence(&r, "naive: its record of an answer, published by rename without fsync, is gone after the cut");

	/* ours, the same: safeio's publish (fsync of the file) and an fsync of the directory */
	if ((pid = fork()) == 0) {
		int dfd = open(sdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		_exit(dfd < 0 || vgpu_publish(dfd, "vm1.last", "seq 1 OK\n", 9, 0600) < 0 || vgpu_fsync_dir(dfd) < 0);
	}
	waitpid(pid, NULL, 0);
	pl_cut("cut");
	ours_kept = stat(on_disk, &st) == 0 && st.st_size == 9;
	h_check(&r, ours_kept, "publish with fsync + directory fsync: vm1.last kept whole across the cut");
	e2e_teardown(&env);
}

/* ---- a cut at change N of one request ---- */

/* Returns 1 after a cut that passed its checks, 2 after one that did not, 0 when the
 * request made fewer than N changes, -1 on a setup failure. OUTF: the request asks for
 * an output file. */
static int cut_step(int outf, unsigned long n, uint64_t seed, int *interrupted, int *ok)
{
	struct vgpu_request q;
	struct e2e_call a, b, c;
	struct vgpu_response vis, kept;
	char what[300], vmdir[400], cmd[64];
	int held = -1, visible = 0, died, ex, have_kept, good;
	uint64_t end;

	if (pl_setup(1) < 0 || start() < 0) {
		h_check(&r, 0, "change %lu: power-loss mount and mediator started", n);
		e2e_teardown(&env);
		return -1;
	}
	e2e_vmdir(&env, 1, vmdir, sizeof(vmdir));
	/* request A, answered; then the file system's periodic commit makes it durable */
	vadd_req(&q, seed ^ 0xa, 1000, outf);
	call_start(&a, 1, &q, 10000);
	e2e_call_wait(&a);
	pl_ctl("sync");
	snprintf(cmd, sizeof(cmd), "pause_after=%lu", n);
	pl_ctl(cmd);
	vadd_req(&q, seed, 4096, outf);
	call_start(&b, 1, &q, 15000);
	end = e2e_mono_ms() + 15000;
	while (e2e_mono_ms() < end) {
		if (pl_stat("held") == 1) {
			held = 1;
			break;
		}
		if (call_done(&b)) {
			held = 0;
			break;
		}
		e2e_msleep(2);
	}
	if (held <= 0) {
		pl_ctl("disarm");
		e2e_call_wait(&b);
		h_check(&r, held == 0 && vadd_ok(&b, seed, 4096), "%s: the request made fewer than %lu changes and "
			"was answered %s without a cut", outf ? "output file" : "summary", n, st_name(b.out.status));
		e2e_stop_mediator(&env, 5000);
		account(&a, NULL);
		account(&b, NULL);
		e2e_teardown(&env);
		return 0;
	}
	trace_line(n, what, sizeof(what));
	/* what a VM could see at that moment: if B's answer is there, the VM takes it */
	if (read_resp(vmdir, "response.txt", &vis) == 0 && vis.seq == a.out.my_seq + 1) {
		visible = 1;
		wait_call(&b, 5000);
	}
	/* The power goes for the whole host at once: the held process may be the worker
	 * (it writes the output file), and the cut kills only the one it holds; the rest of
	 * the mediator's process group is stopped before the cut and killed after it, so
	 * nothing of it runs on the disk as the cut left it. */
	kill(-env.mediator, SIGSTOP);
	if (!h_check(&r, pl_cut("cut"), "%s, change %lu: the power was cut", outf ? "output file" : "summary", n)) {
		kill(-env.mediator, SIGKILL);
		e2e_call_wait(&b);
		e2e_teardown(&env);
		return -1;
	}
	kill(-env.mediator, SIGKILL);
	died = wait_death(10000);
	if (start() < 0)
		h_check(&r, 0, "change %lu: restart on what the disk kept", n);
	e2e_call_wait(&b);
	have_kept = kept_answer(1, b.out.my_seq, &kept, 5000) == 0;
	ex = e2e_journal_count(&env, "exec", 1, b.out.my_seq);
	if (b.out.status == VGPU_INTERRUPTED)
		++*interrupted;
	else if (b.out.status == VGPU_OK)
		++*ok;
	good = h_check(&r, died && (b.out.status == VGPU_INTERRUPTED || vadd_ok(&b, seed, 4096)) && ex <= 1 &&
		(b.out.status != VGPU_OK || ex == 1) && (!visible || vis.status == b.out.status) &&
		have_kept && kept.status == b.out.status,
		"%s, cut after change %lu (%s)%s: %s, seq %" PRId64 " executed %d time(s), the VM got %s, "
		"the mediator keeps %s", outf ? "output file" : "summary", n, what,
		visible ? " with the answer visible" : "", died ? "SIGKILLed" : "NOT killed", b.out.my_seq, ex,
		st_name(b.out.status), have_kept ? st_name(kept.status) : "nothing for it");
	vadd_req(&q, seed ^ 0xc, 1000, outf);
	call_start(&c, 1, &q, 8000);
	e2e_call_wait(&c);
	good &= h_check(&r, vadd_ok(&c, seed ^ 0xc, 1000) && c.out.my_seq == b.out.my_seq + 1,
		"change %lu: the VM's next request (seq %" PRId64 ") is %s", n, c.out.my_seq, st_name(c.out.status));
	e2e_stop_mediator(&env, 5000);
	account(&a, NULL);
	account(&b, have_kept ? &kept : NULL);
	account(&c, NULL);
	e2e_teardown(&env);
	return good ? 1 : 2;
}

static void enumerate(int outf, uint64_t *rng)
{
	int interrupted = 0, ok = 0, rc = 1, failed = 0, cuts = 0;
	unsigned long n;

	/* after 3 failed cut points the rest says nothing new (each waits for timeouts) */
	for (n = 1; n <= 60 && (rc == 1 || rc == 2) && failed < 3; n++) {
		rc = cut_step(outf, n, h_rand(rng), &interrupted, &ok);
		failed += rc == 2;
		cuts += rc == 1 || rc == 2;
	}
	if (failed >= 3)
		printf("  %s: stopped after %d failed cut points\n", outf ? "output file" : "summary", failed);
	h_check(&r, rc == 0 && cuts > 0 && !failed, "%s: a cut after each of the %d changes of one request: %d OK, "
		"%d INTERRUPTED, %d failed", outf ? "output file" : "summary", cuts, ok, interrupted, failed);
	h_evidence(&r, "ours (%s): cut after each of %d changes: %d OK, %d INTERRUPTED, %d failed",
		   outf ? "output file" : "summary", cuts, ok, interrupted, failed);
}

/* ---- cuts at seeded random moments, three VMs busy ---- */

static void random_cuts(uint64_t *rng, int rounds)
{
	struct vgpu_request q;
	struct e2e_call c[3];
	struct vgpu_response kept[3];
	uint64_t seeds[3];
	int have[3], bad = 0, interrupted = 0, ok = 0;

	for (int round = 0; round < rounds; round++) {
		int delay = (int)(h_rand(rng) % 300);
		char cmd[64];

		if (pl_setup(3) < 0 || start() < 0) {
			h_check(&r, 0, "random cut round %d: mediator started", round);
			e2e_teardown(&env);
			return;
		}
		for (int i = 0; i < 3; i++) {
			seeds[i] = h_rand(rng);
			vadd_req(&q, seeds[i], 1u << 16, i == 1);
			if (i == 0) {       /* a job that is running when the power goes, most rounds */
				memset(&q, 0, sizeof(q));
				q.op = VGPU_OP_SPIN;
				q.priority = VGPU_PRIO_MEDIUM;
				q.args.ms = 200;
				q.timeout_ms = 5000;
			}
			call_start(&c[i], (uint32_t)(i + 1), &q, 20000);
		}
		e2e_msleep(delay);       /* the random moment of the cut, not a wait for anything */
		snprintf(cmd, sizeof(cmd), "victim=%d,cut", (int)env.mediator);
		if (!pl_cut(cmd) || !wait_death(10000))
			h_check(&r, 0, "random cut round %d: the mediator was cut", round);
		if (start() < 0)
			h_check(&r, 0, "random cut round %d: restart", round);
		for (int i = 0; i < 3; i++) {
			e2e_call_wait(&c[i]);
			have[i] = kept_answer((uint32_t)(i + 1), c[i].out.my_seq, &kept[i], 5000) == 0;
			if (c[i].out.status == VGPU_INTERRUPTED)
				interrupted++;
			else if ((i == 0 ? c[i].out.status == VGPU_OK : vadd_ok(&c[i], seeds[i], 1u << 16)) && have[i] &&
				 kept[i].status == VGPU_OK)
				ok++;
			else
				bad++;
			if (e2e_journal_count(&env, "exec", (uint32_t)(i + 1), c[i].out.my_seq) > 1)
				bad++;
		}
		e2e_stop_mediator(&env, 5000);
		for (int i = 0; i < 3; i++)
			account(&c[i], have[i] ? &kept[i] : NULL);
		e2e_teardown(&env);
		printf("  random cut round %d after %d ms: %d ok, %d interrupted, %d wrong so far\n", round, delay, ok,
		       interrupted, bad);
	}
	h_check(&r, bad == 0, "%d random cuts: %d requests answered OK and right, %d INTERRUPTED, %d wrong", rounds, ok,
		interrupted, bad);
	h_evidence(&r, "ours: %d random cuts: %d OK, %d INTERRUPTED", rounds, ok, interrupted);
}

int main(void)
{
	uint64_t rng;

	h_begin(&r, "POWER", "power cut (unsynced data and directory changes lost) at each step of a request, "
		"then restart", "powercut");
	rng = r.seed;
	if (access("/dev/fuse", R_OK | W_OK) < 0) {
		snprintf(r.skipped, sizeof(r.skipped), "/dev/fuse is missing or not usable");
		return h_finish(&r);
	}
	naive_control();
	enumerate(0, &rng);
	enumerate(1, &rng);
	random_cuts(&rng, 3);
	printf("  cuts performed: %ld\n", cuts_seen);
	return h_finish(&r);
}

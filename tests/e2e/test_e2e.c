/* test_e2e.c - the real binaries on a private directory: N VMs with several requests
 * each, every answer checked against the CPU reference and accounted for (none lost,
 * none answered twice, none to the wrong VM); the user's own priority verification;
 * SIGTERM finishing the job in hand. EXECUTOR=cuda runs it on a GPU (make check-gpu).
 * E2E_BACKEND=local|nfssim-local|nfssim-ganesha picks where the clients' files go: the
 * mediator always serves the server-side directory, the clients use the local directory,
 * an nfssim mount of it, or an nfssim mount of a loopback nfs-ganesha exporting it
 * (tests/e2e/e2e_util.h; make check-e2e runs all three). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "lib/opref.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "e2e_util.h"
#include "../common/testutil.h"

static struct e2e_env env;

static const char *executor(void)
{
	const char *x = getenv("EXECUTOR");
	return x && *x ? x : "mock";
}

static void setup(void)
{
	int rc = e2e_setup_backend(&env, 9, NULL, NULL);

	if (rc != 0)
		e2e_teardown(&env);
	ck_assert_msg(rc == 0, "backend %s: %s", getenv("E2E_BACKEND") ? getenv("E2E_BACKEND") : "local", env.errmsg);
}

static void teardown(void)
{
	e2e_teardown(&env);
}

static uint64_t rng;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* One request of a random op; compares the answer with the CPU reference.
 * Returns 0 when right, else a short reason in WHY. */
static int one_request(struct vgpu_client *c, uint32_t vm, char *why, size_t whylen)
{
	struct vgpu_request req;
	struct vgpu_response resp;
	float *in = NULL, *ref = NULL, *out = NULL;
	size_t in_count = 0, out_count = 0, out_bytes = 0;
	int op = (int)(rnd() % 3), payload = (int)(rnd() % 2), rc, bad = 0;
	double err, tol = 1e-5;
	char e[512];

	memset(&req, 0, sizeof(req));
	req.priority = (enum vgpu_prio)(rnd() % 3);
	req.output_file = 1;
	int summary_only = 0;
	if (op == 0) {
		req.op = VGPU_OP_VADD;
		req.args.n = 1 + rnd() % 4096;
		in_count = 2 * req.args.n;
		out_count = req.args.n;
	} else if (op == 1) {
		req.op = VGPU_OP_SAXPY;
		req.args.n = 1 + rnd() % 4096;
		req.args.alpha = (float)((int)(rnd() % 2001) - 1000) / 256.0f;
		in_count = 2 * req.args.n;
		out_count = req.args.n;
	} else {
		req.op = VGPU_OP_SGEMM;
		req.args.m = 1 + rnd() % 48;
		req.args.n = 1 + rnd() % 48;
		req.args.k = 1 + rnd() % 48;
		in_count = req.args.m * req.args.k + req.args.k * req.args.n;
		out_count = req.args.m * req.args.n;
		tol = 1e-4;
	}
	in = malloc(in_count * sizeof(float));
	ref = malloc(out_count * sizeof(float));
	if (payload) {
		for (size_t i = 0; i < in_count; i++)
			in[i] = (float)((int64_t)(rnd() % 2000001) - 1000000) / 1e6f;
	} else {
		req.args.has_seed = 1;
		req.args.seed = rnd();
		summary_only = (int)(rnd() % 2);   /* the default for generated inputs */
		if (summary_only)
			req.output_file = 0;
		size_t first = op == 2 ? req.args.m * req.args.k : req.args.n;
		vgpu_gen_fill(in, first, req.args.seed, 0);
		vgpu_gen_fill(in + first, in_count - first, req.args.seed, 1);
	}
	if (op == 0)
		vgpu_ref_vadd(in, in + req.args.n, ref, req.args.n);
	else if (op == 1)
		vgpu_ref_saxpy(req.args.alpha, in, in + req.args.n, ref, req.args.n);
	else
		vgpu_ref_sgemm(in, in + req.args.m * req.args.k, ref, req.args.m, req.args.n, req.args.k);

	rc = vgpu_client_call(c, &req, payload ? in : NULL, payload ? in_count * sizeof(float) : 0,
			      &resp, (void **)&out, &out_bytes, e, sizeof(e));
	if (rc != VGPU_CLIENT_OK) {
		snprintf(why, whylen, "vm%u %s: client rc %d: %s", vm, vgpu_op_name(req.op), rc, e);
		bad = 1;
	} else if (resp.vm != vm || resp.seq != vgpu_client_last_seq(c)) {
		snprintf(why, whylen, "vm%u: answer for vm%u seq %" PRId64 " (expected seq %" PRId64 ")",
			 vm, resp.vm, resp.seq, vgpu_client_last_seq(c));
		bad = 1;
	} else if (summary_only) {
		/* No output file: the executor's summary must describe the reference. */
		struct vgpu_summary got, want;
		double abs_sum = 0;

		vgpu_summarize(ref, out_count, &want);
		for (size_t i = 0; i < out_count; i++)
			abs_sum += fabs((double)ref[i]);
		if (out || vgpu_summary_parse(resp.result, &got) != 0 || got.count != want.count ||
		    fabs(got.sum - want.sum) > tol * abs_sum + 1e-9 || fabs(got.l2 - want.l2) > tol * want.l2 + 1e-9 ||
		    fabs((double)got.first - (double)want.first) > tol * (fabs((double)want.first) + 1)) {
			snprintf(why, whylen, "vm%u seq %" PRId64 " %s: summary '%.200s' does not describe the reference "
				 "(count=%" PRIu64 " sum=%.9g l2=%.9g first=%.9g)%s", vm, resp.seq, vgpu_op_name(req.op),
				 resp.result, want.count, want.sum, want.l2, (double)want.first,
				 out ? "; and an output file came back" : "");
			bad = 1;
		}
	} else if (!out || out_bytes != out_count * sizeof(float)) {
		snprintf(why, whylen, "vm%u seq %" PRId64 ": output of %zu bytes, expected %zu", vm, resp.seq,
			 out_bytes, out_count * sizeof(float));
		bad = 1;
	} else if ((err = vgpu_rel_error(out, ref, out_count)) > tol) {
		snprintf(why, whylen, "vm%u seq %" PRId64 " %s: relative error %.3g over %.0e", vm, resp.seq,
			 vgpu_op_name(req.op), err, tol);
		bad = 1;
	}
	free(in);
	free(ref);
	free(out);
	return bad;
}

/* A child per VM: REQS requests; exit status = number of wrong answers (0 = all right). */
static pid_t spawn_vm_worker(uint32_t vm, int reqs, uint64_t seed)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	char dir[400], why[600], err[512];
	struct vgpu_client *c;
	struct vgpu_client_opts o = { .timeout_ms = 60000 };
	int bad = 0;

	rng = seed * 0x9e3779b97f4a7c15ULL + vm;
	e2e_vmdir(&env, vm, dir, sizeof(dir));
	if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK) {
		fprintf(stderr, "vm%u: open: %s\n", vm, err);
		_exit(100);
	}
	for (int i = 0; i < reqs; i++) {
		if (one_request(c, vm, why, sizeof(why))) {
			fprintf(stderr, "%s\n", why);
			bad++;
		}
	}
	vgpu_client_close(c);
	_exit(bad > 99 ? 99 : bad);
}

START_TEST(test_many_vms_right_answers_all_accounted)
{
	enum { VMS = 8, REQS = 6 };
	const char *args[] = { "--executor", executor(), "--default-cap", "high", NULL };
	uint64_t seed = getenv("VGPU_SEED") ? strtoull(getenv("VGPU_SEED"), NULL, 10) : (uint64_t)time(NULL);
	pid_t kids[VMS];

	printf("e2e: seed %" PRIu64 " (VGPU_SEED=%" PRIu64 " replays), executor %s, backend %s\n", seed, seed,
	       executor(), env.backend);
	ck_assert_int_eq(e2e_start_mediator(&env, args), 0);
	for (int v = 0; v < VMS; v++)
		kids[v] = spawn_vm_worker((uint32_t)v + 1, REQS, seed);
	for (int v = 0; v < VMS; v++) {
		int st;
		ck_assert_int_eq(waitpid(kids[v], &st, 0), kids[v]);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "vm%d: %d wrong answers (status %d), seed %" PRIu64,
			      v + 1, WIFEXITED(st) ? WEXITSTATUS(st) : -1, st, seed);
	}
	ck_assert_int_eq(e2e_stop_mediator(&env, 10000), 0);

	/* Accounting from the mediator's journal: every seq 1..REQS of every VM was
	 * executed once and answered once, and nothing else was answered. */
	for (uint32_t v = 1; v <= VMS; v++)
		for (int64_t s = 1; s <= REQS; s++) {
			ck_assert_msg(e2e_journal_count(&env, "exec", v, s) == 1, "vm%u seq %" PRId64 " executed %d times",
				      v, s, e2e_journal_count(&env, "exec", v, s));
			ck_assert_msg(e2e_journal_count(&env, "answer", v, s) == 1, "vm%u seq %" PRId64 " answered %d times",
				      v, s, e2e_journal_count(&env, "answer", v, s));
		}
	ck_assert_int_eq(e2e_journal_count(&env, "answer", 0, 0), VMS * REQS);
	ck_assert_int_eq(e2e_journal_count(&env, "exec", 0, 0), VMS * REQS);
}
END_TEST

/* One call from a child process; exit status is the client rc. */
static pid_t submit_async(uint32_t vm, struct vgpu_request req, int timeout_ms)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	char dir[400], err[512];
	struct vgpu_client *c;
	struct vgpu_response resp;
	struct vgpu_client_opts o = { .timeout_ms = timeout_ms };
	int rc;

	e2e_vmdir(&env, vm, dir, sizeof(dir));
	if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK)
		_exit(100);
	rc = vgpu_client_call(c, &req, NULL, 0, &resp, NULL, NULL, err, sizeof(err));
	if (rc)
		fprintf(stderr, "vm%u: %s\n", vm, err);
	vgpu_client_close(c);
	_exit(rc);
}

static int wait_rc(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Wait until the journal has at least N lines of EVENT for VM (0: any) and SEQ (0:
 * any); fails the test after 20 s rather than hanging it. */
static void await_journal(const char *event, uint32_t vm, int64_t seq, int n)
{
	ck_assert_msg(e2e_journal_wait(&env, event, vm, seq, n, 20000) >= n,
		      "no '%s' for vm%u seq %lld in the journal after 20 s", event, vm, (long long)seq);
}

/* Make every worker busy (one per GPU): a long spin from VMs 4, 5, ... each; returns
 * how many, once all run. Requests sent after this wait together in the queue. */
static int occupy_workers(pid_t *pids, int max, uint64_t ms)
{
	struct vgpu_request busy = { .op = VGPU_OP_SPIN, .args.ms = ms, .priority = VGPU_PRIO_HIGH };
	int n = e2e_mediator_slots(&env);

	ck_assert_msg(n <= max, "%d workers: this test can keep at most %d busy", n, max);
	for (int i = 0; i < n; i++)
		pids[i] = submit_async(4 + (uint32_t)i, busy, 30000);
	await_journal("exec", 0, 0, n);
	return n;
}

/* ERRORS_LOG error 9's verification test: low, medium, high submitted while the GPU
 * is busy are processed high, medium, low. */
START_TEST(test_user_priority_verification)
{
	const char *args[] = { "--executor", executor(), "--test-ops", "--vm", "1:low", "--vm", "2:medium",
			       "--vm", "3:high", NULL };
	struct vgpu_request r = { .op = VGPU_OP_VADD, .args.n = 1024, .args.has_seed = 1, .args.seed = 5 };
	pid_t pb[6], p1, p2, p3;
	uint32_t order[16];
	int n, busy;

	ck_assert_int_eq(e2e_start_mediator(&env, args), 0);
	/* The busy job must outlast the three submissions: on a loaded machine through the
	 * kernel NFS client of a QEMU guest, 1.5 s was once too short (vm3 queued after vm1
	 * and vm2 had run). 5 s, and the three queued lines are awaited while it runs. */
	busy = occupy_workers(pb, 6, 5000);
	r.priority = VGPU_PRIO_LOW;
	p1 = submit_async(1, r, 30000);
	await_journal("queue", 1, 0, 1);
	r.priority = VGPU_PRIO_MEDIUM;
	p2 = submit_async(2, r, 30000);
	await_journal("queue", 2, 0, 1);
	r.priority = VGPU_PRIO_HIGH;
	p3 = submit_async(3, r, 30000);
	await_journal("queue", 3, 0, 1);
	ck_assert_msg(e2e_journal_count(&env, "exec", 1, 0) + e2e_journal_count(&env, "exec", 2, 0) +
		      e2e_journal_count(&env, "exec", 3, 0) == 0,
		      "the busy job ended before vm1, vm2 and vm3 were all queued: the test proves nothing");
	for (int i = 0; i < busy; i++)
		ck_assert_int_eq(wait_rc(pb[i]), 0);
	ck_assert_int_eq(wait_rc(p1), 0);
	ck_assert_int_eq(wait_rc(p2), 0);
	ck_assert_int_eq(wait_rc(p3), 0);
	ck_assert_int_eq(e2e_stop_mediator(&env, 10000), 0);
	n = e2e_journal_exec_order(&env, order, 16);
	ck_assert_int_eq(n, busy + 3);
	ck_assert_msg(order[busy] == 3 && order[busy + 1] == 2 && order[busy + 2] == 1,
		      "after the %d busy job(s), exec order vm%u vm%u vm%u, expected vm3 (high) vm2 (medium) vm1 (low)",
		      busy, order[busy], order[busy + 1], order[busy + 2]);
}
END_TEST

/* A VM cannot promote itself: vm1 capped at low asks for high and still goes after
 * vm2's medium. */
START_TEST(test_priority_cap)
{
	const char *args[] = { "--executor", executor(), "--test-ops", "--vm", "1:low", "--vm", "2:medium", NULL };
	struct vgpu_request r = { .op = VGPU_OP_PING, .priority = VGPU_PRIO_HIGH };
	pid_t pb[6], p1, p2;
	uint32_t order[16];
	int busy;

	ck_assert_int_eq(e2e_start_mediator(&env, args), 0);
	busy = occupy_workers(pb, 6, 4000);   /* outlasts the two submissions (see above) */
	p1 = submit_async(1, r, 30000);
	await_journal("queue", 1, 0, 1);
	r.priority = VGPU_PRIO_MEDIUM;
	p2 = submit_async(2, r, 30000);
	await_journal("queue", 2, 0, 1);
	ck_assert_msg(e2e_journal_count(&env, "exec", 1, 0) + e2e_journal_count(&env, "exec", 2, 0) == 0,
		      "the busy job ended before vm1 and vm2 were both queued: the test proves nothing");
	for (int i = 0; i < busy; i++)
		ck_assert_int_eq(wait_rc(pb[i]), 0);
	ck_assert_int_eq(wait_rc(p1), 0);
	ck_assert_int_eq(wait_rc(p2), 0);
	ck_assert_int_eq(e2e_stop_mediator(&env, 10000), 0);
	ck_assert_int_eq(e2e_journal_exec_order(&env, order, 16), busy + 2);
	ck_assert_msg(order[busy] == 2 && order[busy + 1] == 1, "vm1 (cap low, asked high) ran before vm2 (medium)");
}
END_TEST

/* SIGTERM while a job runs: the job is finished and answered, then exit 0. */
START_TEST(test_sigterm_finishes_job_in_hand)
{
	const char *args[] = { "--executor", executor(), "--test-ops", NULL };
	struct vgpu_request busy = { .op = VGPU_OP_SPIN, .args.ms = 700, .priority = VGPU_PRIO_MEDIUM };
	pid_t pb;

	ck_assert_int_eq(e2e_start_mediator(&env, args), 0);
	pb = submit_async(5, busy, 30000);
	await_journal("exec", 5, 0, 1);
	ck_assert_int_eq(e2e_stop_mediator(&env, 10000), 0);
	ck_assert_int_eq(wait_rc(pb), 0);
	ck_assert_int_eq(e2e_journal_count(&env, "answer", 5, 1), 1);
}
END_TEST

/* A VM that lost its seq counter (reinstalled, lock directory wiped) after its
 * response.txt was overwritten by the answer to an unparsable record (seq 0): the
 * answer's "answered" field lets its next request continue above the mark. */
START_TEST(test_client_that_lost_count_recovers)
{
	const char *args[] = { "--executor", executor(), NULL };
	char dir[400], lockA[420], lockB[420], err[512];
	struct vgpu_client *c;
	struct vgpu_response resp;
	struct vgpu_request ping = { .op = VGPU_OP_PING, .priority = VGPU_PRIO_LOW };
	struct vgpu_client_opts o = { .timeout_ms = 10000 };
	int dirfd;

	ck_assert_int_eq(e2e_start_mediator(&env, args), 0);
	e2e_vmdir(&env, 6, dir, sizeof(dir));
	snprintf(lockA, sizeof(lockA), "%s/lockA", env.dir);
	snprintf(lockB, sizeof(lockB), "%s/lockB", env.dir);
	ck_assert_int_eq(mkdir(lockA, 0700), 0);
	ck_assert_int_eq(mkdir(lockB, 0700), 0);
	o.lock_dir = lockA;
	ck_assert_int_eq(vgpu_client_open(&c, dir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(vgpu_client_call(c, &ping, NULL, 0, &resp, NULL, NULL, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(resp.seq, 3);
	vgpu_client_close(c);

	/* garbage: answered BAD_REQUEST with seq 0 */
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dirfd, 0);
	ck_assert_int_eq(vgpu_publish(dirfd, "command.txt", "garbage\n", 8, 0644), 0);
	ck_assert_int_eq(e2e_journal_wait(&env, "answer", 6, 0, 4, E2E_WAIT_MS), 4);
	close(dirfd);

	o.lock_dir = lockB;      /* a fresh counter */
	ck_assert_int_eq(vgpu_client_open(&c, dir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_msg(vgpu_client_call(c, &ping, NULL, 0, &resp, NULL, NULL, err, sizeof(err)) == VGPU_CLIENT_OK,
		      "fresh client: %s", err);
	ck_assert_int_eq(resp.seq, 4);
	vgpu_client_close(c);

	/* Worse: response.txt gone too. Seq 1 is stale: answered CONFLICT with the mark,
	 * never run, and the same call continues above it. */
	{
		char lockC[420], rpath[450];

		snprintf(lockC, sizeof(lockC), "%s/lockC", env.dir);
		ck_assert_int_eq(mkdir(lockC, 0700), 0);
		e2e_server_vmdir(&env, 6, rpath, sizeof(rpath));
		strncat(rpath, "/response.txt", sizeof(rpath) - strlen(rpath) - 1);
		ck_assert_int_eq(unlink(rpath), 0);
		o.lock_dir = lockC;
		ck_assert_int_eq(vgpu_client_open(&c, dir, &o, err, sizeof(err)), VGPU_CLIENT_OK);
		ck_assert_msg(vgpu_client_call(c, &ping, NULL, 0, &resp, NULL, NULL, err, sizeof(err)) == VGPU_CLIENT_OK,
			      "client without counter or response.txt: %s", err);
		ck_assert_int_eq(resp.seq, 5);
		ck_assert_int_eq(e2e_journal_count(&env, "exec", 6, 1), 1);   /* the first ping, long ago */
		vgpu_client_close(c);
	}
	ck_assert_int_eq(e2e_stop_mediator(&env, 10000), 0);
}
END_TEST

/* A VM directory renamed away, and one deleted and recreated: the mediator serves
 * what is at ROOT/vmN now, and never answers into the renamed directory as the old VM. */
START_TEST(test_vm_dir_replaced_or_renamed)
{
	const char *args[] = { "--executor", executor(), "--rescan-ms", "100", NULL };
	char d2[400], d7[400], c7[400], err[512], cmd[1300];
	struct vgpu_client *c;
	struct vgpu_response resp;
	struct vgpu_request ping = { .op = VGPU_OP_PING, .priority = VGPU_PRIO_LOW };
	struct vgpu_client_opts o = { .timeout_ms = 10000 };
	char buf[VGPU_RECORD_MAX];
	size_t len;
	struct vgpu_response r7;
	int fd;

	ck_assert_int_eq(e2e_start_mediator(&env, args), 0);
	/* vm2 answers once, then its directory is renamed to vm7 (a tenth VM) */
	e2e_vmdir(&env, 2, d2, sizeof(d2));
	ck_assert_int_eq(vgpu_client_open(&c, d2, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_int_eq(vgpu_client_call(c, &ping, NULL, 0, &resp, NULL, NULL, err, sizeof(err)), VGPU_CLIENT_OK);
	vgpu_client_close(c);
	e2e_server_vmdir(&env, 2, d2, sizeof(d2));
	e2e_server_vmdir(&env, 7, d7, sizeof(d7));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mv '%s' '%s'", d7, d2, d7);
	ck_assert_int_eq(system(cmd), 0);
	msleep(300);
	e2e_vmdir(&env, 7, c7, sizeof(c7));
	ck_assert_int_eq(vgpu_client_open(&c, c7, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_msg(vgpu_client_call(c, &ping, NULL, 0, &resp, NULL, NULL, err, sizeof(err)) == VGPU_CLIENT_OK,
		      "vm7 after the rename: %s", err);
	ck_assert_int_eq(resp.vm, 7);
	vgpu_client_close(c);
	msleep(500);   /* several rescans: nothing may answer vm7/ as vm2 */
	fd = open(d7, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(vgpu_safe_read(fd, "response.txt", buf, sizeof(buf), &len, NULL), 0);
	close(fd);
	ck_assert_int_eq(vgpu_response_decode(buf, len, &r7, err, sizeof(err)), VGPU_REC_OK);
	ck_assert_msg(r7.vm == 7 && r7.status == VGPU_OK, "vm7/response.txt now says vm %u status %s: %s", r7.vm,
		      vgpu_status_name(r7.status), r7.error);

	/* vm3 deleted and recreated: served again */
	e2e_server_vmdir(&env, 3, d2, sizeof(d2));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -m 0777 '%s'", d2, d2);
	ck_assert_int_eq(system(cmd), 0);
	msleep(300);
	e2e_vmdir(&env, 3, c7, sizeof(c7));
	ck_assert_int_eq(vgpu_client_open(&c, c7, &o, err, sizeof(err)), VGPU_CLIENT_OK);
	ck_assert_msg(vgpu_client_call(c, &ping, NULL, 0, &resp, NULL, NULL, err, sizeof(err)) == VGPU_CLIENT_OK,
		      "vm3 after being recreated: %s", err);
	vgpu_client_close(c);
	ck_assert_int_eq(e2e_stop_mediator(&env, 10000), 0);
}
END_TEST

/* response.txt cannot be published (a directory in the way, as with EIO or a full
 * export): the answer is kept and published again once it can be. */
START_TEST(test_failed_response_publish_is_retried)
{
	const char *args[] = { "--executor", executor(), "--test-ops", "--rescan-ms", "100", NULL };
	struct vgpu_request busy = { .op = VGPU_OP_SPIN, .args.ms = 400, .priority = VGPU_PRIO_LOW };
	char d[400], in_way[450];
	pid_t p;

	ck_assert_int_eq(e2e_start_mediator(&env, args), 0);
	e2e_server_vmdir(&env, 8, d, sizeof(d));
	snprintf(in_way, sizeof(in_way), "%s/response.txt", d);
	/* the mediator's initial response.txt (PROTOCOL.md s.10) makes way for the directory */
	ck_assert_msg(unlink(in_way) == 0 || errno == ENOENT, "unlink %s: %s", in_way, strerror(errno));
	ck_assert_int_eq(mkdir(in_way, 0755), 0);
	p = submit_async(8, busy, 20000);
	await_journal("answer", 8, 1, 1);
	msleep(300);     /* the publish failed; a few rescans fail too */
	ck_assert_int_eq(rmdir(in_way), 0);
	ck_assert_int_eq(wait_rc(p), 0);
	ck_assert_int_eq(e2e_journal_count(&env, "exec", 8, 1), 1);
	ck_assert_int_eq(e2e_stop_mediator(&env, 10000), 0);
}
END_TEST

/* The same, with a mediator restart while response.txt still cannot be published: the
 * answer lives only in the state, and the new mediator publishes it. */
START_TEST(test_failed_publish_survives_restart)
{
	const char *args[] = { "--executor", executor(), "--test-ops", "--rescan-ms", "100", NULL };
	struct vgpu_request ping = { .op = VGPU_OP_PING, .priority = VGPU_PRIO_LOW };
	struct vgpu_request busy = { .op = VGPU_OP_SPIN, .args.ms = 300, .priority = VGPU_PRIO_LOW };
	char d[400], rpath[450], old[VGPU_RECORD_MAX];
	size_t oldlen = 0;
	int dfd;
	pid_t p;

	ck_assert_int_eq(e2e_start_mediator(&env, args), 0);
	ck_assert_int_eq(wait_rc(submit_async(8, ping, 20000)), 0);
	e2e_server_vmdir(&env, 8, d, sizeof(d));
	snprintf(rpath, sizeof(rpath), "%s/response.txt", d);
	dfd = open(d, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(vgpu_safe_read(dfd, "response.txt", old, sizeof(old), &oldlen, NULL), 0);
	/* seq 2's answer cannot be published (a directory in the way) ... */
	ck_assert_int_eq(unlink(rpath), 0);
	ck_assert_int_eq(mkdir(rpath, 0755), 0);
	p = submit_async(8, busy, 20000);
	await_journal("answer", 8, 2, 1);
	ck_assert_int_eq(e2e_stop_mediator(&env, 10000), 0);
	/* ... and while the mediator is down, response.txt goes back to seq 1's answer */
	ck_assert_int_eq(rmdir(rpath), 0);
	ck_assert_int_eq(vgpu_publish(dfd, "response.txt", old, oldlen, 0644), 0);
	close(dfd);
	ck_assert_int_eq(e2e_start_mediator(&env, args), 0);
	ck_assert_int_eq(wait_rc(p), 0);      /* the new mediator published seq 2's answer */
	ck_assert_int_eq(e2e_journal_count(&env, "exec", 8, 2), 1);
	ck_assert_int_eq(e2e_stop_mediator(&env, 10000), 0);
}
END_TEST

/* Several workers (as with several GPUs) fed from the one queue: every answer right and
 * accounted for, and the work spread over the workers. With the mock executor the
 * workers are VGPU_MOCK_DEVICES=3; with CUDA, as many as the host has GPUs. */
START_TEST(test_several_workers_one_queue)
{
	enum { VMS = 6, REQS = 4 };
	const char *args[] = { "--executor", executor(), "--default-cap", "high", "--test-ops", NULL };
	uint64_t seed = getenv("VGPU_SEED") ? strtoull(getenv("VGPU_SEED"), NULL, 10) : (uint64_t)time(NULL);
	struct vgpu_request spin = { .op = VGPU_OP_SPIN, .args.ms = 600, .priority = VGPU_PRIO_HIGH };
	int mock = strcmp(executor(), "mock") == 0, used[16] = { 0 }, nused = 0;
	pid_t kids[VMS], spins[3];
	char line[256];
	FILE *j;

	setenv("VGPU_MOCK_DEVICES", "3", 1);
	ck_assert_int_eq(e2e_start_mediator(&env, args), 0);
	/* three long jobs at once: each must find a worker of its own */
	for (int i = 0; i < 3; i++)
		spins[i] = submit_async((uint32_t)VMS + 1 + (uint32_t)i, spin, 30000);
	for (int v = 0; v < VMS; v++)
		kids[v] = spawn_vm_worker((uint32_t)v + 1, REQS, seed);
	for (int v = 0; v < VMS; v++)
		ck_assert_int_eq(wait_rc(kids[v]), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(wait_rc(spins[i]), 0);
	ck_assert_int_eq(e2e_stop_mediator(&env, 10000), 0);
	ck_assert_int_eq(e2e_journal_count(&env, "exec", 0, 0), VMS * REQS + 3);
	ck_assert_int_eq(e2e_journal_count(&env, "answer", 0, 0), VMS * REQS + 3);
	for (uint32_t v = 1; v <= VMS; v++)
		for (int64_t q = 1; q <= REQS; q++)
			ck_assert_int_eq(e2e_journal_count(&env, "answer", v, q), 1);
	j = fopen(env.journal, "r");
	ck_assert_ptr_nonnull(j);
	while (fgets(line, sizeof(line), j)) {
		const char *p = strstr(line, " slot=");
		int s;
		if (strncmp(line, "exec ", 5) == 0 && p && sscanf(p, " slot=%d", &s) == 1 && s >= 0 && s < 16 &&
		    !used[s]++)
			nused++;
	}
	fclose(j);
	if (mock) {
		ck_assert_msg(nused == 3, "jobs ran on %d of the 3 workers", nused);
	} else if (getenv("VGPU_EXPECT_WORKERS")) {
		/* on a host with N GPUs, the three long jobs must use min(N, 3) workers */
		int n = atoi(getenv("VGPU_EXPECT_WORKERS"));
		ck_assert_msg(nused == (n < 3 ? n : 3), "executor %s: jobs ran on %d workers, expected %d",
			      executor(), nused, n < 3 ? n : 3);
	} else {
		printf("test_several_workers_one_queue: executor %s: %d worker(s) used; set VGPU_EXPECT_WORKERS "
		       "to the number of GPUs to check it\n", executor(), nused);
	}
}
END_TEST

/* The state must not be inside the export: VMs could read or replace the answers that
 * make them exactly-once. The mediator refuses to start (exit 3) and says why. */
START_TEST(test_state_inside_export_refused)
{
	char bin[400], state[400], log[400], buf[2048];
	pid_t pid;
	int st, fd;
	ssize_t n;

	snprintf(bin, sizeof(bin), "%s/vgpu-mediator", env.build);
	snprintf(state, sizeof(state), "%s/vm1/.state", env.root);
	snprintf(log, sizeof(log), "%s/refused.log", env.dir);
	pid = fork();
	if (pid == 0) {
		int o = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o >= 0) {
			dup2(o, 1);
			dup2(o, 2);
		}
		execl(bin, bin, "--root", env.root, "--state", state, "--executor", "mock", (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 3, "exit status %d", st);
	fd = open(log, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, "is inside --root") != NULL, "log: %s", buf);
}
END_TEST

static Suite *e2e_suite(void)
{
	Suite *s = suite_create("e2e");
	TCase *tc = tcase_create("binaries");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_many_vms_right_answers_all_accounted);
	tcase_add_test(tc, test_user_priority_verification);
	tcase_add_test(tc, test_priority_cap);
	tcase_add_test(tc, test_sigterm_finishes_job_in_hand);
	tcase_add_test(tc, test_client_that_lost_count_recovers);
	tcase_add_test(tc, test_state_inside_export_refused);
	tcase_add_test(tc, test_vm_dir_replaced_or_renamed);
	tcase_add_test(tc, test_several_workers_one_queue);
	suite_add_tcase(s, tc);

	/* Faults made on the server side of a VM directory (a directory where response.txt
	 * goes): mediator behaviour, tested on the local backend; through a simulated NFS
	 * client the same fault shows as EIO to the client before any request is sent. */
	const char *b = getenv("E2E_BACKEND");
	if (!b || !*b || strcmp(b, "local") == 0) {
		TCase *srv = tcase_create("server-side faults");
		tcase_add_checked_fixture(srv, setup, teardown);
		tcase_set_timeout(srv, 120);
		tcase_add_test(srv, test_failed_response_publish_is_retried);
		tcase_add_test(srv, test_failed_publish_survives_restart);
		suite_add_tcase(s, srv);
	} else {
		printf("e2e: backend %s: the 2 server-side fault tests run with the local backend\n", b);
	}
	return s;
}

TU_CHECK_MAIN(e2e_suite)

/* err08_gpu_hang_leak.c - ERRORS_LOG ERROR 8, GPU hang and leaks, on the mock executor.
 *
 * Naive control (naive/naive_no_cleanup.c): jobs run inline in the server loop with no
 * watchdog, so a spinning job holds every other VM for its whole run (here: until the
 * child's alarm kills it), and a job that does not free its memory leaks it for good
 * (the server's resident memory grows by each leak).
 * Ours: the real vgpu-mediator --executor mock --test-ops. A spin of 10 s with
 * timeout_ms 300 is stopped by the watchdog (TIMEOUT within ~1 s) and the other VMs' jobs
 * run right after, correct; a leak is answered LEAKED with its byte count, reclaimed (the
 * worker's memory does not grow), and the next job on the same worker is OK; a crash is
 * EXEC_FAILED, the worker restarted, the next job OK. Every request is accounted for
 * from the clients' answers and the mediator's journal. docs/HARNESS.md, ERR08.
 * Handling proved (src/): src/exec/exec_pool.c and pool_worker.c (watchdog, worker restart), src/exec/arena.c and
 * src/exec/backend_mock.c (leak reclaimed, LEAKED), src/cmd/vgpu-worker.c,
 * src/mediator/mediator.c (TIMEOUT/EXEC_FAILED answers). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "lib/opref.h"
#include "lib/status.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "naive/naive_no_cleanup.h"
#include "../common/testutil.h"

#define SPIN_MS        10000u
#define SPIN_LIMIT_MS    300u
#define LEAK_BYTES    (32u << 20)
#define LEAKS              3
#define NAIVE_ALARM_S      2

static struct e2e_env env;
static struct h_result r;

/* ---- accounting ---- */

/* Every call, accounted for once the mediator has stopped: its journal line for an
 * answer is written just after response.txt, so a client can be faster than it. */
static struct e2e_call done[64];
static int ndone;

static void account(struct e2e_call *c)
{
	if (ndone < (int)(sizeof(done) / sizeof(done[0])))
		done[ndone++] = *c;
}

static void account_one(struct e2e_call *c)
{
	struct e2e_call_out *o = &c->out;

	r.req.submitted++;
	if (o->status < 0) {
		r.req.lost++;
		printf("  lost: vm%u: client rc %d: %s\n", c->vm, o->rc, o->error);
		return;
	}
	r.req.answered++;
	if (o->vm != c->vm || o->seq != o->my_seq)
		r.req.misrouted++;
	/* the answer line follows the published answer: wait for it */
	if (e2e_journal_wait(&env, "answer", c->vm, o->my_seq, 1, E2E_WAIT_MS) != 1 ||
	    e2e_journal_count(&env, "exec", c->vm, o->my_seq) > 1) {
		r.req.duplicated++;
		printf("  duplicated: vm%u seq %" PRId64 ": %d exec, %d answer lines in the journal\n", c->vm,
		       o->my_seq, e2e_journal_count(&env, "exec", c->vm, o->my_seq),
		       e2e_journal_count(&env, "answer", c->vm, o->my_seq));
	}
}

static void vadd_req(struct vgpu_request *q, uint64_t seed, uint64_t n)
{
	memset(q, 0, sizeof(*q));
	q->op = VGPU_OP_VADD;
	q->priority = VGPU_PRIO_MEDIUM;
	q->args.n = n;
	q->args.has_seed = 1;
	q->args.seed = seed;
	q->output_file = 0;
}

/* The summary the CPU reference gives for vadd(SEED, N). */
static void vadd_expect(uint64_t seed, uint64_t n, char *buf, size_t cap)
{
	float *a = malloc(3 * n * sizeof(float));
	struct vgpu_summary s;

	buf[0] = '\0';
	if (!a)
		return;
	vgpu_gen_fill(a, n, seed, 0);
	vgpu_gen_fill(a + n, n, seed, 1);
	vgpu_ref_vadd(a, a + n, a + 2 * n, n);
	vgpu_summarize(a + 2 * n, n, &s);
	vgpu_summary_format(&s, buf, cap);
	free(a);
}

static int vadd_ok(const struct e2e_call *c, uint64_t seed, uint64_t n)
{
	char want[200];

	vadd_expect(seed, n, want, sizeof(want));
	return c->out.status == VGPU_OK && strcmp(c->out.result, want) == 0;
}

static uint64_t rss_of(pid_t pid)
{
	char path[64];
	unsigned long size = 0, res = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	if (fscanf(f, "%lu %lu", &size, &res) != 2)
		res = 0;
	fclose(f);
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* ---- naive control ---- */

/* Run the naive server on JOBS in a child killed by alarm(ALARM_S); collect its events. */
static int naive_run(const struct naive_job *jobs, int n, int alarm_s, struct naive_event *ev, int *killed)
{
	int p[2], got = 0, st = 0;
	pid_t pid;

	*killed = 0;
	if (pipe(p) < 0)
		return 0;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		alarm((unsigned)alarm_s);
		naive_no_cleanup_serve(jobs, n, p[1]);
		_exit(0);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return 0;
	}
	while (got < n && read(p[0], &ev[got], sizeof(ev[got])) == (ssize_t)sizeof(ev[got]))
		got++;
	close(p[0]);
	waitpid(pid, &st, 0);
	*killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM;
	return got;
}

static void naive_control(uint64_t seed)
{
	struct naive_job jobs[2 * LEAKS + 3];
	struct naive_event ev[2 * LEAKS + 3];
	int n = 0, got, killed, blocked;
	uint64_t grow;

	/* 1. a spin whose limit is 300 ms, with two other VMs' jobs behind it */
	memset(jobs, 0, sizeof(jobs));
	jobs[n++] = (struct naive_job){ .vm = 1, .op = NAIVE_SPIN, .ms = SPIN_MS, .timeout_ms = SPIN_LIMIT_MS };
	jobs[n++] = (struct naive_job){ .vm = 2, .op = NAIVE_VADD, .n = 4096, .seed = seed };
	jobs[n++] = (struct naive_job){ .vm = 3, .op = NAIVE_VADD, .n = 4096, .seed = seed * 3 + 7 };
	got = naive_run(jobs, n, NAIVE_ALARM_S, ev, &killed);
	blocked = got == 0 && killed;
	r.injections++;
	h_naive(&r, blocked, "a %u ms spin with timeout_ms %u ran inline with no watchdog: vm2 and vm3 got "
		"nothing for %d s (%d of 3 jobs done, server %s)", SPIN_MS, SPIN_LIMIT_MS, NAIVE_ALARM_S, got,
		killed ? "killed by our alarm" : "still alive");
	h_evidence(&r, "naive: a %u ms spin (limit %u ms) blocked vm2/vm3 until the alarm (%d s)", SPIN_MS,
		   SPIN_LIMIT_MS, NAIVE_ALARM_S);

	/* 2. leaks: each job's allocation stays; the server's memory only grows */
	n = 0;
	for (int i = 0; i < LEAKS; i++) {
		jobs[n++] = (struct naive_job){ .vm = 4, .op = NAIVE_LEAK, .bytes = LEAK_BYTES };
		jobs[n++] = (struct naive_job){ .vm = 4, .op = NAIVE_VADD, .n = 1024, .seed = seed + 2 + (uint64_t)i };
	}
	got = naive_run(jobs, n, 20, ev, &killed);
	grow = got == n && ev[n - 1].rss_bytes > ev[0].rss_bytes ? ev[n - 1].rss_bytes - ev[0].rss_bytes : 0;
	r.injections += LEAKS;
	h_naive(&r, got == n && grow >= (uint64_t)(LEAKS - 1) * LEAK_BYTES * 9 / 10,
		"%d leaks of %u bytes: the server's memory grew by %" PRIu64 " bytes after the first and was never "
		"reclaimed (%d of %d jobs done)", LEAKS, LEAK_BYTES, grow, got, n);
	h_evidence(&r, "naive: %d leaks of %u MiB grew the server by %" PRIu64 " MiB, never reclaimed", LEAKS,
		   LEAK_BYTES >> 20, grow >> 20);
}

/* ---- ours ---- */

static void ours(uint64_t seed)
{
	static const char *const args[] = { "--executor", "mock", "--test-ops", "--rescan-ms", "100", NULL };
	struct vgpu_request q;
	struct e2e_call spin, other[2], c;
	pid_t w0, w1;
	uint64_t rss[LEAKS], grow;
	int restarts0, restarted, ok;

	if (e2e_start_mediator(&env, args) < 0) {
		h_check(&r, 0, "vgpu-mediator --executor mock --test-ops started (see %s)", env.log);
		return;
	}
	w0 = e2e_worker_pid(&env);

	/* 1. hang: the spin is stopped by the watchdog; vm2 and vm3 are served right after */
	memset(&q, 0, sizeof(q));
	q.op = VGPU_OP_SPIN;
	q.priority = VGPU_PRIO_HIGH;
	q.args.ms = SPIN_MS;
	q.timeout_ms = SPIN_LIMIT_MS;
	restarts0 = e2e_log_count(&env, "restarted");
	e2e_call_start(&env, &spin, 1, &q, 20000);
	for (int i = 0; i < 200 && e2e_journal_count(&env, "exec", 1, 0) == 0; i++)
		e2e_msleep(5);
	for (int i = 0; i < 2; i++) {
		vadd_req(&q, seed + 0x100000000ull * (uint64_t)i, 4096);
		e2e_call_start(&env, &other[i], (uint32_t)(2 + i), &q, 20000);
	}
	e2e_call_wait(&spin);
	for (int i = 0; i < 2; i++)
		e2e_call_wait(&other[i]);
	if (e2e_journal_count(&env, "exec", 1, spin.out.my_seq) == 1)
		r.injections++;
	account(&spin);
	h_check(&r, spin.out.status == VGPU_TIMEOUT && spin.out.ms < 1500,
		"vm1's %u ms spin with timeout_ms %u: %s after %" PRIu64 " ms (%s)", SPIN_MS, SPIN_LIMIT_MS,
		spin.out.status >= 0 ? vgpu_status_name(spin.out.status) : "no answer", spin.out.ms, spin.out.error);
	for (int i = 0; i < 2; i++) {
		account(&other[i]);
		h_check(&r, vadd_ok(&other[i], seed + 0x100000000ull * (uint64_t)i, 4096) && other[i].out.ms < 2500,
			"vm%d's vadd behind the spin: %s in %" PRIu64 " ms, result %s", 2 + i,
			other[i].out.status >= 0 ? vgpu_status_name(other[i].out.status) : "no answer", other[i].out.ms,
			other[i].out.result);
	}
	/* the log line and the new worker come from the mediator: wait for them */
	restarted = e2e_log_wait(&env, "restarted", restarts0 + 1, E2E_WAIT_MS);
	TU_WAIT_FOR((w1 = e2e_worker_pid(&env)) > 0 && w1 != w0, E2E_WAIT_MS);
	h_check(&r, restarted > restarts0 && w1 > 0 && w1 != w0,
		"the watchdog killed the spinning worker (pid %d) and restarted it (pid %d)", (int)w0, (int)w1);
	h_evidence(&r, "ours: the spin got %s after %" PRIu64 " ms, vm2/vm3 answered OK in %" PRIu64 "/%" PRIu64 " ms",
		   spin.out.status >= 0 ? vgpu_status_name(spin.out.status) : "nothing", spin.out.ms,
		   other[0].out.ms, other[1].out.ms);

	/* 2. leaks: LEAKED with the byte count, reclaimed, the same worker serves on */
	restarts0 = e2e_log_count(&env, "restarted");
	ok = 1;
	for (int i = 0; i < LEAKS; i++) {
		char want[64];

		memset(&q, 0, sizeof(q));
		q.op = VGPU_OP_LEAK;
		q.priority = VGPU_PRIO_MEDIUM;
		q.args.bytes = LEAK_BYTES;
		e2e_call_start(&env, &c, 4, &q, 10000);
		e2e_call_wait(&c);
		account(&c);
		if (e2e_journal_count(&env, "exec", 4, c.out.my_seq) == 1)
			r.injections++;
		snprintf(want, sizeof(want), "%u bytes", LEAK_BYTES);
		ok &= h_check(&r, c.out.status == VGPU_LEAKED && strstr(c.out.error, want) != NULL,
			      "vm4 leak #%d of %u bytes: %s: %s", i + 1, LEAK_BYTES,
			      c.out.status >= 0 ? vgpu_status_name(c.out.status) : "no answer", c.out.error);
		rss[i] = rss_of(w1);
		vadd_req(&q, seed + 0x1000000000ull * (10 + (uint64_t)i), 2048);
		e2e_call_start(&env, &c, 4, &q, 10000);
		e2e_call_wait(&c);
		account(&c);
		ok &= h_check(&r, vadd_ok(&c, seed + 0x1000000000ull * (10 + (uint64_t)i), 2048),
			      "vm4's next job on the same worker: %s, %s",
			      c.out.status >= 0 ? vgpu_status_name(c.out.status) : "no answer", c.out.result);
	}
	grow = rss[LEAKS - 1] > rss[0] ? rss[LEAKS - 1] - rss[0] : 0;
	h_check(&r, e2e_worker_pid(&env) == w1 && e2e_log_count(&env, "restarted") == restarts0 && rss[0] > 0 && grow < LEAK_BYTES / 2,
		"after %d leaks the worker (pid %d, not restarted) grew by %" PRIu64 " bytes: each leak was reclaimed",
		LEAKS, (int)w1, grow);
	h_evidence(&r, "ours: %d leaks answered LEAKED with the byte count, worker grew %" PRIu64 " KiB", LEAKS,
		   grow >> 10);

	/* 3. crash: EXEC_FAILED, worker restarted, next job OK */
	restarts0 = e2e_log_count(&env, "restarted");
	memset(&q, 0, sizeof(q));
	q.op = VGPU_OP_CRASH;
	q.priority = VGPU_PRIO_MEDIUM;
	e2e_call_start(&env, &c, 5, &q, 10000);
	e2e_call_wait(&c);
	account(&c);
	if (e2e_journal_count(&env, "exec", 5, c.out.my_seq) == 1)
		r.injections++;
	h_check(&r, c.out.status == VGPU_EXEC_FAILED, "vm5 crash: %s: %s",
		c.out.status >= 0 ? vgpu_status_name(c.out.status) : "no answer", c.out.error);
	vadd_req(&q, seed + 0x1000000000ull * 20, 1000);
	e2e_call_start(&env, &c, 5, &q, 10000);
	e2e_call_wait(&c);
	account(&c);
	h_check(&r, vadd_ok(&c, seed + 0x1000000000ull * 20, 1000) &&
		e2e_log_wait(&env, "restarted", restarts0 + 1, E2E_WAIT_MS) > restarts0 && e2e_worker_pid(&env) != w1,
		"after the crash the worker was restarted (pid %d -> %d) and vm5's next job is %s",
		(int)w1, (int)e2e_worker_pid(&env), c.out.status >= 0 ? vgpu_status_name(c.out.status) : "no answer");
	h_evidence(&r, "ours: crash answered EXEC_FAILED, worker restarted, next job OK");
	h_check(&r, e2e_stop_mediator(&env, 5000) == 0, "the mediator still serving, stops cleanly on SIGTERM");
	for (int i = 0; i < ndone; i++)
		account_one(&done[i]);
}

int main(void)
{
	int rc;

	h_begin(&r, "ERR08", "GPU hang and leaks: watchdog TIMEOUT, leak reclaimed and reported, crash restarted",
		"mock");
	if (e2e_setup(&env, 5) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		return h_finish(&r);
	}
	{
		uint64_t st = r.seed;
		/* seeds that differ in more than their low bits (section 6: seeds S and S^1
		 * generate the same set of values for power-of-two n) */
		uint64_t s1 = h_rand(&st), s2 = h_rand(&st);
		naive_control(s1);
		ours(s2);
	}
	e2e_teardown(&env);
	rc = h_finish(&r);
	return rc;
}

/* x_kill_restart.c - beyond the ten: SIGKILL at each step of a request, then restart.
 *
 * The mediator is killed by its libfiu crash points (mediator/crash/after-intent,
 * after-exec, before-response, after-response, after-state; one run each, the mediator
 * started under fiu-run's preload) and at seeded random moments from outside, then
 * restarted on the same --state: every request is answered exactly once (OK, or
 * INTERRUPTED when it had started) and executed at most once (the journal across both
 * runs). A client killed after publishing, before reading, and a worker process killed
 * mid-job (EXEC_FAILED, restarted, next job OK) are covered too.
 * Naive control: the same crash, restarted with an empty --state (what a stateless
 * mediator is): the request that had run is run again. docs/HARNESS.md, KILL.
 * Handling proved (src/): src/mediator/state.c (intent and answered records),
 * src/mediator/mediator.c (restart: INTERRUPTED or adopt), src/mediator/answer.c,
 * src/exec/exec_pool.c and src/exec/pool_worker.c (worker killed mid-job). */
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
#include "lib/opref.h"
#include "lib/status.h"
#include "../e2e/e2e_util.h"
#include "harness.h"

static struct e2e_env env;
static struct h_result r;
static int run_no;

static const char *const med_args[] = { "--executor", "mock", "--test-ops", "--rescan-ms", "100", NULL };

/* ---- accounting ---- */

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

static void spin_req(struct vgpu_request *q, uint64_t ms, uint64_t limit)
{
	memset(q, 0, sizeof(*q));
	q->op = VGPU_OP_SPIN;
	q->priority = VGPU_PRIO_MEDIUM;
	q->args.ms = ms;
	q->timeout_ms = limit;
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
	return c->out.status == VGPU_OK && strcmp(c->out.result, want) == 0;
}

static const char *st_name(const struct e2e_call *c)
{
	return c->out.status >= 0 ? vgpu_status_name(c->out.status) : "no answer";
}

/* ---- accounting, from the clients and the journal (both runs append to it) ---- */

/* A call whose client was killed has no out: ANSWERED_BY_JOURNAL counts it when the
 * journal shows its answer (published into the VM directory). */
static void account(const struct e2e_call *c, int killed_client)
{
	const struct e2e_call_out *o = &c->out;
	int ex = e2e_journal_count(&env, "exec", c->vm, o->my_seq);
	int an = e2e_journal_count(&env, "answer", c->vm, o->my_seq);

	r.req.submitted++;
	if (ex > 1 || an > 1) {
		r.req.duplicated++;
		printf("  duplicated: vm%u seq %" PRId64 ": %d exec, %d answer lines\n", c->vm, o->my_seq, ex, an);
	}
	if (killed_client) {
		if (an == 1)
			r.req.answered++;
		else
			r.req.lost++;
		return;
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

/* ---- starting, crashing and restarting the mediator ---- */

static const char *fiu_preload(void)
{
	const char *d = getenv("FIU_PRELOAD_DIR");
	static char path[300];

	snprintf(path, sizeof(path), "%s/fiu_run_preload.so", d && *d ? d : "/usr/lib/fiu");
	return access(path, R_OK) == 0 ? path : NULL;
}

/* Start the mediator; with POINT, under libfiu's preload with that crash point enabled
 * (what `fiu-run -c 'enable name=POINT'` does). A fresh log per run, so that "serving"
 * is this run's. */
static int start(const char *point)
{
	char old[400], fifo[400], cmd[200];
	int rc;

	snprintf(old, sizeof(old), "%s.%d", env.log, run_no++);
	rename(env.log, old);
	if (point) {
		snprintf(cmd, sizeof(cmd), "enable name=%s", point);
		snprintf(fifo, sizeof(fifo), "%s/fiu-ctrl", env.dir);
		setenv("FIU_ENABLE", cmd, 1);
		setenv("FIU_CTRL_FIFO", fifo, 1);
		setenv("LD_PRELOAD", fiu_preload(), 1);
	}
	rc = e2e_start_mediator(&env, med_args);
	if (point) {
		unsetenv("FIU_ENABLE");
		unsetenv("FIU_CTRL_FIFO");
		unsetenv("LD_PRELOAD");
	}
	return rc;
}

/* Wait up to MS for the mediator to die; 1 when it was SIGKILLed. Its process group
 * (the orphaned worker) is killed too. */
static int wait_death(int ms)
{
	pid_t pid = env.mediator;
	int st = 0;

	for (int t = 0; t < ms; t += 10) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			kill(-pid, SIGKILL);
			env.mediator = 0;
			return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
		}
		e2e_msleep(10);
	}
	return 0;
}

static void kill_now(void)
{
	pid_t pid = env.mediator;

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	kill(-pid, SIGKILL);
	env.mediator = 0;
}


static int wait_journal(const char *ev, uint32_t vm, int64_t seq, int count, int ms)
{
	return e2e_journal_wait(&env, ev, vm, seq, count, ms) >= count;
}

/* ---- one crash point ---- */

struct point {
	const char *name;
	int answered_before;      /* the VM had its answer before the crash: OK, adopted */
	int executed;             /* the job ran before the crash */
};

static const struct point points[] = {
	{ "mediator/crash/after-intent", 0, 0 },
	{ "mediator/crash/after-exec", 0, 1 },
	{ "mediator/crash/before-response", 0, 1 },
	{ "mediator/crash/after-response", 1, 1 },
	{ "mediator/crash/after-state", 1, 1 },
};

static void crash_point(const struct point *p, uint64_t seed)
{
	struct vgpu_request q;
	struct e2e_call c, next;
	int died, ex, want;

	if (e2e_setup(&env, 2) < 0 || start(p->name) < 0) {
		h_check(&r, 0, "%s: mediator started under libfiu", p->name);
		e2e_teardown(&env);
		return;
	}
	vadd_req(&q, seed, 4096);
	e2e_call_start(&env, &c, 1, &q, 20000);
	died = wait_death(10000);
	if (died)
		r.injections++;
	if (!h_check(&r, died, "%s: the mediator was SIGKILLed at the point", p->name)) {
		e2e_call_wait(&c);
		e2e_teardown(&env);
		return;
	}
	if (start(NULL) < 0)
		h_check(&r, 0, "%s: restart on the same --state", p->name);
	e2e_call_wait(&c);
	ex = e2e_journal_count(&env, "exec", 1, c.out.my_seq);
	want = p->answered_before ? VGPU_OK : VGPU_INTERRUPTED;
	h_check(&r, c.out.status == want && (want != VGPU_OK || vadd_ok(&c, seed, 4096)) && ex == p->executed,
		"%s: the client got %s for seq %" PRId64 " (expected %s), executed %d time(s), never re-run",
		p->name + 15, st_name(&c), c.out.my_seq, vgpu_status_name(want), ex);
	vadd_req(&q, seed ^ 0x5555000000000000ull, 1000);
	e2e_call_start(&env, &next, 1, &q, 10000);
	e2e_call_wait(&next);
	h_check(&r, vadd_ok(&next, seed ^ 0x5555000000000000ull, 1000) && next.out.my_seq == c.out.my_seq + 1,
		"%s: after the restart vm1's next request (seq %" PRId64 ") is %s", p->name + 15, next.out.my_seq,
		st_name(&next));
	e2e_stop_mediator(&env, 5000);
	account(&c, 0);
	account(&next, 0);
	e2e_teardown(&env);
}

/* ---- naive control: the same crash, restarted without the persisted state ---- */

static void naive_stateless(uint64_t seed)
{
	struct vgpu_request q;
	struct e2e_call c;
	char aside[400];
	int died, ex;

	if (e2e_setup(&env, 1) < 0 || start("mediator/crash/after-exec") < 0) {
		h_naive(&r, 0, "could not start the mediator under libfiu");
		e2e_teardown(&env);
		return;
	}
	vadd_req(&q, seed, 4096);
	e2e_call_start(&env, &c, 1, &q, 8000);
	died = wait_death(10000);
	if (died)
		r.injections++;
	/* a stateless mediator: whatever it knew is gone */
	snprintf(aside, sizeof(aside), "%s.lost", env.state);
	rename(env.state, aside);
	mkdir(env.state, 0700);
	if (start(NULL) < 0) {
		h_naive(&r, 0, "restart with an empty --state failed");
		e2e_call_wait(&c);
		e2e_teardown(&env);
		return;
	}
	e2e_call_wait(&c);
	wait_journal("exec", 1, c.out.my_seq, 2, 2000);
	ex = e2e_journal_count(&env, "exec", 1, c.out.my_seq);
	h_naive(&r, died && ex >= 2, "killed after executing vm1 seq %" PRId64 ", restarted with an empty --state: "
		"executed %d times (the client got %s)", c.out.my_seq, ex, st_name(&c));
	h_evidence(&r, "naive: a stateless restart after a crash after exec ran vm1 seq %" PRId64 " %d times",
		   c.out.my_seq, ex);
	e2e_teardown(&env);
}

/* ---- the client killed after publishing, before reading ---- */

static void client_killed(uint64_t seed)
{
	struct vgpu_request q;
	struct e2e_call dead, next;

	if (e2e_setup(&env, 2) < 0 || start(NULL) < 0) {
		h_check(&r, 0, "mediator started");
		e2e_teardown(&env);
		return;
	}
	spin_req(&q, 600, 5000);
	e2e_call_start(&env, &dead, 2, &q, 10000);
	if (!wait_journal("queue", 2, 0, 1, 5000))
		h_check(&r, 0, "the first client's command reached the mediator");
	kill(dead.pid, SIGKILL);
	e2e_call_wait(&dead);
	r.injections++;
	/* its seq: the journal's queue line for vm2 */
	dead.out.my_seq = 0;
	for (int64_t s = 1; s < 10 && !dead.out.my_seq; s++)
		if (e2e_journal_count(&env, "queue", 2, s))
			dead.out.my_seq = s;
	vadd_req(&q, seed, 2048);
	e2e_call_start(&env, &next, 2, &q, 10000);
	e2e_call_wait(&next);
	wait_journal("answer", 2, dead.out.my_seq, 1, E2E_WAIT_MS);
	h_check(&r, vadd_ok(&next, seed, 2048) && next.out.my_seq == dead.out.my_seq + 1 &&
		e2e_journal_count(&env, "exec", 2, dead.out.my_seq) == 1 &&
		e2e_journal_count(&env, "answer", 2, dead.out.my_seq) == 1,
		"client killed after publishing seq %" PRId64 ": it ran and was answered once; a new client took seq %"
		PRId64 " and got %s", dead.out.my_seq, next.out.my_seq, st_name(&next));
	e2e_stop_mediator(&env, 5000);
	account(&dead, 1);
	account(&next, 0);
	e2e_teardown(&env);
}

/* ---- the worker killed mid-job ---- */

static void worker_killed(uint64_t seed)
{
	struct vgpu_request q;
	struct e2e_call c, next;
	pid_t w0, w1 = 0;
	uint64_t t0;

	if (e2e_setup(&env, 3) < 0 || start(NULL) < 0) {
		h_check(&r, 0, "mediator started");
		e2e_teardown(&env);
		return;
	}
	spin_req(&q, 5000, 20000);
	e2e_call_start(&env, &c, 3, &q, 15000);
	wait_journal("exec", 3, 0, 1, 5000);
	e2e_msleep(50);
	w0 = e2e_worker_pid(&env);
	t0 = e2e_mono_ms();
	if (w0 > 0 && kill(w0, SIGKILL) == 0)
		r.injections++;
	e2e_call_wait(&c);
	vadd_req(&q, seed, 3000);
	e2e_call_start(&env, &next, 3, &q, 10000);
	e2e_call_wait(&next);
	w1 = e2e_worker_pid(&env);
	h_check(&r, c.out.status == VGPU_EXEC_FAILED && e2e_mono_ms() - t0 < 3000,
		"worker (pid %d) killed with SIGKILL mid-job: vm3 got %s (%s)", (int)w0, st_name(&c), c.out.error);
	h_check(&r, vadd_ok(&next, seed, 3000) && w1 > 0 && w1 != w0,
		"the worker was restarted (pid %d) and vm3's next job is %s", (int)w1, st_name(&next));
	e2e_stop_mediator(&env, 5000);
	account(&c, 0);
	account(&next, 0);
	e2e_teardown(&env);
}

/* ---- SIGKILL from outside at seeded random moments ---- */

static void random_kills(uint64_t *rng, int rounds)
{
	struct vgpu_request q;
	struct e2e_call c[4];
	uint64_t seeds[4];
	int bad = 0, interrupted = 0, ok = 0;

	for (int round = 0; round < rounds; round++) {
		int delay = (int)(h_rand(rng) % 500);

		if (e2e_setup(&env, 4) < 0 || start(NULL) < 0) {
			h_check(&r, 0, "random kill round %d: mediator started", round);
			e2e_teardown(&env);
			return;
		}
		spin_req(&q, 300, 5000);
		e2e_call_start(&env, &c[0], 1, &q, 20000);
		for (int i = 1; i < 4; i++) {
			seeds[i] = h_rand(rng);
			vadd_req(&q, seeds[i], 1u << 16);
			e2e_call_start(&env, &c[i], (uint32_t)(i + 1), &q, 20000);
		}
		e2e_msleep(delay);
		kill_now();
		r.injections++;
		if (start(NULL) < 0)
			h_check(&r, 0, "random kill round %d: restart", round);
		for (int i = 0; i < 4; i++) {
			e2e_call_wait(&c[i]);
			if (c[i].out.status == VGPU_INTERRUPTED)
				interrupted++;
			else if (i == 0 ? c[i].out.status == VGPU_OK : vadd_ok(&c[i], seeds[i], 1u << 16))
				ok++;
			else
				bad++;
		}
		e2e_stop_mediator(&env, 5000);
		for (int i = 0; i < 4; i++)
			account(&c[i], 0);
		e2e_teardown(&env);
		printf("  random kill round %d after %d ms: %d ok, %d interrupted, %d wrong so far\n", round, delay,
		       ok, interrupted, bad);
	}
	h_check(&r, bad == 0, "%d random SIGKILLs: %d requests answered OK and right, %d INTERRUPTED, %d wrong",
		rounds, ok, interrupted, bad);
	h_evidence(&r, "ours: %d random kills: %d OK, %d INTERRUPTED, none re-run", rounds, ok, interrupted);
}

int main(void)
{
	uint64_t rng;

	h_begin(&r, "KILL", "mediator, client and worker SIGKILLed at each step of a request, then restarted",
		"local");
	rng = r.seed;
	if (!fiu_preload()) {
		snprintf(r.skipped, sizeof(r.skipped), "libfiu's fiu_run_preload.so not found (install fiu-utils "
			 "or set FIU_PRELOAD_DIR)");
		return h_finish(&r);
	}
	naive_stateless(h_rand(&rng));
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		crash_point(&points[i], h_rand(&rng));
	h_evidence(&r, "ours: killed at each of %zu crash points and restarted: every request answered once "
		   "(OK or INTERRUPTED), none executed twice", sizeof(points) / sizeof(points[0]));
	client_killed(h_rand(&rng));
	worker_killed(h_rand(&rng));
	random_kills(&rng, 3);
	return h_finish(&r);
}

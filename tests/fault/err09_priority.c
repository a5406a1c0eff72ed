/* err09_priority.c - ERRORS_LOG error 9: "Priority Queue Not Working as Expected"
 * (low served before high, FIFO not respected within a priority).
 *
 * Naive control: naive/naive_pqueue.c, a heap keyed on priority only, with and without
 * the inverted comparator, on seeded random push/pop sequences checked against the
 * rule (highest priority first, then first come first served); src/mediator/pqueue.c
 * runs the same sequences. Then the real vgpu-mediator: low, medium, high (and several
 * of one priority in a seeded order) submitted while a spin job holds the executor are
 * executed in priority, then arrival, order (journal); and under a flood of high work a
 * waiting low job is served within the bound of docs/HARNESS.md with --aging-ms, while
 * with --aging-ms 0 it waits for the whole flood (the naive symptom, starvation). The
 * queues alone also run seeded sequences with aging on a simulated clock against the
 * rule (effective priority, then arrival), and the mediator caps a VM's priority at its
 * --vm N:PRIO (a VM asking above its cap is queued at the cap; without caps it is not).
 * Handling proved (src/): src/mediator/pqueue.c (priority, FIFO, aging: vgpu_pq_effective),
 * src/mediator/mediator.c (dispatch), src/mediator/intake.c (the cap),
 * src/cmd/mediator_cli.c (--aging-ms, --vm N:PRIO). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "mediator/pqueue.h"
#include "lib/status.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "naive/naive_pqueue.h"
#include "../common/testutil.h"

#define SEQUENCES 300
#define OPS 64

/* ---- part 1: the queues alone ----------------------------------------------------- */

struct our_job {
	struct vgpu_pq_item item;   /* first */
	int id, prio;
};

struct tally {
	long pops, inversions, fifo;
};

/* The rule, as a model: among queued jobs (prio[], alive[]), the one to serve next. */
static int model_next(const int *prio, const int *alive, int n)
{
	int best = -1;

	for (int i = 0; i < n; i++)
		if (alive[i] && (best < 0 || prio[i] > prio[best]))
			best = i;   /* strict >: the earliest id among the highest */
	return best;
}

static void judge(struct tally *t, const int *prio, int *alive, int n, int got)
{
	int want = model_next(prio, alive, n);

	t->pops++;
	if (prio[got] < prio[want])
		t->inversions++;
	else if (got != want)
		t->fifo++;
	alive[got] = 0;
}

/* One seeded sequence through the naive queue (BUG) or ours (BUG < 0). */
static void run_sequence(uint64_t seed, int bug, struct tally *t)
{
	int prio[OPS], alive[OPS] = { 0 }, n = 0;
	struct naive_pq nq;
	struct vgpu_pq oq;
	struct our_job jobs[OPS];
	uint64_t rng = seed;

	if (bug >= 0 && naive_pq_init(&nq, OPS, (enum naive_pq_bug)bug) < 0)
		return;
	vgpu_pq_init(&oq, 0);
	for (int step = 0; step < 2 * OPS; step++) {
		int queued = 0, push;

		for (int i = 0; i < n; i++)
			queued += alive[i];
		push = n < OPS && (queued == 0 || h_rand(&rng) % 3 != 0);
		if (!push && queued == 0)
			break;
		if (push) {
			prio[n] = (int)(h_rand(&rng) % 3);
			alive[n] = 1;
			if (bug >= 0) {
				naive_pq_push(&nq, (struct naive_job){ .prio = prio[n], .id = n });
			} else {
				jobs[n].id = n;
				jobs[n].prio = prio[n];
				vgpu_pq_push(&oq, &jobs[n].item, prio[n], 1000);
			}
			n++;
		} else if (bug >= 0) {
			struct naive_job j;
			if (naive_pq_pop(&nq, &j))
				judge(t, prio, alive, n, j.id);
		} else {
			struct our_job *j = (struct our_job *)vgpu_pq_pop(&oq, 1000);
			if (j)
				judge(t, prio, alive, n, j->id);
		}
	}
	if (bug >= 0)
		naive_pq_release(&nq);
}

/* With aging: a simulated clock advances between operations; the rule is the highest
 * effective priority (its priority plus one level per AGING_MS waited, at most high),
 * then the earliest arrival. NAIVE: the priority-only heap, which never ages (its
 * symptom: a job waits behind later arrivals of a higher priority however long it
 * waited). Counts the pops that differ from the rule. */
#define AGING_MS 40
static long run_aging_sequence(uint64_t seed, int naive, long *pops)
{
	int prio[OPS], alive[OPS] = { 0 }, n = 0;
	uint64_t enq[OPS], now = 1000, rng = seed;
	struct naive_pq nq;
	struct vgpu_pq oq;
	struct our_job jobs[OPS];
	long wrong = 0;

	if (naive && naive_pq_init(&nq, OPS, NAIVE_PQ_PRIO_ONLY) < 0)
		return -1;
	vgpu_pq_init(&oq, AGING_MS);
	for (int step = 0; step < 2 * OPS; step++) {
		int queued = 0, push, got = -1, want = -1, best = -1;

		now += h_rand(&rng) % (AGING_MS + AGING_MS / 2);
		for (int i = 0; i < n; i++)
			queued += alive[i];
		push = n < OPS && (queued == 0 || h_rand(&rng) % 3 != 0);
		if (!push && queued == 0)
			break;
		if (push) {
			prio[n] = (int)(h_rand(&rng) % 3);
			enq[n] = now;
			alive[n] = 1;
			if (naive) {
				naive_pq_push(&nq, (struct naive_job){ .prio = prio[n], .id = n });
			} else {
				jobs[n].id = n;
				vgpu_pq_push(&oq, &jobs[n].item, prio[n], now);
			}
			n++;
			continue;
		}
		for (int i = 0; i < n; i++) {   /* the rule */
			int eff;
			if (!alive[i])
				continue;
			eff = prio[i] + (int)((now - enq[i]) / AGING_MS);
			eff = eff > 2 ? 2 : eff;
			if (eff > best) {           /* strict: the earliest arrival among equals */
				best = eff;
				want = i;
			}
		}
		if (naive) {
			struct naive_job j;
			if (naive_pq_pop(&nq, &j))
				got = j.id;
		} else {
			struct our_job *j = (struct our_job *)vgpu_pq_pop(&oq, now);
			got = j ? j->id : -1;
		}
		if (got < 0)
			break;
		(*pops)++;
		wrong += got != want;
		alive[got] = 0;
	}
	if (naive)
		naive_pq_release(&nq);
	return wrong;
}

static void part_queues(struct h_result *r)
{
	struct tally inv = { 0 }, only = { 0 }, ours = { 0 };
	uint64_t s = r->seed;

	for (int i = 0; i < SEQUENCES; i++) {
		uint64_t seed = h_rand(&s) | 1;
		run_sequence(seed, NAIVE_PQ_INVERTED, &inv);
		run_sequence(seed, NAIVE_PQ_PRIO_ONLY, &only);
		run_sequence(seed, -1, &ours);
	}
	h_naive(r, inv.inversions > 0, "inverted comparator: %ld of %ld pops served a lower priority first (%d seeded sequences)",
		inv.inversions, inv.pops, SEQUENCES);
	h_naive(r, only.fifo > 0, "heap by priority only: %ld of %ld pops broke FIFO within a priority",
		only.fifo, only.pops);
	h_check(r, ours.inversions == 0 && ours.fifo == 0 && ours.pops == only.pops,
		"src/mediator/pqueue.c on the same sequences: %ld pops, %ld inversions, %ld FIFO violations",
		ours.pops, ours.inversions, ours.fifo);
	r->injections += inv.inversions + only.fifo;
	h_evidence(r, "naive heap: %ld inversions (inverted cmp), %ld FIFO violations (prio-only) in %ld pops; pqueue.c: 0",
		   inv.inversions, only.fifo, only.pops);

	/* Aging, with ties between a job that aged up and one pushed at that level. */
	long naive_wrong = 0, our_wrong = 0, naive_pops = 0, our_pops = 0;
	s = r->seed ^ 0xa6e;
	for (int i = 0; i < SEQUENCES; i++) {
		uint64_t seed = h_rand(&s) | 1;
		naive_wrong += run_aging_sequence(seed, 1, &naive_pops);
		our_wrong += run_aging_sequence(seed, 0, &our_pops);
	}
	h_naive(r, naive_wrong > 0, "aging %d ms: the priority-only heap served %ld of %ld pops out of the rule "
		"(a job that waited stays behind later, higher arrivals)", AGING_MS, naive_wrong, naive_pops);
	h_check(r, our_wrong == 0 && our_pops == naive_pops,
		"aging %d ms: pqueue.c served %ld pops, %ld out of the rule (effective priority, then arrival)",
		AGING_MS, our_pops, our_wrong);
	r->injections += naive_wrong;
}

/* ---- part 2: the real mediator ---------------------------------------------------- */

struct call_out {
	int rc;
	int status;
	int64_t seq;
	uint32_t vm;
	uint64_t queue_us;
	int ok_seq;
	int prio;                   /* the answer's priority: what the job was queued at */
};

/* One call from a child; the outcome comes back through a pipe. */
static pid_t submit_async(struct e2e_env *e, uint32_t vm, struct vgpu_request req, int poll_max_ms, int *rfd)
{
	int p[2];
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid != 0) {
		close(p[1]);
		*rfd = p[0];
		return pid;
	}
	close(p[0]);
	char dir[400], err[512];
	struct vgpu_client *c;
	struct vgpu_response resp;
	struct vgpu_client_opts o = { .timeout_ms = 30000, .poll_max_ms = poll_max_ms, .lock_dir = e->dir };
	struct call_out out = { .rc = -1, .vm = vm };

	memset(&resp, 0, sizeof(resp));
	e2e_vmdir(e, vm, dir, sizeof(dir));
	if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) == VGPU_CLIENT_OK) {
		out.rc = vgpu_client_call(c, &req, NULL, 0, &resp, NULL, NULL, err, sizeof(err));
		if (out.rc != VGPU_CLIENT_OK)
			fprintf(stderr, "    vm%u: %s\n", vm, err);
		out.seq = vgpu_client_last_seq(c);
		out.status = resp.status;
		out.queue_us = resp.queue_us;
		out.prio = (int)resp.priority;
		out.ok_seq = resp.vm == vm && resp.seq == out.seq;
		vgpu_client_close(c);
	}
	if (write(p[1], &out, sizeof(out)) != (ssize_t)sizeof(out))
		_exit(1);
	_exit(0);
}

static int collect(pid_t pid, int fd, struct call_out *out)
{
	ssize_t n = read(fd, out, sizeof(*out));

	close(fd);
	waitpid(pid, NULL, 0);
	if (n != (ssize_t)sizeof(*out)) {
		memset(out, 0, sizeof(*out));
		out->rc = -1;
		return -1;
	}
	return 0;
}

static int wait_journal(struct e2e_env *e, const char *ev, uint32_t vm, int count, int timeout_ms)
{
	return e2e_journal_wait(e, ev, vm, 0, count, timeout_ms) >= count ? 0 : -1;
}

/* Account a finished call and its journal lines. */
static void account(struct h_result *r, struct e2e_env *e, const struct call_out *c)
{
	r->req.submitted++;
	if (c->rc == VGPU_CLIENT_OK && c->ok_seq)
		r->req.answered++;
	else if (c->rc == VGPU_CLIENT_OK)
		r->req.misrouted++;
	else
		r->req.lost++;
	if (c->seq > 0 && (e2e_journal_count(e, "exec", c->vm, c->seq) > 1 ||
			   e2e_journal_count(e, "answer", c->vm, c->seq) > 1))
		r->req.duplicated++;
}

/* Busy executor; then 8 requests of seeded priorities from vm1..vm8 in a seeded order;
 * the journal's exec order must be priority first, then submission order. */
static void part_order(struct h_result *r)
{
	const char *args[] = { "--executor", "mock", "--test-ops", "--default-cap", "high", "--aging-ms", "0",
			       "--log-level", "debug", NULL };
	struct vgpu_request busy = { .op = VGPU_OP_SPIN, .args.ms = 1200, .priority = VGPU_PRIO_HIGH };
	enum { N = 8 };
	uint32_t vms[N], order[N + 4], want[N];
	int prio[N], fds[N + 1], n, right;
	pid_t pids[N + 1];
	struct call_out outs[N + 1];
	uint64_t rng = r->seed ^ 0x5eed;
	struct e2e_env e;
	char got_s[128] = "", want_s[128] = "";

	if (e2e_setup(&e, N + 1) < 0 || e2e_start_mediator(&e, args) < 0) {
		h_check(r, 0, "mediator started for the ordering test (log %s)", e.log);
		e2e_teardown(&e);
		return;
	}
	for (int i = 0; i < N; i++)
		vms[i] = (uint32_t)i + 1;
	for (int i = N - 1; i > 0; i--) {   /* seeded submission order */
		int j = (int)(h_rand(&rng) % (uint64_t)(i + 1));
		uint32_t t = vms[i];
		vms[i] = vms[j];
		vms[j] = t;
	}
	/* the first three submitted are low, medium, high (the errors log's verification
	 * test); the rest get seeded priorities, so there are ties to keep FIFO */
	for (int i = 0; i < N; i++)
		prio[i] = i < 3 ? i : (int)(h_rand(&rng) % 3);
	pids[N] = submit_async(&e, N + 1, busy, 5, &fds[N]);
	wait_journal(&e, "exec", N + 1, 1, 10000);
	for (int i = 0; i < N; i++) {
		struct vgpu_request q = { .op = VGPU_OP_PING, .priority = (enum vgpu_prio)prio[i] };
		pids[i] = submit_async(&e, vms[i], q, 5, &fds[i]);
		wait_journal(&e, "queue", vms[i], 1, 10000);
	}
	for (int i = 0; i <= N; i++)
		collect(pids[i], fds[i], &outs[i]);
	e2e_stop_mediator(&e, 10000);
	/* expected: stable by priority, high first */
	n = 0;
	for (int p = 2; p >= 0; p--)
		for (int i = 0; i < N; i++)
			if (prio[i] == p)
				want[n++] = vms[i];
	n = e2e_journal_exec_order(&e, order, N + 4);
	right = n == N + 1 && order[0] == N + 1;
	for (int i = 0; i < N && right; i++)
		right = order[i + 1] == want[i];
	for (int i = 0; i < N; i++) {
		char w[16];
		snprintf(w, sizeof(w), "%svm%u/%c", i ? " " : "", vms[i], "lmh"[prio[i]]);
		strncat(got_s, w, sizeof(got_s) - strlen(got_s) - 1);
		snprintf(w, sizeof(w), "%svm%u", i ? " " : "", i + 1 < n ? order[i + 1] : 0);
		strncat(want_s, w, sizeof(want_s) - strlen(want_s) - 1);
	}
	printf("    submitted (busy first): %s\n    executed after busy: %s\n", got_s, want_s);
	h_check(r, right, "8 requests submitted while busy ran highest priority first, FIFO within one (journal)");
	for (int i = 0; i <= N; i++) {
		h_check(r, outs[i].rc == VGPU_CLIENT_OK && outs[i].ok_seq, "vm%u answered OK with its own seq %" PRId64,
			outs[i].vm, outs[i].seq);
		account(r, &e, &outs[i]);
	}
	h_evidence(r, "mediator: low/medium/high and same-priority requests queued behind a spin ran in %s order",
		   right ? "priority+FIFO" : "WRONG");
	e2e_teardown(&e);
}

/* Priority caps: a VM is queued at most at its cap (it must not promote itself). While a
 * spin job holds the executor: vm1 (cap low) asks medium, vm2 (cap medium) asks high,
 * vm4 asks medium, vm5 asks low, vm6 asks high. With the caps the order is vm6, vm2,
 * vm4, vm1, vm5 and the answers say low for vm1 and medium for vm2; the control, the
 * same requests without caps, runs vm2 and vm1 at what they asked for. */
static int caps_run(struct h_result *r, int with_caps, char *got, size_t gotlen, int *p1, int *p2)
{
	const char *capped[] = { "--executor", "mock", "--test-ops", "--vm", "1:low", "--vm", "2:medium",
				 "--default-cap", "high", "--aging-ms", "0", NULL };
	const char *open_[] = { "--executor", "mock", "--test-ops", "--default-cap", "high", "--aging-ms", "0", NULL };
	static const uint32_t vms[5] = { 1, 2, 4, 5, 6 };
	static const int asked[5] = { VGPU_PRIO_MEDIUM, VGPU_PRIO_HIGH, VGPU_PRIO_MEDIUM, VGPU_PRIO_LOW, VGPU_PRIO_HIGH };
	static const uint32_t want[5] = { 6, 2, 4, 1, 5 };
	struct vgpu_request busy = { .op = VGPU_OP_SPIN, .args.ms = 1000, .priority = VGPU_PRIO_HIGH };
	struct call_out outs[6];
	uint32_t order[10];
	int fds[6], n, right;
	pid_t pids[6];
	struct e2e_env e;

	*p1 = *p2 = -1;
	got[0] = '\0';
	if (e2e_setup(&e, 6) < 0 || e2e_start_mediator(&e, with_caps ? capped : open_) < 0) {
		h_check(r, 0, "mediator started for the caps test (log %s)", e.log);
		e2e_teardown(&e);
		return 0;
	}
	pids[5] = submit_async(&e, 3, busy, 5, &fds[5]);
	wait_journal(&e, "exec", 3, 1, 10000);
	for (int i = 0; i < 5; i++) {
		struct vgpu_request q = { .op = VGPU_OP_PING, .priority = (enum vgpu_prio)asked[i] };
		pids[i] = submit_async(&e, vms[i], q, 5, &fds[i]);
		wait_journal(&e, "queue", vms[i], 1, 10000);
	}
	for (int i = 0; i < 6; i++)
		collect(pids[i], fds[i], &outs[i]);
	e2e_stop_mediator(&e, 10000);
	n = e2e_journal_exec_order(&e, order, 10);
	right = n == 6 && order[0] == 3;
	for (int i = 0; i < 5 && right; i++)
		right = order[i + 1] == want[i];
	for (int i = 1; i < n; i++)
		snprintf(got + strlen(got), gotlen - strlen(got), "%svm%u", i > 1 ? " " : "", order[i]);
	*p1 = outs[0].prio;
	*p2 = outs[1].prio;
	if (with_caps)
		for (int i = 0; i < 6; i++) {
			h_check(r, outs[i].rc == VGPU_CLIENT_OK && outs[i].ok_seq, "caps: vm%u answered OK with its own seq",
				outs[i].vm);
			account(r, &e, &outs[i]);
		}
	e2e_teardown(&e);
	return right;
}

static void part_caps(struct h_result *r)
{
	char got0[64], got1[64];
	int p1, p2, q1, q2, right;

	caps_run(r, 0, got0, sizeof(got0), &q1, &q2);
	h_naive(r, q1 == VGPU_PRIO_MEDIUM && q2 == VGPU_PRIO_HIGH,
		"without caps: vm1 ran at %s and vm2 at %s, what they asked for (executed: %s)",
		vgpu_prio_name((enum vgpu_prio)q1), vgpu_prio_name((enum vgpu_prio)q2), got0);
	right = caps_run(r, 1, got1, sizeof(got1), &p1, &p2);
	h_check(r, p1 == VGPU_PRIO_LOW && p2 == VGPU_PRIO_MEDIUM,
		"--vm 1:low --vm 2:medium: vm1 asking medium was queued at %s, vm2 asking high at %s",
		vgpu_prio_name((enum vgpu_prio)p1), vgpu_prio_name((enum vgpu_prio)p2));
	h_check(r, right, "caps: executed vm6 vm2 vm4 vm1 vm5 after the busy job (got %s)", got1);
	r->injections += 2;   /* two requests above their VM's cap */
	h_evidence(r, "caps: vm1 (cap low) asked medium, vm2 (cap medium) asked high: ran at %s and %s (without caps: %s, %s)",
		   vgpu_prio_name((enum vgpu_prio)p1), vgpu_prio_name((enum vgpu_prio)p2),
		   vgpu_prio_name((enum vgpu_prio)q1), vgpu_prio_name((enum vgpu_prio)q2));
}

/* A flood of high spin jobs from FLOOD VMs; vm1 (capped low) asks once the flood runs.
 * Returns the low job's queue time in ms (-1 on failure) and its exec position. */
#define FLOOD 4
#define FLOOD_JOBS 6
#define JOB_MS 100
static long flood_run(struct h_result *r, uint64_t aging_ms, int *pos, int *total)
{
	char aging[32];
	const char *args[] = { "--executor", "mock", "--test-ops", "--vm", "1:low", "--default-cap", "high",
			       "--aging-ms", aging, NULL };
	struct e2e_env e;
	pid_t kids[FLOOD];
	int low_fd, status_ok = 1;
	pid_t low;
	struct call_out lo;
	uint32_t order[64];
	int n;

	snprintf(aging, sizeof(aging), "%" PRIu64, aging_ms);
	*pos = *total = -1;
	if (e2e_setup(&e, FLOOD + 1) < 0 || e2e_start_mediator(&e, args) < 0) {
		h_check(r, 0, "mediator started for the flood (aging %" PRIu64 " ms)", aging_ms);
		e2e_teardown(&e);
		return -1;
	}
	for (int f = 0; f < FLOOD; f++) {
		kids[f] = fork();
		if (kids[f] == 0) {
			char dir[400], err[512];
			struct vgpu_client *c;
			struct vgpu_response resp;
			struct vgpu_client_opts o = { .timeout_ms = 30000, .poll_max_ms = 2, .lock_dir = e.dir };
			struct vgpu_request q = { .op = VGPU_OP_SPIN, .args.ms = JOB_MS, .priority = VGPU_PRIO_HIGH };
			int bad = 0;

			e2e_vmdir(&e, (uint32_t)f + 2, dir, sizeof(dir));
			if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK)
				_exit(100);
			for (int j = 0; j < FLOOD_JOBS; j++) {
				struct vgpu_request qq = q;
				if (vgpu_client_call(c, &qq, NULL, 0, &resp, NULL, NULL, err, sizeof(err)) != VGPU_CLIENT_OK ||
				    resp.seq != vgpu_client_last_seq(c))
					bad++;
			}
			vgpu_client_close(c);
			_exit(bad);
		}
	}
	/* the flood is running: every flood VM has had a job executed or queued */
	wait_journal(&e, "exec", 0, 2, 10000);
	{
		struct vgpu_request q = { .op = VGPU_OP_PING, .priority = VGPU_PRIO_LOW };
		low = submit_async(&e, 1, q, 2, &low_fd);
	}
	collect(low, low_fd, &lo);
	for (int f = 0; f < FLOOD; f++) {
		int st;
		waitpid(kids[f], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			status_ok = 0;
	}
	e2e_stop_mediator(&e, 10000);
	h_check(r, status_ok, "aging %" PRIu64 " ms: all %d flood jobs answered OK with their own seq", aging_ms,
		FLOOD * FLOOD_JOBS);
	account(r, &e, &lo);
	r->req.submitted += FLOOD * FLOOD_JOBS;
	for (uint32_t v = 2; v < FLOOD + 2; v++)
		for (int64_t s = 1; s <= FLOOD_JOBS; s++) {
			int ex = e2e_journal_count(&e, "exec", v, s), an = e2e_journal_count(&e, "answer", v, s);
			if (an == 1 && ex == 1)
				r->req.answered++;
			else if (an > 1 || ex > 1)
				r->req.duplicated++;
			else
				r->req.lost++;
		}
	r->injections += FLOOD * FLOOD_JOBS;
	n = e2e_journal_exec_order(&e, order, 64);
	*total = n;
	for (int i = 0; i < n; i++)
		if (order[i] == 1)
			*pos = i + 1;
	e2e_teardown(&e);
	if (lo.rc != VGPU_CLIENT_OK || !lo.ok_seq)
		return -1;
	return (long)(lo.queue_us / 1000);
}

static void part_starvation(struct h_result *r)
{
	const uint64_t aging = 150;
	long bound = 2 * (long)aging + (FLOOD + 1) * JOB_MS, w0, wa;
	int pos0, tot0, posa, tota;

	w0 = flood_run(r, 0, &pos0, &tot0);
	h_naive(r, w0 >= 0 && pos0 == tot0 && w0 > bound,
		"--aging-ms 0: the low job waited %ld ms and ran %d of %d, after the whole flood of %d high jobs "
		"(starved: over the %ld ms bound)", w0, pos0, tot0, FLOOD * FLOOD_JOBS, bound);
	wa = flood_run(r, aging, &posa, &tota);
	h_check(r, wa >= 0 && wa <= bound && posa < tota,
		"--aging-ms %" PRIu64 ": the low job waited %ld ms (bound 2*aging + (flooders+1)*job = %ld ms), ran %d of %d",
		aging, wa, bound, posa, tota);
	h_evidence(r, "flood of %d high jobs: low waited %ld ms without aging (ran last), %ld ms with aging %" PRIu64
		   " ms (bound %ld)", FLOOD * FLOOD_JOBS, w0, wa, aging, bound);
}

int main(void)
{
	struct h_result r;

	h_begin(&r, "ERR09", "Priority queue: high before low, FIFO within a priority, bounded starvation", "local");
	signal(SIGPIPE, SIG_IGN);
	part_queues(&r);
	part_order(&r);
	part_caps(&r);
	part_starvation(&r);
	return h_finish(&r);
}
